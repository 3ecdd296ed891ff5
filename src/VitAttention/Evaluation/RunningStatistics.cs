namespace VitAttention.Evaluation;

/// <summary>
/// Mean and spread of a stream of values in one pass (Welford 1962), numerically stable for millions of values.
/// Not thread-safe.
/// </summary>
internal sealed class RunningStatistics
{
    private double _mean;
    private double _m2; // sum of squared deviations from the running mean

    /// <summary>Values added.</summary>
    public long Count { get; private set; }

    /// <summary>The mean (NaN before the first value).</summary>
    public double Mean => Count > 0 ? _mean : double.NaN;

    /// <summary>The population standard deviation, <c>√(Σ (v − mean)² / n)</c> as <c>np.std</c> (NaN when empty).</summary>
    public double StandardDeviation => Count > 0 ? Math.Sqrt(_m2 / Count) : double.NaN;

    /// <summary>The standard error of the mean, sample standard deviation / √n (NaN for fewer than two values).</summary>
    public double StandardError => Count > 1 ? Math.Sqrt(_m2 / (Count - 1) / Count) : double.NaN;

    /// <summary>Adds a value.</summary>
    /// <exception cref="ArgumentException">The value is NaN or infinite.</exception>
    public void Add(double value)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentException($"statistics take finite values, got {value}.", nameof(value));
        }

        Count++;
        double delta = value - _mean;
        _mean += delta / Count;
        _m2 += delta * (value - _mean);
    }
}
