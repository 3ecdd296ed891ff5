using System.Text.Json.Nodes;
using VitAttention.Models;

namespace VitAttention.Tests.Models;

public class VitConfigLoaderTests
{
    private static string Message(string folder) =>
        Assert.Throws<ModelFormatException>(() => VitConfigLoader.FromFolder(folder))!.Message;

    [Test]
    public void FromFolder_HuggingFaceFixture_ReadsDimsLabelsAndPreprocessing()
    {
        var c = VitConfigLoader.FromFolder(FixturePaths.HfFolder);
        Assert.That(c.Family, Is.EqualTo(ModelFamily.HuggingFace));
        Assert.That((c.ImageHeight, c.ImageWidth, c.PatchSize, c.HiddenSize, c.NumLayers, c.NumHeads, c.IntermediateSize), Is.EqualTo((32, 32, 8, 48, 3, 4, 96)));
        Assert.That(c.LayerNormEps, Is.EqualTo(1e-12));
        Assert.That((c.PrefixTokens, c.Tokens, c.NumClasses), Is.EqualTo((1, 17, 5)));
        Assert.That(c.Labels, Is.EqualTo(new[] { "tabby cat", "coffee mug", "golden retriever", "space shuttle", "espresso" }));
        Assert.That(c.Preprocess.Mean, Is.EqualTo(new[] { 0.5f, 0.5f, 0.5f }));
        Assert.That(c.Preprocess.Resample, Is.EqualTo(ResampleFilter.Bilinear));
        Assert.That(c.Preprocess.RescaleFactor, Is.EqualTo(1f / 255f).Within(1e-9f));
        Assert.That(c.Preprocess.CropPct, Is.Null);
    }

    [Test]
    public void FromFolder_TimmFixture_ReadsModelArgsAndPretrainedCfg()
    {
        var c = VitConfigLoader.FromFolder(FixturePaths.TimmFolder);
        Assert.That(c.Family, Is.EqualTo(ModelFamily.Timm));
        Assert.That((c.ImageHeight, c.PatchSize, c.HiddenSize, c.NumLayers, c.NumHeads, c.IntermediateSize), Is.EqualTo((32, 8, 48, 3, 4, 96)));
        Assert.That(c.LayerNormEps, Is.EqualTo(1e-6));
        Assert.That(c.NumClasses, Is.EqualTo(5));
        Assert.That(c.Labels[2], Is.EqualTo("golden retriever"));
        Assert.That(c.Preprocess.Mean, Is.EqualTo(new[] { 0.485f, 0.456f, 0.406f }));
        Assert.That(c.Preprocess.Std, Is.EqualTo(new[] { 0.229f, 0.224f, 0.225f }));
        Assert.That(c.Preprocess.Resample, Is.EqualTo(ResampleFilter.Bicubic));
        Assert.That(c.Preprocess.CropPct, Is.EqualTo(0.9f));
        Assert.That((c.Pooling, c.NormAfterPooling, c.PositionEmbeddingCoversPrefix), Is.EqualTo((VitPooling.ClassToken, false, true)));
    }

    [Test]
    public void FromFolder_TimmRegisterAvgModelArgs_SetsLayout()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        t.EditConfig(j =>
        {
            var args = j["model_args"]!.AsObject();
            args["reg_tokens"] = 4;
            args["no_embed_class"] = true;
            args["global_pool"] = "avg";
        });
        var c = VitConfigLoader.FromFolder(t.Folder);
        Assert.That((c.PrefixTokens, c.RegisterTokens, c.Tokens, c.PositionEmbeddingRows), Is.EqualTo((5, 4, 21, 16)));
        Assert.That((c.Pooling, c.NormAfterPooling), Is.EqualTo((VitPooling.MeanOfPatches, true)));
    }

    [Test]
    public void FromFolder_TimmNameWithoutModelArgsOrWeights_TakesDimsFromTheName()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        File.Delete(t.WeightsPath); // e.g. the config beside an ONNX export
        File.WriteAllText(t.ConfigPath, """
            {"architecture": "vit_small_patch16_224", "num_classes": 1000,
             "pretrained_cfg": {"input_size": [3, 224, 224], "interpolation": "bicubic", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "crop_pct": 0.9}}
            """);
        var c = VitConfigLoader.FromFolder(t.Folder);
        Assert.That((c.HiddenSize, c.NumHeads, c.NumLayers, c.IntermediateSize, c.PatchSize, c.Tokens), Is.EqualTo((384, 6, 12, 1536, 16, 197)));
    }

    [Test]
    public void FromFolder_TimmNameWithoutModelArgs_HeadsAndFlagsFromTheNameSizesFromTheWeights()
    {
        // The weights are the tiny fixture's (width 48, 3 blocks, MLP 96, patch 8); the name says 6 heads.
        using var t = new TempCheckpoint("tiny-vit-timm");
        File.WriteAllText(t.ConfigPath, """
            {"architecture": "vit_small_patch16_224.augreg_in21k_ft_in1k", "num_classes": 5, "num_features": 48, "global_pool": "token",
             "pretrained_cfg": {"input_size": [3, 32, 32], "interpolation": "bicubic", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "crop_pct": 0.9}}
            """);
        var c = VitConfigLoader.FromFolder(t.Folder);
        Assert.That((c.HiddenSize, c.NumHeads, c.NumLayers, c.IntermediateSize, c.PatchSize, c.Tokens), Is.EqualTo((48, 6, 3, 96, 8, 17)));
        Assert.That((c.LayerNormEps, c.LayerScale, c.PositionEmbeddingCoversPrefix), Is.EqualTo((1e-6, false, true)));
    }

    [Test]
    public void FromFolder_DeitWithTeacher_HasDistillationTokenAndMeanHead()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j =>
        {
            j["model_type"] = "deit";
            j["architectures"] = new JsonArray("DeiTForImageClassificationWithTeacher");
        });
        var c = VitConfigLoader.FromFolder(t.Folder);
        Assert.That((c.PrefixTokens, c.HasDistillationToken, c.Tokens, c.Pooling), Is.EqualTo((2, true, 18, VitPooling.ClassAndDistillationMean)));
    }

    [Test]
    public void FromFolder_HfModelWithoutClassifier_HasNoClasses()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j => j["architectures"] = new JsonArray("ViTModel"));
        var c = VitConfigLoader.FromFolder(t.Folder);
        Assert.That((c.NumClasses, c.Labels.Count), Is.EqualTo((0, 0)));
    }

    [Test]
    public void FromFolder_NoConfigJson_SaysHeadsCannotBeInferred()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        File.Delete(t.ConfigPath);
        string m = Message(t.Folder);
        Assert.That(m, Does.Contain("no config.json"));
        Assert.That(m, Does.Contain("number of attention heads cannot be inferred from the weights"));
    }

    [TestCase("config.json")]
    [TestCase("preprocessor_config.json")]
    public void FromFolder_MalformedJson_NamesTheFile(string file)
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        File.WriteAllText(Path.Combine(t.Folder, file), "{\"hidden_size\": 48,, oops");
        string m = Message(t.Folder);
        Assert.That(m, Does.StartWith(Path.Combine(t.Folder, file) + ": not valid JSON"));
    }

    [Test]
    public void FromFolder_HeadsDoNotDivideWidth_SaysSo()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j => j["num_attention_heads"] = 5);
        Assert.That(Message(t.Folder), Does.Contain("5 attention heads do not divide the hidden size 48"));
    }

    [Test]
    public void FromFolder_TimmHeadsDoNotDivideWidth_SaysSo()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        t.EditConfig(j => j["model_args"]!["num_heads"] = 7);
        Assert.That(Message(t.Folder), Does.Contain("7 attention heads do not divide the hidden size 48"));
    }

    [TestCase("{\"a\": \"x\"}", "id2label key 'a' is not a non-negative integer")]
    [TestCase("{\"0\": \"x\", \"2\": \"y\"}", "id2label has 2 entries but names class 2")]
    [TestCase("{\"0\": 5}", "id2label['0'] must be a string")]
    public void FromFolder_BadId2Label_NamesTheKey(string id2label, string expected)
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j => j["id2label"] = JsonNode.Parse(id2label));
        Assert.That(Message(t.Folder), Does.Contain(expected));
    }

    [Test]
    public void FromFolder_TimmLabelNamesCountDiffers_SaysSo()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        t.EditConfig(j => j["label_names"] = new JsonArray("a", "b"));
        Assert.That(Message(t.Folder), Does.Contain("num_classes is 5 but label_names has 2 entries"));
    }

    [Test]
    public void FromFolder_UnsupportedModelType_NamesIt()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j => j["model_type"] = "swin");
        Assert.That(Message(t.Folder), Does.Contain("model_type 'swin' is not supported"));
    }

    [Test]
    public void FromFolder_WrongTypeForKey_NamesKeyAndValue()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j => j["hidden_size"] = "forty-eight");
        Assert.That(Message(t.Folder), Does.Contain("'hidden_size' must be an integer, got \"forty-eight\""));
    }

    [Test]
    public void FromFolder_PreprocessorSizeDiffersFromImageSize_SaysBoth()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j => j["size"] = new JsonObject { ["height"] = 40, ["width"] = 40 }, "preprocessor_config.json");
        Assert.That(Message(t.Folder), Does.Contain("resizes photos to 40×40 but").And.Contain("image_size is 32×32"));
    }

    [Test]
    public void FromFolder_UnsupportedResample_NamesIt()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j => j["resample"] = 1, "preprocessor_config.json");
        Assert.That(Message(t.Folder), Does.Contain("resample 1 is not supported"));
    }

    [Test]
    public void FromFolder_TimmQkNorm_SaysUnsupported()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        t.EditConfig(j => j["model_args"]!["qk_norm"] = true);
        Assert.That(Message(t.Folder), Does.Contain("qk_norm (QK normalisation) is not supported"));
    }

    [Test]
    public void FromFolder_TimmModelArgsInitValues_IsLayerScale()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        t.EditConfig(j => j["model_args"]!["init_values"] = 1e-5);
        Assert.That(VitConfigLoader.FromFolder(t.Folder).LayerScale, Is.True);
        // The tiny fixture's weights have no ls1.gamma: the weights loader names the missing tensor.
        var config = VitConfigLoader.FromFolder(t.Folder);
        Assert.That(Assert.Throws<ModelFormatException>(() => VitWeights.Load(t.Folder, config))!.Message, Does.Contain("blocks.0.ls1.gamma' is missing"));
    }

    [Test]
    public void FromFolder_UnknownConfigShape_SaysWhichFamiliesAreKnown()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        File.WriteAllText(t.ConfigPath, "{\"foo\": 1}");
        Assert.That(Message(t.Folder), Does.Contain("not a Hugging Face ViT config"));
    }
}
