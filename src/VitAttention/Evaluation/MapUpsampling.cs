namespace VitAttention.Evaluation;

/// <summary>
/// A patch-grid map brought to the input's pixels as Chefer et al.'s perturbation test does
/// (<c>torch.nn.functional.interpolate(map, scale_factor=patch, mode='bilinear')</c>, whose <c>align_corners</c> is
/// false by default), then min-max normalised. Computed in float64.
/// </summary>
internal static class MapUpsampling
{
    /// <summary>
    /// Bilinear upsampling with half-pixel centres (<c>align_corners=False</c>): output pixel <c>d</c> reads the input
    /// at <c>s = (d + 0.5) · in / out − 0.5</c>, clamped below at 0, between samples <c>⌊s⌋</c> and
    /// <c>min(⌊s⌋ + 1, in − 1)</c> with weights <c>1 − (s − ⌊s⌋)</c> and <c>s − ⌊s⌋</c> (PyTorch's
    /// <c>upsample_bilinear2d</c>).
    /// </summary>
    /// <param name="map">The map, <c>[gridHeight, gridWidth]</c> row-major.</param>
    /// <param name="gridHeight">Map rows.</param>
    /// <param name="gridWidth">Map columns.</param>
    /// <param name="height">Output rows.</param>
    /// <param name="width">Output columns.</param>
    /// <returns>The upsampled map, <c>[height, width]</c> row-major.</returns>
    /// <exception cref="ArgumentException">A size is not positive or the map's length is not gridHeight · gridWidth.</exception>
    public static double[] Bilinear(ReadOnlySpan<float> map, int gridHeight, int gridWidth, int height, int width)
    {
        if (gridHeight < 1 || gridWidth < 1 || height < 1 || width < 1)
        {
            throw new ArgumentException($"sizes must be positive: a {gridHeight}×{gridWidth} map to {height}×{width}.");
        }

        if (map.Length != gridHeight * gridWidth)
        {
            throw new ArgumentException($"the map holds {map.Length} values, not {gridHeight}×{gridWidth}.", nameof(map));
        }

        var (r0, r1, rw) = Taps(gridHeight, height);
        var (c0, c1, cw) = Taps(gridWidth, width);
        var result = new double[height * width]; // [height, width]
        for (int y = 0; y < height; y++)
        {
            double wy1 = rw[y], wy0 = 1 - wy1;
            int top = r0[y] * gridWidth, bottom = r1[y] * gridWidth;
            for (int x = 0; x < width; x++)
            {
                double wx1 = cw[x], wx0 = 1 - wx1;
                result[(y * width) + x] =
                    (wy0 * ((wx0 * map[top + c0[x]]) + (wx1 * map[top + c1[x]]))) +
                    (wy1 * ((wx0 * map[bottom + c0[x]]) + (wx1 * map[bottom + c1[x]])));
            }
        }

        return result;
    }

    /// <summary>
    /// <c>(v − min) / (max − min)</c> in place, as Chefer et al. normalise a map. A constant map, which their code
    /// turns into NaN, becomes all zeros: every pixel ties and the tie rule decides the order.
    /// </summary>
    /// <exception cref="ArgumentException">A value is NaN or infinite.</exception>
    public static void MinMax(Span<double> values)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (double v in values)
        {
            if (!double.IsFinite(v))
            {
                throw new ArgumentException($"the map holds a non-finite value ({v}); a map must be finite everywhere.", nameof(values));
            }

            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }

        double range = max - min;
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = range > 0 ? (values[i] - min) / range : 0;
        }
    }

    /// <summary>For each output sample: the lower and upper input sample and the upper one's weight.</summary>
    private static (int[] Low, int[] High, double[] Weight) Taps(int input, int output)
    {
        double scale = (double)input / output;
        var low = new int[output];
        var high = new int[output];
        var weight = new double[output];
        for (int d = 0; d < output; d++)
        {
            double source = Math.Max(0, (scale * (d + 0.5)) - 0.5);
            int i = (int)source;
            low[d] = i;
            high[d] = i < input - 1 ? i + 1 : i;
            weight[d] = source - i;
        }

        return (low, high, weight);
    }
}
