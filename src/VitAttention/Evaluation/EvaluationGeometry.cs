using VitAttention.Models;

namespace VitAttention.Evaluation;

/// <summary>
/// The model input the faithfulness tests perturb: <c>[channel, height, width]</c> floats in normalised space, split
/// into square patches numbered row-major, and the per-channel normalisation <c>(v · rescale − mean) / std</c>.
/// </summary>
internal sealed record EvaluationGeometry
{
    /// <summary>Creates a geometry and checks it.</summary>
    /// <exception cref="ArgumentException">A size is not positive, the image is not a whole number of patches, or mean/std do not have one positive value per channel.</exception>
    public EvaluationGeometry(int channels, int height, int width, int patchSize, float[] mean, float[] std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (channels < 1 || height < 1 || width < 1 || patchSize < 1)
        {
            throw new ArgumentException($"channels ({channels}), height ({height}), width ({width}) and patch size ({patchSize}) must all be positive.");
        }

        if (height % patchSize != 0 || width % patchSize != 0)
        {
            throw new ArgumentException(
                $"a {height}×{width} input is not a whole number of {patchSize}×{patchSize} patches; the faithfulness tests need every pixel in exactly one patch.");
        }

        if (mean.Length != channels || std.Length != channels || std.Any(s => !(s > 0) || !float.IsFinite(s)) || mean.Any(m => !float.IsFinite(m)))
        {
            throw new ArgumentException(
                $"the normalisation needs {channels} finite mean values and {channels} positive std values (got {mean.Length} and {std.Length}).");
        }

        Channels = channels;
        Height = height;
        Width = width;
        PatchSize = patchSize;
        Mean = mean;
        Std = std;
    }

    /// <summary>Input channels.</summary>
    public int Channels { get; }

    /// <summary>Input height in pixels.</summary>
    public int Height { get; }

    /// <summary>Input width in pixels.</summary>
    public int Width { get; }

    /// <summary>Side of one square patch in pixels.</summary>
    public int PatchSize { get; }

    /// <summary>Per-channel normalisation mean (in rescaled units).</summary>
    public float[] Mean { get; }

    /// <summary>Per-channel normalisation standard deviation.</summary>
    public float[] Std { get; }

    /// <summary>Patch rows.</summary>
    public int GridHeight => Height / PatchSize;

    /// <summary>Patch columns.</summary>
    public int GridWidth => Width / PatchSize;

    /// <summary>Patches: the length of a map.</summary>
    public int Patches => GridHeight * GridWidth;

    /// <summary>Pixels in one channel.</summary>
    public int Plane => Height * Width;

    /// <summary>Floats in one image: channels · height · width.</summary>
    public int InputLength => Channels * Plane;

    /// <summary>The geometry of a model's input, from its config.</summary>
    /// <exception cref="ArgumentException">The config's input is not a whole number of patches, or its mean/std do not fit its channels.</exception>
    public static EvaluationGeometry FromConfig(VitConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new EvaluationGeometry(config.Channels, config.ImageHeight, config.ImageWidth, config.PatchSize,
            config.Preprocess.Mean, config.Preprocess.Std);
    }

    /// <summary>
    /// The normalised value of a black pixel in <paramref name="channel"/>: 0 in the rescaled ([0, 1]) space before
    /// normalisation, so <c>(0 − mean) / std</c>, computed as the preprocessor computes every pixel.
    /// </summary>
    public float Black(int channel) => (0f - Mean[channel]) / Std[channel];
}
