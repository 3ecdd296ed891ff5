using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;

namespace VitAttention.Hub;

/// <summary>
/// Downloads model files from a Hugging Face compatible hub into the huggingface_hub cache layout, so that files
/// Python tools downloaded are reused and the other way round.
/// </summary>
/// <remarks>
/// <para>
/// A file is fetched from <c>{endpoint}/{owner}/{name}/resolve/{revision}/{file}</c>: a <c>HEAD</c> request gives
/// the commit the revision points at (<c>X-Repo-Commit</c>), the file's ETag (<c>X-Linked-Etag</c> for large files,
/// which the hub serves through a redirect, else <c>ETag</c>) and its size (<c>X-Linked-Size</c>, else
/// <c>Content-Length</c>); a <c>GET</c> then fetches the bytes into <c>blobs/{etag}.incomplete</c>, resuming a
/// download an earlier run left with an HTTP <c>Range</c> request. The finished file's size and checksum (git blob
/// SHA-1 for small files, SHA-256 for large ones) are checked before it is renamed to <c>blobs/{etag}</c>, so a
/// broken download is never used; <c>snapshots/{commit}/{file}</c> is then a relative symlink to the blob.
/// </para>
/// <para>
/// Offline (<see cref="HubOptions.Offline"/>) nothing is requested and files resolve from <c>refs/</c> and
/// <c>snapshots/</c>. Online, a revision that is a commit hash already in the cache needs no request either, and
/// when the hub cannot be reached at all a file the cache holds for the revision is used.
/// </para>
/// <para>
/// Thread-safe: one instance may serve concurrent calls. Concurrent downloads of one file, from threads or
/// processes, are serialised by a lock file under <c>{cache}/.locks/</c>.
/// </para>
/// </remarks>
internal sealed class HubClient : IDisposable
{
    private const int MaxRedirects = 10;
    private const int BufferBytes = 1 << 16;
    private static readonly TimeSpan LockPollInterval = TimeSpan.FromMilliseconds(50);

    private readonly HttpClient _http;
    private readonly Uri _endpoint;

    /// <summary>Creates a client with its own HTTP connection pool.</summary>
    /// <param name="options">Endpoint, token, cache and limits; <see cref="HubOptions.FromEnvironment()"/> when null.</param>
    /// <exception cref="ArgumentException">The options are unusable (endpoint not an absolute http(s) address, empty cache folder, non-positive limits).</exception>
    public HubClient(HubOptions? options = null)
        : this(options, handler: null)
    {
    }

    /// <summary>Creates a client that sends its requests through <paramref name="handler"/>.</summary>
    /// <param name="options">Endpoint, token, cache and limits; <see cref="HubOptions.FromEnvironment()"/> when null.</param>
    /// <param name="handler">
    /// The message handler to send requests with (the caller keeps ownership), or null for a private
    /// <see cref="SocketsHttpHandler"/>. It should not follow redirects itself: the client follows them, reads the
    /// large-file headers from the redirect and does not forward the token to other hosts.
    /// </param>
    /// <exception cref="ArgumentException">The options are unusable (endpoint not an absolute http(s) address, empty cache folder, non-positive limits).</exception>
    public HubClient(HubOptions? options, HttpMessageHandler? handler)
    {
        Options = options ?? HubOptions.FromEnvironment();
        if (!Uri.TryCreate(Options.Endpoint?.TrimEnd('/') + "/", UriKind.Absolute, out Uri? endpoint)
            || endpoint.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException(
                $"The hub endpoint '{Options.Endpoint}' is not an absolute http(s) address; set HF_ENDPOINT (or HubOptions.Endpoint) to one such as {HubOptions.DefaultEndpoint}.",
                nameof(options));
        }

        if (string.IsNullOrWhiteSpace(Options.CacheDirectory))
        {
            throw new ArgumentException("HubOptions.CacheDirectory is empty; set HF_HUB_CACHE or HF_HOME, or give a folder.", nameof(options));
        }

        if (Options.HttpTimeout <= TimeSpan.Zero || Options.MaxFileBytes <= 0)
        {
            throw new ArgumentException(
                $"HubOptions.HttpTimeout ({Options.HttpTimeout}) and HubOptions.MaxFileBytes ({Options.MaxFileBytes}) must be positive.", nameof(options));
        }

        _endpoint = endpoint;
        HttpMessageHandler effective = handler ?? new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = Options.HttpTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        };
        _http = new HttpClient(effective, disposeHandler: handler is null) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>The options this client was created with.</summary>
    public HubOptions Options { get; }

    /// <summary>
    /// Makes one file of a repository available in the cache, downloading it when needed, and returns its path.
    /// </summary>
    /// <param name="id">The repository and revision.</param>
    /// <param name="filename">The file inside the repository, '/'-separated, for example <c>config.json</c>.</param>
    /// <param name="progress">Receives download progress (nothing when the file is already cached); may be null.</param>
    /// <param name="cancellationToken">Cancels the request or download; a partial download is kept for the next call.</param>
    /// <returns>The file's path under <c>snapshots/{commit}/</c> (a symlink to its blob).</returns>
    /// <exception cref="ArgumentException"><paramref name="filename"/> is not a relative '/'-separated name.</exception>
    /// <exception cref="ModelHubException">
    /// The file does not exist (404), access was denied (401/403: set <c>HF_TOKEN</c>), the hub could not be reached
    /// and the cache does not hold the file, the download broke off or timed out (run again to resume), the bytes had
    /// the wrong size or checksum (nothing is cached), or offline mode is on and the cache does not hold the file.
    /// </exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<string> DownloadFileAsync(
        ModelId id, string filename, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ValidateFilename(filename, nameof(filename));
        var result = await ResolveFileCore(true, id, filename, optional: false, progress, cancellationToken).ConfigureAwait(false);
        return result.Path!;
    }

    /// <summary>
    /// Makes a set of files of one repository available in the cache, all at the same commit, and returns the
    /// snapshot folder that holds them. For a ViT: required <c>config.json</c> and <c>model.safetensors</c>, optional
    /// <c>preprocessor_config.json</c>.
    /// </summary>
    /// <param name="id">The repository and revision. A branch or tag is resolved once, by the first required file, and the
    /// other files are fetched at that commit.</param>
    /// <param name="requiredFiles">Files that must exist; at least one.</param>
    /// <param name="optionalFiles">Files that are used when they exist: a 404 for one of them is not an error.</param>
    /// <param name="progress">Receives download progress for each file; may be null.</param>
    /// <param name="cancellationToken">Cancels the requests or downloads; partial downloads are kept for the next call.</param>
    /// <returns>The folder <c>snapshots/{commit}</c> holding the files.</returns>
    /// <exception cref="ArgumentException">No required file, or a file name is not a relative '/'-separated name.</exception>
    /// <exception cref="ModelHubException">As <see cref="DownloadFileAsync"/>, for any required file or an optional file that exists but fails.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<string> ResolveSnapshotAsync(
        ModelId id,
        IReadOnlyList<string> requiredFiles,
        IReadOnlyList<string>? optionalFiles = null,
        IProgress<DownloadProgress>? progress = null,
        CancellationToken cancellationToken = default) =>
        ResolveSnapshotCore(true, id, requiredFiles, optionalFiles, progress, cancellationToken).AsTask();

    /// <summary>
    /// <see cref="ResolveSnapshotAsync"/> on the calling thread, with synchronous requests and file writes (no
    /// asynchronous operation is started and waited for).
    /// </summary>
    /// <param name="id">The repository and revision.</param>
    /// <param name="requiredFiles">Files that must exist; at least one.</param>
    /// <param name="optionalFiles">Files that are used when they exist.</param>
    /// <param name="progress">Receives download progress for each file; may be null.</param>
    /// <param name="cancellationToken">Cancels the requests or downloads; partial downloads are kept for the next call.</param>
    /// <returns>The folder <c>snapshots/{commit}</c> holding the files.</returns>
    /// <exception cref="ModelHubException">As <see cref="DownloadFileAsync"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public string ResolveSnapshot(
        ModelId id,
        IReadOnlyList<string> requiredFiles,
        IReadOnlyList<string>? optionalFiles = null,
        IProgress<DownloadProgress>? progress = null,
        CancellationToken cancellationToken = default) =>
        Completed(ResolveSnapshotCore(false, id, requiredFiles, optionalFiles, progress, cancellationToken));

    /// <summary>
    /// The one implementation of both: with <paramref name="useAsync"/> false every operation is synchronous, so the
    /// returned task has completed by the time the method returns.
    /// </summary>
    private async ValueTask<string> ResolveSnapshotCore(
        bool useAsync,
        ModelId id,
        IReadOnlyList<string> requiredFiles,
        IReadOnlyList<string>? optionalFiles,
        IProgress<DownloadProgress>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requiredFiles);
        optionalFiles ??= [];
        if (requiredFiles.Count == 0)
        {
            throw new ArgumentException("Give at least one required file (for a ViT: config.json and model.safetensors).", nameof(requiredFiles));
        }

        foreach (string file in requiredFiles)
        {
            ValidateFilename(file, nameof(requiredFiles));
        }

        foreach (string file in optionalFiles)
        {
            ValidateFilename(file, nameof(optionalFiles));
        }

        var first = await ResolveFileCore(useAsync, id, requiredFiles[0], optional: false, progress, cancellationToken).ConfigureAwait(false);
        ModelId pinned = id.WithRevision(first.Commit);
        for (int i = 1; i < requiredFiles.Count; i++)
        {
            await ResolveFileCore(useAsync, pinned, requiredFiles[i], optional: false, progress, cancellationToken).ConfigureAwait(false);
        }

        foreach (string file in optionalFiles)
        {
            await ResolveFileCore(useAsync, pinned, file, optional: true, progress, cancellationToken).ConfigureAwait(false);
        }

        return new HubCacheLayout(Options.CacheDirectory, id).SnapshotDirectory(first.Commit);
    }

    /// <summary>The files a ViT image classifier cannot do without: <c>config.json</c> and <c>model.safetensors</c>.</summary>
    public static IReadOnlyList<string> VitRequiredFiles { get; } = ["config.json", "model.safetensors"];

    /// <summary>The files a ViT uses when present: <c>preprocessor_config.json</c> (resize and normalisation).</summary>
    public static IReadOnlyList<string> VitOptionalFiles { get; } = ["preprocessor_config.json"];

    /// <summary>
    /// <see cref="ResolveSnapshotAsync"/> with <see cref="VitRequiredFiles"/> and <see cref="VitOptionalFiles"/>:
    /// the snapshot folder of a ViT classifier, for example <c>google/vit-base-patch16-224</c>.
    /// </summary>
    /// <param name="id">The repository and revision.</param>
    /// <param name="progress">Receives download progress for each file; may be null.</param>
    /// <param name="cancellationToken">Cancels the requests or downloads; partial downloads are kept for the next call.</param>
    /// <returns>The folder <c>snapshots/{commit}</c> holding the files.</returns>
    /// <exception cref="ModelHubException">As <see cref="DownloadFileAsync"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<string> ResolveVitSnapshotAsync(ModelId id, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ResolveSnapshotAsync(id, VitRequiredFiles, VitOptionalFiles, progress, cancellationToken);

    /// <summary><see cref="ResolveVitSnapshotAsync"/> on the calling thread, with synchronous requests.</summary>
    /// <param name="id">The repository and revision.</param>
    /// <param name="progress">Receives download progress for each file; may be null.</param>
    /// <param name="cancellationToken">Cancels the requests or downloads; partial downloads are kept for the next call.</param>
    /// <returns>The folder <c>snapshots/{commit}</c> holding the files.</returns>
    /// <exception cref="ModelHubException">As <see cref="DownloadFileAsync"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public string ResolveVitSnapshot(ModelId id, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default) =>
        ResolveSnapshot(id, VitRequiredFiles, VitOptionalFiles, progress, cancellationToken);

    /// <summary>Releases the HTTP connections (and the handler when the client created it).</summary>
    public void Dispose() => _http.Dispose();

    /// <summary>The result of a synchronous run of a dual-mode method, which has completed by construction.</summary>
    private static T Completed<T>(ValueTask<T> task) =>
        task.IsCompleted
            ? task.Result // completed: returns the value or throws the original exception, without blocking
            : throw new InvalidOperationException("internal error: the synchronous download path started asynchronous work.");

    /// <summary>The file's snapshot path (null: an optional file the hub does not have) and the commit it belongs to.</summary>
    private readonly record struct FileResult(string? Path, string Commit);

    /// <summary>What the HEAD request told about a file.</summary>
    private sealed record FileMetadata(string Commit, string Etag, long? Size, Uri DownloadUrl);

    private async ValueTask<FileResult> ResolveFileCore(
        bool useAsync, ModelId id, string filename, bool optional, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var layout = new HubCacheLayout(Options.CacheDirectory, id);
        if (Options.Offline)
        {
            return ResolveOffline(layout, id, filename, optional);
        }

        if (id.IsCommitRevision && layout.TryGetSnapshotFile(id.Revision, filename) is { } pinnedPath)
        {
            return new FileResult(pinnedPath, id.Revision);
        }

        Uri url = ResolveUrl(id, filename);
        FileMetadata? meta;
        try
        {
            meta = await GetMetadataCore(useAsync, url, id, filename, optional, ct).ConfigureAwait(false);
        }
        catch (HubUnreachableException ex)
        {
            // As huggingface_hub does: when the hub cannot be reached at all, use what the cache has for the revision.
            string? cachedCommit = id.IsCommitRevision ? id.Revision : layout.ReadRef(id.Revision);
            if (cachedCommit is not null && layout.TryGetSnapshotFile(cachedCommit, filename) is { } cachedPath)
            {
                return new FileResult(cachedPath, cachedCommit);
            }

            throw new ModelHubException(
                $"could not reach {Options.Endpoint} to resolve {Describe(id, filename)}: {ex.Message} " +
                $"The cache at {layout.RepoDirectory} does not hold the file. Check the network and HF_ENDPOINT and retry, " +
                "or set HF_HUB_OFFLINE=1 to use only files already in the cache.",
                ex.InnerException);
        }

        if (meta is null)
        {
            // 404 for an optional file. The hub's answer carries no usable commit when the revision is a branch; the
            // caller passes a pinned commit for optional files, so the marker goes where huggingface_hub puts it.
            if (id.IsCommitRevision)
            {
                layout.MarkMissing(id.Revision, filename);
            }

            return new FileResult(null, id.Revision);
        }

        if (meta.Size > Options.MaxFileBytes)
        {
            throw new ModelHubException(
                $"{Describe(id, filename)} is {meta.Size} bytes, more than the limit of {Options.MaxFileBytes} bytes " +
                "(HubOptions.MaxFileBytes); raise the limit if the file is expected to be that large.");
        }

        try
        {
            return await StoreCore(useAsync, id, filename, meta, layout, progress, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException || (ex is IOException && ex is not HttpIOException))
        {
            // Network failures were turned into ModelHubException where they happen; what is left is the local disk.
            throw new ModelHubException(
                $"could not store {Describe(id, filename)} in the cache at {layout.RepoDirectory}: {ex.Message} " +
                "Check that the folder is writable and the disk has room, or set HF_HUB_CACHE to another folder.", ex);
        }
    }

    /// <summary>Records the ref, downloads the blob unless the cache has it (under the blob's lock), links the snapshot.</summary>
    private async ValueTask<FileResult> StoreCore(
        bool useAsync, ModelId id, string filename, FileMetadata meta, HubCacheLayout layout, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        if (!string.Equals(id.Revision, meta.Commit, StringComparison.Ordinal))
        {
            layout.WriteRef(id.Revision, meta.Commit);
        }

        if (layout.TryGetSnapshotFile(meta.Commit, filename) is { } snapshotPath)
        {
            return new FileResult(snapshotPath, meta.Commit);
        }

        string blob = layout.BlobPath(meta.Etag);
        if (!HubCacheLayout.ResolvesToFile(blob))
        {
            using FileStream lockFile = await AcquireLockCore(useAsync, layout.LockPath(meta.Etag), ct).ConfigureAwait(false);
            if (!HubCacheLayout.ResolvesToFile(blob))
            {
                await DownloadBlobCore(useAsync, id, filename, meta, layout, progress, ct).ConfigureAwait(false);
            }
        }

        return new FileResult(layout.LinkSnapshot(meta.Commit, filename, meta.Etag), meta.Commit);
    }

    private FileResult ResolveOffline(HubCacheLayout layout, ModelId id, string filename, bool optional)
    {
        string? commit = id.IsCommitRevision ? id.Revision : layout.ReadRef(id.Revision);
        if (commit is not null)
        {
            if (layout.TryGetSnapshotFile(commit, filename) is { } path)
            {
                return new FileResult(path, commit);
            }

            if (optional && Directory.Exists(layout.SnapshotDirectory(commit)))
            {
                return new FileResult(null, commit);
            }
        }

        string where = commit is null
            ? $"{layout.RepoDirectory} (no {Path.Combine("refs", id.Revision)} there)"
            : layout.SnapshotPath(commit, filename);
        throw new ModelHubException(
            $"offline mode (HF_HUB_OFFLINE) is on and {Describe(id, filename)} is not in the cache at {where}. " +
            "Unset HF_HUB_OFFLINE (or HubOptions.Offline) to download it, or point HF_HUB_CACHE at a cache that holds it.");
    }

    /// <summary><c>{endpoint}/{owner}/{name}/resolve/{revision}/{filename}</c>, the revision escaped whole, the file per folder.</summary>
    internal Uri ResolveUrl(ModelId id, string filename)
    {
        string file = string.Join('/', filename.Split('/').Select(Uri.EscapeDataString));
        return new Uri(_endpoint,
            $"{Uri.EscapeDataString(id.Owner)}/{Uri.EscapeDataString(id.Name)}/resolve/{Uri.EscapeDataString(id.Revision)}/{file}");
    }

    /// <summary>HEAD the resolve URL. Null: 404 on an optional file. Throws <see cref="HubUnreachableException"/> when no answer came.</summary>
    private async ValueTask<FileMetadata?> GetMetadataCore(bool useAsync, Uri url, ModelId id, string filename, bool optional, CancellationToken ct)
    {
        Uri current = url;
        for (int hop = 0; hop <= MaxRedirects; hop++)
        {
            using HttpResponseMessage response = await SendForHeadersCore(useAsync, HttpMethod.Head, current, rangeFrom: null, id, filename, ct).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (IsRedirect(response) && response.Headers.Location is { } location)
            {
                Uri target = location.IsAbsoluteUri ? location : new Uri(current, location);
                // A redirect that carries the file's headers is the hub sending a large file to its storage: the
                // metadata is here and the bytes are there. A bare redirect (a renamed repository) is followed.
                if (Header(response, "X-Repo-Commit") is not null || Header(response, "X-Linked-Etag") is not null)
                {
                    return ParseMetadata(response, target, id, filename);
                }

                current = target;
                continue;
            }

            if (response.IsSuccessStatusCode)
            {
                return ParseMetadata(response, current, id, filename);
            }

            if (status == 404 && optional)
            {
                return null;
            }

            throw HttpError(response, id, filename);
        }

        throw new ModelHubException($"more than {MaxRedirects} redirects resolving {Describe(id, filename)} at {url}; check HF_ENDPOINT.");
    }

    private FileMetadata ParseMetadata(HttpResponseMessage response, Uri downloadUrl, ModelId id, string filename)
    {
        string? commit = Header(response, "X-Repo-Commit");
        if (commit is null || !HubCacheLayout.IsSafeSegment(commit))
        {
            throw new ModelHubException(
                $"the server at {Options.Endpoint} answered for {Describe(id, filename)} without a valid X-Repo-Commit header " +
                $"(got '{Sanitize(commit ?? "none")}'); HF_ENDPOINT must point at a Hugging Face compatible hub.");
        }

        string? etag = NormalizeEtag(Header(response, "X-Linked-Etag") ?? Header(response, "ETag"));
        if (etag is null || !HubCacheLayout.IsSafeSegment(etag))
        {
            throw new ModelHubException(
                $"the server at {Options.Endpoint} answered for {Describe(id, filename)} without a usable ETag " +
                $"(got '{Sanitize(Header(response, "X-Linked-Etag") ?? Header(response, "ETag") ?? "none")}'); " +
                "HF_ENDPOINT must point at a Hugging Face compatible hub.");
        }

        long? size = null;
        if (Header(response, "X-Linked-Size") is { } linkedSize)
        {
            if (!long.TryParse(linkedSize, NumberStyles.None, CultureInfo.InvariantCulture, out long parsed))
            {
                throw new ModelHubException($"the server sent an invalid X-Linked-Size '{Sanitize(linkedSize)}' for {Describe(id, filename)}.");
            }

            size = parsed;
        }
        else if (!IsRedirect(response) && response.Content.Headers.ContentLength is long contentLength and >= 0)
        {
            size = contentLength;
        }

        return new FileMetadata(commit, etag, size, downloadUrl);
    }

    /// <summary>Strips a weak <c>W/</c> prefix and the quotes from an ETag.</summary>
    internal static string? NormalizeEtag(string? etag)
    {
        if (etag is null)
        {
            return null;
        }

        string text = etag.Trim();
        if (text.StartsWith("W/", StringComparison.OrdinalIgnoreCase))
        {
            text = text[2..];
        }

        return text.Trim('"');
    }

    private async ValueTask DownloadBlobCore(
        bool useAsync, ModelId id, string filename, FileMetadata meta, HubCacheLayout layout, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        string incomplete = layout.IncompletePath(meta.Etag);
        string blob = layout.BlobPath(meta.Etag);
        Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        var reporter = new ProgressReporter(filename, meta.Size, progress);
        string? algorithm = BlobChecksum.AlgorithmOf(meta.Etag);

        for (int attempt = 0; ; attempt++)
        {
            long existing = File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0;
            if (existing > 0 && meta.Size is long expectedSize && existing > expectedSize)
            {
                AtomicFile.TryDelete(incomplete);
                existing = 0;
            }

            bool reusedBytes = existing > 0;
            if (!(meta.Size is long complete && existing == complete && existing > 0))
            {
                reusedBytes = await FetchCore(useAsync, id, filename, meta, incomplete, existing, reporter, ct).ConfigureAwait(false);
            }

            long actualSize = new FileInfo(incomplete).Length;
            if (meta.Size is long announced && actualSize != announced)
            {
                AtomicFile.TryDelete(incomplete);
                throw new ModelHubException(
                    $"the download of {Describe(id, filename)} has the wrong size: the hub announced {announced} bytes but " +
                    $"{actualSize} arrived; the partial file was deleted and nothing was cached. Run again; if it persists, " +
                    "a proxy or the server is altering the file.");
            }

            if (algorithm is not null)
            {
                string actual = BlobChecksum.Compute(incomplete, algorithm);
                if (!string.Equals(actual, meta.Etag, StringComparison.OrdinalIgnoreCase))
                {
                    AtomicFile.TryDelete(incomplete);
                    if (reusedBytes && attempt == 0)
                    {
                        // Bytes kept from an earlier run may be the bad part: start once more from zero.
                        continue;
                    }

                    throw new ModelHubException(
                        $"the download of {Describe(id, filename)} is corrupt: expected {algorithm} {meta.Etag.ToLowerInvariant()} " +
                        $"but the {actualSize} bytes received hash to {actual}; the file was deleted and nothing was cached. " +
                        "Run again; if it persists, a proxy or the server is altering the file.");
                }
            }

            File.Move(incomplete, blob, overwrite: true);
            reporter.Complete(actualSize);
            return;
        }
    }

    /// <summary>
    /// GETs the file into <paramref name="incomplete"/>, continuing after <paramref name="existing"/> bytes when the
    /// server honours Range. Returns whether bytes from an earlier run were kept.
    /// </summary>
    private async ValueTask<bool> FetchCore(
        bool useAsync, ModelId id, string filename, FileMetadata meta, string incomplete, long existing, ProgressReporter reporter, CancellationToken ct)
    {
        HttpResponseMessage response = await GetFollowingRedirectsCore(useAsync, meta.DownloadUrl, existing > 0 ? existing : null, id, filename, ct).ConfigureAwait(false);
        using (response)
        {
            long offset = 0;
            bool partial = response.StatusCode == HttpStatusCode.PartialContent;
            if (existing > 0 && partial && response.Content.Headers.ContentRange is { From: long from } && from == existing)
            {
                offset = existing;
            }
            else if (existing > 0 && (partial || response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable))
            {
                // The kept bytes do not fit what the server has (or it answered another range): start from zero.
                response.Dispose();
                AtomicFile.TryDelete(incomplete);
                return await FetchCore(useAsync, id, filename, meta, incomplete, 0, reporter, ct).ConfigureAwait(false);
            }
            else if (partial)
            {
                throw new ModelHubException(
                    $"the server answered a plain download of {Describe(id, filename)} with partial content (HTTP 206); check HF_ENDPOINT and any proxy.");
            }
            else if (!response.IsSuccessStatusCode)
            {
                throw HttpError(response, id, filename);
            }

            long? total = meta.Size ?? (response.Content.Headers.ContentLength is long length ? offset + length : null);
            long limit = Math.Min(meta.Size ?? Options.MaxFileBytes, Options.MaxFileBytes);
            using var file = new FileStream(incomplete, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None, 1, FileOptions.None);
            file.SetLength(offset);
            file.Position = offset;
            long received = offset;
            reporter.LearnTotal(total);
            reporter.Report(received);

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
            try
            {
                Stream body;
                try
                {
                    timeout.CancelAfter(Options.HttpTimeout);
                    body = useAsync
                        ? await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false)
                        : response.Content.ReadAsStream(timeout.Token);
                }
                catch (Exception ex) when (IsNetworkFailure(ex, ct))
                {
                    file.Flush(flushToDisk: true);
                    throw Interrupted(id, filename, received, total, incomplete, ex);
                }

                // A synchronous read cannot take a token: the timeout (or the caller's cancellation) closes the body,
                // which ends a blocked read with an exception that is mapped below.
                using CancellationTokenRegistration closeOnTimeout = useAsync
                    ? default
                    : timeout.Token.Register(static b => ((Stream)b!).Dispose(), body);
                try
                {
                    while (true)
                    {
                        int read;
                        try
                        {
                            timeout.CancelAfter(Options.HttpTimeout);
                            read = useAsync
                                ? await body.ReadAsync(buffer.AsMemory(0, BufferBytes), timeout.Token).ConfigureAwait(false)
                                : body.Read(buffer, 0, BufferBytes);
                        }
                        catch (Exception ex) when (!useAsync && timeout.IsCancellationRequested)
                        {
                            file.Flush(flushToDisk: true);
                            ct.ThrowIfCancellationRequested();
                            throw Interrupted(id, filename, received, total, incomplete, new OperationCanceledException("no data within the timeout", ex));
                        }
                        catch (Exception ex) when (IsNetworkFailure(ex, ct))
                        {
                            file.Flush(flushToDisk: true);
                            throw Interrupted(id, filename, received, total, incomplete, ex);
                        }

                        if (read == 0)
                        {
                            break;
                        }

                        if (received + read > limit)
                        {
                            file.Dispose();
                            AtomicFile.TryDelete(incomplete);
                            throw new ModelHubException(meta.Size is long announced
                                ? $"the download of {Describe(id, filename)} has the wrong size: the hub announced {announced} bytes but more arrived; " +
                                  "the partial file was deleted and nothing was cached. Run again; if it persists, a proxy or the server is altering the file."
                                : $"the download of {Describe(id, filename)} passed the limit of {Options.MaxFileBytes} bytes (HubOptions.MaxFileBytes); " +
                                  "the partial file was deleted. Raise the limit if the file is expected to be that large.");
                        }

                        if (useAsync)
                        {
                            await file.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
                        }
                        else
                        {
                            file.Write(buffer, 0, read);
                        }

                        received += read;
                        reporter.Report(received);
                    }
                }
                finally
                {
                    if (useAsync)
                    {
                        await body.DisposeAsync().ConfigureAwait(false);
                    }
                    else
                    {
                        body.Dispose();
                    }
                }

                file.Flush(flushToDisk: true);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            return offset > 0;
        }
    }

    private async ValueTask<HttpResponseMessage> GetFollowingRedirectsCore(bool useAsync, Uri url, long? rangeFrom, ModelId id, string filename, CancellationToken ct)
    {
        Uri current = url;
        for (int hop = 0; hop <= MaxRedirects; hop++)
        {
            HttpResponseMessage response = await SendForHeadersCore(useAsync, HttpMethod.Get, current, rangeFrom, id, filename, ct, throwInterrupted: true).ConfigureAwait(false);
            if (IsRedirect(response) && response.Headers.Location is { } location)
            {
                current = location.IsAbsoluteUri ? location : new Uri(current, location);
                response.Dispose();
                continue;
            }

            return response;
        }

        throw new ModelHubException($"more than {MaxRedirects} redirects downloading {Describe(id, filename)} from {url}; check HF_ENDPOINT.");
    }

    /// <summary>Sends a request and waits for the response headers, at most <see cref="HubOptions.HttpTimeout"/>.</summary>
    private async ValueTask<HttpResponseMessage> SendForHeadersCore(
        bool useAsync, HttpMethod method, Uri url, long? rangeFrom, ModelId id, string filename, CancellationToken ct, bool throwInterrupted = false)
    {
        using var request = new HttpRequestMessage(method, url);
        request.Headers.UserAgent.ParseAdd(Options.UserAgent);
        request.Headers.AcceptEncoding.ParseAdd("identity");
        if (Options.Token is { Length: > 0 } token && IsSameOrigin(url, _endpoint))
        {
            // The token belongs to the hub: never send it to the storage host a large file redirects to.
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (rangeFrom is long from)
        {
            request.Headers.Range = new RangeHeaderValue(from, null);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Options.HttpTimeout);
        try
        {
            return useAsync
                ? await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false)
                : _http.Send(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        }
        catch (Exception ex) when (IsNetworkFailure(ex, ct))
        {
            string reason = ex is OperationCanceledException
                ? $"no answer within {Options.HttpTimeout.TotalSeconds:0.#} s."
                : $"{ex.Message}.";
            if (throwInterrupted)
            {
                throw new ModelHubException(
                    $"the download of {Describe(id, filename)} from {url.GetLeftPart(UriPartial.Authority)} failed: {reason} " +
                    "Run again to retry; any partial download is kept and resumed.", ex);
            }

            throw new HubUnreachableException(reason, ex);
        }
    }

    private ModelHubException HttpError(HttpResponseMessage response, ModelId id, string filename)
    {
        int status = (int)response.StatusCode;
        string hubMessage = Header(response, "X-Error-Message") is { } message ? $" (the hub says: {Sanitize(message)})" : "";
        return status switch
        {
            404 => new ModelHubException(
                $"model or file not found: {Describe(id, filename)} at {Options.Endpoint} (HTTP 404){hubMessage}; check the id and revision."),
            401 or 403 => new ModelHubException(
                $"access denied (HTTP {status}) to {Describe(id, filename)} at {Options.Endpoint}{hubMessage}: the repository may be gated or " +
                "private, or may not exist. " + (Options.Token is { Length: > 0 }
                    ? "The token from HF_TOKEN was sent but does not grant access: check it, and accept the model's terms on its page if it is gated."
                    : "Set HF_TOKEN to an access token that can read it (and accept the model's terms on its page if it is gated).")),
            >= 500 => new ModelHubException(
                $"the hub at {Options.Endpoint} failed with HTTP {status} {response.ReasonPhrase} for {Describe(id, filename)}{hubMessage}; retry later."),
            _ => new ModelHubException(
                $"the hub at {Options.Endpoint} answered HTTP {status} {response.ReasonPhrase} for {Describe(id, filename)}{hubMessage}."),
        };
    }

    private ModelHubException Interrupted(ModelId id, string filename, long received, long? total, string incomplete, Exception ex)
    {
        string how = ex is OperationCanceledException
            ? $"stalled: no data for {Options.HttpTimeout.TotalSeconds:0.#} s"
            : $"was interrupted ({ex.Message})";
        string of = total is long t ? $"{received} of {t} bytes" : $"{received} bytes";
        return new ModelHubException(
            $"the download of {Describe(id, filename)} {how} after {of}. Run again to resume: the partial download is kept at {incomplete}.", ex);
    }

    private static bool IsNetworkFailure(Exception ex, CancellationToken callerToken) =>
        ex switch
        {
            OperationCanceledException => !callerToken.IsCancellationRequested,
            HttpRequestException or IOException => true,
            _ => false,
        };

    private static async ValueTask<FileStream> AcquireLockCore(bool useAsync, string lockPath, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!);
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                // FileShare.None takes an exclusive advisory lock (flock on Unix) that other processes, Python's
                // filelock among them, and other threads of this one respect.
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            }
            catch (IOException) when (File.Exists(lockPath))
            {
                if (useAsync)
                {
                    await Task.Delay(LockPollInterval, ct).ConfigureAwait(false);
                }
                else
                {
                    ct.WaitHandle.WaitOne(LockPollInterval);
                }
            }
        }
    }

    private static bool IsRedirect(HttpResponseMessage response) => (int)response.StatusCode is >= 300 and < 400;

    private static bool IsSameOrigin(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase)
        && a.Port == b.Port;

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault()
        : response.Content.Headers.TryGetValues(name, out var contentValues) ? contentValues.FirstOrDefault()
        : null;

    private static string Sanitize(string text)
    {
        var chars = text.Where(c => !char.IsControl(c)).Take(300).ToArray();
        return new string(chars);
    }

    private static string Describe(ModelId id, string filename) => $"{id.RepoId}/{filename} (revision {id.Revision})";

    private static void ValidateFilename(string filename, string parameter)
    {
        if (!HubCacheLayout.IsValidFilename(filename))
        {
            throw new ArgumentException(
                $"'{filename}' is not a file name inside a repository: use a relative '/'-separated name such as config.json, without '..' parts.",
                parameter);
        }
    }

    /// <summary>Reports progress so that it never goes backwards, and always reports the final size once.</summary>
    private sealed class ProgressReporter(string file, long? total, IProgress<DownloadProgress>? progress)
    {
        private long _last = -1;
        private long? _total = total;

        /// <summary>Takes the size from the download response when the HEAD request did not give one.</summary>
        public void LearnTotal(long? size) => _total ??= size;

        public void Report(long received)
        {
            if (progress is not null && received > _last)
            {
                _last = received;
                progress.Report(new DownloadProgress(file, received, _total));
            }
        }

        public void Complete(long size)
        {
            if (progress is not null && (size > _last || (size == _last && _total is null)))
            {
                _last = size;
                progress.Report(new DownloadProgress(file, size, _total ?? size));
            }
        }
    }

    /// <summary>No answer at all from the hub (connection refused, DNS failure, timeout): the cache may stand in.</summary>
    private sealed class HubUnreachableException(string message, Exception inner) : Exception(message, inner);
}
