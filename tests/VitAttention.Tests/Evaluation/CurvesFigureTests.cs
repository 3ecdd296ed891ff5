using SkiaSharp;
using VitAttention.Evaluation;
using VitAttention.Rendering;

namespace VitAttention.Tests.Evaluation;

public class CurvesFigureTests
{
    private static EvaluationSummary Summary()
    {
        static ImageEvaluation One(string key, double d) => new(key, null, 0, 0.9, [
            new MetricCurve("rollout", FaithfulnessMetric.PositivePerturbation, [.. PerturbationTest.X], [1, 1, 1, 0, 0, 0, 0, 0, 0, 0], 25),
            new MetricCurve("rollout", FaithfulnessMetric.Insertion, [0, 0.25, 0.5, 0.75, 1], [0.1, 0.6 + d, 0.8, 0.85, 0.9], 0.6),
            new MetricCurve("random", FaithfulnessMetric.PositivePerturbation, [.. PerturbationTest.X], [1, 1, 1, 1, 1, 1, 1, 0, 0, 0], 65),
            new MetricCurve("random", FaithfulnessMetric.Insertion, [0, 0.25, 0.5, 0.75, 1], [0.1, 0.2, 0.4 + d, 0.6, 0.9], 0.4),
        ]);
        return EvaluationSummary.Of([One("a", 0), One("b", 0.1)]);
    }

    private static int Count(SKBitmap bitmap, SKColor colour) =>
        bitmap.Pixels.Count(p => Math.Abs(p.Red - colour.Red) < 8 && Math.Abs(p.Green - colour.Green) < 8 && Math.Abs(p.Blue - colour.Blue) < 8);

    [Test]
    public void Draw_TwoMetricsTwoMethods_PanelsWithLinesInTheirColours()
    {
        using var image = CurvesFigure.Draw(Summary());
        using var bitmap = SKBitmap.FromImage(image);
        // Two panels side by side (rows of at most two), each wider than the 360-pixel plot.
        Assert.That(bitmap.Width, Is.GreaterThan(2 * 360));
        Assert.That(Count(bitmap, new SKColor(0x1f, 0x77, 0xb4)), Is.GreaterThan(300), "rollout's blue line");
        Assert.That(Count(bitmap, new SKColor(0x7f, 0x7f, 0x7f)), Is.GreaterThan(100), "random's grey dashed line");
        Assert.That(Figures.EncodePng(image), Is.Not.Empty);
    }

    [Test]
    public void Draw_EmptySummary_ThrowsWithFix()
    {
        var ex = Assert.Throws<ArgumentException>(() => CurvesFigure.Draw(new EvaluationSummary()));
        Assert.That(ex!.Message, Does.Contain("evaluate at least one image"));
    }
}
