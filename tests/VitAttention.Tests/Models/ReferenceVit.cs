using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using VitAttention.Models;

namespace VitAttention.Tests.Models;

/// <summary>
/// A float64 scalar ViT forward pass written from the architecture's definition (loops, no shared code with the
/// builder): the oracle for layouts the PyTorch fixtures do not cover. Checked itself against the fixtures.
/// </summary>
internal static class ReferenceVit
{
    public static (double[] Logits, double[][] Attentions) Forward(VitConfig c, VitWeights w, float[] pixels, int batch)
    {
        Assert.That((c.TrainedGridHeight, c.TrainedGridWidth), Is.EqualTo((c.GridHeight, c.GridWidth)), "the scalar reference does not interpolate position embeddings; the PyTorch fixtures cover that");
        int d = c.HiddenSize, t = c.Tokens, n = c.Patches, p = c.PatchSize, ch = c.Channels, heads = c.NumHeads, hd = c.HeadDim;
        var logits = new double[batch * c.NumClasses];
        var attentions = Enumerable.Range(0, c.NumLayers).Select(_ => new double[batch * heads * t * t]).ToArray();
        for (int b = 0; b < batch; b++)
        {
            var x = new double[t, d];
            for (int patch = 0; patch < n; patch++)
            {
                int gy = patch / c.GridWidth, gx = patch % c.GridWidth;
                for (int o = 0; o < d; o++)
                {
                    double s = w.PatchBias?[o] ?? 0;
                    for (int ci = 0; ci < ch; ci++)
                    {
                        for (int ky = 0; ky < p; ky++)
                        {
                            for (int kx = 0; kx < p; kx++)
                            {
                                int yy = (gy * p) + ky, xx = (gx * p) + kx;
                                s += w.PatchWeight[(((o * ch) + ci) * p + ky) * p + kx] * (double)pixels[(((b * ch) + ci) * c.ImageHeight + yy) * c.ImageWidth + xx];
                            }
                        }
                    }

                    // The patches' rows follow the prefix rows the table has (all, the class token only, or none).
                    double pos = w.PositionEmbedding is { } pe ? pe[((c.PositionEmbeddingPrefixRows + patch) * d) + o] : 0;
                    x[c.PrefixTokens + patch, o] = s + pos;
                }
            }

            var prefix = new List<float>();
            prefix.AddRange(w.ClassToken ?? []);
            prefix.AddRange(w.DistillationToken ?? []);
            prefix.AddRange(w.RegisterTokens ?? []);
            for (int i = 0; i < c.PrefixTokens * d; i++)
            {
                x[i / d, i % d] = prefix[i];
            }

            for (int i = 0; i < c.PositionEmbeddingPrefixRows; i++)
            {
                for (int j = 0; j < d; j++)
                {
                    x[i, j] += w.PositionEmbedding![(i * d) + j];
                }
            }

            if (c.PreNorm)
            {
                x = LayerNorm(x, w.PreNormWeight!, w.PreNormBias!, c.LayerNormEps);
            }

            for (int l = 0; l < c.NumLayers; l++)
            {
                var lw = w.Layers[l];
                var h = LayerNorm(x, lw.Norm1Weight, lw.Norm1Bias, c.LayerNormEps);
                var qkv = Linear(h, lw.QkvWeight, lw.QkvBias, 3 * d);
                var context = new double[t, d];
                for (int head = 0; head < heads; head++)
                {
                    for (int i = 0; i < t; i++)
                    {
                        var row = new double[t];
                        for (int j = 0; j < t; j++)
                        {
                            double s = 0;
                            for (int e = 0; e < hd; e++)
                            {
                                s += qkv[i, (head * hd) + e] * qkv[j, d + (head * hd) + e];
                            }

                            row[j] = (s / Math.Sqrt(hd)) + RelativeBias(c, lw.RelativePositionBiasTable ?? w.SharedRelativePositionBiasTable, head, i, j);
                        }

                        double max = row.Max();
                        double sum = 0;
                        for (int j = 0; j < t; j++)
                        {
                            row[j] = Math.Exp(row[j] - max);
                            sum += row[j];
                        }

                        for (int j = 0; j < t; j++)
                        {
                            row[j] /= sum;
                            attentions[l][(((b * heads) + head) * t + i) * t + j] = row[j];
                            for (int e = 0; e < hd; e++)
                            {
                                context[i, (head * hd) + e] += row[j] * qkv[j, (2 * d) + (head * hd) + e];
                            }
                        }
                    }
                }

                Accumulate(x, Scale(Linear(context, lw.ProjWeight, lw.ProjBias, d), lw.LayerScale1));
                var h2 = LayerNorm(x, lw.Norm2Weight, lw.Norm2Bias, c.LayerNormEps);
                var m = Linear(h2, lw.Fc1Weight, lw.Fc1Bias, c.IntermediateSize);
                for (int i = 0; i < t; i++)
                {
                    for (int j = 0; j < c.IntermediateSize; j++)
                    {
                        double v = m[i, j];
                        m[i, j] = c.Activation switch
                        {
                            VitActivation.QuickGelu => v / (1 + Math.Exp(-1.702 * v)),
                            VitActivation.GeluTanh => 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + (0.044715 * v * v * v)))),
                            _ => 0.5 * v * (1 + Erf(v / Math.Sqrt(2))),
                        };
                    }
                }

                Accumulate(x, Scale(Linear(m, lw.Fc2Weight, lw.Fc2Bias, d), lw.LayerScale2));
            }

            if (c.NumClasses == 0)
            {
                continue;
            }

            double[,] pooled;
            if (c.Pooling == VitPooling.ClassAndPatchMean)
            {
                var seq = LayerNorm(x, w.FinalNormWeight, w.FinalNormBias, c.LayerNormEps);
                pooled = new double[1, 2 * d];
                for (int j = 0; j < d; j++)
                {
                    pooled[0, j] = seq[0, j];
                    for (int i = c.PrefixTokens; i < t; i++)
                    {
                        pooled[0, d + j] += seq[i, j] / n;
                    }
                }
            }
            else if (c.Pooling == VitPooling.MeanOfPatches)
            {
                var seq = c.NormAfterPooling ? x : LayerNorm(x, w.FinalNormWeight, w.FinalNormBias, c.LayerNormEps);
                pooled = new double[1, d];
                for (int i = c.PrefixTokens; i < t; i++)
                {
                    for (int j = 0; j < d; j++)
                    {
                        pooled[0, j] += seq[i, j] / n;
                    }
                }

                if (c.NormAfterPooling)
                {
                    pooled = LayerNorm(pooled, w.FinalNormWeight, w.FinalNormBias, c.LayerNormEps);
                }
            }
            else
            {
                pooled = LayerNorm(x, w.FinalNormWeight, w.FinalNormBias, c.LayerNormEps);
            }

            var head0 = Linear(pooled, w.HeadWeight!, w.HeadBias, c.NumClasses);
            var head1 = c.Pooling == VitPooling.ClassAndDistillationMean ? Linear(pooled, w.DistillationHeadWeight!, w.DistillationHeadBias, c.NumClasses) : null;
            for (int k = 0; k < c.NumClasses; k++)
            {
                logits[(b * c.NumClasses) + k] = head1 is null ? head0[0, k] : 0.5 * (head0[0, k] + head1[1, k]);
            }
        }

        return (logits, attentions);
    }

    /// <summary>
    /// BEiT's bias for (query i, key j) of a head, indexing the table from the definition: patches at (r, c) use
    /// ((r_i − r_j) + gh − 1)·(2·gw − 1) + (c_i − c_j) + gw − 1; class → token, token → class and class → class the
    /// last three rows. 0 without a table.
    /// </summary>
    private static double RelativeBias(VitConfig c, float[]? table, int head, int i, int j)
    {
        if (table is null)
        {
            return 0;
        }

        int gh = c.GridHeight, gw = c.GridWidth, rows = ((2 * gh) - 1) * ((2 * gw) - 1) + 3;
        int index = (i, j) switch
        {
            (0, 0) => rows - 1,
            (0, _) => rows - 3,
            (_, 0) => rows - 2,
            _ => ((((i - 1) / gw) - ((j - 1) / gw) + gh - 1) * ((2 * gw) - 1)) + (((i - 1) % gw) - ((j - 1) % gw) + gw - 1),
        };
        return table[(index * c.NumHeads) + head];
    }

    private static double[,] Scale(double[,] y, float[]? gamma)
    {
        if (gamma is not null)
        {
            for (int i = 0; i < y.GetLength(0); i++)
            {
                for (int j = 0; j < y.GetLength(1); j++)
                {
                    y[i, j] *= gamma[j];
                }
            }
        }

        return y;
    }

    private static void Accumulate(double[,] x, double[,] y)
    {
        for (int i = 0; i < x.GetLength(0); i++)
        {
            for (int j = 0; j < x.GetLength(1); j++)
            {
                x[i, j] += y[i, j];
            }
        }
    }

    private static double[,] LayerNorm(double[,] x, float[] g, float[] b, double eps)
    {
        int rows = x.GetLength(0), d = x.GetLength(1);
        var y = new double[rows, d];
        for (int i = 0; i < rows; i++)
        {
            double mean = 0, variance = 0;
            for (int j = 0; j < d; j++)
            {
                mean += x[i, j] / d;
            }

            for (int j = 0; j < d; j++)
            {
                variance += (x[i, j] - mean) * (x[i, j] - mean) / d;
            }

            for (int j = 0; j < d; j++)
            {
                y[i, j] = ((x[i, j] - mean) / Math.Sqrt(variance + eps) * g[j]) + b[j];
            }
        }

        return y;
    }

    private static double[,] Linear(double[,] x, float[] weight, float[]? bias, int outFeatures)
    {
        int rows = x.GetLength(0), inFeatures = x.GetLength(1);
        var y = new double[rows, outFeatures];
        for (int i = 0; i < rows; i++)
        {
            for (int o = 0; o < outFeatures; o++)
            {
                double s = bias?[o] ?? 0;
                for (int k = 0; k < inFeatures; k++)
                {
                    s += x[i, k] * weight[(o * inFeatures) + k];
                }

                y[i, o] = s;
            }
        }

        return y;
    }

    /// <summary>erf in float64: Maclaurin series below 3 (about 1e-12 after cancellation), erfc continued fraction from 3 to 6, ±1 beyond.</summary>
    private static double Erf(double x)
    {
        double ax = Math.Abs(x);
        if (ax > 6)
        {
            return Math.Sign(x);
        }

        if (ax < 3)
        {
            // Maclaurin series: erf x = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1)).
            double term = ax, sum = ax;
            for (int k = 1; k < 200 && Math.Abs(term) > 1e-17; k++)
            {
                term *= -ax * ax / k;
                sum += term / ((2 * k) + 1);
            }

            return Math.Sign(x) * 2 / Math.Sqrt(Math.PI) * sum;
        }

        // Continued fraction for erfc at larger |x| (converges fast for x ≥ 3).
        double f = 0;
        for (int k = 60; k >= 1; k--)
        {
            f = k / 2.0 / (ax + f);
        }

        double erfc = Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / (ax + f);
        return Math.Sign(x) * (1 - erfc);
    }
}
