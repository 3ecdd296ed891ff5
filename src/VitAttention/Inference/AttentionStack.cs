namespace VitAttention.Inference;

/// <summary>
/// Every layer's attention probabilities for a batch of images, one contiguous float32 buffer laid out
/// <c>[layer, batch, head, query, key]</c>. Rows are softmax outputs: non-negative, summing to 1.
/// </summary>
public sealed class AttentionStack
{
    private readonly float[] _data; // [layer, batch, head, query, key]

    /// <summary>Wraps a buffer laid out <c>[layer, batch, head, query, key]</c>; the buffer is not copied.</summary>
    /// <param name="shape">The stack's shape.</param>
    /// <param name="data">The buffer, <see cref="AttentionShape.TotalLength"/> floats.</param>
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

    /// <summary>The buffer wrapped, for the session's pool.</summary>
    internal float[] Buffer => _data;

    /// <summary>The whole stack, <c>[layer, batch, head, query, key]</c>.</summary>
    public ReadOnlySpan<float> Data => _data;

    /// <summary>One image's attention in one layer, <c>[head, query, key]</c>.</summary>
    /// <param name="layerIndex">Zero-based index of the layer in the stack: layer number − 1.</param>
    /// <param name="item">The image's index in the batch.</param>
    /// <returns>A view of the stack, heads · tokens² floats.</returns>
    public ReadOnlySpan<float> Layer(int layerIndex, int item) =>
        _data.AsSpan((int)Shape.OffsetOf(layerIndex, item), (int)Shape.LayerLength);

    /// <summary>One head's attention matrix, <c>[query, key]</c>.</summary>
    /// <param name="layerIndex">Zero-based index of the layer in the stack: layer number − 1.</param>
    /// <param name="item">The image's index in the batch.</param>
    /// <param name="head">Zero-based head index.</param>
    /// <returns>A view of the stack, tokens² floats.</returns>
    public ReadOnlySpan<float> Head(int layerIndex, int item, int head) =>
        _data.AsSpan((int)Shape.OffsetOf(layerIndex, item, head), (int)Shape.MatrixLength);
}
