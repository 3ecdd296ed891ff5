using System.Globalization;
using System.Text.Json;

namespace VitAttention.Models;

/// <summary>timm configs: the hub's <c>config.json</c> (architecture + pretrained_cfg), optionally with <c>model_args</c>.</summary>
internal static partial class VitConfigLoader
{
    /// <summary>Sizes read from a timm checkpoint's tensor shapes (its safetensors header).</summary>
    private readonly record struct TimmShapes(int EmbedDim, int Channels, int Patch, int Depth, int MlpWidth, int RegTokens);

    private static VitConfig FromTimm(JsonElement root, string configPath, string weightsPath)
    {
        string architecture = root.GetProperty("architecture").GetString()!;
        JsonElement args = root.TryGetProperty("model_args", out var a) && a.ValueKind == JsonValueKind.Object ? a : default;
        JsonElement cfg = root.TryGetProperty("pretrained_cfg", out var p) && p.ValueKind == JsonValueKind.Object ? p : default;
        bool hasArgs = args.ValueKind == JsonValueKind.Object;
        string argsPath = configPath + " model_args";

        // The registry gives the flags and the head count (which no tensor shape tells); model_args win over it.
        TimmArchitecture? named = TimmArchitectures.Find(architecture);
        if (named is null && !hasArgs)
        {
            throw new ModelFormatException(
                $"{configPath}: timm architecture '{architecture}' is not one VitAttention knows, and there is no model_args to describe it. " +
                $"Known names (timm's registry, pretrained tag after a dot ignored): {TimmArchitectures.KnownNames()}. " +
                "Other timm model classes (EVA, BEiT, hybrid ViTs) have other layouts; a VisionTransformer under another name needs model_args (img_size, patch_size, embed_dim, depth, num_heads, mlp_ratio).");
        }

        if (named?.Unsupported is { } why)
        {
            throw new ModelFormatException($"{configPath}: timm architecture '{named.Name}' uses {why}, which VitAttention does not build; it builds plain pre-norm ViT blocks (with LayerScale, registers, pre-norm, QuickGELU).");
        }

        foreach (var (key, what) in new[] { ("qk_norm", "QK normalisation"), ("norm_layer", "a custom norm layer"), ("block_fn", "a custom block"), ("mlp_layer", "a custom MLP"), ("attn_pool", "attention pooling"), ("scale_attn_norm", "sub-layer norms"), ("scale_mlp_norm", "sub-layer norms") })
        {
            if (hasArgs && args.TryGetProperty(key, out var v) && v.ValueKind is not (JsonValueKind.Null or JsonValueKind.False))
            {
                throw new ModelFormatException($"{argsPath}: {key} ({what}) is not supported; VitAttention builds plain pre-norm ViT blocks.");
            }
        }

        if (hasArgs && Bool(args, "final_norm", argsPath) == false)
        {
            throw new ModelFormatException($"{argsPath}: final_norm false (no final LayerNorm) is not supported.");
        }

        VitActivation activation = (hasArgs ? Str(args, "act_layer", argsPath) : null) switch
        {
            null => named?.Activation ?? VitActivation.Gelu,
            "gelu" => VitActivation.Gelu,
            "quick_gelu" => VitActivation.QuickGelu,
            "gelu_tanh" => VitActivation.GeluTanh,
            string other => throw new ModelFormatException($"{argsPath}: act_layer '{other}' is not supported; 'gelu', 'quick_gelu' and 'gelu_tanh' are."),
        };

        // Sizes: model_args, else the weights' shapes, else the registry (a config without its weights, e.g. beside an ONNX file).
        TimmShapes? shapes = hasArgs ? null : ReadTimmShapes(weightsPath);
        int hidden = (hasArgs ? Int(args, "embed_dim", argsPath) : null) ?? shapes?.EmbedDim ?? named?.EmbedDim ?? 768;
        int depth = (hasArgs ? Int(args, "depth", argsPath) : null) ?? shapes?.Depth ?? named?.Depth ?? 12;
        int patch = (hasArgs ? Int(args, "patch_size", argsPath) : null) ?? shapes?.Patch ?? named?.Patch ?? 16;
        int heads = (hasArgs ? Int(args, "num_heads", argsPath) : null) ?? named?.Heads ?? 12;
        double mlpRatio = (hasArgs ? Num(args, "mlp_ratio", argsPath) : null) ?? named?.MlpRatio ?? 4.0;
        int mlp = shapes?.MlpWidth ?? MlpWidth(hidden, mlpRatio, hasArgs ? argsPath : configPath);
        int registers = (hasArgs ? Int(args, "reg_tokens", argsPath) : null) ?? shapes?.RegTokens ?? named?.RegTokens ?? 0;
        bool distilled = named?.Distilled ?? architecture.Contains("distilled", StringComparison.Ordinal);
        bool classToken = (hasArgs ? Bool(args, "class_token", argsPath) : null) ?? named?.ClassToken ?? true;
        bool noEmbedClass = (hasArgs ? Bool(args, "no_embed_class", argsPath) : null) ?? named?.NoEmbedClass ?? false;
        bool preNorm = (hasArgs ? Bool(args, "pre_norm", argsPath) : null) ?? named?.PreNorm ?? false;
        double? initValues = hasArgs && args.TryGetProperty("init_values", out _) ? Num(args, "init_values", argsPath) : named?.InitValues;
        string globalPool = (hasArgs ? Str(args, "global_pool", argsPath) : null) ?? Str(root, "global_pool", configPath) ?? named?.GlobalPool ?? "token";
        int classesHint = Int(root, "num_classes", configPath) ?? 1;
        if (globalPool.Length == 0 && classesHint == 0)
        {
            globalPool = classToken ? "token" : "avg"; // no pooling on a headless backbone: nothing reads it
        }

        VitPooling pooling = globalPool switch
        {
            "token" => distilled ? VitPooling.ClassAndDistillationMean : VitPooling.ClassToken,
            "avg" when !distilled => VitPooling.MeanOfPatches,
            _ => throw new ModelFormatException($"{configPath}: global_pool '{globalPool}' is not supported; 'token' and 'avg' are."),
        };
        bool fcNorm = (hasArgs ? Bool(args, "fc_norm", argsPath) : null) ?? named?.FcNorm ?? pooling == VitPooling.MeanOfPatches;

        int classes = Int(root, "num_classes", configPath)
            ?? (hasArgs ? Int(args, "num_classes", argsPath) : null)
            ?? (cfg.ValueKind == JsonValueKind.Object ? Int(cfg, "num_classes", configPath + " pretrained_cfg") : null)
            ?? 1000;
        IReadOnlyList<string> labels = LabelNames(root, configPath);
        if (labels.Count != 0 && labels.Count != classes)
        {
            throw new ModelFormatException($"{configPath}: num_classes is {classes} but label_names has {labels.Count} entries.");
        }

        // OpenCLIP towers keep their image projection as timm's head ([projection, width], num_classes 512/768/1024):
        // an embedding, not classes. Fine-tuned classifiers are tagged *ft_* or name their labels.
        string tag = (cfg.ValueKind == JsonValueKind.Object ? Str(cfg, "tag", configPath + " pretrained_cfg") : null) ?? TagOf(architecture);
        bool projectionHead = classes > 0 && labels.Count == 0 && named?.Family == "CLIP image towers" && !tag.Contains("ft", StringComparison.Ordinal);

        int? numFeatures = Int(root, "num_features", configPath);
        if (numFeatures is not null && numFeatures != hidden)
        {
            throw new ModelFormatException($"{configPath}: num_features {numFeatures} differs from the model's width {hidden}{(shapes is null ? " (embed_dim)" : " (patch_embed.proj.weight's first dimension)")}.");
        }

        int channels = (hasArgs ? Int(args, "in_chans", argsPath) : null) ?? shapes?.Channels ?? 3;
        (int height, int width) = (hasArgs ? Size(args, "img_size", argsPath) : null) ?? NameSize(architecture) ?? (224, 224);
        var preprocess = TimmPreprocess(cfg, configPath + " pretrained_cfg", channels, ref height, ref width, hasArgs && args.TryGetProperty("img_size", out _));

        return new VitConfig
        {
            Family = ModelFamily.Timm,
            Checkpoint = CheckpointLayout.Timm,
            ImageHeight = height,
            ImageWidth = width,
            PatchSize = patch,
            Channels = channels,
            HiddenSize = hidden,
            NumLayers = depth,
            NumHeads = heads,
            IntermediateSize = mlp,
            LayerNormEps = named?.Eps ?? 1e-6,
            Activation = activation,
            QkvBias = (hasArgs ? Bool(args, "qkv_bias", argsPath) : null) ?? named?.QkvBias ?? true,
            LayerScale = initValues is { } iv && iv != 0,
            PreNorm = preNorm,
            PatchEmbeddingBias = !preNorm, // timm: PatchEmbed(bias=not pre_norm)
            HasClassToken = classToken,
            HasDistillationToken = distilled,
            RegisterTokens = registers,
            PrefixTokens = (classToken ? 1 : 0) + (distilled ? 1 : 0) + registers,
            PositionEmbeddingCoversPrefix = !noEmbedClass,
            PositionInterpolation = architecture.StartsWith("flexivit", StringComparison.Ordinal) ? GridInterpolation.Bilinear : GridInterpolation.BicubicAntialias,
            Pooling = pooling,
            NormAfterPooling = fcNorm,
            NumClasses = projectionHead ? 0 : classes,
            HeadIsProjection = projectionHead,
            Labels = labels,
            Preprocess = preprocess,
        };
    }

    /// <summary>The pretrained tag after the dot of <c>name.tag</c>, or empty.</summary>
    private static string TagOf(string architecture)
    {
        int dot = architecture.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? string.Empty : architecture[(dot + 1)..];
    }

    /// <summary>The resolution at the end of a registered name (<c>…_224</c>), or null.</summary>
    private static (int, int)? NameSize(string architecture)
    {
        string name = architecture.Split('.')[0];
        int underscore = name.LastIndexOf('_');
        return underscore >= 0 && int.TryParse(name.AsSpan(underscore + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int size) && size is >= 16 and <= 4096
            ? (size, size)
            : null;
    }

    /// <summary>The sizes a timm checkpoint's tensors show, or null when there is no readable model.safetensors.</summary>
    private static TimmShapes? ReadTimmShapes(string weightsPath)
    {
        if (!File.Exists(weightsPath))
        {
            return null;
        }

        using var file = SafeTensorsFile.Open(weightsPath);
        if (!file.Contains("patch_embed.proj.weight") || file.Info("patch_embed.proj.weight").Shape is not [var embed, var channels, var ph, var pw] || ph != pw)
        {
            return null; // not timm names; the weights loader reports what is missing
        }

        int depth = 0;
        while (file.Contains($"blocks.{depth}.norm1.weight"))
        {
            depth++;
        }

        int mlp = file.Contains("blocks.0.mlp.fc1.weight") && file.Info("blocks.0.mlp.fc1.weight").Shape is [var m, _] ? (int)m : -1;
        int registers = file.Contains("reg_token") && file.Info("reg_token").Shape is [1, var r, _] ? (int)r : 0;
        return depth == 0 || mlp <= 0 ? null : new TimmShapes((int)embed, (int)channels, (int)ph, depth, mlp, registers);
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
}
