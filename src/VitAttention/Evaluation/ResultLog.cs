using System.Text;
using System.Text.Json;

namespace VitAttention.Evaluation;

/// <summary>
/// A JSON Lines file of per-image results that survives being killed at any moment. Each record is appended with one
/// write of the whole line and its newline, then flushed to disk; a line is complete exactly when its newline is
/// there. Opening with resume reads the complete lines (the keys already done), and cuts off a torn last line, so the
/// next append starts clean. One writer per file: shards write files of their own (the file share allows readers).
/// </summary>
internal sealed class ResultLog : IDisposable
{
    private readonly FileStream _stream;
    private readonly HashSet<string> _completed;

    private ResultLog(string path, FileStream stream, HashSet<string> completed, long droppedBytes)
    {
        Path = path;
        _stream = stream;
        _completed = completed;
        DroppedBytes = droppedBytes;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>Keys of the records already in the file (resume) plus those appended since.</summary>
    public IReadOnlySet<string> Completed => _completed;

    /// <summary>Bytes of a torn last line cut off when the file was opened (0 when it ended cleanly).</summary>
    public long DroppedBytes { get; }

    /// <summary>Opens (creating it and its folder if needed) a results file.</summary>
    /// <param name="path">The JSON Lines file.</param>
    /// <param name="resume">True: keep the complete records and continue after them; false: the file must be new or empty.</param>
    /// <param name="keyProperty">The property of each record that holds its key.</param>
    /// <exception cref="IOException">The file already holds records and <paramref name="resume"/> is false, or it cannot be opened.</exception>
    /// <exception cref="FormatException">A complete line of the file is not a JSON object with a string key.</exception>
    public static ResultLog Open(string path, bool resume, string keyProperty = ResultJson.KeyProperty)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string? folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (folder is not null)
        {
            Directory.CreateDirectory(folder);
        }

        var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
        try
        {
            if (stream.Length > 0 && !resume)
            {
                throw new IOException($"'{path}' already holds results; pass --resume to continue that run, or choose another output folder.");
            }

            var completed = new HashSet<string>(StringComparer.Ordinal);
            long keep = 0;
            if (stream.Length > 0)
            {
                var bytes = new byte[stream.Length];
                stream.ReadExactly(bytes);
                keep = bytes.AsSpan().LastIndexOf((byte)'\n') + 1;
                int n = 0;
                foreach (string line in SplitLines(bytes.AsSpan(0, (int)keep)))
                {
                    n++;
                    completed.Add(KeyOf(line, keyProperty, $"{path} line {n}"));
                }
            }

            long dropped = stream.Length - keep;
            stream.SetLength(keep);
            stream.Seek(0, SeekOrigin.End);
            return new ResultLog(path, stream, completed, dropped);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>The complete, non-blank lines of a results file; a torn last line (no newline) is skipped.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static IEnumerable<string> ReadLines(string path)
    {
        byte[] bytes;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
        }

        int end = bytes.AsSpan().LastIndexOf((byte)'\n') + 1;
        return SplitLines(bytes.AsSpan(0, end));
    }

    /// <summary>Appends one record: the line and its newline in one write, flushed to disk before returning.</summary>
    /// <param name="key">The record's key, added to <see cref="Completed"/>.</param>
    /// <param name="jsonLine">UTF-8 JSON without a newline.</param>
    /// <exception cref="ArgumentException">The line contains a newline.</exception>
    public void Append(string key, ReadOnlySpan<byte> jsonLine)
    {
        if (jsonLine.Contains((byte)'\n'))
        {
            throw new ArgumentException("a JSON Lines record cannot contain a newline.", nameof(jsonLine));
        }

        var bytes = new byte[jsonLine.Length + 1];
        jsonLine.CopyTo(bytes);
        bytes[^1] = (byte)'\n';
        _stream.Write(bytes);
        _stream.Flush(flushToDisk: true);
        _completed.Add(key);
    }

    /// <inheritdoc />
    public void Dispose() => _stream.Dispose();

    private static List<string> SplitLines(ReadOnlySpan<byte> bytes)
    {
        var lines = new List<string>();
        foreach (string line in Encoding.UTF8.GetString(bytes).Split('\n'))
        {
            if (!string.IsNullOrWhiteSpace(line))
            {
                lines.Add(line);
            }
        }

        return lines;
    }

    private static string KeyOf(string line, string keyProperty, string where)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(keyProperty, out var key) &&
                key.ValueKind == JsonValueKind.String)
            {
                return key.GetString()!;
            }
        }
        catch (JsonException)
        {
            // reported below
        }

        throw new FormatException($"{where} is not a JSON object with a string \"{keyProperty}\"; the file is not a results file of this tool, or it was edited.");
    }
}
