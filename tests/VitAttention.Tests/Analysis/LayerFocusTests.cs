using SkiaSharp;
using VitAttention.Analysis;

namespace VitAttention.Tests.Analysis;

public class LayerFocusTests
{
    [Test]
    public void CoverageOnGrid_RectangleOnWholeCells_MatchesHandComputation()
    {
        // 64 × 64 photo, 4 × 4 grid of 16-pixel cells. ROI x 8..24, y 8..40: columns 0 and 1 half covered,
        // rows 0 and 2 half covered, row 1 fully.
        var roi = RegionOfInterest.FromRectangle(new SKRectI(8, 8, 24, 40));
        var coverage = roi.CoverageOnGrid(new SKSizeI(64, 64), new SKRectI(0, 0, 64, 64), 4, 4);
        double[] expected =
        [
            0.25, 0.25, 0, 0,
            0.5, 0.5, 0, 0,
            0.25, 0.25, 0, 0,
            0, 0, 0, 0,
        ];
        Assert.That(coverage, Is.EqualTo(expected).Within(1e-12));
    }

    [Test]
    public void CoverageOnGrid_FractionalCellsInCrop_MatchesPixelBruteForce()
    {
        var photo = new SKSizeI(97, 61);
        var seen = new SKRectI(5, 3, 90, 58); // 85 × 55 over a 6 × 7 grid: cells 12.14 × 9.17 pixels
        var rng = new Random(5);
        for (int trial = 0; trial < 20; trial++)
        {
            int l = rng.Next(0, 90), t = rng.Next(0, 55);
            var rect = new SKRectI(l, t, rng.Next(l + 1, 98), rng.Next(t + 1, 62));
            if (!rect.IntersectsWith(seen))
            {
                continue;
            }

            var coverage = RegionOfInterest.FromRectangle(rect).CoverageOnGrid(photo, seen, 6, 7);
            var expected = BruteForceCoverage(photo, seen, 6, 7, (x, y) => rect.Contains(x, y) ? 1.0 : 0.0);
            Assert.That(coverage, Is.EqualTo(expected).Within(1e-9), $"ROI {rect}");
        }
    }

    [Test]
    public void CoverageOnGrid_MaskOfRectangle_EqualsRectangleCoverage()
    {
        var rect = new SKRectI(100, 40, 260, 210);
        using var mask = new SKBitmap(451, 300, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using (var canvas = new SKCanvas(mask))
        {
            canvas.Clear(SKColors.Black);
            using var paint = new SKPaint { Color = SKColors.White, IsAntialias = false };
            canvas.DrawRect(SKRect.Create(rect.Left, rect.Top, rect.Width, rect.Height), paint);
        }

        var seen = new SKRectI(75, 0, 375, 300);
        var fromMask = RegionOfInterest.FromMask(mask).CoverageOnGrid(new SKSizeI(451, 300), seen, 14, 14);
        var fromRect = RegionOfInterest.FromRectangle(rect).CoverageOnGrid(new SKSizeI(451, 300), seen, 14, 14);
        Assert.That(fromMask, Is.EqualTo(fromRect).Within(1e-9));
        Assert.That(RegionOfInterest.FromMask(mask).Rectangle, Is.EqualTo(rect));
    }

    [Test]
    public void CoverageOnGrid_GreyRandomMask_MatchesPixelBruteForce()
    {
        var rng = new Random(17);
        const int w = 50, h = 37;
        var grey = new byte[w * h];
        using var mask = new SKBitmap(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                byte g = (byte)(rng.Next(3) == 0 ? 0 : rng.Next(256));
                grey[(y * w) + x] = g;
                mask.SetPixel(x, y, new SKColor(g, g, g));
            }
        }

        var seen = new SKRectI(4, 2, 47, 35);
        var coverage = RegionOfInterest.FromMask(mask).CoverageOnGrid(new SKSizeI(w, h), seen, 5, 6);
        var expected = BruteForceCoverage(new SKSizeI(w, h), seen, 5, 6, (x, y) => grey[(y * w) + x] / 255.0);
        Assert.That(coverage, Is.EqualTo(expected).Within(1e-6));
    }

    [Test]
    public void RegionMass_RandomMapAndRoi_MatchesFloat64Oracle()
    {
        var rng = new Random(23);
        var values = Enumerable.Range(0, 14 * 14).Select(_ => (float)rng.NextDouble()).ToArray();
        var map = new AttentionMap(14, 14, values);
        var photo = new SKSizeI(451, 300);
        var seen = new SKRectI(75, 0, 375, 300);
        var rect = new SKRectI(130, 37, 301, 250);
        double mass = LayerFocus.RegionMass(map, RegionOfInterest.FromRectangle(rect), photo, seen);

        var coverage = BruteForceCoverage(photo, seen, 14, 14, (x, y) => rect.Contains(x, y) ? 1.0 : 0.0);
        double inside = 0, total = 0;
        for (int i = 0; i < values.Length; i++)
        {
            inside += coverage[i] * values[i];
            total += values[i];
        }

        Assert.That(mass, Is.EqualTo(inside / total).Within(1e-9));
    }

    [Test]
    public void RegionMass_RoiIsWholeSeenRegion_One()
    {
        var rng = new Random(29);
        var map = new AttentionMap(14, 14, Enumerable.Range(0, 196).Select(_ => (float)rng.NextDouble()).ToArray());
        double mass = LayerFocus.RegionMass(map, RegionOfInterest.FromRectangle(0, 0, 224, 224), new SKSizeI(224, 224), new SKRectI(0, 0, 224, 224));
        Assert.That(mass, Is.EqualTo(1).Within(1e-12));
    }

    [Test]
    public void RegionMass_OneHotInsideRoi_OneAndOutside_Zero()
    {
        var values = new float[196];
        values[(5 * 14) + 3] = 0.7f; // cell x 48..64, y 80..96 of a 224 photo
        var map = new AttentionMap(14, 14, values);
        var photo = new SKSizeI(224, 224);
        var seen = new SKRectI(0, 0, 224, 224);
        Assert.That(LayerFocus.RegionMass(map, RegionOfInterest.FromRectangle(new SKRectI(40, 70, 70, 100)), photo, seen), Is.EqualTo(1).Within(1e-12));
        Assert.That(LayerFocus.RegionMass(map, RegionOfInterest.FromRectangle(new SKRectI(64, 70, 100, 100)), photo, seen), Is.EqualTo(0));
    }

    [Test]
    public void Concentration_UniformZero_OneHotOne()
    {
        Assert.That(LayerFocus.Concentration(new AttentionMap(14, 14, Enumerable.Repeat(1f / 196, 196).ToArray())), Is.EqualTo(0).Within(1e-6));
        var oneHot = new float[196];
        oneHot[100] = 0.3f;
        Assert.That(LayerFocus.Concentration(new AttentionMap(14, 14, oneHot)), Is.EqualTo(1).Within(1e-12));
        Assert.That(LayerFocus.Concentration(new AttentionMap(1, 1, [0.4f])), Is.EqualTo(1));
    }

    [Test]
    public void Concentration_RandomMap_MatchesFloat64EntropyInBits()
    {
        var rng = new Random(31);
        var values = Enumerable.Range(0, 14 * 14).Select(_ => (float)Math.Pow(rng.NextDouble(), 4)).ToArray();
        // Oracle in base 2 over sorted probabilities: 1 − H₂(p) / log₂ N.
        double total = values.Sum(v => (double)v);
        double bits = values.Select(v => v / total).OrderBy(p => p).Where(p => p > 0).Sum(p => -p * Math.Log2(p));
        Assert.That(LayerFocus.Concentration(new AttentionMap(14, 14, values)), Is.EqualTo(1 - (bits / Math.Log2(196))).Within(1e-9));
    }

    [Test]
    public void Rank_ByConcentration_AllScoresAndTopKWithTiesToEarlierLayer()
    {
        var rng = new Random(37);
        var layers = new List<AttentionMap>();
        for (int l = 0; l < 12; l++)
        {
            var values = Enumerable.Range(0, 196).Select(_ => (float)(0.5 + rng.NextDouble())).ToArray();
            layers.Add(new AttentionMap(14, 14, values));
        }

        // Layers 4 and 9 (one-based) are identical one-hot maps: tied at 1, layer 4 first; layer 7 is nearly one-hot.
        var oneHot = new float[196];
        oneHot[50] = 1f;
        layers[3] = new AttentionMap(14, 14, oneHot);
        layers[8] = new AttentionMap(14, 14, oneHot);
        var nearly = Enumerable.Repeat(0.001f, 196).ToArray();
        nearly[10] = 1f;
        layers[6] = new AttentionMap(14, 14, nearly);

        var result = LayerFocus.Rank(layers);
        Assert.That(result.Measure, Is.EqualTo(FocusMeasure.Concentration));
        Assert.That(result.Scores, Has.Count.EqualTo(12));
        Assert.That(result.TopLayers, Is.EqualTo(new[] { 4, 9, 7 }));
        for (int l = 0; l < 12; l++)
        {
            Assert.That(result.Scores[l], Is.EqualTo(LayerFocus.Concentration(layers[l])));
        }

        Assert.That(result.ScoreOf(4), Is.EqualTo(1).Within(1e-12));
        Assert.That(result.Describe(4), Is.EqualTo("concentration 1.000"));
        Assert.That(LayerFocus.Rank(layers, topK: 40).TopLayers, Has.Count.EqualTo(12));
    }

    [Test]
    public void Rank_ByRegion_TopLayersAreThoseFocusedInside()
    {
        var rng = new Random(41);
        var photo = new SKSizeI(224, 224);
        var seen = new SKRectI(0, 0, 224, 224);
        var roi = RegionOfInterest.FromRectangle(new SKRectI(0, 0, 112, 112)); // top-left 7 × 7 cells
        var layers = new List<AttentionMap>();
        double[] insideWeight = [1, 1, 5, 1, 1, 9, 1, 1, 1, 1, 1, 3];
        foreach (double weight in insideWeight)
        {
            var values = new float[196];
            for (int i = 0; i < 196; i++)
            {
                bool inside = i / 14 < 7 && i % 14 < 7;
                values[i] = (float)((inside ? weight : 1) * (0.9 + (0.2 * rng.NextDouble())));
            }

            layers.Add(new AttentionMap(14, 14, values));
        }

        var result = LayerFocus.Rank(layers, roi, photo, seen);
        Assert.That(result.Measure, Is.EqualTo(FocusMeasure.RegionMass));
        Assert.That(result.TopLayers, Is.EqualTo(new[] { 6, 3, 12 }));
        Assert.That(result.Scores[5], Is.EqualTo(LayerFocus.RegionMass(layers[5], roi, photo, seen)));
        Assert.That(result.Describe(6), Does.EndWith("% in region"));
    }

    [TestCase(-1, 0, 50, 50)]
    [TestCase(0, 0, 225, 50)]
    [TestCase(200, 200, 230, 260)]
    public void Rank_RoiOutsidePhoto_ThrowsWithRoiAndPhotoSize(int l, int t, int r, int b)
    {
        var layers = new[] { new AttentionMap(2, 2, [0.1f, 0.2f, 0.3f, 0.4f]) };
        var ex = Assert.Throws<ArgumentException>(() =>
            LayerFocus.Rank(layers, RegionOfInterest.FromRectangle(new SKRectI(l, t, r, b)), new SKSizeI(224, 224), new SKRectI(0, 0, 224, 224)));
        Assert.That(ex!.Message, Does.Contain($"({l}, {t})–({r}, {b})").And.Contain("224×224"));
    }

    [TestCase(10, 10, 10, 50)]
    [TestCase(10, 10, 50, 5)]
    public void FromRectangle_Empty_ThrowsWithRoi(int l, int t, int r, int b)
    {
        var ex = Assert.Throws<ArgumentException>(() => RegionOfInterest.FromRectangle(new SKRectI(l, t, r, b)));
        Assert.That(ex!.Message, Does.Contain($"({l}, {t})–({r}, {b})").And.Contain("empty"));
    }

    [Test]
    public void CoverageOnGrid_RoiOutsideCentreCrop_ThrowsSayingModelDidNotSeeIt()
    {
        var roi = RegionOfInterest.FromRectangle(new SKRectI(0, 0, 60, 60));
        var ex = Assert.Throws<ArgumentException>(() => roi.CoverageOnGrid(new SKSizeI(451, 300), new SKRectI(75, 0, 375, 300), 14, 14));
        Assert.That(ex!.Message, Does.Contain("(0, 0)–(60, 60)").And.Contain("451×300").And.Contain("saw"));
    }

    [Test]
    public void FromMask_AllBlackOrWrongSize_Throws()
    {
        using var black = new SKBitmap(20, 10);
        black.Erase(SKColors.Black);
        Assert.That(Assert.Throws<ArgumentException>(() => RegionOfInterest.FromMask(black))!.Message, Does.Contain("20×10"));

        using var mask = new SKBitmap(20, 10);
        mask.Erase(SKColors.White);
        var roi = RegionOfInterest.FromMask(mask);
        var ex = Assert.Throws<ArgumentException>(() => roi.CoverageOnGrid(new SKSizeI(40, 20), new SKRectI(0, 0, 40, 20), 2, 2));
        Assert.That(ex!.Message, Does.Contain("20×10").And.Contain("40×20"));
    }

    [Test]
    public void Rank_NegativeOrNaNValue_ThrowsNamingLayer()
    {
        var good = new AttentionMap(2, 2, [0.1f, 0.2f, 0.3f, 0.4f]);
        var bad = new AttentionMap(2, 2, [0.1f, -0.2f, 0.3f, 0.4f]);
        var nan = new AttentionMap(2, 2, [0.1f, 0.2f, float.NaN, 0.4f]);
        Assert.That(Assert.Throws<ArgumentException>(() => LayerFocus.Rank([good, bad]))!.Message, Does.Contain("layer 2").And.Contain("row 0, column 1"));
        Assert.That(Assert.Throws<ArgumentException>(() => LayerFocus.Rank([nan, good]))!.Message, Does.Contain("layer 1").And.Contain("row 1, column 0"));
        Assert.Throws<ArgumentException>(() => LayerFocus.Rank([new AttentionMap(1, 2, [0f, 0f])]));
        Assert.Throws<ArgumentOutOfRangeException>(() => LayerFocus.Rank([good], topK: 0));
    }

    /// <summary>
    /// Coverage by brute force: every photo pixel inside the seen region adds weight(x, y) × its overlap area
    /// with every cell (each cell's fractional bounds computed independently), divided by the cell area.
    /// </summary>
    private static double[] BruteForceCoverage(SKSizeI photo, SKRectI seen, int gh, int gw, Func<int, int, double> weight)
    {
        var result = new double[gh * gw];
        for (int r = 0; r < gh; r++)
        {
            double top = seen.Top + (seen.Height * (double)r / gh), bottom = seen.Top + (seen.Height * (double)(r + 1) / gh);
            for (int c = 0; c < gw; c++)
            {
                double left = seen.Left + (seen.Width * (double)c / gw), right = seen.Left + (seen.Width * (double)(c + 1) / gw);
                double sum = 0;
                for (int y = (int)Math.Floor(top); y < Math.Min(photo.Height, (int)Math.Ceiling(bottom)); y++)
                {
                    double oy = Math.Max(0, Math.Min(y + 1, bottom) - Math.Max(y, top));
                    for (int x = (int)Math.Floor(left); x < Math.Min(photo.Width, (int)Math.Ceiling(right)); x++)
                    {
                        double ox = Math.Max(0, Math.Min(x + 1, right) - Math.Max(x, left));
                        sum += weight(x, y) * ox * oy;
                    }
                }

                result[(r * gw) + c] = sum / ((right - left) * (bottom - top));
            }
        }

        return result;
    }
}
