using System.Text.Json.Nodes;
using VitAttention.Models;

namespace VitAttention.Tests.Models;

public class VitWeightsTests
{
    private static string LoadMessage(string folder) =>
        Assert.Throws<ModelFormatException>(() => VitWeights.Load(folder, VitConfigLoader.FromFolder(folder)))!.Message;

    [Test]
    public void Load_HuggingFace_FusesQueryKeyValueRowsInOrder()
    {
        var config = VitConfigLoader.FromFolder(FixturePaths.HfFolder);
        var w = VitWeights.Load(FixturePaths.HfFolder, config);
        using var file = SafeTensorsFile.Open(Path.Combine(FixturePaths.HfFolder, "model.safetensors"));
        float[] key = file.ReadFloat32("vit.encoder.layer.1.attention.attention.key.weight");
        float[] valueBias = file.ReadFloat32("vit.encoder.layer.1.attention.attention.value.bias");
        Assert.That(w.Layers[1].QkvWeight.AsSpan(48 * 48, 48 * 48).ToArray(), Is.EqualTo(key));
        Assert.That(w.Layers[1].QkvBias!.AsSpan(96, 48).ToArray(), Is.EqualTo(valueBias));
        Assert.That(w.PositionEmbedding, Has.Length.EqualTo(17 * 48));
        Assert.That(w.ParameterCount, Is.EqualTo(file.Tensors.Values.Sum(t => t.ElementCount)));
    }

    [Test]
    public void Load_MissingHfTensor_NamesIt()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditWeights(w => w.Remove("vit.encoder.layer.1.attention.attention.key.weight"));
        Assert.That(LoadMessage(t.Folder), Does.Contain("tensor 'vit.encoder.layer.1.attention.attention.key.weight' is missing"));
    }

    [Test]
    public void Load_MissingTimmTensor_NamesIt()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        t.EditWeights(w => w.Remove("blocks.2.attn.qkv.weight"));
        Assert.That(LoadMessage(t.Folder), Does.Contain("tensor 'blocks.2.attn.qkv.weight' is missing"));
    }

    [Test]
    public void Load_MissingClassifier_NamesIt()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditWeights(w => w.Remove("classifier.bias"));
        Assert.That(LoadMessage(t.Folder), Does.Contain("tensor 'classifier.bias' is missing"));
    }

    [Test]
    public void Load_HfHiddenSizeDiffersFromTensors_NamesTensorShapeAndConfigValue()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j => j["hidden_size"] = 64);
        string m = LoadMessage(t.Folder);
        Assert.That(m, Does.Contain("tensor 'vit.encoder.layer.0.attention.attention.query.weight' has shape [48, 48]"));
        Assert.That(m, Does.Contain("needs [64, 64] (hidden_size = 64)"));
    }

    [Test]
    public void Load_TimmEmbedDimDiffersFromTensors_NamesTensorShapeAndConfigValue()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        t.EditConfig(j =>
        {
            j["model_args"]!["embed_dim"] = 32;
            j.Remove("num_features");
        });
        string m = LoadMessage(t.Folder);
        Assert.That(m, Does.Contain("tensor 'blocks.0.norm1.weight' has shape [48]"));
        Assert.That(m, Does.Contain("needs [32] (embed_dim = 32)"));
    }

    [Test]
    public void Load_ClassCountDiffers_NamesClassifierAndConfigValue()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j =>
        {
            j["id2label"]!["5"] = "teapot";
            j.Remove("label2id");
        });
        string m = LoadMessage(t.Folder);
        Assert.That(m, Does.Contain("tensor 'classifier.weight' has shape [5, 48]").And.Contain("(id2label / num_labels = 6)"));
    }

    [Test]
    public void Load_MlpRatioDiffers_NamesFc1()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        t.EditConfig(j => j["model_args"]!["mlp_ratio"] = 4.0);
        Assert.That(LoadMessage(t.Folder), Does.Contain("tensor 'blocks.0.mlp.fc1.weight' has shape [96, 48] but").And.Contain("needs [192, 48] (embed_dim × mlp_ratio = 192)"));
    }

    [Test]
    public void Load_FewerLayersInConfig_SaysWhichLayerIsExtra()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        t.EditConfig(j => j["model_args"]!["depth"] = 2);
        Assert.That(LoadMessage(t.Folder), Does.Contain("has tensors of layer 2 ('blocks.2.…') but").And.Contain("says 2 layers (depth)"));
    }

    [Test]
    public void Load_MoreLayersInConfig_NamesTheMissingTensor()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j => j["num_hidden_layers"] = 4);
        Assert.That(LoadMessage(t.Folder), Does.Contain("tensor 'vit.encoder.layer.3.attention.attention.query.weight' is missing"));
    }

    [Test]
    public void Load_PositionCountDiffersFromImageSize_ExplainsTheTokenArithmetic()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        t.EditConfig(j =>
        {
            j["model_args"]!["img_size"] = 40;
            j["pretrained_cfg"]!["input_size"] = new JsonArray(3, 40, 40);
        });
        string m = LoadMessage(t.Folder);
        Assert.That(m, Does.Contain("tensor 'pos_embed' has shape [1, 17, 48], 17 positions, but"));
        Assert.That(m, Does.Contain("5×5 = 25 patches + 1 prefix token(s)").And.Contain("image-size option"));
    }

    [Test]
    public void Load_UnknownExtraTensor_ListsIt()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        t.EditWeights(w => w["blocks.0.ls1.gamma"] = ([48], new float[48]));
        Assert.That(LoadMessage(t.Folder), Does.Contain("1 tensor(s) are not part of the ViT layout").And.Contain("blocks.0.ls1.gamma"));
    }

    [Test]
    public void Load_HfClassifierButConfigWithout_SaysSo()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j => j["architectures"] = new JsonArray("ViTModel"));
        Assert.That(LoadMessage(t.Folder), Does.Contain("has a classifier ('classifier.weight', shape [5, 48])"));
    }

    [Test]
    public void Load_NoWeightsFile_SaysWhatToDownload()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        File.Delete(t.WeightsPath);
        Assert.That(LoadMessage(t.Folder), Does.Contain("no model.safetensors"));
    }

    [Test]
    public void Load_TruncatedWeights_ReportsTheSafetensorsProblem()
    {
        using var t = new TempCheckpoint("tiny-vit-hf");
        byte[] bytes = File.ReadAllBytes(t.WeightsPath);
        File.WriteAllBytes(t.WeightsPath, bytes[..(bytes.Length - 100)]);
        Assert.That(LoadMessage(t.Folder), Does.Contain("not a valid safetensors file"));
    }

    [Test]
    public void Load_DeitTeacherNamesAndBareViTModelNames_MapToTheSameCanonicalWeights()
    {
        // Write one random distilled model under HF DeiT names, load it back, and compare array by array.
        var config = new VitConfig
        {
            ImageHeight = 16, ImageWidth = 16, PatchSize = 8, HiddenSize = 8, NumLayers = 2, NumHeads = 2, IntermediateSize = 12, NumClasses = 3,
            HasDistillationToken = true, PrefixTokens = 2, Pooling = VitPooling.ClassAndDistillationMean,
        };
        var w = VitWeights.Random(config, 21);
        var tensors = new List<(string, long[], float[])>
        {
            ("deit.embeddings.cls_token", [1, 1, 8], w.ClassToken!),
            ("deit.embeddings.distillation_token", [1, 1, 8], w.DistillationToken!),
            ("deit.embeddings.position_embeddings", [1, 6, 8], w.PositionEmbedding!),
            ("deit.embeddings.patch_embeddings.projection.weight", [8, 3, 8, 8], w.PatchWeight),
            ("deit.embeddings.patch_embeddings.projection.bias", [8], w.PatchBias!),
            ("deit.layernorm.weight", [8], w.FinalNormWeight),
            ("deit.layernorm.bias", [8], w.FinalNormBias),
            ("cls_classifier.weight", [3, 8], w.HeadWeight!),
            ("cls_classifier.bias", [3], w.HeadBias!),
            ("distillation_classifier.weight", [3, 8], w.DistillationHeadWeight!),
            ("distillation_classifier.bias", [3], w.DistillationHeadBias!),
        };
        for (int l = 0; l < 2; l++)
        {
            var lw = w.Layers[l];
            string b = $"deit.encoder.layer.{l}.";
            tensors.Add((b + "layernorm_before.weight", [8], lw.Norm1Weight));
            tensors.Add((b + "layernorm_before.bias", [8], lw.Norm1Bias));
            string[] parts = ["query", "key", "value"];
            for (int i = 0; i < 3; i++)
            {
                tensors.Add((b + $"attention.attention.{parts[i]}.weight", [8, 8], lw.QkvWeight[(i * 64)..((i + 1) * 64)]));
                tensors.Add((b + $"attention.attention.{parts[i]}.bias", [8], lw.QkvBias![(i * 8)..((i + 1) * 8)]));
            }

            tensors.Add((b + "attention.output.dense.weight", [8, 8], lw.ProjWeight));
            tensors.Add((b + "attention.output.dense.bias", [8], lw.ProjBias));
            tensors.Add((b + "layernorm_after.weight", [8], lw.Norm2Weight));
            tensors.Add((b + "layernorm_after.bias", [8], lw.Norm2Bias));
            tensors.Add((b + "intermediate.dense.weight", [12, 8], lw.Fc1Weight));
            tensors.Add((b + "intermediate.dense.bias", [12], lw.Fc1Bias));
            tensors.Add((b + "output.dense.weight", [8, 12], lw.Fc2Weight));
            tensors.Add((b + "output.dense.bias", [8], lw.Fc2Bias));
        }

        string folder = FixturePaths.NewTempFolder();
        try
        {
            File.WriteAllText(Path.Combine(folder, "config.json"), """
                {"model_type": "deit", "architectures": ["DeiTForImageClassificationWithTeacher"], "hidden_size": 8, "num_hidden_layers": 2,
                 "num_attention_heads": 2, "intermediate_size": 12, "image_size": 16, "patch_size": 8, "id2label": {"0": "a", "1": "b", "2": "c"}}
                """);
            File.WriteAllBytes(Path.Combine(folder, "model.safetensors"), SafeTensorsWriter.ToBytes(tensors));
            var loadedConfig = VitConfigLoader.FromFolder(folder);
            var loaded = VitWeights.Load(folder, loadedConfig);
            Assert.That(loadedConfig.Tokens, Is.EqualTo(6));
            Assert.That(loaded.DistillationToken, Is.EqualTo(w.DistillationToken));
            Assert.That(loaded.DistillationHeadWeight, Is.EqualTo(w.DistillationHeadWeight));
            Assert.That(loaded.Layers[1].QkvWeight, Is.EqualTo(w.Layers[1].QkvWeight));
            Assert.That(loaded.Layers[1].QkvBias, Is.EqualTo(w.Layers[1].QkvBias));
            Assert.That(loaded.Layers[0].Fc2Weight, Is.EqualTo(w.Layers[0].Fc2Weight));

            // The same encoder saved by a bare DeiTModel/ViTModel has no prefix and no classifier.
            File.WriteAllText(Path.Combine(folder, "config.json"), """
                {"model_type": "deit", "architectures": ["DeiTModel"], "hidden_size": 8, "num_hidden_layers": 2,
                 "num_attention_heads": 2, "intermediate_size": 12, "image_size": 16, "patch_size": 8}
                """);
            File.WriteAllBytes(Path.Combine(folder, "model.safetensors"), SafeTensorsWriter.ToBytes(
                tensors.Where(x => x.Item1.StartsWith("deit.", StringComparison.Ordinal)).Select(x => (x.Item1["deit.".Length..], x.Item2, x.Item3))));
            var bare = VitWeights.Load(folder, VitConfigLoader.FromFolder(folder));
            Assert.That(bare.HeadWeight, Is.Null);
            Assert.That(bare.Layers[0].QkvWeight, Is.EqualTo(w.Layers[0].QkvWeight));
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }
}
