using System.Text.RegularExpressions;
using VitAttention;
using VitAttention.Analysis;
using VitAttention.Rollout;
using VitAttention.Tests.Hub;

namespace VitAttention.Tests;

/// <summary>
/// The README's C# samples, verbatim, run for real: the quick start against a local fake hub that serves the demo
/// model as google/vit-base-patch16-224 (download, cache, explain, figures), the control and streaming samples on the
/// trained model shipped in models/fashion-vit and its images.
/// A test also checks that every C# block of the README appears in this file, so the two cannot drift apart.
/// </summary>
[NonParallelizable]
public partial class ReadMeTests
{
    private static string Output => TestContext.CurrentContext.TestDirectory;

    private static string DemoModel => Path.Combine(Output, "DemoModel");

    private static string FashionModel => Path.Combine(Output, "FashionVit");

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
    public void ControlSample_FashionModel_WritesJsonWithRequestedLayers()
    {
        string work = FixturePaths.NewTempFolder();
        string previous = Environment.CurrentDirectory;
        try
        {
            CopyFashionModel(work);
            Environment.CurrentDirectory = work;

            var (finalLayer, rollout, focused) = ControlSample();

            Assert.That(finalLayer, Has.Length.EqualTo(7 * 7));
            Assert.That(rollout, Has.Length.EqualTo(7 * 7));
            Assert.That(focused, Has.Count.EqualTo(3));
            string json = File.ReadAllText(Path.Combine(work, "boot.json"));
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
        using var explainer = AttentionRollout.Load("models/fashion-vit");    // hub id, checkpoint folder or .onnx
        var options = ExplainOptions.Default with
        {
            Layers = [1, 3, 6],                                                 // one-based, as in every figure
            RegionOfInterest = RegionOfInterest.FromRectangle(7, 7, 14, 14),    // focus = share of attention inside
            Rollout = RolloutOptions.Default with { Fusion = HeadFusion.Max, DiscardRatio = 0.9f },
        };
        using var boot = explainer.Explain("models/fashion-vit/images/0000-ankle-boot.png", options);   // or bytes, a Stream, an SKBitmap
        float[] finalLayer = boot.Layers[^1].Map.ToArray();                    // row-major over the patch grid
        float[] rollout = boot.Rollout.ToArray();
        IReadOnlyList<int> focused = boot.FocusedLayers;                       // most focused first
        File.WriteAllText("boot.json", boot.ToJson(indented: true));
        return (finalLayer, rollout, focused);
    }

    [Test]
    public async Task StreamingSample_FashionModel_WritesEachImageAndReportsTheMissingOne()
    {
        string work = FixturePaths.NewTempFolder();
        string previous = Environment.CurrentDirectory;
        try
        {
            CopyFashionModel(work);
            Environment.CurrentDirectory = work;

            var failures = await StreamingSample();

            string[] written = Directory.GetFiles(Path.Combine(work, "out"), "*.json").Select(Path.GetFileName).Order().ToArray()!;
            string[] expected = Directory.GetFiles(Path.Combine(FashionModel, "images"), "*.png")
                .Select(f => Path.GetFileNameWithoutExtension(f) + ".json").Order().ToArray();
            Assert.That(written, Is.EqualTo(expected).And.Length.EqualTo(10), "one JSON per shipped image");
            Assert.That(File.Exists(Path.Combine(work, "out", "0009-sneaker.rollout.png")), Is.True);
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
        await using var photo = File.OpenRead("models/fashion-vit/images/0009-sneaker.png");
        using var explainer = await AttentionRollout.LoadAsync("models/fashion-vit");
        using var sneaker = await explainer.ExplainAsync(ImageInput.FromStream(photo, "sneaker.png"));
        var failures = new List<ExplainFailure>();
        string[] images = [.. Directory.GetFiles("models/fashion-vit/images"), "missing.png"];
        await foreach (var e in explainer.ExplainManyAsync(images, onFailure: failures.Add))
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
    public void ClassSpecificSample_TrainedModel_TwoClassesTwoMapsAndTheMethodFigures()
    {
        string work = FixturePaths.NewTempFolder();
        string previous = Environment.CurrentDirectory;
        try
        {
            CopyFashionModel(work);
            Environment.CurrentDirectory = work;

            var (topClass, second) = ClassSpecificSample();

            Assert.That(topClass, Has.Length.EqualTo(7 * 7));
            Assert.That(second, Is.Not.EqualTo(topClass));
            Assert.That(File.Exists(Path.Combine(work, "out", "0013-dress.methods.png")) && File.Exists(Path.Combine(work, "out", "0013-dress.classes.png")), Is.True);
        }
        finally
        {
            Environment.CurrentDirectory = previous;
            Directory.Delete(work, recursive: true);
        }
    }

    private static (float[] TopClass, float[] Second) ClassSpecificSample()
    {
        using var explainer = AttentionRollout.Load("models/fashion-vit");
        var options = ExplainOptions.Default with
        {
            Method = ExplanationMethod.Rollout | ExplanationMethod.TransformerAttribution,
            TargetClass = TargetClass.Top(2),                                   // or TargetClass.Index(3), TargetClass.Label("Dress")
        };
        using var dress = explainer.Explain("models/fashion-vit/images/0013-dress.png", options);
        float[] topClass = dress.Map(ExplanationMethod.TransformerAttribution).Map.ToArray();
        float[] second = dress.Map(ExplanationMethod.TransformerAttribution, dress.TargetClasses[1]).Map.ToArray();
        dress.SaveFigures("out/");                                              // + 0013-dress.methods.png, .classes.png
        return (topClass, second);
    }

    /// <summary>The trained model's checkpoint and images under <c>work/models/fashion-vit</c>, as in a clone.</summary>
    private static void CopyFashionModel(string work)
    {
        string model = Path.Combine(work, "models", "fashion-vit");
        Directory.CreateDirectory(Path.Combine(model, "images"));
        foreach (string f in new[] { "config.json", "preprocessor_config.json", "model.safetensors" })
        {
            File.Copy(Path.Combine(FashionModel, f), Path.Combine(model, f));
        }

        foreach (string png in Directory.GetFiles(Path.Combine(FashionModel, "images"), "*.png"))
        {
            File.Copy(png, Path.Combine(model, "images", Path.GetFileName(png)));
        }
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
