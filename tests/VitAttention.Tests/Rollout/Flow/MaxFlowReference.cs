using VitAttention.Inference;
using VitAttention.Rollout;

namespace VitAttention.Tests.Rollout.Flow;

/// <summary>
/// The oracle written the plain way: the authors' whole graph ((n + 1)·tokens nodes, a dense float64 capacity
/// matrix, every token of every layer, nothing left out) and textbook Edmonds–Karp (breadth-first shortest augmenting
/// paths) per input token, with Ã_l from <see cref="RolloutReference.Layer"/>. Slow and simple on purpose.
/// </summary>
internal static class MaxFlowReference
{
    /// <summary>Ã_start … Ã_end of one item, float64.</summary>
    public static double[][] Layers(float[] stack, AttentionShape shape, int item, RolloutOptions options)
    {
        int end = options.ResolveEndLayer(shape.Layers);
        return [.. Enumerable.Range(options.StartLayer, end - options.StartLayer + 1).Select(l => RolloutReference.Layer(stack, shape, l, item, options))];
    }

    /// <summary>Max-flow from (n, query) to (0, j) for every j (every <paramref name="stride"/>-th j; NaN for the others).</summary>
    public static double[] Flows(double[][] layers, int tokens, int query, int stride = 1)
    {
        int n = layers.Length, size = (n + 1) * tokens;
        var capacity = new double[size * size];
        for (int r = 1; r <= n; r++)
        {
            for (int a = 0; a < tokens; a++)
            {
                for (int b = 0; b < tokens; b++)
                {
                    capacity[((r * tokens) + a) * size + ((r - 1) * tokens) + b] = layers[r - 1][(a * tokens) + b];
                }
            }
        }

        return [.. Enumerable.Range(0, tokens).Select(j => j % stride == 0 ? EdmondsKarp(capacity, size, tokens, (n * tokens) + query, j) : double.NaN)];
    }

    /// <summary>
    /// Edmonds–Karp on a dense capacity matrix; residual capacities ≤ 1e-15 count as none. Only arcs between adjacent
    /// blocks of <paramref name="block"/> nodes can have capacity (or, reversed, residual), so the search looks only there.
    /// </summary>
    public static double EdmondsKarp(double[] capacity, int size, int block, int source, int sink)
    {
        var residual = (double[])capacity.Clone();
        var parent = new int[size];
        var queue = new int[size];
        double total = 0;
        while (true)
        {
            Array.Fill(parent, -1);
            parent[source] = source;
            int head = 0, tail = 0;
            queue[tail++] = source;
            while (head < tail && parent[sink] < 0)
            {
                int u = queue[head++];
                int from = Math.Max(0, ((u / block) - 1) * block), to = Math.Min(size, ((u / block) + 2) * block);
                for (int v = from; v < to; v++)
                {
                    if (parent[v] < 0 && residual[(u * size) + v] > 1e-15)
                    {
                        parent[v] = u;
                        queue[tail++] = v;
                    }
                }
            }

            if (parent[sink] < 0)
            {
                return total;
            }

            double delta = double.MaxValue;
            for (int v = sink; v != source; v = parent[v])
            {
                delta = Math.Min(delta, residual[(parent[v] * size) + v]);
            }

            for (int v = sink; v != source; v = parent[v])
            {
                residual[(parent[v] * size) + v] -= delta;
                residual[(v * size) + parent[v]] += delta;
            }

            total += delta;
        }
    }
}
