using VitAttention.Inference;
using VitAttention.Loading;
using VitAttention.Models;

namespace VitAttention.Tests.Models;

/// <summary>
/// One tiny checkpoint per family in the hub's layout (Fixtures/families, made by make_family_fixtures.py from float64
/// re-implementations of the timm and transformers sources): the library's graph against the oracle's logits and
/// attentions, its preprocessing against the family's, and its position-embedding interpolation at other sizes.
/// </summary>
public class FamilyFixtureTests
{
    private const double LogitTolerance = 1e-4;
    private const double AttentionTolerance = 1e-5;

    public static readonly string[] Families =
    [
        "timm-deit3", "timm-dinov2", "timm-dinov2-reg4", "timm-clip", "timm-gap",
        "hf-dinov2", "hf-dinov2-classifier", "hf-dinov2-registers", "hf-clip-vision", "hf-clip-vision-projection",
        "hf-beit", "hf-data2vec-vision",
    ];

    /// <summary>The (family, size) pairs the oracle also ran at a size the checkpoint was not trained at.</summary>
    public static readonly object[] OtherSizes =
    [
        new object[] { "timm-deit3", 64 }, new object[] { "timm-dinov2", 70 }, new object[] { "timm-dinov2", 42 },
        new object[] { "timm-dinov2-reg4", 70 }, new object[] { "timm-clip", 64 }, new object[] { "hf-dinov2", 48 },
        new object[] { "hf-dinov2-registers", 48 }, new object[] { "hf-clip-vision", 48 }, new object[] { "hf-beit", 48 },
    ];

    private static string Folder(string family) => Path.Combine(FixturePaths.Root, "families", family);

    /// <summary>Runs the built graph on the oracle's pixels (batch item count from the key) and compares every output.</summary>
    internal static (double Logits, double Attentions) CompareWithOracle(PreparedModel model, SafeTensorsFile expected, string prefix)
    {
        var config = model.Config;
        float[] pixels = expected.ReadFloat32(prefix + "pixel_values");
        long[] shape = [.. expected.Info(prefix + "pixel_values").Shape];
        Assert.That(shape[1..], Is.EqualTo(new long[] { config.Channels, config.ImageHeight, config.ImageWidth }), "the oracle's input is the model's input size");
        var outputs = OrtRunner.Run(model.ReadOnnx(), pixels, shape);

        double logitError = 0;
        bool hasLogits = expected.Contains(prefix + "logits");
        Assert.That(outputs.ContainsKey(PreparedModel.LogitsOutput), Is.EqualTo(hasLogits), "logits exactly when the checkpoint has a classifier");
        if (hasLogits)
        {
            double[] want = expected.ReadFloat64(prefix + "logits");
            float[] got = outputs[PreparedModel.LogitsOutput].Data;
            Assert.That(got, Has.Length.EqualTo(want.Length));
            logitError = got.Zip(want, (g, w) => Math.Abs(g - w)).Max();
            Assert.That(got, Is.EqualTo(want).Within(LogitTolerance), "logits");
        }

        double attentionError = 0;
        for (int l = 0; l < config.NumLayers; l++)
        {
            double[] want = expected.ReadFloat64($"{prefix}attentions.{l}");
            var (got, gotShape) = outputs[PreparedModel.AttentionOutput(l)];
            Assert.That(gotShape, Is.EqualTo(new long[] { shape[0], config.NumHeads, config.Tokens, config.Tokens }), $"layer {l} shape");
            attentionError = Math.Max(attentionError, got.Zip(want, (g, w) => Math.Abs(g - w)).Max());
            Assert.That(got, Is.EqualTo(want).Within(AttentionTolerance), $"layer {l}");
        }

        Assert.That(expected.Contains($"{prefix}attentions.{config.NumLayers}"), Is.False, "the oracle has no more layers than the graph");
        return (logitError, attentionError);
    }

    [TestCaseSource(nameof(Families))]
    public void Prepare_FamilyCheckpoint_MatchesFloat64OracleLogitsAndAttentions(string family)
    {
        var model = CheckpointLoader.Prepare(Folder(family));
        using var expected = SafeTensorsFile.Open(Path.Combine(Folder(family), "expected.safetensors"));

        var (logits, attentions) = CompareWithOracle(model, expected, string.Empty);

        TestContext.Out.WriteLine($"{family}: max |logit error| {logits:E2}, max |attention error| {attentions:E2}");
    }

    [TestCaseSource(nameof(OtherSizes))]
    public void Prepare_FamilyAtAnotherImageSize_InterpolatesAsTheReferenceCode(string family, int size)
    {
        var model = CheckpointLoader.Prepare(Folder(family), size);
        using var expected = SafeTensorsFile.Open(Path.Combine(Folder(family), "expected.safetensors"));
        Assert.That((model.Config.ImageHeight, model.Config.ImageWidth), Is.EqualTo((size, size)));

        var (logits, attentions) = CompareWithOracle(model, expected, $"at{size}.");

        TestContext.Out.WriteLine($"{family} at {size}: grid {model.Config.GridHeight}×{model.Config.GridWidth} from {model.Config.TrainedGridHeight}×{model.Config.TrainedGridWidth}, max |logit error| {logits:E2}, max |attention error| {attentions:E2}");
    }

    [TestCaseSource(nameof(Families))]
    public void Preprocess_FamilyInputPhoto_MatchesTheFamilysPipelineWithinOneStep(string family)
    {
        var config = VitConfigLoader.FromFolder(Folder(family));
        using var expected = SafeTensorsFile.Open(Path.Combine(Folder(family), "expected.safetensors"));
        float[] pixelValues = expected.ReadFloat32("pixel_values"); // item 0 is input.png through the family's pipeline
        var preprocessor = new ImagePreprocessor(config);

        using var image = preprocessor.Preprocess(Path.Combine(Folder(family), "input.png"));

        double maxError = 0, step = 0;
        int plane = config.ImageHeight * config.ImageWidth;
        for (int c = 0; c < 3; c++)
        {
            step = Math.Max(step, 1.0 / 255 / config.Preprocess.Std[c]);
            for (int i = 0; i < plane; i++)
            {
                maxError = Math.Max(maxError, Math.Abs(image.Pixels[(c * plane) + i] - pixelValues[(c * plane) + i]));
            }
        }

        TestContext.Out.WriteLine($"{family}: max |pixel error| {maxError:E2} (one uint8 step {step:E2})");
        Assert.That(maxError, Is.LessThanOrEqualTo(step + 1e-5), "more than one uint8 step from the family's own preprocessing");
        Assert.That(image.Crop.Width, Is.LessThan(image.Photo.Width + 1e-3f));
    }

    [Test]
    public void Build_TimmDinov2Registers_LayoutIsClassRegistersPatchesWithPatchOnlyPositions()
    {
        var config = VitConfigLoader.FromFolder(Folder("timm-dinov2-reg4"));
        Assert.That((config.PrefixTokens, config.RegisterTokens, config.HasClassToken, config.Tokens), Is.EqualTo((5, 4, true, 21)));
        Assert.That((config.PositionEmbeddingCoversPrefix, config.PositionEmbeddingRows, config.LayerScale), Is.EqualTo((false, 16, true)));
        Assert.That((config.PatchSize, config.NumHeads, config.HiddenSize, config.NumLayers, config.NumClasses), Is.EqualTo((14, 6, 24, 2, 0)));
    }

    [Test]
    public void FromFolder_HfDinov2_TakesTheProcessorsCropAndKeepsTheTrainedGrid()
    {
        var config = VitConfigLoader.FromFolder(Folder("hf-dinov2-registers"));
        Assert.That((config.ImageHeight, config.GridHeight, config.TrainedGridHeight), Is.EqualTo((32, 4, 5)));
        Assert.That((config.PrefixTokens, config.RegistersAfterPositionEmbedding, config.PositionEmbeddingRows), Is.EqualTo((5, true, 26)));
        Assert.That(config.PositionInterpolation, Is.EqualTo(GridInterpolation.BicubicAntialias));
        Assert.That(config.Preprocess.ResizeShortestEdge, Is.EqualTo(36));
    }

    [Test]
    public void FromFolder_HfClipVisionTower_PreNormNoPatchBiasQuickGeluNoClasses()
    {
        var config = VitConfigLoader.FromFolder(Folder("hf-clip-vision"));
        Assert.That((config.PreNorm, config.PatchEmbeddingBias, config.Activation, config.LayerNormEps), Is.EqualTo((true, false, VitActivation.QuickGelu, 1e-5)));
        Assert.That(config.NumClasses, Is.Zero, "a CLIP tower's projection is an embedding, not classes");
        Assert.That(config.Preprocess.Mean, Is.EqualTo(new[] { 0.48145466f, 0.4578275f, 0.40821073f }));
        Assert.That(config.Preprocess.ResizeShortestEdge, Is.EqualTo(32), "a bare size is the CLIP processor's shortest edge");
    }

    [Test]
    public void FromFolder_HfBeit_RelativeBiasLayerScaleMeanPooling()
    {
        var config = VitConfigLoader.FromFolder(Folder("hf-beit"));
        Assert.That((config.RelativePositionBias, config.LayerScale, config.HasPositionEmbedding), Is.EqualTo((RelativePositionBiasKind.PerLayer, true, false)));
        Assert.That((config.Pooling, config.NormAfterPooling, config.RelativePositionTableRows), Is.EqualTo((VitPooling.MeanOfPatches, true, 52)));
        var shared = VitConfigLoader.FromFolder(Folder("hf-data2vec-vision"));
        Assert.That((shared.RelativePositionBias, shared.Pooling), Is.EqualTo((RelativePositionBiasKind.Shared, VitPooling.ClassToken)));
    }

    [Test]
    public void Load_BeitIndexBufferDifferentFromComputed_ThrowsNamingTheBuffer()
    {
        using var t = new TempCheckpoint(Path.Combine("families", "hf-beit"));
        string name = "beit.encoder.layer.1.attention.attention.relative_position_bias.relative_position_index";
        RewriteInt64(t.WeightsPath, name, index => index[5] += 1);
        var config = VitConfigLoader.FromFolder(t.Folder);

        var e = Assert.Throws<ModelFormatException>(() => VitWeights.Load(t.Folder, config))!;
        Assert.That(e.Message, Does.Contain(name).And.Contain("relative position index"));
    }

    [Test]
    public void Load_HfClipModelWithTextTower_ReadsTheVisionTowerOnly()
    {
        // The full CLIPModel layout (model_type 'clip', vision_config nested, text tower and projections in the same
        // file) must give exactly the CLIPVisionModel's graph.
        using var t = new TempCheckpoint(Path.Combine("families", "hf-clip-vision-projection"));
        var vision = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(t.ConfigPath))!.AsObject();
        vision.Remove("architectures");
        vision["model_type"] = "clip_vision_model";
        File.WriteAllText(t.ConfigPath, new System.Text.Json.Nodes.JsonObject
        {
            ["architectures"] = new System.Text.Json.Nodes.JsonArray("CLIPModel"),
            ["model_type"] = "clip",
            ["projection_dim"] = 16,
            ["text_config"] = new System.Text.Json.Nodes.JsonObject { ["hidden_size"] = 8 },
            ["vision_config"] = vision,
        }.ToJsonString());
        t.EditWeights(w =>
        {
            var rng = new Random(3);
            float[] R(int n) => [.. Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble())];
            w["text_model.embeddings.token_embedding.weight"] = ([10, 8], R(80));
            w["text_model.final_layer_norm.weight"] = ([8], R(8));
            w["text_projection.weight"] = ([16, 8], R(128));
            w["logit_scale"] = ([], [2.6592f]);
        });

        var full = CheckpointLoader.Prepare(t.Folder);
        using var expected = SafeTensorsFile.Open(Path.Combine(Folder("hf-clip-vision-projection"), "expected.safetensors"));
        var (_, attentions) = CompareWithOracle(full, expected, string.Empty);
        Assert.That(attentions, Is.LessThan(AttentionTolerance));
        Assert.That((full.Config.HiddenSize, full.Config.NumLayers, full.Config.Activation, full.Config.Preprocess.ResizeShortestEdge),
            Is.EqualTo((32, 2, VitActivation.Gelu, 32)), "the layout comes from the nested vision_config");
    }

    [Test]
    public void Interpolate_RandomGrids_MatchTorchInterpolate()
    {
        using var expected = SafeTensorsFile.Open(Path.Combine(FixturePaths.Root, "families", "interp.safetensors"));
        int checkedCount = 0;
        double worst = 0;
        foreach (var (name, info) in expected.Tensors.Where(kv => !kv.Key.StartsWith("grid_", StringComparison.Ordinal)))
        {
            // {mode}_{h}x{w}_to_{oh}x{ow}
            string[] parts = name.Split('_');
            string tag = parts.Length == 5 ? parts[0] + "_" + parts[1] : parts[0];
            var mode = tag switch
            {
                "bicubic" => GridInterpolation.Bicubic,
                "bicubic_aa" => GridInterpolation.BicubicAntialias,
                _ => GridInterpolation.Bilinear,
            };
            string from = parts[^3], to = parts[^1];
            int[] hw = [.. from.Split('x').Select(int.Parse)];
            int[] ohw = [.. to.Split('x').Select(int.Parse)];
            float[] grid = expected.ReadFloat32($"grid_{from}"); // [1, C, h, w]
            int channels = (int)expected.Info($"grid_{from}").Shape[1];
            float[] channelLast = ToChannelLast(grid, channels, hw[0] * hw[1]);

            float[] ours = GridResampler.Resize(channelLast, channels, hw[0], hw[1], ohw[0], ohw[1], mode);

            float[] want = ToChannelLast(expected.ReadFloat32(name), channels, ohw[0] * ohw[1]);
            Assert.That(info.Shape, Is.EqualTo(new long[] { 1, channels, ohw[0], ohw[1] }));
            worst = Math.Max(worst, ours.Zip(want, (a, b) => Math.Abs(a - b)).Max());
            Assert.That(ours, Is.EqualTo(want).Within(2e-6), name);
            checkedCount++;
        }

        TestContext.Out.WriteLine($"{checkedCount} resizes, max |error| {worst:E2}");
        Assert.That(checkedCount, Is.EqualTo(21));
    }

    private static float[] ToChannelLast(float[] chw, int channels, int plane)
    {
        var result = new float[chw.Length];
        for (int c = 0; c < channels; c++)
        {
            for (int i = 0; i < plane; i++)
            {
                result[(i * channels) + c] = chw[(c * plane) + i];
            }
        }

        return result;
    }

    /// <summary>Rewrites one I64 tensor of a safetensors file in place (same length).</summary>
    private static void RewriteInt64(string path, string name, Action<long[]> edit)
    {
        long[] values;
        long offset;
        using (var file = SafeTensorsFile.Open(path))
        {
            values = file.ReadInt64(name);
            byte[] head = File.ReadAllBytes(path)[..8];
            offset = 8 + BitConverter.ToInt64(head) + file.Info(name).Begin;
        }

        edit(values);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write);
        stream.Position = offset;
        stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
    }
}
