using System.Security.Cryptography;
using System.Text;
using VitAttention.Hub;
using VitAttention.Models;

namespace VitAttention.Loading;

/// <summary>
/// The library's own cache of graphs built from checkpoints: <c>model.attn.onnx</c> with a sidecar
/// <c>model.attn.onnx.key</c>, in one folder per checkpoint under the cache root:
/// <list type="bullet">
/// <item>a hub snapshot: <c>{root}/models--{owner}--{name}/{commit}/</c> (keyed by the snapshot's commit);</item>
/// <item>a local folder: <c>{root}/local/{first 16 hex digits of SHA-256 of its full path}/</c>.</item>
/// </list>
/// The root is <see cref="ModelLoadOptions.CacheDirectory"/>, else <c>VITATTENTION_CACHE</c>, else
/// <c>{HF_HOME}/vit-attention</c> (<c>~/.cache/huggingface/vit-attention</c> by default); when it cannot be written,
/// a folder under the temporary directory. Nothing is ever written into a checkpoint folder or into
/// huggingface_hub's <c>snapshots/</c>. The key (SHA-256 of the config files' bytes, the weights' size and modification
/// time, the library version and the graph format) must match for a graph to be reused.
/// </summary>
internal static class PreparedModelCache
{
    /// <summary>Environment variable naming the cache root.</summary>
    public const string EnvironmentVariable = "VITATTENTION_CACHE";

    /// <summary>File name of a cached graph.</summary>
    public const string FileName = "model.attn.onnx";

    private const string KeySuffix = ".key";

    /// <summary>The slot of a hub snapshot: <c>models--{owner}--{name}/{commit}</c>.</summary>
    public static string HubSlot(ModelId id, string snapshotFolder) =>
        Path.Combine($"models--{id.Owner}--{id.Name}", Path.GetFileName(Path.TrimEndingDirectorySeparator(snapshotFolder)));

    /// <summary>The slot of a local checkpoint folder: <c>local/{hash of its full path}</c>.</summary>
    public static string LocalSlot(string folder) =>
        Path.Combine("local", Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(folder))))[..16]);

    /// <summary>The cache root: the option, else <c>VITATTENTION_CACHE</c>, else <c>{HF_HOME}/vit-attention</c>.</summary>
    public static string Root(ModelLoadOptions options) =>
        Root(options.CacheDirectory, Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    /// <summary><see cref="Root(ModelLoadOptions)"/> over any variable lookup and home folder (for tests).</summary>
    internal static string Root(string? configured, Func<string, string?> getVariable, string home)
    {
        static string? Clean(string? v) => string.IsNullOrWhiteSpace(v) ? null : v.Trim();
        if (Clean(configured) is { } chosen)
        {
            return Path.GetFullPath(chosen);
        }

        if (Clean(getVariable(EnvironmentVariable)) is { } variable)
        {
            return Path.GetFullPath(variable);
        }

        string hfHome = Clean(getVariable("HF_HOME"))
            ?? Path.Combine(Clean(getVariable("XDG_CACHE_HOME")) ?? Path.Combine(home, ".cache"), "huggingface");
        if (hfHome == "~" || hfHome.StartsWith("~/", StringComparison.Ordinal))
        {
            hfHome = Path.Combine(home, hfHome.Length == 1 ? "" : hfHome[2..]);
        }

        return Path.GetFullPath(Path.Combine(hfHome, "vit-attention"));
    }

    /// <summary>Folders to try for a slot, in order: under the root, then under the temporary directory.</summary>
    public static IEnumerable<string> Candidates(string root, string slot)
    {
        yield return Path.Combine(root, slot);
        yield return Path.Combine(Path.GetTempPath(), "vit-attention-" + Environment.UserName, slot);
    }

    /// <summary>The key of the checkpoint's current source files (and the image size it is built for, when not its own).</summary>
    public static string SourceKey(string folder, int? imageSize = null)
    {
        var text = new StringBuilder();
        text.Append("vitattention ").Append(VitOnnxBuilder.LibraryVersion).Append(" graph ").Append(VitOnnxBuilder.GraphFormatVersion).Append('\n');
        if (imageSize is { } size)
        {
            text.Append("image size ").Append(size.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
        }

        foreach (string name in new[] { VitConfigLoader.ConfigFile, VitConfigLoader.PreprocessorFile })
        {
            string path = Path.Combine(folder, name);
            text.Append(name).Append(' ').Append(File.Exists(path) ? Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))) : "absent").Append('\n');
        }

        var weights = new FileInfo(Path.Combine(folder, VitWeights.WeightsFile));
        text.Append(VitWeights.WeightsFile).Append(' ')
            .Append(weights.Exists ? $"{weights.Length} {weights.LastWriteTimeUtc.Ticks}" : "absent").Append('\n');
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>The cached graph's path in <paramref name="cacheFolder"/> when its key is <paramref name="key"/>, else null.</summary>
    public static string? TryFind(string cacheFolder, string key, string fileName = FileName)
    {
        string onnx = Path.Combine(cacheFolder, fileName);
        try
        {
            return File.Exists(onnx) && new FileInfo(onnx).Length > 0 && File.Exists(onnx + KeySuffix)
                && File.ReadAllText(onnx + KeySuffix).Trim() == key
                ? onnx
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Writes a graph and its key: the old key goes first (so a crash never pairs an old key with a new graph), then
    /// the graph is streamed by <paramref name="write"/> into a temporary file that is flushed and renamed into place,
    /// then the key. Returns the graph's path, or null when the folder is not writable.
    /// </summary>
    public static string? TryWrite(string cacheFolder, string key, Action<Stream> write, string fileName = FileName)
    {
        string path = Path.Combine(cacheFolder, fileName);
        try
        {
            Directory.CreateDirectory(cacheFolder);
            File.Delete(path + KeySuffix);
            AtomicFile.Write(path, write);
            AtomicFile.Write(path + KeySuffix, Encoding.UTF8.GetBytes(key + "\n"));
            return path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
