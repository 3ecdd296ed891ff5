using System.Text.Json;
using SkiaSharp;

namespace VitAttention.Tests.Rendering;

/// <summary>
/// Compares rendered images with the committed references in Rendering/Golden/ with a tolerance: a pixel
/// differs when any channel is more than <c>channelTolerance</c> away, and the image fails when more than
/// <c>maxDifferingFraction</c> of its pixels differ or any channel is off by more than <c>maxChannelError</c>.
/// On failure (or a missing reference) the actual image and a difference map are written to the test's work
/// folder for inspection. A failing comparison is fixed in the code, never by replacing the reference.
/// </summary>
internal static class GoldenImage
{
    public static string GoldenDirectory => Path.Combine(TestContext.CurrentContext.TestDirectory, "Rendering", "Golden");

    public static string ImagePath(string name) => Path.Combine(TestContext.CurrentContext.TestDirectory, "Images", name);

    public static void AssertMatches(
        SKBitmap actual, string goldenName, int channelTolerance = 2, double maxDifferingFraction = 0.002, int maxChannelError = 64)
    {
        string path = Path.Combine(GoldenDirectory, goldenName);
        if (!File.Exists(path))
        {
            string written = WriteActual(actual, goldenName);
            Assert.Fail($"No reference image {goldenName}; the actual image is at {written}. Look at it before committing it as a reference.");
        }

        using var expected = Decode(path);
        var result = Compare(actual, expected, channelTolerance);
        if (!result.SameSize || result.DifferingFraction > maxDifferingFraction || result.MaxError > maxChannelError)
        {
            string written = WriteActual(actual, goldenName);
            WriteDiff(actual, expected, goldenName);
            Assert.Fail(
                $"{goldenName}: {result}; allowed {maxDifferingFraction:P2} differing (tolerance {channelTolerance}), max error " +
                $"{maxChannelError}. Actual image: {written}.");
        }

        TestContext.Out.WriteLine($"{goldenName}: {result}");
    }

    /// <summary>Decodes a PNG as opaque Rgba8888.</summary>
    public static SKBitmap Decode(string path)
    {
        using var decoded = SKBitmap.Decode(path) ?? throw new InvalidOperationException($"Cannot decode {path}.");
        return ToRgba(decoded);
    }

    /// <summary>An opaque Rgba8888 copy of a rendered image, so pixels can be read as bytes.</summary>
    public static SKBitmap ToBitmap(SKImage image) =>
        Opaque(image.Width, image.Height, (canvas, sampling) => canvas.DrawImage(image, 0, 0, sampling));

    public static ComparisonResult Compare(SKBitmap actual, SKBitmap expected, int channelTolerance)
    {
        if (actual.Width != expected.Width || actual.Height != expected.Height)
        {
            return new ComparisonResult(false, actual.Width, actual.Height, expected.Width, expected.Height, 1.0, 255, 0, 0);
        }

        int differing = 0, maxError = 0, firstX = -1, firstY = -1;
        using var a = ToRgba(actual);
        using var e = ToRgba(expected);
        ReadOnlySpan<byte> ap = a.GetPixelSpan(), ep = e.GetPixelSpan(); // [y, x, rgba]
        for (int y = 0; y < actual.Height; y++)
        {
            for (int x = 0; x < actual.Width; x++)
            {
                int oa = (y * a.RowBytes) + (x * 4), oe = (y * e.RowBytes) + (x * 4);
                int err = Math.Max(Math.Abs(ap[oa] - ep[oe]), Math.Max(Math.Abs(ap[oa + 1] - ep[oe + 1]), Math.Abs(ap[oa + 2] - ep[oe + 2])));
                maxError = Math.Max(maxError, err);
                if (err > channelTolerance && differing++ == 0)
                {
                    (firstX, firstY) = (x, y);
                }
            }
        }

        return new ComparisonResult(
            true, actual.Width, actual.Height, expected.Width, expected.Height,
            differing / (double)(actual.Width * actual.Height), maxError, firstX, firstY);
    }

    /// <summary>An opaque Rgba8888 copy, so pixels can be read as bytes.</summary>
    public static SKBitmap ToRgba(SKBitmap bitmap) =>
        Opaque(bitmap.Width, bitmap.Height, (canvas, sampling) => canvas.DrawBitmap(bitmap, 0, 0, sampling));

    // A white Rgba8888 canvas of the size, drawn on pixel for pixel (nearest sampling).
    private static SKBitmap Opaque(int width, int height, Action<SKCanvas, SKSamplingOptions> draw)
    {
        var copy = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(copy);
        canvas.Clear(SKColors.White);
        draw(canvas, new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None));
        return copy;
    }

    private static string WriteActual(SKBitmap actual, string goldenName)
    {
        string dir = Path.Combine(TestContext.CurrentContext.WorkDirectory, "golden-actual");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, goldenName);
        using var data = actual.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    private static void WriteDiff(SKBitmap actual, SKBitmap expected, string goldenName)
    {
        if (actual.Width != expected.Width || actual.Height != expected.Height)
        {
            return;
        }

        using var diff = new SKBitmap(actual.Width, actual.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        for (int y = 0; y < actual.Height; y++)
        {
            for (int x = 0; x < actual.Width; x++)
            {
                var a = actual.GetPixel(x, y);
                var e = expected.GetPixel(x, y);
                byte d = (byte)Math.Min(255, 4 * Math.Max(Math.Abs(a.Red - e.Red), Math.Max(Math.Abs(a.Green - e.Green), Math.Abs(a.Blue - e.Blue))));
                diff.SetPixel(x, y, new SKColor(d, d, d));
            }
        }

        WriteActual(diff, "diff_" + goldenName);
    }

    internal readonly record struct ComparisonResult(
        bool SameSize, int ActualWidth, int ActualHeight, int ExpectedWidth, int ExpectedHeight,
        double DifferingFraction, int MaxError, int FirstX, int FirstY)
    {
        public override string ToString() => SameSize
            ? $"{DifferingFraction:P3} of pixels differ, max channel error {MaxError}" + (FirstX >= 0 ? $", first at ({FirstX}, {FirstY})" : "")
            : $"size {ActualWidth}×{ActualHeight}, expected {ExpectedWidth}×{ExpectedHeight}";
    }
}
