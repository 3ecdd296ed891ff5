using VitAttention.Analysis.Methods;
using VitAttention.Inference;
using VitAttention.Rollout;
using VitAttention.Rollout.Flow;

namespace VitAttention.Tests.Rollout.Flow;

/// <summary>
/// Flow from the mean of several query rows (the readout of a model that pools its patch tokens) against the plain
/// Edmonds–Karp reference, and <see cref="FlowMethod.Flow"/>, the entry point shaped like the other explanation
/// methods, against the networkx oracle and the engine.
/// </summary>
public class FlowMethodTests
{
    private const double Tolerance = 1e-9;

    private static IEnumerable<TestCaseData> MeanQueryCases()
    {
        RolloutOptions d = RolloutOptions.Default;
        yield return new TestCaseData(4, 2, 17, 1, 16, d, 6.0).SetName("FlowRow_MeanOfPatchRows_MatchesEdmondsKarpFromTheMeanRow");
        yield return new TestCaseData(2, 2, 12, 2, 10, d with { Fusion = HeadFusion.Max, ResidualAlpha = 0.8f }, 8.0)
            .SetName("FlowRow_MeanOfRowsMaxFusion_MatchesEdmondsKarpFromTheMeanRow");
        yield return new TestCaseData(3, 2, 11, 1, 10, d with { DiscardRatio = 0.6f }, 0.0)
            .SetName("FlowRow_MeanOfRowsDiscard_MatchesEdmondsKarpFromTheMeanRow");
        yield return new TestCaseData(5, 2, 10, 3, 4, d with { FirstLayer = 2, LastLayer = 4 }, 6.0)
            .SetName("FlowRow_MeanOfSomeRowsLayerRange_MatchesEdmondsKarpFromTheMeanRow");
        yield return new TestCaseData(2, 2, 9, 1, 8, d with { FirstLayer = 2 }, 6.0).SetName("FlowRow_MeanOfRowsOneLayer_IsTheMeanRow");
    }

    [TestCaseSource(nameof(MeanQueryCases))]
    public void FlowRow_MeanOfQueryRows_MatchesEdmondsKarpFromTheMeanRow(
        int layers, int heads, int tokens, int firstQuery, int queryCount, RolloutOptions options, double temperature)
    {
        // The oracle: the authors' whole graph with the top layer's row `firstQuery` replaced by the mean of the
        // query rows of Ã_end (float64, from the rollout reference), then plain Edmonds–Karp from that node. Only
        // that row of the top layer is a source's arc, so this is the graph with one pooled output on top.
        var shape = new AttentionShape(layers, 2, heads, tokens);
        // Temperature 0: quantized rows, on which float32 and float64 pick the same entries to discard.
        float[] data = temperature == 0
            ? RandomStacks.Create(shape, seed: tokens, quantized: true)
            : AttentionFlowEngineTests.PeakedStack(shape, (tokens * 7) + layers, temperature);
        var engine = new AttentionFlowEngine();
        var flow = new double[tokens];
        var cut = new double[tokens];
        for (int item = 0; item < 2; item++)
        {
            double[][] a = MaxFlowReference.Layers(data, shape, item, options);
            double[] top = a[^1];
            var mean = new double[tokens];
            for (int q = firstQuery; q < firstQuery + queryCount; q++)
            {
                for (int b = 0; b < tokens; b++)
                {
                    mean[b] += top[(q * tokens) + b] / queryCount;
                }
            }

            mean.CopyTo(top, firstQuery * tokens);
            double[] expected = MaxFlowReference.Flows(a, tokens, firstQuery);
            foreach (int threads in new[] { 1, 2 })
            {
                engine.FlowRow(data, shape, item, options with { MaxDegreeOfParallelism = threads }, firstQuery, queryCount, flow, cut);
                for (int j = 0; j < tokens; j++)
                {
                    Assert.That(flow[j], Is.EqualTo(expected[j]).Within(Tolerance), $"item {item}, {threads} thread(s), input token {j}");
                    Assert.That(cut[j], Is.EqualTo(flow[j]).Within(Tolerance), $"item {item}, input token {j}: cut certificate");
                }
            }

            // The case must tell the mean of the rows from its first row alone.
            var firstRowOnly = new double[tokens];
            engine.FlowRow(data, shape, item, options, firstQuery, 1, firstRowOnly);
            Assert.That(Enumerable.Range(0, tokens).Max(j => Math.Abs(firstRowOnly[j] - flow[j])), Is.GreaterThan(1e-3), $"item {item}: mean ≠ first row");

            if (a.Length == 1)
            {
                // One layer: the only path is the source's own arc, so the flow is the mean row itself.
                Assert.That(flow, Is.EqualTo(mean).Within(1e-12).AsCollection);
            }
        }
    }

    [Test]
    public void FlowRow_OneQueryRow_EqualsTheQueryTokensFlow()
    {
        var shape = new AttentionShape(5, 1, 3, 21);
        float[] data = AttentionFlowEngineTests.PeakedStack(shape, 11, 8.0);
        var engine = new AttentionFlowEngine();
        var byRows = new double[21];
        var byToken = new double[21];
        engine.FlowRow(data, shape, 0, RolloutOptions.Default, 6, 1, byRows);
        engine.FlowRow(data, shape, 0, RolloutOptions.Default with { QueryToken = 6 }, byToken);
        Assert.That(byRows, Is.EqualTo(byToken).AsCollection);
    }

    [Test]
    public void FlowRow_MeanOfPatchRows_LiesBetweenTheMeanRolloutAndTheTrivialBound()
    {
        // The rollout of the pooled readout (the mean of the patch rows of the rollout matrix, as the front door
        // computes it for models without a class token) routes one unit from the pooled output proportionally: a
        // feasible flow, so the max-flow is at least that; and no flow passes more than min(1, column sum of Ã_1).
        var shape = new AttentionShape(6, 1, 4, 50);
        float[] data = AttentionFlowEngineTests.PeakedStack(shape, 3, 9.0);
        var options = RolloutOptions.Default;
        var flow = new double[50];
        new AttentionFlowEngine().FlowRow(data, shape, 0, options, 1, 49, flow);
        double[] matrix = RolloutReference.Matrix(data, shape, 0, options);
        double[] first = RolloutReference.Layer(data, shape, 0, 0, options);
        int strictlyAbove = 0;
        for (int j = 0; j < 50; j++)
        {
            double rollout = Enumerable.Range(1, 49).Sum(q => matrix[(q * 50) + j]) / 49;
            double bound = Math.Min(1.0, Enumerable.Range(0, 50).Sum(a => first[(a * 50) + j]));
            Assert.That(flow[j], Is.GreaterThanOrEqualTo(rollout - 1e-12), $"flow {j} ≥ mean rollout");
            Assert.That(flow[j], Is.LessThanOrEqualTo(bound + 1e-12), $"flow {j} ≤ bound");
            strictlyAbove += flow[j] > rollout + 1e-6 ? 1 : 0;
        }

        Assert.That(strictlyAbove, Is.GreaterThan(25), "flow is a different quantity from rollout, not a copy of it");
    }

    [Test]
    public void Flow_OracleCases_MapIsTheNetworkxRelevanceOverThePatches()
    {
        for (int index = 0; index < 13; index++)
        {
            (AttentionStack stack, RolloutOptions options, _, double[] relevance) = AttentionFlowOracleTests.Load(index);
            int prefix = options.PrefixTokens;
            // The options' query token and prefix are the method's own arguments; give it options that say otherwise.
            float[] map = FlowMethod.Flow(stack, 0, prefix, QueryRows.Token(options.QueryToken), options with { QueryToken = 0, PrefixTokens = 0 });
            Assert.That(map, Has.Length.EqualTo(stack.Shape.Tokens - prefix));
            for (int p = 0; p < map.Length; p++)
            {
                Assert.That(map[p], Is.EqualTo(relevance[prefix + p]).Within(1e-7), $"case {index}, patch {p}");
            }
        }
    }

    [Test]
    public void Flow_PatchMeanQuery_IsTheEnginesMeanRowFlowNormalised()
    {
        var shape = new AttentionShape(4, 3, 2, 26);
        float[] data = AttentionFlowEngineTests.PeakedStack(shape, 8, 7.0);
        var stack = new AttentionStack(shape, data);
        var engine = new AttentionFlowEngine();
        var flow = new double[26];
        engine.FlowRow(data, shape, 2, RolloutOptions.Default, 2, 24, flow);
        double total = flow.Sum();
        float[] map = FlowMethod.Flow(stack, 2, 2, QueryRows.Patches(2, 26), engine: engine);
        Assert.That(map, Is.EqualTo(flow[2..].Select(f => (float)(f / total))).Within(1e-7f).AsCollection);
        Assert.That(total, Is.GreaterThan(0.5), "the flows are not all near zero");
    }

    [Test]
    public void Flow_FromAPool_TakesOneEnginePutsItBackAndMatchesAFreshEngine()
    {
        var shape = new AttentionShape(4, 3, 2, 26);
        var stack = new AttentionStack(shape, AttentionFlowEngineTests.PeakedStack(shape, 8, 7.0));
        var pool = new System.Collections.Concurrent.ConcurrentBag<AttentionFlowEngine>();

        float[] first = FlowMethod.Flow(stack, 0, 1, QueryRows.Token(0), null, pool);
        Assert.That(pool, Has.Count.EqualTo(1), "the engine goes back to the pool");
        AttentionFlowEngine kept = pool.Single();
        float[] second = FlowMethod.Flow(stack, 2, 1, QueryRows.Token(0), null, pool);
        Assert.That(pool.Single(), Is.SameAs(kept), "the second call reuses it");

        Assert.That(first, Is.EqualTo(FlowMethod.Flow(stack, 0, 1, QueryRows.Token(0))).AsCollection);
        Assert.That(second, Is.EqualTo(FlowMethod.Flow(stack, 2, 1, QueryRows.Token(0))).AsCollection);
        Assert.That(() => FlowMethod.Flow(stack, 5, 1, QueryRows.Token(0), null, pool), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(pool.Single(), Is.SameAs(kept), "a failed call puts the engine back too");
    }

    [Test]
    public void Flow_BadArguments_ThrowNamingThem()
    {
        var shape = new AttentionShape(3, 2, 2, 10);
        var stack = new AttentionStack(shape, AttentionFlowEngineTests.PeakedStack(shape, 1, 3.0));
        Assert.That(() => FlowMethod.Flow(null!, 0, 1, QueryRows.Token(0)),
            Throws.ArgumentNullException.With.Property("ParamName").EqualTo("attentions"));
        Assert.That(() => FlowMethod.Flow(stack, 2, 1, QueryRows.Token(0)),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("item"));
        Assert.That(() => FlowMethod.Flow(stack, 0, 10, QueryRows.Token(0)),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("prefix"));
        Assert.That(() => FlowMethod.Flow(stack, 0, 1, new QueryRows(5, 6)),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo(nameof(QueryRows)).And.Message.Contains("5..10"));
        Assert.That(() => FlowMethod.Flow(stack, 0, 1, QueryRows.Token(0), RolloutOptions.Default with { LastLayer = 4 }),
            Throws.ArgumentException.With.Message.Contains("LastLayer"));
        float[] bad = AttentionFlowEngineTests.PeakedStack(shape, 1, 3.0);
        bad[shape.OffsetOf(1, 1, 1) + 13] = -0.25f;
        Assert.That(() => FlowMethod.Flow(new AttentionStack(shape, bad), 1, 1, QueryRows.Token(0)),
            Throws.ArgumentException.With.Message.Contains("negative value").And.Message.Contains("layer 1, item 1, head 1, row 1"));
    }

    [TestCase(-1, 2)]
    [TestCase(0, 0)]
    [TestCase(4, 7)]
    public void FlowRow_QueryRowsOutsideTheTokens_ThrowsNamingTheRows(int first, int count)
    {
        var shape = new AttentionShape(3, 1, 2, 10);
        float[] data = AttentionFlowEngineTests.PeakedStack(shape, 1, 3.0);
        Assert.That(() => new AttentionFlowEngine().FlowRow(data, shape, 0, RolloutOptions.Default, first, count, new double[10]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("queryCount").And.Message.Contains("not inside the 10 tokens"));
    }
}
