using System.Globalization;

namespace VitAttention.Inference;

/// <summary>
/// Reads encoded images asynchronously (files through an asynchronous <see cref="FileStream"/>, streams with
/// <see cref="Stream.ReadAsync(Memory{byte}, CancellationToken)"/>), within <see cref="ImageLimits.MaxEncodedBytes"/>,
/// so that <c>ExplainAsync</c> never blocks a thread on disk or network reads. Decoding happens afterwards.
/// </summary>
internal static class EncodedImageReader
{
    private const int ChunkBytes = 1 << 16;

    /// <summary>Reads a whole image file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidImageException">The file is larger than the limit, or cannot be read.</exception>
    public static async Task<byte[]> ReadFileAsync(string path, ImageLimits limits, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var file = new FileInfo(path);
        if (!file.Exists)
        {
            throw new FileNotFoundException($"Image file '{path}' does not exist.", path);
        }

        if (file.Length > limits.MaxEncodedBytes)
        {
            throw TooManyBytes(path, file.Length.ToString(CultureInfo.InvariantCulture), limits);
        }

        try
        {
            var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await using (stream.ConfigureAwait(false))
            {
                return await ReadAllAsync(stream, path, limits, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw new InvalidImageException($"Image file '{path}' could not be read: {e.Message}", e);
        }
    }

    /// <summary>Reads a stream to its end (it is not closed).</summary>
    /// <exception cref="ArgumentException">The stream cannot be read.</exception>
    /// <exception cref="InvalidImageException">The stream holds more than the limit.</exception>
    public static async Task<byte[]> ReadStreamAsync(Stream stream, string name, ImageLimits limits, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead)
        {
            throw new ArgumentException($"The stream for '{name}' cannot be read (it is closed or write-only).", nameof(stream));
        }

        return await ReadAllAsync(stream, name, limits, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream, string name, ImageLimits limits, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[ChunkBytes];
        int n;
        while ((n = await stream.ReadAsync(chunk.AsMemory(), cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > limits.MaxEncodedBytes)
            {
                throw TooManyBytes(name, "more than " + limits.MaxEncodedBytes.ToString(CultureInfo.InvariantCulture), limits);
            }

            buffer.Write(chunk, 0, n);
        }

        return buffer.ToArray();
    }

    private static InvalidImageException TooManyBytes(string name, string size, ImageLimits limits) =>
        new($"Image '{name}' is {size} bytes, more than ImageLimits.MaxEncodedBytes " +
            $"({limits.MaxEncodedBytes.ToString(CultureInfo.InvariantCulture)} bytes). Re-encode it smaller, or raise the limit.");
}
