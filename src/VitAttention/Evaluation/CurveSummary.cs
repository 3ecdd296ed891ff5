namespace VitAttention.Evaluation;

/// <summary>The running aggregate of one method's curves under one test: per-point statistics and the AUC's.</summary>
internal sealed class CurveSummary
{
    private readonly RunningStatistics[] _points;

    /// <summary>An empty aggregate over curves sampled at <paramref name="x"/>.</summary>
    public CurveSummary(string method, FaithfulnessMetric metric, IReadOnlyList<double> x)
    {
        Method = method;
        Metric = metric;
        X = [.. x];
        _points = [.. x.Select(_ => new RunningStatistics())];
    }

    /// <summary>The method.</summary>
    public string Method { get; }

    /// <summary>The test.</summary>
    public FaithfulnessMetric Metric { get; }

    /// <summary>Where every curve is sampled.</summary>
    public double[] X { get; }

    /// <summary>Per-point statistics of the curves' y.</summary>
    public IReadOnlyList<RunningStatistics> Points => _points;

    /// <summary>Statistics of the per-image AUCs (their mean is the AUC of the mean curve: the trapezoid is linear).</summary>
    public RunningStatistics Auc { get; } = new();

    /// <summary>Adds one image's curve.</summary>
    /// <exception cref="ArgumentException">The curve is sampled at other x (a different protocol or step size).</exception>
    public void Add(MetricCurve curve)
    {
        ArgumentNullException.ThrowIfNull(curve);
        if (!curve.X.AsSpan().SequenceEqual(X) || curve.Y.Length != X.Length)
        {
            throw new ArgumentException(
                $"the {FaithfulnessMetrics.Name(Metric)} curve of '{Method}' is sampled at {curve.X.Length} points, unlike the {X.Length} of earlier images: " +
                "results of different step sizes or models cannot be aggregated together.", nameof(curve));
        }

        for (int i = 0; i < _points.Length; i++)
        {
            _points[i].Add(curve.Y[i]);
        }

        Auc.Add(curve.Auc);
    }
}
