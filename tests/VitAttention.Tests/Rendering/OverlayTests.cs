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

    [Test]
    public void Render_ConstantMap_EverySeenPixelIsPhotoBlendedWithBottomColour()
    {
        using var photo = GoldenImage.Decode(GoldenImage.ImagePath("coffee.png"));
        var options = new OverlayOptions { Alpha = 0.6f, UnseenDimming = 0f };
        using var overlay = Overlay.Render(photo, new SKRectI(0, 0, 600, 400), new AttentionMap(14, 14, Enumerable.Repeat(0.02f, 196).ToArray()), options);
        var bottom = Colormaps.Entry(Colormap.Jet, 0);
        var rng = new Random(43);
        for (int i = 0; i < 500; i++)
        {
            int x = rng.Next(600), y = rng.Next(400);
            var p = photo.GetPixel(x, y);
            var o = overlay.GetPixel(x, y);
            Assert.That((double)o.Red, Is.EqualTo((0.4 * p.Red) + (0.6 * bottom.Red)).Within(0.51), $"({x}, {y})");
            Assert.That((double)o.Green, Is.EqualTo((0.4 * p.Green) + (0.6 * bottom.Green)).Within(0.51), $"({x}, {y})");
            Assert.That((double)o.Blue, Is.EqualTo((0.4 * p.Blue) + (0.6 * bottom.Blue)).Within(0.51), $"({x}, {y})");
        }
    }

    [Test]
    public void Render_OneHotBicubic_OvershootClampedTopColourAtHotCell()
    {
        using var photo = GoldenImage.Decode(GoldenImage.ImagePath("coffee.png"));
        var values = new float[14 * 14];
        values[(7 * 14) + 7] = 1f;
        var options = new OverlayOptions { Alpha = 1f, Upsampling = Upsampling.Bicubic };
        using var overlay = Overlay.Render(photo, new SKRectI(100, 0, 500, 400), new AttentionMap(14, 14, values), options);
        // Cell (7, 7) of a 400 × 400 seen region starting at x = 100 is centred on pixel (100 + 7.5 · 400 / 14, 7.5 · 400 / 14).
        int cx = 100 + (int)(7.5 * 400 / 14), cy = (int)(7.5 * 400 / 14);
        Assert.That(overlay.GetPixel(cx, cy), Is.EqualTo(Colormaps.Entry(Colormap.Jet, 255)));
        // Keys' negative lobes one cell away would be below 0 without the clamp: still the bottom colour.
        Assert.That(overlay.GetPixel(cx + (int)(400 / 14.0 * 1.5), cy), Is.EqualTo(Colormaps.Entry(Colormap.Jet, 0)));
        Assert.That(overlay.GetPixel(110, 10), Is.EqualTo(Colormaps.Entry(Colormap.Jet, 0)));
    }

    [Test]
    public void Render_SingleCellMap_WholeRegionBottomColour()
    {
        using var photo = GoldenImage.Decode(GoldenImage.ImagePath("coffee.png"));
        using var overlay = Overlay.Render(photo, new SKRectI(0, 0, 600, 400), new AttentionMap(1, 1, [0.7f]), new OverlayOptions { Alpha = 1f });
        Assert.That(overlay.GetPixel(0, 0), Is.EqualTo(Colormaps.Entry(Colormap.Jet, 0)));
        Assert.That(overlay.GetPixel(599, 399), Is.EqualTo(Colormaps.Entry(Colormap.Jet, 0)));
    }

    [Test]
    public void Render_UnseenDimming_DarkensOnlyOutsideSeenRegion()
    {
        using var photo = GoldenImage.Decode(GoldenImage.ImagePath("chelsea.png"));
        var options = new OverlayOptions { Alpha = 0f, UnseenDimming = 0.75f };
        using var overlay = Overlay.Render(photo, new SKRectI(75, 0, 375, 300), GoldenMaps.Get("a"), options);
        foreach (var (x, y) in new[] { (0, 0), (74, 150), (375, 299), (450, 10) })
        {
            var p = photo.GetPixel(x, y);
            Assert.That((double)overlay.GetPixel(x, y).Green, Is.EqualTo(p.Green * 0.25).Within(0.51), $"outside ({x}, {y})");
        }

        Assert.That(overlay.GetPixel(75, 150), Is.EqualTo(photo.GetPixel(75, 150)));
        Assert.That(overlay.GetPixel(374, 150), Is.EqualTo(photo.GetPixel(374, 150)));
    }
}
