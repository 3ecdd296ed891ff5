namespace VitAttention.Evaluation;

/// <summary>Names, captions and directions of the <see cref="FaithfulnessMetric"/> values.</summary>
internal static class FaithfulnessMetrics
{
    /// <summary>Every metric, in the order tables and figures show them.</summary>
    public static IReadOnlyList<FaithfulnessMetric> All { get; } =
    [
        FaithfulnessMetric.PositivePerturbation, FaithfulnessMetric.NegativePerturbation,
        FaithfulnessMetric.Deletion, FaithfulnessMetric.Insertion,
    ];

    /// <summary>The short name used on the command line and in JSON: positive, negative, deletion, insertion.</summary>
    public static string Name(FaithfulnessMetric metric) => metric switch
    {
        FaithfulnessMetric.PositivePerturbation => "positive",
        FaithfulnessMetric.NegativePerturbation => "negative",
        FaithfulnessMetric.Deletion => "deletion",
        FaithfulnessMetric.Insertion => "insertion",
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, null),
    };

    /// <summary>A caption for tables and figures.</summary>
    public static string Caption(FaithfulnessMetric metric) => metric switch
    {
        FaithfulnessMetric.PositivePerturbation => "Positive perturbation",
        FaithfulnessMetric.NegativePerturbation => "Negative perturbation",
        FaithfulnessMetric.Deletion => "Deletion",
        FaithfulnessMetric.Insertion => "Insertion",
        _ => throw new ArgumentOutOfRangeException(nameof(metric), metric, null),
    };

    /// <summary>True when a lower AUC means a more faithful map (positive perturbation, deletion).</summary>
    public static bool LowerIsBetter(FaithfulnessMetric metric) =>
        metric is FaithfulnessMetric.PositivePerturbation or FaithfulnessMetric.Deletion;

    /// <summary>True for the Chefer et al. protocols, whose curves are top-1 accuracy and whose AUC is in percent.</summary>
    public static bool IsPerturbation(FaithfulnessMetric metric) =>
        metric is FaithfulnessMetric.PositivePerturbation or FaithfulnessMetric.NegativePerturbation;

    /// <summary>Parses a short name (case-insensitive); null when it is not one.</summary>
    public static FaithfulnessMetric? TryParse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "positive" or "pos" => FaithfulnessMetric.PositivePerturbation,
        "negative" or "neg" => FaithfulnessMetric.NegativePerturbation,
        "deletion" or "del" => FaithfulnessMetric.Deletion,
        "insertion" or "ins" => FaithfulnessMetric.Insertion,
        _ => null,
    };

    /// <summary>Parses a comma-separated list of metric names, or "all".</summary>
    /// <exception cref="ArgumentException">A name is not a metric, or the list is empty or repeats one.</exception>
    public static IReadOnlyList<FaithfulnessMetric> ParseList(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Trim().Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            return All;
        }

        var result = new List<FaithfulnessMetric>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var metric = TryParse(part) ?? throw new ArgumentException(
                $"'{part}' is not a faithfulness metric; use positive, negative, deletion, insertion (comma-separated) or all.", nameof(text));
            if (result.Contains(metric))
            {
                throw new ArgumentException($"the metric '{part}' is listed twice.", nameof(text));
            }

            result.Add(metric);
        }

        return result.Count > 0
            ? result
            : throw new ArgumentException("no metric given; use positive, negative, deletion, insertion (comma-separated) or all.", nameof(text));
    }
}
