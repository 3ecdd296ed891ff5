using VitAttention.Loading;
using VitAttention.Models;

namespace VitAttention.Tests.Models;

public class VitOnnxBuilderTests
{
    private static (float[] Pixels, SafeTensorsFile Expected) Inputs(string fixture)
    {
        var expected = SafeTensorsFile.Open(FixturePaths.Expected(fixture));
        return (expected.ReadFloat32("pixel_values"), expected);
    }

    [TestCase("tiny-vit-hf")]
    [TestCase("tiny-vit-timm")]
    public void Prepare_Fixture_MatchesPyTorchLogitsAndEveryAttention(string fixture)
    {
        var model = CheckpointLoader.Prepare(FixturePaths.Folder(fixture));
        var (pixels, expected) = Inputs(fixture);
        using (expected)
        {
            var outputs = OrtRunner.Run(model.ReadOnnx(), pixels, [2, 3, 32, 32]);
            Assert.That(model.InputName, Is.EqualTo("pixel_values"));
            Assert.That(outputs.Keys, Is.EquivalentTo(new[] { "logits", "attentions.0", "attentions.1", "attentions.2" }));
            Assert.That(outputs["logits"].Shape, Is.EqualTo(new long[] { 2, 5 }));
            Assert.That(outputs["logits"].Data, Is.EqualTo(expected.ReadFloat64("logits")).Within(1e-4));
            for (int l = 0; l < 3; l++)
            {
                var (data, shape) = outputs[PreparedModel.AttentionOutput(l)];
                Assert.That(shape, Is.EqualTo(new long[] { 2, 4, 17, 17 }));
                Assert.That(data, Is.EqualTo(expected.ReadFloat64($"attentions.{l}")).Within(1e-5), $"layer {l}");
            }
        }
    }

    [TestCase("tiny-vit-hf")]
    [TestCase("tiny-vit-timm")]
    public void Prepare_BatchOfTwo_EqualsTwoSingleRuns(string fixture)
    {
        var model = CheckpointLoader.Prepare(FixturePaths.Folder(fixture));
        var (pixels, expected) = Inputs(fixture);
        expected.Dispose();
        var both = OrtRunner.Run(model.ReadOnnx(), pixels, [2, 3, 32, 32]);
        int item = pixels.Length / 2;
        for (int b = 0; b < 2; b++)
        {
            var single = OrtRunner.Run(model.ReadOnnx(), pixels[(b * item)..((b + 1) * item)], [1, 3, 32, 32]);
            foreach (var (name, (data, shape)) in single)
            {
                Assert.That(shape[0], Is.EqualTo(1));
                int length = data.Length;
                Assert.That(data, Is.EqualTo(both[name].Data[(b * length)..((b + 1) * length)]).Within(1e-6), $"{name} item {b}");
            }
        }
    }

    [TestCase("tiny-vit-hf")]
    [TestCase("tiny-vit-timm")]
    public void ReferenceVit_Fixture_MatchesPyTorch(string fixture)
    {
        // The float64 reference used for the variant layouts below must itself agree with PyTorch.
        var config = VitConfigLoader.FromFolder(FixturePaths.Folder(fixture));
        var weights = VitWeights.Load(FixturePaths.Folder(fixture), config);
        var (pixels, expected) = Inputs(fixture);
        using (expected)
        {
            var (logits, attentions) = ReferenceVit.Forward(config, weights, pixels, 2);
            Assert.That(logits, Is.EqualTo(expected.ReadFloat64("logits")).Within(1e-6));
            Assert.That(attentions[2], Is.EqualTo(expected.ReadFloat64("attentions.2")).Within(1e-7));
        }
    }

    private static IEnumerable<TestCaseData> Variants()
    {
        var tiny = new VitConfig
        {
            ImageHeight = 32,
            ImageWidth = 48,
            PatchSize = 8,
            HiddenSize = 24,
            NumLayers = 2,
            NumHeads = 3,
            IntermediateSize = 40,
            NumClasses = 4,
            LayerNormEps = 1e-6,
        };
        yield return new TestCaseData(tiny).SetName("Build_NonSquare32x48ThreeHeads_MatchesFloat64Reference");
        yield return new TestCaseData(tiny with { HasDistillationToken = true, PrefixTokens = 2, Pooling = VitPooling.ClassAndDistillationMean })
            .SetName("Build_DistilledTwoPrefixTokens_MatchesFloat64Reference");
        yield return new TestCaseData(tiny with
        {
            HasClassToken = false,
            RegisterTokens = 2,
            PrefixTokens = 2,
            PositionEmbeddingCoversPrefix = false,
            Pooling = VitPooling.MeanOfPatches,
            NormAfterPooling = true,
            QkvBias = false,
            Channels = 1,
            Preprocess = new PreprocessConfig { Mean = [0.5f], Std = [0.25f] },
        }).SetName("Build_RegistersAvgPoolFcNormNoQkvBiasOneChannel_MatchesFloat64Reference");
        yield return new TestCaseData(tiny with { HasClassToken = true, RegisterTokens = 3, PrefixTokens = 4, PositionEmbeddingCoversPrefix = false, ImageHeight = 16, PatchSize = 4 })
            .SetName("Build_ClassTokenPlusRegistersNoEmbedClassPatch4_MatchesFloat64Reference");
        yield return new TestCaseData(tiny with { LayerScale = true, PreNorm = true, PatchEmbeddingBias = false, Activation = VitActivation.QuickGelu })
            .SetName("Build_LayerScalePreNormNoPatchBiasQuickGelu_MatchesFloat64Reference");
        yield return new TestCaseData(tiny with { Activation = VitActivation.GeluTanh, RegisterTokens = 2, PrefixTokens = 3, RegistersAfterPositionEmbedding = true, Pooling = VitPooling.ClassAndPatchMean })
            .SetName("Build_TanhGeluRegistersAfterPositionsClassAndPatchMean_MatchesFloat64Reference");
        yield return new TestCaseData(tiny with { HasPositionEmbedding = false, RelativePositionBias = RelativePositionBiasKind.PerLayer, LayerScale = true, Pooling = VitPooling.MeanOfPatches, NormAfterPooling = true })
            .SetName("Build_PerLayerRelativeBiasNonSquareGrid_MatchesFloat64Reference");
        yield return new TestCaseData(tiny with { HasPositionEmbedding = false, RelativePositionBias = RelativePositionBiasKind.Shared, ImageHeight = 24, ImageWidth = 40 })
            .SetName("Build_SharedRelativeBias3x5Grid_MatchesFloat64Reference");
    }

    [TestCaseSource(nameof(Variants))]
    public void Build_Variant_MatchesFloat64Reference(VitConfig config)
    {
        var weights = VitWeights.Random(config, seed: 5, std: 0.3f);
        byte[] onnx = VitOnnxBuilder.Build(config, weights);
        var rng = new Random(17);
        const int Batch = 2;
        float[] pixels = [.. Enumerable.Range(0, Batch * config.Channels * config.ImageHeight * config.ImageWidth).Select(_ => (float)((rng.NextDouble() * 2) - 1))];
        var outputs = OrtRunner.Run(onnx, pixels, [Batch, config.Channels, config.ImageHeight, config.ImageWidth]);
        var (logits, attentions) = ReferenceVit.Forward(config, weights, pixels, Batch);

        Assert.That(outputs["logits"].Shape, Is.EqualTo(new long[] { Batch, config.NumClasses }));
        Assert.That(outputs["logits"].Data, Is.EqualTo(logits).Within(1e-4));
        for (int l = 0; l < config.NumLayers; l++)
        {
            var (data, shape) = outputs[PreparedModel.AttentionOutput(l)];
            Assert.That(shape, Is.EqualTo(new long[] { Batch, config.NumHeads, config.Tokens, config.Tokens }));
            Assert.That(data, Is.EqualTo(attentions[l]).Within(1e-5), $"layer {l}");
        }

        // The attention must not be near-uniform, or the comparison would not discriminate.
        Assert.That(attentions[^1].Max(), Is.GreaterThan(3.0 / config.Tokens));
    }

    [Test]
    public void Build_NoClassifier_HasAttentionOutputsOnly()
    {
        var config = new VitConfig { ImageHeight = 16, ImageWidth = 16, PatchSize = 8, HiddenSize = 8, NumLayers = 2, NumHeads = 2, IntermediateSize = 16, NumClasses = 0 };
        var weights = VitWeights.Random(config, seed: 3, std: 0.3f);
        var rng = new Random(4);
        float[] pixels = [.. Enumerable.Range(0, 3 * 16 * 16).Select(_ => (float)rng.NextDouble())];
        var outputs = OrtRunner.Run(VitOnnxBuilder.Build(config, weights), pixels, [1, 3, 16, 16]);
        Assert.That(outputs.Keys, Is.EquivalentTo(new[] { "attentions.0", "attentions.1" }));
        Assert.That(outputs["attentions.1"].Data, Is.EqualTo(ReferenceVit.Forward(config, weights, pixels, 1).Attentions[1]).Within(1e-5));
        Assert.Throws<ArgumentException>(() => VitOnnxBuilder.Build(config, weights, includeAttentions: false));
    }

    [Test]
    public void Build_LogitsOnly_SameLogitsAsWithAttentions()
    {
        var config = new VitConfig { ImageHeight = 16, ImageWidth = 16, PatchSize = 4, HiddenSize = 12, NumLayers = 2, NumHeads = 3, IntermediateSize = 20, NumClasses = 3 };
        var weights = VitWeights.Random(config, seed: 8, std: 0.3f);
        var rng = new Random(9);
        float[] pixels = [.. Enumerable.Range(0, 3 * 16 * 16).Select(_ => (float)rng.NextDouble())];
        var full = OrtRunner.Run(VitOnnxBuilder.Build(config, weights), pixels, [1, 3, 16, 16]);
        var lean = OrtRunner.Run(VitOnnxBuilder.Build(config, weights, includeAttentions: false), pixels, [1, 3, 16, 16]);
        Assert.That(lean.Keys, Is.EquivalentTo(new[] { "logits" }));
        Assert.That(lean["logits"].Data, Is.EqualTo(full["logits"].Data).Within(1e-6));
        Assert.That(lean["logits"].Data, Is.EqualTo(ReferenceVit.Forward(config, weights, pixels, 1).Logits).Within(1e-4));
    }

    [Test]
    public void Build_RandomVitB16_Returns12AttentionTensorsWithRowsSummingToOne()
    {
        var config = VitConfig.VitB16();
        var weights = VitWeights.Random(config, seed: 1);
        Assert.That(weights.ParameterCount, Is.EqualTo(86_567_656)); // timm/HF ViT-B/16 with a 1000-class head
        byte[] onnx = VitOnnxBuilder.Build(config, weights);
        var rng = new Random(2);
        float[] pixels = [.. Enumerable.Range(0, 3 * 224 * 224).Select(_ => (float)((rng.NextDouble() * 2) - 1))];
        var outputs = OrtRunner.Run(onnx, pixels, [1, 3, 224, 224]);
        Assert.That(outputs["logits"].Shape, Is.EqualTo(new long[] { 1, 1000 }));
        for (int l = 0; l < 12; l++)
        {
            var (data, shape) = outputs[$"attentions.{l}"];
            Assert.That(shape, Is.EqualTo(new long[] { 1, 12, 197, 197 }));
            for (int row = 0; row < 12 * 197; row += 97)
            {
                Assert.That(data.AsSpan(row * 197, 197).ToArray().Sum(), Is.EqualTo(1f).Within(1e-4), $"layer {l} row {row}");
            }
        }

        Assert.That(outputs.Count, Is.EqualTo(13));
    }

    [Test]
    public void Random_SameSeed_SameWeights_DifferentSeed_Differs()
    {
        var config = new VitConfig { ImageHeight = 8, ImageWidth = 8, PatchSize = 4, HiddenSize = 8, NumLayers = 1, NumHeads = 2, IntermediateSize = 8, NumClasses = 2 };
        var a = VitWeights.Random(config, 42);
        var b = VitWeights.Random(config, 42);
        var c = VitWeights.Random(config, 43);
        Assert.That(a.Layers[0].QkvWeight, Is.EqualTo(b.Layers[0].QkvWeight));
        Assert.That(a.Layers[0].QkvWeight, Is.Not.EqualTo(c.Layers[0].QkvWeight));
        Assert.That(a.Layers[0].QkvWeight.Max(Math.Abs), Is.LessThanOrEqualTo(0.04f)); // truncated at 2σ
        Assert.That(a.Layers[0].Norm1Weight.Average(), Is.EqualTo(1f).Within(0.05f));
    }

    [Test]
    public void Build_WeightsOfAnotherConfig_ThrowsNamingTheArray()
    {
        var config = new VitConfig { ImageHeight = 8, ImageWidth = 8, PatchSize = 4, HiddenSize = 8, NumLayers = 1, NumHeads = 2, IntermediateSize = 8, NumClasses = 2 };
        var weights = VitWeights.Random(config with { IntermediateSize = 12 }, 1);
        var e = Assert.Throws<ArgumentException>(() => VitOnnxBuilder.Build(config, weights));
        Assert.That(e!.Message, Does.Contain("Layers[0].Fc1Weight has 96 values but the config needs 64"));
    }

    [Test]
    public void Build_InconsistentPrefixLayout_ThrowsNamingTheProperties()
    {
        var config = new VitConfig { ImageHeight = 8, ImageWidth = 8, PatchSize = 4, HiddenSize = 8, NumLayers = 1, NumHeads = 2, IntermediateSize = 8, NumClasses = 2, PrefixTokens = 2 };
        var e = Assert.Throws<ModelFormatException>(() => VitWeights.Random(config, 1));
        Assert.That(e!.Message, Does.Contain("PrefixTokens is 2 but the layout has 1"));
    }
}
