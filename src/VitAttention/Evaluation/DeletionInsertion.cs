namespace VitAttention.Evaluation;

/// <summary>
/// The deletion and insertion tests of Petsiuk, Das and Saenko, "RISE: Randomized Input Sampling for Explanation of
/// Black-box Models" (BMVC 2018), as their code runs them (<c>evaluation.py</c>, <c>CausalMetric</c>), on patches:
/// the patches are ordered by the map, most relevant first; at step k the first <c>n_k</c> of them are taken from the
/// finish image and the rest from the start image (deletion: start = the image, finish = the substrate; insertion:
/// start = the substrate, by default the blurred image, finish = the image), and the curve is the softmax probability
/// of the class predicted on the original image. With <c>p</c> patches per step (default 1), <c>n_k = min(k·p, N)</c>
/// for k = 0 … ⌈N / p⌉, so the curve has ⌈N / p⌉ + 1 points, from the untouched start to the full finish. Its x is
/// the fraction of patches changed, <c>n_k / N</c>, and the AUC is the trapezoid over x, which is RISE's normalised
/// AUC whenever p divides N (RISE spaces the points evenly, which differs only in the last, shorter step).
/// </summary>
internal static class DeletionInsertion
{
    /// <summary>Patch indices by decreasing map value, ties to the lower row-major index.</summary>
    public static int[] PatchOrder(ReadOnlySpan<float> map) => Ranking.Descending(map);

    /// <summary>Patches changed after each step: 0, p, 2p, …, N (the last step may be shorter).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is not positive.</exception>
    public static int[] Counts(int patches, int patchesPerStep)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(patches, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(patchesPerStep, 1);
        int steps = (patches + patchesPerStep - 1) / patchesPerStep;
        var counts = new int[steps + 1];
        for (int k = 0; k <= steps; k++)
        {
            counts[k] = (int)Math.Min((long)k * patchesPerStep, patches);
        }

        return counts;
    }

    /// <summary>The curve's x: <c>counts[k] / patches</c>.</summary>
    public static double[] X(ReadOnlySpan<int> counts, int patches)
    {
        var x = new double[counts.Length];
        for (int k = 0; k < x.Length; k++)
        {
            x[k] = (double)counts[k] / patches;
        }

        return x;
    }

    /// <summary>
    /// Writes <paramref name="start"/> with the first <paramref name="count"/> patches of <paramref name="order"/>
    /// taken from <paramref name="finish"/>, every channel.
    /// </summary>
    /// <param name="start">The image before any step, <c>[channel, height, width]</c> normalised.</param>
    /// <param name="finish">The image after the last step.</param>
    /// <param name="order">Patch indices in order (<see cref="PatchOrder"/>).</param>
    /// <param name="count">Patches to take from <paramref name="finish"/>.</param>
    /// <param name="geometry">The model's input.</param>
    /// <param name="destination">Receives the mixed image; may not overlap the inputs.</param>
    public static void Apply(
        ReadOnlySpan<float> start, ReadOnlySpan<float> finish, ReadOnlySpan<int> order, int count, EvaluationGeometry geometry, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(geometry);
        PerturbationTest.CheckImage(start, geometry, nameof(start));
        PerturbationTest.CheckImage(finish, geometry, nameof(finish));
        PerturbationTest.CheckImage(destination, geometry, nameof(destination));
        if (order.Length != geometry.Patches || (uint)count > (uint)order.Length)
        {
            throw new ArgumentException($"count {count} must be within 0..{geometry.Patches}, and the order must list all {geometry.Patches} patches.", nameof(count));
        }

        start.CopyTo(destination);
        int size = geometry.PatchSize, width = geometry.Width, plane = geometry.Plane;
        foreach (int patch in order[..count])
        {
            int top = patch / geometry.GridWidth * size, left = patch % geometry.GridWidth * size;
            for (int c = 0; c < geometry.Channels; c++)
            {
                for (int y = top; y < top + size; y++)
                {
                    int at = (c * plane) + (y * width) + left;
                    finish.Slice(at, size).CopyTo(destination.Slice(at, size));
                }
            }
        }
    }
}
