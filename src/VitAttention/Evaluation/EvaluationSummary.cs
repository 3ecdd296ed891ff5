namespace VitAttention.Evaluation;

/// <summary>
/// The running aggregate of a faithfulness run: per method and test, the mean curve with its spread and the AUC's mean
/// and standard error. Built image by image, in any order (the result does not depend on it beyond rounding), so
/// shards can be merged by feeding their images into one summary. Not thread-safe.
/// </summary>
internal sealed class EvaluationSummary
{
    private readonly Dictionary<(string Method, FaithfulnessMetric Metric), CurveSummary> _curves = [];
    private readonly List<string> _methods = [];
    private readonly List<FaithfulnessMetric> _metrics = [];
    private readonly List<string> _failures = [];

    /// <summary>Images added with curves.</summary>
    public int Images { get; private set; }

    /// <summary>Keys of images that failed, with why.</summary>
    public IReadOnlyList<string> Failures => _failures;

    /// <summary>Methods in the order first seen (the random baseline comes last in a run's images).</summary>
    public IReadOnlyList<string> Methods => _methods;

    /// <summary>Tests in the order first seen.</summary>
    public IReadOnlyList<FaithfulnessMetric> Metrics => _metrics;

    /// <summary>Top-1 accuracy of the model on the unperturbed images that have labels (NaN when none has one).</summary>
    public RunningStatistics Accuracy { get; } = new();

    /// <summary>A summary of a sequence of results.</summary>
    public static EvaluationSummary Of(IEnumerable<ImageEvaluation> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var summary = new EvaluationSummary();
        foreach (var r in results)
        {
            summary.Add(r);
        }

        return summary;
    }

    /// <summary>Adds one image.</summary>
    /// <exception cref="ArgumentException">A curve is sampled at other x than earlier images'.</exception>
    public void Add(ImageEvaluation result)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.Error is not null)
        {
            _failures.Add($"{result.Key}: {result.Error}");
            return;
        }

        foreach (var curve in result.Curves)
        {
            var id = (curve.Method, curve.Metric);
            if (!_curves.TryGetValue(id, out var summary))
            {
                summary = new CurveSummary(curve.Method, curve.Metric, curve.X);
                _curves.Add(id, summary);
                if (!_methods.Contains(curve.Method))
                {
                    _methods.Add(curve.Method);
                }

                if (!_metrics.Contains(curve.Metric))
                {
                    _metrics.Add(curve.Metric);
                }
            }

            summary.Add(curve);
        }

        if (result.Label is { } label)
        {
            Accuracy.Add(label == result.Predicted ? 1 : 0);
        }

        Images++;
    }

    /// <summary>The aggregate of one method under one test, or null when none was added.</summary>
    public CurveSummary? Get(string method, FaithfulnessMetric metric) => _curves.GetValueOrDefault((method, metric));
}
