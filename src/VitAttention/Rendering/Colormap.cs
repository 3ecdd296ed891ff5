using SkiaSharp;

namespace VitAttention.Rendering;

/// <summary>A colormap that turns a normalised value in [0, 1] into a colour (0 = low attention, 1 = high).</summary>
public enum Colormap
{
    /// <summary>MATLAB/matplotlib jet: dark blue → cyan → yellow → dark red. The classic attention-map look (default).</summary>
    Jet,

    /// <summary>matplotlib viridis: perceptually uniform, colour-blind friendly, dark purple → yellow.</summary>
    Viridis,

    /// <summary>matplotlib inferno: perceptually uniform, black → purple → yellow.</summary>
    Inferno,

    /// <summary>Google turbo: an improved rainbow map, dark blue → green → dark red.</summary>
    Turbo,

    /// <summary>Linear grey ramp: black → white.</summary>
    Grey,
}
