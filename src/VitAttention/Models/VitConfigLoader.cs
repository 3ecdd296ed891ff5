using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace VitAttention.Models;

/// <summary>
/// Reads a <see cref="VitConfig"/> from a checkpoint folder as users download it: Hugging Face transformers
/// (<c>config.json</c> with <c>model_type</c> <c>vit</c> or <c>deit</c>, plus <c>preprocessor_config.json</c>) or timm
/// (<c>config.json</c> with <c>architecture</c>, <c>model_args</c> and <c>pretrained_cfg</c>).
/// </summary>
/// <remarks>
/// The attention head count cannot be recovered from the weights (a fused [3·hidden, hidden] projection looks the same
/// for any head count), so <c>config.json</c> is required. Models without a classifier (HF <c>ViTModel</c>, e.g. DINO)
/// get <see cref="VitConfig.NumClasses"/> 0; their ONNX graph then has attention outputs only and no <c>logits</c>.
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
            config = FromTimm(root, configPath);
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

    private static VitConfig FromHuggingFace(JsonElement root, string configPath, string preprocessorPath)
    {
        string modelType = Str(root, "model_type", configPath) ?? "vit";
        if (modelType is not ("vit" or "deit"))
        {
            throw new ModelFormatException(
                $"{configPath}: model_type '{modelType}' is not supported; VitAttention builds plain ViT ('vit') and DeiT ('deit') checkpoints.");
        }

        string act = Str(root, "hidden_act", configPath) ?? "gelu";
        if (act != "gelu")
        {
            throw new ModelFormatException($"{configPath}: hidden_act '{act}' is not supported; only exact (erf) 'gelu' is.");
        }

        (int height, int width) = Size(root, "image_size", configPath) ?? (224, 224);
        int hidden = Int(root, "hidden_size", configPath) ?? 768;
        string architecture = FirstArchitecture(root, configPath);
        bool deit = modelType == "deit";
        bool classifier = architecture.EndsWith("ForImageClassification", StringComparison.Ordinal)
            || architecture.EndsWith("ForImageClassificationWithTeacher", StringComparison.Ordinal);
        bool teacher = architecture.EndsWith("WithTeacher", StringComparison.Ordinal);
        if (teacher && !deit)
        {
            throw new ModelFormatException($"{configPath}: architecture {architecture} needs model_type 'deit'.");
        }

        IReadOnlyList<string> labels = classifier ? Id2Label(root, configPath) : [];
        int classes = classifier ? (Int(root, "num_labels", configPath) ?? labels.Count) : 0;
        if (classifier && labels.Count != 0 && labels.Count != classes)
        {
            throw new ModelFormatException($"{configPath}: num_labels is {classes} but id2label has {labels.Count} entries.");
        }

        if (classifier && classes == 0)
        {
            throw new ModelFormatException($"{configPath}: architecture {architecture} is a classifier but config.json has neither id2label nor num_labels.");
        }

        int channels = Int(root, "num_channels", configPath) ?? 3;
        var preprocess = HfPreprocess(preprocessorPath, height, width, channels, deit, configPath);
        return new VitConfig
        {
            Family = ModelFamily.HuggingFace,
            ImageHeight = height,
            ImageWidth = width,
            PatchSize = Int(root, "patch_size", configPath) ?? 16,
            Channels = channels,
            HiddenSize = hidden,
            NumLayers = Int(root, "num_hidden_layers", configPath) ?? 12,
            NumHeads = Int(root, "num_attention_heads", configPath) ?? 12,
            IntermediateSize = Int(root, "intermediate_size", configPath) ?? 3072,
            LayerNormEps = Num(root, "layer_norm_eps", configPath) ?? 1e-12,
            QkvBias = Bool(root, "qkv_bias", configPath) ?? true,
            HasClassToken = true,
            HasDistillationToken = deit,
            PrefixTokens = deit ? 2 : 1,
            Pooling = teacher ? VitPooling.ClassAndDistillationMean : VitPooling.ClassToken,
            NumClasses = classes,
            Labels = labels,
            Preprocess = preprocess.Config,
        };
    }

    private static string FirstArchitecture(JsonElement root, string configPath)
    {
        if (!root.TryGetProperty("architectures", out var archs) || archs.ValueKind == JsonValueKind.Null)
        {
            // No architecture recorded: a classifier when labels are given, else a bare encoder.
            return root.TryGetProperty("id2label", out _) ? "ViTForImageClassification" : "ViTModel";
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

    private static (int Height, int Width, PreprocessConfig Config) HfPreprocess(string path, int height, int width, int channels, bool deit, string configPath)
    {
        var defaults = deit
            ? new PreprocessConfig { Mean = [.. ImageNetMean], Std = [.. ImageNetStd], Resample = ResampleFilter.Bicubic }
            : PreprocessConfig.HuggingFaceDefault;
        if (!File.Exists(path))
        {
            return (height, width, defaults);
        }

        using JsonDocument doc = ParseJson(path);
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException($"{path}: expected a JSON object.");
        }

        int resampleCode = Int(root, "resample", path) ?? 2;
        ResampleFilter resample = resampleCode switch
        {
            2 => ResampleFilter.Bilinear,
            3 => ResampleFilter.Bicubic,
            _ => throw new ModelFormatException($"{path}: resample {resampleCode} is not supported; use 2 (bilinear) or 3 (bicubic)."),
        };

        bool doNormalize = Bool(root, "do_normalize", path) ?? true;
        bool doRescale = Bool(root, "do_rescale", path) ?? true;
        float[] mean = doNormalize ? (Floats(root, "image_mean", path, channels) ?? defaults.Mean) : new float[channels];
        float[] std = doNormalize ? (Floats(root, "image_std", path, channels) ?? defaults.Std) : [.. Enumerable.Repeat(1f, channels)];
        float rescale = doRescale ? (float)(Num(root, "rescale_factor", path) ?? (1.0 / 255.0)) : 1f;

        if (Bool(root, "do_resize", path) == false)
        {
            throw new ModelFormatException(
                $"{path}: do_resize is false, so the processor would pass photos of any size to a model built for {height}×{width}; resize photos to that size yourself, or set do_resize to true.");
        }

        // A bare number means {height, width} for ViT, DeiT and BEiT processors but {shortest_edge} for the CLIP and BiT
        // (DINOv2) ones (transformers get_size_dict(size, default_to_square=False) in their constructors).
        string processor = Str(root, "image_processor_type", path) ?? Str(root, "feature_extractor_type", path) ?? string.Empty;
        bool numberIsShortestEdge = processor.StartsWith("CLIP", StringComparison.Ordinal) || processor.StartsWith("Bit", StringComparison.Ordinal);
        (int Height, int Width)? size = null;
        int? shortestEdge = null;
        if (root.TryGetProperty("size", out var sizeElement) && sizeElement.ValueKind != JsonValueKind.Null)
        {
            if (sizeElement.ValueKind == JsonValueKind.Number)
            {
                int s = Int(root, "size", path)!.Value;
                if (numberIsShortestEdge)
                {
                    shortestEdge = s;
                }
                else
                {
                    size = (s, s);
                }
            }
            else if (sizeElement.ValueKind == JsonValueKind.Object)
            {
                int? h = Int(sizeElement, "height", path);
                int? w = Int(sizeElement, "width", path);
                shortestEdge = Int(sizeElement, "shortest_edge", path);
                if (h is not null && w is not null)
                {
                    size = (h.Value, w.Value);
                    shortestEdge = null;
                }
                else if (shortestEdge is null)
                {
                    throw new ModelFormatException($"{path}: size must have height and width, or shortest_edge.");
                }
            }
            else
            {
                throw new ModelFormatException($"{path}: size must be a number or an object with height/width or shortest_edge.");
            }
        }

        (int Height, int Width)? crop = null;
        if (Bool(root, "do_center_crop", path) == true && root.TryGetProperty("crop_size", out var cropElement) && cropElement.ValueKind != JsonValueKind.Null)
        {
            crop = cropElement.ValueKind == JsonValueKind.Number
                ? (Int(root, "crop_size", path)!.Value, Int(root, "crop_size", path)!.Value)
                : (Int(cropElement, "height", path) ?? throw new ModelFormatException($"{path}: crop_size needs height and width."),
                   Int(cropElement, "width", path) ?? throw new ModelFormatException($"{path}: crop_size needs height and width."));
        }

        if (shortestEdge is not null && crop is null)
        {
            throw new ModelFormatException(
                $"{path}: size.shortest_edge {shortestEdge} without do_center_crop/crop_size keeps each photo's aspect ratio, so the input shape would vary; a model built for one grid needs a crop (set do_center_crop and crop_size).");
        }

        if (crop is { } c && ((shortestEdge is { } e && e < Math.Max(c.Height, c.Width)) || (size is { } z && (z.Height < c.Height || z.Width < c.Width))))
        {
            string resizedTo = shortestEdge is { } edge ? $"a short side of {edge}" : $"{size!.Value.Height}×{size.Value.Width}";
            throw new ModelFormatException(
                $"{path}: crops {c.Height}×{c.Width} from a photo resized to {resizedTo}; transformers would pad with zeros, which is not supported. The crop must fit inside the resize.");
        }

        // What the processor hands the model: the crop when there is one, else the resize.
        (int Height, int Width)? output = crop ?? size;
        if (output is { } o && (o.Height != height || o.Width != width))
        {
            throw new ModelFormatException(
                $"{path}: {(crop is null ? "resizes" : "crops")} photos to {o.Height}×{o.Width} but {configPath} image_size is {height}×{width}; position embedding interpolation is not supported, so they must agree.");
        }

        return (height, width, new PreprocessConfig
        {
            Mean = mean,
            Std = std,
            RescaleFactor = rescale,
            Resample = resample,
            ResizeShortestEdge = crop is null ? null : shortestEdge,
            ResizeHeight = crop is null ? null : size?.Height,
            ResizeWidth = crop is null ? null : size?.Width,
        });
    }

    private static VitConfig FromTimm(JsonElement root, string configPath)
    {
        string architecture = root.GetProperty("architecture").GetString()!;
        JsonElement args = root.TryGetProperty("model_args", out var a) && a.ValueKind == JsonValueKind.Object ? a : default;
        JsonElement cfg = root.TryGetProperty("pretrained_cfg", out var p) && p.ValueKind == JsonValueKind.Object ? p : default;
        bool hasArgs = args.ValueKind == JsonValueKind.Object;

        // Defaults from the architecture name (vit_base_patch16_224, deit_small_distilled_patch16_224); model_args win.
        var named = ParseTimmName(architecture);
        if (named is null && !hasArgs)
        {
            throw new ModelFormatException(
                $"{configPath}: timm architecture '{architecture}' is not one whose dimensions VitAttention knows by name, and there is no model_args; add model_args (img_size, patch_size, embed_dim, depth, num_heads, mlp_ratio).");
        }

        string argsPath = configPath + " model_args";
        foreach (var (key, what) in new[] { ("init_values", "LayerScale"), ("pre_norm", "a pre-norm"), ("qk_norm", "QK normalisation"), ("act_layer", "a non-GELU activation"), ("norm_layer", "a custom norm layer"), ("block_fn", "a custom block"), ("mlp_layer", "a custom MLP"), ("attn_pool", "attention pooling") })
        {
            if (hasArgs && args.TryGetProperty(key, out var v) && v.ValueKind is not (JsonValueKind.Null or JsonValueKind.False))
            {
                throw new ModelFormatException($"{argsPath}: {key} ({what}) is not supported; VitAttention builds plain pre-norm ViT blocks.");
            }
        }

        var named2 = named ?? default;
        (int height, int width) = (hasArgs ? Size(args, "img_size", argsPath) : null) ?? (named is null ? (224, 224) : (named2.Image, named2.Image));
        int hidden = (hasArgs ? Int(args, "embed_dim", argsPath) : null) ?? (named?.Hidden ?? 768);
        double mlpRatio = (hasArgs ? Num(args, "mlp_ratio", argsPath) : null) ?? 4.0;
        if (!(mlpRatio > 0 && mlpRatio < 1024))
        {
            throw new ModelFormatException($"{argsPath}: mlp_ratio {mlpRatio} must be positive.");
        }

        bool distilled = named?.Distilled ?? architecture.Contains("distilled", StringComparison.Ordinal);
        bool classToken = (hasArgs ? Bool(args, "class_token", argsPath) : null) ?? true;
        int registers = (hasArgs ? Int(args, "reg_tokens", argsPath) : null) ?? 0;
        bool noEmbedClass = (hasArgs ? Bool(args, "no_embed_class", argsPath) : null) ?? false;
        string globalPool = (hasArgs ? Str(args, "global_pool", argsPath) : null) ?? Str(root, "global_pool", configPath) ?? "token";
        VitPooling pooling = globalPool switch
        {
            "token" => distilled ? VitPooling.ClassAndDistillationMean : VitPooling.ClassToken,
            "avg" when !distilled => VitPooling.MeanOfPatches,
            _ => throw new ModelFormatException($"{configPath}: global_pool '{globalPool}' is not supported; 'token' and 'avg' are."),
        };
        bool fcNorm = (hasArgs ? Bool(args, "fc_norm", argsPath) : null) ?? pooling == VitPooling.MeanOfPatches;

        int classes = Int(root, "num_classes", configPath)
            ?? (hasArgs ? Int(args, "num_classes", argsPath) : null)
            ?? (cfg.ValueKind == JsonValueKind.Object ? Int(cfg, "num_classes", configPath + " pretrained_cfg") : null)
            ?? 1000;
        IReadOnlyList<string> labels = LabelNames(root, configPath);
        if (labels.Count != 0 && labels.Count != classes)
        {
            throw new ModelFormatException($"{configPath}: num_classes is {classes} but label_names has {labels.Count} entries.");
        }

        int? numFeatures = Int(root, "num_features", configPath);
        if (numFeatures is not null && numFeatures != hidden)
        {
            throw new ModelFormatException($"{configPath}: num_features {numFeatures} differs from embed_dim {hidden}.");
        }

        int channels = (hasArgs ? Int(args, "in_chans", argsPath) : null) ?? 3;
        var preprocess = TimmPreprocess(cfg, configPath + " pretrained_cfg", channels, ref height, ref width, hasArgs && args.TryGetProperty("img_size", out _));

        return new VitConfig
        {
            Family = ModelFamily.Timm,
            ImageHeight = height,
            ImageWidth = width,
            PatchSize = (hasArgs ? Int(args, "patch_size", argsPath) : null) ?? (named?.Patch ?? 16),
            Channels = channels,
            HiddenSize = hidden,
            NumLayers = (hasArgs ? Int(args, "depth", argsPath) : null) ?? (named?.Depth ?? 12),
            NumHeads = (hasArgs ? Int(args, "num_heads", argsPath) : null) ?? (named?.Heads ?? 12),
            IntermediateSize = (int)(hidden * mlpRatio), // timm: int(dim * mlp_ratio)
            LayerNormEps = 1e-6,
            QkvBias = (hasArgs ? Bool(args, "qkv_bias", argsPath) : null) ?? true,
            HasClassToken = classToken,
            HasDistillationToken = distilled,
            RegisterTokens = registers,
            PrefixTokens = (classToken ? 1 : 0) + (distilled ? 1 : 0) + registers,
            PositionEmbeddingCoversPrefix = !noEmbedClass,
            Pooling = pooling,
            NormAfterPooling = fcNorm,
            NumClasses = classes,
            Labels = labels,
            Preprocess = preprocess,
        };
    }

    private static PreprocessConfig TimmPreprocess(JsonElement cfg, string cfgPath, int channels, ref int height, ref int width, bool sizeFromArgs)
    {
        if (cfg.ValueKind != JsonValueKind.Object)
        {
            return new PreprocessConfig { Mean = [.. ImageNetMean], Std = [.. ImageNetStd], Resample = ResampleFilter.Bicubic, CropPct = 0.875f };
        }

        if (cfg.TryGetProperty("input_size", out var input) && input.ValueKind != JsonValueKind.Null)
        {
            int[] dims = input.ValueKind == JsonValueKind.Array && input.GetArrayLength() == 3
                ? [.. input.EnumerateArray().Select(d => d.ValueKind == JsonValueKind.Number && d.TryGetInt32(out int v) ? v : -1)]
                : throw new ModelFormatException($"{cfgPath}: input_size must be [channels, height, width].");
            if (dims.Any(d => d <= 0))
            {
                throw new ModelFormatException($"{cfgPath}: input_size must hold three positive integers.");
            }

            if (dims[0] != channels || (sizeFromArgs && (dims[1] != height || dims[2] != width)))
            {
                throw new ModelFormatException(
                    $"{cfgPath}: input_size [{string.Join(", ", dims)}] disagrees with model_args ({channels} channels, img_size {height}×{width}).");
            }

            (height, width) = (dims[1], dims[2]);
        }

        string interpolation = Str(cfg, "interpolation", cfgPath) ?? "bicubic";
        ResampleFilter resample = interpolation switch
        {
            "bilinear" => ResampleFilter.Bilinear,
            "bicubic" => ResampleFilter.Bicubic,
            _ => throw new ModelFormatException($"{cfgPath}: interpolation '{interpolation}' is not supported; 'bilinear' and 'bicubic' are."),
        };
        string cropMode = Str(cfg, "crop_mode", cfgPath) ?? "center";
        if (cropMode != "center")
        {
            throw new ModelFormatException($"{cfgPath}: crop_mode '{cropMode}' is not supported; only 'center' is.");
        }

        double cropPct = Num(cfg, "crop_pct", cfgPath) ?? 0.875;
        return new PreprocessConfig
        {
            Mean = Floats(cfg, "mean", cfgPath, channels) ?? [.. ImageNetMean],
            Std = Floats(cfg, "std", cfgPath, channels) ?? [.. ImageNetStd],
            Resample = resample,
            CropPct = cropPct > 0 ? (float)cropPct : 0.875f, // timm: crop_pct or DEFAULT_CROP_PCT; 1.0 still crops
        };
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

    private static (int Hidden, int Depth, int Heads, int Patch, int Image, bool Distilled)? ParseTimmName(string architecture)
    {
        var m = TimmName().Match(architecture);
        if (!m.Success)
        {
            return null;
        }

        (int hidden, int depth, int heads) = m.Groups["size"].Value switch
        {
            "tiny" => (192, 12, 3),
            "small" => (384, 12, 6),
            "base" => (768, 12, 12),
            "large" => (1024, 24, 16),
            _ => (1280, 32, 16), // huge
        };
        return (hidden, depth, heads, int.Parse(m.Groups["patch"].Value, CultureInfo.InvariantCulture),
            int.Parse(m.Groups["image"].Value, CultureInfo.InvariantCulture), m.Groups["distilled"].Success);
    }

    [GeneratedRegex(@"^(?:vit|deit)_(?<size>tiny|small|base|large|huge)_(?<distilled>distilled_)?patch(?<patch>\d{1,3})_(?<image>\d{2,4})(?:\..*)?$", RegexOptions.CultureInvariant)]
    private static partial Regex TimmName();

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
