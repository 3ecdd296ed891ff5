using System.Globalization;
using System.Text.Json;

namespace VitAttention.Models;

/// <summary>
/// Reads a <see cref="VitConfig"/> from a checkpoint folder as users download it: Hugging Face transformers
/// (<c>config.json</c> with <c>model_type</c> <c>vit</c>, <c>deit</c>, <c>dinov2</c>, <c>dinov2_with_registers</c>,
/// <c>clip</c>, <c>clip_vision_model</c>, <c>beit</c> or <c>data2vec-vision</c>, plus <c>preprocessor_config.json</c>)
/// or timm (<c>config.json</c> with <c>architecture</c> and <c>pretrained_cfg</c>, and <c>model_args</c> when present).
/// </summary>
/// <remarks>
/// The attention head count cannot be recovered from the weights (a fused [3·hidden, hidden] projection looks the same
/// for any head count), so <c>config.json</c> is required. timm's hub configs carry no <c>model_args</c>: the
/// architecture name, looked up in a transcription of timm's registry, gives the head count and the flags (LayerScale,
/// registers, <c>no_embed_class</c>, pre-norm, activation, epsilon, pooling), and the weights' shapes give the sizes.
/// Models without a classifier (DINO, DINOv2 backbones, CLIP towers) get <see cref="VitConfig.NumClasses"/> 0; their ONNX
/// graph then has attention outputs only and no <c>logits</c>.
/// </remarks>
internal static partial class VitConfigLoader
{
    /// <summary>The config file name in a checkpoint folder.</summary>
    public const string ConfigFile = "config.json";

    /// <summary>The Hugging Face image processor config file name.</summary>
    public const string PreprocessorFile = "preprocessor_config.json";

    private const long MaxJsonBytes = 64L << 20; // id2label of 21k classes is ~1 MB; anything near this is not a config

    private static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    private static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>Reads and validates the config of the checkpoint in <paramref name="folder"/>.</summary>
    /// <param name="folder">A folder holding <c>config.json</c> (and for Hugging Face <c>preprocessor_config.json</c>).</param>
    /// <returns>The config; <see cref="VitConfig.ValidateLayout"/> has passed.</returns>
    /// <exception cref="ModelFormatException">
    /// <c>config.json</c> is missing (the heads cannot be inferred from the weights), malformed, of an unknown family, or
    /// inconsistent; the message names the file and key.
    /// </exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static VitConfig FromFolder(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Model folder '{folder}' does not exist.");
        }

        string configPath = Path.Combine(folder, ConfigFile);
        if (!File.Exists(configPath))
        {
            throw new ModelFormatException(
                $"{folder}: no {ConfigFile}. The number of attention heads cannot be inferred from the weights, so the checkpoint's own {ConfigFile} " +
                "(from the same Hugging Face or timm repository as the weights) is needed next to model.safetensors.");
        }

        using JsonDocument doc = ParseJson(configPath);
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException($"{configPath}: expected a JSON object.");
        }

        VitConfig config;
        if (root.TryGetProperty("architecture", out var arch) && arch.ValueKind == JsonValueKind.String
            && (root.TryGetProperty("model_args", out _) || root.TryGetProperty("pretrained_cfg", out _)))
        {
            config = FromTimm(root, configPath, Path.Combine(folder, VitWeights.WeightsFile));
        }
        else if (root.TryGetProperty("model_type", out _) || root.TryGetProperty("hidden_size", out _))
        {
            config = FromHuggingFace(root, configPath, Path.Combine(folder, PreprocessorFile));
        }
        else
        {
            throw new ModelFormatException(
                $"{configPath}: not a Hugging Face ViT config (no model_type / hidden_size) nor a timm config (architecture with model_args / pretrained_cfg).");
        }

        config.ValidateLayout(configPath);
        return config;
    }

    private static string FirstArchitecture(JsonElement root, string configPath, string classifier, string encoder)
    {
        if (!root.TryGetProperty("architectures", out var archs) || archs.ValueKind == JsonValueKind.Null)
        {
            // No architecture recorded: a classifier when labels are given, else a bare encoder.
            return root.TryGetProperty("id2label", out _) ? classifier : encoder;
        }

        if (archs.ValueKind != JsonValueKind.Array || archs.GetArrayLength() == 0 || archs[0].ValueKind != JsonValueKind.String)
        {
            throw new ModelFormatException($"{configPath}: 'architectures' must be a non-empty list of strings.");
        }

        return archs[0].GetString()!;
    }

    private static IReadOnlyList<string> Id2Label(JsonElement root, string configPath)
    {
        if (!root.TryGetProperty("id2label", out var map) || map.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (map.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException($"{configPath}: id2label must be an object mapping class indices to names.");
        }

        var byIndex = new Dictionary<int, string>();
        foreach (var entry in map.EnumerateObject())
        {
            if (!int.TryParse(entry.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int index) || index < 0)
            {
                throw new ModelFormatException($"{configPath}: id2label key '{entry.Name}' is not a non-negative integer class index.");
            }

            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                throw new ModelFormatException($"{configPath}: id2label['{entry.Name}'] must be a string.");
            }

            if (!byIndex.TryAdd(index, entry.Value.GetString()!))
            {
                throw new ModelFormatException($"{configPath}: id2label names class {index} twice.");
            }
        }

        var labels = new string[byIndex.Count];
        foreach (var (index, name) in byIndex)
        {
            if (index >= labels.Length)
            {
                throw new ModelFormatException(
                    $"{configPath}: id2label has {labels.Length} entries but names class {index}; the keys must be 0 to {labels.Length - 1} without gaps.");
            }

            labels[index] = name;
        }

        return labels;
    }

    private static IReadOnlyList<string> LabelNames(JsonElement root, string configPath)
    {
        if (!root.TryGetProperty("label_names", out var names) || names.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (names.ValueKind != JsonValueKind.Array || names.EnumerateArray().Any(n => n.ValueKind != JsonValueKind.String))
        {
            throw new ModelFormatException($"{configPath}: label_names must be a list of strings.");
        }

        return [.. names.EnumerateArray().Select(n => n.GetString()!)];
    }

    private static JsonDocument ParseJson(string path)
    {
        long length = new FileInfo(path).Length;
        if (length > MaxJsonBytes)
        {
            throw new ModelFormatException($"{path}: {length} bytes is too large for a model config (limit {MaxJsonBytes}).");
        }

        try
        {
            var doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 32, AllowTrailingCommas = true });
            try
            {
                CheckStrings(doc.RootElement);
            }
            catch (InvalidOperationException e)
            {
                doc.Dispose();
                throw new ModelFormatException($"{path}: holds text that is not valid UTF-8 or a lone UTF-16 surrogate ({e.Message}); download the file again.", e);
            }

            return doc;
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{path}: not valid JSON ({e.Message}); download the file again.", e);
        }
    }

    /// <summary>Decodes every string and property name once, so later reads cannot fail on bad UTF-8 (JsonDocument.Parse does not check it).</summary>
    private static void CheckStrings(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                _ = element.GetString();
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    CheckStrings(item);
                }

                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    _ = property.Name;
                    CheckStrings(property.Value);
                }

                break;
        }
    }

    private static int? Int(JsonElement obj, string key, string path)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i))
        {
            return i;
        }

        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue)
        {
            return (int)d; // 12.0 written by some exporters
        }

        throw new ModelFormatException($"{path}: '{key}' must be an integer, got {v.GetRawText()}.");
    }

    private static double? Num(JsonElement obj, string key, string path)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && double.IsFinite(d)
            ? d
            : throw new ModelFormatException($"{path}: '{key}' must be a number, got {v.GetRawText()}.");
    }

    private static bool? Bool(JsonElement obj, string key, string path)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number => null,
            _ => throw new ModelFormatException($"{path}: '{key}' must be true or false, got {v.GetRawText()}."),
        };
    }

    private static string? Str(JsonElement obj, string key, string path)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String
            ? v.GetString()
            : throw new ModelFormatException($"{path}: '{key}' must be a string, got {v.GetRawText()}.");
    }

    private static (int Height, int Width)? Size(JsonElement obj, string key, string path)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 2
            && v[0].ValueKind == JsonValueKind.Number && v[0].TryGetInt32(out int h)
            && v[1].ValueKind == JsonValueKind.Number && v[1].TryGetInt32(out int w))
        {
            return (h, w);
        }

        int s = Int(obj, key, path)!.Value;
        return (s, s);
    }

    private static float[]? Floats(JsonElement obj, string key, string path, int channels)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind == JsonValueKind.Number)
        {
            return [.. Enumerable.Repeat((float)Num(obj, key, path)!.Value, channels)];
        }

        if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() != channels
            || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.Number || !double.IsFinite(e.GetDouble())))
        {
            throw new ModelFormatException($"{path}: '{key}' must be {channels} numbers, got {v.GetRawText()}.");
        }

        return [.. v.EnumerateArray().Select(e => (float)e.GetDouble())];
    }
}
