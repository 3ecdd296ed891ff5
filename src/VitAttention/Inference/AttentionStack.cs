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

    /// <summary>Offset of <c>[layer, item, head, 0, 0]</c> in the flat stack.</summary>
    public long OffsetOf(int layer, int item, int head = 0) =>
        ((((long)layer * Batch) + item) * Heads + head) * MatrixLength;

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

/// <summary>
/// Every layer's attention probabilities for a batch of images, one contiguous float32 buffer laid out
/// <c>[layer, batch, head, query, key]</c>. Rows are softmax outputs: non-negative, summing to 1.
/// </summary>
public sealed class AttentionStack
{
    private readonly float[] _data; // [layer, batch, head, query, key]

    /// <summary>Wraps a buffer laid out <c>[layer, batch, head, query, key]</c>; the buffer is not copied.</summary>
    /// <exception cref="ArgumentException">The buffer length does not match the shape.</exception>
    public AttentionStack(AttentionShape shape, float[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        shape.Validate();
        if (data.LongLength != shape.TotalLength)
        {
            throw new ArgumentException(
                $"An attention stack of shape {shape} needs {shape.TotalLength} floats, got {data.LongLength}.", nameof(data));
        }

        Shape = shape;
        _data = data;
    }

    /// <summary>The stack's shape.</summary>
    public AttentionShape Shape { get; }

    /// <summary>The whole stack, <c>[layer, batch, head, query, key]</c>.</summary>
    public ReadOnlySpan<float> Data => _data;

    /// <summary>One image's attention in one layer, <c>[head, query, key]</c>.</summary>
    public ReadOnlySpan<float> Layer(int layer, int item) =>
        _data.AsSpan((int)Shape.OffsetOf(layer, item), (int)Shape.LayerLength);

    /// <summary>One head's attention matrix, <c>[query, key]</c>.</summary>
    public ReadOnlySpan<float> Head(int layer, int item, int head) =>
        _data.AsSpan((int)Shape.OffsetOf(layer, item, head), (int)Shape.MatrixLength);
}
