namespace VitAttention;

/// <summary>Where <see cref="Explanation.SaveFigures"/> wrote each file (the method figures only when they were written).</summary>
/// <param name="ClsOverlay"><c>&lt;stem&gt;.cls.png</c>.</param>
/// <param name="Layers"><c>&lt;stem&gt;.layers.png</c>.</param>
/// <param name="FocusedLayers"><c>&lt;stem&gt;.focused.png</c>.</param>
/// <param name="Rollout"><c>&lt;stem&gt;.rollout.png</c>.</param>
/// <param name="Json"><c>&lt;stem&gt;.json</c>.</param>
public sealed record FigurePaths(string ClsOverlay, string Layers, string FocusedLayers, string Rollout, string Json)
{
    /// <summary>Each figure and the suffix its file gets after the stem.</summary>
    internal static readonly (FigureKind Kind, string Suffix)[] FigureSuffixes =
    [
        (FigureKind.ClsOverlay, ".cls.png"), (FigureKind.Layers, ".layers.png"),
        (FigureKind.FocusedLayers, ".focused.png"), (FigureKind.Rollout, ".rollout.png"),
    ];

    /// <summary>The paths <see cref="Explanation.SaveFigures"/> writes for <paramref name="stem"/> in <paramref name="folder"/>.</summary>
    /// <param name="folder">The output folder.</param>
    /// <param name="stem">The file names' stem, such as the image's name without extension.</param>
    /// <returns>The paths; nothing is written.</returns>
    public static FigurePaths For(string folder, string stem)
    {
        string P(string suffix) => Path.Combine(folder, stem + suffix);
        return new(P(FigureSuffixes[0].Suffix), P(FigureSuffixes[1].Suffix), P(FigureSuffixes[2].Suffix), P(FigureSuffixes[3].Suffix), P(".json"));
    }

    /// <summary>The paths for <paramref name="stem"/>, with the method figures when they are written.</summary>
    internal static FigurePaths For(string folder, string stem, bool methods, bool classes) => For(folder, stem) with
    {
        Methods = methods ? Path.Combine(folder, stem + MethodsSuffix) : null,
        Classes = classes ? Path.Combine(folder, stem + ClassesSuffix) : null,
    };

    /// <summary>The suffix of the method grid.</summary>
    internal const string MethodsSuffix = ".methods.png";

    /// <summary>The suffix of the class comparison.</summary>
    internal const string ClassesSuffix = ".classes.png";

    /// <summary>
    /// <c>&lt;stem&gt;.methods.png</c>, the method grid, when it was written (methods other than rollout were asked for);
    /// else null.
    /// </summary>
    public string? Methods { get; init; }

    /// <summary>
    /// <c>&lt;stem&gt;.classes.png</c>, the class comparison, when it was written (a class-specific method for two or
    /// more classes); else null.
    /// </summary>
    public string? Classes { get; init; }

    /// <summary>True when the figure's path is set (the four always; the method figures when written).</summary>
    /// <param name="kind">Which figure.</param>
    /// <returns>Whether <see cref="Of"/> has a path for it.</returns>
    public bool Has(FigureKind kind) => kind switch
    {
        FigureKind.Methods => Methods is not null,
        FigureKind.Classes => Classes is not null,
        _ => true,
    };

    /// <summary>The path of one figure.</summary>
    /// <param name="kind">Which figure.</param>
    /// <returns>Its path.</returns>
    public string Of(FigureKind kind) => kind switch
    {
        FigureKind.ClsOverlay => ClsOverlay,
        FigureKind.Layers => Layers,
        FigureKind.FocusedLayers => FocusedLayers,
        FigureKind.Rollout => Rollout,
        FigureKind.Methods => Methods ?? throw new InvalidOperationException("The method grid was not written: no method other than rollout was asked for."),
        FigureKind.Classes => Classes ?? throw new InvalidOperationException("The class comparison was not written: it needs a class-specific method and two or more target classes."),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown figure"),
    };

    /// <summary>Every file: the four figures, the method figures that were written, then the JSON.</summary>
    public IReadOnlyList<string> All =>
        [ClsOverlay, Layers, FocusedLayers, Rollout, .. new[] { Methods, Classes }.OfType<string>(), Json];
}
