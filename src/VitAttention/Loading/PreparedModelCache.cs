using System.Security.Cryptography;
using System.Text;
using VitAttention.Models;

namespace VitAttention.Loading;

/// <summary>
/// Where <see cref="CheckpointLoader.PrepareCached"/> keeps built graphs: <c>model.attn.onnx</c> next to the checkpoint,
/// else a per-checkpoint folder under the user's local application data. A sidecar <c>model.attn.onnx.key</c> holds
/// the source key (SHA-256 of the config files' bytes, the weights' size and modification time, the library version and
/// the graph format); the graph is reused only when the key matches.
/// </summary>
internal static class PreparedModelCache
{
    private const string KeySuffix = ".key";

    /// <summary>The key of the checkpoint's current source files.</summary>
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

    /// <summary>Cache folders to try, in order: the checkpoint folder, then the per-user fallback.</summary>
    public static IEnumerable<string> Candidates(string folder)
    {
        yield return folder;
        string root = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify);
        if (string.IsNullOrEmpty(root))
        {
            root = Path.GetTempPath();
        }

        string id = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(folder))))[..16];
        yield return Path.Combine(root, "VitAttention", "prepared", id);
    }

    /// <summary>The cached graph in <paramref name="cacheFolder"/> when its key is <paramref name="key"/>, else null.</summary>
    public static byte[]? TryRead(string cacheFolder, string key, string fileName = CheckpointLoader.CacheFileName)
    {
        string onnx = Path.Combine(cacheFolder, fileName);
        try
        {
            if (!File.Exists(onnx) || !File.Exists(onnx + KeySuffix) || File.ReadAllText(onnx + KeySuffix).Trim() != key)
            {
                return null;
            }

            byte[] bytes = File.ReadAllBytes(onnx);
            return bytes.Length > 0 ? bytes : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Writes the graph and its key atomically: the old key goes first (so a crash never pairs an old key with a new
    /// graph), then the graph and the key each through a temporary file renamed into place. False when the folder is
    /// not writable.
    /// </summary>
    public static bool TryWrite(string cacheFolder, string key, byte[] onnx, string fileName = CheckpointLoader.CacheFileName)
    {
        string path = Path.Combine(cacheFolder, fileName);
        try
        {
            Directory.CreateDirectory(cacheFolder);
            File.Delete(path + KeySuffix);
            AtomicFile.Write(path, onnx);
            AtomicFile.Write(path + KeySuffix, Encoding.UTF8.GetBytes(key + "\n"));
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
