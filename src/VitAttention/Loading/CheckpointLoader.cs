using Google.Protobuf;
using VitAttention.Models;

namespace VitAttention.Loading;

/// <summary>
/// Turns a Hugging Face or timm checkpoint folder (<c>config.json</c> + <c>model.safetensors</c>) into a
/// <see cref="PreparedModel"/>: reads the config and weights, builds the ONNX graph with <see cref="VitOnnxBuilder"/>,
/// and keeps the graph in the <see cref="PreparedModelCache"/>.
/// </summary>
internal static class CheckpointLoader
{
    /// <summary>File name of the cached graph next to its source checkpoint.</summary>
    internal const string CacheFileName = "model.attn.onnx";

    /// <summary>Metadata key holding the hash of the source files of a cached graph.</summary>
    internal const string SourceKeyMetadata = "vitattention.source_key";

    private static int s_builds;

    /// <summary>How many graphs <see cref="Prepare"/> and <see cref="PrepareCached"/> have built in this process (for cache tests).</summary>
    internal static int BuildCount => Volatile.Read(ref s_builds);

    /// <summary>
    /// Reads the checkpoint in <paramref name="folder"/> (config, weights) and builds its graph with attention outputs.
    /// Nothing is written to disk; see <see cref="PrepareCached"/>.
    /// </summary>
    /// <param name="folder">A Hugging Face or timm checkpoint folder (<c>config.json</c>, <c>model.safetensors</c>).</param>
    /// <param name="imageSize">Build for this square input size instead of the checkpoint's own (see <see cref="ModelLoadOptions.ImageSize"/>).</param>
    /// <returns>The model, with input name <see cref="VitOnnxBuilder.InputName"/>.</returns>
    /// <exception cref="ModelFormatException">The folder's config or weights are missing, malformed or disagree.</exception>
    internal static PreparedModel Prepare(string folder, int? imageSize = null)
    {
        var config = ConfigAt(folder, imageSize);
        var weights = VitWeights.Load(folder, config);
        Interlocked.Increment(ref s_builds);
        return new PreparedModel(config, VitOnnxBuilder.Build(config, weights), VitOnnxBuilder.InputName, folder);
    }

    /// <summary>
    /// Like <see cref="Prepare"/>, but keeps the built graph as <c>model.attn.onnx</c> next to the checkpoint (or, when
    /// that folder is not writable, under the user's local application data folder) and reuses it while the source
    /// files and the library version are unchanged. Writes are atomic (temporary file, then rename).
    /// </summary>
    /// <param name="folder">A Hugging Face or timm checkpoint folder.</param>
    /// <param name="imageSize">Build for this square input size instead of the checkpoint's own; cached as <c>model.attn.{size}.onnx</c>.</param>
    /// <returns>The model, built now or read from the cache.</returns>
    /// <exception cref="ModelFormatException">The folder's config or weights are missing, malformed or disagree.</exception>
    internal static PreparedModel PrepareCached(string folder, int? imageSize = null)
    {
        var config = ConfigAt(folder, imageSize);
        string key = PreparedModelCache.SourceKey(folder, imageSize);
        string cacheFile = CacheFileFor(config, imageSize);
        foreach (string cacheFolder in PreparedModelCache.Candidates(folder))
        {
            byte[]? cached = PreparedModelCache.TryRead(cacheFolder, key, cacheFile);
            if (cached is not null)
            {
                return new PreparedModel(config, cached, VitOnnxBuilder.InputName, folder);
            }
        }

        var weights = VitWeights.Load(folder, config);
        Interlocked.Increment(ref s_builds);
        byte[] onnx = VitOnnxBuilder.BuildModel(config, weights, includeAttentions: true, new Dictionary<string, string>
        {
            [SourceKeyMetadata] = key,
            ["vitattention.source"] = Path.GetFullPath(folder),
        }).ToByteArray();
        foreach (string cacheFolder in PreparedModelCache.Candidates(folder))
        {
            if (PreparedModelCache.TryWrite(cacheFolder, key, onnx, cacheFile))
            {
                break;
            }
        }

        return new PreparedModel(config, onnx, VitOnnxBuilder.InputName, folder);
    }

    /// <summary>The folder's config, at <paramref name="imageSize"/> when one is asked for.</summary>
    private static VitConfig ConfigAt(string folder, int? imageSize)
    {
        var config = VitConfigLoader.FromFolder(folder);
        if (imageSize is not { } size)
        {
            return config;
        }

        config = config.AtInputSize(size, size, $"{folder}: ImageSize / --image-size");
        config.ValidateLayout(Path.Combine(folder, VitConfigLoader.ConfigFile));
        return config;
    }

    /// <summary>The cache file: <c>model.attn.onnx</c> at the checkpoint's own size, <c>model.attn.{size}.onnx</c> otherwise.</summary>
    private static string CacheFileFor(VitConfig config, int? imageSize) =>
        imageSize is null ? CacheFileName : $"model.attn.{config.ImageHeight.ToString(System.Globalization.CultureInfo.InvariantCulture)}.onnx";
}
