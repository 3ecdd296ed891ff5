using VitAttention.Inference;
using VitAttention.Rollout;
using VitAttention.Rollout.Kernels;

namespace VitAttention.Tests.Rollout;

public class RolloutEngineTests
{
    private const double Tolerance = 1e-5;

    private static IEnumerable<SimdWidth> Widths => RolloutKernelFactory.All.Select(k => k.Width);

    // Tokens 1…40 and 64, each with a layer and head count from the required sets, cycled so that every pair occurs.
    private static IEnumerable<TestCaseData> SweepShapes()
    {
        int[] layers = [1, 2, 12, 24];
        int[] heads = [1, 12, 16];
        int[] tokens = [.. Enumerable.Range(1, 40), 64];
        for (int t = 0; t < tokens.Length; t++)
        {
            int l = layers[t % layers.Length], h = heads[t % heads.Length];
            yield return new TestCaseData(tokens[t], l, h).SetName($"RolloutMatrixAndRow_Sweep_MatchFloat64Reference(tokens {tokens[t]}, layers {l}, heads {h})");
        }
    }

    /// <summary>Every combination of fusion, α, discard, layer range, query and prefix that fits the shape.</summary>
    private static IEnumerable<RolloutOptions> Combinations(AttentionShape shape)
    {
        foreach (HeadFusion fusion in Enum.GetValues<HeadFusion>())
        {
            foreach (float alpha in new[] { 0.5f, 1f })
            {
                foreach (float discard in new[] { 0f, 0.75f })
                {
                    foreach (bool range in new[] { false, true })
                    {
                        if (range && shape.Layers < 2)
                        {
                            continue;
                        }

                        foreach (int query in new[] { 0, shape.Tokens - 1 }.Distinct())
                        {
                            foreach (int prefix in shape.Tokens == 1 ? new[] { 0 } : new[] { 1, 2 })
                            {
                                if (prefix >= shape.Tokens)
                                {
                                    continue;
                                }

                                yield return new RolloutOptions
                                {
                                    Fusion = fusion,
                                    ResidualAlpha = alpha,
                                    DiscardRatio = discard,
                                    FirstLayer = range ? 2 : 1,
                                    LastLayer = range ? Math.Max(1, shape.Layers - 2) + 1 : null,
                                    QueryToken = query,
                                    PrefixTokens = prefix,
                                };
                            }
                        }
                    }
                }
            }
        }
    }

    [TestCaseSource(nameof(SweepShapes))]
    public void RolloutMatrixAndRow_Sweep_MatchFloat64Reference(int tokens, int layers, int heads)
    {
        var shape = new AttentionShape(layers, 2, heads, tokens);
        float[] smooth = RandomStacks.Create(shape, seed: tokens * 131 + layers);
        float[] quantized = RandomStacks.Create(shape, seed: tokens * 137 + heads, quantized: true);
        RolloutEngine[] engines = [.. Widths.Select(w => new RolloutEngine(w))];
        var matrix = new float[tokens * tokens];
        var row = new float[tokens];
        int checkedCount = 0;
        foreach (RolloutOptions options in Combinations(shape))
        {
            float[] stack = options.DiscardRatio > 0 ? quantized : smooth;
            int item = checkedCount % 2;
            double[] expectedMatrix = RolloutReference.Matrix(stack, shape, item, options);
            double[] expectedRow = expectedMatrix.AsSpan(options.QueryToken * tokens, tokens).ToArray();
            foreach (RolloutEngine engine in engines)
            {
                engine.RolloutMatrix(stack, shape, item, options, matrix);
                AssertClose(matrix, expectedMatrix, $"matrix {engine.Width} item {item} {options}");
                engine.RolloutRow(stack, shape, item, options, row);
                AssertClose(row, expectedRow, $"row {engine.Width} item {item} {options}");
            }

            checkedCount++;
        }

        Assert.That(checkedCount, Is.GreaterThanOrEqualTo(12));
    }

    private static IEnumerable<TestCaseData> RealShapes()
    {
        RolloutOptions d = RolloutOptions.Default;
        yield return new TestCaseData(197, 12, 12, d).SetName("RolloutMatrix_ViTB16_Mean");
        yield return new TestCaseData(197, 12, 12, d with { Fusion = HeadFusion.Max, DiscardRatio = 0.9f }).SetName("RolloutMatrix_ViTB16_MaxDiscard");
        yield return new TestCaseData(197, 12, 12, d with { Fusion = HeadFusion.Min, FirstLayer = 3, LastLayer = 10, QueryToken = 5 }).SetName("RolloutMatrix_ViTB16_MinRange");
        yield return new TestCaseData(198, 12, 12, d with { PrefixTokens = 2, DiscardRatio = 0.5f, QueryToken = 1 }).SetName("RolloutMatrix_DeiTDistilled_Discard");
        yield return new TestCaseData(577, 2, 16, d with { Fusion = HeadFusion.Max, DiscardRatio = 0.3f }).SetName("RolloutMatrix_577Tokens_MaxDiscard");
        yield return new TestCaseData(64, 24, 16, d with { ResidualAlpha = 0.9f, MaxDegreeOfParallelism = 2 }).SetName("RolloutMatrix_24Layers_Parallel");
        yield return new TestCaseData(197, 12, 12, d with { Fusion = HeadFusion.Min, DiscardRatio = 0.6f, MaxDegreeOfParallelism = 2 }).SetName("RolloutMatrix_ViTB16_ParallelMinDiscard");
    }

    [TestCaseSource(nameof(RealShapes))]
    public void RolloutMatrix_RealShape_MatchesFloat64Reference(int tokens, int layers, int heads, RolloutOptions options)
    {
        var shape = new AttentionShape(layers, 2, heads, tokens);
        float[] stack = RandomStacks.Create(shape, seed: tokens + layers + heads, quantized: options.DiscardRatio > 0);
        var matrix = new float[tokens * tokens];
        var row = new float[tokens];
        for (int item = 0; item < 2; item++)
        {
            double[] expected = RolloutReference.Matrix(stack, shape, item, options);
            foreach (SimdWidth width in Widths)
            {
                var engine = new RolloutEngine(width);
                engine.RolloutMatrix(stack, shape, item, options, matrix);
                AssertClose(matrix, expected, $"{width} item {item}");
                engine.RolloutRow(stack, shape, item, options, row);
                AssertClose(row, expected.AsSpan(options.QueryToken * tokens, tokens).ToArray(), $"row {width} item {item}");
            }
        }
    }

    [TestCase(577, 12, 12, 1)]
    [TestCase(197, 24, 16, 2)]
    [TestCase(198, 12, 12, 2)]
    public void RolloutRow_LargeStack_MatchesFloat64Reference(int tokens, int layers, int heads, int batch)
    {
        var shape = new AttentionShape(layers, batch, heads, tokens);
        float[] stack = RandomStacks.Create(shape, seed: 7 * tokens);
        var row = new float[tokens];
        int item = batch - 1;
        foreach (HeadFusion fusion in tokens > 500 ? [HeadFusion.Mean, HeadFusion.Min] : Enum.GetValues<HeadFusion>())
        {
            var options = RolloutOptions.Default with { Fusion = fusion, QueryToken = tokens / 3 };
            double[] expected = RolloutReference.Row(stack, shape, item, options);
            foreach (SimdWidth width in Widths)
            {
                new RolloutEngine(width).RolloutRow(stack, shape, item, options, row);
                AssertClose(row, expected, $"{width} {fusion}");
            }
        }
    }

    [TestCase(1, 1, 1, 0, null)]
    [TestCase(17, 3, 4, 0, null)]
    [TestCase(17, 3, 4, 5, 2)]
    [TestCase(197, 12, 12, 0, null)]
    [TestCase(198, 12, 12, 1, 11)]
    [TestCase(577, 2, 16, 576, null)]
    public void LayerRow_AnyWidth_MatchesFloat64Reference(int tokens, int layers, int heads, int query, int? head)
    {
        var shape = new AttentionShape(layers, 2, heads, tokens);
        float[] stack = RandomStacks.Create(shape, seed: tokens ^ 0x5a5a);
        var row = new float[tokens];
        foreach (SimdWidth width in Widths)
        {
            var engine = new RolloutEngine(width);
            for (int layer = 0; layer < layers; layer++)
            {
                engine.LayerRow(stack, shape, layer, 1, query, head, row);
                AssertClose(row, RolloutReference.LayerRow(stack, shape, layer, 1, query, head), $"{width} layer {layer}");
            }
        }
    }

    [Test]
    public void RolloutMap_ViTGrid_DropsPrefixRowMajor()
    {
        var shape = new AttentionShape(3, 2, 4, 2 + 12);
        var stack = new AttentionStack(shape, RandomStacks.Create(shape, seed: 99));
        var options = RolloutOptions.Default with { PrefixTokens = 2 };
        AttentionMap map = new RolloutEngine().RolloutMap(stack, 1, 3, 4, options);
        double[] expected = RolloutReference.Row(stack.Data.ToArray(), shape, 1, options);
        Assert.That(map.Height, Is.EqualTo(3));
        Assert.That(map.Width, Is.EqualTo(4));
        Assert.That(map[2, 1], Is.EqualTo(expected[2 + (2 * 4) + 1]).Within(Tolerance));
        AssertClose(map.ToArray(), expected[2..], "map");
    }

    [Test]
    public void LayerMap_OneHead_MatchesReferenceOverGrid()
    {
        var shape = new AttentionShape(2, 1, 3, 1 + 9);
        var stack = new AttentionStack(shape, RandomStacks.Create(shape, seed: 5));
        AttentionMap map = new RolloutEngine().LayerMap(stack, 1, 0, 3, 3, query: 4, head: 2);
        AssertClose(map.ToArray(), RolloutReference.LayerRow(stack.Data.ToArray(), shape, 1, 0, 4, 2)[1..], "map");
    }

    [Test]
    public void RolloutMap_GridDoesNotMatchTokens_ThrowsNamingGrid()
    {
        var shape = new AttentionShape(1, 1, 1, 17);
        var stack = new AttentionStack(shape, RandomStacks.Create(shape, seed: 1));
        var ex = Assert.Throws<ArgumentException>(() => new RolloutEngine().RolloutMap(stack, 0, 4, 5));
        Assert.That(ex!.Message, Does.Contain("4×5").And.Contain("17 tokens"));
    }

    [Test]
    public void AllMethods_AfterWarmUp_AllocateNothing()
    {
        var shape = new AttentionShape(12, 2, 12, 197);
        float[] stack = RandomStacks.Create(shape, seed: 3, quantized: true);
        var engine = new RolloutEngine();
        var matrix = new float[197 * 197];
        var row = new float[197];
        RolloutOptions[] all =
        [
            RolloutOptions.Default,
            RolloutOptions.Default with { Fusion = HeadFusion.Max, DiscardRatio = 0.9f },
            RolloutOptions.Default with { MaxDegreeOfParallelism = 2 },
        ];
        foreach (RolloutOptions options in all)
        {
            engine.RolloutMatrix(stack, shape, 1, options, matrix);
            engine.RolloutRow(stack, shape, 1, options, row);
            engine.LayerRow(stack, shape, 3, 1, 0, null, row);
        }

        foreach (RolloutOptions options in all)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            engine.RolloutMatrix(stack, shape, 1, options, matrix);
            engine.RolloutRow(stack, shape, 1, options, row);
            engine.LayerRow(stack, shape, 3, 1, 0, null, row);
            Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, options.ToString());
        }
    }

    [TestCase(float.NaN, false, "NaN or infinity")]
    [TestCase(float.PositiveInfinity, false, "NaN or infinity")]
    [TestCase(-0.01f, false, "negative value")]
    [TestCase(0.3f, true, "sums to")]
    public void RolloutRow_BadValue_ThrowsNamingLayerHeadRow(float bad, bool add, string expected)
    {
        var shape = new AttentionShape(3, 2, 4, 17);
        float[] stack = RandomStacks.Create(shape, seed: 11);
        long at = shape.OffsetOf(2, 1, 3) + (5 * 17) + 16;
        stack[at] = add ? stack[at] + bad : bad;
        var ex = Assert.Throws<ArgumentException>(() => new RolloutEngine().RolloutRow(stack, shape, 1, RolloutOptions.Default, new float[17]));
        Assert.That(ex!.Message, Does.Contain(expected).And.Contain("layer 2").And.Contain("head 3").And.Contain("row 5"));
        Assert.That(ex.ParamName, Is.EqualTo("stack"));
        Assert.Throws<ArgumentException>(() => new RolloutEngine().RolloutMatrix(stack, shape, 1, RolloutOptions.Default, new float[17 * 17]));
        if (!add)
        {
            // Trusting the row sums skips only that check: the value checks still name the head.
            var softmax = RolloutOptions.Default with { InputsAreSoftmax = true };
            ex = Assert.Throws<ArgumentException>(() => new RolloutEngine().RolloutMatrix(stack, shape, 1, softmax, new float[17 * 17]));
            Assert.That(ex!.Message, Does.Contain(expected).And.Contain("layer 2").And.Contain("head 3").And.Contain("row 5"));
        }
    }

    // Two threads split the layers into two chains and multiply them at the end: a different association of the
    // same product, so close to one thread's result rather than equal; but which thread takes which block never
    // changes a value, so repeated calls agree bit for bit.
    [TestCase(24, 4, 3)]
    [TestCase(64, 24, 16)]
    [TestCase(197, 12, 12)]
    [TestCase(577, 5, 12)]
    public void RolloutMatrix_TwoThreads_MatchReference_AndRepeatBitForBit(int tokens, int layers, int heads)
    {
        var shape = new AttentionShape(layers, 2, heads, tokens);
        float[] stack = RandomStacks.Create(shape, seed: tokens * 7 + layers);
        RolloutOptions[] all =
        [
            RolloutOptions.Default with { MaxDegreeOfParallelism = 2 },
            RolloutOptions.Default with { Fusion = HeadFusion.Max, FirstLayer = 2, ResidualAlpha = 0.8f, MaxDegreeOfParallelism = 2 },
        ];
        foreach (SimdWidth width in Widths)
        {
            var engine = new RolloutEngine(width);
            foreach (RolloutOptions options in all)
            {
                var first = new float[tokens * tokens];
                engine.RolloutMatrix(stack, shape, 1, options, first);
                AssertClose(first, RolloutReference.Matrix(stack, shape, 1, options), $"{width} {options}");
                var again = new float[tokens * tokens];
                for (int repeat = 0; repeat < 10; repeat++)
                {
                    Array.Clear(again);
                    engine.RolloutMatrix(stack, shape, 1, options, again);
                    Assert.That(again, Is.EqualTo(first), $"{width} {options} repeat {repeat}");
                }
            }
        }
    }

    [Test]
    public void RolloutMatrix_BadValueWhileTwoThreadsWork_ThrowsNamingIt_AndEngineStaysUsable()
    {
        var shape = new AttentionShape(12, 1, 12, 197);
        float[] good = RandomStacks.Create(shape, seed: 21);
        float[] bad = (float[])good.Clone();
        bad[shape.OffsetOf(9, 0, 7) + (150 * 197) + 196] = -0.5f;   // the last column: the overlapping last vector's lane
        var options = RolloutOptions.Default with { MaxDegreeOfParallelism = 2 };
        double[] expected = RolloutReference.Matrix(good, shape, 0, options);
        foreach (SimdWidth width in Widths)
        {
            var engine = new RolloutEngine(width);
            var matrix = new float[197 * 197];
            for (int attempt = 0; attempt < 3; attempt++)
            {
                var ex = Assert.Throws<ArgumentException>(() => engine.RolloutMatrix(bad, shape, 0, options, matrix));
                Assert.That(ex!.Message, Does.Contain("negative value (-0.5)").And.Contain("layer 9").And.Contain("head 7").And.Contain("row 150"), width.ToString());
                engine.RolloutMatrix(good, shape, 0, options, matrix);
                AssertClose(matrix, expected, $"{width} after error {attempt}");
            }
        }
    }

    [Test]
    public void AllMethods_NegativeZero_IsAcceptedAsZero()
    {
        // −0 sets the sign bit the fast negative check looks at; it is not a negative value.
        var shape = new AttentionShape(3, 1, 3, 37);
        float[] stack = RandomStacks.Create(shape, seed: 23);
        foreach ((int layer, int head, int row, int column) in new[] { (1, 2, 5, 36), (2, 0, 0, 3), (0, 1, 36, 20) })
        {
            long at = shape.OffsetOf(layer, 0, head) + (row * 37);
            stack[at + (column == 0 ? 1 : 0)] += stack[at + column];   // keep the row's sum
            stack[at + column] = -0f;
        }

        double[] expected = RolloutReference.Matrix(stack, shape, 0, RolloutOptions.Default);
        foreach (SimdWidth width in Widths)
        {
            var engine = new RolloutEngine(width);
            var matrix = new float[37 * 37];
            var row = new float[37];
            engine.RolloutMatrix(stack, shape, 0, RolloutOptions.Default, matrix);
            AssertClose(matrix, expected, width.ToString());
            engine.RolloutRow(stack, shape, 0, RolloutOptions.Default, row);
            AssertClose(row, expected.AsSpan(0, 37).ToArray(), $"row {width}");
            Assert.DoesNotThrow(() => engine.LayerRow(stack, shape, 1, 0, 5, null, row), width.ToString());
        }
    }

    [Test]
    public void RolloutRow_RowSumOffButInputsAreSoftmax_SkipsOnlyRowSumCheck()
    {
        var shape = new AttentionShape(2, 1, 2, 9);
        float[] stack = RandomStacks.Create(shape, seed: 12);
        stack[3] += 0.2f;
        var options = RolloutOptions.Default with { InputsAreSoftmax = true };
        var row = new float[9];
        new RolloutEngine().RolloutRow(stack, shape, 0, options, row);
        AssertClose(row, RolloutReference.Row(stack, shape, 0, options), "row");
        stack[4] = -1f;
        Assert.Throws<ArgumentException>(() => new RolloutEngine().RolloutRow(stack, shape, 0, options, row));
    }

    private static IEnumerable<TestCaseData> BadOptions()
    {
        RolloutOptions d = RolloutOptions.Default;
        yield return new TestCaseData(d with { ResidualAlpha = 1.5f }, "ResidualAlpha");
        yield return new TestCaseData(d with { ResidualAlpha = float.NaN }, "ResidualAlpha");
        yield return new TestCaseData(d with { DiscardRatio = 1f }, "DiscardRatio");
        yield return new TestCaseData(d with { FirstLayer = 4 }, "FirstLayer");
        yield return new TestCaseData(d with { FirstLayer = 0 }, "FirstLayer");
        yield return new TestCaseData(d with { FirstLayer = 3, LastLayer = 2 }, "LastLayer");
        yield return new TestCaseData(d with { QueryToken = 17 }, "QueryToken");
        yield return new TestCaseData(d with { PrefixTokens = 17 }, "PrefixTokens");
        yield return new TestCaseData(d with { MaxDegreeOfParallelism = 0 }, "MaxDegreeOfParallelism");
    }

    [TestCaseSource(nameof(BadOptions))]
    public void RolloutMatrix_OptionOutOfRange_ThrowsNamingOption(RolloutOptions options, string name)
    {
        var shape = new AttentionShape(3, 1, 2, 17);
        float[] stack = RandomStacks.Create(shape, seed: 2);
        var ex = Assert.Throws<ArgumentException>(() => new RolloutEngine().RolloutMatrix(stack, shape, 0, options, new float[17 * 17]));
        Assert.That(ex!.Message, Does.Contain(name));
    }

    [Test]
    public void RolloutRow_WrongLengthsOrItem_ThrowClearly()
    {
        var shape = new AttentionShape(3, 2, 2, 17);
        float[] stack = RandomStacks.Create(shape, seed: 2);
        var engine = new RolloutEngine();
        var ex = Assert.Throws<ArgumentException>(() => engine.RolloutRow(stack.AsSpan(1), shape, 0, RolloutOptions.Default, new float[17]));
        Assert.That(ex!.ParamName, Is.EqualTo("stack"));
        ex = Assert.Throws<ArgumentException>(() => engine.RolloutRow(stack, shape, 0, RolloutOptions.Default, new float[16]));
        Assert.That(ex!.ParamName, Is.EqualTo("destination"));
        ex = Assert.Throws<ArgumentException>(() => engine.RolloutRow(stack, shape, 2, RolloutOptions.Default, new float[17]));
        Assert.That(ex!.ParamName, Is.EqualTo("item"));
        ex = Assert.Throws<ArgumentException>(() => engine.LayerRow(stack, shape, 0, 0, 0, 2, new float[17]));
        Assert.That(ex!.ParamName, Is.EqualTo("head"));
    }

    [Test]
    public unsafe void PrefetchPlan_Line_WalksEachRunThenTheNext_AndEndsInNull()
    {
        // 3 runs of 200 bytes, 1000 bytes apart: 5 lines each (200 bytes span 5 lines when they start late in one).
        byte* start = (byte*)0x10000;
        var plan = new PrefetchPlan(start, 1000, 200, 3);
        Assert.That((long)plan.Line(0), Is.EqualTo((long)start));
        Assert.That((long)plan.Line(4), Is.EqualTo((long)(start + 256)));
        Assert.That((long)plan.Line(5), Is.EqualTo((long)(start + 1000)));
        Assert.That((long)plan.Line(14), Is.EqualTo((long)(start + 2000 + 256)));
        Assert.That((long)plan.Line(15), Is.Zero);
        Assert.That((long)plan.Line(-1), Is.Zero);
        Assert.That((long)default(PrefetchPlan).Line(0), Is.Zero);
    }

    [Test]
    public void Factory_ListsEveryWidthWidestFirst_IncludingScalar()
    {
        Assert.That(RolloutKernelFactory.All.Select(k => k.Width),
            Is.EqualTo(new[] { SimdWidth.Vector512, SimdWidth.Vector256, SimdWidth.Vector128, SimdWidth.Scalar }));
        Assert.That(RolloutKernelFactory.All.Single(k => k.Width == RolloutKernelFactory.Best).IsAccelerated, Is.True);
    }

    internal static void AssertClose(float[] actual, double[] expected, string context) =>
        NumericAssert.Close(actual, expected, Tolerance, context);
}
