using SkiaSharp;
using VitAttention.Analysis;
using VitAttention.Rendering;

namespace VitAttention.Tests.Rendering;

/// <summary>
/// Whole figures. The references under Golden/figure_*.png were drawn by this code once and checked by eye
/// (titles, captions, colour bars readable and uncropped); the structural tests below check what can be checked
/// without a reference: panels equal the overlays, borders are blank, layer numbers are validated.
/// </summary>
public class FiguresTests
{
    private static readonly FigureOptions Small = FigureOptions.Default with { PanelSize = 200, GridPanelSize = 120, MaxSinglePanelSize = 300 };
    private static readonly FigureOptions SmallWithBar = Small with { Overlay = OverlayOptions.Default with { ColorBar = true } };

    private SKBitmap _astronaut = null!;
    private SKBitmap _chelsea = null!;
    private List<AttentionMap> _astronautLayers = null!;
    private List<AttentionMap> _chelseaLayers = null!;

    private static SKRectI ChelseaCrop => new(75, 0, 375, 300);

    private SKRectI AstronautWhole => new(0, 0, _astronaut.Width, _astronaut.Height);

    [OneTimeSetUp]
    public void LoadPhotos()
    {
        _astronaut = SKBitmap.Decode(GoldenImage.ImagePath("astronaut.png"));
        _chelsea = SKBitmap.Decode(GoldenImage.ImagePath("chelsea.png"));
        _astronautLayers = SyntheticAttention.Layers(1, 12, 14, 14, 4, 6);
        _chelseaLayers = SyntheticAttention.Layers(2, 12, 14, 14, 6, 7);
    }

    [OneTimeTearDown]
    public void DisposePhotos()
    {
        _astronaut.Dispose();
        _chelsea.Dispose();
    }

    [Test]
    public void ClsOverlay_WithColorBarAndCaption_MatchesGolden()
    {
        using var image = Figures.ClsOverlay(_astronaut, AstronautWhole, _astronautLayers[^1], SmallWithBar, "Layer 12");
        AssertFigure(image, "figure_cls_overlay.png");
    }

    [Test]
    public void ClsOverlay_CentreCrop_MatchesGolden()
    {
        using var image = Figures.ClsOverlay(_chelsea, ChelseaCrop, _chelseaLayers[^1], Small);
        AssertFigure(image, "figure_cls_overlay_crop.png");
    }

    [Test]
    public void Layers_Default_ShowsLayers1And6And12AndMatchesGolden()
    {
        Assert.That(Figures.DefaultLayerNumbers(12), Is.EqualTo(new[] { 1, 6, 12 }));
        using var image = Figures.Layers(_astronaut, AstronautWhole, _astronautLayers, options: SmallWithBar);
        AssertFigure(image, "figure_layers.png");
    }

    [Test]
    public void Layers_AnySetViridis_MatchesGolden()
    {
        var options = Small with { Overlay = OverlayOptions.Default with { Colormap = Colormap.Viridis } };
        using var image = Figures.Layers(_chelsea, ChelseaCrop, _chelseaLayers, [2, 4, 9, 11], options);
        AssertFigure(image, "figure_layers_any_viridis.png");
    }

    [Test]
    public void LayerGrid_TwelveLayers_MatchesGolden()
    {
        using var image = Figures.LayerGrid(_astronaut, AstronautWhole, _astronautLayers, SmallWithBar);
        AssertFigure(image, "figure_layer_grid.png");
    }

    [Test]
    public void HeadGrid_TwelveHeads_MatchesGolden()
    {
        var heads = SyntheticAttention.Layers(3, 12, 14, 14, 5, 5);
        using var image = Figures.HeadGrid(_astronaut, AstronautWhole, heads, 6, Small);
        AssertFigure(image, "figure_head_grid.png");
    }

    [Test]
    public void FocusedLayers_WithRegion_MatchesGolden()
    {
        var roi = RegionOfInterest.FromRectangle(new SKRectI(150, 40, 330, 260));
        using var image = Figures.FocusedLayers(_astronaut, AstronautWhole, _astronautLayers, 3, roi, SmallWithBar);
        AssertFigure(image, "figure_focused_region.png");
    }

    [Test]
    public void FocusedLayers_ByConcentration_MatchesGolden()
    {
        using var image = Figures.FocusedLayers(_chelsea, ChelseaCrop, _chelseaLayers, options: Small);
        AssertFigure(image, "figure_focused_concentration.png");
    }

    [Test]
    public void RolloutOverlay_InfernoBicubic_MatchesGolden()
    {
        var options = SmallWithBar with { Overlay = SmallWithBar.Overlay with { Colormap = Colormap.Inferno, Upsampling = Upsampling.Bicubic } };
        using var image = Figures.RolloutOverlay(_chelsea, ChelseaCrop, _chelseaLayers[8], options);
        AssertFigure(image, "figure_rollout.png");
    }

    [Test]
    public void SideBySide_OutdoorAndIndoor_MatchesGolden()
    {
        using var outdoor = Figures.Layers(_astronaut, AstronautWhole, _astronautLayers, options: Small with { Title = "" });
        using var indoor = Figures.Layers(_chelsea, ChelseaCrop, _chelseaLayers, options: Small with { Title = "" });
        using var image = Figures.SideBySide(outdoor, "Outdoor (astronaut)", indoor, "Indoor (cat)", Small with { Title = "Layers 1, 6 and 12" });
        AssertFigure(image, "figure_side_by_side.png");
    }

    [Test]
    public void ClsOverlay_NoTitleNoCaption_PanelIsExactlyTheOverlay()
    {
        var options = FigureOptions.Default with { Title = "" };
        using var image = Figures.ClsOverlay(_chelsea, ChelseaCrop, _chelseaLayers[^1], options);
        using var overlay = Overlay.Render(_chelsea, ChelseaCrop, _chelseaLayers[^1]);
        using var figure = GoldenImage.ToBitmap(image);
        int margin = (int)options.FontSize;
        Assert.That((figure.Width, figure.Height), Is.EqualTo((overlay.Width + (2 * margin), overlay.Height + (2 * margin))));
        using var panel = new SKBitmap(overlay.Info);
        Assert.That(figure.ExtractSubset(panel, SKRectI.Create(margin, margin, overlay.Width, overlay.Height)), Is.True);
        using var panelCopy = GoldenImage.ToRgba(panel);
        Assert.That(GoldenImage.Compare(panelCopy, overlay, 0).MaxError, Is.EqualTo(0));
    }

    [Test]
    public void Layers_PanelsAreTheOverlaysAtPanelSize()
    {
        var options = Small with { Title = "" };
        using var image = Figures.Layers(_astronaut, AstronautWhole, _astronautLayers, [3, 7], options);
        using var figure = GoldenImage.ToBitmap(image);
        int margin = (int)options.FontSize, gap = (int)Math.Round(options.FontSize * 0.75f);

        // Each panel: the photo scaled to 200 × 200 (less than half: bilinear with mipmaps), blended with its own layer's map.
        using var small = new SKBitmap(new SKImageInfo(200, 200, SKColorType.Rgba8888, SKAlphaType.Opaque));
        Assert.That(_astronaut.ScalePixels(small, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear)), Is.True);
        int[] layerNumbers = [3, 7];
        for (int p = 0; p < 2; p++)
        {
            using var expected = Overlay.Render(small, new SKRectI(0, 0, 200, 200), _astronautLayers[layerNumbers[p] - 1]);
            using var actual = new SKBitmap(expected.Info);
            Assert.That(figure.ExtractSubset(actual, SKRectI.Create(margin + (p * (200 + gap)), margin, 200, 200)), Is.True);
            using var actualCopy = GoldenImage.ToRgba(actual);
            var result = GoldenImage.Compare(actualCopy, expected, 3);
            Assert.That(result.DifferingFraction, Is.LessThan(0.01), $"panel {p}: {result}");
        }
    }

    [Test]
    public void EveryFigure_BorderIsBlank_NothingCropped()
    {
        var roi = RegionOfInterest.FromRectangle(new SKRectI(0, 0, 512, 512));
        var longCaptions = FigureOptions.Default with { PanelSize = 120, Title = "A deliberately long title that is wider than the three panels below it" };
        SKImage[] figures =
        [
            Figures.ClsOverlay(_astronaut, AstronautWhole, _astronautLayers[^1], SmallWithBar, "Final layer, class token, mean over heads"),
            Figures.Layers(_astronaut, AstronautWhole, _astronautLayers, null, longCaptions),
            Figures.LayerGrid(_chelsea, ChelseaCrop, _chelseaLayers, SmallWithBar),
            Figures.FocusedLayers(_astronaut, AstronautWhole, _astronautLayers, 3, roi, longCaptions with { Title = null }),
            Figures.RolloutOverlay(_chelsea, ChelseaCrop, _chelseaLayers[5], SmallWithBar with { FontSize = 30 }),
        ];
        try
        {
            foreach (var image in figures)
            {
                using var bitmap = GoldenImage.ToBitmap(image);
                ReadOnlySpan<byte> pixels = bitmap.GetPixelSpan(); // [y, x, rgba]
                for (int y = 0; y < bitmap.Height; y++)
                {
                    for (int x = 0; x < bitmap.Width; x++)
                    {
                        bool border = x < 4 || y < 4 || x >= bitmap.Width - 4 || y >= bitmap.Height - 4;
                        int o = (y * bitmap.RowBytes) + (x * 4);
                        if (border && (pixels[o] != 255 || pixels[o + 1] != 255 || pixels[o + 2] != 255))
                        {
                            Assert.Fail($"Pixel ({x}, {y}) of a {bitmap.Width}×{bitmap.Height} figure is not background: something is cropped.");
                        }
                    }
                }
            }
        }

        finally
        {
            foreach (var image in figures)
            {
                image.Dispose();
            }
        }
    }

    [Test]
    public void ClsOverlay_Title_DrawnWithText()
    {
        using var image = Figures.ClsOverlay(_chelsea, ChelseaCrop, _chelseaLayers[^1], Small);
        using var bitmap = GoldenImage.ToBitmap(image);
        int margin = (int)Small.FontSize;
        int dark = 0;
        for (int y = 0; y < margin + 20; y++)
        {
            for (int x = 0; x < bitmap.Width; x++)
            {
                dark += bitmap.GetPixel(x, y).Red < 128 ? 1 : 0;
            }
        }

        Assert.That(dark, Is.GreaterThan(300), "the title row should hold rendered glyphs");
        Assert.That(FigureText.Typeface.FamilyName, Is.EqualTo("DejaVu Sans"));
    }

    [TestCase(0)]
    [TestCase(13)]
    public void Layers_NumberOutOfRange_ThrowsOneBasedMessage(int layer)
    {
        var ex = Assert.Throws<ArgumentException>(() => Figures.Layers(_astronaut, AstronautWhole, _astronautLayers, [1, layer]));
        Assert.That(ex!.Message, Does.Contain($"Layer {layer} does not exist").And.Contain("1..12"));
    }

    [Test]
    public void LayerGrid_NaNInOneLayer_ThrowsNamingLayer()
    {
        var layers = _astronautLayers.ToList();
        var values = layers[2].ToArray();
        values[15] = float.NaN;
        layers[2] = new AttentionMap(14, 14, values);
        var ex = Assert.Throws<ArgumentException>(() => Figures.LayerGrid(_astronaut, AstronautWhole, layers));
        Assert.That(ex!.Message, Does.Contain("layer 3").And.Contain("row 1, column 1"));
    }

    [Test]
    public void FocusedLayers_FocusFromOtherLayerCount_Throws()
    {
        var focus = LayerFocus.Rank(_astronautLayers.Take(6).ToList());
        Assert.Throws<ArgumentException>(() => Figures.FocusedLayers(_astronaut, AstronautWhole, _astronautLayers, focus, null));
    }

    [Test]
    public void Figures_DrawnConcurrently_SameBytesAsSequential()
    {
        byte[] Draw(int i)
        {
            using var image = (i % 3) switch
            {
                0 => Figures.ClsOverlay(_chelsea, ChelseaCrop, _chelseaLayers[i % 12], Small, $"Layer {(i % 12) + 1}"),
                1 => Figures.Layers(_astronaut, AstronautWhole, _astronautLayers, [1, (i % 12) + 1], Small),
                _ => Figures.FocusedLayers(_astronaut, AstronautWhole, _astronautLayers, 2, null, Small),
            };
            return Figures.EncodePng(image);
        }

        var sequential = Enumerable.Range(0, 12).Select(Draw).ToArray();
        var parallel = new byte[12][];
        Parallel.For(0, 12, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => parallel[i] = Draw(i));
        for (int i = 0; i < 12; i++)
        {
            Assert.That(parallel[i], Is.EqualTo(sequential[i]), $"figure {i}");
        }
    }

    [Test]
    public void EncodePng_RoundTrip_SamePixels()
    {
        using var image = Figures.ClsOverlay(_chelsea, ChelseaCrop, _chelseaLayers[^1], Small);
        var bytes = Figures.EncodePng(image);
        Assert.That(bytes.AsSpan(0, 8).ToArray(), Is.EqualTo(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 }));
        using var decoded = SKBitmap.Decode(bytes);
        using var expected = GoldenImage.ToBitmap(image);
        using var actual = GoldenImage.ToRgba(decoded);
        Assert.That(GoldenImage.Compare(actual, expected, 0).MaxError, Is.EqualTo(0));
    }

    [Test]
    public void Save_NewFolderAndOverwrite_WritesCompletePngAndLeavesNoTempFile()
    {
        string folder = Path.Combine(TestContext.CurrentContext.WorkDirectory, "save-test-" + Guid.NewGuid().ToString("N"), "nested");
        string path = Path.Combine(folder, "cls.png");
        try
        {
            using var first = Figures.ClsOverlay(_chelsea, ChelseaCrop, _chelseaLayers[^1], Small);
            Figures.Save(first, path);
            using var second = Figures.RolloutOverlay(_chelsea, ChelseaCrop, _chelseaLayers[3], Small);
            Figures.Save(second, path);

            Assert.That(File.ReadAllBytes(path), Is.EqualTo(Figures.EncodePng(second)));
            Assert.That(Directory.GetFiles(folder), Is.EqualTo(new[] { path }));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true);
        }
    }

    [Test]
    public void Save_FolderIsAFile_ThrowsIOExceptionNamingPath()
    {
        string file = Path.Combine(TestContext.CurrentContext.WorkDirectory, "not-a-folder-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(file, "x");
        try
        {
            using var image = Figures.ClsOverlay(_chelsea, ChelseaCrop, _chelseaLayers[^1], Small);
            var ex = Assert.Throws<IOException>(() => Figures.Save(image, Path.Combine(file, "cls.png")));
            Assert.That(ex!.Message, Does.Contain(Path.GetFileName(file)));
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static void AssertFigure(SKImage image, string golden)
    {
        using var bitmap = GoldenImage.ToBitmap(image);
        // Text is antialiased: allow small differences on a few percent of glyph edge pixels across CPUs.
        GoldenImage.AssertMatches(bitmap, golden, channelTolerance: 6, maxDifferingFraction: 0.01, maxChannelError: 255);
    }
}
