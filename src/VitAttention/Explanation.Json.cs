using System.Text;
using System.Text.Json;
using VitAttention.Models;

namespace VitAttention;

public sealed partial class Explanation
{
    /// <summary>
    /// The numbers as one JSON document: <c>{"image", "predictions":[{"index","label","probability"}…],
    /// "layers":[{"layer":1,"clsMap":[…],"focus":…}…], "rollout":{"clsMap":[…]}, "focusedLayers":[…],
    /// "focusMeasure", "model":{…}}</c>. Maps are row-major over the patch grid, values as computed (before any display
    /// scaling); layers are one-based.
    /// </summary>
    public string ToJson(bool indented = false)
    {
        using var stream = new MemoryStream();
        WriteJson(stream, indented);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Writes <see cref="ToJson"/>'s document to a stream (UTF-8, not closed).</summary>
    public void WriteJson(Stream stream, bool indented = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented });
        w.WriteStartObject();
        w.WriteString("image", Source);
        WritePredictions(w, Predictions);
        w.WriteStartArray("layers");
        foreach (var layer in Layers)
        {
            w.WriteStartObject();
            w.WriteNumber("layer", layer.Layer);
            WriteMap(w, "clsMap", layer.ClsMap);
            w.WriteNumber("focus", layer.Focus);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartObject("rollout");
        WriteMap(w, "clsMap", Rollout);
        w.WriteString("headFusion", Options.Rollout.Fusion.ToString().ToLowerInvariant());
        w.WriteNumber("discardRatio", Options.Rollout.DiscardRatio);
        w.WriteEndObject();
        w.WriteStartArray("focusedLayers");
        foreach (int layer in FocusedLayers)
        {
            w.WriteNumberValue(layer);
        }

        w.WriteEndArray();
        w.WriteString("focusMeasure", Focus.Measure == Analysis.FocusMeasure.RegionMass ? "roiMass" : "concentration");
        WriteModel(w, Config);
        w.WriteEndObject();
    }

    internal static void WritePredictions(Utf8JsonWriter w, IReadOnlyList<Inference.Prediction> predictions)
    {
        w.WriteStartArray("predictions");
        foreach (var p in predictions)
        {
            w.WriteStartObject();
            w.WriteNumber("index", p.Index);
            w.WriteString("label", p.Label);
            w.WriteNumber("probability", p.Probability);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    internal static void WriteModel(Utf8JsonWriter w, VitConfig config)
    {
        w.WriteStartObject("model");
        w.WriteNumber("layers", config.NumLayers);
        w.WriteNumber("heads", config.NumHeads);
        w.WriteNumber("tokens", config.Tokens);
        w.WriteNumber("prefixTokens", config.PrefixTokens);
        w.WriteStartArray("grid");
        w.WriteNumberValue(config.GridHeight);
        w.WriteNumberValue(config.GridWidth);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteMap(Utf8JsonWriter w, string name, AttentionMap map)
    {
        w.WriteStartArray(name);
        foreach (float v in map.Values)
        {
            w.WriteNumberValue(v);
        }

        w.WriteEndArray();
    }
}
