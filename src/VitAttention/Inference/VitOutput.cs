namespace VitAttention.Inference;

/// <summary>
/// The result of one forward pass over a batch. Dispose it when every explanation of the batch has been built: its
/// attention buffer goes back to the session's pool, so that a long run reuses a few buffers instead of allocating a
/// batch-sized stack (179 MB for 8 images at ViT-B/16) per call. Nothing may read <see cref="Attentions"/> after that.
/// </summary>
internal sealed class VitOutput : IDisposable
{
    private readonly AttentionBufferPool? _pool;
    private float[]? _buffer;

    internal VitOutput(int batch, int classes, float[] logits, AttentionStack attentions, AttentionBufferPool? pool = null, float[]? buffer = null)
    {
        Batch = batch;
        Classes = classes;
        Logits = logits;
        Attentions = attentions;
        _pool = pool;
        _buffer = pool is null ? null : buffer ?? attentions.Buffer;
    }

    /// <summary>Images in the batch.</summary>
    public int Batch { get; }

    /// <summary>Classes per image (0 when the model has no classifier).</summary>
    public int Classes { get; }

    /// <summary>The classifier's logits, <c>[batch, classes]</c>.</summary>
    public float[] Logits { get; }

    /// <summary>Every layer's attention probabilities, <c>[layer, batch, head, query, key]</c>.</summary>
    public AttentionStack Attentions { get; }

    /// <summary>One image's logits, <c>[classes]</c>.</summary>
    /// <param name="item">The image's index in the batch.</param>
    public ReadOnlySpan<float> LogitsOf(int item)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(item);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(item, Batch);
        return Logits.AsSpan(item * Classes, Classes);
    }

    /// <summary>Hands the attention buffer back to the session's pool (once).</summary>
    public void Dispose()
    {
        float[]? buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            _pool!.Return(buffer);
        }
    }
}
