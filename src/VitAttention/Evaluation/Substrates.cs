namespace VitAttention.Evaluation;

/// <summary>
/// The images that removed patches become in the deletion and insertion tests, all in normalised space (RISE applies
/// its substrate functions to the normalised tensor).
/// </summary>
internal static class Substrates
{
    /// <summary>Side of RISE's blur kernel (<c>klen = 11</c>).</summary>
    public const int BlurSize = 11;

    /// <summary>The σ RISE passes to <c>scipy.ndimage.gaussian_filter</c> (<c>ksig = 5</c>).</summary>
    public const double BlurSigma = 5;

    private static readonly Lazy<double[]> LazyKernel = new(BuildKernel);

    /// <summary>
    /// One axis of RISE's blur kernel. RISE builds the 2-D kernel (<c>gkern(11, 5)</c>) by running
    /// <c>scipy.ndimage.gaussian_filter</c> with σ = 5 over an 11 × 11 array holding 1 in the centre. SciPy's sampled
    /// Gaussian has radius <c>int(4·σ + 0.5)</c> = 20 and weights <c>exp(−x² / 2σ²)</c> normalised to sum 1; its
    /// default boundary mode <c>reflect</c> (… c b a | a b c … | … c b a …, period 22 here) folds the weights that
    /// fall outside the 11 samples back inside, so the kernel still sums to 1 and is nearly flat. The filter is
    /// separable and the input is a centred delta, so the 2-D kernel is the outer product of this axis with itself.
    /// </summary>
    public static ReadOnlySpan<double> BlurKernel => LazyKernel.Value;

    /// <summary>Writes the substrate of <paramref name="image"/> into <paramref name="destination"/>.</summary>
    /// <param name="kind">Which substrate.</param>
    /// <param name="image">The normalised image, <c>[channel, height, width]</c>.</param>
    /// <param name="geometry">The model's input.</param>
    /// <param name="destination">Receives the substrate; may not overlap <paramref name="image"/>.</param>
    public static void Fill(Substrate kind, ReadOnlySpan<float> image, EvaluationGeometry geometry, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(geometry);
        PerturbationTest.CheckImage(image, geometry, nameof(image));
        PerturbationTest.CheckImage(destination, geometry, nameof(destination));
        switch (kind)
        {
            case Substrate.Zero:
                destination.Clear();
                break;
            case Substrate.Mean:
                FillMean(image, geometry, destination);
                break;
            case Substrate.Blur:
                Blur(image, geometry, destination);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown substrate.");
        }
    }

    /// <summary>Each channel filled with that channel's mean over the image (float64 sum).</summary>
    private static void FillMean(ReadOnlySpan<float> image, EvaluationGeometry geometry, Span<float> destination)
    {
        int plane = geometry.Plane;
        for (int c = 0; c < geometry.Channels; c++)
        {
            double sum = 0;
            foreach (float v in image.Slice(c * plane, plane))
            {
                sum += v;
            }

            destination.Slice(c * plane, plane).Fill((float)(sum / plane));
        }
    }

    /// <summary>
    /// RISE's blur, <c>conv2d(x, kern, padding=5)</c> with the kernel on each channel's diagonal: each channel
    /// correlated with the 11 × 11 kernel, pixels outside the image read as 0 (normalised space). The kernel is
    /// separable and zero padding is too, so rows then columns, in float64.
    /// </summary>
    private static void Blur(ReadOnlySpan<float> image, EvaluationGeometry geometry, Span<float> destination)
    {
        ReadOnlySpan<double> k = BlurKernel;
        int radius = BlurSize / 2, h = geometry.Height, w = geometry.Width, plane = geometry.Plane;
        var rows = new double[plane]; // one channel after the horizontal pass, [height, width]
        for (int c = 0; c < geometry.Channels; c++)
        {
            ReadOnlySpan<float> src = image.Slice(c * plane, plane);
            for (int y = 0; y < h; y++)
            {
                for (int x = 0; x < w; x++)
                {
                    double sum = 0;
                    for (int j = Math.Max(0, radius - x); j < BlurSize && x + j - radius < w; j++)
                    {
                        sum += k[j] * src[(y * w) + x + j - radius];
                    }

                    rows[(y * w) + x] = sum;
                }
            }

            Span<float> dst = destination.Slice(c * plane, plane);
            for (int y = 0; y < h; y++)
            {
                for (int x = 0; x < w; x++)
                {
                    double sum = 0;
                    for (int i = Math.Max(0, radius - y); i < BlurSize && y + i - radius < h; i++)
                    {
                        sum += k[i] * rows[((y + i - radius) * w) + x];
                    }

                    dst[(y * w) + x] = (float)sum;
                }
            }
        }
    }

    private static double[] BuildKernel()
    {
        int radius = (int)((4.0 * BlurSigma) + 0.5); // scipy: truncate 4.0
        var weights = new double[(2 * radius) + 1];
        double total = 0;
        for (int j = -radius; j <= radius; j++)
        {
            weights[j + radius] = Math.Exp(-0.5 / (BlurSigma * BlurSigma) * j * j);
            total += weights[j + radius];
        }

        int n = BlurSize, centre = BlurSize / 2, period = 2 * n;
        var kernel = new double[n];
        for (int i = 0; i < n; i++)
        {
            for (int j = -radius; j <= radius; j++)
            {
                // 'reflect' extension: position m reads sample r, the mirror image of m with period 2n.
                int m = (((i + j) % period) + period) % period;
                int r = m < n ? m : period - 1 - m;
                if (r == centre)
                {
                    kernel[i] += weights[j + radius] / total;
                }
            }
        }

        return kernel;
    }
}
