namespace VitAttention.Evaluation;

/// <summary>
/// The positive and negative perturbation tests of Chefer, Gur and Wolf, "Transformer Interpretability Beyond
/// Attention Visualization" (CVPR 2021), as their code runs them (<c>baselines/ViT/generate_visualizations.py</c> and
/// <c>pertubation_eval_from_hdf5.py</c>): the patch map is bilinearly upsampled to the input (scale = patch size,
/// <c>align_corners=False</c>) and min-max normalised; at each fraction f = 0.1, 0.2, …, 0.9 the
/// <c>int(H·W·f)</c> highest-ranked pixels (positive) or lowest-ranked (negative) are set to 0 in every channel of the
/// image in [0, 1] space, before the model's normalisation; the curve is top-1 correctness at f = 0 (the unperturbed
/// image) and at the nine fractions; the AUC is the trapezoid over those ten points times 100.
/// </summary>
internal static class PerturbationTest
{
    /// <summary>The perturbed fractions, the same doubles as the literals in the papers' code.</summary>
    public static IReadOnlyList<double> Fractions { get; } = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

    /// <summary>The curve's x: 0 (unperturbed), then the nine fractions.</summary>
    public static IReadOnlyList<double> X { get; } = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

    /// <summary>Pixels perturbed at a fraction: <c>int(pixels · fraction)</c> as Python computes it (double product, truncated).</summary>
    public static int PixelsAt(int pixels, double fraction) => (int)(pixels * fraction);

    /// <summary>
    /// The order in which a test removes pixels: the map upsampled and min-max normalised, then by decreasing value
    /// (positive) or increasing value (negative), ties to the lower row-major pixel index (see <see cref="Ranking"/>).
    /// </summary>
    /// <param name="map">The patch-grid map, row-major.</param>
    /// <param name="geometry">The model's input.</param>
    /// <param name="positive">True: most relevant first (positive test); false: least relevant first (negative).</param>
    /// <returns>Pixel indices <c>y · width + x</c>, in removal order.</returns>
    public static int[] PixelOrder(ReadOnlySpan<float> map, EvaluationGeometry geometry, bool positive)
    {
        ArgumentNullException.ThrowIfNull(geometry);
        double[] pixels = MapUpsampling.Bilinear(map, geometry.GridHeight, geometry.GridWidth, geometry.Height, geometry.Width);
        MapUpsampling.MinMax(pixels);
        return positive ? Ranking.Descending(pixels) : Ranking.Ascending(pixels);
    }

    /// <summary>
    /// Writes the image with its first <paramref name="count"/> pixels of <paramref name="order"/> black (0 in [0, 1]
    /// space, so <see cref="EvaluationGeometry.Black"/> in normalised space) in every channel.
    /// </summary>
    /// <param name="image">The normalised image, <c>[channel, height, width]</c>.</param>
    /// <param name="order">Pixel indices in removal order (<see cref="PixelOrder"/>).</param>
    /// <param name="count">Pixels to remove.</param>
    /// <param name="geometry">The model's input.</param>
    /// <param name="destination">Receives the perturbed image; may not overlap <paramref name="image"/>.</param>
    public static void Apply(ReadOnlySpan<float> image, ReadOnlySpan<int> order, int count, EvaluationGeometry geometry, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(geometry);
        CheckImage(image, geometry, nameof(image));
        CheckImage(destination, geometry, nameof(destination));
        if ((uint)count > (uint)order.Length || order.Length != geometry.Plane)
        {
            throw new ArgumentException($"count {count} must be within 0..{order.Length}, and the order must list all {geometry.Plane} pixels.", nameof(count));
        }

        image.CopyTo(destination);
        int plane = geometry.Plane;
        for (int c = 0; c < geometry.Channels; c++)
        {
            float black = geometry.Black(c);
            Span<float> channel = destination.Slice(c * plane, plane);
            foreach (int p in order[..count])
            {
                channel[p] = black;
            }
        }
    }

    /// <summary>AUC of a curve at <see cref="X"/>: <c>np.trapz(y, x) · 100</c>.</summary>
    /// <exception cref="ArgumentException">The curve does not have one value per <see cref="X"/>.</exception>
    public static double Auc(ReadOnlySpan<double> y)
    {
        if (y.Length != X.Count)
        {
            throw new ArgumentException($"a perturbation curve has {X.Count} points (x = 0, 0.1, …, 0.9), got {y.Length}.", nameof(y));
        }

        return AreaUnderCurve.Trapezoid([.. X], y) * 100;
    }

    internal static void CheckImage(ReadOnlySpan<float> image, EvaluationGeometry geometry, string name)
    {
        if (image.Length != geometry.InputLength)
        {
            throw new ArgumentException(
                $"{name} holds {image.Length} floats; one {geometry.Channels}×{geometry.Height}×{geometry.Width} image needs {geometry.InputLength}.", name);
        }
    }
}
