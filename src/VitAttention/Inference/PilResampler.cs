using VitAttention.Models;

namespace VitAttention.Inference;

/// <summary>
/// Resizes 8-bit interleaved RGB images the way PIL's <c>Image.resize</c> does for 8-bit images, so that the library's
/// preprocessing reproduces the Hugging Face and timm reference pipelines sample for sample.
/// </summary>
/// <remarks>
/// The scheme (written here from its description in DESIGN.md, not from Pillow's source):
/// separable, a horizontal pass into an 8-bit intermediate image, then a vertical pass. Output sample <c>i</c> of an
/// axis scaled by <c>scale = in / out</c> is centred at <c>(i + 0.5) · scale</c>; the filter is stretched by
/// <c>max(scale, 1)</c> so that shrinking antialiases; it covers the input samples whose index lies in
/// <c>[centre − support + 0.5, centre + support + 0.5)</c> (truncated, clamped to the image), each weighted
/// <c>filter((x − centre + 0.5) / max(scale, 1))</c>, and the weights are normalised to sum 1. Weights are applied in
/// fixed point (22 fractional bits, rounding half away from zero), each sum starts at one half, and the result is
/// shifted down, then clamped to 0..255.
/// </remarks>
internal static class PilResampler
{
    /// <summary>Fractional bits of the fixed-point weights: 32 − 8 (sample) − 2 (headroom for negative lobes).</summary>
    private const int PrecisionBits = 22;

    /// <summary>The filter taps of one axis: for every output sample, the first input index and its weights.</summary>
    private sealed class AxisWeights
    {
        public required int[] First { get; init; }   // [out]: first input sample used

        public required int[] Count { get; init; }   // [out]: input samples used

        public required int[] Weights { get; init; } // [out, Stride]: fixed-point weights

        public required int Stride { get; init; }
    }

    /// <summary>The filter's support in input samples at scale 1 (bilinear 1, bicubic 2).</summary>
    private static double Support(ResampleFilter filter) => filter switch
    {
        ResampleFilter.Bilinear => 1.0,
        ResampleFilter.Bicubic => 2.0,
        _ => throw new ArgumentOutOfRangeException(nameof(filter), filter, "Unknown resampling filter."),
    };

    /// <summary>The filter kernel: a triangle for bilinear, Keys' cubic with a = −0.5 for bicubic.</summary>
    private static double Kernel(ResampleFilter filter, double x)
    {
        x = Math.Abs(x);
        if (filter == ResampleFilter.Bilinear)
        {
            return x < 1.0 ? 1.0 - x : 0.0;
        }

        const double a = -0.5;
        if (x < 1.0)
        {
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
        }

        return x < 2.0 ? (((x - 5.0) * x + 8.0) * x - 4.0) * a : 0.0;
    }

    private static AxisWeights ComputeWeights(int inSize, int outSize, ResampleFilter filter)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = Support(filter) * filterScale;
        double inverse = 1.0 / filterScale;
        int stride = (int)Math.Ceiling(support) * 2 + 1;
        var first = new int[outSize];
        var count = new int[outSize];
        var weights = new int[outSize * stride];
        double[] tapBuffer = new double[stride];
        for (int i = 0; i < outSize; i++)
        {
            double centre = (i + 0.5) * scale;
            int lo = Math.Max((int)(centre - support + 0.5), 0);
            int hi = Math.Min((int)(centre + support + 0.5), inSize);
            int n = Math.Min(hi - lo, stride);
            double total = 0;
            for (int x = 0; x < n; x++)
            {
                double w = Kernel(filter, (x + lo - centre + 0.5) * inverse);
                tapBuffer[x] = w;
                total += w;
            }

            for (int x = 0; x < n; x++)
            {
                double w = total != 0 ? tapBuffer[x] / total : 0;
                double f = w * (1 << PrecisionBits);
                weights[i * stride + x] = (int)(f < 0 ? f - 0.5 : f + 0.5); // round half away from zero
            }

            first[i] = lo;
            count[i] = Math.Max(n, 0);
        }

        return new AxisWeights { First = first, Count = count, Weights = weights, Stride = stride };
    }

    private static byte Clamp8(int fixedPoint)
    {
        int v = fixedPoint >> PrecisionBits; // arithmetic shift: negative sums stay negative
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    /// <summary>
    /// Resizes an interleaved RGB image (3 bytes per pixel, rows packed) to <paramref name="outWidth"/> ×
    /// <paramref name="outHeight"/> with PIL's semantics.
    /// </summary>
    /// <param name="source">The source pixels, <c>[height, width, 3]</c>.</param>
    /// <param name="width">Source width.</param>
    /// <param name="height">Source height.</param>
    /// <param name="outWidth">Output width.</param>
    /// <param name="outHeight">Output height.</param>
    /// <param name="filter">Bilinear or bicubic.</param>
    /// <returns>The output pixels, <c>[outHeight, outWidth, 3]</c>.</returns>
    public static byte[] ResizeRgb(ReadOnlySpan<byte> source, int width, int height, int outWidth, int outHeight,
        ResampleFilter filter) =>
        Resize(source, width, height, width * 3, 3, outWidth, outHeight, filter);

    /// <summary>
    /// Resizes the first three channels of an interleaved image with <paramref name="pixelBytes"/> bytes per pixel
    /// (3 for RGB, 4 for RGBA, whose fourth byte is ignored) and <paramref name="rowBytes"/> bytes per row, so that
    /// decoded RGBA bitmaps are read in place.
    /// </summary>
    /// <param name="source">The source rows.</param>
    /// <param name="width">Source width.</param>
    /// <param name="height">Source height.</param>
    /// <param name="rowBytes">Bytes from one source row to the next.</param>
    /// <param name="pixelBytes">Bytes from one source pixel to the next (3 or 4).</param>
    /// <param name="outWidth">Output width.</param>
    /// <param name="outHeight">Output height.</param>
    /// <param name="filter">Bilinear or bicubic.</param>
    /// <returns>The output pixels, RGB, <c>[outHeight, outWidth, 3]</c>.</returns>
    public static byte[] Resize(ReadOnlySpan<byte> source, int width, int height, int rowBytes, int pixelBytes,
        int outWidth, int outHeight, ResampleFilter filter)
    {
        if (width <= 0 || height <= 0 || outWidth <= 0 || outHeight <= 0)
        {
            throw new ArgumentException(
                $"Cannot resize {width}×{height} to {outWidth}×{outHeight}: every size must be positive.");
        }

        if (pixelBytes is not (3 or 4) || rowBytes < (long)width * pixelBytes)
        {
            throw new ArgumentException(
                $"Rows of {rowBytes} bytes cannot hold {width} pixels of {pixelBytes} bytes.", nameof(rowBytes));
        }

        if (source.Length < (long)rowBytes * (height - 1) + (long)width * pixelBytes)
        {
            throw new ArgumentException(
                $"An image of {width}×{height} with {pixelBytes} bytes per pixel needs {(long)rowBytes * (height - 1) + (long)width * pixelBytes} bytes, got {source.Length}.",
                nameof(source));
        }

        // [height, outWidth, 3]: the horizontal pass, rounded to 8 bits as PIL's intermediate image is.
        var horizontal = new byte[checked(height * outWidth * 3)];
        if (outWidth == width)
        {
            // No horizontal resampling (it would be the identity): just drop the fourth byte, if any.
            for (int y = 0; y < height; y++)
            {
                ReadOnlySpan<byte> row = source.Slice(y * rowBytes, width * pixelBytes);
                Span<byte> dst = horizontal.AsSpan(y * width * 3, width * 3);
                for (int x = 0; x < width; x++)
                {
                    dst[x * 3] = row[x * pixelBytes];
                    dst[x * 3 + 1] = row[x * pixelBytes + 1];
                    dst[x * 3 + 2] = row[x * pixelBytes + 2];
                }
            }
        }
        else
        {
            AxisWeights wx = ComputeWeights(width, outWidth, filter);
            for (int y = 0; y < height; y++)
            {
                ReadOnlySpan<byte> row = source.Slice(y * rowBytes, width * pixelBytes);
                Span<byte> dst = horizontal.AsSpan(y * outWidth * 3, outWidth * 3);
                for (int i = 0; i < outWidth; i++)
                {
                    int r = 1 << (PrecisionBits - 1), g = r, b = r;
                    int lo = wx.First[i];
                    ReadOnlySpan<int> k = wx.Weights.AsSpan(i * wx.Stride, wx.Count[i]);
                    for (int t = 0; t < k.Length; t++)
                    {
                        int s = (lo + t) * pixelBytes;
                        r += row[s] * k[t];
                        g += row[s + 1] * k[t];
                        b += row[s + 2] * k[t];
                    }

                    dst[i * 3] = Clamp8(r);
                    dst[i * 3 + 1] = Clamp8(g);
                    dst[i * 3 + 2] = Clamp8(b);
                }
            }
        }

        if (outHeight == height)
        {
            return horizontal;
        }

        // [outHeight, outWidth, 3]: the vertical pass over the 8-bit intermediate, one output row at a time, taps
        // outermost so that every read walks an intermediate row in order.
        var output = new byte[outHeight * outWidth * 3];
        AxisWeights wy = ComputeWeights(height, outHeight, filter);
        int outRow = outWidth * 3;
        var acc = new int[outRow];
        for (int j = 0; j < outHeight; j++)
        {
            int lo = wy.First[j];
            ReadOnlySpan<int> k = wy.Weights.AsSpan(j * wy.Stride, wy.Count[j]);
            Array.Fill(acc, 1 << (PrecisionBits - 1));
            for (int t = 0; t < k.Length; t++)
            {
                ReadOnlySpan<byte> row = horizontal.AsSpan((lo + t) * outRow, outRow);
                int w = k[t];
                for (int s = 0; s < outRow; s++)
                {
                    acc[s] += row[s] * w;
                }
            }

            Span<byte> dst = output.AsSpan(j * outRow, outRow);
            for (int s = 0; s < outRow; s++)
            {
                dst[s] = Clamp8(acc[s]);
            }
        }

        return output;
    }
}
