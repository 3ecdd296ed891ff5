using SkiaSharp;
using VitAttention.Inference;
using VitAttention.Models;

namespace VitAttention.Tests.Inference;

/// <summary>Paths and loaders for the Inference tests' committed images and PIL references.</summary>
internal static class InferenceTestData
{
    public static string Odd(string file) =>
        Path.Combine(TestContext.CurrentContext.TestDirectory, "Inference", "Images", file);

    public static string Reference(string file) =>
        Path.Combine(TestContext.CurrentContext.TestDirectory, "Inference", "References", file);

    /// <summary>An 8-bit RGB PNG's samples, [height, width, 3], with its size.</summary>
    public static (byte[] Rgb, int Width, int Height) LoadRgb(string path)
    {
        using SKBitmap photo = ImageDecoder.DecodeFile(path, ImageLimits.Default).Photo;
        return (ToRgb(photo), photo.Width, photo.Height);
    }

    /// <summary>A bitmap's RGB samples, [height, width, 3], read pixel by pixel through Skia's own accessor.</summary>
    public static byte[] ToRgb(SKBitmap bitmap)
    {
        var rgb = new byte[bitmap.Width * bitmap.Height * 3];
        for (int y = 0; y < bitmap.Height; y++)
        {
            for (int x = 0; x < bitmap.Width; x++)
            {
                SKColor c = bitmap.GetPixel(x, y);
                int i = (y * bitmap.Width + x) * 3;
                rgb[i] = c.Red;
                rgb[i + 1] = c.Green;
                rgb[i + 2] = c.Blue;
            }
        }

        return rgb;
    }

    /// <summary>The largest absolute difference between two byte arrays of the same length.</summary>
    public static int MaxDifference(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        Assert.That(a.Length, Is.EqualTo(b.Length), "lengths differ");
        int max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        }

        return max;
    }

    /// <summary>The fixture's HF tiny ViT config (32×32, patch 8, mean/std 0.5, bilinear), written out by hand.</summary>
    public static VitConfig TinyHf(PreprocessConfig? preprocess = null) => new()
    {
        ImageHeight = 32,
        ImageWidth = 32,
        PatchSize = 8,
        HiddenSize = 48,
        NumLayers = 3,
        NumHeads = 4,
        IntermediateSize = 96,
        NumClasses = 5,
        Labels = ["tabby cat", "coffee mug", "golden retriever", "space shuttle", "espresso"],
        Preprocess = preprocess ?? PreprocessConfig.HuggingFaceDefault,
    };

    /// <summary>A ViT-B/16-sized config at the given size with a timm resize-and-crop pipeline.</summary>
    public static VitConfig Timm(int size, float cropPct, int patch = 16) => new()
    {
        Family = ModelFamily.Timm,
        ImageHeight = size,
        ImageWidth = size,
        PatchSize = patch,
        HiddenSize = 48,
        NumLayers = 1,
        NumHeads = 4,
        IntermediateSize = 96,
        NumClasses = 0,
        Preprocess = new PreprocessConfig
        {
            Mean = [0.485f, 0.456f, 0.406f],
            Std = [0.229f, 0.224f, 0.225f],
            Resample = ResampleFilter.Bicubic,
            CropPct = cropPct,
        },
    };
}
