using System.Text.Json.Nodes;
using VitAttention.Models;

namespace VitAttention.Tests.Models;

/// <summary>The transcription of timm's registry, and configs that name an architecture without model_args.</summary>
public class TimmArchitecturesTests
{
    // Expected values read off timm's @register_model functions (vision_transformer.py, deit.py).
    [TestCase("deit3_base_patch16_224", 768, 12, 12, 16, true, 1e-6, 0, false, "Gelu", 1e-6)]
    [TestCase("deit3_small_patch16_384", 384, 12, 6, 16, true, 1e-6, 0, false, "Gelu", 1e-6)]
    [TestCase("vit_base_patch14_dinov2", 768, 12, 12, 14, false, 1e-5, 0, false, "Gelu", 1e-6)]
    [TestCase("vit_large_patch14_reg4_dinov2", 1024, 24, 16, 14, true, 1e-5, 4, false, "Gelu", 1e-6)]
    [TestCase("vit_base_patch16_clip_224", 768, 12, 12, 16, false, null, 0, true, "Gelu", 1e-5)]
    [TestCase("vit_base_patch32_clip_quickgelu_224", 768, 12, 12, 32, false, null, 0, true, "QuickGelu", 1e-5)]
    [TestCase("vit_xsmall_patch16_clip_224", 256, 10, 4, 16, false, null, 0, true, "Gelu", 1e-5)]
    [TestCase("vit_base_patch16_224", 768, 12, 12, 16, false, null, 0, false, "Gelu", 1e-6)]
    public void Find_RegisteredName_HasTimmsDimensionsAndFlags(string name, int embed, int depth, int heads, int patch,
        bool noEmbedClass, double? initValues, int registers, bool preNorm, string activation, double eps)
    {
        var a = TimmArchitectures.Find(name + ".some_pretrained_tag")!;
        Assert.That(a, Is.Not.Null);
        Assert.That((a.EmbedDim, a.Depth, a.Heads, a.Patch), Is.EqualTo((embed, depth, heads, patch)));
        Assert.That((a.NoEmbedClass, a.InitValues, a.RegTokens, a.PreNorm, a.Activation, a.Eps), Is.EqualTo((noEmbedClass, initValues, registers, preNorm, Enum.Parse<VitActivation>(activation), eps)));
        Assert.That(a.Unsupported, Is.Null);
    }

    [Test]
    public void Find_GapAndGiantNames_CarryPoolingAndWhyUnsupported()
    {
        var gap = TimmArchitectures.Find("vit_medium_patch16_gap_256")!;
        Assert.That((gap.ClassToken, gap.GlobalPool, gap.FcNorm, gap.QkvBias, gap.InitValues), Is.EqualTo((false, "avg", (bool?)false, false, (double?)1e-6)));
        Assert.That((int)(1408 * TimmArchitectures.Find("vit_giant_patch14_clip_224")!.MlpRatio), Is.EqualTo(6144), "int(1408 · 48/11) as Python computes it");
        Assert.That(TimmArchitectures.Find("vit_giant_patch14_dinov2")!.Unsupported, Does.Contain("SwiGLU"));
        Assert.That(TimmArchitectures.Find("eva02_base_patch14_224"), Is.Null);
    }

    [Test]
    public void FromFolder_UnknownTimmName_ListsTheNamesItKnows()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        t.EditConfig(j =>
        {
            j.Remove("model_args");
            j["architecture"] = "eva02_base_patch14_224.mim_in22k";
        });
        var e = Assert.Throws<ModelFormatException>(() => VitConfigLoader.FromFolder(t.Folder))!;
        Assert.That(e.Message, Does.Contain("'eva02_base_patch14_224.mim_in22k' is not one VitAttention knows"));
        Assert.That(e.Message, Does.Contain("DeiT-III: deit3_small_patch16_224").And.Contain("vit_base_patch14_reg4_dinov2").And.Contain("vit_base_patch16_clip_quickgelu_224"));
        Assert.That(e.Message, Does.Not.Contain("vit_giant_patch14_dinov2,"), "names it cannot build are not offered");
    }

    [Test]
    public void FromFolder_UnsupportedTimmName_SaysWhichPart()
    {
        using var t = new TempCheckpoint("tiny-vit-timm");
        t.EditConfig(j =>
        {
            j.Remove("model_args");
            j["architecture"] = "vit_so400m_patch14_siglip_384";
        });
        var e = Assert.Throws<ModelFormatException>(() => VitConfigLoader.FromFolder(t.Folder))!;
        Assert.That(e.Message, Does.Contain("vit_so400m_patch14_siglip_384").And.Contain("attention pooling"));
    }

    [TestCase("openai", 512, null, 0)]                  // OpenCLIP tower: the head is the image projection
    [TestCase("openai_ft_in1k", 1000, null, 1000)]     // fine-tuned classifier
    [TestCase("laion2b", 5, new[] { "a", "b", "c", "d", "e" }, 5)] // named labels: a classifier
    public void FromFolder_TimmClipTower_HeadIsAProjectionUnlessFineTunedOrLabelled(string tag, int numClasses, string[]? labels, int expectedClasses)
    {
        using var t = new TempCheckpoint(Path.Combine("families", "timm-clip"));
        t.EditConfig(j =>
        {
            j["num_classes"] = numClasses;
            j["pretrained_cfg"]!["tag"] = tag;
            j.Remove("label_names");
            if (labels is not null)
            {
                j["label_names"] = new JsonArray([.. labels.Select(l => (JsonNode)l)]);
            }
        });
        var c = VitConfigLoader.FromFolder(t.Folder);
        Assert.That(c.NumClasses, Is.EqualTo(expectedClasses));
        Assert.That(c.HeadIsProjection, Is.EqualTo(expectedClasses == 0));
    }

    [Test]
    public void Load_TimmClipProjectionHead_IsReadPastAndTheGraphHasNoLogits()
    {
        using var t = new TempCheckpoint(Path.Combine("families", "timm-clip"));
        t.EditConfig(j =>
        {
            j["pretrained_cfg"]!["tag"] = "openai";
            j.Remove("label_names");
        });
        var model = VitAttention.Loading.CheckpointLoader.Prepare(t.Folder);
        Assert.That(model.Config.NumClasses, Is.Zero);
        using var expected = SafeTensorsFile.Open(Path.Combine(FixturePaths.Root, "families", "timm-clip", "expected.safetensors"));
        var outputs = OrtRunner.Run(model.ReadOnnx(), expected.ReadFloat32("pixel_values"), [2, 3, 48, 48]);
        Assert.That(outputs.Keys, Does.Not.Contain("logits"));
        Assert.That(outputs["attentions.1"].Data, Is.EqualTo(expected.ReadFloat64("attentions.1")).Within(1e-5));
    }
}
