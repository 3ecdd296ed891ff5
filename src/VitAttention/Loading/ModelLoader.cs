using VitAttention.Hub;
using VitAttention.Models;

namespace VitAttention.Loading;

/// <summary>
/// Turns what a user calls a model into a <see cref="PreparedModel"/>: a hub id <c>owner/name[@revision]</c>, a
/// checkpoint folder (config.json + model.safetensors, from Hugging Face or timm), or an ONNX file (or a folder
/// holding <c>model.onnx</c> / <c>onnx/model.onnx</c>).
/// </summary>
internal static class ModelLoader
{
    /// <summary>The model used when none is named: Google's ViT-B/16 fine-tuned on ImageNet-1k at 224 px.</summary>
    public const string DefaultModel = "google/vit-base-patch16-224";

    /// <summary>Resolves and prepares a model; see <see cref="LoadAsync"/>.</summary>
    /// <exception cref="ModelFormatException">The model is malformed or is neither a file, a folder nor a hub id.</exception>
    /// <exception cref="ModelHubException">A hub model could not be downloaded or found in the cache.</exception>
    public static PreparedModel Load(string model, ModelLoadOptions? options = null, CancellationToken cancellationToken = default) =>
        LoadAsync(model, options, cancellationToken).GetAwaiter().GetResult();

    /// <summary>
    /// Resolves and prepares a model. A local path wins over a hub id of the same spelling. Checkpoint folders are
    /// converted to ONNX once and cached beside the weights as <c>model.attn.onnx</c>.
    /// </summary>
    /// <param name="model">A hub id, a checkpoint folder, or an ONNX file.</param>
    /// <param name="options">Hub settings, progress and warnings.</param>
    /// <param name="cancellationToken">Cancels a download.</param>
    /// <exception cref="ModelFormatException">The model is malformed or is neither a file, a folder nor a hub id.</exception>
    /// <exception cref="ModelHubException">A hub model could not be downloaded or found in the cache.</exception>
    public static async Task<PreparedModel> LoadAsync(string model, ModelLoadOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        options ??= ModelLoadOptions.Default;
        if (File.Exists(model))
        {
            return LoadFile(model, options);
        }

        if (Directory.Exists(model))
        {
            return LoadFolder(model, options);
        }

        if (ModelId.TryParseUnlessLocalPath(model, out var id))
        {
            using var hub = new HubClient(options.Hub ?? HubOptions.FromEnvironment());
            string snapshot = await hub.ResolveVitSnapshotAsync(id, options.Progress, cancellationToken).ConfigureAwait(false);
            return CheckpointLoader.PrepareCached(snapshot, options.ImageSize);
        }

        throw new ModelFormatException(
            $"model '{model}' is not an existing file or folder, nor a hub id of the form owner/name[@revision]; pass a checkpoint folder " +
            "(config.json + model.safetensors), an ONNX file, or a hub id such as " + DefaultModel + ".");
    }

    private static PreparedModel LoadFile(string path, ModelLoadOptions options)
    {
        if (path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            return RequireSize(OnnxModelLoader.PrepareOnnx(path, options.Log), options.ImageSize);
        }

        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            return CheckpointLoader.PrepareCached(Path.GetDirectoryName(Path.GetFullPath(path))!, options.ImageSize);
        }

        throw new ModelFormatException(
            $"model file '{path}' is neither an .onnx graph nor a .safetensors checkpoint; pass an ONNX file, or the folder holding config.json and model.safetensors.");
    }

    /// <summary>An ONNX export is built for one size: another <see cref="ModelLoadOptions.ImageSize"/> cannot be honoured.</summary>
    private static PreparedModel RequireSize(PreparedModel model, int? imageSize)
    {
        if (imageSize is { } size && (size != model.Config.ImageHeight || size != model.Config.ImageWidth))
        {
            throw new ModelFormatException(
                $"{model.Source}: an ONNX export runs at the size it was exported for ({model.Config.ImageHeight}×{model.Config.ImageWidth}); it cannot be run at {size}×{size}. " +
                "Use the checkpoint folder or hub id (config.json + model.safetensors), whose position embedding VitAttention interpolates, or export the model again at that size.");
        }

        return model;
    }

    private static PreparedModel LoadFolder(string folder, ModelLoadOptions options)
    {
        string? onnx = OnnxModelLoader.FindOnnxInFolder(folder);
        if (File.Exists(Path.Combine(folder, VitWeights.WeightsFile)) || (onnx is null && File.Exists(Path.Combine(folder, VitConfigLoader.ConfigFile))))
        {
            return CheckpointLoader.PrepareCached(folder, options.ImageSize);
        }

        return onnx is not null
            ? RequireSize(OnnxModelLoader.PrepareOnnx(onnx, options.Log), options.ImageSize)
            : throw new ModelFormatException(
                $"folder '{folder}' holds no model: expected config.json with model.safetensors (a Hugging Face or timm checkpoint), or model.onnx / onnx/model.onnx.");
    }
}
