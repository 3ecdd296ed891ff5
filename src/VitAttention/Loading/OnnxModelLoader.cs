using System.Diagnostics;
using VitAttention.Models;
using VitAttention.Onnx;

namespace VitAttention.Loading;

/// <summary>
/// Turns an ONNX file a user already has (torch.onnx.export, Hugging Face Optimum, transformers.js
/// <c>onnx/model.onnx</c>) into a <see cref="PreparedModel"/>: its attention probabilities become outputs
/// (<see cref="AttentionExposer"/>) and its <see cref="VitConfig"/> comes from the <c>config.json</c> /
/// <c>preprocessor_config.json</c> beside it, or from the graph when there are none.
/// </summary>
internal static class OnnxModelLoader
{
    /// <summary>The largest ONNX file read (ONNX protobufs cannot exceed 2 GB; larger models use external data).</summary>
    public const long MaxOnnxBytes = int.MaxValue;

    /// <summary>
    /// Reads an ONNX file, exposes every layer's attention and builds the config that describes it. Nothing is
    /// written; call <see cref="Save"/> to keep the prepared graph.
    /// </summary>
    /// <param name="onnxPath">
    /// The <c>.onnx</c> file, or a folder holding <c>model.onnx</c> or <c>onnx/model.onnx</c>. External data files
    /// (<c>model.onnx_data</c>) are read from the file's folder.
    /// </param>
    /// <param name="warn">
    /// Receives warnings: today one, when no <c>config.json</c> is found beside the file or in its parent folder (the
    /// Optimum and transformers.js layout <c>folder/onnx/model.onnx</c> + <c>folder/config.json</c>) and the config is
    /// guessed from the graph with mean/std 0.5 and no class names. Null sends warnings to
    /// <see cref="Trace.TraceWarning(string)"/>.
    /// </param>
    /// <returns>The prepared model; its <see cref="PreparedModel.Source"/> is <paramref name="onnxPath"/>.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ModelFormatException">
    /// The file is not an ONNX ViT (see <see cref="AttentionExposer.Expose"/>), its config.json is malformed, or the
    /// config disagrees with the graph (layers, heads, tokens, classes, input size); the message names the file.
    /// </exception>
    public static PreparedModel PrepareOnnx(string onnxPath, Action<string>? warn = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(onnxPath);
        string path = ResolveFile(onnxPath);
        long length = new FileInfo(path).Length;
        if (length > MaxOnnxBytes)
        {
            throw new ModelFormatException(
                $"{onnxPath}: {length} bytes is more than one ONNX protobuf can hold (2 GB); export the model with external data " +
                "(weights in model.onnx_data beside a small model.onnx).");
        }

        byte[] bytes = File.ReadAllBytes(path);
        string folder = Path.GetDirectoryName(path)!;
        string? configFolder = FindConfigFolder(path);
        VitConfig? config = configFolder is null ? null : VitConfigLoader.FromFolder(configFolder);
        var options = new ExposeOptions
        {
            ExternalDataFolder = folder,
            ImageHeight = config?.ImageHeight,
            ImageWidth = config?.ImageWidth,
        };
        ExposedOnnx exposed = AttentionExposer.Expose(bytes, onnxPath, options);

        if (config is not null)
        {
            CheckAgreement(config, exposed, Path.Combine(configFolder!, VitConfigLoader.ConfigFile), onnxPath);
        }
        else
        {
            config = ConfigFromGraph(exposed, onnxPath);
            string message =
                $"{onnxPath}: no {VitConfigLoader.ConfigFile} beside it or in its parent folder, so the config was read from the graph: " +
                $"input {config.ImageHeight}×{config.ImageWidth}, patch {config.PatchSize}, {config.PrefixTokens} prefix token(s), " +
                $"{config.NumLayers} layers × {config.NumHeads} heads, {config.NumClasses} classes without names, and preprocessing " +
                "assumed to be a bilinear resize with mean 0.5 / std 0.5. Models trained with other statistics (timm, DeiT and " +
                "DINO use the ImageNet mean/std) will predict wrongly: put the model's config.json and preprocessor_config.json " +
                "beside the .onnx file.";
            if (warn is null)
            {
                Trace.TraceWarning(message);
            }
            else
            {
                warn(message);
            }
        }

        var inputs = new List<string> { path };
        inputs.AddRange(exposed.ExternalFiles);
        if (configFolder is not null)
        {
            inputs.AddRange(new[] { VitConfigLoader.ConfigFile, VitConfigLoader.PreprocessorFile }
                .Select(f => Path.Combine(configFolder, f)).Where(File.Exists));
        }

        return new PreparedModel(config, exposed.Onnx, exposed.InputName, onnxPath, inputs);
    }

    /// <summary>
    /// The folder whose <c>config.json</c> describes <paramref name="onnxPath"/>: the file's own folder, else its
    /// parent (Optimum and transformers.js keep <c>onnx/model.onnx</c> under the folder with <c>config.json</c>);
    /// null when neither has one.
    /// </summary>
    /// <param name="onnxPath">Path of the <c>.onnx</c> file.</param>
    /// <returns>The folder, or null.</returns>
    public static string? FindConfigFolder(string onnxPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(onnxPath);
        string? folder = Path.GetDirectoryName(Path.GetFullPath(onnxPath));
        for (int up = 0; up < 2 && folder is not null; up++)
        {
            if (File.Exists(Path.Combine(folder, VitConfigLoader.ConfigFile)))
            {
                return folder;
            }

            folder = Path.GetDirectoryName(folder);
        }

        return null;
    }

    /// <summary>
    /// Writes the prepared model's ONNX graph to <paramref name="outPath"/> atomically: to a temporary file in the same
    /// folder, then renamed over the destination, so a reader never sees half a file. Creates the folder if needed. A
    /// graph in the prepared-model cache is copied as a stream, never read whole into memory.
    /// </summary>
    /// <param name="model">The prepared model.</param>
    /// <param name="outPath">Destination file; it must not be any file the model was made from.</param>
    /// <exception cref="ArgumentException">
    /// <paramref name="outPath"/> is a folder, or a file the model was read from (weights, a config, the export, its
    /// external data, or the cached graph), by any spelling, link or hard link; nothing is written.
    /// </exception>
    public static void Save(PreparedModel model, string outPath)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(outPath);
        string target = Path.GetFullPath(outPath);
        if (Directory.Exists(target))
        {
            throw new ArgumentException($"Output path '{outPath}' is a folder; give a file name such as model.attn.onnx.", nameof(outPath));
        }

        var inputs = model.OnnxPath is { } cached ? model.InputFiles.Append(cached) : model.InputFiles;
        OutputGuard.Refuse(outPath, inputs, $"the model '{model.Source}'");
        if (model.OnnxPath is { } path)
        {
            AtomicFile.Copy(path, target);
        }
        else
        {
            AtomicFile.Write(target, model.OnnxBytes);
        }
    }

    /// <summary>The ONNX file of a model folder: <c>model.onnx</c>, else <c>onnx/model.onnx</c> (Optimum, transformers.js); null when neither exists.</summary>
    internal static string? FindOnnxInFolder(string folder) =>
        new[] { "model.onnx", Path.Combine("onnx", "model.onnx") }.Select(c => Path.Combine(folder, c)).FirstOrDefault(File.Exists);

    private static string ResolveFile(string onnxPath)
    {
        string full = Path.GetFullPath(onnxPath);
        if (Directory.Exists(full))
        {
            return FindOnnxInFolder(full) ?? throw new FileNotFoundException(
                $"Folder '{onnxPath}' holds neither model.onnx nor onnx/model.onnx; pass the .onnx file itself.", onnxPath);
        }

        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"ONNX model '{onnxPath}' does not exist.", onnxPath);
        }

        return full;
    }

    private static void CheckAgreement(VitConfig config, ExposedOnnx exposed, string configPath, string onnxPath)
    {
        void Require(bool ok, string what)
        {
            if (!ok)
            {
                throw new ModelFormatException(
                    $"{configPath} does not describe {onnxPath}: {what}. Use the config.json from the same model repository as the " +
                    "ONNX file (or remove it to read the dimensions from the graph).");
            }
        }

        Require(exposed.InputHeight is null || exposed.InputHeight == config.ImageHeight,
            $"the config's image size is {config.ImageHeight}×{config.ImageWidth} but the graph input is {exposed.InputHeight}×{exposed.InputWidth}");
        Require(exposed.InputWidth is null || exposed.InputWidth == config.ImageWidth,
            $"the config's image size is {config.ImageHeight}×{config.ImageWidth} but the graph input is {exposed.InputHeight}×{exposed.InputWidth}");
        Require(exposed.Layers == config.NumLayers,
            $"the config has {config.NumLayers} layers but the graph has {exposed.Layers} attention softmaxes");
        Require(exposed.Heads == config.NumHeads, $"the config has {config.NumHeads} heads but the graph's attention has {exposed.Heads}");
        Require(exposed.Tokens == config.Tokens, $"the config implies {config.Tokens} tokens but the graph's attention has {exposed.Tokens}");
        Require(exposed.Heads * exposed.HeadDim == config.HiddenSize,
            $"the config's hidden size is {config.HiddenSize} but the graph's heads are {exposed.Heads} × {exposed.HeadDim}");
        Require(exposed.NumClasses == config.NumClasses,
            exposed.NumClasses == 0
                ? $"the config has {config.NumClasses} classes but the graph has no [batch, classes] output (export it with --task image-classification)"
                : $"the config has {config.NumClasses} classes but the graph's logits have {exposed.NumClasses}");
        Require(exposed.Channels == config.Channels, $"the config has {config.Channels} input channels but the graph has {exposed.Channels}");
    }

    private static VitConfig ConfigFromGraph(ExposedOnnx exposed, string onnxPath)
    {
        int height = exposed.InputHeight ?? exposed.ProbeHeight;
        int width = exposed.InputWidth ?? exposed.ProbeWidth;
        int patch;
        int prefix;
        if (exposed.PatchSize is int p && p > 0 && height % p == 0 && width % p == 0)
        {
            patch = p;
            prefix = exposed.Tokens - (height / p * (width / p));
        }
        else
        {
            // No patch convolution on the input: assume one class token, tokens − 1 = (H/p)·(W/p).
            prefix = 1;
            double side = Math.Sqrt((double)height * width / Math.Max(1, exposed.Tokens - prefix));
            patch = (int)Math.Round(side);
        }

        if (patch <= 0 || height % patch != 0 || width % patch != 0 || prefix is < 0 or > 64
            || prefix + (height / patch * (width / patch)) != exposed.Tokens)
        {
            throw new ModelFormatException(
                $"{onnxPath}: cannot infer the patch size from the graph ({exposed.Tokens} tokens for a {height}×{width} input); " +
                "put the model's config.json beside the .onnx file.");
        }

        int hidden = exposed.Heads * exposed.HeadDim;
        var config = new VitConfig
        {
            Family = ModelFamily.Onnx,
            ImageHeight = height,
            ImageWidth = width,
            PatchSize = patch,
            Channels = exposed.Channels,
            HiddenSize = hidden,
            NumLayers = exposed.Layers,
            NumHeads = exposed.Heads,
            IntermediateSize = 4 * hidden, // not in the graph's attention; unused when running an ONNX model
            PrefixTokens = prefix,
            HasClassToken = prefix > 0,
            RegisterTokens = Math.Max(0, prefix - 1),
            Pooling = prefix > 0 ? VitPooling.ClassToken : VitPooling.MeanOfPatches,
            NumClasses = exposed.NumClasses,
            Preprocess = PreprocessConfig.HuggingFaceDefault,
        };
        config.ValidateLayout(onnxPath);
        return config;
    }
}
