namespace VitAttention.Rendering.Viewer;

/// <summary>
/// The viewer's attention encoding: each row (one query token's attention in one layer and head) as one byte per key,
/// scaled by the row's maximum. A value v in a row whose maximum is m is stored as the code
/// c = ⌊255 · v / m + ½⌋ and read back as c · m / 255, so the error is at most m / 510 (half a step), plus float
/// rounding; a softmax row has m ≤ 1, so never more than 1/510 ≈ 0.00196, and far less in the diffuse rows where m is
/// small. Zero stays zero and the row's maximum is exact.
/// </summary>
internal static class AttentionQuantizer
{
    /// <summary>Steps per row: codes run 0..255.</summary>
    public const int Levels = 255;

    /// <summary>
    /// Encodes rows of <paramref name="rowLength"/> values: the codes into <paramref name="codes"/> (same length as
    /// <paramref name="values"/>) and each row's maximum into <paramref name="scales"/> (one per row).
    /// </summary>
    /// <exception cref="ArgumentException">The lengths do not match, or a value is negative, NaN or infinite.</exception>
    public static void Encode(ReadOnlySpan<float> values, int rowLength, Span<byte> codes, Span<float> scales)
    {
        if (rowLength <= 0 || values.Length % rowLength != 0)
        {
            throw new ArgumentException($"{values.Length} values do not split into rows of {rowLength}.", nameof(rowLength));
        }

        int rows = values.Length / rowLength;
        if (codes.Length != values.Length || scales.Length != rows)
        {
            throw new ArgumentException(
                $"Need {values.Length} codes and {rows} scales, got {codes.Length} and {scales.Length}.", nameof(codes));
        }

        for (int r = 0; r < rows; r++)
        {
            var row = values.Slice(r * rowLength, rowLength);
            float max = 0f;
            foreach (float v in row)
            {
                if (!(v >= 0f) || float.IsPositiveInfinity(v))
                {
                    throw new ArgumentException($"Row {r} holds {v}; only finite non-negative values can be encoded.", nameof(values));
                }

                max = v > max ? v : max;
            }

            scales[r] = max;
            var c = codes.Slice(r * rowLength, rowLength);
            if (max == 0f)
            {
                c.Clear();
                continue;
            }

            double factor = Levels / (double)max;
            for (int j = 0; j < row.Length; j++)
            {
                c[j] = (byte)Math.Min(Levels, (int)((row[j] * factor) + 0.5));
            }
        }
    }

    /// <summary>
    /// The value a code stands for: c · m / 255, in double and then rounded once to float, exactly as the page computes
    /// it (JavaScript numbers are doubles; storing into a <c>Float32Array</c> rounds to float).
    /// </summary>
    public static float Decode(byte code, float scale) => (float)(code * (double)scale / Levels);

    /// <summary>Decodes rows encoded by <see cref="Encode"/> into <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException">The lengths do not match.</exception>
    public static void Decode(ReadOnlySpan<byte> codes, ReadOnlySpan<float> scales, int rowLength, Span<float> destination)
    {
        if (rowLength <= 0 || codes.Length != scales.Length * (long)rowLength || destination.Length != codes.Length)
        {
            throw new ArgumentException(
                $"{codes.Length} codes, {scales.Length} scales of rows of {rowLength} and {destination.Length} outputs do not match.", nameof(codes));
        }

        for (int i = 0; i < codes.Length; i++)
        {
            destination[i] = Decode(codes[i], scales[i / rowLength]);
        }
    }

    /// <summary>The largest error the encoding allows for a value in a row whose maximum is <paramref name="scale"/>.</summary>
    public static double MaxError(float scale) => scale / (2.0 * Levels);
}
