using SkiaSharp;
using VitAttention.Inference;
using VitAttention.Models;

namespace VitAttention.Tests.Inference;

/// <summary>Preprocessing against the fixture's PyTorch/PIL pixel values and PIL's timm-style resize and crop.</summary>
public class ImagePreprocessorTests
{
    [Test]
    public void Preprocess_FixtureInput_MatchesPixelValuesWithinOneStep()
    {
        using SafeTensorsFile expected = SafeTensorsFile.Open(FixturePaths.Expected("tiny-vit-hf"));
        float[] pixelValues = expected.ReadFloat32("pixel_values"); // [2, 3, 32, 32]; item 0 is input.png
        var preprocessor = new ImagePreprocessor(InferenceTestData.TinyHf());

        using PreprocessedImage image = preprocessor.Preprocess(Path.Combine(FixturePaths.HfFolder, "input.png"));

        Assert.That(image.Pixels, Has.Length.EqualTo(3 * 32 * 32));
        double maxError = 0;
        for (int i = 0; i < image.Pixels.Length; i++)
        {
            maxError = Math.Max(maxError, Math.Abs(image.Pixels[i] - pixelValues[i]));
        }

        TestContext.Out.WriteLine($"max |ours − pixel_values[0]| = {maxError}");
        Assert.That(maxError, Is.LessThanOrEqualTo(2.0 / 255 + 1e-6), "more than one uint8 step (2/255 after std 0.5)");
        Assert.That(image.Crop, Is.EqualTo(new SKRect(0, 0, 45, 37)), "a plain resize sees the whole photo");
        Assert.That((image.SourceWidth, image.SourceHeight), Is.EqualTo((45, 37)));
    }

    [Test]
    public void Preprocess_Normalisation_IsRescaleMinusMeanOverStd()
    {
        // A 1×1 photo resizes to a constant image; check every element against the formula in float64.
        var config = InferenceTestData.TinyHf(new PreprocessConfig
        {
            Mean = [0.485f, 0.456f, 0.406f],
            Std = [0.229f, 0.224f, 0.225f],
        });
        var preprocessor = new ImagePreprocessor(config);

        using PreprocessedImage image = preprocessor.Preprocess(InferenceTestData.Odd("one_pixel.png"));

        byte[] rgb = [200, 30, 90];
        for (int c = 0; c < 3; c++)
        {
            double expected = (rgb[c] / 255.0 - config.Preprocess.Mean[c]) / config.Preprocess.Std[c];
            for (int i = 0; i < 32 * 32; i++)
            {
                Assert.That(image.Pixels[c * 1024 + i], Is.EqualTo(expected).Within(1e-5), $"channel {c}, pixel {i}");
            }
        }
    }

    [TestCase(451, 300, 224, 0.9f, 372, 248, 74, 12)]  // chelsea: landscape, long side truncated (372.8 → 372)
    [TestCase(300, 451, 224, 0.9f, 248, 372, 12, 74)]  // portrait
    [TestCase(256, 281, 224, 0.875f, 256, 281, 16, 28)] // (281 − 224) / 2 = 28.5 rounds half to even: 28
    [TestCase(256, 283, 224, 0.875f, 256, 283, 16, 30)] // 29.5 rounds half to even: 30
    [TestCase(600, 400, 64, 0.875f, 109, 73, 22, 4)]   // floor(64 / 0.875) = 73; int(73 · 600 / 400) = 109
    [TestCase(500, 500, 224, 1.0f, 224, 224, 0, 0)]    // crop_pct 1: no margin
    [TestCase(1, 1, 224, 0.95f, 235, 235, 6, 6)]       // floor(224 / 0.95) = 235; 5.5 rounds half to even: 6
    public void PlanFor_Timm_MatchesTorchvisionResizeAndCenterCrop(int photoW, int photoH, int size, float pct,
        int resizedW, int resizedH, int cropX, int cropY)
    {
        // Expected values worked out by hand from torchvision's Resize(int) and CenterCrop formulas.
        var plan = ImagePreprocessor.PlanFor(InferenceTestData.Timm(size, pct, patch: 16), photoW, photoH);

        Assert.That(plan, Is.EqualTo(new ImagePreprocessor.Plan(resizedW, resizedH, cropX, cropY)));
    }

    [TestCase("chelsea.png", 224, 0.9f, "timm_chelsea_224_0.9.png")]
    [TestCase("coffee.png", 64, 0.875f, "timm_coffee_64_0.875.png")]
    public void Preprocess_Timm_MatchesPilResizeAndCentreCrop(string photo, int size, float pct, string reference)
    {
        VitConfig config = InferenceTestData.Timm(size, pct);
        var preprocessor = new ImagePreprocessor(config);
        (byte[] expected, int ew, int eh) = InferenceTestData.LoadRgb(InferenceTestData.Reference(reference));
        Assert.That((ew, eh), Is.EqualTo((size, size)));

        using PreprocessedImage image = preprocessor.Preprocess(FixturePaths.Image(photo));

        double maxError = 0;
        for (int c = 0; c < 3; c++)
        {
            for (int i = 0; i < size * size; i++)
            {
                double want = (expected[i * 3 + c] / 255.0 - config.Preprocess.Mean[c]) / config.Preprocess.Std[c];
                maxError = Math.Max(maxError, Math.Abs(image.Pixels[c * size * size + i] - want));
            }
        }

        Assert.That(maxError, Is.LessThanOrEqualTo(1.0 / 255 / 0.224 + 1e-5), "more than one uint8 step from PIL");
        var plan = ImagePreprocessor.PlanFor(config, image.Photo.Width, image.Photo.Height);
        float sx = (float)image.Photo.Width / plan.ResizedWidth, sy = (float)image.Photo.Height / plan.ResizedHeight;
        Assert.That(image.Crop.Left, Is.EqualTo(plan.CropX * sx).Within(1e-3));
        Assert.That(image.Crop.Top, Is.EqualTo(plan.CropY * sy).Within(1e-3));
        Assert.That(image.Crop.Width, Is.EqualTo(size * sx).Within(1e-3));
        Assert.That(image.Crop.Height, Is.EqualTo(size * sy).Within(1e-3));
        Assert.That(image.Crop.Left, Is.GreaterThan(0f), "a landscape photo is cropped at the sides");
    }

    [Test]
    public void Preprocess_StreamBytesAndBitmap_EqualPath()
    {
        var preprocessor = new ImagePreprocessor(InferenceTestData.TinyHf());
        string path = FixturePaths.Image("chelsea.jpg");
        using PreprocessedImage fromPath = preprocessor.Preprocess(path);
        using FileStream stream = File.OpenRead(path);
        using PreprocessedImage fromStream = preprocessor.Preprocess(stream, "chelsea upload");
        using PreprocessedImage fromBytes = preprocessor.Preprocess(File.ReadAllBytes(path), "chelsea bytes");
        using SKBitmap decoded = preprocessor.Decode(path);
        using PreprocessedImage fromBitmap = preprocessor.Preprocess(decoded, "chelsea bitmap");

        Assert.That(fromStream.Pixels, Is.EqualTo(fromPath.Pixels));
        Assert.That(fromBytes.Pixels, Is.EqualTo(fromPath.Pixels));
        Assert.That(fromBitmap.Pixels, Is.EqualTo(fromPath.Pixels));
        Assert.That(fromStream.Source, Is.EqualTo("chelsea upload"));
    }

    [Test]
    public void PreprocessInto_BatchSlices_EqualSingleImages()
    {
        var preprocessor = new ImagePreprocessor(InferenceTestData.TinyHf());
        int n = preprocessor.InputLength;
        float[] batch = new float[2 * n]; // [batch, channel, height, width]
        using SKBitmap a = preprocessor.Decode(FixturePaths.Image("chelsea.png"));
        using SKBitmap b = preprocessor.Decode(FixturePaths.Image("coffee.png"));

        preprocessor.PreprocessInto(a, batch.AsSpan(0, n));
        preprocessor.PreprocessInto(b, batch.AsSpan(n, n));

        using PreprocessedImage single = preprocessor.Preprocess(FixturePaths.Image("coffee.png"));
        Assert.That(batch.AsSpan(n, n).ToArray(), Is.EqualTo(single.Pixels));
    }

    [Test]
    public void PreprocessInto_ShortDestination_ThrowsArgumentException()
    {
        var preprocessor = new ImagePreprocessor(InferenceTestData.TinyHf());
        using SKBitmap photo = preprocessor.Decode(FixturePaths.Image("chelsea.png"));

        Assert.That(() => preprocessor.PreprocessInto(photo, new float[100]),
            Throws.ArgumentException.With.Message.Contains("needs 3072"));
    }

    [Test]
    public void Preprocess_PremultipliedBitmap_KeepsStoredColourAsPilDoes()
    {
        // A half-transparent pixel: PIL's convert("RGB") keeps the unpremultiplied colour and drops alpha.
        using var bitmap = new SKBitmap(new SKImageInfo(4, 4, SKColorType.Bgra8888, SKAlphaType.Premul));
        bitmap.Erase(new SKColor(200, 100, 50, 128));
        var preprocessor = new ImagePreprocessor(InferenceTestData.TinyHf());

        using PreprocessedImage image = preprocessor.Preprocess(bitmap);

        byte[] rgb = [200, 100, 50];
        for (int c = 0; c < 3; c++)
        {
            // Premultiplying to 8 bits and back loses up to ~2 levels at alpha 128.
            Assert.That(image.Pixels[c * 1024], Is.EqualTo((rgb[c] / 255.0 - 0.5) / 0.5).Within(3 * 2.0 / 255));
        }

        Assert.That(image.Photo.GetPixel(0, 0).Alpha, Is.EqualTo((byte)255));
    }

    [Test]
    public void Constructor_SingleChannelConfig_ThrowsArgumentException()
    {
        VitConfig config = InferenceTestData.TinyHf() with
        {
            Channels = 1,
            Preprocess = new PreprocessConfig { Mean = [0.5f], Std = [0.5f] },
        };

        Assert.That(() => new ImagePreprocessor(config), Throws.ArgumentException.With.Message.Contains("1 channels"));
    }
}
