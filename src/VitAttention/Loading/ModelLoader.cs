using VitAttention.Hub;
using VitAttention.Models;

namespace VitAttention.Loading;

/// <summary>
/// Turns what a user calls a model into a <see cref="PreparedModel"/>: a hub id <c>owner/name[@revision]</c>, a
/// checkpoint folder (config.json + model.safetensors, from Hugging Face or timm), or an ONNX file (or a folder
/// holding <c>model.onnx</c> / <c>onnx/model.onnx</c>). Anything that looks like a path is never sent to the hub
/// (<see cref="ModelReference"/>).
/// </summary>
internal static class ModelLoader
{
    /// <summary>The model used when none is named: Google's ViT-B/16 fine-tuned on ImageNet-1k at 224 px.</summary>
    public const string DefaultModel = "google/vit-base-patch16-224";

    /// <summary>
    /// Resolves and prepares a model on the calling thread, downloading a hub model with synchronous requests.
    /// Checkpoints are converted to ONNX once and kept in the prepared-model cache (<see cref="PreparedModelCache"/>).
    /// </summary>
    /// <param name="model">A hub id, a checkpoint folder, or an ONNX file.</param>
    /// <param name="options">Hub settings, cache folder, progress and warnings.</param>
    /// <param name="cancellationToken">Cancels a download.</param>
    /// <exception cref="ModelFormatException">The model is malformed or is neither a path nor a hub id.</exception>
    /// <exception cref="DirectoryNotFoundException">The argument is a path to a folder that does not exist.</exception>
    /// <exception cref="FileNotFoundException">The argument is a path to a file that does not exist.</exception>
    /// <exception cref="ModelHubException">A hub model could not be downloaded or found in the cache.</exception>
    public static PreparedModel Load(string model, ModelLoadOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= ModelLoadOptions.Default;
        var reference = ModelReference.Parse(model);
        if (reference.LocalPath is { } path)
        {
            return LoadLocal(path, options);
        }

        ModelId id = reference.HubId!.Value;
        using var hub = new HubClient(options.Hub ?? HubOptions.FromEnvironment());
        string snapshot = hub.ResolveVitSnapshot(id, options.Progress, cancellationToken);
        return CheckpointLoader.PrepareCached(snapshot, PreparedModelCache.HubSlot(id, snapshot), options);
    }

    /// <summary>
    /// Resolves and prepares a model: a hub model is downloaded with asynchronous requests; reading a checkpoint,
    /// building its graph and checking an ONNX export are CPU and disk work and run on a thread-pool thread, so the
    /// caller's thread (a UI or request thread) is never blocked.
    /// </summary>
    /// <param name="model">A hub id, a checkpoint folder, or an ONNX file.</param>
    /// <param name="options">Hub settings, cache folder, progress and warnings.</param>
    /// <param name="cancellationToken">Cancels a download, or the preparation before it starts.</param>
    /// <exception cref="ModelFormatException">The model is malformed or is neither a path nor a hub id.</exception>
    /// <exception cref="DirectoryNotFoundException">The argument is a path to a folder that does not exist.</exception>
    /// <exception cref="FileNotFoundException">The argument is a path to a file that does not exist.</exception>
    /// <exception cref="ModelHubException">A hub model could not be downloaded or found in the cache.</exception>
    public static async Task<PreparedModel> LoadAsync(string model, ModelLoadOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= ModelLoadOptions.Default;
        var reference = ModelReference.Parse(model);
        if (reference.LocalPath is { } path)
        {
            return await Task.Run(() => LoadLocal(path, options), cancellationToken).ConfigureAwait(false);
        }

        ModelId id = reference.HubId!.Value;
        string snapshot;
        using (var hub = new HubClient(options.Hub ?? HubOptions.FromEnvironment()))
        {
            snapshot = await hub.ResolveVitSnapshotAsync(id, options.Progress, cancellationToken).ConfigureAwait(false);
        }

        return await Task.Run(() => CheckpointLoader.PrepareCached(snapshot, PreparedModelCache.HubSlot(id, snapshot), options), cancellationToken)
            .ConfigureAwait(false);
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

    private static PreparedModel LoadLocal(string path, ModelLoadOptions options)
    {
        if (File.Exists(path))
        {
            if (path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            {
                return RequireSize(OnnxModelLoader.PrepareOnnx(path, options.Log), options.ImageSize);
            }

            if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            {
                string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
                return CheckpointLoader.PrepareCached(folder, PreparedModelCache.LocalSlot(folder), options);
            }

            throw new ModelFormatException(
                $"model file '{path}' is neither an .onnx graph nor a .safetensors checkpoint; pass an ONNX file, or the folder holding config.json and model.safetensors.");
        }

        string? onnx = OnnxModelLoader.FindOnnxInFolder(path);
        if (File.Exists(Path.Combine(path, VitWeights.WeightsFile)) || (onnx is null && File.Exists(Path.Combine(path, VitConfigLoader.ConfigFile))))
        {
            return CheckpointLoader.PrepareCached(path, PreparedModelCache.LocalSlot(path), options);
        }

        return onnx is not null
            ? RequireSize(OnnxModelLoader.PrepareOnnx(onnx, options.Log), options.ImageSize)
            : throw new ModelFormatException(
                $"folder '{path}' holds no model: expected config.json with model.safetensors (a Hugging Face or timm checkpoint), or model.onnx / onnx/model.onnx.");
    }
}
