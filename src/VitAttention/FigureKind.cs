namespace VitAttention;

/// <summary>
/// The figures of an explainability study: the four of every explanation, and the two of the explanation methods
/// (<see cref="ExplainOptions.Method"/>).
/// </summary>
public enum FigureKind
{
    /// <summary>The final layer's CLS attention over the photo.</summary>
    ClsOverlay,

    /// <summary>Chosen layers side by side (default first, middle, last).</summary>
    Layers,

    /// <summary>The most focused layers with their scores.</summary>
    FocusedLayers,

    /// <summary>The attention rollout over the photo.</summary>
    Rollout,

    /// <summary>One panel per method asked for, each for the first target class (<c>&lt;stem&gt;.methods.png</c>).</summary>
    Methods,

    /// <summary>
    /// One class-specific method's map for each target class side by side (<c>&lt;stem&gt;.classes.png</c>), as in
    /// Chefer et al.'s dog/cat figure.
    /// </summary>
    Classes,
}
