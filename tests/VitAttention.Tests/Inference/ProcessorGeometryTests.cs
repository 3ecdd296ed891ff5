using System.Text.Json.Nodes;
using VitAttention.Inference;
using VitAttention.Models;
using VitAttention.Tests.Models;

namespace VitAttention.Tests.Inference;

/// <summary>
/// Each reference pipeline's resize-and-crop, read from the checkpoint's own config files, against PIL references made
/// by make_processor_references.py (torchvision's and transformers' arithmetic written out there, PIL's resampling).
/// </summary>
public class ProcessorGeometryTests
{
    /// <summary>A timm checkpoint folder whose pretrained_cfg is replaced (model_args set to the given size).</summary>
    private static TempCheckpoint Timm(int height, int width, double cropPct, int patch = 8)
    {
        var t = new TempCheckpoint("tiny-vit-timm");
        t.EditConfig(j =>
        {
            var args = j["model_args"]!.AsObject();
            args["img_size"] = new JsonArray(height, width);
            args["patch_size"] = patch;
            var cfg = j["pretrained_cfg"]!.AsObject();
            cfg["input_size"] = new JsonArray(3, height, width);
            cfg["crop_pct"] = cropPct;
        });
        return t;
    }

    /// <summary>A Hugging Face checkpoint folder with the given image size and preprocessor_config.json.</summary>
    private static TempCheckpoint Hf(int imageSize, string preprocessor, int patch = 8)
    {
        var t = new TempCheckpoint("tiny-vit-hf");
        t.EditConfig(j =>
        {
            j["image_size"] = imageSize;
            j["patch_size"] = patch;
        });
        File.WriteAllText(Path.Combine(t.Folder, "preprocessor_config.json"), preprocessor);
        return t;
    }

    /// <summary>Preprocesses <paramref name="photo"/> and compares every value with the PIL reference, within one uint8 step.</summary>
    private static PreprocessedImage AssertMatchesReference(VitConfig config, string photo, string reference)
    {
        var preprocessor = new ImagePreprocessor(config);
        (byte[] expected, int ew, int eh) = InferenceTestData.LoadRgb(InferenceTestData.Reference(reference));
        Assert.That((ew, eh), Is.EqualTo((config.ImageWidth, config.ImageHeight)), "the reference is the model's input size");

        PreprocessedImage image = preprocessor.Preprocess(photo);

        int plane = ew * eh;
        double maxError = 0, step = 0;
        for (int c = 0; c < 3; c++)
        {
            step = Math.Max(step, 1.0 / 255 / config.Preprocess.Std[c]);
            for (int i = 0; i < plane; i++)
            {
                double want = ((expected[(i * 3) + c] / 255.0) - config.Preprocess.Mean[c]) / config.Preprocess.Std[c];
                maxError = Math.Max(maxError, Math.Abs(image.Pixels[(c * plane) + i] - want));
            }
        }

        TestContext.Out.WriteLine($"{reference}: max error {maxError} (one uint8 step = {step})");
        Assert.That(maxError, Is.LessThanOrEqualTo(step + 1e-5), $"{reference}: more than one uint8 step from PIL");
        return image;
    }

    [Test]
    public void Preprocess_TimmCropPctOne_ResizesShortSideAndCropsNotSquashes()
    {
        using var t = Timm(224, 224, 1.0, patch: 16);
        var config = VitConfigLoader.FromFolder(t.Folder);
        Assert.That(config.Preprocess.CropPct, Is.EqualTo(1.0f), "crop_pct 1.0 is a crop, not a squash");

        using var image = AssertMatchesReference(config, FixturePaths.Image("chelsea.png"), "timm_chelsea_224_1.0.png");

        // Short side 300 → 224, long side int(224 · 451 / 300) = 336; the model sees x from 56 to 280 of 336.
        Assert.That(ImagePreprocessor.PlanFor(config, 451, 300), Is.EqualTo(new ImagePreprocessor.Plan(336, 224, 56, 0)));
        Assert.That(image.Crop.Left, Is.EqualTo(56 * 451f / 336).Within(1e-3));
        Assert.That(image.Crop.Width, Is.EqualTo(224 * 451f / 336).Within(1e-3));
    }

    [Test]
    public void Preprocess_TimmOddMargin_RoundsHalfToEven()
    {
        // 35 × 32 at size 32, crop_pct 1: margin 3, torchvision's int(round(1.5)) = 2.
        using var t = Timm(32, 32, 1.0);
        var config = VitConfigLoader.FromFolder(t.Folder);
        Assert.That(ImagePreprocessor.PlanFor(config, 35, 32), Is.EqualTo(new ImagePreprocessor.Plan(35, 32, 2, 0)));
        using var image = AssertMatchesReference(config, InferenceTestData.Reference("odd_35x32.input.png"), "timm_odd_35x32_32_1.0.png");
    }

    [Test]
    public void Preprocess_TimmNonSquareInput_KeepsRatioRoundsAndResizesBilinear()
    {
        // input_size 24 × 40 at 0.9: ResizeKeepRatio((26, 44)) → ratio min(300/26, 451/44) → 29 × 44, crop (2, 2).
        using var t = Timm(24, 40, 0.9);
        var config = VitConfigLoader.FromFolder(t.Folder);
        Assert.That(ImagePreprocessor.PlanFor(config, 451, 300), Is.EqualTo(new ImagePreprocessor.Plan(44, 29, 2, 2) { FilterOverride = ResampleFilter.Bilinear }));
        using var image = AssertMatchesReference(config, FixturePaths.Image("chelsea.png"), "timm_keepratio_chelsea_24x40_0.9.png");
    }

    [TestCase(256, 224, "hf_squash_crop_chelsea_256x256_224.png", 16, 16)]
    [TestCase(35, 32, "hf_squash_crop_chelsea_35x35_32.png", 1, 1)] // margin 3: HF floors to 1 (torchvision would round to 2)
    public void Preprocess_HfDeitProcessor_SquashesToSizeThenCropsFloored(int size, int crop, string reference, int left, int top)
    {
        using var t = Hf(crop, $$"""
            {"image_processor_type": "DeiTImageProcessor", "do_resize": true, "size": {"height": {{size}}, "width": {{size}}},
             "resample": 3, "do_center_crop": true, "crop_size": {"height": {{crop}}, "width": {{crop}}},
             "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true,
             "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
            """);
        var config = VitConfigLoader.FromFolder(t.Folder);
        Assert.That(ImagePreprocessor.PlanFor(config, 451, 300), Is.EqualTo(new ImagePreprocessor.Plan(size, size, left, top)),
            "the aspect ratio is not kept: both sides go to the fixed size");

        using var image = AssertMatchesReference(config, FixturePaths.Image("chelsea.png"), reference);
        Assert.That(image.Crop.Left, Is.EqualTo(left * 451f / size).Within(1e-3));
        Assert.That(image.Crop.Top, Is.EqualTo(top * 300f / size).Within(1e-3));
    }

    [TestCase(36, 32, "hf_shortest_chelsea_36_32.png", 54, 11, 2)] // 32 / 36 as a float ratio would give floor(32 / 0.8888889) = 35
    [TestCase(35, 32, "hf_shortest_chelsea_35_32.png", 52, 10, 1)] // vertical margin 3 floors to 1
    public void Preprocess_HfShortestEdgeProcessor_ResizesShortSideExactlyThenCropsFloored(int edge, int crop, string reference, int resizedWidth, int left, int top)
    {
        using var t = Hf(crop, $$"""
            {"image_processor_type": "BitImageProcessor", "do_resize": true, "size": {"shortest_edge": {{edge}}}, "resample": 3,
             "do_center_crop": true, "crop_size": {"height": {{crop}}, "width": {{crop}}}, "do_rescale": true,
             "rescale_factor": 0.00392156862745098, "do_normalize": true,
             "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
            """);
        var config = VitConfigLoader.FromFolder(t.Folder);
        Assert.That(ImagePreprocessor.PlanFor(config, 451, 300), Is.EqualTo(new ImagePreprocessor.Plan(resizedWidth, edge, left, top)));

        using var image = AssertMatchesReference(config, FixturePaths.Image("chelsea.png"), reference);
    }

    [Test]
    public void FromFolder_HfCropLargerThanResize_ThrowsNamingBothSizes()
    {
        using var t = Hf(32, """
            {"size": {"shortest_edge": 30}, "do_center_crop": true, "crop_size": {"height": 32, "width": 32}}
            """);
        var e = Assert.Throws<ModelFormatException>(() => VitConfigLoader.FromFolder(t.Folder))!;
        Assert.That(e.Message, Does.Contain("32×32").And.Contain("30"));
    }

    [Test]
    public void FromFolder_HfShortestEdgeWithoutCrop_ThrowsBecauseTheShapeVaries()
    {
        using var t = Hf(32, """{"size": {"shortest_edge": 32}, "do_center_crop": false}""");
        var e = Assert.Throws<ModelFormatException>(() => VitConfigLoader.FromFolder(t.Folder))!;
        Assert.That(e.Message, Does.Contain("shortest_edge").And.Contain("do_center_crop"));
    }
}
