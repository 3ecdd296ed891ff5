namespace VitAttention.Tests.Rendering.Viewer;

/// <summary>
/// A float64 reference for what the viewer computes, written as plain matrices: fuse the heads, build each
/// Ã_l = rownorm(0.5·F_l + 0.5·I) in full, multiply them out, read a row or a column. The page does the same with
/// vector chains and never forms a matrix product, so the two share no code path.
/// </summary>
internal static class ViewerReference
{
    /// <summary>One layer's [query, key] matrix for a head key: "1".."H" (one-based head), "mean", "max" or "min".</summary>
    public static double[,] Layer(float[] attention, int heads, int tokens, int layer, string key)
    {
        var m = new double[tokens, tokens];
        long size = (long)tokens * tokens;
        if (int.TryParse(key, out int head))
        {
            long b = ((long)layer * heads + head - 1) * size;
            for (int i = 0; i < tokens; i++)
            {
                for (int j = 0; j < tokens; j++)
                {
                    m[i, j] = attention[b + (i * tokens) + j];
                }
            }

            return m;
        }

        for (int i = 0; i < tokens; i++)
        {
            for (int j = 0; j < tokens; j++)
            {
                double acc = key == "mean" ? 0 : double.NaN;
                for (int h = 0; h < heads; h++)
                {
                    double v = attention[(((long)layer * heads + h) * size) + (i * tokens) + j];
                    acc = key switch
                    {
                        "mean" => acc + (v / heads),
                        "max" => double.IsNaN(acc) ? v : Math.Max(acc, v),
                        "min" => double.IsNaN(acc) ? v : Math.Min(acc, v),
                        _ => throw new ArgumentException($"Unknown head key '{key}'.", nameof(key)),
                    };
                }

                m[i, j] = acc;
            }
        }

        return m;
    }

    public static double[] Row(double[,] m, int q) => Enumerable.Range(0, m.GetLength(1)).Select(j => m[q, j]).ToArray();

    public static double[] Column(double[,] m, int k) => Enumerable.Range(0, m.GetLength(0)).Select(i => m[i, k]).ToArray();

    /// <summary>R = Ã_end ⋯ Ã_0 (layer 0 rightmost), as a full matrix.</summary>
    public static double[,] Rollout(float[] attention, int heads, int tokens, int endLayer, string key)
    {
        double[,]? r = null;
        for (int l = 0; l <= endLayer; l++)
        {
            var f = Layer(attention, heads, tokens, l, key);
            var a = new double[tokens, tokens];
            for (int i = 0; i < tokens; i++)
            {
                double sum = 0;
                for (int j = 0; j < tokens; j++)
                {
                    a[i, j] = (0.5 * f[i, j]) + (i == j ? 0.5 : 0);
                    sum += a[i, j];
                }

                for (int j = 0; j < tokens; j++)
                {
                    a[i, j] /= sum;
                }
            }

            r = r is null ? a : Multiply(a, r); // Ã_l · (Ã_{l−1} ⋯ Ã_0)
        }

        return r!;
    }

    private static double[,] Multiply(double[,] x, double[,] y)
    {
        int n = x.GetLength(0), k = x.GetLength(1), m = y.GetLength(1);
        var z = new double[n, m];
        for (int i = 0; i < n; i++)
        {
            for (int p = 0; p < k; p++)
            {
                double xv = x[i, p];
                for (int j = 0; j < m; j++)
                {
                    z[i, j] += xv * y[p, j];
                }
            }
        }

        return z;
    }

    /// <summary>The attention as the page decodes it: every row quantised and read back (<see cref="VitAttention.Rendering.Viewer.AttentionQuantizer"/>).</summary>
    public static float[] Quantised(float[] attention, int tokens)
    {
        var codes = new byte[attention.Length];
        var scales = new float[attention.Length / tokens];
        VitAttention.Rendering.Viewer.AttentionQuantizer.Encode(attention, tokens, codes, scales);
        var decoded = new float[attention.Length];
        VitAttention.Rendering.Viewer.AttentionQuantizer.Decode(codes, scales, tokens, decoded);
        return decoded;
    }
}
