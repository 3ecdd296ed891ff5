namespace VitAttention;

/// <summary>Where <see cref="Explanation.SaveFigures"/> wrote each file.</summary>
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

    /// <summary>The path of one figure.</summary>
    /// <param name="kind">Which figure.</param>
    /// <returns>Its path.</returns>
    public string Of(FigureKind kind) => kind switch
    {
        FigureKind.ClsOverlay => ClsOverlay,
        FigureKind.Layers => Layers,
        FigureKind.FocusedLayers => FocusedLayers,
        FigureKind.Rollout => Rollout,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown figure"),
    };

    /// <summary>Every file: the four figures, then the JSON.</summary>
    public IReadOnlyList<string> All => [ClsOverlay, Layers, FocusedLayers, Rollout, Json];
}
