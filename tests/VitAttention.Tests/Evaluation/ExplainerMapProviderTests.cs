using VitAttention.Evaluation;
using VitAttention.Inference;
using VitAttention.Rollout;

namespace VitAttention.Tests.Evaluation;

/// <summary>The provider's method table on the tiny HF fixture: rows read the explanation, a new method is one row.</summary>
[NonParallelizable]
public class ExplainerMapProviderTests
{
    private VitExplainer _explainer = null!;
    private float[] _pixels = null!;

    [OneTimeSetUp]
    public void Load()
    {
        _explainer = VitExplainer.Load(FixturePaths.HfFolder);
        using var image = new ImagePreprocessor(_explainer.Config).Preprocess(FixturePaths.Image("chelsea.png"));
        _pixels = image.Pixels;
    }

    [OneTimeTearDown]
    public void Dispose() => _explainer.Dispose();

    [Test]
    public void Maps_RolloutAndAttention_AreTheExplanationsRolloutAndLastLayerMap()
    {
        var provider = new ExplainerMapProvider(_explainer);
        var maps = provider.Maps(["attention", "rollout"], _pixels, targetClass: 0, CancellationToken.None);
        using var e = _explainer.ExplainPixels(_pixels)[0];
        // The catalogue's attention map sums heads in its own order: the same numbers as the layer map to rounding.
        Assert.That(maps[0], Is.EqualTo(e.Layers[^1].Map.ToArray()).Within(1e-6f));
        Assert.That(maps[1], Is.EqualTo(e.Rollout.ToArray()));
        Assert.That(maps[1], Is.Not.EqualTo(maps[0]), "two different maps, in the order asked");
    }

    [Test]
    public void Maps_ExtraTableRow_ConfiguresTheOptionsAndGetsTheTargetClass()
    {
        int seenClass = -1;
        var discard = new ExplainerMapMethod(
            "rollout-discard-0.5",
            ClassSpecific: true,
            (o, _) => o with { Rollout = o.Rollout with { DiscardRatio = 0.5f } },
            (e, target) =>
            {
                seenClass = target;
                return e.Rollout.ToArray();
            });
        var provider = new ExplainerMapProvider(_explainer, methods: [.. ExplainerMapProvider.Table, discard]);
        Assert.That(provider.Methods, Is.EqualTo(new[] { "rollout", "attention", "gradient-rollout", "transformer-attribution", "gradcam", "attention-gradcam", "flow", "rollout-discard-0.5" }));

        var map = provider.Maps(["rollout-discard-0.5"], _pixels, targetClass: 3, CancellationToken.None)[0];
        using var expected = _explainer.ExplainPixels(_pixels, ExplainOptions.Default with { Rollout = RolloutOptions.Default with { DiscardRatio = 0.5f } })[0];
        using var plain = _explainer.ExplainPixels(_pixels)[0];
        Assert.That(map, Is.EqualTo(expected.Rollout.ToArray()));
        Assert.That(map, Is.Not.EqualTo(plain.Rollout.ToArray()), "the row's options were applied");
        Assert.That(seenClass, Is.EqualTo(3));
    }

    [Test]
    public void Maps_ClassSpecificMethods_AreTheExplanationsMapsForTheEvaluatedClass()
    {
        var provider = new ExplainerMapProvider(_explainer);
        string[] names = ["transformer-attribution", "gradcam", "rollout"];
        var forClass0 = provider.Maps(names, _pixels, targetClass: 0, CancellationToken.None);
        var forClass1 = provider.Maps(names, _pixels, targetClass: 1, CancellationToken.None);

        var asked = ExplainOptions.Default with
        {
            Method = ExplanationMethod.Rollout | ExplanationMethod.TransformerAttribution | ExplanationMethod.GradCam,
            TargetClass = TargetClass.Index(1),
        };
        using var e = _explainer.ExplainPixels(_pixels, asked)[0];
        Assert.That(forClass1[0], Is.EqualTo(e.Map(ExplanationMethod.TransformerAttribution, 1).Map.ToArray()));
        Assert.That(forClass1[1], Is.EqualTo(e.Map(ExplanationMethod.GradCam, 1).Map.ToArray()));
        Assert.That(forClass1[2], Is.EqualTo(e.Rollout.ToArray()));
        Assert.That(forClass0[0], Is.Not.EqualTo(forClass1[0]), "the evaluated class is the gradient's target");
        Assert.That(forClass0[2], Is.EqualTo(forClass1[2]), "rollout does not depend on the class");
    }

    [Test]
    public void Maps_UnknownMethod_ThrowsListingAvailable()
    {
        var provider = new ExplainerMapProvider(_explainer);
        Assert.That(() => provider.Maps(["gradcam-typo"], _pixels, 0, CancellationToken.None),
            Throws.ArgumentException.With.Message.Contains("'gradcam-typo'").And.Message.Contains("rollout, attention"));
    }

    [TestCase("rollout")]
    [TestCase("random")]
    public void Constructor_DuplicateOrReservedName_ThrowsNamingIt(string name)
    {
        var row = new ExplainerMapMethod(name, false, (o, _) => o, (e, _) => e.Rollout.ToArray());
        Assert.That(() => new ExplainerMapProvider(_explainer, methods: [.. ExplainerMapProvider.Table, row]),
            Throws.ArgumentException.With.Message.Contains($"'{name}'"));
    }
}
