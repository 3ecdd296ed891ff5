using System.Text;
using System.Text.Json;

namespace VitAttention.Evaluation;

/// <summary>
/// One image's faithfulness results as one line of JSON (JSON Lines), and back:
/// <c>{"image": key, "label": 3 | null, "predicted": 3, "probability": 0.91, "patches": 196, "patchesPerStep": 1,
/// "curves": [{"method": "rollout", "metric": "positive", "auc": 12.5, "y": [1, 1, 0, …]}, …]}</c>; an image that
/// failed is <c>{"image": key, "label": …, "error": "why"}</c>. The curves' x are not repeated on every line: the
/// perturbation tests' are fixed (0, 0.1, …, 0.9) and deletion/insertion's follow from patches and patchesPerStep.
/// Curve values are written as float32 (shortest round-trip form), AUCs as float64.
/// </summary>
internal static class ResultJson
{
    /// <summary>The property that holds the image's key (what <see cref="ResultLog"/> reads to resume).</summary>
    public const string KeyProperty = "image";

    /// <summary>One line of UTF-8 JSON, without the newline.</summary>
    /// <param name="result">The image's results.</param>
    /// <param name="patches">The model's patch count.</param>
    /// <param name="patchesPerStep">Patches per deletion/insertion step.</param>
    public static byte[] ToLine(ImageEvaluation result, int patches, int patchesPerStep)
    {
        ArgumentNullException.ThrowIfNull(result);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString(KeyProperty, result.Key);
            if (result.Label is { } label)
            {
                w.WriteNumber("label", label);
            }
            else
            {
                w.WriteNull("label");
            }

            if (result.Error is not null)
            {
                w.WriteString("error", result.Error);
            }
            else
            {
                w.WriteNumber("predicted", result.Predicted);
                w.WriteNumber("probability", result.Probability);
                w.WriteNumber("patches", patches);
                w.WriteNumber("patchesPerStep", patchesPerStep);
                w.WriteStartArray("curves");
                foreach (var c in result.Curves)
                {
                    w.WriteStartObject();
                    w.WriteString("method", c.Method);
                    w.WriteString("metric", FaithfulnessMetrics.Name(c.Metric));
                    w.WriteNumber("auc", c.Auc);
                    w.WriteStartArray("y");
                    foreach (double y in c.Y)
                    {
                        w.WriteNumberValue((float)y);
                    }

                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
        }

        return stream.ToArray();
    }

    /// <summary>Reads one line back.</summary>
    /// <param name="line">The JSON text of one line.</param>
    /// <param name="where">Where the line came from, for messages (for example "results.jsonl line 12").</param>
    /// <exception cref="FormatException">The line is not a result record; the message says where and what is wrong.</exception>
    public static ImageEvaluation Parse(string line, string where)
    {
        ArgumentNullException.ThrowIfNull(line);
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            string key = root.GetProperty(KeyProperty).GetString() ?? throw new FormatException("the image key is null");
            int? label = root.TryGetProperty("label", out var l) && l.ValueKind == JsonValueKind.Number ? l.GetInt32() : null;
            if (root.TryGetProperty("error", out var error))
            {
                return ImageEvaluation.Failed(key, label, error.GetString() ?? string.Empty);
            }

            int patches = root.GetProperty("patches").GetInt32(), perStep = root.GetProperty("patchesPerStep").GetInt32();
            double[] patchX = DeletionInsertion.X(DeletionInsertion.Counts(patches, perStep), patches);
            var curves = new List<MetricCurve>();
            foreach (var c in root.GetProperty("curves").EnumerateArray())
            {
                string metricName = c.GetProperty("metric").GetString() ?? string.Empty;
                var metric = FaithfulnessMetrics.TryParse(metricName) ?? throw new FormatException($"unknown metric '{metricName}'");
                double[] x = FaithfulnessMetrics.IsPerturbation(metric) ? [.. PerturbationTest.X] : (double[])patchX.Clone();
                double[] y = [.. c.GetProperty("y").EnumerateArray().Select(v => v.GetDouble())];
                if (y.Length != x.Length)
                {
                    throw new FormatException($"a {metricName} curve has {y.Length} values; it needs {x.Length}");
                }

                curves.Add(new MetricCurve(c.GetProperty("method").GetString() ?? string.Empty, metric, x, y, c.GetProperty("auc").GetDouble()));
            }

            return new ImageEvaluation(key, label, root.GetProperty("predicted").GetInt32(), root.GetProperty("probability").GetDouble(), curves);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new FormatException($"{where} is not a faithfulness result: {e.Message}. Was the file written by 'vit-attention evaluate'?", e);
        }
    }

    /// <summary>Every result in JSON Lines files, in file order (complete lines only: see <see cref="ResultLog.ReadLines"/>).</summary>
    /// <exception cref="FormatException">A line is not a result record.</exception>
    public static IEnumerable<ImageEvaluation> ReadAll(IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        foreach (string path in paths)
        {
            int n = 0;
            foreach (string line in ResultLog.ReadLines(path))
            {
                n++;
                yield return Parse(line, $"{path} line {n}");
            }
        }
    }

    /// <summary>The line as text (for tests and logs).</summary>
    public static string ToText(ImageEvaluation result, int patches, int patchesPerStep) =>
        Encoding.UTF8.GetString(ToLine(result, patches, patchesPerStep));
}
