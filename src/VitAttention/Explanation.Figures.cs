using System.Globalization;
using SkiaSharp;
using VitAttention.Analysis.Methods;
using VitAttention.Rendering;

namespace VitAttention;

public sealed partial class Explanation
{
    /// <summary>
    /// Draws the final layer's attention of the query token over the photo ("Class Token Attention Overlay" for CLS,
    /// "Token 5 Attention Overlay" for token 5).
    /// </summary>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    public SKImage DrawClsOverlay()
    {
        ThrowIfDisposed();
        return Figures.ClsOverlay(_photo!, _seenRegion, _layers[^1].Map, FigureOptionsTitled($"{QueryLabel} Attention Overlay"), Caption);
    }

    /// <summary>Draws one-based layers side by side.</summary>
    /// <param name="layers">Layer numbers, 1 to the layer count; null uses <see cref="ExplainOptions.Layers"/> (default first, middle, last).</param>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    /// <exception cref="ArgumentException">A layer number does not exist.</exception>
    public SKImage DrawLayers(IReadOnlyList<int>? layers = null)
    {
        ThrowIfDisposed();
        layers ??= _options.LayersFor(_layers.Length);
        ExplainOptions.CheckLayerNumbers(layers, _layers.Length, nameof(layers));
        return Figures.Layers(_photo!, _seenRegion, LayerMaps, layers, FigureOptionsTitled($"{QueryLabel} Attention by Layer"));
    }

    /// <summary>Draws every layer's map in a grid.</summary>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    public SKImage DrawLayerGrid()
    {
        ThrowIfDisposed();
        return Figures.LayerGrid(_photo!, _seenRegion, LayerMaps, FigureOptionsTitled($"{QueryLabel} Attention, All Layers"));
    }

    /// <summary>Draws each head's attention of the query token in one layer, in a grid.</summary>
    /// <param name="layer">The layer number, 1 to the layer count.</param>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The layer does not exist.</exception>
    public SKImage DrawHeadGrid(int layer)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfLessThan(layer, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(layer, _layers.Length);
        var heads = new AttentionMap[_config.NumHeads];
        for (int h = 0; h < heads.Length; h++)
        {
            heads[h] = HeadMap(layer, h);
        }

        return Figures.HeadGrid(_photo!, _seenRegion, heads, layer,
            FigureOptionsTitled(string.Create(CultureInfo.InvariantCulture, $"Layer {layer}: {QueryLabel} Attention per Head")));
    }

    /// <summary>Draws the most focused layers with their focus scores.</summary>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    public SKImage DrawFocusedLayers()
    {
        ThrowIfDisposed();
        return Figures.FocusedLayers(_photo!, _seenRegion, LayerMaps, _focus, _options.Figure);
    }

    /// <summary>Draws the attention rollout over the photo.</summary>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    public SKImage DrawRollout()
    {
        ThrowIfDisposed();
        string title = IsClassTokenQuery ? Figures.RolloutTitle : $"{Figures.RolloutTitle} of the {QueryLabel}";
        return Figures.RolloutOverlay(_photo!, _seenRegion, _rollout, FigureOptionsTitled(title), Caption);
    }

    /// <summary>
    /// Draws every method's map side by side over the photo, one panel per method asked for
    /// (<see cref="ExplainOptions.Method"/>), each captioned with the method and, for a class-specific one, the class.
    /// Each panel is scaled on its own (the methods' values are not comparable).
    /// </summary>
    /// <param name="classIndex">The target class of the class-specific panels; null for the first (the top class by default).</param>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    /// <exception cref="ArgumentException"><paramref name="classIndex"/> is not one of <see cref="TargetClasses"/>.</exception>
    public SKImage DrawMethods(int? classIndex = null)
    {
        ThrowIfDisposed();
        var maps = MethodCatalog.In(_options.Method).Select(m => Map(m.Method, classIndex)).ToArray();
        string? label = maps.FirstOrDefault(m => m.IsClassSpecific)?.ClassLabel;
        var panels = maps.Select(m => (m.Map, (string?)MethodCatalog.Of(m.Method).Title)).ToArray();
        return Figures.Panels(_photo!, _seenRegion, panels, _options.Figure, label is null ? "Explanation Methods" : $"Explanation Methods for {label}");
    }

    /// <summary>
    /// Draws one class-specific method's map for every target class side by side (with <see cref="TargetClass.Top"/>(2),
    /// the two most probable classes, as in Chefer et al.'s dog/cat figure), each captioned with its class and probability.
    /// </summary>
    /// <param name="method">A class-specific method asked for; null for transformer attribution when it was asked for, else the first class-specific method asked for.</param>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    /// <exception cref="InvalidOperationException">No class-specific method was asked for.</exception>
    /// <exception cref="ArgumentException"><paramref name="method"/> was not asked for or is class-agnostic.</exception>
    public SKImage DrawClasses(ExplanationMethod? method = null)
    {
        ThrowIfDisposed();
        var specific = MethodCatalog.In(_options.Method).Where(s => s.ClassSpecific).ToList();
        var spec = method is { } m ? MethodCatalog.Of(m)
            : specific.Find(s => s.Method == ExplanationMethod.TransformerAttribution) ?? specific.FirstOrDefault()
            ?? throw new InvalidOperationException(
                $"The explanation of '{_source}' has no class-specific map to compare across classes; ask for one with ExplainOptions.Method (e.g. TransformerAttribution).");
        if (!spec.ClassSpecific)
        {
            throw new ArgumentException($"{spec.Method} is the same for every class; pick a class-specific method.", nameof(method));
        }

        var panels = _targetClasses.Select(c => (Map(spec.Method, c).Map, (string?)ClassCaption(c))).ToArray();
        return Figures.Panels(_photo!, _seenRegion, panels, _options.Figure, $"{spec.Title} by Class");
    }

    /// <summary>Draws one figure.</summary>
    /// <param name="kind">Which figure.</param>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> is not a defined figure.</exception>
    /// <exception cref="InvalidOperationException"><see cref="FigureKind.Classes"/> without a class-specific method.</exception>
    public SKImage Draw(FigureKind kind) => kind switch
    {
        FigureKind.ClsOverlay => DrawClsOverlay(),
        FigureKind.Layers => DrawLayers(),
        FigureKind.FocusedLayers => DrawFocusedLayers(),
        FigureKind.Rollout => DrawRollout(),
        FigureKind.Methods => DrawMethods(),
        FigureKind.Classes => DrawClasses(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown figure"),
    };

    /// <summary>
    /// Draws the same figure for two photos side by side (the study compares an outdoor and an indoor scene), each
    /// captioned with its file name and top class.
    /// </summary>
    /// <param name="left">The explanation drawn on the left.</param>
    /// <param name="right">The explanation drawn on the right.</param>
    /// <param name="kind">Which figure.</param>
    /// <returns>A new image; the caller owns it and disposes it.</returns>
    /// <exception cref="ObjectDisposedException">Either explanation has been disposed.</exception>
    public static SKImage Compare(Explanation left, Explanation right, FigureKind kind)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        left.ThrowIfDisposed();
        right.ThrowIfDisposed();
        using var a = left.Draw(kind);
        using var b = right.Draw(kind);
        return Figures.SideBySide(a, left.ShortCaption, b, right.ShortCaption, left._options.Figure);
    }

    /// <summary>
    /// Writes the four figures and the JSON to <paramref name="folder"/> as <c>&lt;stem&gt;.cls.png</c>,
    /// <c>.layers.png</c>, <c>.focused.png</c>, <c>.rollout.png</c> and <c>.json</c>, each atomically (a reader never
    /// sees a half-written file); with methods other than rollout asked for, also the method grid
    /// <c>.methods.png</c>, and with two or more target classes of a class-specific method, the class comparison
    /// <c>.classes.png</c> (<see cref="FigurePaths.Methods"/>, <see cref="FigurePaths.Classes"/>).
    /// </summary>
    /// <param name="folder">The output folder; created if needed.</param>
    /// <param name="stem">The file names' stem; null for <see cref="DefaultStem"/>.</param>
    /// <returns>Where each file was written.</returns>
    /// <exception cref="IOException">A file cannot be written; the message names it.</exception>
    public FigurePaths SaveFigures(string folder, string? stem = null)
    {
        ThrowIfDisposed();
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        stem ??= DefaultStem;
        Directory.CreateDirectory(folder);
        var paths = FigurePaths.For(folder, stem, HasMethodFigure, HasClassFigure);
        foreach (var (kind, _) in FigurePaths.FigureSuffixes)
        {
            using var image = Draw(kind);
            Figures.Save(image, paths.Of(kind));
        }

        foreach (var kind in new[] { FigureKind.Methods, FigureKind.Classes })
        {
            if (paths.Has(kind))
            {
                using var image = Draw(kind);
                Figures.Save(image, paths.Of(kind));
            }
        }

        Figures.SaveStream(stream => WriteJson(stream, indented: true), paths.Json);

        return paths;
    }

    /// <summary>The image's file name without extension (or "image" when it has none).</summary>
    public string DefaultStem
    {
        get
        {
            ThrowIfDisposed();
            string stem = Path.GetFileNameWithoutExtension(_source);
            return stem.Length > 0 && stem.IndexOfAny(Path.GetInvalidFileNameChars()) < 0 && !stem.StartsWith('.') ? stem : "image";
        }
    }

    private AttentionMap[] LayerMaps => _layers.Select(l => l.Map).ToArray();

    private int QueryToken => _options.Rollout.QueryToken;

    /// <summary>True when <see cref="SaveFigures"/> writes the method grid: a method other than rollout was asked for.</summary>
    private bool HasMethodFigure => _options.Method != ExplanationMethod.Rollout;

    /// <summary>True when <see cref="SaveFigures"/> writes the class comparison: a class-specific method for two or more classes.</summary>
    private bool HasClassFigure => _targetClasses.Length >= 2 && MethodCatalog.NeedsGradients(_options.Method);

    /// <summary>"tabby, tabby cat (61.2 %)": a class's label and, when it has one, its probability.</summary>
    private string ClassCaption(int classIndex) =>
        _config.LabelOf(classIndex) + (classIndex < _probabilities.Length
            ? string.Create(CultureInfo.InvariantCulture, $" ({_probabilities[classIndex]:P1})")
            : string.Empty);

    /// <summary>True when the maps are the class token's: the figures keep their "Class Token" titles.</summary>
    private bool IsClassTokenQuery => QueryToken == 0 && _config.HasClassToken;

    /// <summary>
    /// What the maps read, for titles: "Class Token", "Distillation Token", "Register 2", "Token 37", or for a model
    /// without a class token (default query) "Mean of Patch Queries".
    /// </summary>
    private string QueryLabel => QueryReadout.For(_config, QueryToken).IsPatchQueryMean ? "Mean of Patch Queries" : QueryLabelOf(_config, QueryToken);

    private string ShortCaption => Path.GetFileName(_source) + (_predictions.Count > 0 ? $" — {_predictions[0].Label}" : string.Empty);

    private string Caption => ShortCaption + (_predictions.Count > 0
        ? string.Create(CultureInfo.InvariantCulture, $" ({_predictions[0].Probability:P1})")
        : string.Empty);

    /// <summary>Names a token position of a model for figure titles and JSON.</summary>
    internal static string QueryLabelOf(Models.VitConfig config, int token)
    {
        int next = 0;
        if (config.HasClassToken && token == next++)
        {
            return "Class Token";
        }

        if (config.HasDistillationToken && token == next++)
        {
            return "Distillation Token";
        }

        if (token < config.PrefixTokens)
        {
            return string.Create(CultureInfo.InvariantCulture, $"Register {token - next + 1}");
        }

        return string.Create(CultureInfo.InvariantCulture, $"Token {token}");
    }

    /// <summary>The figure options with <paramref name="title"/> unless the caller set a title of their own.</summary>
    private FigureOptions FigureOptionsTitled(string title) =>
        _options.Figure.Title is null && !IsClassTokenQuery ? _options.Figure with { Title = title } : _options.Figure;
}
