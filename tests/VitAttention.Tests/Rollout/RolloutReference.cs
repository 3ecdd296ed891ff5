using VitAttention.Inference;
using VitAttention.Rollout;

namespace VitAttention.Tests.Rollout;

/// <summary>
/// The oracle: rollout written the plain way in float64, straight from the definition (no padding, no SIMD,
/// no folding of the normalisation): fuse, discard (stable sort), rownorm(α·F + (1 − α)·I), chained products.
/// </summary>
internal static class RolloutReference
{
    /// <summary>Ã_l of one item, [tokens, tokens] row-major.</summary>
    public static double[] Layer(float[] stack, AttentionShape shape, int layer, int item, RolloutOptions o)
    {
        int n = shape.Tokens;
        var fused = new double[n * n];
        for (int h = 0; h < shape.Heads; h++)
        {
            ReadOnlySpan<float> a = stack.AsSpan((int)shape.OffsetOf(layer, item, h), n * n);
            for (int i = 0; i < fused.Length; i++)
            {
                fused[i] = h == 0 ? a[i] : o.Fusion switch
                {
                    HeadFusion.Mean => fused[i] + a[i],
                    HeadFusion.Max => Math.Max(fused[i], a[i]),
                    _ => Math.Min(fused[i], a[i]),
                };
            }
        }

        if (o.Fusion == HeadFusion.Mean)
        {
            for (int i = 0; i < fused.Length; i++)
            {
                fused[i] /= shape.Heads;
            }
        }

        if (o.DiscardRatio > 0)
        {
            int p = o.PrefixTokens;
            var eligible = new List<(double Value, int Index)>();
            for (int i = p; i < n; i++)
            {
                for (int j = p; j < n; j++)
                {
                    eligible.Add((fused[(i * n) + j], (i * n) + j));
                }
            }

            long k = (long)Math.Floor((double)o.DiscardRatio * eligible.Count);
            foreach (var e in eligible.OrderBy(e => e.Value).ThenBy(e => e.Index).Take((int)k))
            {
                fused[e.Index] = 0;
            }
        }

        double alpha = o.ResidualAlpha;
        for (int i = 0; i < n; i++)
        {
            double total = 0;
            for (int j = 0; j < n; j++)
            {
                fused[(i * n) + j] = (alpha * fused[(i * n) + j]) + (i == j ? 1 - alpha : 0);
                total += fused[(i * n) + j];
            }

            for (int j = 0; j < n; j++)
            {
                fused[(i * n) + j] = total > 0 ? fused[(i * n) + j] / total : (i == j ? 1 : 0);
            }
        }

        return fused;
    }

    /// <summary>R = Ã_end ⋯ Ã_start, [tokens, tokens].</summary>
    public static double[] Matrix(float[] stack, AttentionShape shape, int item, RolloutOptions o)
    {
        int n = shape.Tokens;
        double[] r = Layer(stack, shape, o.StartLayer, item, o);
        for (int l = o.StartLayer + 1; l <= o.ResolveEndLayer(shape.Layers); l++)
        {
            double[] a = Layer(stack, shape, l, item, o);
            var next = new double[n * n];
            for (int i = 0; i < n; i++)
            {
                for (int p = 0; p < n; p++)
                {
                    double aip = a[(i * n) + p];
                    for (int j = 0; j < n; j++)
                    {
                        next[(i * n) + j] += aip * r[(p * n) + j];
                    }
                }
            }

            r = next;
        }

        return r;
    }

    /// <summary>e_q · Ã_end ⋯ Ã_start, as vector × matrix products from the left.</summary>
    public static double[] Row(float[] stack, AttentionShape shape, int item, RolloutOptions o)
    {
        int n = shape.Tokens;
        var r = new double[n];
        r[o.QueryToken] = 1;
        for (int l = o.ResolveEndLayer(shape.Layers); l >= o.StartLayer; l--)
        {
            double[] a = Layer(stack, shape, l, item, o);
            var next = new double[n];
            for (int k = 0; k < n; k++)
            {
                for (int j = 0; j < n; j++)
                {
                    next[j] += r[k] * a[(k * n) + j];
                }
            }

            r = next;
        }

        return r;
    }

    /// <summary>mean_h A[layer, item, h, query, :] (or one head's row).</summary>
    public static double[] LayerRow(float[] stack, AttentionShape shape, int layer, int item, int query, int? head)
    {
        int n = shape.Tokens;
        var row = new double[n];
        int from = head ?? 0, to = head is null ? shape.Heads : from + 1;
        for (int h = from; h < to; h++)
        {
            for (int j = 0; j < n; j++)
            {
                row[j] += stack[shape.OffsetOf(layer, item, h) + (query * n) + j];
            }
        }

        for (int j = 0; j < n; j++)
        {
            row[j] /= to - from;
        }

        return row;
    }
}
