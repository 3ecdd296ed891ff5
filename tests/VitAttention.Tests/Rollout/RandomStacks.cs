using VitAttention.Inference;

namespace VitAttention.Tests.Rollout;

/// <summary>Seeded random attention stacks whose rows are probability distributions.</summary>
internal static class RandomStacks
{
    /// <summary>
    /// Rows drawn like softmax outputs (exp of uniform logits, one row in five much peakier), normalised in float64,
    /// stored float32.
    /// With <paramref name="quantized"/>, every value is an integer multiple of 2⁻²⁰ and every row sums to exactly 1,
    /// so sums over ≤ 16 heads are exact in float32 too and the ranking used by the discard is the same in float32 and
    /// float64 (ties are frequent, which tests the tie-break).
    /// </summary>
    public static float[] Create(AttentionShape shape, int seed, bool quantized = false)
    {
        var random = new Random(seed);
        var data = new float[shape.TotalLength];
        int n = shape.Tokens;
        var w = new double[n];
        for (long row = 0; row < data.LongLength / n; row++)
        {
            double temperature = random.NextDouble() < 0.2 ? 12.0 : 3.0;
            double total = 0;
            for (int j = 0; j < n; j++)
            {
                w[j] = Math.Exp(temperature * random.NextDouble());
                total += w[j];
            }

            long offset = row * n;
            if (quantized)
            {
                const int unit = 1 << 20;
                int left = unit;
                for (int j = 0; j < n; j++)
                {
                    int m = (int)Math.Floor(w[j] / total * unit);
                    data[offset + j] = m;
                    left -= m;
                }

                data[offset + random.Next(n)] += left;
                for (int j = 0; j < n; j++)
                {
                    data[offset + j] /= unit;
                }
            }
            else
            {
                for (int j = 0; j < n; j++)
                {
                    data[offset + j] = (float)(w[j] / total);
                }
            }
        }

        return data;
    }
}
