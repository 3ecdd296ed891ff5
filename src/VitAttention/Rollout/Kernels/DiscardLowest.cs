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
/// reached.
/// </remarks>
internal static unsafe class DiscardLowest
{
    /// <summary>Buckets the histogram passes need: 2¹² digits plus one bucket for entries that do not match.</summary>
    public const int HistogramLength = (1 << 12) + 1;

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
    public static void Invoke(float* fused, int tokens, int ld, int prefix, float ratio, Span<int> histogram)
    {
        long k = DiscardCount(ratio, tokens, prefix);
        if (k <= 0)
        {
            return;
        }

        float threshold = Select(fused, tokens, ld, prefix, k - 1, histogram);

        // Branch-free: the outcome is unpredictable for most entries.
        long zeroed = 0;
        for (int i = prefix; i < tokens; i++)
        {
            float* row = fused + ((long)i * ld);
            for (int j = prefix; j < tokens; j++)
            {
                bool below = row[j] < threshold;
                row[j] = below ? 0f : row[j];
                zeroed += below ? 1 : 0;
            }
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
