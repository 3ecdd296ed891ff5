namespace VitAttention;

/// <summary>The four figures of an explainability study.</summary>
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
}
