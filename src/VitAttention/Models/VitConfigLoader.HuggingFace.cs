using System.Text.Json;

namespace VitAttention.Models;

/// <summary>Hugging Face transformers configs: ViT, DeiT, DINOv2 (with and without registers), CLIP vision towers, BEiT and data2vec-vision.</summary>
internal static partial class VitConfigLoader
{
    private static readonly float[] ClipMean = [0.48145466f, 0.4578275f, 0.40821073f];
    private static readonly float[] ClipStd = [0.26862954f, 0.26130258f, 0.27577711f];

    /// <summary>The model types (config.json <c>model_type</c>) read here.</summary>
    private static readonly string[] HfModelTypes = ["vit", "deit", "dinov2", "dinov2_with_registers", "clip", "clip_vision_model", "beit", "data2vec-vision"];

    private static VitConfig FromHuggingFace(JsonElement root, string configPath, string preprocessorPath)
    {
        string modelType = Str(root, "model_type", configPath) ?? "vit";
        return modelType switch
        {
            "vit" or "deit" => FromHfVit(root, modelType, configPath, preprocessorPath),
            "dinov2" or "dinov2_with_registers" => FromHfDinov2(root, modelType, configPath, preprocessorPath),
            "clip" or "clip_vision_model" => FromHfClip(root, modelType, configPath, preprocessorPath),
            "beit" or "data2vec-vision" => FromHfBeit(root, modelType, configPath, preprocessorPath),
            _ => throw new ModelFormatException(
                $"{configPath}: model_type '{modelType}' is not supported; VitAttention builds {string.Join(", ", HfModelTypes.Select(t => $"'{t}'"))} checkpoints."),
        };
    }

    private static VitConfig FromHfVit(JsonElement root, string modelType, string configPath, string preprocessorPath)
    {
        var (height, width) = Size(root, "image_size", configPath) ?? (224, 224);
        string architecture = FirstArchitecture(root, configPath, "ViTForImageClassification", "ViTModel");
        bool deit = modelType == "deit";
        bool teacher = architecture.EndsWith("WithTeacher", StringComparison.Ordinal);
        if (teacher && !deit)
        {
            throw new ModelFormatException($"{configPath}: architecture {architecture} needs model_type 'deit'.");
        }

        var head = HfHead(root, architecture, configPath);
        int channels = Int(root, "num_channels", configPath) ?? 3;
        var defaults = deit
            ? new PreprocessConfig { Mean = [.. ImageNetMean], Std = [.. ImageNetStd], Resample = ResampleFilter.Bicubic }
            : PreprocessConfig.HuggingFaceDefault;
        var (preprocess, output) = HfPreprocess(preprocessorPath, channels, defaults, numberIsShortestEdge: false);
        RequireInputSize(output, preprocess, height, width, preprocessorPath, configPath);
        return new VitConfig
        {
            Family = ModelFamily.HuggingFace,
            Checkpoint = deit ? CheckpointLayout.HfDeit : CheckpointLayout.HfVit,
            ImageHeight = height,
            ImageWidth = width,
            PatchSize = Int(root, "patch_size", configPath) ?? 16,
            Channels = channels,
            HiddenSize = Int(root, "hidden_size", configPath) ?? 768,
            NumLayers = Int(root, "num_hidden_layers", configPath) ?? 12,
            NumHeads = Int(root, "num_attention_heads", configPath) ?? 12,
            IntermediateSize = Int(root, "intermediate_size", configPath) ?? 3072,
            LayerNormEps = Num(root, "layer_norm_eps", configPath) ?? 1e-12,
            Activation = HfActivation(root, configPath, "gelu"),
            QkvBias = Bool(root, "qkv_bias", configPath) ?? true,
            HasClassToken = true,
            HasDistillationToken = deit,
            PrefixTokens = deit ? 2 : 1,
            Pooling = teacher ? VitPooling.ClassAndDistillationMean : VitPooling.ClassToken,
            NumClasses = head.Classes,
            Labels = head.Labels,
            Preprocess = preprocess,
        };
    }

    /// <summary>
    /// transformers <c>Dinov2Model</c> / <c>Dinov2ForImageClassification</c> and the <c>Dinov2WithRegisters</c> pair:
    /// LayerScale in every block, eps 1e-6, patch 14; the graph takes the processor's crop (224) and the position
    /// embedding, trained on <c>image_size</c> (518), is interpolated to it as the model does on every call (bicubic;
    /// with antialiasing for the registers model). The classifier reads <c>[CLS, mean of patches]</c>.
    /// </summary>
    private static VitConfig FromHfDinov2(JsonElement root, string modelType, string configPath, string preprocessorPath)
    {
        bool registers = modelType == "dinov2_with_registers";
        if (Bool(root, "use_swiglu_ffn", configPath) == true)
        {
            throw new ModelFormatException($"{configPath}: use_swiglu_ffn (DINOv2 giant's SwiGLU MLP) is not supported; VitAttention builds the fc1 → GELU → fc2 MLP of the small, base and large models.");
        }

        var (trainedH, trainedW) = Size(root, "image_size", configPath) ?? (224, 224);
        int patch = Int(root, "patch_size", configPath) ?? 14;
        int hidden = Int(root, "hidden_size", configPath) ?? 768;
        double mlpRatio = Num(root, "mlp_ratio", configPath) ?? 4.0;
        int regTokens = registers ? Int(root, "num_register_tokens", configPath) ?? 4 : 0;
        string architecture = FirstArchitecture(root, configPath, registers ? "Dinov2WithRegistersForImageClassification" : "Dinov2ForImageClassification",
            registers ? "Dinov2WithRegistersModel" : "Dinov2Model");
        var head = HfHead(root, architecture, configPath);
        int channels = Int(root, "num_channels", configPath) ?? 3;
        var defaults = new PreprocessConfig { Mean = [.. ImageNetMean], Std = [.. ImageNetStd], Resample = ResampleFilter.Bicubic };
        var (preprocess, output) = HfPreprocess(preprocessorPath, channels, defaults, numberIsShortestEdge: true);
        var (height, width) = output ?? (trainedH, trainedW); // the model interpolates its position embedding to any input
        return new VitConfig
        {
            Family = ModelFamily.HuggingFace,
            Checkpoint = registers ? CheckpointLayout.HfDinov2WithRegisters : CheckpointLayout.HfDinov2,
            ImageHeight = height,
            ImageWidth = width,
            PatchSize = patch,
            Channels = channels,
            HiddenSize = hidden,
            NumLayers = Int(root, "num_hidden_layers", configPath) ?? 12,
            NumHeads = Int(root, "num_attention_heads", configPath) ?? 12,
            IntermediateSize = MlpWidth(hidden, mlpRatio, configPath),
            LayerNormEps = Num(root, "layer_norm_eps", configPath) ?? 1e-6,
            Activation = HfActivation(root, configPath, "gelu"),
            QkvBias = Bool(root, "qkv_bias", configPath) ?? true,
            LayerScale = true,
            HasClassToken = true,
            RegisterTokens = regTokens,
            PrefixTokens = 1 + regTokens,
            RegistersAfterPositionEmbedding = registers,
            PositionGridHeight = TrainedGrid(trainedH, patch, height),
            PositionGridWidth = TrainedGrid(trainedW, patch, width),
            PositionInterpolation = registers ? GridInterpolation.BicubicAntialias : GridInterpolation.Bicubic,
            Pooling = head.Classes > 0 ? VitPooling.ClassAndPatchMean : VitPooling.ClassToken,
            NumClasses = head.Classes,
            Labels = head.Labels,
            Preprocess = preprocess,
        };
    }

    /// <summary>
    /// A CLIP vision tower: <c>CLIPModel</c> (the <c>vision_config</c> of <c>model_type</c> 'clip'; the text tower is
    /// ignored) or <c>CLIPVisionModel</c> / <c>CLIPVisionModelWithProjection</c> ('clip_vision_model'). Class embedding,
    /// patch convolution without bias, <c>pre_layrnorm</c> after the embedding, <c>hidden_act</c> (QuickGELU for
    /// OpenAI's), eps 1e-5. The model explains attention only: the projection is an embedding, not classes.
    /// </summary>
    private static VitConfig FromHfClip(JsonElement root, string modelType, string configPath, string preprocessorPath)
    {
        string architecture = FirstArchitecture(root, configPath, "CLIPVisionModel", "CLIPVisionModel");
        if (architecture.Contains("ForImageClassification", StringComparison.Ordinal))
        {
            throw new ModelFormatException($"{configPath}: {architecture} (a classifier on the mean of CLIP's unnormalised patch tokens) is not supported; CLIP towers are explained without classes.");
        }

        JsonElement vision = root;
        string visionPath = configPath;
        if (modelType == "clip")
        {
            if (!root.TryGetProperty("vision_config", out vision) || vision.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFormatException($"{configPath}: a CLIPModel config needs a vision_config object (the image tower's dimensions).");
            }

            visionPath = configPath + " vision_config";
        }

        // CLIPVisionConfig's defaults: ViT-B/32 at 224.
        var (height, width) = Size(vision, "image_size", visionPath) ?? (224, 224);
        int channels = Int(vision, "num_channels", visionPath) ?? 3;
        var defaults = new PreprocessConfig { Mean = [.. ClipMean], Std = [.. ClipStd], Resample = ResampleFilter.Bicubic };
        var (preprocess, output) = HfPreprocess(preprocessorPath, channels, defaults, numberIsShortestEdge: true);
        RequireInputSize(output, preprocess, height, width, preprocessorPath, configPath);
        return new VitConfig
        {
            Family = ModelFamily.HuggingFace,
            Checkpoint = CheckpointLayout.HfClip,
            ImageHeight = height,
            ImageWidth = width,
            PatchSize = Int(vision, "patch_size", visionPath) ?? 32,
            Channels = channels,
            HiddenSize = Int(vision, "hidden_size", visionPath) ?? 768,
            NumLayers = Int(vision, "num_hidden_layers", visionPath) ?? 12,
            NumHeads = Int(vision, "num_attention_heads", visionPath) ?? 12,
            IntermediateSize = Int(vision, "intermediate_size", visionPath) ?? 3072,
            LayerNormEps = Num(vision, "layer_norm_eps", visionPath) ?? 1e-5,
            Activation = HfActivation(vision, visionPath, "quick_gelu"),
            PreNorm = true,
            PatchEmbeddingBias = false,
            HasClassToken = true,
            PrefixTokens = 1,
            Pooling = VitPooling.ClassToken,
            NumClasses = 0,
            Preprocess = preprocess,
        };
    }

    /// <summary>
    /// transformers BEiT and data2vec-vision: relative position bias per block (or shared), query and value biases
    /// without a key bias, LayerScale <c>lambda_1</c>/<c>lambda_2</c> when <c>layer_scale_init_value</c> &gt; 0, and the
    /// classifier on the LayerNorm of the patches' mean (<c>use_mean_pooling</c>) or on the class token.
    /// </summary>
    private static VitConfig FromHfBeit(JsonElement root, string modelType, string configPath, string preprocessorPath)
    {
        var (height, width) = Size(root, "image_size", configPath) ?? (224, 224);
        bool data2vec = modelType == "data2vec-vision";
        string architecture = FirstArchitecture(root, configPath,
            data2vec ? "Data2VecVisionForImageClassification" : "BeitForImageClassification", data2vec ? "Data2VecVisionModel" : "BeitModel");
        if (!architecture.EndsWith("ForImageClassification", StringComparison.Ordinal) && !architecture.EndsWith("Model", StringComparison.Ordinal))
        {
            throw new ModelFormatException($"{configPath}: {architecture} is not supported; VitAttention builds the BEiT/data2vec-vision encoder with its image-classification head, or the bare encoder (…Model).");
        }

        var head = HfHead(root, architecture, configPath);
        bool perLayer = Bool(root, "use_relative_position_bias", configPath) ?? false;
        bool shared = Bool(root, "use_shared_relative_position_bias", configPath) ?? false;
        if (perLayer && shared)
        {
            throw new ModelFormatException($"{configPath}: use_relative_position_bias and use_shared_relative_position_bias are both true; a checkpoint has one or the other.");
        }

        bool meanPooling = Bool(root, "use_mean_pooling", configPath) ?? true;
        int channels = Int(root, "num_channels", configPath) ?? 3;
        var defaults = new PreprocessConfig { Mean = [0.5f, 0.5f, 0.5f], Std = [0.5f, 0.5f, 0.5f], Resample = ResampleFilter.Bicubic };
        var (preprocess, output) = HfPreprocess(preprocessorPath, channels, defaults, numberIsShortestEdge: false);
        RequireInputSize(output, preprocess, height, width, preprocessorPath, configPath);
        return new VitConfig
        {
            Family = ModelFamily.HuggingFace,
            Checkpoint = data2vec ? CheckpointLayout.HfData2VecVision : CheckpointLayout.HfBeit,
            ImageHeight = height,
            ImageWidth = width,
            PatchSize = Int(root, "patch_size", configPath) ?? 16,
            Channels = channels,
            HiddenSize = Int(root, "hidden_size", configPath) ?? 768,
            NumLayers = Int(root, "num_hidden_layers", configPath) ?? 12,
            NumHeads = Int(root, "num_attention_heads", configPath) ?? 12,
            IntermediateSize = Int(root, "intermediate_size", configPath) ?? 3072,
            LayerNormEps = Num(root, "layer_norm_eps", configPath) ?? 1e-12,
            Activation = HfActivation(root, configPath, "gelu"),
            QkvBias = true, // query and value biases; the key has none (a zero bias in the fused layout)
            LayerScale = (Num(root, "layer_scale_init_value", configPath) ?? 0.1) > 0,
            HasPositionEmbedding = Bool(root, "use_absolute_position_embeddings", configPath) ?? false,
            RelativePositionBias = perLayer ? RelativePositionBiasKind.PerLayer : shared ? RelativePositionBiasKind.Shared : RelativePositionBiasKind.None,
            HasClassToken = true,
            PrefixTokens = 1,
            Pooling = meanPooling ? VitPooling.MeanOfPatches : VitPooling.ClassToken,
            NormAfterPooling = meanPooling,
            NumClasses = head.Classes,
            Labels = head.Labels,
            Preprocess = preprocess,
        };
    }

    /// <summary>The classes and labels of a Hugging Face classifier architecture, or none for a bare encoder.</summary>
    private static (int Classes, IReadOnlyList<string> Labels) HfHead(JsonElement root, string architecture, string configPath)
    {
        bool classifier = architecture.EndsWith("ForImageClassification", StringComparison.Ordinal)
            || architecture.EndsWith("ForImageClassificationWithTeacher", StringComparison.Ordinal);
        if (!classifier)
        {
            return (0, []);
        }

        IReadOnlyList<string> labels = Id2Label(root, configPath);
        int classes = Int(root, "num_labels", configPath) ?? labels.Count;
        if (labels.Count != 0 && labels.Count != classes)
        {
            throw new ModelFormatException($"{configPath}: num_labels is {classes} but id2label has {labels.Count} entries.");
        }

        if (classes == 0)
        {
            throw new ModelFormatException($"{configPath}: architecture {architecture} is a classifier but config.json has neither id2label nor num_labels.");
        }

        return (classes, labels);
    }

    private static VitActivation HfActivation(JsonElement obj, string path, string fallback)
    {
        string act = Str(obj, "hidden_act", path) ?? fallback;
        return act switch
        {
            "gelu" => VitActivation.Gelu,
            "quick_gelu" => VitActivation.QuickGelu,
            "gelu_new" or "gelu_pytorch_tanh" => VitActivation.GeluTanh,
            _ => throw new ModelFormatException($"{path}: hidden_act '{act}' is not supported; 'gelu' (exact, erf), 'quick_gelu' and the tanh approximations 'gelu_new' / 'gelu_pytorch_tanh' are."),
        };
    }

    /// <summary>timm and transformers: the MLP width is <c>int(hidden · mlp_ratio)</c>.</summary>
    private static int MlpWidth(int hidden, double mlpRatio, string path) =>
        mlpRatio is > 0 and < 1024 ? (int)(hidden * mlpRatio) : throw new ModelFormatException($"{path}: mlp_ratio {mlpRatio} must be positive.");

    /// <summary>The trained grid along one axis when it differs from the input's, else null.</summary>
    private static int? TrainedGrid(int trainedSize, int patch, int inputSize) =>
        patch > 0 && trainedSize / patch != inputSize / patch ? trainedSize / patch : null;

    private static void RequireInputSize((int Height, int Width)? output, PreprocessConfig preprocess, int height, int width, string preprocessorPath, string configPath)
    {
        if (output is { } o && (o.Height != height || o.Width != width))
        {
            bool cropped = preprocess.ResizeShortestEdge is not null || preprocess.ResizeHeight is not null;
            throw new ModelFormatException(
                $"{preprocessorPath}: {(cropped ? "crops" : "resizes")} photos to {o.Height}×{o.Width} but {configPath} image_size is {height}×{width}; the model's position embedding is for its image_size. " +
                "Use the preprocessor_config.json of the same checkpoint, or ask for the other size explicitly (ExplainerOptions.ImageSize, --image-size), which interpolates the position embedding.");
        }
    }

    /// <summary>
    /// Reads <c>preprocessor_config.json</c>: the processor's mean/std/filter/rescale, its exact resize and centre crop,
    /// and the size it hands the model (the crop, else the resize; null when the file or its size is absent).
    /// </summary>
    private static (PreprocessConfig Config, (int Height, int Width)? Output) HfPreprocess(string path, int channels, PreprocessConfig defaults, bool numberIsShortestEdge)
    {
        if (!File.Exists(path))
        {
            return (defaults, null);
        }

        using JsonDocument doc = ParseJson(path);
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException($"{path}: expected a JSON object.");
        }

        int resampleCode = Int(root, "resample", path) ?? (defaults.Resample == ResampleFilter.Bicubic ? 3 : 2);
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
                $"{path}: do_resize is false, so the processor would pass photos of any size to a model built for one size; resize photos yourself, or set do_resize to true.");
        }

        // A bare number means {height, width} for ViT, DeiT and BEiT processors but {shortest_edge} for the CLIP and BiT
        // (DINOv2) ones (transformers get_size_dict(size, default_to_square=False) in their constructors).
        string processor = Str(root, "image_processor_type", path) ?? Str(root, "feature_extractor_type", path) ?? string.Empty;
        numberIsShortestEdge = processor.Length == 0
            ? numberIsShortestEdge
            : processor.StartsWith("CLIP", StringComparison.Ordinal) || processor.StartsWith("Bit", StringComparison.Ordinal);
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

        var config = new PreprocessConfig
        {
            Mean = mean,
            Std = std,
            RescaleFactor = rescale,
            Resample = resample,
            ResizeShortestEdge = crop is null ? null : shortestEdge,
            ResizeHeight = crop is null ? null : size?.Height,
            ResizeWidth = crop is null ? null : size?.Width,
        };
        return (config, crop ?? size);
    }
}
