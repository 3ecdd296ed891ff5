using VitAttention.Hub;

namespace VitAttention;

/// <summary>Options for resolving a model: hub access, the prepared-model cache, download progress and warnings.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>The default options: hub settings from the <c>HF_*</c> environment variables, the default cache, no progress, no log.</summary>
    public static ModelLoadOptions Default { get; } = new();

    /// <summary>Hub endpoint, token, cache folder and offline mode; null reads them from the environment.</summary>
    public HubOptions? Hub { get; init; }

    /// <summary>
    /// Where graphs built from checkpoints are kept, one folder per checkpoint (hub snapshots by commit). Null (the
    /// default) uses the <c>VITATTENTION_CACHE</c> environment variable, else <c>{HF_HOME}/vit-attention</c>
    /// (<c>~/.cache/huggingface/vit-attention</c>). Nothing is written into checkpoint folders or into the hub cache's
    /// snapshots; deleting this folder only costs a rebuild.
    /// </summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Receives download progress for hub models (called from the download thread).</summary>
    public IProgress<DownloadProgress>? Progress { get; init; }

    /// <summary>Receives warnings (for example an ONNX file without config.json), one line each.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>
    /// Runs a checkpoint at <c>ImageSize</c> × <c>ImageSize</c> pixels instead of its own input size (null, the default):
    /// the graph is built for that grid with the position embedding interpolated as the family's reference code does,
    /// and the preprocessing resizes to match. Above the training size the maps are sharper (DINO's figures are made so).
    /// A multiple of the patch size. ONNX exports are fixed to one size: asking them for another is an error.
    /// </summary>
    public int? ImageSize { get; init; }
}
