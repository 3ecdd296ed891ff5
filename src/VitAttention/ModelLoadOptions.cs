using VitAttention.Hub;

namespace VitAttention;

/// <summary>Options for resolving a model: hub access, download progress and warnings.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>The default options: hub settings from the <c>HF_*</c> environment variables, no progress, no log.</summary>
    public static ModelLoadOptions Default { get; } = new();

    /// <summary>Hub endpoint, token, cache folder and offline mode; null reads them from the environment.</summary>
    public HubOptions? Hub { get; init; }

    /// <summary>Receives download progress for hub models (called from the download thread).</summary>
    public IProgress<DownloadProgress>? Progress { get; init; }

    /// <summary>Receives warnings (for example an ONNX file without config.json), one line each.</summary>
    public Action<string>? Log { get; init; }
}
