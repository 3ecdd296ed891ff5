using System.Text;
using System.Text.Json;
using VitAttention.Models;

namespace VitAttention;

public sealed partial class Explanation
{
    /// <summary>
    /// The numbers as one JSON document:
    /// <c>{"image", "predictions":[{"index","label","probability"}…], "query":"class token", "queryToken":0,
    /// "layers":[{"layer":1,"map":[…],"focus":…[,"registerShare":…]}…], "rollout":{"map":[…],"headFusion",
    /// "residualAlpha","discardRatio","firstLayer","lastLayer"}, "targetClasses":[…], "methods":{"rollout":{"class":null,
    /// "label":null,"map":[…]}, "transformer-attribution":{"class":281,"label":"tabby","map":[…],"otherClasses":[{"class",
    /// "label","map"}…]}…}, "focusedLayers":[…], "focusMeasure", "model":{…}}</c>.
    /// Maps are the attention of the rows <c>query</c> names ("class token", "token q", or "mean of patch queries" for
    /// models without a class token), row-major over the patch grid, values as computed (before any display scaling);
    /// layer numbers are one-based, token positions zero-based. Models with register tokens report per layer the share
    /// of that attention the registers took (they are never in the maps). <c>methods</c> has one entry per method asked
    /// for (<see cref="ExplainOptions.Method"/>), keyed by its CLI name: a class-agnostic method's map has <c>class</c> and
    /// <c>label</c> null; a class-specific method's entry is the map of the first target class (the top class by default),
    /// and with more target classes, <c>otherClasses</c> lists the rest in <c>targetClasses</c> order (so a reader of one
    /// class never needs to look further). <c>targetClasses</c> is empty when no class-specific method was asked for.
    /// </summary>
    /// <param name="indented">True for one value per line (easier to read), false for one line.</param>
    /// <returns>The JSON text.</returns>
    public string ToJson(bool indented = false)
    {
        ThrowIfDisposed();
        using var stream = new MemoryStream();
        WriteJson(stream, indented);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Writes <see cref="ToJson"/>'s document to a stream (UTF-8; the stream is not closed).</summary>
    /// <param name="stream">Where to write.</param>
    /// <param name="indented">True for one value per line, false for one line.</param>
    public void WriteJson(Stream stream, bool indented = false)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(stream);
        var rollout = _options.Rollout;
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented });
        w.WriteStartObject();
        w.WriteString("image", _source);
        WritePredictions(w, _predictions);
        var readout = QueryReadout.For(_config, rollout.QueryToken);
        w.WriteString("query", readout.Label); // what the maps read: "class token", "token q", or "mean of patch queries"
        w.WriteNumber("queryToken", rollout.QueryToken);
        w.WriteStartArray("layers");
        foreach (var layer in _layers)
        {
            w.WriteStartObject();
            w.WriteNumber("layer", layer.Layer);
            WriteMap(w, "map", layer.Map);
            w.WriteNumber("focus", layer.Focus);
            if (_registerShares[layer.Layer - 1] is { } share)
            {
                w.WriteNumber("registerShare", share); // of the query's attention, to the register tokens (not in the map)
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartObject("rollout");
        WriteMap(w, "map", _rollout);
        w.WriteString("headFusion", rollout.Fusion.ToString().ToLowerInvariant());
        w.WriteNumber("residualAlpha", rollout.ResidualAlpha);
        w.WriteNumber("discardRatio", rollout.DiscardRatio);
        w.WriteNumber("firstLayer", rollout.FirstLayer);
        w.WriteNumber("lastLayer", rollout.LastLayer ?? _config.NumLayers);
        w.WriteEndObject();
        WriteMethods(w);
        w.WriteStartArray("focusedLayers");
        foreach (int layer in _focus.TopLayers)
        {
            w.WriteNumberValue(layer);
        }

        w.WriteEndArray();
        w.WriteString("focusMeasure", _focus.Measure == Analysis.FocusMeasure.RegionMass ? "roiMass" : "concentration");
        WriteModel(w, _config);
        w.WriteEndObject();
    }

    /// <summary><c>"targetClasses":[…], "methods":{name:{class,label,map[,otherClasses]}}</c>.</summary>
    private void WriteMethods(Utf8JsonWriter w)
    {
        w.WriteStartArray("targetClasses");
        foreach (int c in _targetClasses)
        {
            w.WriteNumberValue(c);
        }

        w.WriteEndArray();
        w.WriteStartObject("methods");
        foreach (var group in _methodMaps.GroupBy(m => m.Method))
        {
            var maps = group.ToList();
            w.WriteStartObject(maps[0].Name);
            WriteMethodMap(w, maps[0]);
            if (maps.Count > 1)
            {
                w.WriteStartArray("otherClasses");
                foreach (var other in maps.Skip(1))
                {
                    w.WriteStartObject();
                    WriteMethodMap(w, other);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    private static void WriteMethodMap(Utf8JsonWriter w, MethodMap map)
    {
        if (map.ClassIndex is { } c)
        {
            w.WriteNumber("class", c);
            w.WriteString("label", map.ClassLabel);
        }
        else
        {
            w.WriteNull("class");
            w.WriteNull("label");
        }

        WriteMap(w, "map", map.Map);
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
