using VitAttention.Evaluation;

namespace VitAttention.Tests.Evaluation;

/// <summary>
/// The evaluator on <see cref="ToyModel"/>, whose curves are known by construction. 64 pixels, 16 of them important,
/// all in the centre 2 × 2 patches; the upsampled perfect map ranks every important pixel above every other.
/// Perturbation counts are int(64 · f): 6, 12, 19, 25, 32, 38, 44, 51, 57.
/// </summary>
public class FaithfulnessEvaluatorTests
{
    private static (FaithfulnessEvaluator Evaluator, ToyModel Model, ToyMaps Maps) Create(float[] image, EvaluationOptions? options = null)
    {
        var model = new ToyModel(image);
        var maps = new ToyMaps();
        options ??= EvaluationOptions.Default with { Methods = ["perfect", "reversed"] };
        return (new FaithfulnessEvaluator(model, maps, ToyModel.Geometry, options), model, maps);
    }

    private static MetricCurve Curve(ImageEvaluation r, string method, FaithfulnessMetric metric) =>
        r.Curves.Single(c => c.Method == method && c.Metric == metric);

    [Test]
    public void EvaluateOne_PerturbationTests_GiveCurvesKnownByConstruction()
    {
        float[] image = ToyModel.Image(1);
        var (evaluator, _, _) = Create(image);
        var r = evaluator.EvaluateOne(new EvaluationImage("toy", () => image));

        // Positive, perfect map: important pixels go first; 6 removed leaves 10 > 8 (correct), 12 leaves 4 (wrong).
        double[] perfectPositive = [1, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        // Positive, reversed map: the 48 others go first; 51 removes 3 (13 left, correct), 57 removes 9 (7 left, wrong).
        double[] reversedPositive = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0];
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.PositivePerturbation).Y, Is.EqualTo(perfectPositive));
        Assert.That(Curve(r, "reversed", FaithfulnessMetric.PositivePerturbation).Y, Is.EqualTo(reversedPositive));
        // Negative removes the least relevant first: the perfect map behaves as the reversed one did above.
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.NegativePerturbation).Y, Is.EqualTo(reversedPositive));
        Assert.That(Curve(r, "reversed", FaithfulnessMetric.NegativePerturbation).Y, Is.EqualTo(perfectPositive));
        // AUC: 0.1·(1+1)/2 + 0.1·(1+0)/2 = 0.15 → 15; 8·0.1 + 0.05 = 0.85 → 85.
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.PositivePerturbation).Auc, Is.EqualTo(15).Within(1e-9));
        Assert.That(Curve(r, "reversed", FaithfulnessMetric.PositivePerturbation).Auc, Is.EqualTo(85).Within(1e-9));
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.NegativePerturbation).Auc, Is.EqualTo(85).Within(1e-9));
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.PositivePerturbation).X, Is.EqualTo(new[] { 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9 }));
    }

    [Test]
    public void EvaluateOne_DeletionInsertion_GiveCurvesKnownByConstruction()
    {
        float[] image = ToyModel.Image(2);
        var (evaluator, _, _) = Create(image);
        var r = evaluator.EvaluateOne(new EvaluationImage("toy", () => image));

        // One patch per step, 16 patches: x = k/16. Each important patch holds 4 of the 16 important pixels.
        double[] Expected(Func<int, int> intactAfter) => [.. Enumerable.Range(0, 17).Select(k => ToyModel.Probability(intactAfter(k)))];
        double[] perfectDeletion = Expected(k => 4 * Math.Max(0, 4 - k));        // important patches deleted first
        double[] reversedDeletion = Expected(k => 4 * Math.Min(4, 16 - k));      // … last
        double[] perfectInsertion = Expected(k => 4 * Math.Min(4, k));           // inserted first (the blur keeps none)
        double[] reversedInsertion = Expected(k => 4 * Math.Max(0, k - 12));     // inserted last
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.Deletion).Y, Is.EqualTo(perfectDeletion).Within(1e-6));
        Assert.That(Curve(r, "reversed", FaithfulnessMetric.Deletion).Y, Is.EqualTo(reversedDeletion).Within(1e-6));
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.Insertion).Y, Is.EqualTo(perfectInsertion).Within(1e-6));
        Assert.That(Curve(r, "reversed", FaithfulnessMetric.Insertion).Y, Is.EqualTo(reversedInsertion).Within(1e-6));

        // By hand: perfect deletion (1/16)·[(0.95+0.725)/2 + (0.725+0.5)/2 + (0.5+0.275)/2 + (0.275+0.05)/2 + 12·0.05]
        // = 2.6/16 = 0.1625; reversed (1/16)·[12·0.95 + 2.0] = 13.4/16 = 0.8375; insertion mirrors them.
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.Deletion).Auc, Is.EqualTo(0.1625).Within(1e-6));
        Assert.That(Curve(r, "reversed", FaithfulnessMetric.Deletion).Auc, Is.EqualTo(0.8375).Within(1e-6));
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.Insertion).Auc, Is.EqualTo(0.8375).Within(1e-6));
        Assert.That(Curve(r, "reversed", FaithfulnessMetric.Insertion).Auc, Is.EqualTo(0.1625).Within(1e-6));
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.Deletion).X, Is.EqualTo(Enumerable.Range(0, 17).Select(k => k / 16.0)));
    }

    [TestCase("zero", "mean")]
    [TestCase("mean", "zero")]
    [TestCase("blur", "blur")]
    public void EvaluateOne_AnySubstrate_SameCurvesForThisModel(string deletionName, string insertionName)
    {
        var deletion = Enum.Parse<Substrate>(deletionName, ignoreCase: true);
        var insertion = Enum.Parse<Substrate>(insertionName, ignoreCase: true);
        // The toy model only asks whether an important pixel still holds its original value, and no substrate keeps
        // a random image's values, so every substrate gives the curves derived above.
        float[] image = ToyModel.Image(9);
        var (evaluator, _, _) = Create(image, EvaluationOptions.Default with
        {
            Methods = ["perfect"], DeletionSubstrate = deletion, InsertionSubstrate = insertion,
            Metrics = [FaithfulnessMetric.Deletion, FaithfulnessMetric.Insertion],
        });
        var r = evaluator.EvaluateOne(new EvaluationImage("toy", () => image));
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.Deletion).Auc, Is.EqualTo(0.1625).Within(1e-6));
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.Insertion).Auc, Is.EqualTo(0.8375).Within(1e-6));
    }

    [Test]
    public void EvaluateOne_WrongLabel_AccuracyMeasuredAgainstLabel()
    {
        float[] image = ToyModel.Image(3);
        var (evaluator, _, maps) = Create(image);
        var r = evaluator.EvaluateOne(new EvaluationImage("toy", () => image, label: 1));

        // Class 1 is top-1 exactly when the model's class 0 is not: the complement of the predicted-class curve,
        // and 0 at x = 0 since the model predicts 0 on the original. AUC 0.1·(0+1)/2 + 7·0.1 = 0.75 → 75.
        Assert.That(r.Predicted, Is.EqualTo(0));
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.PositivePerturbation).Y, Is.EqualTo(new double[] { 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 }));
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.PositivePerturbation).Auc, Is.EqualTo(75).Within(1e-9));
        // Deletion and insertion follow the predicted class, whatever the label (RISE).
        Assert.That(Curve(r, "perfect", FaithfulnessMetric.Deletion).Auc, Is.EqualTo(0.1625).Within(1e-6));
        // Maps explain the predicted class by default.
        Assert.That(maps.TargetClasses, Is.EqualTo(new[] { 0 }));
    }

    [Test]
    public void EvaluateOne_ExplainLabel_AsksMapsForTheLabel()
    {
        float[] image = ToyModel.Image(4);
        var (evaluator, _, maps) = Create(image, EvaluationOptions.Default with { Methods = ["perfect"], ExplainLabel = true });
        evaluator.EvaluateOne(new EvaluationImage("toy", () => image, label: 1));
        evaluator.EvaluateOne(new EvaluationImage("toy2", () => image));
        Assert.That(maps.TargetClasses, Is.EqualTo(new[] { 1, 0 }));
    }

    [Test]
    public void EvaluateOne_CountsForwardPasses_EndPointsShared()
    {
        float[] image = ToyModel.Image(5);
        var (evaluator, _, _) = Create(image);
        evaluator.EvaluateOne(new EvaluationImage("toy", () => image));
        // The original, then per method (perfect, reversed, random): 9 + 9 perturbations and 15 + 15 inner steps of
        // deletion and insertion; plus the fully deleted (zeros) and fully blurred images, shared by all methods.
        Assert.That(evaluator.Forwards, Is.EqualTo(1 + (3 * (9 + 9 + 15 + 15)) + 2));
    }

    [Test]
    public void EvaluateOne_SameSubstrateForBoth_SharesOneEndPoint()
    {
        float[] image = ToyModel.Image(5);
        var (evaluator, _, _) = Create(image, EvaluationOptions.Default with
        {
            Methods = ["perfect"], DeletionSubstrate = Substrate.Blur, Metrics = [FaithfulnessMetric.Deletion, FaithfulnessMetric.Insertion],
        });
        evaluator.EvaluateOne(new EvaluationImage("toy", () => image));
        Assert.That(evaluator.Forwards, Is.EqualTo(1 + (2 * (15 + 15)) + 1));
    }

    [TestCase(1)]
    [TestCase(7)]
    [TestCase(64)]
    public void EvaluateOne_AnyBatchSize_SameCurvesAndBatchesWithinSize(int batchSize)
    {
        float[] image = ToyModel.Image(6);
        var (reference, _, _) = Create(image);
        var expected = reference.EvaluateOne(new EvaluationImage("toy", () => image));
        var (evaluator, model, _) = Create(image, EvaluationOptions.Default with { Methods = ["perfect", "reversed"], BatchSize = batchSize });
        var actual = evaluator.EvaluateOne(new EvaluationImage("toy", () => image));
        Assert.That(actual.Curves.Select(c => c.Y), Is.EqualTo(expected.Curves.Select(c => c.Y)));
        Assert.That(model.Batches.Max(), Is.LessThanOrEqualTo(batchSize));
    }

    [Test]
    public void EvaluateOne_StepsOption_FourStepsOfFourPatches()
    {
        float[] image = ToyModel.Image(7);
        var (evaluator, _, _) = Create(image, EvaluationOptions.Default with { Methods = ["perfect"], Steps = 4 });
        var r = evaluator.EvaluateOne(new EvaluationImage("toy", () => image));
        var deletion = Curve(r, "perfect", FaithfulnessMetric.Deletion);
        Assert.That(deletion.X, Is.EqualTo(new[] { 0, 0.25, 0.5, 0.75, 1 }));
        // The first step deletes the 4 important patches (all 16 important pixels).
        Assert.That(deletion.Y, Is.EqualTo(new[] { 0.95, 0.05, 0.05, 0.05, 0.05 }).Within(1e-6));
    }

    [Test]
    public void EvaluateOne_RandomBaseline_ReportedLastAndSeeded()
    {
        float[] image = ToyModel.Image(8);
        var (a, _, _) = Create(image);
        var (b, _, _) = Create(image);
        var first = a.EvaluateOne(new EvaluationImage("same-key", () => image));
        var second = b.EvaluateOne(new EvaluationImage("same-key", () => image));
        Assert.That(first.Curves.Select(c => c.Method).Distinct(), Is.EqualTo(new[] { "perfect", "reversed", "random" }));
        var random = first.Curves.Where(c => c.Method == "random").Select(c => c.Y);
        Assert.That(random, Is.EqualTo(second.Curves.Where(c => c.Method == "random").Select(c => c.Y)));
    }

    [Test]
    public void Evaluate_Stream_ReportsProgressAndAggregates()
    {
        var images = Enumerable.Range(0, 4).Select(i => { float[] px = ToyModel.Image(10 + i); return (Key: $"img{i}", Pixels: px); }).ToList();
        // One model instance answers for every image: ToyModel compares with one original, so give all the same pixels.
        float[] shared = images[0].Pixels;
        var (evaluator, _, _) = Create(shared);
        var reports = new List<EvaluationProgress>();
        var progress = new SynchronousProgress<EvaluationProgress>(reports.Add);
        var results = evaluator.Evaluate(images.Select(i => new EvaluationImage(i.Key, () => shared)).ToList(), progress).ToList();
        Assert.That(results.Select(r => r.Key), Is.EqualTo(new[] { "img0", "img1", "img2", "img3" }));
        Assert.That(reports.Select(r => r.Done), Is.EqualTo(new[] { 1, 2, 3, 4 }));
        Assert.That(reports.All(r => r.Total == 4), Is.True);
        Assert.That(reports[^1].Remaining, Is.EqualTo(TimeSpan.Zero));
        var summary = EvaluationSummary.Of(results);
        Assert.That(summary.Images, Is.EqualTo(4));
        Assert.That(summary.Get("perfect", FaithfulnessMetric.PositivePerturbation)!.Auc.Mean, Is.EqualTo(15).Within(1e-9));
        Assert.That(summary.Get("perfect", FaithfulnessMetric.PositivePerturbation)!.Auc.StandardDeviation, Is.EqualTo(0).Within(1e-9));
    }

    [Test]
    public void Evaluate_Cancelled_StopsBeforeTheNextImage()
    {
        float[] image = ToyModel.Image(20);
        var (evaluator, _, _) = Create(image);
        using var cts = new CancellationTokenSource();
        var images = Enumerable.Range(0, 3).Select(i => new EvaluationImage($"k{i}", () => image)).ToList();
        var done = new List<ImageEvaluation>();
        Assert.Throws<OperationCanceledException>(() =>
        {
            foreach (var r in evaluator.Evaluate(images, null, cts.Token))
            {
                done.Add(r);
                cts.Cancel();
            }
        });
        Assert.That(done, Has.Count.EqualTo(1));
    }

    [Test]
    public void Evaluate_DuplicateKeys_ThrowsNamingTheKey()
    {
        float[] image = ToyModel.Image(21);
        var (evaluator, _, _) = Create(image);
        var ex = Assert.Throws<ArgumentException>(() => evaluator.Evaluate([new EvaluationImage("a", () => image), new EvaluationImage("a", () => image)]));
        Assert.That(ex!.Message, Does.Contain("'a'"));
    }

    [Test]
    public void EvaluateOne_UnreadableImageWithContinue_ReportedAsFailed()
    {
        float[] image = ToyModel.Image(22);
        var (evaluator, _, _) = Create(image, EvaluationOptions.Default with { Methods = ["perfect"], ContinueOnImageError = true });
        var r = evaluator.EvaluateOne(new EvaluationImage("broken.png", () => throw new InvalidImageException("broken.png is not an image")));
        Assert.That(r.Error, Does.Contain("not an image"));
        Assert.That(r.Curves, Is.Empty);
        var (strict, _, _) = Create(image);
        Assert.Throws<InvalidImageException>(() => strict.EvaluateOne(new EvaluationImage("broken.png", () => throw new InvalidImageException("x"))));
    }

    [Test]
    public void EvaluateOne_LabelBeyondClasses_ThrowsNamingClasses()
    {
        float[] image = ToyModel.Image(23);
        var (evaluator, _, _) = Create(image);
        var ex = Assert.Throws<ArgumentException>(() => evaluator.EvaluateOne(new EvaluationImage("toy", () => image, label: 2)));
        Assert.That(ex!.Message, Does.Contain("2 classes"));
    }

    [Test]
    public void EvaluateOne_WrongPixelCount_ThrowsNamingTheShape()
    {
        var (evaluator, _, _) = Create(ToyModel.Image(24));
        var ex = Assert.Throws<ArgumentException>(() => evaluator.EvaluateOne(new EvaluationImage("toy", () => new float[63])));
        Assert.That(ex!.Message, Does.Contain("1×8×8"));
    }

    [Test]
    public void EvaluateOne_MapWithNaN_ThrowsNamingMethod()
    {
        float[] image = ToyModel.Image(25);
        var evaluator = new FaithfulnessEvaluator(new ToyModel(image), new BadMaps(), ToyModel.Geometry, EvaluationOptions.Default with { Methods = ["bad"] });
        var ex = Assert.Throws<InvalidOperationException>(() => evaluator.EvaluateOne(new EvaluationImage("toy", () => image)));
        Assert.That(ex!.Message, Does.Contain("'bad'").And.Contain("NaN"));
    }

    [Test]
    public void Constructor_UnknownMethod_ThrowsListingAvailable()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            _ = new FaithfulnessEvaluator(new ToyModel(new float[64]), new ToyMaps(), ToyModel.Geometry, EvaluationOptions.Default with { Methods = ["gradcam"] }));
        Assert.That(ex!.Message, Does.Contain("'gradcam'").And.Contain("perfect, reversed"));
    }

    [Test]
    public void Validate_RandomListedOrZeroBatch_Throws()
    {
        Assert.That(() => (EvaluationOptions.Default with { Methods = ["random"] }).Validate(), Throws.ArgumentException.With.Message.Contains("baseline"));
        Assert.That(() => (EvaluationOptions.Default with { BatchSize = 0 }).Validate(), Throws.ArgumentException.With.Message.Contains("BatchSize"));
        Assert.That(() => (EvaluationOptions.Default with { Steps = 0 }).Validate(), Throws.ArgumentException.With.Message.Contains("Steps"));
    }

    private sealed class BadMaps : IMapProvider
    {
        public IReadOnlyList<string> Methods { get; } = ["bad"];

        public IReadOnlyList<float[]> Maps(IReadOnlyList<string> methods, ReadOnlySpan<float> pixels, int targetClass, CancellationToken cancellationToken) =>
            [[.. Enumerable.Repeat(float.NaN, 16)]];
    }

    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
