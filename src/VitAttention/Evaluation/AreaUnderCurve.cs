namespace VitAttention.Evaluation;

/// <summary>Areas under sampled curves.</summary>
internal static class AreaUnderCurve
{
    /// <summary>
    /// The trapezoid rule, <c>Σ (x[i+1] − x[i]) · (y[i] + y[i+1]) / 2</c>, as <c>np.trapz(y, x)</c>. For x spread evenly
    /// over [0, 1] this is RISE's normalised AUC, <c>(Σ y − y[0]/2 − y[n−1]/2) / (n − 1)</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The lengths differ, or there are fewer than two points.</exception>
    public static double Trapezoid(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        if (x.Length != y.Length || x.Length < 2)
        {
            throw new ArgumentException($"a curve needs at least two points and one y per x (got {x.Length} x and {y.Length} y).", nameof(y));
        }

        double area = 0;
        for (int i = 0; i + 1 < x.Length; i++)
        {
            area += (x[i + 1] - x[i]) * (y[i] + y[i + 1]) / 2;
        }

        return area;
    }
}
