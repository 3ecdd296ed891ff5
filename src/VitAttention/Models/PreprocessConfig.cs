namespace VitAttention.Models;

/// <summary>How a photo is turned into the model's input tensor.</summary>
public sealed record PreprocessConfig
{
    /// <summary>Per-channel mean subtracted after rescaling (R, G, B).</summary>
    public required float[] Mean { get; init; }

    /// <summary>Per-channel standard deviation divided by after subtracting the mean (R, G, B).</summary>
    public required float[] Std { get; init; }

    /// <summary>Multiplier from 8-bit samples to [0, 1]; 1/255 in every known model.</summary>
    public float RescaleFactor { get; init; } = 1f / 255f;

    /// <summary>The resampling filter.</summary>
    public ResampleFilter Resample { get; init; } = ResampleFilter.Bilinear;

    /// <summary>
    /// Centre-crop fraction (timm's <c>crop_pct</c>): when set, the short side is resized to
    /// floor(size / crop_pct) and the centre <c>size</c> × <c>size</c> is cropped. When null, the photo is resized
    /// straight to the model size (Hugging Face's ViTImageProcessor).
    /// </summary>
    public float? CropPct { get; init; }

    /// <summary>The Hugging Face default: bilinear resize to the model size, mean 0.5, std 0.5.</summary>
    public static PreprocessConfig HuggingFaceDefault => new() { Mean = [0.5f, 0.5f, 0.5f], Std = [0.5f, 0.5f, 0.5f] };
}
