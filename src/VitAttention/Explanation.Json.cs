using System.Text;
using System.Text.Json;
using VitAttention.Models;

namespace VitAttention;

public sealed partial class Explanation
{
    /// <summary>
    /// The numbers as one JSON document: <c>{"image", "query", "predictions":[{"index","label","probability"}…],
    /// "layers":[{"layer":1,"clsMap":[…],"focus":…[,"registerShare":…]}…], "rollout":{"clsMap":[…]}, "focusedLayers":[…],
    /// "focusMeasure", "model":{…}}</c>. Maps are row-major over the patch grid, values as computed (before any display
    /// scaling); layers are one-based. <c>query</c> says which rows the maps read: "class token", or "mean of patch
    /// queries" for models without one. Models with register tokens report per layer the share of that attention the
    /// registers took (they are never in the maps).
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
        var readout = QueryReadout.For(Config, Options.Rollout.QueryToken);
        w.WriteString("query", readout.Label); // what the maps read: the class token, or the mean of patch queries
        WritePredictions(w, Predictions);
        w.WriteStartArray("layers");
        foreach (var layer in Layers)
        {
            w.WriteStartObject();
            w.WriteNumber("layer", layer.Layer);
            WriteMap(w, "clsMap", layer.ClsMap);
            w.WriteNumber("focus", layer.Focus);
            if (readout.RegisterShare(Attentions, layer.Layer - 1, Item) is { } share)
            {
                w.WriteNumber("registerShare", share); // of the query's attention, to the register tokens (not in the map)
            }

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
        w.WriteNumber("registerTokens", config.RegisterTokens);
        w.WriteBoolean("classToken", config.HasClassToken);
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
