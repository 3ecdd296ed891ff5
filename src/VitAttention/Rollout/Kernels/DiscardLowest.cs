namespace VitAttention.Rollout.Kernels;

/// <summary>
/// The discard step of rollout: in a fused [tokens, tokens] matrix, zeroes the lowest
/// <c>⌊ratio · (tokens − prefix)²⌋</c> entries of the patch-to-patch block (rows and columns ≥ prefix). Prefix
/// tokens' rows and columns are never touched. Ties at the threshold are broken in row-major order, so exactly that
/// many entries are zeroed.
/// </summary>
/// <remarks>
/// The threshold is found by a radix select on the float bit patterns, read in place (no copy): the values are
/// validated non-negative, and for non-negative floats (sign bit cleared, so −0 counts as 0) the bit pattern as an
/// unsigned integer orders like the value. Three histogram passes over the block (bits 31–20, 19–8, 7–0), each
/// counting only the entries that match the prefix found so far, give the exact value of the wanted rank; then one
/// pass zeroes everything below it and a second zeroes entries equal to it, in row-major order, until the count is
/// reached. Given scratch (<see cref="ScratchLength"/>), the entries whose top 12 bits match after the first pass are
/// copied out, so the other two passes read only those instead of the whole block. A threshold of 0 changes nothing
/// (every entry is ≥ 0 and only zeros would be zeroed), so the zeroing passes are skipped then.
/// </remarks>
internal static unsafe class DiscardLowest
{
    /// <summary>Buckets the histogram passes need: 2¹² digits plus one bucket for entries that do not match.</summary>
    public const int HistogramLength = (1 << 12) + 1;

    /// <summary>
    /// Histogram ints that let the compacting selection count into four interleaved copies (entry j into copy j mod 4),
    /// so that runs of equal values (the zeros a ReLU leaves) do not chain every increment on one counter.
    /// </summary>
    public const int InterleavedHistogramLength = 4 << 12;

    /// <summary>Scratch the compacting selection needs: one uint per entry of the block, (tokens − prefix)².</summary>
    public static int ScratchLength(int tokens, int prefix) => checked((int)EligibleCount(tokens, prefix));

    /// <summary>Entries of the block that a ratio considers: (tokens − prefix)².</summary>
    public static long EligibleCount(int tokens, int prefix) => (long)(tokens - prefix) * (tokens - prefix);

    /// <summary>How many entries a ratio zeroes: ⌊ratio · eligible⌋, computed in double.</summary>
    public static long DiscardCount(float ratio, int tokens, int prefix) =>
        (long)Math.Floor((double)ratio * EligibleCount(tokens, prefix));

    /// <summary>Zeroes the lowest entries of the block, in place.</summary>
    /// <param name="fused">The fused matrix (non-negative values), row stride <paramref name="ld"/>.</param>
    /// <param name="tokens">Rows and columns in use.</param>
    /// <param name="ld">Row stride.</param>
    /// <param name="prefix">Leading tokens whose rows and columns are spared.</param>
    /// <param name="ratio">Fraction of the block to zero, in [0, 1).</param>
    /// <param name="histogram"><see cref="HistogramLength"/> ints of scratch.</param>
    /// <param name="scratch">Empty, or <see cref="ScratchLength"/> uints: then the selection reads the whole block once
    /// instead of three times (same result).</param>
    public static void Invoke(float* fused, int tokens, int ld, int prefix, float ratio, Span<int> histogram, Span<uint> scratch = default)
    {
        long k = DiscardCount(ratio, tokens, prefix);
        if (k <= 0)
        {
            return;
        }

        float threshold = scratch.IsEmpty
            ? Select(fused, tokens, ld, prefix, k - 1, histogram)
            : SelectCompacting(fused, tokens, ld, prefix, k - 1, histogram, scratch);
        if (threshold == 0f)
        {
            return; // nothing is below 0, and zeroing entries equal to 0 changes nothing
        }

        long zeroed = 0;
        int width = tokens - prefix;
        for (int i = prefix; i < tokens; i++)
        {
            zeroed += ZeroBelow(new Span<float>(fused + ((long)i * ld) + prefix, width), threshold);
        }

        for (int i = prefix; i < tokens && zeroed < k; i++)
        {
            float* row = fused + ((long)i * ld);
            for (int j = prefix; j < tokens && zeroed < k; j++)
            {
                if (row[j] == threshold)
                {
                    row[j] = 0f;
                    zeroed++;
                }
            }
        }
    }

    /// <summary>Sets the entries below <paramref name="threshold"/> to 0 (vector body, scalar tail); returns how many.</summary>
    private static int ZeroBelow(Span<float> row, float threshold)
    {
        int count = 0, j = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated && row.Length >= System.Numerics.Vector<float>.Count)
        {
            var t = new System.Numerics.Vector<float>(threshold);
            var lanes = System.Runtime.InteropServices.MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(row);
            for (int v = 0; v < lanes.Length; v++)
            {
                var below = System.Numerics.Vector.LessThan(lanes[v], t); // all-ones lanes where below
                lanes[v] = System.Numerics.Vector.AndNot(lanes[v], System.Numerics.Vector.AsVectorSingle(below));
                count -= System.Numerics.Vector.Sum(below);              // each set lane is −1
            }

            j = lanes.Length * System.Numerics.Vector<float>.Count;
        }

        for (; j < row.Length; j++)
        {
            bool below = row[j] < threshold;
            row[j] = below ? 0f : row[j];
            count += below ? 1 : 0;
        }

        return count;
    }

    /// <summary>
    /// <see cref="Select"/> reading the block once: a histogram of the top 12 bits over the whole block, then only the
    /// entries in the chosen bucket (copied into <paramref name="scratch"/> in the same pass that counts them) are
    /// ranked by their lower 20 bits.
    /// </summary>
    internal static float SelectCompacting(float* fused, int tokens, int ld, int prefix, long rank, Span<int> histogram, Span<uint> scratch)
    {
        int width = tokens - prefix;
        if (scratch.Length < ScratchLength(tokens, prefix))
        {
            throw new ArgumentException($"The discard scratch holds {scratch.Length} values; a {width}×{width} block needs {ScratchLength(tokens, prefix)}.", nameof(scratch));
        }

        const int Buckets = 1 << 12;
        int copies = histogram.Length >= InterleavedHistogramLength ? 4 : 1;
        Span<int> h = histogram[..(copies * Buckets)];
        h.Clear();
        int n = 0;
        for (int i = prefix; i < tokens; i++)
        {
            uint* row = (uint*)(fused + ((long)i * ld));
            for (int j = prefix; j < tokens; j++)
            {
                uint key = row[j] & 0x7FFF_FFFFu;
                scratch[n++] = key;
                h[((n & (copies - 1)) << 12) | (int)(key >> 20)]++;
            }
        }

        for (int c = 1; c < copies; c++)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(h[..Buckets], h.Slice(c * Buckets, Buckets), h[..Buckets]);
        }

        int digit = 0;
        for (; rank >= h[digit]; digit++)
        {
            rank -= h[digit];
        }

        // Keep only the chosen bucket's keys (branch-free: always write, advance on a match).
        uint top = (uint)digit;
        int m = 0;
        for (int i = 0; i < n; i++)
        {
            uint key = scratch[i];
            scratch[m] = key;
            m += (key >> 20) == top ? 1 : 0;
        }

        uint found = top << 20;
        ReadOnlySpan<(int Shift, int Bits)> digits = [(8, 12), (0, 8)];
        uint mask = 0;
        Span<uint> candidates = scratch[..m];
        foreach ((int shift, int bits) in digits)
        {
            uint digitMask = (1u << bits) - 1;
            int miss = 1 << bits;
            Span<int> g = histogram[..(miss + 1)];
            g.Clear();
            foreach (uint key in candidates)
            {
                g[(key & mask) == (found & mask) ? (int)((key >> shift) & digitMask) : miss]++;
            }

            int d = 0;
            for (; rank >= g[d]; d++)
            {
                rank -= g[d];
            }

            found |= (uint)d << shift;
            mask |= digitMask << shift;
        }

        return BitConverter.UInt32BitsToSingle(found);
    }

    /// <summary>The value of rank <paramref name="rank"/> (0-based, ascending) in the block; reads it only.</summary>
    internal static float Select(float* fused, int tokens, int ld, int prefix, long rank, Span<int> histogram)
    {
        uint found = 0, mask = 0;
        ReadOnlySpan<(int Shift, int Bits)> digits = [(20, 12), (8, 12), (0, 8)];
        foreach ((int shift, int bits) in digits)
        {
            uint digitMask = (1u << bits) - 1;
            int miss = 1 << bits; // bucket for entries outside the current prefix (branch-free counting)
            Span<int> h = histogram[..(miss + 1)];
            h.Clear();
            for (int i = prefix; i < tokens; i++)
            {
                uint* row = (uint*)(fused + ((long)i * ld));
                for (int j = prefix; j < tokens; j++)
                {
                    uint key = row[j] & 0x7FFF_FFFFu;
                    h[(key & mask) == found ? (int)((key >> shift) & digitMask) : miss]++;
                }
            }

            int digit = 0;
            for (; rank >= h[digit]; digit++)
            {
                rank -= h[digit];
            }

            found |= (uint)digit << shift;
            mask |= digitMask << shift;
        }

        return BitConverter.UInt32BitsToSingle(found);
    }
}
