namespace VitAttention.Models;

/// <summary>Resampling filter used to resize the photo before it enters the model.</summary>
public enum ResampleFilter
{
    /// <summary>PIL bilinear (triangle filter, antialiased when shrinking).</summary>
    Bilinear,

    /// <summary>PIL bicubic (a = −0.5, antialiased when shrinking).</summary>
    Bicubic,
}
