using System.Text.Json;
using SkiaSharp;
using VitAttention.Analysis.Methods;
using VitAttention.Inference;
using VitAttention.Loading;
using VitAttention.Models;

namespace VitAttention.Tests.Gradients;

/// <summary>
/// The class-specific methods through the front door: <see cref="ExplainOptions.Method"/> and
/// <see cref="ExplainOptions.TargetClass"/> on <see cref="VitExplainer"/>, checked against the float64 autograd
/// oracle's maps (make_gradient_fixtures.py: item 0 explains its top class, item 1 its least likely one) on the HF,
/// timm, DeiT-distilled (two prefix tokens) and mean-pooled (no class token) fixtures, plus the options' validation,
/// the JSON and the figures.
/// </summary>
public sealed class ExplainMethodsTests
{
    private const double Relative = 1e-4;

    private const ExplanationMethod Every =
        ExplanationMethod.Rollout | ExplanationMethod.Attention | ExplanationMethod.GradientRollout |
        ExplanationMethod.TransformerAttribution | ExplanationMethod.GradCam | ExplanationMethod.AttentionGradCam;

    /// <summary>Each method and the oracle's map of it.</summary>
    private static readonly (ExplanationMethod Method, string Oracle)[] OracleMaps =
    [
        (ExplanationMethod.Attention, "attention"),
        (ExplanationMethod.GradientRollout, "gradient_rollout"),
        (ExplanationMethod.TransformerAttribution, "transformer_attribution"),
        (ExplanationMethod.GradCam, "gradcam"),
        (ExplanationMethod.AttentionGradCam, "attention_gradcam"),
    ];

    public static IEnumerable<TestCaseData> Fixtures() =>
        new[] { "tiny-vit-hf", "tiny-vit-timm", "tiny-deit-distilled", "tiny-vit-gap" }
            .Select(f => new TestCaseData(f).SetName($"ExplainPixels_TwoClasses_{f.Replace("tiny-", string.Empty, StringComparison.Ordinal)}MatchesOracleAndClassesDiffer"));

    private static SafeTensorsFile Oracle(string fixture) =>
        SafeTensorsFile.Open(Path.Combine(FixturePaths.Folder(fixture), "expected_gradients.safetensors"));

    private static VitExplainer Explainer(string fixture) => new(CheckpointLoader.Prepare(FixturePaths.Folder(fixture)));

    private static void AssertMatchesOracle(ReadOnlySpan<float> map, double[] oracle, int item, string what)
    {
        int patches = oracle.Length / 2;
        double[] want = oracle[(item * patches)..((item + 1) * patches)];
        if (want.All(v => v == 0))
        {
            // The last layer's patch rows do not reach a class-token classifier: that gradient, and this map, is 0.
            Assert.That(map.ToArray(), Is.All.EqualTo(0f), what);
            return;
        }

        double error = GradientFixtureTests.RelativeError(map, want);
        Assert.That(error, Is.LessThanOrEqualTo(Relative), $"{what}: max |difference| / max |oracle| = {error:E2}");
    }

    [TestCaseSource(nameof(Fixtures))]
    public void ExplainPixels_TwoClasses_MatchOracleAndDiffer(string fixture)
    {
        using var oracle = Oracle(fixture);
        (float[] pixels, int[] targets) = GradientFixtureTests.Inputs(oracle);
        using var explainer = Explainer(fixture);
        int classes = explainer.Config.NumClasses;
        int[] asked = targets[0] != targets[1] ? [targets[0], targets[1]] : [targets[0], (targets[0] + 1) % classes];
        var options = ExplainOptions.Default with { Method = Every, TargetClass = TargetClass.Index(asked) };

        var explanations = explainer.ExplainPixels(pixels, options);
        try
        {
            Assert.That(explainer.HasGradientSession, Is.True);
            for (int item = 0; item < 2; item++)
            {
                Explanation e = explanations[item];
                Assert.That(e.TargetClasses, Is.EqualTo(asked));
                Assert.That(e.Maps.Select(m => (m.Method, m.ClassIndex)), Is.EqualTo(new (ExplanationMethod, int?)[]
                {
                    (ExplanationMethod.Rollout, null), (ExplanationMethod.Attention, null),
                    (ExplanationMethod.GradientRollout, asked[0]), (ExplanationMethod.GradientRollout, asked[1]),
                    (ExplanationMethod.TransformerAttribution, asked[0]), (ExplanationMethod.TransformerAttribution, asked[1]),
                    (ExplanationMethod.GradCam, asked[0]), (ExplanationMethod.GradCam, asked[1]),
                    (ExplanationMethod.AttentionGradCam, asked[0]), (ExplanationMethod.AttentionGradCam, asked[1]),
                }));
                Assert.That(e.Map(ExplanationMethod.Rollout).Map.Values.ToArray(), Is.EqualTo(e.Rollout.Values.ToArray()));
                foreach (var (method, key) in OracleMaps)
                {
                    AssertMatchesOracle(e.Map(method, targets[item]).Map.Values, oracle.ReadFloat64("map." + key), item, $"item {item}, {method}");
                }

                foreach (var method in new[] { ExplanationMethod.GradientRollout, ExplanationMethod.TransformerAttribution })
                {
                    float[] a = e.Map(method, asked[0]).Map.ToArray(), b = e.Map(method, asked[1]).Map.ToArray();
                    double difference = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
                    Assert.That(difference, Is.GreaterThan(1e-3 * Math.Max(a.Max(), b.Max())), $"item {item}, {method}: the two classes' maps differ");
                    Assert.That(e.Map(method, asked[1]).ClassLabel, Is.EqualTo(explainer.Config.LabelOf(asked[1])));
                }
            }
        }
        finally
        {
            foreach (var e in explanations)
            {
                e.Dispose();
            }
        }
    }

    [Test]
    public void ExplainPixels_TopClassDiscardAndStartLayer_MatchOracle()
    {
        const string Fixture = "tiny-vit-hf";
        using var oracle = Oracle(Fixture);
        (float[] pixels, int[] targets) = GradientFixtureTests.Inputs(oracle);
        using var explainer = Explainer(Fixture);
        var options = ExplainOptions.Default with
        {
            Method = ExplanationMethod.GradientRollout | ExplanationMethod.TransformerAttribution,
            Rollout = VitAttention.Rollout.RolloutOptions.Default with { DiscardRatio = 0.9f, FirstLayer = 2 },
        };

        using var e = explainer.ExplainPixels(pixels, options)[0];

        Assert.That(e.TargetClasses, Is.EqualTo(new[] { targets[0] }), "item 0's oracle target is its top class");
        Assert.That(e.Predictions[0].Index, Is.EqualTo(targets[0]));
        Assert.That(e.Maps.Select(m => m.Method), Is.EqualTo(new[] { ExplanationMethod.GradientRollout, ExplanationMethod.TransformerAttribution }));
        AssertMatchesOracle(e.Map(ExplanationMethod.GradientRollout).Map.Values, oracle.ReadFloat64("map.gradient_rollout_discard90"), 0, "discard 0.9");
        AssertMatchesOracle(e.Map(ExplanationMethod.TransformerAttribution).Map.Values, oracle.ReadFloat64("map.transformer_attribution_start1"), 0, "from layer 2");
    }

    [Test]
    public void Explain_TopTwo_SecondClassIsTheSecondPrediction()
    {
        using var explainer = Explainer("tiny-vit-timm");
        using var e = explainer.Explain(FixturePaths.Image("chelsea.png"),
            ExplainOptions.Default with { Method = ExplanationMethod.AttentionGradCam, TargetClass = TargetClass.Top(2) });

        Assert.That(e.TargetClasses, Is.EqualTo(e.Predictions.Take(2).Select(p => p.Index)));
        Assert.That(e.Map(ExplanationMethod.AttentionGradCam).ClassIndex, Is.EqualTo(e.Predictions[0].Index), "no class: the first target");
    }

    [Test]
    public void Explain_QueryTokenOfDistillationModel_ReadsThatTokensRows()
    {
        const string Fixture = "tiny-deit-distilled";
        using var oracle = Oracle(Fixture);
        (float[] pixels, int[] targets) = GradientFixtureTests.Inputs(oracle);
        PreparedModel model = CheckpointLoader.Prepare(FixturePaths.Folder(Fixture));
        using var explainer = new VitExplainer(model);
        var options = ExplainOptions.Default with
        {
            Method = ExplanationMethod.TransformerAttribution,
            TargetClass = TargetClass.Index(targets[0]),
            Rollout = VitAttention.Rollout.RolloutOptions.Default with { QueryToken = 1 },
        };

        using var e = explainer.ExplainPixels(pixels, options)[0];

        using var session = new GradientSession(model);
        GradientOutput run = session.Run(pixels, 2, [targets[0], targets[0]]);
        float[] distillation = ExplanationMethods.TransformerAttribution(run.Attentions, run.AttentionGradients, 0, 2, QueryRows.Token(1));
        float[] cls = ExplanationMethods.TransformerAttribution(run.Attentions, run.AttentionGradients, 0, 2, QueryRows.Token(0));
        Assert.That(e.Map(ExplanationMethod.TransformerAttribution).Map.ToArray(), Is.EqualTo(distillation).Within(1e-6));
        Assert.That(distillation.Zip(cls, (a, b) => Math.Abs(a - b)).Max(), Is.GreaterThan(1e-4), "the two tokens' maps differ, so the check discriminates");
    }

    [Test]
    public void Explain_Flow_IsTheAttentionFlowOfTheImagesOwnStackAndNeedsNoGradients()
    {
        using var explainer = Explainer("tiny-vit-hf");
        var options = ExplainOptions.Default with { Method = ExplanationMethod.Rollout | ExplanationMethod.Flow, KeepAttentions = true };
        using var e = explainer.Explain(FixturePaths.Image("chelsea.png"), options);

        float[] expected = FlowMethod.Flow(e.RequireAttentions(), 0, prefix: 1, QueryRows.Token(0));
        float[] flow = e.Map(ExplanationMethod.Flow).Map.ToArray();
        Assert.That(flow, Is.EqualTo(expected));
        Assert.That(flow, Is.Not.EqualTo(e.Rollout.ToArray()), "flow is its own map, not the rollout's");
        Assert.That(flow.Sum(), Is.GreaterThan(0f).And.LessThanOrEqualTo(1.0001f), "a share of the total flow");
        Assert.That(e.Map(ExplanationMethod.Flow).ClassIndex, Is.Null, "class-agnostic");
        Assert.That(explainer.HasGradientSession, Is.False, "flow needs no gradient graph");
        using var doc = JsonDocument.Parse(e.ToJson());
        Assert.That(doc.RootElement.GetProperty("methods").GetProperty("flow").GetProperty("map").GetArrayLength(), Is.EqualTo(flow.Length));
    }

    [Test]
    public void Explain_DefaultOptions_RolloutOnlyAndNoGradientGraph()
    {
        using var explainer = Explainer("tiny-vit-hf");
        using var e = explainer.Explain(FixturePaths.Image("chelsea.png"));

        Assert.That(e.Maps.Select(m => m.Name), Is.EqualTo(new[] { "rollout" }));
        Assert.That(e.Maps[0].ClassIndex, Is.Null);
        Assert.That(e.Maps[0].Map.ToArray(), Is.EqualTo(e.Rollout.ToArray()));
        Assert.That(e.TargetClasses, Is.Empty);
        Assert.That(explainer.HasGradientSession, Is.False, "no class-specific method asked: no gradient graph built");
        using var doc = JsonDocument.Parse(e.ToJson());
        var methods = doc.RootElement.GetProperty("methods");
        Assert.That(methods.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "rollout" }));
        Assert.That(methods.GetProperty("rollout").GetProperty("class").ValueKind, Is.EqualTo(JsonValueKind.Null));
    }

    [TestCase(0)]
    [TestCase(128)]
    [TestCase(129)]
    public void Explain_MethodNotAFlagCombination_ThrowsNamingMethod(int method)
    {
        using var explainer = Explainer("tiny-vit-hf");
        var e = Assert.Throws<ArgumentException>(() => explainer.Explain(FixturePaths.Image("chelsea.png"),
            ExplainOptions.Default with { Method = (ExplanationMethod)method }))!;
        Assert.That(e.ParamName, Is.EqualTo("Method"));
        Assert.That(e.Message, Does.Contain("transformer-attribution"));
    }

    [Test]
    public void TargetClass_BadArguments_Throw()
    {
        Assert.That(() => TargetClass.Top(0), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("1 to 16"));
        Assert.That(() => TargetClass.Top(TargetClass.MaxClasses + 1), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => TargetClass.Index(), Throws.ArgumentException.With.Message.Contains("Give 1 to 16"));
        Assert.That(() => TargetClass.Index(-1), Throws.ArgumentException.With.Message.Contains("negative"));
        Assert.That(() => TargetClass.Index(2, 2), Throws.ArgumentException.With.Message.Contains("twice"));
        Assert.That(() => TargetClass.Label(" "), Throws.ArgumentException.With.Message.Contains("empty"));
        Assert.That(TargetClass.Top(2).ToString(), Is.EqualTo("top 2"));
        Assert.That(TargetClass.Index(3, 1), Is.EqualTo(TargetClass.Index(3, 1)));
        Assert.That(TargetClass.Index(3, 1), Is.Not.EqualTo(TargetClass.Index(1, 3)));
    }

    [Test]
    public void Explain_ClassIndexOutOfRange_ThrowsListingTheLabels()
    {
        using var explainer = Explainer("tiny-vit-hf");
        var e = Assert.Throws<ArgumentException>(() => explainer.Explain(FixturePaths.Image("chelsea.png"),
            ExplainOptions.Default with { Method = ExplanationMethod.GradCam, TargetClass = TargetClass.Index(5) }))!;
        Assert.That(e.ParamName, Is.EqualTo("TargetClass"));
        Assert.That(e.Message, Does.Contain("Target class 5").And.Contain("0..4").And.Contain("0 tabby cat").And.Contain("4 espresso"));
        Assert.That(explainer.HasGradientSession, Is.False, "the options are checked before any graph is built");
    }

    [Test]
    public void Explain_UnknownLabel_ThrowsListingTheLabels()
    {
        using var explainer = Explainer("tiny-vit-hf");
        var e = Assert.Throws<ArgumentException>(() => explainer.Explain(FixturePaths.Image("chelsea.png"),
            ExplainOptions.Default with { Method = ExplanationMethod.GradCam, TargetClass = TargetClass.Label("zebra") }))!;
        Assert.That(e.Message, Does.Contain("'zebra'").And.Contain("valid labels").And.Contain("2 golden retriever"));
    }

    [Test]
    public void Explain_TopMoreThanClasses_Throws()
    {
        using var explainer = Explainer("tiny-vit-hf");
        Assert.That(() => explainer.Explain(FixturePaths.Image("chelsea.png"),
                ExplainOptions.Default with { Method = ExplanationMethod.GradCam, TargetClass = TargetClass.Top(6) }),
            Throws.ArgumentException.With.Message.Contains("more classes than the model's 5"));
    }

    [Test]
    public void Explain_LabelIgnoringCase_TargetsThatClass()
    {
        using var explainer = Explainer("tiny-vit-hf");
        using var e = explainer.Explain(FixturePaths.Image("chelsea.png"),
            ExplainOptions.Default with { Method = ExplanationMethod.TransformerAttribution, TargetClass = TargetClass.Label("Space Shuttle", "tabby cat") });
        Assert.That(e.TargetClasses, Is.EqualTo(new[] { 3, 0 }));
        Assert.That(e.Map(ExplanationMethod.TransformerAttribution, 3).ClassLabel, Is.EqualTo("space shuttle"));
    }

    [Test]
    public void Explain_GradientMethodWithoutClassifier_ThrowsNamingMethod()
    {
        using var explainer = new VitExplainer(CheckpointLoader.Prepare(Path.Combine(FixturePaths.Root, "families", "timm-dinov2")));
        var e = Assert.Throws<ArgumentException>(() => explainer.Explain(FixturePaths.Image("chelsea.png"),
            ExplainOptions.Default with { Method = ExplanationMethod.Rollout | ExplanationMethod.GradientRollout }))!;
        Assert.That(e.ParamName, Is.EqualTo("Method"));
        Assert.That(e.Message, Does.Contain("no classifier").And.Contain("gradient-rollout"));

        using var attention = explainer.Explain(FixturePaths.Image("chelsea.png"), ExplainOptions.Default with { Method = ExplanationMethod.Attention });
        Assert.That(attention.Map(ExplanationMethod.Attention).Map.ToArray(), Is.EqualTo(attention.LayerMap(explainer.Config.NumLayers).ToArray()).Within(1e-6),
            "the class-agnostic attention map is the last layer's map");
    }

    [Test]
    public void Map_MethodOrClassNotAsked_ThrowsListingWhatIsThere()
    {
        using var explainer = Explainer("tiny-vit-hf");
        using var e = explainer.Explain(FixturePaths.Image("chelsea.png"),
            ExplainOptions.Default with { Method = ExplanationMethod.Rollout | ExplanationMethod.TransformerAttribution, TargetClass = TargetClass.Index(1) });
        Assert.That(() => e.Map(ExplanationMethod.GradCam), Throws.ArgumentException.With.Message.Contains("holds rollout, transformer-attribution"));
        Assert.That(() => e.Map(ExplanationMethod.TransformerAttribution, 2), Throws.ArgumentException.With.Message.Contains("target classes are 1"));
        Assert.That(e.Map(ExplanationMethod.Rollout, 2).ClassIndex, Is.Null, "a class-agnostic map serves every class");
        Assert.That(() => e.DrawClasses(ExplanationMethod.Rollout), Throws.ArgumentException);
    }

    [Test]
    public void ToJson_TwoClasses_MethodsHoldFirstClassAndOtherClasses()
    {
        using var explainer = Explainer("tiny-vit-hf");
        using var e = explainer.Explain(FixturePaths.Image("chelsea.png"),
            ExplainOptions.Default with { Method = ExplanationMethod.Attention | ExplanationMethod.GradientRollout, TargetClass = TargetClass.Index(4, 1) });
        using var doc = JsonDocument.Parse(e.ToJson());
        var root = doc.RootElement;

        Assert.That(root.GetProperty("targetClasses").EnumerateArray().Select(v => v.GetInt32()), Is.EqualTo(new[] { 4, 1 }));
        var methods = root.GetProperty("methods");
        Assert.That(methods.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "attention", "gradient-rollout" }));
        var attention = methods.GetProperty("attention");
        Assert.That(attention.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "class", "label", "map" }));
        var rollout = methods.GetProperty("gradient-rollout");
        Assert.That((rollout.GetProperty("class").GetInt32(), rollout.GetProperty("label").GetString()), Is.EqualTo((4, "espresso")));
        Assert.That(Floats(rollout.GetProperty("map")), Is.EqualTo(e.Map(ExplanationMethod.GradientRollout, 4).Map.ToArray()));
        var other = rollout.GetProperty("otherClasses").EnumerateArray().Single();
        Assert.That((other.GetProperty("class").GetInt32(), other.GetProperty("label").GetString()), Is.EqualTo((1, "coffee mug")));
        Assert.That(Floats(other.GetProperty("map")), Is.EqualTo(e.Map(ExplanationMethod.GradientRollout, 1).Map.ToArray()));
    }

    private static float[] Floats(JsonElement array) => [.. array.EnumerateArray().Select(v => v.GetSingle())];

    [Test]
    public void SaveFigures_MethodsAndTwoClasses_WritesMethodGridAndClassComparison()
    {
        string folder = FixturePaths.NewTempFolder();
        try
        {
            using var explainer = Explainer("tiny-vit-hf");
            using var e = explainer.Explain(FixturePaths.Image("chelsea.png"),
                ExplainOptions.Default with { Method = Every, TargetClass = TargetClass.Top(2) });

            FigurePaths paths = e.SaveFigures(folder, "cat");

            Assert.That(paths.Methods, Is.EqualTo(Path.Combine(folder, "cat.methods.png")));
            Assert.That(paths.Classes, Is.EqualTo(Path.Combine(folder, "cat.classes.png")));
            Assert.That(paths.All, Has.Count.EqualTo(7).And.All.Matches<string>(File.Exists));
            using var grid = SKBitmap.Decode(paths.Methods);
            using var classes = SKBitmap.Decode(paths.Classes);
            using var one = SKBitmap.Decode(paths.Rollout);
            Assert.That(grid.Width, Is.GreaterThan(classes.Width), "six panels in rows of three, wider than two");
            Assert.That(grid.Height, Is.GreaterThan(classes.Height), "two rows of panels");
            Assert.That(classes.Width, Is.GreaterThan(one.Width), "two panels side by side");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void SaveFigures_DefaultOptions_WritesNoMethodFigures()
    {
        string folder = FixturePaths.NewTempFolder();
        try
        {
            using var explainer = Explainer("tiny-vit-hf");
            using var e = explainer.Explain(FixturePaths.Image("chelsea.png"));

            FigurePaths paths = e.SaveFigures(folder, "cat");

            Assert.That((paths.Methods, paths.Classes), Is.EqualTo(((string?)null, (string?)null)));
            Assert.That(Directory.GetFiles(folder).Select(Path.GetFileName), Is.EquivalentTo(new[] { "cat.cls.png", "cat.layers.png", "cat.focused.png", "cat.rollout.png", "cat.json" }));
            Assert.That(() => e.DrawClasses(), Throws.InvalidOperationException.With.Message.Contains("no class-specific map"));
            Assert.That(() => paths.Of(FigureKind.Methods), Throws.InvalidOperationException);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void MethodCatalog_EveryFlag_HasOneEntryAndAUniqueName()
    {
        var flags = Enum.GetValues<ExplanationMethod>();
        Assert.That(MethodCatalog.All.Select(m => m.Method), Is.EqualTo(flags), "one entry per enum value, in enum order");
        Assert.That(MethodCatalog.All.Select(m => m.Name).Distinct().Count(), Is.EqualTo(flags.Length));
        Assert.That(MethodCatalog.Find("Transformer_Attribution")!.Method, Is.EqualTo(ExplanationMethod.TransformerAttribution));
        Assert.That(MethodCatalog.Find("Flow")!.Method, Is.EqualTo(ExplanationMethod.Flow));
        Assert.That(MethodCatalog.Find("flows"), Is.Null);
    }
}
