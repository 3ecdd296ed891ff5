using VitAttention.Inference;

namespace VitAttention;

/// <summary>How an explainer is built: the execution device, threads, image limits and batching.</summary>
public sealed record ExplainerOptions
{
    /// <summary>CPU with ONNX Runtime's default threads, default image limits, batches of 8.</summary>
    public static ExplainerOptions Default { get; } = new();

    /// <summary>Device (CPU or CUDA), CPU fallback, intra-op threads.</summary>
    public VitSessionOptions Session { get; init; } = VitSessionOptions.Default;

    /// <summary>Limits on the photos accepted (encoded bytes, decoded pixels).</summary>
    public ImageLimits ImageLimits { get; init; } = ImageLimits.Default;

    /// <summary>Hub settings, download progress and warnings used when the model is resolved.</summary>
    public ModelLoadOptions Loading { get; init; } = ModelLoadOptions.Default;

    /// <summary>Images per forward pass when several are explained at once (1 to 256, default 8).</summary>
    public int MaxBatchSize { get; init; } = 8;

    /// <summary>
    /// Runs the model at <c>ImageSize</c> × <c>ImageSize</c> pixels instead of its own input size (null, the default); see
    /// <see cref="ModelLoadOptions.ImageSize"/>, which it sets when <see cref="VitExplainer.Load"/> loads the model. An
    /// explainer made from a <see cref="Loading.PreparedModel"/> requires the model to be built for that size already.
    /// </summary>
    public int? ImageSize { get; init; }

    /// <summary>Throws when an option is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBatchSize, 1, nameof(MaxBatchSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxBatchSize, 256, nameof(MaxBatchSize));
        if (ImageSize is { } size)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(size, 1, nameof(ImageSize));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(size, 8192, nameof(ImageSize));
        }

        ImageLimits.Validate();
    }
}
