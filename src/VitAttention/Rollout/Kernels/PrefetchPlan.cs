namespace VitAttention.Rollout.Kernels;

/// <summary>
/// Memory to prefetch while a product runs: <paramref name="segments"/> runs of <paramref name="segmentBytes"/>
/// bytes, <paramref name="segmentStride"/> bytes apart (one run per head: the next rows a block will fuse).
/// </summary>
/// <param name="start">The first run's first byte.</param>
/// <param name="segmentStride">Bytes from one run to the next.</param>
/// <param name="segmentBytes">Bytes per run.</param>
/// <param name="segments">Runs.</param>
internal readonly unsafe struct PrefetchPlan(byte* start, long segmentStride, int segmentBytes, int segments)
{
    private readonly int _linesPerSegment = (segmentBytes + 127) / 64;   // one extra: a run need not start on a line

    /// <summary>The 64-byte line at a position in the plan, or null past its end (or for the empty plan).</summary>
    public byte* Line(int index)
    {
        if (start == null || index < 0)
        {
            return null;
        }

        int segment = index / _linesPerSegment;
        return segment < segments ? start + (segment * segmentStride) + ((long)(index - (segment * _linesPerSegment)) * 64) : null;
    }
}
