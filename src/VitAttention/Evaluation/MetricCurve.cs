namespace VitAttention.Evaluation;

/// <summary>One method's curve under one test for one image, and its area.</summary>
/// <param name="Method">The method's name.</param>
/// <param name="Metric">The test.</param>
/// <param name="X">Fraction of pixels (perturbation) or patches (deletion, insertion) changed.</param>
/// <param name="Y">Top-1 correctness, 0 or 1 (perturbation), or the original class's probability (deletion, insertion).</param>
/// <param name="Auc">The area: percent for the perturbation tests, a fraction for deletion and insertion.</param>
internal sealed record MetricCurve(string Method, FaithfulnessMetric Metric, double[] X, double[] Y, double Auc);
