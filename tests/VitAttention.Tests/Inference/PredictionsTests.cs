using VitAttention.Inference;
using VitAttention.Models;

namespace VitAttention.Tests.Inference;

/// <summary>Softmax and top-k against the fixture's PyTorch probabilities and a float64 reference.</summary>
public class PredictionsTests
{
    [Test]
    public void Softmax_FixtureLogits_MatchesPyTorchProbabilities()
    {
        using SafeTensorsFile expected = SafeTensorsFile.Open(FixturePaths.Expected("tiny-vit-hf"));
        float[] logits = expected.ReadFloat32("logits");          // [2, 5]
        double[] probabilities = expected.ReadFloat64("probabilities"); // [2, 5]

        for (int b = 0; b < 2; b++)
        {
            float[] p = Predictions.Softmax(logits.AsSpan(b * 5, 5));
            for (int i = 0; i < 5; i++)
            {
                Assert.That(p[i], Is.EqualTo(probabilities[b * 5 + i]).Within(1e-6), $"item {b}, class {i}");
            }
        }
    }

    [Test]
    public void Softmax_RandomLogits_MatchesFloat64Reference()
    {
        var random = new Random(3);
        float[] logits = Enumerable.Range(0, 1000).Select(_ => (float)(random.NextDouble() * 40 - 20)).ToArray();
        double sum = logits.Sum(x => Math.Exp(x));

        float[] p = Predictions.Softmax(logits);

        for (int i = 0; i < logits.Length; i++)
        {
            Assert.That(p[i], Is.EqualTo(Math.Exp(logits[i]) / sum).Within(1e-7 + 1e-6 * p[i]));
        }
    }

    [Test]
    public void Softmax_HugeLogits_DoesNotOverflow()
    {
        float[] p = Predictions.Softmax([1000f, 1001f, -1000f]);

        double e = Math.Exp(-1);
        Assert.That(p[0], Is.EqualTo(e / (1 + e)).Within(1e-7));
        Assert.That(p[1], Is.EqualTo(1 / (1 + e)).Within(1e-7));
        Assert.That(p[2], Is.Zero);
    }

    [Test]
    public void Softmax_InfinityAndNaN_AreHandled()
    {
        Assert.That(Predictions.Softmax([float.PositiveInfinity, 0f, float.PositiveInfinity]), Is.EqualTo(new[] { 0.5f, 0f, 0.5f }));
        Assert.That(Predictions.Softmax([float.NegativeInfinity, float.NegativeInfinity]), Is.EqualTo(new[] { 0.5f, 0.5f }));
        Assert.That(() => Predictions.Softmax([1f, float.NaN]), Throws.ArgumentException.With.Message.Contains("NaN"));
        Assert.That(() => Predictions.Softmax(ReadOnlySpan<float>.Empty), Throws.ArgumentException);
        Assert.That(() => Predictions.Softmax([1f, 2f], new float[3]), Throws.ArgumentException);
    }

    [Test]
    public void TopK_OrdersByProbabilityWithLabels()
    {
        VitConfig config = InferenceTestData.TinyHf();
        float[] logits = [0.5f, 3f, -1f, 3f, 2f];

        IReadOnlyList<Prediction> top = Predictions.TopK(logits, config, k: 3);

        double z = logits.Sum(x => Math.Exp(x));
        Assert.That(top.Select(p => p.Index), Is.EqualTo(new[] { 1, 3, 4 }), "ties keep the lower index first");
        Assert.That(top.Select(p => p.Label), Is.EqualTo(new[] { "coffee mug", "space shuttle", "espresso" }));
        Assert.That(top[0].Probability, Is.EqualTo(Math.Exp(3) / z).Within(1e-6));
        Assert.That(top[2].Probability, Is.EqualTo(Math.Exp(2) / z).Within(1e-6));
    }

    [Test]
    public void TopK_MoreThanClassesOrNoLabels_ReturnsAllWithDefaultNames()
    {
        VitConfig config = InferenceTestData.TinyHf() with { Labels = [] };

        IReadOnlyList<Prediction> top = Predictions.TopK([1f, 2f], config with { NumClasses = 2 }, k: 10);

        Assert.That(top, Has.Count.EqualTo(2));
        Assert.That(top[0], Is.EqualTo(new Prediction(1, "class 1", top[0].Probability)));
        Assert.That(top.Sum(p => p.Probability), Is.EqualTo(1f).Within(1e-6));
        Assert.That(() => Predictions.TopK([1f], config, k: 0), Throws.ArgumentException);
    }
}
