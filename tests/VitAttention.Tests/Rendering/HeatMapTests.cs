using SkiaSharp;
using VitAttention.Rendering;

namespace VitAttention.Tests.Rendering;

public class HeatMapTests
{
    private static readonly object[] ColormapGoldens =
    [
        new object[] { Colormap.Jet, "heat_jet_bilinear.png" },
        new object[] { Colormap.Viridis, "heat_viridis_bilinear.png" },
        new object[] { Colormap.Inferno, "heat_inferno_bilinear.png" },
        new object[] { Colormap.Turbo, "heat_turbo_bilinear.png" },
        new object[] { Colormap.Grey, "heat_grey_bilinear.png" },
    ];

    [TestCaseSource(nameof(ColormapGoldens))]
    public void Render_EachColormap_MatchesNumpyMatplotlibGolden(Colormap colormap, string golden)
    {
        using var bitmap = HeatMap.Render(GoldenMaps.Get("a"), 160, 120, new OverlayOptions { Colormap = colormap });
        GoldenImage.AssertMatches(bitmap, golden);
    }

    [TestCase(Upsampling.Nearest, "heat_jet_nearest.png")]
    [TestCase(Upsampling.Bicubic, "heat_jet_bicubic.png")]
    public void Render_EachUpsampling_MatchesNumpyGolden(Upsampling upsampling, string golden)
    {
        using var bitmap = HeatMap.Render(GoldenMaps.Get("a"), 160, 120, new OverlayOptions { Upsampling = upsampling });
        GoldenImage.AssertMatches(bitmap, golden);
    }

    [Test]
    public void Render_Clip90Percentile_MatchesNumpyGolden()
    {
        using var bitmap = HeatMap.Render(GoldenMaps.Get("a"), 160, 120, new OverlayOptions { ClipPercentile = 90f });
        GoldenImage.AssertMatches(bitmap, "heat_jet_clip90.png");
    }

    [Test]
    public void Render_NonSquareGrid_MatchesNumpyGoldenRowMajor()
    {
        using var bitmap = HeatMap.Render(GoldenMaps.Get("c"), 150, 90, new OverlayOptions { Colormap = Colormap.Turbo });
        GoldenImage.AssertMatches(bitmap, "heat_turbo_grid7x10.png");
    }

    [Test]
    public void Normalize_RandomMap_MatchesFloat64MinMax()
    {
        var rng = new Random(101);
        var values = Enumerable.Range(0, 14 * 14).Select(_ => (float)(rng.NextDouble() * 0.02)).ToArray();
        var scaled = HeatMap.Normalize(new AttentionMap(14, 14, values));
        double min = values.Min(v => (double)v), max = values.Max(v => (double)v);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.That(scaled[i], Is.EqualTo((values[i] - min) / (max - min)).Within(1e-5), $"cell {i}");
        }

        Assert.That(scaled.Min(), Is.EqualTo(0f));
        Assert.That(scaled.Max(), Is.EqualTo(1f).Within(1e-6));
    }

    [TestCase(0f)]
    [TestCase(0.005102f)]
    [TestCase(-3.5f)]
    [TestCase(1e30f)]
    public void Normalize_ConstantMap_AllZerosNoNaN(float value)
    {
        var scaled = HeatMap.Normalize(new AttentionMap(14, 14, Enumerable.Repeat(value, 196).ToArray()));
        Assert.That(scaled, Is.All.EqualTo(0f));
    }

    [Test]
    public void Normalize_OneHot_OneAtHotCellZeroElsewhere()
    {
        var values = new float[196];
        values[(3 * 14) + 9] = 0.9f;
        var scaled = HeatMap.Normalize(new AttentionMap(14, 14, values));
        Assert.That(scaled[(3 * 14) + 9], Is.EqualTo(1f));
        Assert.That(scaled.Where((_, i) => i != (3 * 14) + 9), Is.All.EqualTo(0f));
    }

    [Test]
    public void Normalize_ClipPercentile_ClipsAtNumpyLinearPercentile()
    {
        // 1..100 shuffled: numpy's linear percentile p is 1 + 99 · p / 100.
        var rng = new Random(7);
        var values = Enumerable.Range(1, 100).Select(v => (float)v).OrderBy(_ => rng.Next()).ToArray();
        var scaled = HeatMap.Normalize(new AttentionMap(10, 10, values), new OverlayOptions { ClipPercentile = 95f });
        double hi = 1 + (99 * 0.95);
        for (int i = 0; i < values.Length; i++)
        {
            double expected = (Math.Min(values[i], hi) - 1) / (hi - 1);
            Assert.That(scaled[i], Is.EqualTo(expected).Within(1e-6), $"value {values[i]}");
        }
    }

    [TestCase(float.NaN)]
    [TestCase(float.PositiveInfinity)]
    [TestCase(float.NegativeInfinity)]
    public void Normalize_NonFiniteValue_ThrowsNamingMapAndCell(float bad)
    {
        var values = new float[12];
        values[7] = bad;
        var layerSix = new AttentionMap(3, 4, values);
        var ex = Assert.Throws<ArgumentException>(() => HeatMap.Normalize(layerSix));
        Assert.That(ex!.Message, Does.Contain("layerSix").And.Contain("row 1, column 3"));
    }

    [Test]
    public void Render_OneHotNearest_HotBlockTopColourRestBottomColour()
    {
        var values = new float[16];
        values[(2 * 4) + 1] = 1f; // row 2, column 1
        using var bitmap = HeatMap.Render(new AttentionMap(4, 4, values), 40, 40, new OverlayOptions { Upsampling = Upsampling.Nearest });
        var top = Colormaps.Entry(Colormap.Jet, 255);
        var bottom = Colormaps.Entry(Colormap.Jet, 0);
        Assert.That(bitmap.GetPixel(15, 25), Is.EqualTo(top));
        Assert.That(bitmap.GetPixel(10, 20), Is.EqualTo(top));
        Assert.That(bitmap.GetPixel(19, 29), Is.EqualTo(top));
        Assert.That(bitmap.GetPixel(20, 25), Is.EqualTo(bottom));
        Assert.That(bitmap.GetPixel(0, 0), Is.EqualTo(bottom));
    }

    [Test]
    public void Render_ConstantMap_EveryPixelBottomColour()
    {
        using var bitmap = HeatMap.Render(new AttentionMap(14, 14, Enumerable.Repeat(0.3f, 196).ToArray()), 33, 21);
        var bottom = Colormaps.Entry(Colormap.Jet, 0);
        for (int y = 0; y < 21; y++)
        {
            for (int x = 0; x < 33; x++)
            {
                Assert.That(bitmap.GetPixel(x, y), Is.EqualTo(bottom));
            }
        }
    }

    [TestCase(Upsampling.Nearest)]
    [TestCase(Upsampling.Bilinear)]
    [TestCase(Upsampling.Bicubic)]
    public void Upsample_SameSize_Identity(Upsampling method)
    {
        var rng = new Random(3);
        var grid = Enumerable.Range(0, 35).Select(_ => (float)rng.NextDouble()).ToArray();
        var result = HeatMap.Upsample(grid, 5, 7, 7, 5, method);
        Assert.That(result, Is.EqualTo(grid).Within(1e-6));
    }

    [TestCase(Upsampling.Bilinear)]
    [TestCase(Upsampling.Bicubic)]
    public void Upsample_LinearRamp_ReproducesRampInInterior(Upsampling method)
    {
        // f(r, c) = 0.3 c − 0.2 r + 1 sampled at cell centres; both kernels reproduce linear functions exactly
        // away from the clamped edges (two grid cells in for bicubic).
        const int gh = 6, gw = 9, w = 90, h = 60;
        var grid = new float[gh * gw];
        for (int r = 0; r < gh; r++)
        {
            for (int c = 0; c < gw; c++)
            {
                grid[(r * gw) + c] = (0.3f * c) - (0.2f * r) + 1f;
            }
        }

        var result = HeatMap.Upsample(grid, gh, gw, w, h, method);
        for (int y = 20; y < 40; y++)
        {
            for (int x = 20; x < 70; x++)
            {
                double u = ((x + 0.5) * gw / w) - 0.5, v = ((y + 0.5) * gh / h) - 0.5;
                Assert.That(result[(y * w) + x], Is.EqualTo((0.3 * u) - (0.2 * v) + 1).Within(1e-5), $"({x}, {y})");
            }
        }
    }

    [Test]
    public void Upsample_Nearest_EachPixelTakesItsPatch()
    {
        var rng = new Random(11);
        var grid = Enumerable.Range(0, 12).Select(_ => (float)rng.NextDouble()).ToArray(); // 3 × 4
        var result = HeatMap.Upsample(grid, 3, 4, 20, 9, Upsampling.Nearest);
        for (int y = 0; y < 9; y++)
        {
            for (int x = 0; x < 20; x++)
            {
                Assert.That(result[(y * 20) + x], Is.EqualTo(grid[(y / 3 * 4) + (x / 5)]));
            }
        }
    }

    [Test]
    public void Upsample_WrongDestinationLength_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => HeatMap.Upsample(new float[4], 2, 2, 3, 3, Upsampling.Bilinear, new float[8]));
        Assert.That(ex!.ParamName, Is.EqualTo("destination"));
    }

    [Test]
    public void OverlayOptions_AlphaOutOfRange_ThrowsNamingAlpha()
    {
        var ex = Assert.Throws<ArgumentException>(() => HeatMap.Normalize(GoldenMaps.Get("a"), new OverlayOptions { Alpha = 1.5f }));
        Assert.That(ex!.Message, Does.Contain("Alpha"));
    }
}
