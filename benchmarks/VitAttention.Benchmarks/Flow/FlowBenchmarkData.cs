namespace VitAttention.Benchmarks.Flow;

/// <summary>
/// Attention stacks for the flow benchmark, generated the same way here and in benchmarks/python/flow_peers.py so
/// that both sides time the same graph: values in [layer, head, query, key] order (batch 1), u from splitmix64
/// (state += 0x9E3779B97F4A7C15, the standard mix, u = (z ≫ 11)·2⁻⁵³), weights exp(logit − row max) normalised in
/// float64, stored float32.
/// </summary>
/// <remarks>
/// Kinds: <c>random</c>, logit = 4u (the rollout benchmark's exp(4u) rows); <c>local</c>, logit = 4u − d²/(2σ²)
/// with d the distance between the query's and the key's patches on the square grid (0 when either is token 0,
/// the CLS token) and σ = 1 + head: early heads look at neighbours, later ones wider; <c>hubs</c>, logit = 4u + 6
/// for the keys k ≡ 0 (mod 37) (CLS and five patches take ~90% of every row, as the few high-norm "attention sink"
/// tokens of trained ViTs do). On random and local data the flow equals the trivial bound for every token; on hubs
/// it is below it for most tokens, and the solver needs a second phase.
/// </remarks>
internal static class FlowBenchmarkData
{
    public static float[] Create(int layers, int heads, int tokens, string kind, ulong seed = 42)
    {
        var data = new float[(long)layers * heads * tokens * tokens];
        int grid = (int)Math.Round(Math.Sqrt(tokens - 1));
        var logits = new double[tokens];
        ulong state = seed;
        long offset = 0;
        for (int l = 0; l < layers; l++)
        {
            for (int h = 0; h < heads; h++)
            {
                double sigma = 1 + h;
                for (int q = 0; q < tokens; q++)
                {
                    double max = double.NegativeInfinity;
                    for (int k = 0; k < tokens; k++)
                    {
                        state += 0x9E3779B97F4A7C15UL;
                        ulong z = state;
                        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                        z ^= z >> 31;
                        double u = (z >> 11) * (1.0 / (1UL << 53));
                        double logit = 4.0 * u;
                        if (kind == "local" && q > 0 && k > 0)
                        {
                            int dr = ((q - 1) / grid) - ((k - 1) / grid), dc = ((q - 1) % grid) - ((k - 1) % grid);
                            logit -= ((dr * dr) + (dc * dc)) / (2 * sigma * sigma);
                        }

                        else if (kind == "hubs" && k % 37 == 0)
                        {
                            logit += 6.0;
                        }

                        logits[k] = logit;
                        max = Math.Max(max, logit);
                    }

                    double total = 0;
                    for (int k = 0; k < tokens; k++)
                    {
                        logits[k] = Math.Exp(logits[k] - max);
                        total += logits[k];
                    }

                    for (int k = 0; k < tokens; k++)
                    {
                        data[offset++] = (float)(logits[k] / total);
                    }
                }
            }
        }

        return data;
    }
}
