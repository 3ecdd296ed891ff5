namespace VitAttention.Rendering;

/// <summary>
/// How an attention map becomes a heat map over a photo. Immutable; change with <c>with</c>:
/// <c>new OverlayOptions() with { Colormap = Colormap.Viridis, Alpha = 0.5f }</c>.
/// </summary>
public sealed record OverlayOptions
{
    /// <summary>The shared default options.</summary>
    public static OverlayOptions Default { get; } = new();

    /// <summary>Colormap of the heat map. Default <see cref="Colormap.Jet"/>.</summary>
    public Colormap Colormap { get; init; } = Colormap.Jet;

    /// <summary>Opacity of the heat map over the photo, 0 (photo only) to 1 (heat map only). Default 0.6.</summary>
    public float Alpha { get; init; } = 0.6f;

    /// <summary>How the patch grid is enlarged to pixels. Default <see cref="Upsampling.Bilinear"/>.</summary>
    public Upsampling Upsampling { get; init; } = Upsampling.Bilinear;

    /// <summary>
    /// When set (0 &lt; p ≤ 100), values above the p-th percentile (linear interpolation between ranks, as numpy's
    /// default) are clipped to it before scaling: 99 stops the top 1% of patches from washing out the rest.
    /// Default null (no clipping).
    /// </summary>
    public float? ClipPercentile { get; init; }

    /// <summary>
    /// Floor of the divisor in min-max scaling, (v − min) / max(max − min, ε): a constant map scales to all zeros
    /// instead of NaN. Default 1e-12.
    /// </summary>
    public float Epsilon { get; init; } = 1e-12f;

    /// <summary>Whether figures draw a labelled colour bar beside the panels. Default false.</summary>
    public bool ColorBar { get; init; }

    /// <summary>
    /// How much the part of the photo the model did not see (outside the centre crop of crop-based models) is
    /// darkened, 0 (unchanged) to 1 (black). Default 0.5. Has no effect when the model saw the whole photo.
    /// </summary>
    public float UnseenDimming { get; init; } = 0.5f;

    /// <summary>Throws when a value is out of range.</summary>
    /// <exception cref="ArgumentException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        if (!(Alpha >= 0f && Alpha <= 1f))
        {
            throw new ArgumentException($"OverlayOptions.Alpha must be in [0, 1], got {Alpha}.", nameof(Alpha));
        }

        if (ClipPercentile is float p && !(p > 0f && p <= 100f))
        {
            throw new ArgumentException($"OverlayOptions.ClipPercentile must be in (0, 100] or null, got {p}.", nameof(ClipPercentile));
        }

        if (!(Epsilon > 0f) || float.IsInfinity(Epsilon))
        {
            throw new ArgumentException($"OverlayOptions.Epsilon must be a positive finite number, got {Epsilon}.", nameof(Epsilon));
        }

        if (!(UnseenDimming >= 0f && UnseenDimming <= 1f))
        {
            throw new ArgumentException($"OverlayOptions.UnseenDimming must be in [0, 1], got {UnseenDimming}.", nameof(UnseenDimming));
        }

        if (!Enum.IsDefined(Colormap))
        {
            throw new ArgumentException($"OverlayOptions.Colormap {Colormap} is not a defined colormap.", nameof(Colormap));
        }

        if (!Enum.IsDefined(Upsampling))
        {
            throw new ArgumentException($"OverlayOptions.Upsampling {Upsampling} is not a defined method.", nameof(Upsampling));
        }
    }
}
