using System.Globalization;
using System.Text;
using System.Text.Json;

namespace VitAttention.Evaluation;

/// <summary>
/// The outputs of a faithfulness run: a markdown table like the papers' (methods × tests, mean AUC ± standard error,
/// the best of each column in bold) and a JSON summary with the mean curves and their spread.
/// </summary>
internal static class EvaluationReport
{
    /// <summary>The methods of a summary in report order: as first seen, the random baseline last.</summary>
    public static IReadOnlyList<string> OrderedMethods(EvaluationSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        return [.. summary.Methods.Where(m => m != RandomMap.MethodName), .. summary.Methods.Where(m => m == RandomMap.MethodName)];
    }

    /// <summary>The metrics of a summary in the fixed report order.</summary>
    public static IReadOnlyList<FaithfulnessMetric> OrderedMetrics(EvaluationSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        return [.. FaithfulnessMetrics.All.Where(summary.Metrics.Contains)];
    }

    /// <summary>The column header of a test: its caption, unit and direction.</summary>
    public static string ColumnHeader(FaithfulnessMetric metric) =>
        $"{FaithfulnessMetrics.Caption(metric)} AUC{(FaithfulnessMetrics.IsPerturbation(metric) ? " (%)" : string.Empty)} {(FaithfulnessMetrics.LowerIsBetter(metric) ? "↓" : "↑")}";

    /// <summary>An AUC as the table shows it: percent with two decimals, or a fraction with three.</summary>
    public static string FormatAuc(FaithfulnessMetric metric, double value) =>
        value.ToString(FaithfulnessMetrics.IsPerturbation(metric) ? "0.00" : "0.000", CultureInfo.InvariantCulture);

    /// <summary>The markdown table, with a line that says what it shows.</summary>
    public static string ToMarkdown(EvaluationSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var methods = OrderedMethods(summary);
        var metrics = OrderedMetrics(summary);
        var sb = new StringBuilder();
        sb.Append("| Method |");
        foreach (var metric in metrics)
        {
            sb.Append(' ').Append(ColumnHeader(metric)).Append(" |");
        }

        sb.AppendLine().Append("| --- |");
        foreach (var _ in metrics)
        {
            sb.Append(" ---: |");
        }

        sb.AppendLine();
        foreach (string method in methods)
        {
            sb.Append("| ").Append(method).Append(" |");
            foreach (var metric in metrics)
            {
                var curve = summary.Get(method, metric);
                if (curve is null)
                {
                    sb.Append(" – |");
                    continue;
                }

                string cell = FormatAuc(metric, curve.Auc.Mean) + " ± " + FormatAuc(metric, curve.Auc.StandardError);
                bool best = Best(summary, methods, metric) == method;
                sb.Append(' ').Append(best ? $"**{cell}**" : cell).Append(" |");
            }

            sb.AppendLine();
        }

        sb.AppendLine();
        sb.Append(string.Create(CultureInfo.InvariantCulture, $"{summary.Images} images"));
        if (summary.Failures.Count > 0)
        {
            sb.Append(string.Create(CultureInfo.InvariantCulture, $" ({summary.Failures.Count} could not be read and are left out)"));
        }

        if (summary.Accuracy.Count > 0)
        {
            sb.Append(string.Create(CultureInfo.InvariantCulture, $"; top-1 accuracy of the model on the unperturbed images {summary.Accuracy.Mean * 100:0.00}%"));
        }

        sb.AppendLine(". Each cell is the mean AUC over images ± its standard error; bold is the best of the column.");
        sb.AppendLine("Positive/negative perturbation (Chefer et al. 2021): top-1 accuracy as the most/least relevant 10 %…90 % of pixels are blacked out, AUC × 100.");
        sb.AppendLine("Deletion/insertion (Petsiuk et al. 2018): probability of the predicted class as patches are removed/inserted in order of the map, normalised AUC.");
        return sb.ToString();
    }

    /// <summary>The JSON summary: counts, and per method and test the AUC's statistics, the mean curve and its standard deviation.</summary>
    public static string ToJson(EvaluationSummary summary, bool indented = true)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var methods = OrderedMethods(summary);
        var metrics = OrderedMetrics(summary);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartObject();
            w.WriteNumber("images", summary.Images);
            w.WriteNumber("failed", summary.Failures.Count);
            if (summary.Accuracy.Count > 0)
            {
                w.WriteNumber("accuracy", summary.Accuracy.Mean);
            }
            else
            {
                w.WriteNull("accuracy");
            }

            w.WriteStartArray("methods");
            methods.ToList().ForEach(w.WriteStringValue);
            w.WriteEndArray();
            w.WriteStartArray("metrics");
            metrics.Select(FaithfulnessMetrics.Name).ToList().ForEach(w.WriteStringValue);
            w.WriteEndArray();
            w.WriteStartArray("results");
            foreach (string method in methods)
            {
                foreach (var metric in metrics)
                {
                    if (summary.Get(method, metric) is not { } c)
                    {
                        continue;
                    }

                    w.WriteStartObject();
                    w.WriteString("method", method);
                    w.WriteString("metric", FaithfulnessMetrics.Name(metric));
                    w.WriteString("better", FaithfulnessMetrics.LowerIsBetter(metric) ? "lower" : "higher");
                    w.WriteStartObject("auc");
                    w.WriteNumber("mean", c.Auc.Mean);
                    WriteNumberOrNull(w, "standardError", c.Auc.StandardError);
                    w.WriteNumber("standardDeviation", c.Auc.StandardDeviation);
                    w.WriteEndObject();
                    if (method != RandomMap.MethodName && summary.Get(RandomMap.MethodName, metric) is { } random)
                    {
                        bool better = FaithfulnessMetrics.LowerIsBetter(metric) ? c.Auc.Mean < random.Auc.Mean : c.Auc.Mean > random.Auc.Mean;
                        w.WriteBoolean("beatsRandom", better);
                    }

                    WriteArray(w, "x", c.X);
                    WriteArray(w, "mean", c.Points.Select(p => p.Mean));
                    WriteArray(w, "standardDeviation", c.Points.Select(p => p.StandardDeviation));
                    w.WriteEndObject();
                }
            }

            w.WriteEndArray();
            w.WriteStartArray("failures");
            summary.Failures.ToList().ForEach(w.WriteStringValue);
            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The best method of a column (lowest or highest mean AUC), or null when the column is empty.</summary>
    private static string? Best(EvaluationSummary summary, IReadOnlyList<string> methods, FaithfulnessMetric metric)
    {
        var scored = methods.Select(m => (Method: m, Curve: summary.Get(m, metric))).Where(t => t.Curve is not null).ToList();
        if (scored.Count == 0)
        {
            return null;
        }

        return FaithfulnessMetrics.LowerIsBetter(metric)
            ? scored.MinBy(t => t.Curve!.Auc.Mean).Method
            : scored.MaxBy(t => t.Curve!.Auc.Mean).Method;
    }

    private static void WriteArray(Utf8JsonWriter w, string name, IEnumerable<double> values)
    {
        w.WriteStartArray(name);
        foreach (double v in values)
        {
            w.WriteNumberValue(v);
        }

        w.WriteEndArray();
    }

    private static void WriteNumberOrNull(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value))
        {
            w.WriteNumber(name, value);
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
