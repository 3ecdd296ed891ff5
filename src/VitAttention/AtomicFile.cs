namespace VitAttention;

/// <summary>
/// Writes a file so that no reader ever sees it half-written: the bytes go to a temporary file in the same folder,
/// are flushed to disk, and the temporary file is renamed over the target. On failure the temporary file is removed
/// and the target is left as it was.
/// </summary>
internal static class AtomicFile
{
    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically, creating its folder if needed.</summary>
    /// <exception cref="IOException">The file cannot be written.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder is not writable.</exception>
    public static void Write(string path, ReadOnlySpan<byte> bytes) => WriteCore(path, bytes, null);

    /// <summary>
    /// Writes what <paramref name="write"/> puts into the stream to <paramref name="path"/> atomically, creating its
    /// folder if needed: large content is streamed to disk, never held whole in memory.
    /// </summary>
    /// <exception cref="IOException">The file cannot be written.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder is not writable.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        WriteCore(path, default, write);
    }

    private static void WriteCore(string path, ReadOnlySpan<byte> bytes, Action<Stream>? write)
    {
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' has no folder.", nameof(path));
        Directory.CreateDirectory(folder);
        string temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                if (write is null)
                {
                    stream.Write(bytes);
                }
                else
                {
                    write(stream);
                }

                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp); // the original error matters more than a leftover temporary file
            throw;
        }
    }

    /// <summary>Copies <paramref name="source"/> to <paramref name="path"/> atomically (streamed).</summary>
    /// <exception cref="IOException">The source cannot be read or the target cannot be written.</exception>
    public static void Copy(string source, string path)
    {
        Write(path, target =>
        {
            using var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            input.CopyTo(target);
        });
    }

    /// <summary>Deletes a file if it can; a leftover temporary name is never read, so failure is ignored.</summary>
    public static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort.
        }
    }
}
