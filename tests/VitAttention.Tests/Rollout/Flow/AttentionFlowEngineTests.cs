using VitAttention.Inference;
using VitAttention.Rollout;
using VitAttention.Rollout.Flow;

namespace VitAttention.Tests.Rollout.Flow;

/// <summary>
/// Attention flow on hand-built graphs with known flows, against a plain Edmonds–Karp oracle on random graphs, its
/// bounds (the trivial cut, the rollout as a feasible flow), the collapse on random attention, and bad input.
/// </summary>
public class AttentionFlowEngineTests
{
    private const double Tolerance = 1e-9;

    /// <summary>A stack with one head and one item from explicit matrices, [layer][row][column], bottom layer first.</summary>
    private static AttentionStack FromMatrices(double[][][] layers)
    {
        int n = layers[0].Length;
        var shape = new AttentionShape(layers.Length, 1, 1, n);
        var data = new float[shape.TotalLength];
        for (int l = 0; l < layers.Length; l++)
        {
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    data[shape.OffsetOf(l, 0) + (i * n) + j] = (float)layers[l][i][j];
                }
            }
        }

        return new AttentionStack(shape, data);
    }

    /// <summary>Softmax-like rows exp(temperature · u), u uniform, normalised in float64, stored float32.</summary>
    internal static float[] PeakedStack(AttentionShape shape, int seed, double temperature)
    {
        var random = new Random(seed);
        var data = new float[shape.TotalLength];
        int n = shape.Tokens;
        var w = new double[n];
        for (long offset = 0; offset < data.LongLength; offset += n)
        {
            double total = 0;
            for (int j = 0; j < n; j++)
            {
                w[j] = Math.Exp(temperature * random.NextDouble());
                total += w[j];
            }

            for (int j = 0; j < n; j++)
            {
                data[offset + j] = (float)(w[j] / total);
            }
        }

        return data;
    }

    private static double[] Flow(AttentionStack stack, RolloutOptions options, AttentionFlowEngine? engine = null)
    {
        var flow = new double[stack.Shape.Tokens];
        (engine ?? new AttentionFlowEngine()).FlowRow(stack.Data, stack.Shape, 0, options, flow);
        return flow;
    }

    [Test]
    public void FlowRow_IdentityAttention_AllFlowStaysOnTheQueryToken()
    {
        // Every head attends only to itself: Ã = (I + I) / 2 = I, so the only path from (n, q) ends at (0, q).
        var shape = new AttentionShape(4, 1, 2, 7);
        var data = new float[shape.TotalLength];
        for (long offset = 0; offset < data.LongLength; offset += shape.MatrixLength)
        {
            for (int i = 0; i < 7; i++)
            {
                data[offset + (i * 7) + i] = 1f;
            }
        }

        double[] flow = Flow(new AttentionStack(shape, data), RolloutOptions.Default with { QueryToken = 3 });
        Assert.That(flow, Is.EqualTo(new double[] { 0, 0, 0, 1, 0, 0, 0 }).AsCollection.Within(Tolerance));
    }

    [Test]
    public void FlowRow_CrossingRoutes_CancelsTheFirstPathAndFindsTheFullFlow()
    {
        // α = 1, so Ã = A. Source (3, 0) sends 0.5 to (2, 0) and 0.5 to (2, 1). (2, 0) can go to (1, 0) or (1, 1),
        // (2, 1) only to (1, 0); (1, 0) and (1, 1) each pass 0.5 to input 0 and 0.5 to input 2. The first path the
        // search takes, (2, 0) → (1, 0), blocks (2, 1): reaching flow 1 needs that path partly undone
        // ((2, 1) → (1, 0) → back to (2, 0) → (1, 1)), a second phase over a reverse arc.
        double[][][] layers =
        [
            [[0.5, 0, 0.5], [0.5, 0, 0.5], [0, 0, 1]],   // layer 0: node layer 1 → inputs
            [[0.5, 0.5, 0], [1, 0, 0], [0, 0, 1]],       // layer 1: node layer 2 → 1
            [[0.5, 0.5, 0], [0, 1, 0], [0, 0, 1]],       // layer 2: the source's row is row 0
        ];
        var engine = new AttentionFlowEngine();
        double[] flow = Flow(FromMatrices(layers), RolloutOptions.Default with { ResidualAlpha = 1f, MaxDegreeOfParallelism = 1 }, engine);
        Assert.That(flow, Is.EqualTo(new double[] { 1, 0, 1 }).AsCollection.Within(Tolerance));
        Assert.That(engine.Work.Phases, Is.EqualTo(4), "inputs 0 and 2 need two phases each, input 1 none");
    }

    [Test]
    public void FlowRow_InteriorBottleneck_FlowIsTheInteriorCutNotTheTrivialBound()
    {
        // α = 1. The source reaches (2, 1) and (2, 2), which both lead only to (1, 3); (1, 3) passes 0.25 to input 0
        // and 0.75 to input 3. Input 0's in-capacity is 3.25, so its trivial bound is 1, but its flow is 0.25.
        double[][][] layers =
        [
            [[1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0.25, 0, 0, 0.75]],
            [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1]],
            [[0, 0.5, 0.5, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
        ];
        AttentionStack stack = FromMatrices(layers);
        AttentionFlowResult result = new AttentionFlowEngine().Compute(stack, 0, 1, 3, RolloutOptions.Default with { ResidualAlpha = 1f });
        Assert.That(result.Flow.ToArray(), Is.EqualTo(new double[] { 0.25, 0, 0, 0.75 }).AsCollection.Within(Tolerance));
        Assert.That(result.TrivialBound.ToArray(), Is.EqualTo(new double[] { 1, 0, 0, 0.75 }).AsCollection.Within(Tolerance));
        Assert.That(result.Relevance.ToArray(), Is.EqualTo(new double[] { 0.25, 0, 0, 0.75 }).AsCollection.Within(Tolerance));
    }

    [TestCase(1, HeadFusion.Mean, 0.5f, 0)]
    [TestCase(2, HeadFusion.Max, 0.5f, 5)]
    [TestCase(3, HeadFusion.Min, 0.9f, 17)]
    public void FlowRow_TwoLayers_EqualsSumOfPairwiseMinima(int seed, HeadFusion fusion, float alpha, int query)
    {
        // With two layers every path is (2, q) → (1, b) → (0, j), one per b, so the flow is Σ_b min(Ã_1[q, b], Ã_0[b, j]).
        var shape = new AttentionShape(2, 1, 3, 50);
        float[] data = PeakedStack(shape, seed, 6.0);
        var options = RolloutOptions.Default with { Fusion = fusion, ResidualAlpha = alpha, QueryToken = query };
        double[] top = RolloutReference.Layer(data, shape, 1, 0, options), bottom = RolloutReference.Layer(data, shape, 0, 0, options);
        double[] flow = Flow(new AttentionStack(shape, data), options);
        for (int j = 0; j < 50; j++)
        {
            double expected = 0;
            for (int b = 0; b < 50; b++)
            {
                expected += Math.Min(top[(query * 50) + b], bottom[(b * 50) + j]);
            }

            Assert.That(flow[j], Is.EqualTo(expected).Within(Tolerance), $"input token {j}");
        }
    }

    private static IEnumerable<TestCaseData> ReferenceCases()
    {
        RolloutOptions d = RolloutOptions.Default;
        yield return new TestCaseData(3, 2, 6, 3.0, d, false).SetName("FlowRow_Random3Layers_MatchesEdmondsKarp");
        yield return new TestCaseData(5, 2, 12, 8.0, d with { QueryToken = 4 }, false).SetName("FlowRow_Peaked5Layers_MatchesEdmondsKarp");
        yield return new TestCaseData(4, 1, 16, 12.0, d, false).SetName("FlowRow_OneHeadPeaked_MatchesEdmondsKarp");
        yield return new TestCaseData(4, 3, 24, 5.0, d with { Fusion = HeadFusion.Max }, false).SetName("FlowRow_MaxFusion_MatchesEdmondsKarp");
        yield return new TestCaseData(4, 3, 13, 5.0, d with { Fusion = HeadFusion.Min, ResidualAlpha = 1f }, false).SetName("FlowRow_MinFusionNoResidual_MatchesEdmondsKarp");
        yield return new TestCaseData(5, 2, 10, 4.0, d with { FirstLayer = 2, LastLayer = 4, QueryToken = 2 }, false).SetName("FlowRow_LayerRange_MatchesEdmondsKarp");
        yield return new TestCaseData(3, 2, 11, 0.0, d with { DiscardRatio = 0.6f, PrefixTokens = 2 }, true).SetName("FlowRow_Discard_MatchesEdmondsKarp");
        yield return new TestCaseData(2, 2, 9, 4.0, d with { FirstLayer = 2 }, false).SetName("FlowRow_OneLayer_MatchesEdmondsKarp");
        yield return new TestCaseData(3, 1, 70, 10.0, d, false).SetName("FlowRow_MoreThan64Tokens_MatchesEdmondsKarp");
    }

    [TestCaseSource(nameof(ReferenceCases))]
    public void FlowRow_RandomGraph_MatchesEdmondsKarp(int layers, int heads, int tokens, double temperature, RolloutOptions options, bool quantized)
    {
        var shape = new AttentionShape(layers, 2, heads, tokens);
        // Quantized stacks make float32 and float64 agree on which entries the discard picks.
        float[] data = quantized ? RandomStacks.Create(shape, seed: tokens, quantized: true) : PeakedStack(shape, tokens * 31, temperature);
        var engine = new AttentionFlowEngine();
        var flow = new double[tokens];
        var cut = new double[tokens];
        for (int item = 0; item < 2; item++)
        {
            // Above 64 tokens (two words per bit set) the plain reference is slow: every fifth input token is checked.
            int stride = tokens > 64 ? 5 : 1;
            double[] expected = MaxFlowReference.Flows(MaxFlowReference.Layers(data, shape, item, options), tokens, options.QueryToken, stride);

            // One worker solves the input tokens in order, each after the last in the same buffers (a fixed sequence
            // of deep and shallow searches); two share them out as they come.
            foreach (int threads in new[] { 1, 2 })
            {
                engine.FlowRow(data, shape, item, options with { MaxDegreeOfParallelism = threads }, flow, cut);
                for (int j = 0; j < tokens; j += stride)
                {
                    Assert.That(flow[j], Is.EqualTo(expected[j]).Within(Tolerance), $"item {item}, {threads} thread(s), input token {j}");
                }

                for (int j = 0; j < tokens; j++)
                {
                    Assert.That(cut[j], Is.EqualTo(flow[j]).Within(Tolerance), $"item {item}, {threads} thread(s), input token {j}: cut certificate");
                }
            }
        }
    }

    [TestCase(8, 4, 30, 2.0)]
    [TestCase(6, 2, 40, 10.0)]
    [TestCase(12, 12, 197, 4.0)]
    public void FlowRow_RandomStack_LiesBetweenRolloutAndTheTrivialBound(int layers, int heads, int tokens, double temperature)
    {
        // The rollout row is itself a flow from (n, q) to (0, j) (the mass that reaches j, routed as rollout routes
        // it; no arc carries more than its capacity because no node holds more than 1), so the max-flow is at least
        // rollout; and no flow passes more than the cut around either end, min(1, Σ_a Ã_start[a, j]).
        var shape = new AttentionShape(layers, 1, heads, tokens);
        float[] data = PeakedStack(shape, tokens, temperature);
        var options = RolloutOptions.Default with { QueryToken = 1 };
        AttentionFlowResult result = new AttentionFlowEngine().Compute(new AttentionStack(shape, data), 0, 1, tokens - 1, options);
        var rollout = new float[tokens];
        new RolloutEngine().RolloutRow(data, shape, 0, options, rollout);
        double[] first = RolloutReference.Layer(data, shape, 0, 0, options);
        double outOfSource = RolloutReference.Layer(data, shape, layers - 1, 0, options).AsSpan(tokens, tokens).ToArray().Sum();
        for (int j = 0; j < tokens; j++)
        {
            double inOfSink = Enumerable.Range(0, tokens).Sum(a => first[(a * tokens) + j]);
            double bound = Math.Min(outOfSource, inOfSink);
            Assert.That(result.TrivialBound[j], Is.EqualTo(bound).Within(1e-12), $"bound {j}");
            Assert.That(result.Flow[j], Is.LessThanOrEqualTo(bound + 1e-12), $"flow {j} ≤ bound");
            Assert.That(result.Flow[j], Is.GreaterThanOrEqualTo(rollout[j] - 1e-6), $"flow {j} ≥ rollout");
            Assert.That(result.Flow[j], Is.InRange(0.0, 1.0 + 1e-12), $"flow {j}");
        }
    }

    [Test]
    public void FlowRow_RandomViTB16Attention_CollapsesToTheFirstLayerColumnSumBound()
    {
        // The collapse the issue reports: on random softmax attention at ViT-B/16 size (12 layers, 12 heads,
        // 197 tokens; rows exp(4u), u uniform, as in the benchmarks) the flow to input token j equals
        // min(Σ_b Ã_12[0, b], Σ_a Ã_1[a, j]) = min(1, column sum j of the first layer's Ã) to rounding, for every j:
        // the cut around the sink or around the source is always a minimum cut.
        var shape = new AttentionShape(12, 1, 12, 197);
        float[] data = PeakedStack(shape, 42, 4.0);
        var flow = new double[197];
        var cut = new double[197];
        new AttentionFlowEngine().FlowRow(data, shape, 0, RolloutOptions.Default, flow, cut);
        double[] first = RolloutReference.Layer(data, shape, 0, 0, RolloutOptions.Default);
        int belowOne = 0;
        for (int j = 0; j < 197; j++)
        {
            double columnSum = Enumerable.Range(0, 197).Sum(a => first[(a * 197) + j]);
            Assert.That(flow[j], Is.EqualTo(Math.Min(1.0, columnSum)).Within(Tolerance), $"input token {j}");
            Assert.That(cut[j], Is.EqualTo(flow[j]).Within(Tolerance), $"input token {j}: cut certificate");
            belowOne += columnSum < 1 ? 1 : 0;
        }

        // Both sides of the minimum occur, so the check covers both cuts.
        Assert.That(belowOne, Is.InRange(20, 177));
    }

    [Test]
    public void FlowRow_OneOrFourThreads_GiveIdenticalValues()
    {
        var shape = new AttentionShape(6, 1, 3, 33);
        var stack = new AttentionStack(shape, PeakedStack(shape, 5, 8.0));
        double[] one = Flow(stack, RolloutOptions.Default with { MaxDegreeOfParallelism = 1 });
        double[] four = Flow(stack, RolloutOptions.Default with { MaxDegreeOfParallelism = 4 });
        Assert.That(four, Is.EqualTo(one).AsCollection);
    }

    [Test]
    public void FlowRow_EngineReusedAcrossShapes_MatchesAFreshEngine()
    {
        var engine = new AttentionFlowEngine();
        foreach ((int layers, int tokens, int query) in new[] { (5, 40, 0), (3, 9, 8), (2, 70, 3), (6, 40, 1), (1, 12, 4) })
        {
            var shape = new AttentionShape(layers, 1, 2, tokens);
            var stack = new AttentionStack(shape, PeakedStack(shape, tokens + layers, 9.0));
            var options = RolloutOptions.Default with { QueryToken = query };
            Assert.That(Flow(stack, options, engine), Is.EqualTo(Flow(stack, options)).AsCollection, $"{layers} layers, {tokens} tokens");
        }
    }

    private static (AttentionShape Shape, float[] Data) Small()
    {
        var shape = new AttentionShape(2, 1, 2, 5);
        return (shape, PeakedStack(shape, 3, 2.0));
    }

    [TestCase(float.NaN)]
    [TestCase(float.PositiveInfinity)]
    [TestCase(float.NegativeInfinity)]
    public void FlowRow_NonFiniteAttention_ThrowsNamingTheRow(float value)
    {
        (AttentionShape shape, float[] data) = Small();
        data[shape.OffsetOf(0, 0, 1) + (3 * 5) + 2] = value;
        var ex = Assert.Throws<ArgumentException>(() => new AttentionFlowEngine().FlowRow(data, shape, 0, RolloutOptions.Default, new double[5]));
        Assert.That(ex!.Message, Does.Contain("NaN or infinity at layer 0, item 0, head 1, row 3"));
        Assert.That(ex.ParamName, Is.EqualTo("stack"));
    }

    [Test]
    public void FlowRow_NegativeAttention_ThrowsNamingTheValue()
    {
        (AttentionShape shape, float[] data) = Small();
        data[shape.OffsetOf(1, 0, 0) + 2] = -0.25f; // layer 1 (the top), row 0 = the query's row
        var ex = Assert.Throws<ArgumentException>(() => new AttentionFlowEngine().FlowRow(data, shape, 0, RolloutOptions.Default, new double[5]));
        Assert.That(ex!.Message, Does.Contain("negative value (-0.25) at layer 1, item 0, head 0, row 0"));
        Assert.That(ex.Message, Does.Contain("not logits"));
    }

    [Test]
    public void FlowRow_RowNotSummingToOne_ThrowsUnlessInputsAreSoftmax()
    {
        (AttentionShape shape, float[] data) = Small();
        for (int j = 0; j < 5; j++)
        {
            data[shape.OffsetOf(0, 0, 0) + (4 * 5) + j] *= 0.5f;
        }

        var engine = new AttentionFlowEngine();
        var ex = Assert.Throws<ArgumentException>(() => engine.FlowRow(data, shape, 0, RolloutOptions.Default, new double[5]));
        Assert.That(ex!.Message, Does.Contain("layer 0, item 0, head 0, row 4 sums to"));
        Assert.That(ex.Message, Does.Contain("InputsAreSoftmax"));
        Assert.DoesNotThrow(() => engine.FlowRow(data, shape, 0, RolloutOptions.Default with { InputsAreSoftmax = true }, new double[5]));
    }

    [TestCase(-1)]
    [TestCase(5)]
    public void FlowRow_QueryTokenOutOfRange_ThrowsNamingQueryToken(int query)
    {
        (AttentionShape shape, float[] data) = Small();
        var ex = Assert.Throws<ArgumentException>(() =>
            new AttentionFlowEngine().FlowRow(data, shape, 0, RolloutOptions.Default with { QueryToken = query }, new double[5]));
        Assert.That(ex!.Message, Does.Contain("QueryToken must be in [0, 4]"));
    }

    [Test]
    public void FlowRow_WrongLengthsOrItem_ThrowNamingTheArgument()
    {
        (AttentionShape shape, float[] data) = Small();
        var engine = new AttentionFlowEngine();
        Assert.That(() => engine.FlowRow(data, shape, 0, RolloutOptions.Default, new double[4]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("destination").And.Message.Contains("5 doubles"));
        Assert.That(() => engine.FlowRow(data.AsSpan(1).ToArray(), shape, 0, RolloutOptions.Default, new double[5]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("stack"));
        Assert.That(() => engine.FlowRow(data, shape, 1, RolloutOptions.Default, new double[5]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("item"));
        Assert.That(() => engine.FlowRow(data, shape, 0, RolloutOptions.Default, new double[5], new double[3]),
            Throws.ArgumentException.With.Property("ParamName").EqualTo("cutCapacities"));
        Assert.That(() => engine.FlowRow(data, shape, 0, null!, new double[5]), Throws.ArgumentNullException);
    }

    [Test]
    public void Compute_GridDoesNotMatchTokens_ThrowsNamingTheGrid()
    {
        (AttentionShape shape, float[] data) = Small();
        var ex = Assert.Throws<ArgumentException>(() => new AttentionFlowEngine().Compute(new AttentionStack(shape, data), 0, 2, 3));
        Assert.That(ex!.Message, Does.Contain("2×3 patch grid plus 1 prefix token(s) does not match 5 tokens"));
    }
}
