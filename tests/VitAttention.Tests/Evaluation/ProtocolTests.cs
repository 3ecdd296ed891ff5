using VitAttention.Evaluation;

namespace VitAttention.Tests.Evaluation;

/// <summary>The protocols' building blocks against float64 references computed as the papers' code computes them.</summary>
public class ProtocolTests
{
    private static IEnumerable<TestCaseData> UpsamplingCases() => ProtocolOracle.UpsamplingCases();

    [TestCaseSource(nameof(UpsamplingCases))]
    public void Bilinear_MinMax_MatchesTorchInterpolateAlignCornersFalse(int index)
    {
        var c = ProtocolOracle.Upsampling(index);
        int gh = c.GetProperty("gridHeight").GetInt32(), gw = c.GetProperty("gridWidth").GetInt32(), patch = c.GetProperty("patch").GetInt32();
        double[] up = MapUpsampling.Bilinear(c.Floats("map"), gh, gw, gh * patch, gw * patch);
        MapUpsampling.MinMax(up);
        double[] expected = c.Doubles("upsampled");
        Assert.That(up, Has.Length.EqualTo(expected.Length));
        double worst = up.Zip(expected, (a, b) => Math.Abs(a - b)).Max();
        Assert.That(worst, Is.LessThan(1e-12), "worst |difference| from torch's float64 interpolate + min-max");
    }

    [TestCaseSource(nameof(UpsamplingCases))]
    public void PixelOrder_PositiveAndNegative_MatchStableArgsortOfReference(int index)
    {
        var c = ProtocolOracle.Upsampling(index);
        int gh = c.GetProperty("gridHeight").GetInt32(), gw = c.GetProperty("gridWidth").GetInt32(), patch = c.GetProperty("patch").GetInt32();
        var geometry = new EvaluationGeometry(3, gh * patch, gw * patch, patch, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f]);
        Assert.That(PerturbationTest.PixelOrder(c.Floats("map"), geometry, positive: true), Is.EqualTo(c.Ints("positive")));
        Assert.That(PerturbationTest.PixelOrder(c.Floats("map"), geometry, positive: false), Is.EqualTo(c.Ints("negative")));
    }

    [TestCaseSource(nameof(UpsamplingCases))]
    public void PixelsAt_EveryFraction_MatchesPythonIntOfProduct(int index)
    {
        var c = ProtocolOracle.Upsampling(index);
        int pixels = c.GetProperty("gridHeight").GetInt32() * c.GetProperty("gridWidth").GetInt32() * (int)Math.Pow(c.GetProperty("patch").GetInt32(), 2);
        Assert.That(PerturbationTest.Fractions.Select(f => PerturbationTest.PixelsAt(pixels, f)), Is.EqualTo(c.Ints("counts")));
    }

    [TestCaseSource(nameof(UpsamplingCases))]
    public void PatchOrder_Map_MatchesStableDescendingArgsort(int index)
    {
        var c = ProtocolOracle.Upsampling(index);
        Assert.That(DeletionInsertion.PatchOrder(c.Floats("map")), Is.EqualTo(c.Ints("patchOrder")));
    }

    [Test]
    public void PixelsAt_ViTB16_MatchesChefersCounts()
    {
        // int(224 * 224 * f) in Python: 5017, 10035, 15052, 20070, 25088, 30105, 35123, 40140, 45158.
        Assert.That(PerturbationTest.Fractions.Select(f => PerturbationTest.PixelsAt(224 * 224, f)),
            Is.EqualTo(new[] { 5017, 10035, 15052, 20070, 25088, 30105, 35123, 40140, 45158 }));
    }

    [Test]
    public void MinMax_ConstantMap_GivesZerosAndIndexOrder()
    {
        double[] flat = [3, 3, 3, 3];
        MapUpsampling.MinMax(flat);
        Assert.That(flat, Is.All.EqualTo(0.0));
        Assert.That(Ranking.Descending(flat), Is.EqualTo(new[] { 0, 1, 2, 3 }));
        Assert.That(Ranking.Ascending(flat), Is.EqualTo(new[] { 0, 1, 2, 3 }));
    }

    [Test]
    public void MinMax_NaN_ThrowsNamingTheProblem()
    {
        var ex = Assert.Throws<ArgumentException>(() => MapUpsampling.MinMax(new[] { 1.0, double.NaN }));
        Assert.That(ex!.Message, Does.Contain("non-finite"));
    }

    [Test]
    public void BlurKernel_OneAxis_MatchesScipyGaussianFilterOfDelta()
    {
        double[] expected = ProtocolOracle.Root.GetProperty("blur").Doubles("kernel1d");
        Assert.That(Substrates.BlurKernel.ToArray(), Is.EqualTo(expected).Within(1e-15));
        Assert.That(Substrates.BlurKernel.ToArray().Sum(), Is.EqualTo(1.0).Within(1e-14));
        // The 2-D kernel RISE builds is the outer product of this axis with itself.
        double[] k2 = ProtocolOracle.Root.GetProperty("blur").Doubles("kernel2d");
        var k = Substrates.BlurKernel.ToArray();
        for (int i = 0; i < 11; i++)
        {
            for (int j = 0; j < 11; j++)
            {
                Assert.That(k[i] * k[j], Is.EqualTo(k2[(i * 11) + j]).Within(1e-16), $"kernel[{i},{j}]");
            }
        }
    }

    [Test]
    public void Fill_Blur_MatchesRiseConv2dWithZeroPadding()
    {
        var blur = ProtocolOracle.Root.GetProperty("blur");
        var geometry = new EvaluationGeometry(3, 20, 24, 4, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f]);
        float[] image = blur.Floats("image");
        var actual = new float[image.Length];
        Substrates.Fill(Substrate.Blur, image, geometry, actual);
        NumericAssert.Close(actual, blur.Doubles("blurred"), 2e-6, "blurred image");
    }

    [Test]
    public void Fill_MeanAndZero_GivePerChannelMeanAndZeros()
    {
        var geometry = new EvaluationGeometry(2, 4, 4, 2, [0.1f, 0.2f], [0.3f, 0.4f]);
        var rng = new Random(7);
        float[] image = [.. Enumerable.Range(0, geometry.InputLength).Select(_ => (float)rng.NextDouble())];
        var mean = new float[image.Length];
        Substrates.Fill(Substrate.Mean, image, geometry, mean);
        for (int c = 0; c < 2; c++)
        {
            double expected = image.Skip(c * 16).Take(16).Select(v => (double)v).Average();
            Assert.That(mean.Skip(c * 16).Take(16), Is.All.EqualTo((float)expected).Within(1e-7f), $"channel {c}");
        }

        var zero = Enumerable.Repeat(9f, image.Length).ToArray();
        Substrates.Fill(Substrate.Zero, image, geometry, zero);
        Assert.That(zero, Is.All.EqualTo(0f));
    }

    private static IEnumerable<TestCaseData> AucCases() =>
        ProtocolOracle.Root.GetProperty("auc").EnumerateArray().Select((c, i) => new TestCaseData(i).SetArgDisplayNames($"case {i}"));

    [TestCaseSource(nameof(AucCases))]
    public void Trapezoid_RandomCurves_MatchesNumpyTrapzAndRiseAuc(int index)
    {
        var c = ProtocolOracle.Root.GetProperty("auc")[index];
        double[] x = c.Doubles("x"), y = c.Doubles("y");
        Assert.That(AreaUnderCurve.Trapezoid(x, y), Is.EqualTo(c.GetProperty("trapz").GetDouble()).Within(1e-14));
        if (c.TryGetProperty("chefer", out var chefer))
        {
            Assert.That(PerturbationTest.Auc(y), Is.EqualTo(chefer.GetDouble()).Within(1e-12));
        }

        if (c.TryGetProperty("rise", out var rise))
        {
            Assert.That(AreaUnderCurve.Trapezoid(x, y), Is.EqualTo(rise.GetDouble()).Within(1e-14));
        }
    }

    [Test]
    public void Auc_HandComputedCurves_GiveHandComputedAreas()
    {
        // x = 0, 0.1, …, 0.9: correct at 0 and 0.1 only: 0.1 · (1 + 1)/2 + 0.1 · (1 + 0)/2 = 0.15 → 15.
        Assert.That(PerturbationTest.Auc([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]), Is.EqualTo(15).Within(1e-12));
        // Always correct: 0.9 · 100 = 90, the largest a perturbation AUC can be.
        Assert.That(PerturbationTest.Auc([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]), Is.EqualTo(90).Within(1e-12));
        // Straight line from 1 to 0 over [0, 1]: 0.5.
        Assert.That(AreaUnderCurve.Trapezoid([0, 0.25, 0.5, 0.75, 1], [1, 0.75, 0.5, 0.25, 0]), Is.EqualTo(0.5).Within(1e-15));
    }

    [Test]
    public void Auc_WrongLength_ThrowsNamingThePoints()
    {
        var ex = Assert.Throws<ArgumentException>(() => PerturbationTest.Auc([1, 0]));
        Assert.That(ex!.Message, Does.Contain("10 points"));
        Assert.Throws<ArgumentException>(() => AreaUnderCurve.Trapezoid([0], [1]));
    }

    [Test]
    public void Counts_StepThatDoesNotDivide_EndsWithShorterStep()
    {
        Assert.That(DeletionInsertion.Counts(196, 20), Is.EqualTo(new[] { 0, 20, 40, 60, 80, 100, 120, 140, 160, 180, 196 }));
        Assert.That(DeletionInsertion.Counts(4, 1), Is.EqualTo(new[] { 0, 1, 2, 3, 4 }));
        Assert.That(DeletionInsertion.X(DeletionInsertion.Counts(4, 1), 4), Is.EqualTo(new[] { 0, 0.25, 0.5, 0.75, 1 }));
        Assert.That(DeletionInsertion.Counts(5, 9), Is.EqualTo(new[] { 0, 5 }));
    }

    [Test]
    public void Apply_Perturbation_BlacksOutExactlyTheFirstPixelsInEveryChannel()
    {
        var geometry = new EvaluationGeometry(3, 4, 4, 2, [0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]);
        var rng = new Random(11);
        float[] image = [.. Enumerable.Range(0, geometry.InputLength).Select(_ => (float)rng.NextDouble())];
        int[] order = [.. Enumerable.Range(0, 16).OrderBy(_ => rng.Next())];
        var dst = new float[image.Length];
        PerturbationTest.Apply(image, order, 5, geometry, dst);
        var removed = order.Take(5).ToHashSet();
        for (int c = 0; c < 3; c++)
        {
            // Black in [0, 1] space is (0 − mean) / std after normalisation.
            float black = (0f - geometry.Mean[c]) / geometry.Std[c];
            for (int p = 0; p < 16; p++)
            {
                float expected = removed.Contains(p) ? black : image[(c * 16) + p];
                Assert.That(dst[(c * 16) + p], Is.EqualTo(expected), $"channel {c} pixel {p}");
            }
        }
    }

    [Test]
    public void Apply_DeletionInsertion_TakesWholePatchesFromFinish()
    {
        var geometry = new EvaluationGeometry(2, 4, 6, 2, [0.5f, 0.5f], [0.5f, 0.5f]); // 2×3 patches
        float[] start = [.. Enumerable.Range(0, geometry.InputLength).Select(i => (float)i)];
        float[] finish = [.. start.Select(v => -v - 1)];
        var dst = new float[start.Length];
        DeletionInsertion.Apply(start, finish, [4, 0, 1, 2, 3, 5], 2, geometry, dst);
        for (int c = 0; c < 2; c++)
        {
            for (int y = 0; y < 4; y++)
            {
                for (int x = 0; x < 6; x++)
                {
                    int patch = (y / 2 * 3) + (x / 2), i = (c * 24) + (y * 6) + x;
                    bool fromFinish = patch is 4 or 0;
                    Assert.That(dst[i], Is.EqualTo(fromFinish ? finish[i] : start[i]), $"channel {c} ({y},{x})");
                }
            }
        }
    }

    [Test]
    public void Apply_WrongImageLength_ThrowsNamingTheShape()
    {
        var geometry = new EvaluationGeometry(3, 4, 4, 2, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f]);
        var ex = Assert.Throws<ArgumentException>(() => PerturbationTest.Apply(new float[47], new int[16], 1, geometry, new float[48]));
        Assert.That(ex!.Message, Does.Contain("3×4×4").And.Contain("48"));
    }

    [Test]
    public void Geometry_NotWholePatches_ThrowsWithFix()
    {
        var ex = Assert.Throws<ArgumentException>(() => _ = new EvaluationGeometry(3, 225, 224, 16, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f]));
        Assert.That(ex!.Message, Does.Contain("whole number of 16×16 patches"));
    }
}
