using VitAttention.Inference;
using VitAttention.Models;

namespace VitAttention.Tests.Inference;

/// <summary>The resampler against PIL 9.4's own output (References/, made by make_references.py).</summary>
public class PilResamplerTests
{
    private static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData("chelsea.png", ResampleFilter.Bilinear, 224, 224).SetName("Shrink_Bilinear_224");
        yield return new TestCaseData("chelsea.png", ResampleFilter.Bicubic, 224, 224).SetName("Shrink_Bicubic_224");
        yield return new TestCaseData("chelsea.png", ResampleFilter.Bilinear, 37, 29).SetName("Shrink_Bilinear_Odd");
        yield return new TestCaseData("chelsea.png", ResampleFilter.Bicubic, 31, 47).SetName("Shrink_Bicubic_Odd");
        yield return new TestCaseData("coffee.png", ResampleFilter.Bilinear, 97, 131).SetName("Mixed_Bilinear");
        yield return new TestCaseData("coffee.png", ResampleFilter.Bicubic, 97, 131).SetName("Mixed_Bicubic");
        yield return new TestCaseData("astronaut.png", ResampleFilter.Bilinear, 61, 61).SetName("Shrink_Bilinear_Square");
        yield return new TestCaseData("astronaut.png", ResampleFilter.Bicubic, 700, 40).SetName("WidenAndShrink_Bicubic");
    }

    [TestCaseSource(nameof(Cases))]
    public void ResizeRgb_Photo_MatchesPil(string photo, ResampleFilter filter, int width, int height)
    {
        (byte[] rgb, int w, int h) = InferenceTestData.LoadRgb(FixturePaths.Image(photo));
        string name = $"resize_{Path.GetFileNameWithoutExtension(photo)}_{filter.ToString().ToLowerInvariant()}_{width}x{height}.png";
        (byte[] expected, int ew, int eh) = InferenceTestData.LoadRgb(InferenceTestData.Reference(name));
        Assert.That((ew, eh), Is.EqualTo((width, height)));

        byte[] actual = PilResampler.ResizeRgb(rgb, w, h, width, height, filter);

        AssertMatchesPil(actual, expected);
    }

    [TestCase(ResampleFilter.Bilinear)]
    [TestCase(ResampleFilter.Bicubic)]
    public void ResizeRgb_Enlarge_MatchesPil(ResampleFilter filter)
    {
        (byte[] rgb, int w, int h) = InferenceTestData.LoadRgb(InferenceTestData.Reference("crop_chelsea_23x17.png"));
        (byte[] expected, _, _) = InferenceTestData.LoadRgb(
            InferenceTestData.Reference($"resize_crop_{filter.ToString().ToLowerInvariant()}_101x77.png"));

        byte[] actual = PilResampler.ResizeRgb(rgb, w, h, 101, 77, filter);

        AssertMatchesPil(actual, expected);
    }

    [TestCase(ResampleFilter.Bilinear)]
    [TestCase(ResampleFilter.Bicubic)]
    public void ResizeRgb_SameSize_ReturnsInput(ResampleFilter filter)
    {
        var random = new Random(7);
        byte[] rgb = new byte[13 * 9 * 3];
        random.NextBytes(rgb);

        byte[] actual = PilResampler.ResizeRgb(rgb, 13, 9, 13, 9, filter);

        Assert.That(actual, Is.EqualTo(rgb));
    }

    [Test]
    public void ResizeRgb_ConstantImage_StaysConstant()
    {
        // Normalised weights sum to 1: a flat image stays flat at any scale (checks normalisation and rounding).
        byte[] rgb = new byte[50 * 30 * 3];
        for (int i = 0; i < rgb.Length; i += 3)
        {
            (rgb[i], rgb[i + 1], rgb[i + 2]) = ((byte)17, (byte)128, (byte)255);
        }

        foreach (ResampleFilter filter in new[] { ResampleFilter.Bilinear, ResampleFilter.Bicubic })
        {
            byte[] actual = PilResampler.ResizeRgb(rgb, 50, 30, 7, 61, filter);
            for (int i = 0; i < actual.Length; i += 3)
            {
                Assert.That((actual[i], actual[i + 1], actual[i + 2]), Is.EqualTo(((byte)17, (byte)128, (byte)255)));
            }
        }
    }

    [TestCase(ResampleFilter.Bilinear)]
    [TestCase(ResampleFilter.Bicubic)]
    public void Resize_PaddedRgbaRows_EqualPackedRgb(ResampleFilter filter)
    {
        // The RGBA path (rows padded, alpha byte ignored) must give what the packed RGB path gives.
        var random = new Random(21);
        int w = 37, h = 23, rowBytes = w * 4 + 12;
        byte[] rgba = new byte[rowBytes * h];
        random.NextBytes(rgba);
        byte[] rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                for (int c = 0; c < 3; c++)
                {
                    rgb[(y * w + x) * 3 + c] = rgba[y * rowBytes + x * 4 + c];
                }
            }
        }

        foreach ((int ow, int oh) in new[] { (11, 7), (37, 50), (80, 23), (37, 23) })
        {
            Assert.That(PilResampler.Resize(rgba, w, h, rowBytes, 4, ow, oh, filter),
                Is.EqualTo(PilResampler.ResizeRgb(rgb, w, h, ow, oh, filter)), $"{ow}×{oh}");
        }
    }

    [Test]
    public void ResizeRgb_WrongLength_Throws()
    {
        Assert.That(() => PilResampler.ResizeRgb(new byte[10], 2, 2, 1, 1, ResampleFilter.Bilinear),
            Throws.ArgumentException.With.Message.Contains("needs 12 bytes"));
    }

    private static void AssertMatchesPil(byte[] actual, byte[] expected)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        int differing = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            differing += actual[i] != expected[i] ? 1 : 0;
        }

        TestContext.Out.WriteLine($"{differing} of {actual.Length} samples differ from PIL");
        // The fixed-point scheme reproduces PIL exactly; the requirement (one uint8 step) is looser.
        Assert.That(InferenceTestData.MaxDifference(actual, expected), Is.LessThanOrEqualTo(1), "more than one uint8 step from PIL");
        Assert.That(differing, Is.Zero, "samples differ from PIL");
    }
}
