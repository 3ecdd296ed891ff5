namespace VitAttention.Rollout.Kernels;

/// <summary>
/// The discard step of rollout: in a fused [tokens, tokens] matrix, zeroes the lowest
/// <c>⌊ratio · (tokens − prefix)²⌋</c> entries of the patch-to-patch block (rows and columns ≥ prefix). Prefix
/// tokens' rows and columns are never touched. Ties at the threshold are broken in row-major order, so exactly that
/// many entries are zeroed. Selection is an in-place quickselect on a copy (expected linear time), then one pass.
/// </summary>
internal static unsafe class DiscardLowest
{
    /// <summary>Entries of the block that a ratio considers: (tokens − prefix)².</summary>
    public static long EligibleCount(int tokens, int prefix) => (long)(tokens - prefix) * (tokens - prefix);

    /// <summary>How many entries a ratio zeroes: ⌊ratio · eligible⌋, computed in double.</summary>
    public static long DiscardCount(float ratio, int tokens, int prefix) =>
        (long)Math.Floor((double)ratio * EligibleCount(tokens, prefix));

    /// <summary>Zeroes the lowest entries of the block, in place.</summary>
    /// <param name="fused">The fused matrix, row stride <paramref name="ld"/>.</param>
    /// <param name="tokens">Rows and columns in use.</param>
    /// <param name="ld">Row stride.</param>
    /// <param name="prefix">Leading tokens whose rows and columns are spared.</param>
    /// <param name="ratio">Fraction of the block to zero, in [0, 1).</param>
    /// <param name="scratch">At least <see cref="EligibleCount"/> floats.</param>
    public static void Invoke(float* fused, int tokens, int ld, int prefix, float ratio, float* scratch)
    {
        long k = DiscardCount(ratio, tokens, prefix);
        if (k <= 0)
        {
            return;
        }

        int side = tokens - prefix;
        long count = 0;
        for (int i = prefix; i < tokens; i++)
        {
            new ReadOnlySpan<float>(fused + ((long)i * ld) + prefix, side).CopyTo(new Span<float>(scratch + count, side));
            count += side;
        }

        float threshold = Select(scratch, count, k - 1);

        long zeroed = 0;
        for (int i = prefix; i < tokens; i++)
        {
            float* row = fused + ((long)i * ld);
            for (int j = prefix; j < tokens; j++)
            {
                if (row[j] < threshold)
                {
                    row[j] = 0f;
                    zeroed++;
                }
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

    /// <summary>The value of rank <paramref name="rank"/> (0-based) among <paramref name="count"/> floats; reorders them.</summary>
    internal static float Select(float* values, long count, long rank)
    {
        long left = 0, right = count - 1;
        while (right > left)
        {
            // Median of three as pivot, then Hoare partition.
            long mid = left + ((right - left) / 2);
            float a = values[left], b = values[mid], c = values[right];
            float pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
            long i = left, j = right;
            while (i <= j)
            {
                while (values[i] < pivot)
                {
                    i++;
                }

                while (values[j] > pivot)
                {
                    j--;
                }

                if (i <= j)
                {
                    (values[i], values[j]) = (values[j], values[i]);
                    i++;
                    j--;
                }
            }

            if (rank <= j)
            {
                right = j;
            }
            else if (rank >= i)
            {
                left = i;
            }
            else
            {
                return values[rank];
            }
        }

        return values[rank];
    }
}
