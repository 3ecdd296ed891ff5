using SkiaSharp;

namespace VitAttention.Rendering;

/// <summary>
/// How a figure is laid out. Immutable; change with <c>with</c>:
/// <c>FigureOptions.Default with { Overlay = OverlayOptions.Default with { ColorBar = true }, PanelSize = 512 }</c>.
/// </summary>
public sealed record FigureOptions
{
    /// <summary>The shared default options.</summary>
    public static FigureOptions Default { get; } = new();

    /// <summary>Colormap, alpha, scaling and colour bar of every panel. Default <see cref="OverlayOptions.Default"/>.</summary>
    public OverlayOptions Overlay { get; init; } = OverlayOptions.Default;

    /// <summary>The title above the figure: null for the figure's own title (for example "Class Token Attention Overlay"), "" for none.</summary>
    public string? Title { get; init; }

    /// <summary>
    /// Long side, in pixels, of each panel of a figure with a few panels side by side (layers, most-focused
    /// layers). The photo's aspect is kept. Default 384.
    /// </summary>
    public int PanelSize { get; init; } = 384;

    /// <summary>Long side, in pixels, of each panel of the all-layers and per-head grids. Default 256.</summary>
    public int GridPanelSize { get; init; } = 256;

    /// <summary>
    /// Single-panel figures (CLS overlay, rollout) show the photo at its own size, scaled down only if its long
    /// side exceeds this (and up if it is under <see cref="MinSinglePanelSize"/>). Default 1024.
    /// </summary>
    public int MaxSinglePanelSize { get; init; } = 1024;

    /// <summary>
    /// Single-panel figures enlarge a smaller photo until its long side is this, so a tiny image (a 28 × 28
    /// Fashion-MNIST garment, say), its map and its captions stay legible. Default 320; <see cref="MaxSinglePanelSize"/> wins when it is smaller.
    /// </summary>
    public int MinSinglePanelSize { get; init; } = 320;

    /// <summary>Caption size in pixels; titles are 1.35 × this and colour-bar labels 0.8 ×. Default 16.</summary>
    public float FontSize { get; init; } = 16f;

    /// <summary>Columns of the grid figures; null for ⌈√n⌉ (4 × 3 for 12 layers). Default null.</summary>
    public int? Columns { get; init; }

    /// <summary>Figure background. Default white.</summary>
    public SKColor Background { get; init; } = SKColors.White;

    /// <summary>Text colour. Default near-black (#202020).</summary>
    public SKColor TextColor { get; init; } = new(0x20, 0x20, 0x20);

    /// <summary>Whether the most-focused-layers figure outlines the region of interest. Default true.</summary>
    public bool ShowRegion { get; init; } = true;

    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Overlay, nameof(Overlay));
        Overlay.Validate();
        Require(PanelSize is >= 16 and <= 8192, nameof(PanelSize), PanelSize, "16..8192");
        Require(GridPanelSize is >= 16 and <= 8192, nameof(GridPanelSize), GridPanelSize, "16..8192");
        Require(MaxSinglePanelSize is >= 16 and <= 16384, nameof(MaxSinglePanelSize), MaxSinglePanelSize, "16..16384");
        Require(MinSinglePanelSize is >= 16 and <= 16384, nameof(MinSinglePanelSize), MinSinglePanelSize, "16..16384");
        Require(FontSize is >= 6f and <= 200f, nameof(FontSize), FontSize, "6..200");
        Require(Columns is null or (>= 1 and <= 64), nameof(Columns), Columns, "1..64 or null");
    }

    private static void Require(bool ok, string name, object? value, string range)
    {
        if (!ok)
        {
            throw new ArgumentException($"FigureOptions.{name} must be in {range}, got {value}.", name);
        }
    }
}
