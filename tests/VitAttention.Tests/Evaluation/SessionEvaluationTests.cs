using VitAttention.Evaluation;
using VitAttention.Inference;

namespace VitAttention.Tests.Evaluation;

/// <summary>The evaluator over the library's real session and explainer (the tiny HF fixture: 32 × 32, 8 × 8 patches).</summary>
[NonParallelizable]
public class SessionEvaluationTests
{
    private VitExplainer _explainer = null!;

    [OneTimeSetUp]
    public void Load() => _explainer = VitExplainer.Load(FixturePaths.HfFolder);

    [OneTimeTearDown]
    public void Dispose() => _explainer.Dispose();

    private FaithfulnessEvaluator Evaluator(EvaluationOptions options) =>
        new(new SessionLogitsModel(_explainer.Session), new ExplainerMapProvider(_explainer), EvaluationGeometry.FromConfig(_explainer.Config), options);

    private EvaluationImage Image(string file, int? label = null) =>
        EvaluationImage.FromFile(FixturePaths.Image(file), file, new ImagePreprocessor(_explainer.Config), label);

    [Test]
    public void Evaluate_RealModel_EndPointsAreTheExplainersProbabilities()
    {
        var evaluator = Evaluator(EvaluationOptions.Default with { Methods = ["rollout", "attention"], BatchSize = 5 });
        foreach (string file in new[] { "chelsea.png", "coffee.png" })
        {
            var r = evaluator.EvaluateOne(Image(file));
            using var e = _explainer.Explain(FixturePaths.Image(file));
            Assert.That(r.Predicted, Is.EqualTo(e.Predictions[0].Index), file);
            Assert.That(r.Probability, Is.EqualTo(e.Predictions[0].Probability).Within(1e-6), file);
            foreach (var c in r.Curves.Where(c => c.Metric == FaithfulnessMetric.Deletion))
            {
                Assert.That(c.Y[0], Is.EqualTo(r.Probability), $"{file} {c.Method}: deletion starts at the original");
                Assert.That(c.Y, Has.Length.EqualTo(17), "16 patches, one per step");
            }

            foreach (var c in r.Curves.Where(c => c.Metric == FaithfulnessMetric.Insertion))
            {
                Assert.That(c.Y[^1], Is.EqualTo(r.Probability), $"{file} {c.Method}: insertion ends at the original");
            }

            Assert.That(r.Curves.Select(c => c.Method).Distinct(), Is.EqualTo(new[] { "rollout", "attention", "random" }));
        }
    }

    [Test]
    public void Evaluate_RealModel_BatchedPointsMatchSingleForwardOfHandBuiltImages()
    {
        var config = _explainer.Config;
        var evaluator = Evaluator(EvaluationOptions.Default with { Methods = ["rollout"], BatchSize = 4 });
        var r = evaluator.EvaluateOne(Image("chelsea.png"));
        using var e = _explainer.Explain(FixturePaths.Image("chelsea.png"));
        float[] pixels = new ImagePreprocessor(config).Preprocess(FixturePaths.Image("chelsea.png")).Pixels;
        int[] order = [.. e.Rollout.ToArray().Select((v, i) => (v, i)).OrderByDescending(t => t.v).ThenBy(t => t.i).Select(t => t.i)];
        var deletion = r.Curves.Single(c => c.Method == "rollout" && c.Metric == FaithfulnessMetric.Deletion);
        foreach (int k in new[] { 1, 5, 11, 16 })
        {
            // Deletion to zeros after k patches, built here pixel by pixel and run alone through the explainer.
            var copy = (float[])pixels.Clone();
            int size = config.PatchSize, w = config.ImageWidth, plane = config.ImageHeight * w;
            foreach (int patch in order.Take(k))
            {
                for (int c = 0; c < 3; c++)
                {
                    for (int dy = 0; dy < size; dy++)
                    {
                        for (int dx = 0; dx < size; dx++)
                        {
                            copy[(c * plane) + ((patch / config.GridWidth * size) + dy) * w + (patch % config.GridWidth * size) + dx] = 0;
                        }
                    }
                }
            }

            using var alone = _explainer.ExplainPixels(copy)[0];
            Assert.That(deletion.Y[k], Is.EqualTo(alone.Probabilities[r.Predicted]).Within(2e-6), $"deletion after {k} patches");
        }
    }
}
