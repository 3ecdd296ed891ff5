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
    /// Centre-crop fraction (timm's <c>crop_pct</c>): when set, timm's eval transform: the short side is resized to
    /// floor(size / crop_pct) keeping the aspect ratio and the centre <c>size</c> × <c>size</c> is cropped, offsets
    /// rounded half to even. 1.0 is a crop too (the long side is cut), never a squash. When null, see
    /// <see cref="ResizeShortestEdge"/> and <see cref="ResizeHeight"/>.
    /// </summary>
    public float? CropPct { get; init; }

    /// <summary>
    /// Hugging Face <c>size.shortest_edge</c> with <c>do_center_crop</c> (BiT, CLIP and DINOv2 processors): the short
    /// side is resized to this many pixels (the long side truncated), then the centre model-size box is cropped with
    /// offsets <c>(resized − size) // 2</c>. At least the model's height and width. Ignored when <see cref="CropPct"/> is set.
    /// </summary>
    public int? ResizeShortestEdge { get; init; }

    /// <summary>
    /// Hugging Face <c>size.height</c> before a centre crop (DeiT's processor): the photo is resized to
    /// <see cref="ResizeHeight"/> × <see cref="ResizeWidth"/> (the aspect ratio is not kept), then the centre model-size
    /// box is cropped with offsets <c>(resized − size) // 2</c>. Both or neither are set; when neither is (and neither
    /// <see cref="CropPct"/> nor <see cref="ResizeShortestEdge"/>), the photo is resized straight to the model size.
    /// </summary>
    public int? ResizeHeight { get; init; }

    /// <summary>Hugging Face <c>size.width</c> before a centre crop; see <see cref="ResizeHeight"/>.</summary>
    public int? ResizeWidth { get; init; }

    /// <summary>The Hugging Face default: bilinear resize to the model size, mean 0.5, std 0.5.</summary>
    public static PreprocessConfig HuggingFaceDefault => new() { Mean = [0.5f, 0.5f, 0.5f], Std = [0.5f, 0.5f, 0.5f] };
}
