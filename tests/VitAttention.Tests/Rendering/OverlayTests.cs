using SkiaSharp;
using VitAttention.Rendering;

namespace VitAttention.Tests.Rendering;

public class OverlayTests
{
    [Test]
    public void Render_WholePhotoSeen_MatchesNumpyGolden()
    {
        using var photo = SKBitmap.Decode(GoldenImage.ImagePath("chelsea.png"));
        using var overlay = Overlay.Render(photo, new SKRectI(0, 0, photo.Width, photo.Height), GoldenMaps.Get("a"));
        Assert.That((overlay.Width, overlay.Height), Is.EqualTo((451, 300)));
        GoldenImage.AssertMatches(overlay, "overlay_chelsea_whole_jet.png");
    }

    [Test]
    public void Render_CentreCropSeen_MatchesNumpyGoldenWithDimmedSides()
    {
        using var photo = SKBitmap.Decode(GoldenImage.ImagePath("chelsea.png"));
        var options = new OverlayOptions { Colormap = Colormap.Viridis, Alpha = 0.5f };
        using var overlay = Overlay.Render(photo, new SKRectI(75, 0, 375, 300), GoldenMaps.Get("b"), options);
        GoldenImage.AssertMatches(overlay, "overlay_chelsea_crop_viridis.png");
    }

    [Test]
    public void Render_AlphaZero_ReturnsPhotoUnchanged()
    {
        using var photo = SKBitmap.Decode(GoldenImage.ImagePath("coffee.png"));
        using var overlay = Overlay.Render(photo, new SKRectI(0, 0, photo.Width, photo.Height), GoldenMaps.Get("a"), new OverlayOptions { Alpha = 0f });
        using var expected = GoldenImage.Decode(GoldenImage.ImagePath("coffee.png"));
        var result = GoldenImage.Compare(overlay, expected, 0);
        Assert.That(result.MaxError, Is.EqualTo(0));
    }

    [Test]
    public void Render_AlphaOneOneHot_HotPatchIsTopColourOverPhoto()
    {
        using var photo = SKBitmap.Decode(GoldenImage.ImagePath("coffee.png")); // 600 × 400
        var values = new float[6 * 4];
        values[(1 * 6) + 4] = 5f; // row 1, column 4 → pixels x 400..500, y 100..200
        var options = new OverlayOptions { Alpha = 1f, Upsampling = Upsampling.Nearest, Colormap = Colormap.Inferno };
        using var overlay = Overlay.Render(photo, new SKRectI(0, 0, 600, 400), new AttentionMap(4, 6, values), options);
        Assert.That(overlay.GetPixel(450, 150), Is.EqualTo(Colormaps.Entry(Colormap.Inferno, 255)));
        Assert.That(overlay.GetPixel(399, 150), Is.EqualTo(Colormaps.Entry(Colormap.Inferno, 0)));
        Assert.That(overlay.GetPixel(450, 200), Is.EqualTo(Colormaps.Entry(Colormap.Inferno, 0)));
    }

    [TestCase(-1, 0, 100, 100)]
    [TestCase(0, 0, 452, 300)]
    [TestCase(10, 10, 10, 50)]
    public void Render_SeenRegionNotInsidePhoto_ThrowsNamingRegionAndPhoto(int l, int t, int r, int b)
    {
        using var photo = SKBitmap.Decode(GoldenImage.ImagePath("chelsea.png"));
        var ex = Assert.Throws<ArgumentException>(() => Overlay.Render(photo, new SKRectI(l, t, r, b), GoldenMaps.Get("a")));
        Assert.That(ex!.Message, Does.Contain($"({l}, {t})–({r}, {b})").And.Contain("451×300"));
    }

    [Test]
    public void Render_NaNMap_ThrowsNamingMap()
    {
        using var photo = SKBitmap.Decode(GoldenImage.ImagePath("chelsea.png"));
        var values = GoldenMaps.Get("a").ToArray();
        values[20] = float.NaN;
        var rollout = new AttentionMap(14, 14, values);
        var ex = Assert.Throws<ArgumentException>(() => Overlay.Render(photo, new SKRectI(0, 0, 451, 300), rollout));
        Assert.That(ex!.Message, Does.Contain("rollout").And.Contain("row 1, column 6"));
    }
}
