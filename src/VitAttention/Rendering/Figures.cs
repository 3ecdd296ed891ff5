using System.Globalization;
using SkiaSharp;
using VitAttention.Analysis;

namespace VitAttention.Rendering;

/// <summary>
/// Publication figures, each one call: the final-layer CLS overlay, layers side by side, the all-layers and
/// per-head grids, the most focused layers, the rollout overlay, and any two figures side by side. Every
/// figure takes the photo as decoded (any size, EXIF-oriented), the rectangle of it the model saw, and
/// attention maps over the patch grid; it returns an <see cref="SKImage"/> the caller disposes (see
/// <see cref="EncodePng"/> and <see cref="Save"/>). Layer and head numbers are one-based everywhere.
/// </summary>
public static class Figures
{
    /// <summary>Title of <see cref="ClsOverlay"/>.</summary>
    public const string ClsOverlayTitle = "Class Token Attention Overlay";

    /// <summary>Title of <see cref="RolloutOverlay"/>.</summary>
    public const string RolloutTitle = "Attention Rollout";

    /// <summary>Title of <see cref="Layers"/>.</summary>
    public const string LayersTitle = "Class Token Attention by Layer";

    /// <summary>Title of <see cref="LayerGrid"/>.</summary>
    public const string LayerGridTitle = "Class Token Attention, All Layers";

    /// <summary>Label of the colour bar: every panel is min-max scaled on its own.</summary>
    public const string ColorBarLabel = "normalised attention";

    /// <summary>The final layer's CLS attention over the photo, titled "Class Token Attention Overlay".</summary>
    /// <param name="photo">The photo as decoded (EXIF-oriented).</param>
    /// <param name="seenRegion">The rectangle of the photo the model saw (whole photo, or the centre crop).</param>
    /// <param name="finalLayer">The final layer's CLS attention over the patch grid.</param>
    /// <param name="options">Layout and overlay options; null for <see cref="FigureOptions.Default"/>.</param>
    /// <param name="caption">Text under the panel, for example "Layer 12"; null for none.</param>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    /// <exception cref="ArgumentException">The photo, region, map or options are invalid; the message says which.</exception>
    public static SKImage ClsOverlay(
        SKBitmap photo, SKRectI seenRegion, AttentionMap finalLayer, FigureOptions? options = null, string? caption = null) =>
        Single(photo, seenRegion, finalLayer, options, caption, ClsOverlayTitle, "final layer");

    /// <summary>The attention rollout over the photo, titled "Attention Rollout".</summary>
    /// <param name="photo">The photo as decoded (EXIF-oriented).</param>
    /// <param name="seenRegion">The rectangle of the photo the model saw.</param>
    /// <param name="rollout">The rollout's CLS row over the patch grid.</param>
    /// <param name="options">Layout and overlay options; null for <see cref="FigureOptions.Default"/>.</param>
    /// <param name="caption">Text under the panel; null for none.</param>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    /// <exception cref="ArgumentException">The photo, region, map or options are invalid.</exception>
    public static SKImage RolloutOverlay(
        SKBitmap photo, SKRectI seenRegion, AttentionMap rollout, FigureOptions? options = null, string? caption = null) =>
        Single(photo, seenRegion, rollout, options, caption, RolloutTitle, "rollout");

    /// <summary>
    /// The default layers to compare: the first, the middle (⌈L / 2⌉) and the last, one-based; 1, 6 and 12
    /// for a 12-layer model.
    /// </summary>
    /// <param name="layerCount">The model's layer count.</param>
    /// <returns>The layer numbers, ascending, without repeats.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layerCount"/> is not positive.</exception>
    public static IReadOnlyList<int> DefaultLayerNumbers(int layerCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layerCount, 1);
        return new SortedSet<int> { 1, (layerCount + 1) / 2, layerCount }.ToArray();
    }

    /// <summary>Chosen layers' CLS attention side by side, captioned "Layer 1", "Layer 6", ….</summary>
    /// <param name="photo">The photo as decoded (EXIF-oriented).</param>
    /// <param name="seenRegion">The rectangle of the photo the model saw.</param>
    /// <param name="layers">Every layer's CLS attention map, in model order (index 0 = layer 1).</param>
    /// <param name="layerNumbers">One-based layer numbers to show, in order; null for <see cref="DefaultLayerNumbers"/>.</param>
    /// <param name="options">Layout and overlay options; null for <see cref="FigureOptions.Default"/>.</param>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    /// <exception cref="ArgumentException">A layer number is outside 1..L, the list is empty, or an input is invalid.</exception>
    public static SKImage Layers(
        SKBitmap photo, SKRectI seenRegion, IReadOnlyList<AttentionMap> layers, IReadOnlyList<int>? layerNumbers = null,
        FigureOptions? options = null)
    {
        options = Prepare(photo, seenRegion, options);
        ValidateMaps(layers, nameof(layers), "layer");
        layerNumbers ??= DefaultLayerNumbers(layers.Count);
        if (layerNumbers.Count == 0)
        {
            throw new ArgumentException("Give at least one layer number to show.", nameof(layerNumbers));
        }

        foreach (int n in layerNumbers)
        {
            RequireLayer(n, layers.Count, nameof(layerNumbers));
        }

        var panels = layerNumbers.Select(n => (layers[n - 1], (string?)$"Layer {n}")).ToArray();
        return Compose(photo, seenRegion, panels, options, options.PanelSize, options.Columns ?? panels.Length, options.Title ?? LayersTitle, null);
    }

    /// <summary>Every layer's CLS attention in a grid, captioned "Layer 1" … "Layer L".</summary>
    /// <param name="photo">The photo as decoded (EXIF-oriented).</param>
    /// <param name="seenRegion">The rectangle of the photo the model saw.</param>
    /// <param name="layers">Every layer's CLS attention map, in model order (index 0 = layer 1).</param>
    /// <param name="options">Layout and overlay options; null for <see cref="FigureOptions.Default"/>.</param>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    /// <exception cref="ArgumentException">The list is empty or an input is invalid.</exception>
    public static SKImage LayerGrid(SKBitmap photo, SKRectI seenRegion, IReadOnlyList<AttentionMap> layers, FigureOptions? options = null)
    {
        options = Prepare(photo, seenRegion, options);
        ValidateMaps(layers, nameof(layers), "layer");
        var panels = layers.Select((m, i) => (m, (string?)$"Layer {i + 1}")).ToArray();
        return Compose(photo, seenRegion, panels, options, options.GridPanelSize, options.Columns ?? GridColumns(panels.Length),
            options.Title ?? LayerGridTitle, null);
    }

    /// <summary>One layer's CLS attention per head in a grid, captioned "Head 1" … "Head H".</summary>
    /// <param name="photo">The photo as decoded (EXIF-oriented).</param>
    /// <param name="seenRegion">The rectangle of the photo the model saw.</param>
    /// <param name="heads">The layer's CLS attention map of each head, in head order (index 0 = head 1).</param>
    /// <param name="layerNumber">The layer's one-based number, for the title.</param>
    /// <param name="options">Layout and overlay options; null for <see cref="FigureOptions.Default"/>.</param>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    /// <exception cref="ArgumentException">The list is empty, the layer number is not positive, or an input is invalid.</exception>
    public static SKImage HeadGrid(
        SKBitmap photo, SKRectI seenRegion, IReadOnlyList<AttentionMap> heads, int layerNumber, FigureOptions? options = null)
    {
        options = Prepare(photo, seenRegion, options);
        ValidateMaps(heads, nameof(heads), "head");
        if (layerNumber < 1)
        {
            throw new ArgumentException($"Layer numbers are one-based; got {layerNumber}.", nameof(layerNumber));
        }

        var panels = heads.Select((m, i) => (m, (string?)$"Head {i + 1}")).ToArray();
        return Compose(photo, seenRegion, panels, options, options.GridPanelSize, options.Columns ?? GridColumns(panels.Length),
            options.Title ?? $"Layer {layerNumber}: Class Token Attention per Head", null);
    }

    /// <summary>
    /// The most focused layers, best first, each captioned with its score ("Layer 9: 41.2% in region" or
    /// "Layer 9: concentration 0.213"); with a region of interest, its outline (a mask's bounding box) is drawn
    /// on every panel unless <see cref="FigureOptions.ShowRegion"/> is false.
    /// </summary>
    /// <param name="photo">The photo as decoded (EXIF-oriented).</param>
    /// <param name="seenRegion">The rectangle of the photo the model saw.</param>
    /// <param name="layers">Every layer's CLS attention map, in model order (index 0 = layer 1).</param>
    /// <param name="focus">Scores from <see cref="LayerFocus"/> for the same layers.</param>
    /// <param name="options">Layout and overlay options; null for <see cref="FigureOptions.Default"/>.</param>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    /// <exception cref="ArgumentException">The focus result does not belong to these layers, or an input is invalid.</exception>
    public static SKImage FocusedLayers(
        SKBitmap photo, SKRectI seenRegion, IReadOnlyList<AttentionMap> layers, LayerFocusResult focus, FigureOptions? options)
    {
        ArgumentNullException.ThrowIfNull(focus);
        options = Prepare(photo, seenRegion, options);
        ValidateMaps(layers, nameof(layers), "layer");
        if (focus.Scores.Count != layers.Count)
        {
            throw new ArgumentException(
                $"The focus result scores {focus.Scores.Count} layers but {layers.Count} maps were given; rank the same layers.", nameof(focus));
        }

        var panels = focus.TopLayers.Select(n => (layers[n - 1], (string?)$"Layer {n}: {focus.Describe(n)}")).ToArray();
        string title = options.Title ?? (focus.Measure == FocusMeasure.RegionMass
            ? "Most Focused Layers (attention mass in region)"
            : "Most Focused Layers (concentration)");
        SKRectI? outline = options.ShowRegion ? focus.Region?.Rectangle : null;
        return Compose(photo, seenRegion, panels, options, options.PanelSize, options.Columns ?? panels.Length, title, outline);
    }

    /// <summary>
    /// Ranks the layers with <see cref="LayerFocus"/> (by attention mass inside <paramref name="region"/>, or by
    /// concentration when it is null) and draws the top <paramref name="topK"/>; see
    /// <see cref="FocusedLayers(SKBitmap, SKRectI, IReadOnlyList{AttentionMap}, LayerFocusResult, FigureOptions?)"/>.
    /// </summary>
    /// <param name="photo">The photo as decoded (EXIF-oriented).</param>
    /// <param name="seenRegion">The rectangle of the photo the model saw.</param>
    /// <param name="layers">Every layer's CLS attention map, in model order (index 0 = layer 1).</param>
    /// <param name="topK">How many layers to show (default 3; at most the layer count).</param>
    /// <param name="region">The region of interest in photo pixels, or null to rank by concentration.</param>
    /// <param name="options">Layout and overlay options; null for <see cref="FigureOptions.Default"/>.</param>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    /// <exception cref="ArgumentException">The region does not fit the photo, or an input is invalid.</exception>
    public static SKImage FocusedLayers(
        SKBitmap photo, SKRectI seenRegion, IReadOnlyList<AttentionMap> layers, int topK = LayerFocus.DefaultTopK,
        RegionOfInterest? region = null, FigureOptions? options = null)
    {
        SkiaGuard.ThrowIfDisposed(photo, nameof(photo));
        var focus = region is null
            ? LayerFocus.Rank(layers, topK)
            : LayerFocus.Rank(layers, region, new SKSizeI(photo.Width, photo.Height), seenRegion, topK);
        return FocusedLayers(photo, seenRegion, layers, focus, options);
    }

    /// <summary>
    /// Two figures next to each other (for example the same figure for an outdoor and an indoor photo), each
    /// with a caption above it. Both keep their own scale, so their text stays the same size; the shorter one is
    /// top-aligned.
    /// </summary>
    /// <param name="left">The left figure.</param>
    /// <param name="leftCaption">Caption above the left figure, for example "Outdoor".</param>
    /// <param name="right">The right figure.</param>
    /// <param name="rightCaption">Caption above the right figure.</param>
    /// <param name="options">Font size, colours and an optional overall title (<see cref="FigureOptions.Title"/>; none by default).</param>
    /// <returns>A new image; the caller owns it and disposes it (and still owns and disposes <paramref name="left"/> and <paramref name="right"/>).</returns>
    public static SKImage SideBySide(SKImage left, string leftCaption, SKImage right, string rightCaption, FigureOptions? options = null)
    {
        SkiaGuard.ThrowIfDisposed(left, nameof(left));
        SkiaGuard.ThrowIfDisposed(right, nameof(right));
        ArgumentNullException.ThrowIfNull(leftCaption);
        ArgumentNullException.ThrowIfNull(rightCaption);
        options ??= FigureOptions.Default;
        options.Validate();

        var m = Metrics.For(options);
        using var captionFont = FigureText.CreateFont(options.FontSize * 1.2f, bold: true);
        using var titleFont = FigureText.CreateFont(options.FontSize * 1.5f, bold: true);
        string title = options.Title ?? "";
        float captionH = FigureText.LineHeight(captionFont);
        float titleH = title.Length > 0 ? FigureText.LineHeight(titleFont) + m.Gap : 0;
        int gap = 2 * m.Margin;
        int contentW = left.Width + gap + right.Width;
        int width = contentW + (2 * m.Margin);
        if (title.Length > 0)
        {
            width = Math.Max(width, (int)Math.Ceiling(titleFont.MeasureText(title)) + (2 * m.Margin));
        }

        int height = (int)Math.Ceiling(m.Margin + titleH + captionH + Math.Max(left.Height, right.Height) + m.Margin);
        using var surface = CreateSurface(width, height);
        var canvas = surface.Canvas;
        canvas.Clear(options.Background);
        using var text = new SKPaint { Color = options.TextColor, IsAntialias = true };
        float x0 = MathF.Round((width - contentW) / 2f);
        float y = m.Margin;
        if (title.Length > 0)
        {
            canvas.DrawText(title, width / 2f, y + FigureText.Ascent(titleFont), SKTextAlign.Center, titleFont, text);
            y += titleH;
        }

        DrawCaption(canvas, leftCaption, x0 + (left.Width / 2f), y, left.Width, captionFont, text);
        using (var font = FigureText.CreateFont(options.FontSize * 1.2f, bold: true))
        {
            DrawCaption(canvas, rightCaption, x0 + left.Width + gap + (right.Width / 2f), y, right.Width, font, text);
        }

        y = MathF.Round(y + captionH);
        var sampling = new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None);
        canvas.DrawImage(left, x0, y, sampling);
        canvas.DrawImage(right, x0 + left.Width + gap, y, sampling);
        using var separator = new SKPaint { Color = options.TextColor.WithAlpha(60), StrokeWidth = 1, IsAntialias = false };
        float sx = x0 + left.Width + (gap / 2f) + 0.5f;
        canvas.DrawLine(sx, y, sx, y + Math.Max(left.Height, right.Height), separator);
        return surface.Snapshot();
    }

    /// <summary>
    /// Encodes a figure as PNG (lossless). Uses the Paeth filter and zlib level 1, which on the study's figures
    /// encodes much faster than libpng's default for slightly larger files (docs/benchmarks/figures.md).
    /// </summary>
    /// <param name="image">The figure (not disposed).</param>
    /// <returns>The PNG bytes.</returns>
    public static byte[] EncodePng(SKImage image)
    {
        SkiaGuard.ThrowIfDisposed(image, nameof(image));
        using SKData data = EncodePngData(image);
        return data.ToArray();
    }

    /// <summary>The PNG encoding of a figure as native data (the caller disposes it): no managed copy is made.</summary>
    private static SKData EncodePngData(SKImage image)
    {
        var options = new SKPngEncoderOptions(SKPngEncoderFilterFlags.Paeth, 1);
        using var pixmap = image.PeekPixels();
        if (pixmap is not null)
        {
            return pixmap.Encode(options) ?? throw new InvalidOperationException("SkiaSharp could not encode the figure as PNG.");
        }

        using var raster = image.ToRasterImage(ensurePixelData: true);
        using var rasterPixels = raster.PeekPixels();
        return rasterPixels?.Encode(options) ?? image.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException("SkiaSharp could not encode the figure as PNG.");
    }

    /// <summary>
    /// Writes a figure as a PNG file atomically: to a temporary file in the same folder, then renamed over
    /// <paramref name="path"/>, so no reader ever sees a half-written PNG. Creates the folder if needed.
    /// </summary>
    /// <param name="image">The figure (not disposed).</param>
    /// <param name="path">The PNG file to write.</param>
    /// <exception cref="ArgumentException">The path is empty.</exception>
    /// <exception cref="IOException">The file cannot be written; the message names it.</exception>
    public static void Save(SKImage image, string path)
    {
        SkiaGuard.ThrowIfDisposed(image, nameof(image));
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using SKData data = EncodePngData(image);
        // Streamed from Skia's buffer to the file: a long run leaves no large managed arrays behind for the GC.
        SaveStream(stream => data.SaveTo(stream), path);
    }

    /// <summary>Writes what <paramref name="write"/> produces to <paramref name="path"/> atomically, streamed.</summary>
    internal static void SaveStream(Action<Stream> write, string path)
    {
        try
        {
            AtomicFile.Write(path, write);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Could not write the figure to '{Path.GetFullPath(path)}': {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Captioned maps over the photo in one row (or <see cref="FigureOptions.Columns"/> per row), each panel scaled on its
    /// own: the method grid and the class comparison.
    /// </summary>
    internal static SKImage Panels(
        SKBitmap photo, SKRectI seenRegion, IReadOnlyList<(AttentionMap Map, string? Caption)> panels, FigureOptions? options, string title)
    {
        options = Prepare(photo, seenRegion, options);
        ValidateMaps([.. panels.Select(p => p.Map)], nameof(panels), "panel");
        return Compose(photo, seenRegion, panels, options, options.PanelSize, options.Columns ?? (panels.Count <= 4 ? panels.Count : (panels.Count + 1) / 2), options.Title ?? title, null);
    }

    private static SKImage Single(
        SKBitmap photo, SKRectI seenRegion, AttentionMap map, FigureOptions? options, string? caption, string defaultTitle, string mapName)
    {
        ArgumentNullException.ThrowIfNull(map, mapName);
        options = Prepare(photo, seenRegion, options);
        HeatMap.RequireFinite(map, mapName);
        return Compose(photo, seenRegion, [(map, caption)], options, options.MaxSinglePanelSize, 1, options.Title ?? defaultTitle, null, single: true);
    }

    private static FigureOptions Prepare(SKBitmap photo, SKRectI seenRegion, FigureOptions? options)
    {
        options ??= FigureOptions.Default;
        options.Validate();
        Overlay.ValidatePhoto(photo, seenRegion);
        return options;
    }

    private static void ValidateMaps(IReadOnlyList<AttentionMap> maps, string parameter, string noun)
    {
        ArgumentNullException.ThrowIfNull(maps, parameter);
        if (maps.Count == 0)
        {
            throw new ArgumentException($"Give at least one {noun}'s map.", parameter);
        }

        for (int i = 0; i < maps.Count; i++)
        {
            if (maps[i] is null)
            {
                throw new ArgumentException($"The map of {noun} {i + 1} is null.", parameter);
            }

            HeatMap.RequireFinite(maps[i], $"{noun} {i + 1}");
        }
    }

    private static void RequireLayer(int number, int count, string parameter)
    {
        if (number < 1 || number > count)
        {
            throw new ArgumentException(
                $"Layer {number} does not exist: the model has {count} layers, numbered 1..{count} (one-based).", parameter);
        }
    }

    private static int GridColumns(int n) => (int)Math.Ceiling(Math.Sqrt(n));

    private static SKSurface CreateSurface(int width, int height) =>
        SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul))
        ?? throw new InvalidOperationException($"SkiaSharp could not create a {width}×{height} drawing surface.");

    /// <summary>Spacing derived from the font size.</summary>
    private readonly record struct Metrics(int Margin, int Gap, int SmallGap)
    {
        public static Metrics For(FigureOptions o) => new(
            (int)Math.Round(o.FontSize), (int)Math.Round(o.FontSize * 0.75f), (int)Math.Round(o.FontSize * 0.4f));
    }

    /// <summary>
    /// Lays out panels in a grid (title on top, captions under the panels, optional colour bar on the right)
    /// and draws each map over the photo scaled so its long side is <paramref name="panelLongSide"/>.
    /// </summary>
    private static SKImage Compose(
        SKBitmap photo, SKRectI seenRegion, IReadOnlyList<(AttentionMap Map, string? Caption)> panels, FigureOptions options,
        int panelLongSide, int columns, string title, SKRectI? outline, bool single = false)
    {
        var photoSize = new SKSizeI(photo.Width, photo.Height);
        double scale = panelLongSide / (double)Math.Max(photo.Width, photo.Height);
        if (single)
        {
            // Single panels keep the photo's own size unless it is too large, or too small to read.
            int least = Math.Min(options.MinSinglePanelSize, panelLongSide);
            scale = Math.Max(Math.Min(1.0, scale), least / (double)Math.Max(photo.Width, photo.Height));
        }

        int pw = Math.Max(1, (int)Math.Round(photo.Width * scale));
        int ph = Math.Max(1, (int)Math.Round(photo.Height * scale));
        columns = Math.Clamp(columns, 1, panels.Count);
        int rows = (panels.Count + columns - 1) / columns;

        var m = Metrics.For(options);
        using var captionFont = FigureText.CreateFont(options.FontSize);
        using var titleFont = FigureText.CreateFont(options.FontSize * 1.35f, bold: true);
        using var tickFont = FigureText.CreateFont(options.FontSize * 0.8f);
        bool anyCaption = panels.Any(p => !string.IsNullOrEmpty(p.Caption));
        float captionH = anyCaption ? m.SmallGap + FigureText.LineHeight(captionFont) : 0;
        float titleH = title.Length > 0 ? FigureText.LineHeight(titleFont) + m.Gap : 0;

        int gridW = (columns * pw) + ((columns - 1) * m.Gap);
        int cellH = (int)Math.Ceiling(ph + captionH);
        int gridH = (rows * cellH) + ((rows - 1) * m.Gap);

        // Colour bar column: gap, bar, ticks, tick labels, rotated label.
        bool colorBar = options.Overlay.ColorBar;
        int barW = (int)Math.Round(options.FontSize);
        string[] ticks = ["0", "0.5", "1"];
        float tickLabelW = ticks.Max(t => tickFont.MeasureText(t));
        float labelH = FigureText.LineHeight(tickFont);
        int colorBarW = colorBar ? (int)Math.Ceiling(m.Margin + barW + 4 + m.SmallGap + tickLabelW + m.SmallGap + labelH) : 0;

        int contentW = gridW + colorBarW;
        int width = contentW + (2 * m.Margin);
        if (title.Length > 0)
        {
            width = Math.Max(width, (int)Math.Ceiling(titleFont.MeasureText(title)) + (2 * m.Margin));
        }

        int height = (int)Math.Ceiling(m.Margin + titleH + gridH + m.Margin);
        using var surface = CreateSurface(width, height);
        var canvas = surface.Canvas;
        canvas.Clear(options.Background);
        using var textPaint = new SKPaint { Color = options.TextColor, IsAntialias = true };

        float y0 = m.Margin;
        if (title.Length > 0)
        {
            canvas.DrawText(title, width / 2f, y0 + FigureText.Ascent(titleFont), SKTextAlign.Center, titleFont, textPaint);
            y0 += titleH;
        }

        float x0 = (width - contentW) / 2f;
        x0 = MathF.Round(x0);
        y0 = MathF.Round(y0);

        using var scaledPhoto = Overlay.PreparePhoto(photo, pw, ph);
        using var panelBitmap = new SKBitmap(scaledPhoto.Info);
        var sampling = new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None);
        for (int i = 0; i < panels.Count; i++)
        {
            int r = i / columns, c = i % columns;
            float px = x0 + (c * (pw + m.Gap));
            float py = y0 + (r * (cellH + m.Gap));
            Overlay.BlendInto(scaledPhoto, panelBitmap, photoSize, seenRegion, panels[i].Map, options.Overlay);
            canvas.DrawBitmap(panelBitmap, px, py, sampling);

            if (outline is SKRectI roi)
            {
                DrawOutline(canvas, roi, scale, px, py);
            }

            if (!string.IsNullOrEmpty(panels[i].Caption))
            {
                using var font = FigureText.CreateFont(options.FontSize);
                DrawCaption(canvas, panels[i].Caption!, px + (pw / 2f), py + ph + m.SmallGap, pw, font, textPaint);
            }
        }

        if (colorBar)
        {
            float bx = x0 + gridW + m.Margin;
            float barTop = y0;
            float barH = gridH - captionH; // from the top of the first row to the bottom of the last row's image
            DrawColorBar(canvas, options.Overlay.Colormap, bx, barTop, barW, barH, ticks, tickFont, textPaint, m);
        }

        return surface.Snapshot();
    }

    private static void DrawCaption(SKCanvas canvas, string caption, float centreX, float top, float maxWidth, SKFont font, SKPaint paint)
    {
        string text = FigureText.Fit(caption, font, maxWidth);
        canvas.DrawText(text, centreX, top + FigureText.Ascent(font), SKTextAlign.Center, font, paint);
    }

    private static void DrawOutline(SKCanvas canvas, SKRectI roi, double scale, float px, float py)
    {
        var rect = new SKRect(
            px + (float)(roi.Left * scale), py + (float)(roi.Top * scale), px + (float)(roi.Right * scale), py + (float)(roi.Bottom * scale));
        using var dark = new SKPaint { Color = new SKColor(0, 0, 0, 200), IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = 4 };
        using var light = new SKPaint { Color = SKColors.White, IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = 2 };
        rect.Inflate(-1, -1);
        canvas.DrawRect(rect, dark);
        canvas.DrawRect(rect, light);
    }

    private static void DrawColorBar(
        SKCanvas canvas, Colormap colormap, float x, float top, float barW, float barH, string[] ticks, SKFont tickFont, SKPaint textPaint,
        Metrics m)
    {
        // The bar: one row of the table per table entry, 1 at the top, 0 at the bottom.
        using var bar = new SKBitmap(new SKImageInfo(1, Colormaps.Size, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int i = 0; i < Colormaps.Size; i++)
        {
            bar.SetPixel(0, Colormaps.Size - 1 - i, Colormaps.Entry(colormap, i));
        }

        var rect = SKRect.Create(x, top, barW, barH);
        canvas.DrawBitmap(bar, rect, new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None));
        using var line = new SKPaint { Color = textPaint.Color, IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = 1 };
        canvas.DrawRect(rect, line);

        float capHalf = FigureText.Ascent(tickFont) * 0.35f; // centres digits on the tick
        for (int i = 0; i < ticks.Length; i++)
        {
            float value = float.Parse(ticks[i], CultureInfo.InvariantCulture);
            float ty = top + ((1 - value) * barH);
            canvas.DrawLine(x + barW, ty, x + barW + 4, ty, line);
            canvas.DrawText(ticks[i], x + barW + 4 + m.SmallGap, ty + capHalf, SKTextAlign.Left, tickFont, textPaint);
        }

        float tickLabelW = ticks.Max(t => tickFont.MeasureText(t));
        float lx = x + barW + 4 + m.SmallGap + tickLabelW + m.SmallGap + FigureText.Ascent(tickFont);
        string label = FigureText.Fit(ColorBarLabel, tickFont, barH);
        canvas.Save();
        canvas.Translate(lx, top + (barH / 2));
        canvas.RotateDegrees(-90);
        canvas.DrawText(label, 0, 0, SKTextAlign.Center, tickFont, textPaint);
        canvas.Restore();
    }
}
