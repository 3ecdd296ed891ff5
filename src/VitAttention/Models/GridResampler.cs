namespace VitAttention.Models;

/// <summary>
/// Resizes a grid of vectors (a position embedding's patch rows, a relative position table) as PyTorch's
/// <c>F.interpolate(x, size=(outH, outW), align_corners=False)</c> does for the given mode, separably over rows and
/// columns, in float64 (PyTorch works in float32; the results agree to float32 rounding).
/// </summary>
/// <remarks>
/// The formulas follow ATen's <c>UpSample.h</c> (<c>area_pixel_compute_source_index</c>, the cubic convolution
/// coefficients) and, for antialiasing, its separable <c>_upsample_*_aa</c> kernels, which weight like PIL: support
/// <c>2·max(scale, 1)</c> around the centre <c>scale·(i + 0.5)</c>, weights normalised over the taps inside the grid.
/// The scale is <c>input / output</c> (PyTorch's rule when a size, not a scale factor, is given).
/// </remarks>
internal static class GridResampler
{
    private const double CubicA = -0.75;     // ATen's upsample_bicubic2d
    private const double AntialiasA = -0.5;  // ATen's antialiased bicubic (PIL's)

    /// <summary>Resizes <c>[inH, inW, channels]</c> (channel-last, row-major) to <c>[outH, outW, channels]</c>.</summary>
    public static float[] Resize(ReadOnlySpan<float> grid, int channels, int inHeight, int inWidth, int outHeight, int outWidth, GridInterpolation mode)
    {
        if (grid.Length != (long)inHeight * inWidth * channels)
        {
            throw new ArgumentException($"The grid holds {grid.Length} values, not {inHeight}×{inWidth}×{channels}.", nameof(grid));
        }

        var rows = Taps(inHeight, outHeight, mode);
        var cols = Taps(inWidth, outWidth, mode);

        // Columns first into a float64 [inH, outW, C] buffer, then rows.
        var wide = new double[(long)inHeight * outWidth * channels];
        for (int y = 0; y < inHeight; y++)
        {
            for (int x = 0; x < outWidth; x++)
            {
                Span<double> dst = wide.AsSpan(((y * outWidth) + x) * channels, channels);
                foreach (var (index, weight) in cols[x])
                {
                    ReadOnlySpan<float> src = grid.Slice(((y * inWidth) + index) * channels, channels);
                    for (int c = 0; c < channels; c++)
                    {
                        dst[c] += weight * src[c];
                    }
                }
            }
        }

        var result = new float[(long)outHeight * outWidth * channels];
        var acc = new double[channels];
        for (int y = 0; y < outHeight; y++)
        {
            for (int x = 0; x < outWidth; x++)
            {
                Array.Clear(acc);
                foreach (var (index, weight) in rows[y])
                {
                    ReadOnlySpan<double> src = wide.AsSpan(((index * outWidth) + x) * channels, channels);
                    for (int c = 0; c < channels; c++)
                    {
                        acc[c] += weight * src[c];
                    }
                }

                Span<float> dst = result.AsSpan(((y * outWidth) + x) * channels, channels);
                for (int c = 0; c < channels; c++)
                {
                    dst[c] = (float)acc[c];
                }
            }
        }

        return result;
    }

    /// <summary>For each output index along one axis, the input indices it reads and their weights.</summary>
    internal static (int Index, double Weight)[][] Taps(int inSize, int outSize, GridInterpolation mode)
    {
        if (inSize <= 0 || outSize <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(outSize), $"Grid sizes must be positive, got {inSize} → {outSize}.");
        }

        double scale = (double)inSize / outSize;
        var taps = new (int, double)[outSize][];
        for (int i = 0; i < outSize; i++)
        {
            taps[i] = mode switch
            {
                GridInterpolation.Bicubic => CubicTaps(i, scale, inSize),
                GridInterpolation.BicubicAntialias => AntialiasTaps(i, scale, inSize),
                GridInterpolation.Bilinear => LinearTaps(i, scale, inSize),
                _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, null),
            };
        }

        return taps;
    }

    private static (int, double)[] CubicTaps(int i, double scale, int inSize)
    {
        double real = (scale * (i + 0.5)) - 0.5; // not clamped for cubic
        int floor = (int)Math.Floor(real);
        double t = real - floor;
        double[] w =
        [
            CubicFar(t + 1.0),
            CubicNear(t),
            CubicNear(1.0 - t),
            CubicFar(2.0 - t),
        ];
        var taps = new (int, double)[4];
        for (int k = 0; k < 4; k++)
        {
            taps[k] = (Math.Clamp(floor - 1 + k, 0, inSize - 1), w[k]);
        }

        return taps;

        static double CubicNear(double x) => ((((CubicA + 2) * x) - (CubicA + 3)) * x * x) + 1;

        static double CubicFar(double x) => ((((CubicA * x) - (5 * CubicA)) * x) + (8 * CubicA)) * x - (4 * CubicA);
    }

    private static (int, double)[] AntialiasTaps(int i, double scale, int inSize)
    {
        double support = 2.0 * Math.Max(scale, 1.0);
        double invScale = scale >= 1.0 ? 1.0 / scale : 1.0;
        double center = scale * (i + 0.5);
        int min = Math.Max((int)(center - support + 0.5), 0);
        int max = Math.Min((int)(center + support + 0.5), inSize);
        var taps = new (int, double)[Math.Max(max - min, 0)];
        double total = 0;
        for (int j = 0; j < taps.Length; j++)
        {
            double w = Filter((j + min - center + 0.5) * invScale);
            taps[j] = (min + j, w);
            total += w;
        }

        for (int j = 0; j < taps.Length; j++)
        {
            taps[j].Item2 = total != 0 ? taps[j].Item2 / total : 0;
        }

        return taps;

        static double Filter(double x)
        {
            x = Math.Abs(x);
            return x < 1.0 ? ((((AntialiasA + 2.0) * x) - (AntialiasA + 3.0)) * x * x) + 1.0
                : x < 2.0 ? ((((x - 5.0) * x) + 8.0) * x - 4.0) * AntialiasA
                : 0.0;
        }
    }

    private static (int, double)[] LinearTaps(int i, double scale, int inSize)
    {
        double real = Math.Max((scale * (i + 0.5)) - 0.5, 0.0);
        int x0 = (int)real;
        int x1 = x0 + (x0 < inSize - 1 ? 1 : 0);
        double l1 = real - x0;
        return [(x0, 1.0 - l1), (x1, l1)];
    }
}
