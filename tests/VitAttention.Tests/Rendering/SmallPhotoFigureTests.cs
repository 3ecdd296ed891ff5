using SkiaSharp;
using VitAttention.Rendering;

namespace VitAttention.Tests.Rendering;

/// <summary>
/// Single-panel figures of a tiny photo (a 28 × 28 Fashion-MNIST garment) are enlarged to
/// <see cref="FigureOptions.MinSinglePanelSize"/>, so the photo and its map can be read.
/// </summary>
public class SmallPhotoFigureTests
{
    [Test]
    public void ClsOverlay_TinyPhoto_PanelIsThePhotoEnlargedToMinSinglePanelSize()
    {
        using var photo = RandomGreyPhoto(28, 28, seed: 13);
        var map = SyntheticAttention.Layers(3, 1, 7, 7, 2, 1)[0];
        var options = FigureOptions.Default with { Title = "" };
        using var image = Figures.ClsOverlay(photo, new SKRectI(0, 0, 28, 28), map, options);
        using var figure = GoldenImage.ToBitmap(image);
        int margin = (int)options.FontSize, side = options.MinSinglePanelSize;
        Assert.That((figure.Width, figure.Height), Is.EqualTo((side + (2 * margin), side + (2 * margin))));

        // The oracle: the photo enlarged by Skia's own scaler (Mitchell cubic, as for any enlargement), then overlaid.
        using var enlarged = new SKBitmap(new SKImageInfo(side, side, SKColorType.Rgba8888, SKAlphaType.Opaque));
        Assert.That(photo.ScalePixels(enlarged, new SKSamplingOptions(SKCubicResampler.Mitchell)), Is.True);
        using var expected = Overlay.Render(enlarged, new SKRectI(0, 0, side, side), map);
        using var panel = new SKBitmap(expected.Info);
        Assert.That(figure.ExtractSubset(panel, SKRectI.Create(margin, margin, side, side)), Is.True);
        using var panelCopy = GoldenImage.ToRgba(panel);
        var result = GoldenImage.Compare(panelCopy, expected, 3);
        Assert.That(result.DifferingFraction, Is.LessThan(0.01), result.ToString());
    }

    [Test]
    public void RolloutOverlay_WidePhoto_LongSideEnlargedToMinSinglePanelSizeAspectKept()
    {
        using var photo = RandomGreyPhoto(40, 20, seed: 14);
        var map = SyntheticAttention.Layers(4, 1, 2, 4, 2, 1)[0];
        var options = FigureOptions.Default with { Title = "", MinSinglePanelSize = 320 };
        using var image = Figures.RolloutOverlay(photo, new SKRectI(0, 0, 40, 20), map, options);
        int margin = (int)options.FontSize;
        Assert.That((image.Width, image.Height), Is.EqualTo((320 + (2 * margin), 160 + (2 * margin))));
    }

    [Test]
    public void ClsOverlay_MinSinglePanelSizeAboveMax_MaxWins()
    {
        using var photo = RandomGreyPhoto(28, 28, seed: 15);
        var map = SyntheticAttention.Layers(5, 1, 7, 7, 3, 3)[0];
        var options = FigureOptions.Default with { Title = "", MinSinglePanelSize = 600, MaxSinglePanelSize = 200 };
        using var image = Figures.ClsOverlay(photo, new SKRectI(0, 0, 28, 28), map, options);
        int margin = (int)options.FontSize;
        Assert.That((image.Width, image.Height), Is.EqualTo((200 + (2 * margin), 200 + (2 * margin))));
    }

    [TestCase(8)]
    [TestCase(20000)]
    public void Validate_MinSinglePanelSizeOutOfRange_ThrowsNamingIt(int size)
    {
        var options = FigureOptions.Default with { MinSinglePanelSize = size };
        var ex = Assert.Throws<ArgumentException>(options.Validate);
        Assert.That(ex!.Message, Does.Contain("MinSinglePanelSize").And.Contain(size.ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    private static SKBitmap RandomGreyPhoto(int width, int height, int seed)
    {
        var rng = new Random(seed);
        var photo = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var pixels = photo.GetPixelSpan();
        for (int i = 0; i < width * height; i++)
        {
            byte v = (byte)rng.Next(256);
            pixels[4 * i] = v;
            pixels[(4 * i) + 1] = v;
            pixels[(4 * i) + 2] = v;
            pixels[(4 * i) + 3] = 255;
        }

        return photo;
    }
}
