namespace VitAttention.Rendering;

/// <summary>
/// For each output sample along one axis, four grid indices (edge-clamped) and their weights. Output sample i,
/// of the run that starts at output pixel <c>first</c>, sits at grid coordinate
/// u = (first + i + 0.5 − offset) · gridSize / extent − 0.5, where the grid spans [offset, offset + extent) in
/// output pixels.
/// </summary>
internal readonly struct AxisTaps
{
    public const int Width = 4;

    public readonly int Count;
    public readonly int[] Indices;  // [output, tap]
    public readonly float[] Weights; // [output, tap]

    private AxisTaps(int count)
    {
        Count = count;
        Indices = new int[count * Width];
        Weights = new float[count * Width];
    }

    public static AxisTaps Create(int gridSize, int first, int count, double offset, double extent, Upsampling method)
    {
        var taps = new AxisTaps(count);
        double scale = gridSize / extent;
        for (int i = 0; i < count; i++)
        {
            double u = ((first + i + 0.5 - offset) * scale) - 0.5;
            int t = i * Width;
            switch (method)
            {
                case Upsampling.Nearest:
                    taps.Indices[t] = Math.Clamp((int)Math.Floor(u + 0.5), 0, gridSize - 1);
                    taps.Weights[t] = 1f;
                    break;
                case Upsampling.Bilinear:
                {
                    double i0 = Math.Floor(u);
                    double f = u - i0;
                    taps.Indices[t] = Math.Clamp((int)i0, 0, gridSize - 1);
                    taps.Indices[t + 1] = Math.Clamp((int)i0 + 1, 0, gridSize - 1);
                    taps.Weights[t] = (float)(1 - f);
                    taps.Weights[t + 1] = (float)f;
                    break;
                }

                default:
                {
                    double i0 = Math.Floor(u);
                    double f = u - i0;
                    for (int k = 0; k < Width; k++)
                    {
                        taps.Indices[t + k] = Math.Clamp((int)i0 - 1 + k, 0, gridSize - 1);
                        taps.Weights[t + k] = (float)Keys(f - (k - 1));
                    }

                    break;
                }
            }
        }

        return taps;
    }

    // Keys (1981) cubic convolution kernel with a = −0.5.
    private static double Keys(double x)
    {
        const double a = -0.5;
        x = Math.Abs(x);
        if (x <= 1)
        {
            return (((a + 2) * x) - (a + 3)) * x * x + 1;
        }

        return x < 2 ? ((((a * x) - (5 * a)) * x) + (8 * a)) * x - (4 * a) : 0;
    }
}
