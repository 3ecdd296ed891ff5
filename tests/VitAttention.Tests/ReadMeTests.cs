using System.Text.RegularExpressions;
using VitAttention;
using VitAttention.Analysis;
using VitAttention.Rollout;
using VitAttention.Tests.Hub;

namespace VitAttention.Tests;

/// <summary>
/// The README's C# samples, verbatim, run for real: the quick start against a local fake hub that serves the demo
/// model as google/vit-base-patch16-224 (download, cache, explain, figures), the second sample on the demo model.
/// A test also checks that every C# block of the README appears in this file, so the two cannot drift apart.
/// </summary>
[NonParallelizable]
public partial class ReadMeTests
{
    private static string Output => TestContext.CurrentContext.TestDirectory;

    private static string DemoModel => Path.Combine(Output, "DemoModel");

    [Test]
    public void ReadMe_EveryCSharpBlock_AppearsVerbatimInReadMeTests()
    {
        string readme = File.ReadAllText(Path.Combine(Output, "README.md"));
        string self = Normalise(File.ReadAllText(Path.Combine(Output, "ReadMeTests.cs.txt")));
        var blocks = CSharpBlock().Matches(readme).Select(m => m.Groups[1].Value).ToList();
        Assert.That(blocks, Has.Count.GreaterThanOrEqualTo(2));
        foreach (string block in blocks)
        {
            Assert.That(self, Does.Contain(Normalise(block)), "README block not in ReadMeTests.cs:\n" + block);
        }
    }

    [Test]
    public void QuickStart_DefaultModelFromHub_ExplainsAndSavesFigures()
    {
        string work = FixturePaths.NewTempFolder();
        string previous = Environment.CurrentDirectory;
        var saved = SaveEnvironment("HF_ENDPOINT", "HF_HUB_CACHE", "HF_HOME", "HF_TOKEN", "HF_HUB_OFFLINE");
        var files = new[] { "config.json", "preprocessor_config.json", "model.safetensors" }
            .ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(DemoModel, f)));
        using var hub = new FakeHubServer("google", "vit-base-patch16-224", files, ["model.safetensors"]);
        try
        {
            Environment.SetEnvironmentVariable("HF_ENDPOINT", hub.Endpoint);
            Environment.SetEnvironmentVariable("HF_HUB_CACHE", Path.Combine(work, "hub-cache"));
            Environment.SetEnvironmentVariable("HF_HOME", null);
            Environment.SetEnvironmentVariable("HF_TOKEN", null);
            Environment.SetEnvironmentVariable("HF_HUB_OFFLINE", null);
            File.Copy(FixturePaths.Image("chelsea.png"), Path.Combine(work, "chelsea.png"));
            Environment.CurrentDirectory = work;

            QuickStart();

            foreach (string suffix in new[] { ".cls.png", ".layers.png", ".focused.png", ".rollout.png", ".json" })
            {
                Assert.That(File.Exists(Path.Combine(work, "out", "chelsea" + suffix)), suffix);
            }

            Assert.That(Directory.GetDirectories(Path.Combine(work, "hub-cache")), Has.One.EndsWith("models--google--vit-base-patch16-224"));
            // The weights were fetched once, from the storage address the hub redirected to.
            Assert.That(hub.CountRequests("GET", "/lfs/"), Is.EqualTo(1));
        }
        finally
        {
            Environment.CurrentDirectory = previous;
            RestoreEnvironment(saved);
            Directory.Delete(work, recursive: true);
        }
    }

    [Test]
    public void ControlSample_DemoModel_WritesJsonWithRequestedLayers()
    {
        string work = FixturePaths.NewTempFolder();
        string previous = Environment.CurrentDirectory;
        try
        {
            Directory.CreateDirectory(Path.Combine(work, "models", "demo-vit-tiny"));
            foreach (string f in new[] { "config.json", "preprocessor_config.json", "model.safetensors" })
            {
                File.Copy(Path.Combine(DemoModel, f), Path.Combine(work, "models", "demo-vit-tiny", f));
            }

            File.Copy(FixturePaths.Image("chelsea.png"), Path.Combine(work, "chelsea.png"));
            Environment.CurrentDirectory = work;

            var (finalLayer, rollout, focused) = ControlSample();

            Assert.That(finalLayer, Has.Length.EqualTo(14 * 14));
            Assert.That(rollout, Has.Length.EqualTo(14 * 14));
            Assert.That(focused, Has.Count.EqualTo(3));
            string json = File.ReadAllText(Path.Combine(work, "chelsea.json"));
            Assert.That(json, Does.Contain("\"focusMeasure\": \"roiMass\"").And.Contain("\"headFusion\": \"max\""));
        }
        finally
        {
            Environment.CurrentDirectory = previous;
            Directory.Delete(work, recursive: true);
        }
    }

    private static void QuickStart()
    {
        using var result = AttentionRollout.Compute("chelsea.png");   // google/vit-base-patch16-224, downloaded once
        Console.WriteLine($"{result.Predictions[0].Label}: {result.Predictions[0].Probability:P1}");
        result.SaveFigures("out/");                                     // four PNGs + JSON
    }

    private static (float[] FinalLayer, float[] Rollout, IReadOnlyList<int> Focused) ControlSample()
    {
        using var explainer = AttentionRollout.Load("models/demo-vit-tiny");   // hub id, checkpoint folder or .onnx
        var options = ExplainOptions.Default with
        {
            Layers = [1, 2, 4],                                                 // one-based, as in every figure
            RegionOfInterest = RegionOfInterest.FromRectangle(100, 40, 220, 220),   // focus = share of attention inside
            Rollout = RolloutOptions.Default with { Fusion = HeadFusion.Max, DiscardRatio = 0.9f },
        };
        using var cat = explainer.Explain("chelsea.png", options);             // or bytes, a Stream, an SKBitmap
        float[] finalLayer = cat.Layers[^1].Map.ToArray();                     // row-major over the patch grid
        float[] rollout = cat.Rollout.ToArray();
        IReadOnlyList<int> focused = cat.FocusedLayers;                        // most focused first
        File.WriteAllText("chelsea.json", cat.ToJson(indented: true));
        return (finalLayer, rollout, focused);
    }

    [Test]
    public async Task StreamingSample_DemoModel_WritesEachImageAndReportsTheMissingOne()
    {
        string work = FixturePaths.NewTempFolder();
        string previous = Environment.CurrentDirectory;
        try
        {
            Directory.CreateDirectory(Path.Combine(work, "models", "demo-vit-tiny"));
            foreach (string f in new[] { "config.json", "preprocessor_config.json", "model.safetensors" })
            {
                File.Copy(Path.Combine(DemoModel, f), Path.Combine(work, "models", "demo-vit-tiny", f));
            }

            File.Copy(FixturePaths.Image("chelsea.png"), Path.Combine(work, "chelsea.png"));
            File.Copy(FixturePaths.Image("coffee.png"), Path.Combine(work, "coffee.png"));
            Environment.CurrentDirectory = work;

            var failures = await StreamingSample();

            Assert.That(File.Exists(Path.Combine(work, "out", "chelsea.json")), Is.True);
            Assert.That(File.Exists(Path.Combine(work, "out", "coffee.rollout.png")), Is.True);
            Assert.That(failures.Single().Source, Is.EqualTo("missing.png"));
            Assert.That(failures[0].Error, Is.InstanceOf<FileNotFoundException>());
        }
        finally
        {
            Environment.CurrentDirectory = previous;
            Directory.Delete(work, recursive: true);
        }
    }

    private static async Task<List<ExplainFailure>> StreamingSample()
    {
        await using var photos = File.OpenRead("coffee.png");
        using var explainer = await AttentionRollout.LoadAsync("models/demo-vit-tiny");
        using var coffee = await explainer.ExplainAsync(ImageInput.FromStream(photos, "coffee.png"));
        var failures = new List<ExplainFailure>();
        await foreach (var e in explainer.ExplainManyAsync(["chelsea.png", "missing.png", "coffee.png"], onFailure: failures.Add))
        {
            using (e)
            {
                e.SaveFigures("out/");                                          // written as each image is done
            }
        }

        Console.WriteLine($"{failures.Count} failed: {failures[0].Source}: {failures[0].Error.Message}");
        return failures;
    }

    [Test]
    public void ClassSpecificSample_DemoModel_TwoClassesTwoMapsAndTheMethodFigures()
    {
        string work = FixturePaths.NewTempFolder();
        string previous = Environment.CurrentDirectory;
        try
        {
            Directory.CreateDirectory(Path.Combine(work, "models", "demo-vit-tiny"));
            foreach (string f in new[] { "config.json", "preprocessor_config.json", "model.safetensors" })
            {
                File.Copy(Path.Combine(DemoModel, f), Path.Combine(work, "models", "demo-vit-tiny", f));
            }

            File.Copy(FixturePaths.Image("chelsea.png"), Path.Combine(work, "chelsea.png"));
            Environment.CurrentDirectory = work;

            var (topClass, second) = ClassSpecificSample();

            Assert.That(topClass, Has.Length.EqualTo(14 * 14));
            Assert.That(second, Is.Not.EqualTo(topClass));
            Assert.That(File.Exists(Path.Combine(work, "out", "chelsea.methods.png")) && File.Exists(Path.Combine(work, "out", "chelsea.classes.png")), Is.True);
        }
        finally
        {
            Environment.CurrentDirectory = previous;
            Directory.Delete(work, recursive: true);
        }
    }

    private static (float[] TopClass, float[] Second) ClassSpecificSample()
    {
        using var explainer = AttentionRollout.Load("models/demo-vit-tiny");
        var options = ExplainOptions.Default with
        {
            Method = ExplanationMethod.Rollout | ExplanationMethod.TransformerAttribution,
            TargetClass = TargetClass.Top(2),                                   // or TargetClass.Index(281), TargetClass.Label("tabby")
        };
        using var cat = explainer.Explain("chelsea.png", options);
        float[] topClass = cat.Map(ExplanationMethod.TransformerAttribution).Map.ToArray();
        float[] second = cat.Map(ExplanationMethod.TransformerAttribution, cat.TargetClasses[1]).Map.ToArray();
        cat.SaveFigures("out/");                                                // + chelsea.methods.png, chelsea.classes.png
        return (topClass, second);
    }

    /// <summary>Lines trimmed, blank lines and <c>using</c> directives dropped, joined by newlines.</summary>
    private static string Normalise(string code) => string.Join('\n', code.Split('\n')
        .Select(l => l.Trim())
        .Where(l => l.Length > 0 && !UsingDirective().IsMatch(l)));

    private static Dictionary<string, string?> SaveEnvironment(params string[] names) =>
        names.ToDictionary(n => n, Environment.GetEnvironmentVariable);

    private static void RestoreEnvironment(Dictionary<string, string?> saved)
    {
        foreach (var (name, value) in saved)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
    }

    [GeneratedRegex("```csharp\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    [GeneratedRegex("^using [A-Za-z.]+;$")]
    private static partial Regex UsingDirective();
}
