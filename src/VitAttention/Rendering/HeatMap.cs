using System.Runtime.CompilerServices;
using System.Numerics.Tensors;
using SkiaSharp;

namespace VitAttention.Rendering;

/// <summary>
/// The steps from an attention map to a heat map: normalise to [0, 1], enlarge to pixels, colour.
/// </summary>
public static class HeatMap
{
    /// <summary>
    /// Scales a map to [0, 1]: optional percentile clip, then (v − min) / max(max − min, ε). A constant map gives
    /// all zeros, never NaN.
    /// </summary>
    /// <param name="map">The map.</param>
    /// <param name="options">Epsilon and clip percentile; null for <see cref="OverlayOptions.Default"/>.</param>
    /// <param name="mapName">How error messages name the map; defaults to the argument expression.</param>
    /// <returns>The scaled values, row-major like the map.</returns>
    /// <exception cref="ArgumentException">The map holds NaN or ±∞ (the message names the map and the cell), or an option is out of range.</exception>
    public static float[] Normalize(
        AttentionMap map, OverlayOptions? options = null, [CallerArgumentExpression(nameof(map))] string? mapName = null)
    {
        ArgumentNullException.ThrowIfNull(map);
        options ??= OverlayOptions.Default;
        options.Validate();
        RequireFinite(map, mapName);
        var result = new float[map.Values.Length];
        NormalizeCore(map.Values, options.Epsilon, options.ClipPercentile, result);
        return result;
    }

    /// <summary>
    /// Scales values to [0, 1] into <paramref name="destination"/>: values above the
    /// <paramref name="clipPercentile"/>-th percentile (if given) are clipped to it, then each value v becomes
    /// (v − min) / max(max − min, <paramref name="epsilon"/>).
    /// </summary>
    /// <exception cref="ArgumentException">Lengths differ, a value is NaN or ±∞, ε is not positive, or the percentile is outside (0, 100].</exception>
    internal static void Normalize(ReadOnlySpan<float> values, float epsilon, float? clipPercentile, Span<float> destination)
    {
        if (destination.Length != values.Length)
        {
            throw new ArgumentException($"Destination has {destination.Length} elements but values has {values.Length}.", nameof(destination));
        }

        if (!(epsilon > 0f) || float.IsInfinity(epsilon))
        {
            throw new ArgumentException($"Epsilon must be a positive finite number, got {epsilon}.", nameof(epsilon));
        }

        if (clipPercentile is float p && !(p > 0f && p <= 100f))
        {
            throw new ArgumentException($"The clip percentile must be in (0, 100], got {p}.", nameof(clipPercentile));
        }

        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                throw new ArgumentException($"values[{i}] is {values[i]}; heat maps need finite values.", nameof(values));
            }
        }

        NormalizeCore(values, epsilon, clipPercentile, destination);
    }

    /// <summary>The colour of a normalised value (clamped to [0, 1]) under a colormap.</summary>
    /// <param name="value">A value in [0, 1].</param>
    /// <param name="colormap">The colour table.</param>
    /// <returns>An opaque colour.</returns>
    public static SKColor Colorize(float value, Colormap colormap) => Colormaps.Map(colormap, value);

    /// <summary>
    /// Enlarges a grid of values to <paramref name="width"/> × <paramref name="height"/> pixels. Pixel (x, y)
    /// samples the grid at ((x + 0.5) · gridWidth / width − 0.5, (y + 0.5) · gridHeight / height − 0.5), edges
    /// clamped, so each patch's value sits at the centre of its block of pixels.
    /// </summary>
    /// <param name="grid">The values, row-major, gridHeight × gridWidth.</param>
    /// <param name="gridHeight">Grid rows.</param>
    /// <param name="gridWidth">Grid columns.</param>
    /// <param name="width">Output width in pixels.</param>
    /// <param name="height">Output height in pixels.</param>
    /// <param name="method">Interpolation; bicubic may overshoot the input range slightly.</param>
    /// <param name="destination">height × width values, row-major.</param>
    /// <exception cref="ArgumentException">A size is not positive or a length does not match.</exception>
    public static void Upsample(
        ReadOnlySpan<float> grid, int gridHeight, int gridWidth, int width, int height, Upsampling method, Span<float> destination)
    {
        if (gridHeight <= 0 || gridWidth <= 0 || width <= 0 || height <= 0)
        {
            throw new ArgumentException($"Sizes must be positive: grid {gridHeight}×{gridWidth}, output {width}×{height}.");
        }

        if (grid.Length != (long)gridHeight * gridWidth)
        {
            throw new ArgumentException($"A {gridHeight}×{gridWidth} grid needs {gridHeight * gridWidth} values, got {grid.Length}.", nameof(grid));
        }

        if (destination.Length != (long)width * height)
        {
            throw new ArgumentException($"A {width}×{height} output needs {(long)width * height} values, got {destination.Length}.", nameof(destination));
        }

        if (!Enum.IsDefined(method))
        {
            throw new ArgumentException($"Unknown upsampling method {method}.", nameof(method));
        }

        var xTaps = AxisTaps.Create(gridWidth, 0, width, 0, width, method);
        var yTaps = AxisTaps.Create(gridHeight, 0, height, 0, height, method);
        Resample(grid, gridHeight, gridWidth, xTaps, yTaps, destination);
    }

    /// <summary>Enlarges a grid of values to pixels; see <see cref="Upsample(ReadOnlySpan{float}, int, int, int, int, Upsampling, Span{float})"/>.</summary>
    /// <param name="grid">The values, row-major, gridHeight × gridWidth.</param>
    /// <param name="gridHeight">Grid rows.</param>
    /// <param name="gridWidth">Grid columns.</param>
    /// <param name="width">Output width in pixels.</param>
    /// <param name="height">Output height in pixels.</param>
    /// <param name="method">Interpolation; bicubic may overshoot the input range slightly.</param>
    /// <returns>height × width values, row-major.</returns>
    public static float[] Upsample(ReadOnlySpan<float> grid, int gridHeight, int gridWidth, int width, int height, Upsampling method)
    {
        var result = new float[checked(width * height)];
        Upsample(grid, gridHeight, gridWidth, width, height, method, result);
        return result;
    }

    /// <summary>
    /// Draws a map as an opaque heat-map image (no photo): normalised, enlarged to <paramref name="width"/> ×
    /// <paramref name="height"/>, coloured. The caller disposes the bitmap.
    /// </summary>
    /// <param name="map">The map.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="options">Colormap, epsilon and clip percentile; null for <see cref="OverlayOptions.Default"/>.</param>
    /// <param name="mapName">How error messages name the map; defaults to the argument expression.</param>
    /// <returns>A new bitmap; the caller owns it and disposes it.</returns>
    /// <exception cref="ArgumentException">The map holds NaN or ±∞, a size is not positive, or an option is out of range.</exception>
    public static SKBitmap Render(
        AttentionMap map, int width, int height, OverlayOptions? options = null,
        [CallerArgumentExpression(nameof(map))] string? mapName = null)
    {
        ArgumentNullException.ThrowIfNull(map);
        if (width <= 0 || height <= 0)
        {
            throw new ArgumentException($"A heat map needs a positive size, got {width}×{height}.", nameof(width));
        }

        options ??= OverlayOptions.Default;
        var scaled = Normalize(map, options, mapName);
        var values = Upsample(scaled, map.Height, map.Width, width, height, options.Upsampling);
        var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var pixels = bitmap.GetPixelSpan();
        var table = Colormaps.Table(options.Colormap);
        for (int i = 0; i < values.Length; i++)
        {
            int c = Colormaps.Index(values[i]) * 3;
            int o = i * 4;
            pixels[o] = table[c];
            pixels[o + 1] = table[c + 1];
            pixels[o + 2] = table[c + 2];
            pixels[o + 3] = 255;
        }

        bitmap.NotifyPixelsChanged();
        return bitmap;
    }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the map and cell if any value is NaN or ±∞.</summary>
    internal static void RequireFinite(AttentionMap map, string? mapName)
    {
        var values = map.Values;
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                throw new ArgumentException(
                    $"Attention map '{mapName ?? "map"}' ({map.Height}×{map.Width}) holds {values[i]} at row {i / map.Width}, " +
                    $"column {i % map.Width}; heat maps need finite values (check the model's attention output).",
                    mapName ?? "map");
            }
        }
    }

    internal static void NormalizeCore(ReadOnlySpan<float> values, float epsilon, float? clipPercentile, Span<float> destination)
    {
        float max = TensorPrimitives.Max(values);
        if (clipPercentile is float p && p < 100f)
        {
            max = Percentile(values, p);
        }

        float min = TensorPrimitives.Min(values);
        float range = Math.Max(max - min, epsilon);
        for (int i = 0; i < values.Length; i++)
        {
            float v = Math.Min(values[i], max);
            destination[i] = Math.Clamp((v - min) / range, 0f, 1f);
        }
    }

    /// <summary>The p-th percentile with linear interpolation between closest ranks (numpy's default).</summary>
    internal static float Percentile(ReadOnlySpan<float> values, float percentile)
    {
        var sorted = values.ToArray();
        Array.Sort(sorted);
        double rank = percentile / 100.0 * (sorted.Length - 1);
        int lo = (int)Math.Floor(rank);
        int hi = Math.Min(lo + 1, sorted.Length - 1);
        return (float)(sorted[lo] + ((sorted[hi] - sorted[lo]) * (rank - lo)));
    }

    /// <summary>
    /// Separable resampling: rows of the grid are first resampled along x into a gridHeight × xTaps.Count
    /// buffer, then columns along y into the destination (yTaps.Count × xTaps.Count).
    /// </summary>
    internal static void Resample(
        ReadOnlySpan<float> grid, int gridHeight, int gridWidth, in AxisTaps xTaps, in AxisTaps yTaps, Span<float> destination)
    {
        int outW = xTaps.Count;
        var tmp = new float[gridHeight * outW]; // [grid row, output x]
        for (int r = 0; r < gridHeight; r++)
        {
            var src = grid.Slice(r * gridWidth, gridWidth);
            var dst = tmp.AsSpan(r * outW, outW);
            for (int x = 0; x < outW; x++)
            {
                int t = x * AxisTaps.Width;
                dst[x] = (xTaps.Weights[t] * src[xTaps.Indices[t]]) + (xTaps.Weights[t + 1] * src[xTaps.Indices[t + 1]])
                    + (xTaps.Weights[t + 2] * src[xTaps.Indices[t + 2]]) + (xTaps.Weights[t + 3] * src[xTaps.Indices[t + 3]]);
            }
        }

        for (int y = 0; y < yTaps.Count; y++)
        {
            var row = destination.Slice(y * outW, outW);
            int t = y * AxisTaps.Width;
            TensorPrimitives.Multiply(tmp.AsSpan(yTaps.Indices[t] * outW, outW), yTaps.Weights[t], row);
            for (int k = 1; k < AxisTaps.Width; k++)
            {
                float w = yTaps.Weights[t + k];
                if (w != 0f)
                {
                    TensorPrimitives.MultiplyAdd(tmp.AsSpan(yTaps.Indices[t + k] * outW, outW), w, row, row);
                }
            }
        }
    }
}
