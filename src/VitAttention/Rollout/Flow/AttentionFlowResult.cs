namespace VitAttention.Rollout.Flow;

/// <summary>
/// Attention flow of one query token to every input token of one image: the raw max-flow values, the authors'
/// normalisation of them, the trivial bound each is compared with, and the map over the patch grid.
/// </summary>
/// <remarks>Meant to become public beside <see cref="AttentionFlowEngine"/> when the front door offers the method.</remarks>
internal sealed class AttentionFlowResult
{
    private readonly double[] _flow;
    private readonly double[] _relevance;
    private readonly double[] _bound;

    /// <summary>Wraps the values (not copied) and derives <see cref="Relevance"/> and <see cref="Map"/>.</summary>
    /// <param name="queryToken">The output token the flow starts from.</param>
    /// <param name="prefixTokens">Leading non-patch tokens, dropped from the map.</param>
    /// <param name="gridHeight">Patch rows.</param>
    /// <param name="gridWidth">Patch columns.</param>
    /// <param name="flow">Max-flow value per input token, <c>[tokens]</c>.</param>
    /// <param name="trivialBound">The trivial bound per input token, <c>[tokens]</c>.</param>
    internal AttentionFlowResult(int queryToken, int prefixTokens, int gridHeight, int gridWidth, double[] flow, double[] trivialBound)
    {
        QueryToken = queryToken;
        _flow = flow;
        _bound = trivialBound;
        double total = 0;
        foreach (double f in flow)
        {
            total += f;
        }

        _relevance = new double[flow.Length];
        if (total > 0)
        {
            for (int j = 0; j < flow.Length; j++)
            {
                _relevance[j] = flow[j] / total;
            }
        }

        var patches = new float[flow.Length - prefixTokens];
        for (int j = 0; j < patches.Length; j++)
        {
            patches[j] = (float)_relevance[prefixTokens + j];
        }

        Map = new AttentionMap(gridHeight, gridWidth, patches);
    }

    /// <summary>The output token (at the last layer used) the flow starts from.</summary>
    public int QueryToken { get; }

    /// <summary>
    /// The maximum flow from the query token at the top of the attention graph to each input token at the bottom,
    /// <c>[tokens]</c> (prefix tokens included). Each is at most <see cref="TrivialBound"/>.
    /// </summary>
    public ReadOnlySpan<double> Flow => _flow;

    /// <summary>
    /// <see cref="Flow"/> divided by its sum over all input tokens (prefix tokens included), as the authors'
    /// <c>compute_node_flow</c> reports it; all zero when no flow reaches any input token.
    /// </summary>
    public ReadOnlySpan<double> Relevance => _relevance;

    /// <summary>
    /// min(out-capacity of the source, in-capacity of the input token) = min(1, column sum of the first layer's
    /// Ã) per input token, <c>[tokens]</c>: the cut around either end of the graph. Where the flow equals it
    /// (on random attention, almost everywhere), the flow says no more than that column sum.
    /// </summary>
    public ReadOnlySpan<double> TrivialBound => _bound;

    /// <summary><see cref="Relevance"/> over the patch grid, prefix tokens dropped, row-major.</summary>
    public AttentionMap Map { get; }
}
