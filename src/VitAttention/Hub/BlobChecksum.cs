using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace VitAttention.Hub;

/// <summary>
/// Checks a downloaded file against the hub's ETag. The hub names small (git) files by their git blob SHA-1,
/// <c>sha1("blob {length}\0" + content)</c> (40 hex digits), and large (LFS) files by the SHA-256 of their content
/// (64 hex digits). Other ETags (a server that is not the hub) cannot be checked and are only used as names.
/// </summary>
internal static class BlobChecksum
{
    /// <summary>Which algorithm an ETag is a digest of: "git-sha1", "sha256", or null when it is neither.</summary>
    public static string? AlgorithmOf(string etag) =>
        !IsHex(etag) ? null
        : etag.Length == 40 ? "git-sha1"
        : etag.Length == 64 ? "sha256"
        : null;

    /// <summary>The digest of <paramref name="path"/> in the algorithm <paramref name="algorithm"/>, lower-case hex.</summary>
    public static string Compute(string path, string algorithm)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        using IncrementalHash hash = algorithm switch
        {
            "git-sha1" => IncrementalHash.CreateHash(HashAlgorithmName.SHA1),
            "sha256" => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
            _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "expected git-sha1 or sha256"),
        };
        if (algorithm == "git-sha1")
        {
            // git hashes a header naming the object type and the content length, then the content.
            hash.AppendData(Encoding.ASCII.GetBytes("blob " + stream.Length.ToString(CultureInfo.InvariantCulture) + "\0"));
        }

        byte[] buffer = new byte[1 << 20];
        int read;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            hash.AppendData(buffer, 0, read);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static bool IsHex(string text)
    {
        foreach (char c in text)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return text.Length > 0;
    }
}
