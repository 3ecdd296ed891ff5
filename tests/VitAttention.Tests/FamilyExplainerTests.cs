using System.Text.Json;
using VitAttention.Cli;
using VitAttention.Inference;
using VitAttention.Loading;
using VitAttention.Models;
using VitAttention.Rollout;
using VitAttention.Tests.Models;
using VitAttention.Tests.Rollout;

namespace VitAttention.Tests;

/// <summary>
/// What the families change at the front door: models without a class token read the mean of their patch queries,
/// register tokens stay out of the maps but their share is reported, and a checkpoint runs at any input size.
/// Oracles: the family fixtures' float64 attentions, and the float64 rollout reference.
/// </summary>
[NonParallelizable]
public class FamilyExplainerTests
{
    private static string Folder(string family) => Path.Combine(FixturePaths.Root, "families", family);

    /// <summary>The oracle's attentions of the given layers as one float stack [layer, batch, head, T, T].</summary>
    private static (float[] Stack, AttentionShape Shape) OracleStack(SafeTensorsFile expected, VitConfig config, string prefix = "")
    {
        var first = expected.Info(prefix + "attentions.0").Shape;
        var shape = new AttentionShape(config.NumLayers, (int)first[0], (int)first[1], (int)first[2]);
        var stack = new float[shape.TotalLength];
        for (int l = 0; l < config.NumLayers; l++)
        {
            double[] a = expected.ReadFloat64($"{prefix}attentions.{l}");
            for (int i = 0; i < a.Length; i++)
            {
                stack[(l * a.Length) + i] = (float)a[i];
            }
        }

        return (stack, shape);
    }

    /// <summary>mean over heads and over the queries in [q0, q1] of A[layer, item, h, q, :], in float64.</summary>
    private static double[] MeanRows(double[] attention, int item, int heads, int tokens, int q0, int q1)
    {
        var mean = new double[tokens];
        for (int h = 0; h < heads; h++)
        {
            for (int q = q0; q <= q1; q++)
            {
                for (int k = 0; k < tokens; k++)
                {
                    mean[k] += attention[((((item * heads) + h) * tokens) + q) * tokens + k] / (heads * (q1 - q0 + 1));
                }
            }
        }

        return mean;
    }

    [Test]
    public void ExplainPixels_NoClassToken_MapsAndRolloutAreTheMeanOverPatchQueries()
    {
        using var explainer = new VitExplainer(CheckpointLoader.Prepare(Folder("timm-gap")));
        var config = explainer.Config;
        Assert.That((config.HasClassToken, config.PrefixTokens, config.Pooling), Is.EqualTo((false, 0, VitPooling.MeanOfPatches)));
        using var expected = SafeTensorsFile.Open(Path.Combine(Folder("timm-gap"), "expected.safetensors"));
        var (stack, shape) = OracleStack(expected, config);
        int t = config.Tokens;

        var explanations = explainer.ExplainPixels(expected.ReadFloat32("pixel_values"));

        for (int b = 0; b < 2; b++)
        {
            using var e = explanations[b];
            for (int l = 0; l < config.NumLayers; l++)
            {
                double[] want = MeanRows(expected.ReadFloat64($"attentions.{l}"), b, config.NumHeads, t, 0, t - 1);
                Assert.That(e.Layers[l].Map.Values.ToArray(), Is.EqualTo(want).Within(1e-5), $"layer {l + 1}, item {b}");
                double[] query0 = MeanRows(expected.ReadFloat64($"attentions.{l}"), b, config.NumHeads, t, 0, 0);
                Assert.That(want.Zip(query0, (x, y) => Math.Abs(x - y)).Max(), Is.GreaterThan(1e-3), "the mean differs from the top-left patch's row");
            }

            double[] matrix = RolloutReference.Matrix(stack, shape, b, RolloutOptions.Default with { PrefixTokens = 0 });
            var rollout = new double[t];
            for (int q = 0; q < t; q++)
            {
                for (int k = 0; k < t; k++)
                {
                    rollout[k] += matrix[(q * t) + k] / t;
                }
            }

            Assert.That(e.Rollout.Values.ToArray(), Is.EqualTo(rollout).Within(1e-5), $"rollout, item {b}");
            using var doc = JsonDocument.Parse(e.ToJson());
            Assert.That(doc.RootElement.GetProperty("query").GetString(), Is.EqualTo("mean of patch queries"));
            Assert.That(doc.RootElement.GetProperty("model").GetProperty("classToken").GetBoolean(), Is.False);
            using var figure = e.DrawClsOverlay();
            Assert.That(figure.Width, Is.GreaterThan(0));
        }
    }

    [Test]
    public void ToJson_Registers_MapsDropThemAndEachLayerReportsTheirShareOfClassAttention()
    {
        using var explainer = new VitExplainer(CheckpointLoader.Prepare(Folder("timm-dinov2-reg4")));
        var config = explainer.Config;
        using var expected = SafeTensorsFile.Open(Path.Combine(Folder("timm-dinov2-reg4"), "expected.safetensors"));
        int t = config.Tokens;

        using var e = explainer.ExplainPixels(expected.ReadFloat32("pixel_values"))[1];
        using var doc = JsonDocument.Parse(e.ToJson());

        Assert.That(doc.RootElement.GetProperty("query").GetString(), Is.EqualTo("class token"));
        Assert.That(doc.RootElement.GetProperty("model").GetProperty("registerTokens").GetInt32(), Is.EqualTo(4));
        var layers = doc.RootElement.GetProperty("layers");
        for (int l = 0; l < config.NumLayers; l++)
        {
            double[] cls = MeanRows(expected.ReadFloat64($"attentions.{l}"), 1, config.NumHeads, t, 0, 0);
            double share = cls[1] + cls[2] + cls[3] + cls[4]; // tokens: CLS, 4 registers, 16 patches
            Assert.That(layers[l].GetProperty("registerShare").GetDouble(), Is.EqualTo(share).Within(1e-5), $"layer {l + 1}");
            double[] map = layers[l].GetProperty("map").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.That(map, Is.EqualTo(cls[5..]).Within(1e-5), "the map is the patches' columns only");
            Assert.That(share, Is.GreaterThan(0.01), "the registers take a visible share, so the check discriminates");
        }
    }

    [Test]
    public void ToJson_NoRegisters_HasNoRegisterShare()
    {
        using var explainer = new VitExplainer(CheckpointLoader.Prepare(Folder("timm-dinov2")));
        using var expected = SafeTensorsFile.Open(Path.Combine(Folder("timm-dinov2"), "expected.safetensors"));
        using var e = explainer.ExplainPixels(expected.ReadFloat32("pixel_values"))[0];
        using var doc = JsonDocument.Parse(e.ToJson());
        Assert.That(doc.RootElement.GetProperty("layers")[0].TryGetProperty("registerShare", out _), Is.False);
    }

    [Test]
    public void Load_ImageSizeOption_BuildsTheGraphAtThatSizeAndMatchesTheOracle()
    {
        using var t = new TempCheckpoint(Path.Combine("families", "timm-dinov2"));
        using var explainer = VitExplainer.Load(t.Folder, ExplainerOptions.Default with { ImageSize = 70 });
        Assert.That((explainer.Config.ImageHeight, explainer.Config.GridHeight, explainer.Config.Tokens), Is.EqualTo((70, 5, 26)));
        using var expected = SafeTensorsFile.Open(Path.Combine(Folder("timm-dinov2"), "expected.safetensors"));

        using var e = explainer.ExplainPixels(expected.ReadFloat32("at70.pixel_values"))[0];

        double[] cls = MeanRows(expected.ReadFloat64("at70.attentions.1"), 0, explainer.Config.NumHeads, 26, 0, 0);
        Assert.That(e.Layers[1].Map.Values.ToArray(), Is.EqualTo(cls[1..]).Within(1e-5));
        // Cached in the library's own cache under its own size, never in the checkpoint folder.
        string cacheFolder = Path.Combine(TestEnvironment.CacheFolder, PreparedModelCache.LocalSlot(t.Folder));
        Assert.That(File.Exists(Path.Combine(cacheFolder, "model.attn.70.onnx")), Is.True, "cached under its own size");
        Assert.That(File.Exists(Path.Combine(cacheFolder, "model.attn.onnx")), Is.False);
        Assert.That(Directory.GetFiles(t.Folder, "*.onnx"), Is.Empty);

        // The preprocessing follows: timm's crop_pct 1.0 at 70 resizes the short side to 70.
        Assert.That(ImagePreprocessor.PlanFor(explainer.Config, 100, 80), Is.EqualTo(new ImagePreprocessor.Plan(87, 70, 8, 0)));
    }

    [Test]
    public void AtInputSize_HfProcessorResize_IsScaledWithTheCrop()
    {
        var config = VitConfigLoader.FromFolder(Folder("hf-dinov2"));
        Assert.That((config.ImageHeight, config.Preprocess.ResizeShortestEdge), Is.EqualTo((32, 36)));
        var at64 = config.AtInputSize(64, 64, "test");
        Assert.That((at64.ImageHeight, at64.GridHeight, at64.TrainedGridHeight, at64.Preprocess.ResizeShortestEdge), Is.EqualTo((64, 8, 5, 72)));
        var back = at64.AtInputSize(40, 40, "test");
        Assert.That((back.GridHeight, back.PositionGridHeight), Is.EqualTo((5, (int?)null)), "the trained grid needs no interpolation");
    }

    [TestCase(50)]
    [TestCase(0)]
    public void Prepare_ImageSizeNotAMultipleOfThePatch_ThrowsNamingThePatchAndNeighbours(int size)
    {
        var e = Assert.Throws<ModelFormatException>(() => CheckpointLoader.Prepare(Folder("timm-dinov2"), size))!;
        Assert.That(e.Message, Does.Contain("14-pixel patch").And.Contain($"{size}×{size}"));
    }

    [Test]
    public void Load_OnnxExportAtAnotherSize_ThrowsSayingExportsHaveOneSize()
    {
        string onnx = Path.Combine(FixturePaths.HfFolder, "model_logits_only.onnx");
        var e = Assert.Throws<ModelFormatException>(() => ModelLoader.Load(onnx, new ModelLoadOptions { ImageSize = 48 }))!;
        Assert.That(e.Message, Does.Contain("32×32").And.Contain("48×48").And.Contain("checkpoint folder"));
        Assert.That(ModelLoader.Load(onnx, new ModelLoadOptions { ImageSize = 32 }).Config.ImageHeight, Is.EqualTo(32), "its own size is fine");
    }

    [Test]
    public void Constructor_PreparedModelOfAnotherSize_ThrowsNamingBothSizes()
    {
        var model = CheckpointLoader.Prepare(Folder("hf-clip-vision"));
        var e = Assert.Throws<ArgumentException>(() => new VitExplainer(model, ExplainerOptions.Default with { ImageSize = 48 }))!;
        Assert.That(e.Message, Does.Contain("48").And.Contain("32×32"));
        Assert.Throws<ArgumentOutOfRangeException>(() => (ExplainerOptions.Default with { ImageSize = -3 }).Validate());
    }

    [Test]
    public void Cli_ExplainWithImageSize_WritesTheLargerGrid()
    {
        using var t = new TempCheckpoint(Path.Combine("families", "hf-clip-vision"));
        string output = FixturePaths.NewTempFolder();
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = CliApp.Run(["explain", FixturePaths.Image("chelsea.png"), "--model", t.Folder, "--image-size", "48", "--out", output, "--json"], stdout, stderr);
            Assert.That(code, Is.EqualTo(0), stderr.ToString());
            using var doc = JsonDocument.Parse(stdout.ToString());
            string json = stdout.ToString();
            Assert.That(json, Does.Contain("\"grid\":[6,6]"));

            var bad = new StringWriter();
            Assert.That(CliApp.Run(["classify", FixturePaths.Image("chelsea.png"), "--model", t.Folder, "--image-size", "50"], new StringWriter(), bad), Is.EqualTo(3));
            Assert.That(bad.ToString(), Does.Contain("8-pixel patch"));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
