namespace VitAttention.Rendering;

/// <summary>How a patch-grid map is enlarged to pixels. Every method samples at pixel centres (half-pixel offsets).</summary>
public enum Upsampling
{
    /// <summary>Each pixel takes its patch's value: visible blocks, one per patch.</summary>
    Nearest,

    /// <summary>Linear interpolation between patch centres, edges clamped (default).</summary>
    Bilinear,

    /// <summary>Keys cubic convolution (a = −0.5, Catmull-Rom), edges clamped; smoother, may overshoot slightly.</summary>
    Bicubic,
}
