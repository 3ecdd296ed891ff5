using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace VitAttention.Tests.Hub;

/// <summary>
/// A tiny HTTP/1.1 server on 127.0.0.1 that answers like the Hugging Face hub for one repository:
/// <c>/{owner}/{name}/resolve/{main|commit}/{file}</c> answers small files with <c>ETag</c> = git blob SHA-1 and
/// large ("LFS") files with a 302 to <c>/lfs/{sha256}</c> that carries <c>X-Linked-Etag</c> and
/// <c>X-Linked-Size</c>; every answer has <c>X-Repo-Commit</c>. Switches make it misbehave on purpose.
/// One request per connection (<c>Connection: close</c>), which keeps dropping and stalling simple.
/// </summary>
internal sealed class FakeHubServer : IDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, byte[]> _files;
    private readonly HashSet<string> _lfs;
    private readonly Task _acceptLoop;
    private readonly Dictionary<string, string> _etags;

    public FakeHubServer(string owner, string name, IReadOnlyDictionary<string, byte[]> files, IEnumerable<string> lfsFiles)
    {
        Owner = owner;
        Name = name;
        _files = new Dictionary<string, byte[]>(files, StringComparer.Ordinal);
        _lfs = new HashSet<string>(lfsFiles, StringComparer.Ordinal);
        _etags = _files.ToDictionary(f => f.Key, f => _lfs.Contains(f.Key) ? Sha256(f.Value) : GitBlobSha1(f.Value), StringComparer.Ordinal);
        Commit = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes($"{owner}/{name} commit {Guid.NewGuid()}")));
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public string Owner { get; }

    public string Name { get; }

    /// <summary>The commit every revision resolves to; fresh for each server.</summary>
    public string Commit { get; }

    public int Port { get; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    /// <summary>Answer every resolve request with this status (404, 401, 500...).</summary>
    public int? ForceStatus { get; set; }

    /// <summary>Send this many body bytes of a download, then close the connection.</summary>
    public long? DropAfterBytes { get; set; }

    /// <summary>Send this many body bytes of a download, then send nothing more until the client gives up.</summary>
    public long? StallAfterBytes { get; set; }

    /// <summary>Flip the byte at <see cref="CorruptIndex"/> of each downloaded body.</summary>
    public bool CorruptBody { get; set; }

    /// <summary>Serve downloads this many bytes shorter (negative) or longer (positive), with a matching Content-Length.</summary>
    public int BodyLengthDelta { get; set; }

    /// <summary>Answer Range requests with 206 (true) or ignore them and send the whole file with 200 (false).</summary>
    public bool HonourRange { get; set; } = true;

    /// <summary>Close every connection without answering.</summary>
    public bool DropBeforeAnswer { get; set; }

    /// <summary>While set, every request waits for this gate before it is answered (a slow download).</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>The host name large-file redirects point at; "localhost" makes it another origin than 127.0.0.1.</summary>
    public string StorageHost { get; set; } = "127.0.0.1";

    /// <summary>Send ETags in the weak form <c>W/"..."</c>.</summary>
    public bool WeakEtags { get; set; }

    /// <summary>The index <see cref="CorruptBody"/> flips, as an index into the whole file.</summary>
    public static int CorruptIndexOf(int length) => length / 2;

    /// <summary>git's blob id of a file: sha1("blob {length}\0" + content); what the hub sends as a small file's ETag.</summary>
    public static string GitBlobSha1(byte[] content)
    {
        byte[] header = Encoding.ASCII.GetBytes($"blob {content.Length}\0");
        return Convert.ToHexStringLower(SHA1.HashData([.. header, .. content]));
    }

    public static string Sha256(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>The blob name the hub gives a file: SHA-256 for LFS files, git SHA-1 for the rest.</summary>
    public string EtagOf(string file) => _etags[file];

    public int CountRequests(string method, string pathContains) =>
        Requests.Count(r => r.Method == method && r.Path.Contains(pathContains, StringComparison.Ordinal));

    /// <summary>Stops accepting connections; the port then refuses them.</summary>
    public void Stop()
    {
        if (!_stop.IsCancellationRequested)
        {
            _stop.Cancel();
            _listener.Stop();
        }
    }

    public void Dispose()
    {
        Stop();
        try
        {
            _acceptLoop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => HandleAsync(client));
        }
    }

    private async Task HandleAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                NetworkStream stream = client.GetStream();
                var (method, path, headers) = await ReadRequestAsync(stream);
                headers.TryGetValue("range", out string? range);
                headers.TryGetValue("authorization", out string? authorization);
                Requests.Enqueue(new RecordedRequest(method, path, range, authorization));
                if (DropBeforeAnswer)
                {
                    return;
                }

                if (Gate is { } gate)
                {
                    await gate.Task.WaitAsync(_stop.Token);
                }

                await RespondAsync(stream, method, path, range);
                client.Client.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The client went away (as it does when a test makes it time out): nothing to answer.
            }
        }
    }

    private static async Task<(string Method, string Path, Dictionary<string, string> Headers)> ReadRequestAsync(NetworkStream stream)
    {
        var bytes = new List<byte>();
        var buffer = new byte[1];
        while (bytes.Count < 16384)
        {
            if (await stream.ReadAsync(buffer) == 0)
            {
                throw new IOException("client closed before sending a request");
            }

            bytes.Add(buffer[0]);
            int n = bytes.Count;
            if (n >= 4 && bytes[n - 4] == '\r' && bytes[n - 3] == '\n' && bytes[n - 2] == '\r' && bytes[n - 1] == '\n')
            {
                break;
            }
        }

        string[] lines = Encoding.ASCII.GetString([.. bytes]).Split("\r\n");
        string[] requestLine = lines[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }

        return (requestLine[0], Uri.UnescapeDataString(requestLine[1]), headers);
    }

    private async Task RespondAsync(NetworkStream stream, string method, string path, string? range)
    {
        bool head = method == "HEAD";
        string resolvePrefix = $"/{Owner}/{Name}/resolve/";
        if (path.StartsWith(resolvePrefix, StringComparison.Ordinal))
        {
            if (ForceStatus is int forced)
            {
                await WriteHeadAsync(stream, forced, [("X-Error-Message", $"forced status {forced}")], 0);
                return;
            }

            string rest = path[resolvePrefix.Length..];
            int slash = rest.IndexOf('/', StringComparison.Ordinal);
            string revision = slash < 0 ? rest : rest[..slash];
            string file = slash < 0 ? "" : rest[(slash + 1)..];
            if (revision != "main" && revision != Commit)
            {
                await WriteHeadAsync(stream, 404, [("X-Error-Code", "RevisionNotFound"), ("X-Error-Message", $"Invalid rev id: {revision}")], 0);
                return;
            }

            if (!_files.TryGetValue(file, out byte[]? content))
            {
                await WriteHeadAsync(stream, 404, [("X-Error-Code", "EntryNotFound"), ("X-Repo-Commit", Commit), ("X-Error-Message", "Entry not found")], 0);
                return;
            }

            if (_lfs.Contains(file))
            {
                string sha = _etags[file];
                await WriteHeadAsync(stream, 302,
                    [
                        ("Location", $"http://{StorageHost}:{Port}/lfs/{sha}"),
                        ("X-Repo-Commit", Commit),
                        ("ETag", Quote(sha)),
                        ("X-Linked-Etag", Quote(sha)),
                        ("X-Linked-Size", content.Length.ToString(CultureInfo.InvariantCulture)),
                    ], 0);
                return;
            }

            await WriteBodyAsync(stream, head, content, range, [("X-Repo-Commit", Commit), ("ETag", Quote(_etags[file]))]);
            return;
        }

        if (path.StartsWith("/lfs/", StringComparison.Ordinal))
        {
            string sha = path["/lfs/".Length..];
            byte[]? content = _files.Where(f => _lfs.Contains(f.Key) && _etags[f.Key] == sha).Select(f => f.Value).FirstOrDefault();
            if (content is null)
            {
                await WriteHeadAsync(stream, 404, [], 0);
                return;
            }

            // Storage hosts send their own ETag, which is not the file's hash: the client must use X-Linked-Etag.
            await WriteBodyAsync(stream, head, content, range, [("ETag", "\"storage-" + sha[..8] + "\"")]);
            return;
        }

        await WriteHeadAsync(stream, 404, [], 0);
    }

    private async Task WriteBodyAsync(NetworkStream stream, bool head, byte[] content, string? range, (string, string)[] headers)
    {
        if (head)
        {
            await WriteHeadAsync(stream, 200, headers, content.Length);
            return;
        }

        byte[] body = content;
        if (CorruptBody)
        {
            body = (byte[])content.Clone();
            body[CorruptIndexOf(body.Length)] ^= 0xFF;
        }

        if (BodyLengthDelta < 0)
        {
            body = body[..(body.Length + BodyLengthDelta)];
        }
        else if (BodyLengthDelta > 0)
        {
            body = [.. body, .. new byte[BodyLengthDelta]];
        }

        int status = 200;
        var extra = new List<(string, string)>(headers) { ("Accept-Ranges", "bytes") };
        if (range is not null && HonourRange && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            long from = long.Parse(range["bytes=".Length..^1], CultureInfo.InvariantCulture);
            if (from >= body.Length)
            {
                await WriteHeadAsync(stream, 416, [("Content-Range", $"bytes */{body.Length}")], 0);
                return;
            }

            extra.Add(("Content-Range", $"bytes {from}-{body.Length - 1}/{body.Length}"));
            body = body[(int)from..];
            status = 206;
        }

        await WriteHeadAsync(stream, status, [.. extra], body.Length);
        long limit = DropAfterBytes ?? StallAfterBytes ?? body.Length;
        int send = (int)Math.Min(limit, body.Length);
        await stream.WriteAsync(body.AsMemory(0, send));
        await stream.FlushAsync();
        if (send < body.Length && StallAfterBytes is not null)
        {
            // Keep the connection open and silent until the client gives up or the server stops.
            var buffer = new byte[1];
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            linked.CancelAfter(TimeSpan.FromSeconds(20));
            _ = await stream.ReadAsync(buffer, linked.Token);
        }
    }

    private static async Task WriteHeadAsync(NetworkStream stream, int status, (string Name, string Value)[] headers, long contentLength)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {Reason(status)}\r\n");
        foreach (var (name, value) in headers)
        {
            text.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"Content-Length: {contentLength}\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(text.ToString()));
    }

    private string Quote(string etag) => (WeakEtags ? "W/" : "") + "\"" + etag + "\"";

    private static string Reason(int status) => status switch
    {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        _ => "Status",
    };
}
