using SkiaSharp;
using VitAttention.Rendering;
using VitAttention.Rollout;

namespace VitAttention;

public sealed partial class Explanation
{
    /// <summary>Draws the final layer's CLS attention over the photo ("Class Token Attention Overlay").</summary>
    public SKImage DrawClsOverlay() => Figures.ClsOverlay(Photo, SeenRegion, Layers[^1].ClsMap, FigureOptionsFor(FigureKind.ClsOverlay), Caption);

    /// <summary>Draws one-based layers side by side; null uses <see cref="ExplainOptions.Layers"/> (default 1, middle, last).</summary>
    /// <exception cref="ArgumentException">A layer number does not exist.</exception>
    public SKImage DrawLayers(IReadOnlyList<int>? layers = null)
    {
        layers ??= Options.LayersFor(Layers.Count);
        ExplainOptions.CheckLayerNumbers(layers, Layers.Count, nameof(layers));
        return Figures.Layers(Photo, SeenRegion, Maps, layers, FigureOptionsFor(FigureKind.Layers));
    }

    /// <summary>Draws every layer's CLS attention in a grid.</summary>
    public SKImage DrawLayerGrid() => Figures.LayerGrid(Photo, SeenRegion, Maps, FigureOptionsFor(FigureKind.Layers, grid: true));

    /// <summary>Draws each head of one one-based layer in a grid.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The layer does not exist.</exception>
    public SKImage DrawHeadGrid(int layer)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layer, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(layer, Layers.Count);
        var engine = new RolloutEngine();
        var readout = QueryReadout.For(Config, Options.Rollout.QueryToken);
        var heads = new AttentionMap[Config.NumHeads];
        for (int h = 0; h < heads.Length; h++)
        {
            heads[h] = readout.LayerMap(engine, Attentions, layer - 1, Item, h);
        }

        return Figures.HeadGrid(Photo, SeenRegion, heads, layer, Options.Figure);
    }

    /// <summary>Draws the most focused layers with their focus scores.</summary>
    public SKImage DrawFocusedLayers() => Figures.FocusedLayers(Photo, SeenRegion, Maps, Focus, Options.Figure);

    /// <summary>Draws the attention rollout over the photo.</summary>
    public SKImage DrawRollout() => Figures.RolloutOverlay(Photo, SeenRegion, Rollout, FigureOptionsFor(FigureKind.Rollout), Caption);

    /// <summary>
    /// The figure options, titled for what the maps read when it is not the class token (models without one: "mean of
    /// patch queries"); a title the caller set wins.
    /// </summary>
    private Rendering.FigureOptions FigureOptionsFor(FigureKind kind, bool grid = false)
    {
        var readout = QueryReadout.For(Config, Options.Rollout.QueryToken);
        if (Options.Figure.Title is not null || !readout.IsPatchQueryMean)
        {
            return Options.Figure;
        }

        string title = kind switch
        {
            FigureKind.ClsOverlay => "Attention Overlay, Mean of Patch Queries",
            FigureKind.Rollout => "Attention Rollout, Mean of Patch Queries",
            _ when grid => "Attention, All Layers, Mean of Patch Queries",
            _ => "Attention by Layer, Mean of Patch Queries",
        };
        return Options.Figure with { Title = title };
    }

    /// <summary>Draws one of the four figures.</summary>
    public SKImage Draw(FigureKind kind) => kind switch
    {
        FigureKind.ClsOverlay => DrawClsOverlay(),
        FigureKind.Layers => DrawLayers(),
        FigureKind.FocusedLayers => DrawFocusedLayers(),
        FigureKind.Rollout => DrawRollout(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown figure"),
    };

    /// <summary>
    /// Draws the same figure for two photos side by side (the study compares an outdoor and an indoor scene), each
    /// captioned with its file name and top class.
    /// </summary>
    public static SKImage Compare(Explanation left, Explanation right, FigureKind kind)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        using var a = left.Draw(kind);
        using var b = right.Draw(kind);
        return Figures.SideBySide(a, left.ShortCaption, b, right.ShortCaption, left.Options.Figure);
    }

    /// <summary>
    /// Writes the four figures and the JSON to <paramref name="folder"/> as <c>&lt;stem&gt;.cls.png</c>,
    /// <c>.layers.png</c>, <c>.focused.png</c>, <c>.rollout.png</c> and <c>.json</c>, each atomically (a reader never
    /// sees a half-written file). The stem defaults to the image's file name without extension.
    /// </summary>
    /// <exception cref="IOException">A file cannot be written; the message names it.</exception>
    public FigurePaths SaveFigures(string folder, string? stem = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        stem ??= DefaultStem;
        Directory.CreateDirectory(folder);
        var paths = FigurePaths.For(folder, stem);
        foreach (var (kind, _) in FigurePaths.FigureSuffixes)
        {
            using var image = Draw(kind);
            Figures.Save(image, paths.Of(kind));
        }

        using (var json = new MemoryStream())
        {
            WriteJson(json, indented: true);
            Figures.SaveBytes(json.ToArray(), paths.Json);
        }

        return paths;
    }

    /// <summary>The image's file name without extension (or "image" when it has none).</summary>
    public string DefaultStem
    {
        get
        {
            string stem = Path.GetFileNameWithoutExtension(Source);
            return stem.Length > 0 && stem.IndexOfAny(Path.GetInvalidFileNameChars()) < 0 && !stem.StartsWith('.') ? stem : "image";
        }
    }

    private AttentionMap[] Maps => Layers.Select(l => l.ClsMap).ToArray();

    private string ShortCaption => Path.GetFileName(Source) + (Predictions.Count > 0 ? $" — {Predictions[0].Label}" : string.Empty);

    private string Caption => ShortCaption + (Predictions.Count > 0
        ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $" ({Predictions[0].Probability:P1})")
        : string.Empty);
}
