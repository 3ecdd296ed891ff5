using System.Runtime.CompilerServices;
using Google.Protobuf;
using Onnx;
using VitAttention.Models;

namespace VitAttention.Loading;

/// <summary>
/// Turns a Hugging Face or timm checkpoint folder (<c>config.json</c> + <c>model.safetensors</c>) into a
/// <see cref="PreparedModel"/>: reads the config and weights, builds the ONNX graph with <see cref="VitOnnxBuilder"/>,
/// and keeps the graph in the <see cref="PreparedModelCache"/>.
/// </summary>
internal static class CheckpointLoader
{
    /// <summary>File name of a cached graph.</summary>
    internal const string CacheFileName = PreparedModelCache.FileName;

    /// <summary>Metadata key holding the hash of the source files of a cached graph.</summary>
    internal const string SourceKeyMetadata = "vitattention.source_key";

    private static int s_builds;

    /// <summary>How many graphs <see cref="Prepare"/> and <see cref="PrepareCached"/> have built in this process (for cache tests).</summary>
    internal static int BuildCount => Volatile.Read(ref s_builds);

    /// <summary>
    /// Reads the checkpoint in <paramref name="folder"/> (config, weights) and builds its graph with attention outputs,
    /// in memory. Nothing is written to disk; see <see cref="PrepareCached"/>.
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
        return new PreparedModel(config, VitOnnxBuilder.Build(config, weights), VitOnnxBuilder.InputName, folder, InputFilesOf(folder));
    }

    /// <summary>
    /// Like <see cref="Prepare"/>, but keeps the built graph in the prepared-model cache and reuses it while the source
    /// files and the library version are unchanged. A cold build streams the graph to the cache file and lets the
    /// weights go before ONNX Runtime opens it, so the weights are never held twice beside the session; the returned
    /// model names the file (<see cref="PreparedModel.OnnxPath"/>). When no cache folder can be written, the graph
    /// is kept in memory instead.
    /// </summary>
    /// <param name="folder">A Hugging Face or timm checkpoint folder.</param>
    /// <param name="slot">The checkpoint's folder under the cache root (<see cref="PreparedModelCache.HubSlot"/>, <see cref="PreparedModelCache.LocalSlot"/>).</param>
    /// <param name="options">The cache root, the image size (<see cref="ModelLoadOptions.ImageSize"/>: each size its own
    /// cache file, <c>model.attn.{size}.onnx</c>) and warnings; null for the defaults.</param>
    /// <returns>The model, read from the cache or built now.</returns>
    /// <exception cref="ModelFormatException">The folder's config or weights are missing, malformed or disagree.</exception>
    internal static PreparedModel PrepareCached(string folder, string? slot = null, ModelLoadOptions? options = null)
    {
        options ??= ModelLoadOptions.Default;
        slot ??= PreparedModelCache.LocalSlot(folder);
        var config = ConfigAt(folder, options.ImageSize);
        string key = PreparedModelCache.SourceKey(folder, options.ImageSize);
        string cacheFile = CacheFileFor(config, options.ImageSize);
        string root = PreparedModelCache.Root(options);
        var inputs = InputFilesOf(folder);
        foreach (string cacheFolder in PreparedModelCache.Candidates(root, slot))
        {
            if (PreparedModelCache.TryFind(cacheFolder, key, cacheFile) is { } cached)
            {
                return new PreparedModel(config, cached, VitOnnxBuilder.InputName, folder, inputs);
            }
        }

        var metadata = new Dictionary<string, string>
        {
            [SourceKeyMetadata] = key,
            ["vitattention.source"] = Path.GetFullPath(folder),
        };
        foreach (string cacheFolder in PreparedModelCache.Candidates(root, slot))
        {
            if (BuildInto(cacheFolder, cacheFile, folder, config, key, metadata) is { } written)
            {
                ReleaseBuildMemory();
                return new PreparedModel(config, written, VitOnnxBuilder.InputName, folder, inputs);
            }

            options.Log?.Invoke($"could not write the prepared model to the cache folder {cacheFolder}; trying the next one.");
        }

        // No cache folder is writable: keep the graph in memory for this process.
        var model = VitOnnxBuilder.BuildModel(config, VitWeights.Load(folder, config), includeAttentions: true, metadata);
        Interlocked.Increment(ref s_builds);
        return new PreparedModel(config, model.ToByteArray(), VitOnnxBuilder.InputName, folder, inputs);
    }

    /// <summary>The files a checkpoint load reads: the config files that exist and the weights.</summary>
    internal static IReadOnlyList<string> InputFilesOf(string folder) =>
        [.. new[] { VitConfigLoader.ConfigFile, VitConfigLoader.PreprocessorFile, VitWeights.WeightsFile }
            .Select(f => Path.GetFullPath(Path.Combine(folder, f))).Where(File.Exists)];

    /// <summary>
    /// Reads the weights, builds the graph and streams it into the cache folder; returns the file, or null when the
    /// folder is not writable. The weights and the graph are locals of this method, so they are unreachable once it
    /// returns (it is never inlined).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string? BuildInto(string cacheFolder, string cacheFile, string folder, VitConfig config, string key, Dictionary<string, string> metadata)
    {
        if (!CanWrite(cacheFolder))
        {
            return null;
        }

        ModelProto graph = VitOnnxBuilder.BuildModel(config, VitWeights.Load(folder, config), includeAttentions: true, metadata);
        Interlocked.Increment(ref s_builds);
        return PreparedModelCache.TryWrite(cacheFolder, key, stream => graph.WriteTo(stream), cacheFile);
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

    /// <summary>
    /// Returns the memory of a build (weights, then the graph's copies of them: hundreds of megabytes for ViT-B/16) to
    /// the operating system before ONNX Runtime loads the file, so that the process's peak is not the build's plus
    /// the session's. One compacting collection per cold build; warm loads never get here.
    /// </summary>
    private static void ReleaseBuildMemory() =>
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    private static bool CanWrite(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
            string probe = Path.Combine(folder, $".write-probe-{Guid.NewGuid():N}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
