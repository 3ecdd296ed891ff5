using BenchmarkDotNet.Attributes;
using VitAttention.Inference;
using VitAttention.Rollout;
using VitAttention.Rollout.Flow;

namespace VitAttention.Benchmarks.Flow;

/// <summary>
/// Attention flow (Abnar &amp; Zuidema's second method) for a whole ViT-B/16 map: the exact max-flow from the CLS
/// token at the top of the 12-layer attention graph to each of the 197 input tokens (2,561 nodes, 465,708 arcs),
/// on one thread and on two. <c>RolloutRow</c>, the single rollout row an overlay needs, is there for scale. The
/// peers (scipy's Dinic on integer-scaled capacities, networkx) run on the same data in
/// benchmarks/python/flow_peers.py; benchmarks/run-flow-comparison.sh runs both. The setup prints a checksum of
/// the flows (their sum, and the largest gap to the trivial bound) that the Python peer prints too.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class FlowBenchmarks
{
    private const int Layers = 12, Heads = 12, Tokens = 197;
    private readonly AttentionShape _shape = new(Layers, 1, Heads, Tokens);
    private readonly AttentionFlowEngine _engine = new();
    private readonly RolloutEngine _rollout = new();
    private readonly RolloutOptions _oneThread = RolloutOptions.Default with { MaxDegreeOfParallelism = 1 };
    private readonly RolloutOptions _twoThreads = RolloutOptions.Default with { MaxDegreeOfParallelism = 2 };
    private float[] _stack = [];  // [layer, 1, head, tokens, tokens]
    private double[] _flow = [];  // [tokens]
    private float[] _row = [];    // [tokens]

    /// <summary>random: exp(4u) rows (the rollout benchmark's data); hubs: most attention on a few tokens (see <see cref="FlowBenchmarkData"/>).</summary>
    [Params("random", "hubs")]
    public string Data { get; set; } = "random";

    [GlobalSetup]
    public void Setup()
    {
        _stack = FlowBenchmarkData.Create(Layers, Heads, Tokens, Data);
        _flow = new double[Tokens];
        _row = new float[Tokens];
        AttentionFlowResult result = _engine.Compute(new AttentionStack(_shape, _stack), 0, 14, 14, _twoThreads);
        double sum = 0, gap = 0;
        for (int j = 0; j < Tokens; j++)
        {
            sum += result.Flow[j];
            gap = Math.Max(gap, result.TrivialBound[j] - result.Flow[j]);
        }

        Console.WriteLine($"// flow checksum ({Data}): sum {sum:F9}, max(bound - flow) {gap:E3}");
    }

    [Benchmark(Baseline = true)]
    public void MapOneThread() => _engine.FlowRow(_stack, _shape, 0, _oneThread, _flow);

    [Benchmark]
    public void MapTwoThreads() => _engine.FlowRow(_stack, _shape, 0, _twoThreads, _flow);

    [Benchmark]
    public void RolloutRow() => _rollout.RolloutRow(_stack, _shape, 0, _oneThread, _row);
}
