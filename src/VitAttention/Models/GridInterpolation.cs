namespace VitAttention.Models;

/// <summary>How <see cref="GridResampler"/> resizes a grid, each as PyTorch's <c>F.interpolate</c> with <c>align_corners=False</c> and an output size.</summary>
internal enum GridInterpolation
{
    /// <summary><c>mode="bicubic"</c>: cubic convolution with A = −0.75 over 4 taps, indices clamped to the border.</summary>
    Bicubic,

    /// <summary><c>mode="bicubic", antialias=True</c>: PIL's cubic (a = −0.5) widened by the scale when shrinking, weights normalised inside the grid.</summary>
    BicubicAntialias,

    /// <summary><c>mode="bilinear"</c>: two taps, the source coordinate clamped at 0.</summary>
    Bilinear,
}
