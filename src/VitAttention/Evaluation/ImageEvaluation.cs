namespace VitAttention.Evaluation;

/// <summary>The faithfulness results of one image: every requested method's curve under every requested test.</summary>
/// <param name="Key">The image's key.</param>
/// <param name="Label">The ground-truth class, or null.</param>
/// <param name="Predicted">The class predicted on the unperturbed image (−1 when the image failed).</param>
/// <param name="Probability">Its softmax probability.</param>
/// <param name="Curves">One per method and test, methods in the run's order, the random baseline last.</param>
/// <param name="Error">Why the image could not be evaluated (then <paramref name="Curves"/> is empty), or null.</param>
internal sealed record ImageEvaluation(string Key, int? Label, int Predicted, double Probability, IReadOnlyList<MetricCurve> Curves, string? Error = null)
{
    /// <summary>An image that could not be evaluated.</summary>
    public static ImageEvaluation Failed(string key, int? label, string error) => new(key, label, -1, double.NaN, [], error);
}
