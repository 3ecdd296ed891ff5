namespace VitAttention.Inference;

/// <summary>The shape of an attention stack: <c>[layer, batch, head, query, key]</c> with query = key = tokens.</summary>
/// <param name="Layers">Transformer blocks.</param>
/// <param name="Batch">Images.</param>
/// <param name="Heads">Heads per block.</param>
/// <param name="Tokens">Sequence length (prefix tokens + patches).</param>
public readonly record struct AttentionShape(int Layers, int Batch, int Heads, int Tokens)
{
    /// <summary>Floats in one head's matrix: tokens².</summary>
    public long MatrixLength => (long)Tokens * Tokens;

    /// <summary>Floats in one layer of one image: heads · tokens².</summary>
    public long LayerLength => Heads * MatrixLength;

    /// <summary>Floats in the whole stack.</summary>
    public long TotalLength => Layers * (long)Batch * LayerLength;

    /// <summary>Offset of <c>[layerIndex, item, head, 0, 0]</c> in the flat stack.</summary>
    /// <param name="layerIndex">Zero-based index of the layer: layer number − 1.</param>
    /// <param name="item">The image's index in the batch.</param>
    /// <param name="head">Zero-based head index.</param>
    /// <returns>The offset in floats.</returns>
    public long OffsetOf(int layerIndex, int item, int head = 0) =>
        ((((long)layerIndex * Batch) + item) * Heads + head) * MatrixLength;

    /// <summary>Throws when a dimension is not positive.</summary>
    /// <exception cref="ArgumentException">A dimension is zero or negative.</exception>
    public void Validate()
    {
        if (Layers <= 0 || Batch <= 0 || Heads <= 0 || Tokens <= 0)
        {
            throw new ArgumentException(
                $"Attention shape [layers {Layers}, batch {Batch}, heads {Heads}, tokens {Tokens}] needs every dimension positive.");
        }
    }
}
