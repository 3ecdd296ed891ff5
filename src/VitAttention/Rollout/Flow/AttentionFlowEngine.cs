using VitAttention.Inference;

namespace VitAttention.Rollout.Flow;

/// <summary>
/// Attention flow, the second method of Abnar &amp; Zuidema (2020), beside rollout: how much of the query token's
/// output can reach each input token through the layered attention graph, as an exact maximum flow.
/// </summary>
/// <remarks>
/// <para><b>Definition</b> (the authors' <c>get_adjmat</c> and <c>compute_node_flow</c>, samiraabnar/attention_flow).
/// Nodes: every token at every depth, node layers 0 (the input tokens) … n (the outputs of the last layer used),
/// n = last − first + 1 (<see cref="RolloutOptions.FirstLayer"/>, <see cref="RolloutOptions.LastLayer"/>, one-based).
/// Arcs: token a at node layer r → token b at node layer r − 1, capacity Ã_{first+r−1}[a, b] (layers numbered from 1) with
/// Ã_l = rownorm(α·fuse_h(A_l) + (1 − α)·I), the matrices rollout chains (<see cref="RolloutOptions"/>: fusion,
/// α, discard, layer range; the defaults mean and α = 0.5 give the authors' (mean_h A_l + I), row-normalised).
/// The flow of input token j is the value of the maximum flow from (n, q) to (0, j), q =
/// <see cref="RolloutOptions.QueryToken"/>. The authors then divide each output node's flows by their sum over all
/// input tokens; <see cref="AttentionFlowResult.Relevance"/> is that, <see cref="AttentionFlowResult.Flow"/> the
/// raw values.</para>
/// <para><b>Differences from the authors' code</b>: none in the values. Their code runs networkx's Edmonds–Karp per
/// input token (~9 minutes per token at ViT-B/16 size); this runs Dinic's algorithm on a bit-set residual graph in
/// float64 (<see cref="LayeredMaxFlow"/>), exact to ~1e-12, and the input tokens in parallel. Their code also accepts
/// any matrices; this one checks them as rollout does (finite, not negative, rows summing to 1).</para>
/// <para><b>Collapse.</b> No flow can exceed min(1, column sum j of Ã_start) (<see cref="AttentionFlowResult.TrivialBound"/>).
/// On random attention the flow equals that bound to rounding: the map then says no more than the first layer's
/// column sums. Compare the two before reading a flow map as more than that.</para>
/// <para>Thread-safety: an instance holds the graph and one solver per worker and is <b>not</b> thread-safe; use
/// one engine per concurrent caller. A call uses up to <see cref="RolloutOptions.MaxDegreeOfParallelism"/> threads
/// (at most <see cref="MaxWorkers"/>: the caller and thread-pool work items), each taking one input token at a time;
/// the values do not depend on the thread count.</para>
/// <para>Public API to come: this class and <see cref="AttentionFlowResult"/> are meant to become public once the
/// front door offers <c>flow</c> beside rollout; until then they are internal.</para>
/// </remarks>
internal sealed class AttentionFlowEngine
{
    /// <summary>
    /// The most threads one call uses, whatever <see cref="RolloutOptions.MaxDegreeOfParallelism"/> says: each holds
    /// a float64 flow per interior arc, 8·(layers − 2)·tokens² bytes (3.1 MB at ViT-B/16 224 px, 27 MB at 384 px).
    /// </summary>
    public const int MaxWorkers = 8;

    private readonly FlowGraph _graph = new();
    private LayeredMaxFlow[] _solvers = [];
    private double[] _flows = [];
    private double[] _cuts = [];
    private int _nextSink;
    private bool _certify;

    /// <summary>Augmenting-path phases and paths so far, summed over workers; for tests and tuning.</summary>
    internal (long Phases, long Paths) Work
    {
        get
        {
            long phases = 0, paths = 0;
            foreach (LayeredMaxFlow solver in _solvers)
            {
                phases += solver.Phases;
                paths += solver.Paths;
            }

            return (phases, paths);
        }
    }

    /// <summary>
    /// The flow from <see cref="RolloutOptions.QueryToken"/> at the top of the graph to every input token, raw
    /// max-flow values, <c>[tokens]</c>, prefix tokens included.
    /// </summary>
    /// <param name="stack">The attention stack, <c>[layer, batch, head, tokens, tokens]</c>.</param>
    /// <param name="shape">Its shape.</param>
    /// <param name="item">The batch item.</param>
    /// <param name="options">Fusion, α, discard, layer range, query token, threads.</param>
    /// <param name="destination">tokens doubles.</param>
    /// <exception cref="ArgumentException">A length, index or option is out of range, or the attention read holds
    /// NaN, infinity, negative values or rows that do not sum to 1.</exception>
    public void FlowRow(ReadOnlySpan<float> stack, AttentionShape shape, int item, RolloutOptions options, Span<double> destination) =>
        Run(stack, shape, item, options, options?.QueryToken ?? 0, 1, destination, cutCapacities: default);

    /// <summary>
    /// <see cref="FlowRow(ReadOnlySpan{float}, AttentionShape, int, RolloutOptions, Span{double})"/>, and for each
    /// input token the capacity of the minimum cut the solver ends with: flow ≤ max flow ≤ cut, so the two together
    /// bound the error of the flow. For tests.
    /// </summary>
    internal void FlowRow(
        ReadOnlySpan<float> stack, AttentionShape shape, int item, RolloutOptions options, Span<double> destination, Span<double> cutCapacities)
    {
        if (cutCapacities.Length != shape.Tokens)
        {
            throw new ArgumentException(
                $"cutCapacities must hold {shape.Tokens} doubles (one per token), got {cutCapacities.Length}.", nameof(cutCapacities));
        }

        Run(stack, shape, item, options, options?.QueryToken ?? 0, 1, destination, cutCapacities);
    }

    /// <summary>
    /// The flow from the mean of the query rows <paramref name="firstQuery"/> … firstQuery + queryCount − 1 at the
    /// top of the graph to every input token, raw max-flow values, <c>[tokens]</c>: the source is an output whose
    /// attention row in the last layer used is the mean of those rows of Ã (what a model that pools those tokens
    /// reads, as rollout's mean of the same rows does), so its out-capacity is 1 as a single token's is. With one
    /// row it is <see cref="FlowRow(ReadOnlySpan{float}, AttentionShape, int, RolloutOptions, Span{double})"/> with
    /// that query token; <see cref="RolloutOptions.QueryToken"/> is not used.
    /// </summary>
    /// <param name="stack">The attention stack, <c>[layer, batch, head, tokens, tokens]</c>.</param>
    /// <param name="shape">Its shape.</param>
    /// <param name="item">The batch item.</param>
    /// <param name="options">Fusion, α, discard, layer range, threads.</param>
    /// <param name="firstQuery">The first query row.</param>
    /// <param name="queryCount">How many consecutive rows are averaged (1 or more).</param>
    /// <param name="destination">tokens doubles.</param>
    /// <param name="cutCapacities">Empty, or tokens doubles for the cut certificates (see the overload with cuts).</param>
    /// <exception cref="ArgumentException">The rows are not inside the tokens, or see
    /// <see cref="FlowRow(ReadOnlySpan{float}, AttentionShape, int, RolloutOptions, Span{double})"/>.</exception>
    internal void FlowRow(
        ReadOnlySpan<float> stack, AttentionShape shape, int item, RolloutOptions options, int firstQuery, int queryCount,
        Span<double> destination, Span<double> cutCapacities = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!cutCapacities.IsEmpty && cutCapacities.Length != shape.Tokens)
        {
            throw new ArgumentException(
                $"cutCapacities must be empty or hold {shape.Tokens} doubles (one per token), got {cutCapacities.Length}.", nameof(cutCapacities));
        }

        if (queryCount < 1 || firstQuery < 0 || (long)firstQuery + queryCount > shape.Tokens)
        {
            throw new ArgumentException(
                $"The query rows {firstQuery} … {(long)firstQuery + queryCount - 1} ({queryCount} rows) are not inside the " +
                $"{shape.Tokens} tokens: pick 1 or more consecutive rows in 0 … {shape.Tokens - 1}.", nameof(queryCount));
        }

        Run(stack, shape, item, options with { QueryToken = firstQuery }, firstQuery, queryCount, destination, cutCapacities);
    }

    /// <summary>
    /// Attention flow of one image: the raw flows, the authors' normalised relevance, the trivial bound and the
    /// relevance over the patch grid. Allocates the result.
    /// </summary>
    /// <param name="stack">The attention stack.</param>
    /// <param name="item">The batch item.</param>
    /// <param name="gridHeight">Patch rows (14 for ViT-B/16 at 224 px).</param>
    /// <param name="gridWidth">Patch columns.</param>
    /// <param name="options">Settings; null for <see cref="RolloutOptions.Default"/> (the authors' definition).</param>
    /// <exception cref="ArgumentException">The grid does not match tokens − prefix tokens, or see
    /// <see cref="FlowRow(ReadOnlySpan{float}, AttentionShape, int, RolloutOptions, Span{double})"/>.</exception>
    public AttentionFlowResult Compute(AttentionStack stack, int item, int gridHeight, int gridWidth, RolloutOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        options ??= RolloutOptions.Default;
        AttentionShape shape = stack.Shape;
        int prefix = options.PrefixTokens;
        if (prefix < 0 || gridHeight <= 0 || gridWidth <= 0 || ((long)gridHeight * gridWidth) + prefix != shape.Tokens)
        {
            throw new ArgumentException(
                $"A {gridHeight}×{gridWidth} patch grid plus {prefix} prefix token(s) does not match {shape.Tokens} tokens: " +
                "pass the model's grid (image size / patch size per side) and its prefix-token count.",
                nameof(gridHeight));
        }

        var flow = new double[shape.Tokens];
        FlowRow(stack.Data, shape, item, options, flow);
        var bound = new double[shape.Tokens];
        for (int j = 0; j < bound.Length; j++)
        {
            bound[j] = _graph.TrivialBound(j);
        }

        return new AttentionFlowResult(options.QueryToken, prefix, gridHeight, gridWidth, flow, bound);
    }

    private void Run(
        ReadOnlySpan<float> stack, AttentionShape shape, int item, RolloutOptions options, int firstQuery, int queryCount,
        Span<double> destination, Span<double> cutCapacities)
    {
        ArgumentNullException.ThrowIfNull(options);
        shape.Validate();
        if (stack.Length != shape.TotalLength)
        {
            throw new ArgumentException(
                $"The attention stack has {stack.Length} floats but shape {shape} needs {shape.TotalLength} " +
                "([layer, batch, head, tokens, tokens]).", nameof(stack));
        }

        if (item < 0 || item >= shape.Batch)
        {
            throw new ArgumentException($"item must be in [0, {shape.Batch - 1}] ({shape.Batch} batch items), got {item}.", nameof(item));
        }

        options.Validate(shape);
        int n = shape.Tokens;
        if (destination.Length != n)
        {
            throw new ArgumentException($"destination must hold {n} doubles (one flow per token), got {destination.Length}.", nameof(destination));
        }

        _graph.Build(stack, shape, item, options, firstQuery, queryCount);
        if (_flows.Length < n)
        {
            _flows = new double[n];
            _cuts = new double[n];
        }

        int workers = Math.Max(1, Math.Min(Math.Min(options.MaxDegreeOfParallelism, MaxWorkers), n));
        if (_solvers.Length < workers)
        {
            LayeredMaxFlow[] grown = new LayeredMaxFlow[workers];
            _solvers.CopyTo(grown, 0);
            for (int w = _solvers.Length; w < workers; w++)
            {
                grown[w] = new LayeredMaxFlow();
            }

            _solvers = grown;
        }

        for (int w = 0; w < workers; w++)
        {
            _solvers[w].Attach(_graph);
        }

        _nextSink = 0;
        _certify = !cutCapacities.IsEmpty;
        if (workers == 1)
        {
            Drain(0);
        }
        else
        {
            Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, Drain);
        }

        _flows.AsSpan(0, n).CopyTo(destination);
        if (_certify)
        {
            _cuts.AsSpan(0, n).CopyTo(cutCapacities);
        }
    }

    /// <summary>One worker: takes input tokens one at a time until none is left.</summary>
    private void Drain(int worker)
    {
        LayeredMaxFlow solver = _solvers[worker];
        int n = _graph.Tokens;
        int sink;
        while ((sink = Interlocked.Increment(ref _nextSink) - 1) < n)
        {
            _flows[sink] = solver.Solve(sink, _certify, out _cuts[sink]);
        }
    }
}
