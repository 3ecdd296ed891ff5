namespace VitAttention.Inference;

/// <summary>
/// Attention stacks of one session, kept for reuse: a run rents a buffer of the exact length it needs and the batch's
/// explanations hand it back once built. At most <see cref="MaxRetained"/> buffers are kept (more runs in flight
/// allocate and later drop theirs), so memory stays flat over any number of images. Thread-safe.
/// </summary>
/// <remarks>
/// <see cref="System.Buffers.ArrayPool{T}.Shared"/> is not used: it rounds lengths up to powers of two (a 179 MB batch
/// of 8 at ViT-B/16 would take 256 MB) and keeps a buffer per core.
/// </remarks>
internal sealed class AttentionBufferPool
{
    /// <summary>Buffers kept between runs: enough for two runs in flight, which two cores can keep busy.</summary>
    public const int MaxRetained = 2;

    private readonly Lock _gate = new();
    private readonly List<float[]> _free = new(MaxRetained);

    /// <summary>Buffers currently kept (for tests).</summary>
    internal int Retained
    {
        get
        {
            lock (_gate)
            {
                return _free.Count;
            }
        }
    }

    /// <summary>A buffer of exactly <paramref name="length"/> floats: a kept one when there is one, else a new one.</summary>
    /// <param name="length">The length needed; its contents are stale and must be overwritten whole.</param>
    public float[] Rent(long length)
    {
        lock (_gate)
        {
            for (int i = _free.Count - 1; i >= 0; i--)
            {
                if (_free[i].LongLength == length)
                {
                    float[] found = _free[i];
                    _free.RemoveAt(i);
                    return found;
                }
            }
        }

        // On the pinned object heap, not the large object heap: these long-lived buffers (tens to hundreds of MB) would
        // otherwise count as large-object survivors, and the GC sizes its large-object budget on them, so the per-image
        // large arrays (encoded file, resampled rows, input tensor) would pile up for that many MB between full
        // collections (docs/reliability.md). ONNX Runtime binds them as its outputs, so pinned is what they need anyway.
        return GC.AllocateUninitializedArray<float>(checked((int)length), pinned: true);
    }

    /// <summary>Keeps <paramref name="buffer"/> for a later run; with the pool full, the oldest kept one is dropped.</summary>
    /// <param name="buffer">A buffer no one reads any more.</param>
    public void Return(float[] buffer)
    {
        lock (_gate)
        {
            if (_free.Count == MaxRetained)
            {
                _free.RemoveAt(0);
            }

            _free.Add(buffer);
        }
    }
}
