namespace VitAttention.Hub;

/// <summary>
/// Paths of one repository inside a huggingface_hub cache, and the few file operations on them:
/// <code>
/// {cache}/models--{owner}--{name}/refs/{revision}            the commit the revision last resolved to
/// {cache}/models--{owner}--{name}/blobs/{etag}               each file's bytes, once
/// {cache}/models--{owner}--{name}/blobs/{etag}.incomplete    a download in progress (resumable)
/// {cache}/models--{owner}--{name}/snapshots/{commit}/{file}  relative symlink ../../blobs/{etag}
/// {cache}/models--{owner}--{name}/.no_exist/{commit}/{file}  marks a file the hub said does not exist
/// {cache}/.locks/models--{owner}--{name}/{etag}.lock         held while a blob is being downloaded
/// </code>
/// </summary>
internal sealed class HubCacheLayout
{
    public HubCacheLayout(string cacheDirectory, ModelId id)
    {
        CacheDirectory = cacheDirectory;
        FolderName = "models--" + id.Owner + "--" + id.Name;
        RepoDirectory = Path.Combine(cacheDirectory, FolderName);
    }

    /// <summary>The cache root (the folder holding <c>models--*</c>).</summary>
    public string CacheDirectory { get; }

    /// <summary><c>models--{owner}--{name}</c>.</summary>
    public string FolderName { get; }

    /// <summary>The repository's folder in the cache.</summary>
    public string RepoDirectory { get; }

    public string BlobPath(string etag) => Path.Combine(RepoDirectory, "blobs", etag);

    public string IncompletePath(string etag) => BlobPath(etag) + ".incomplete";

    public string LockPath(string etag) => Path.Combine(CacheDirectory, ".locks", FolderName, etag + ".lock");

    public string RefPath(string revision) => Path.Combine(RepoDirectory, "refs", ToLocal(revision));

    public string SnapshotDirectory(string commit) => Path.Combine(RepoDirectory, "snapshots", commit);

    public string SnapshotPath(string commit, string filename) => Path.Combine(SnapshotDirectory(commit), ToLocal(filename));

    public string NoExistPath(string commit, string filename) => Path.Combine(RepoDirectory, ".no_exist", commit, ToLocal(filename));

    /// <summary>The commit stored in <c>refs/{revision}</c>, or null when there is none or it is not a safe name.</summary>
    public string? ReadRef(string revision)
    {
        string path = RefPath(revision);
        try
        {
            if (!File.Exists(path) || new FileInfo(path).Length > 1024)
            {
                return null;
            }

            string commit = File.ReadAllText(path).Trim();
            return IsSafeSegment(commit) ? commit : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Writes <c>refs/{revision}</c> (without a newline, as huggingface_hub does) through a temporary file and a rename.</summary>
    public void WriteRef(string revision, string commit)
    {
        if (ReadRef(revision) == commit)
        {
            return;
        }

        AtomicFile.Write(RefPath(revision), System.Text.Encoding.UTF8.GetBytes(commit));
    }

    /// <summary>The snapshot path of <paramref name="filename"/> at <paramref name="commit"/> when it exists and resolves to a file.</summary>
    public string? TryGetSnapshotFile(string commit, string filename)
    {
        string path = SnapshotPath(commit, filename);
        return ResolvesToFile(path) ? path : null;
    }

    /// <summary>
    /// Makes <c>snapshots/{commit}/{filename}</c> point at <c>blobs/{etag}</c>: a relative symlink, or a copy where
    /// symlinks cannot be made. Replaces a dangling entry; created under a temporary name and renamed into place.
    /// </summary>
    public string LinkSnapshot(string commit, string filename, string etag)
    {
        string snapshot = SnapshotPath(commit, filename);
        if (ResolvesToFile(snapshot))
        {
            return snapshot;
        }

        string folder = Path.GetDirectoryName(snapshot)!;
        Directory.CreateDirectory(folder);
        string blob = BlobPath(etag);
        string temp = snapshot + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            try
            {
                File.CreateSymbolicLink(temp, Path.GetRelativePath(folder, blob));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
            {
                File.Copy(blob, temp, overwrite: true);
            }

            File.Move(temp, snapshot, overwrite: true);
        }
        finally
        {
            AtomicFile.TryDelete(temp);
        }

        return snapshot;
    }

    /// <summary>Records that the hub has no <paramref name="filename"/> at <paramref name="commit"/> (huggingface_hub's <c>.no_exist</c>).</summary>
    public void MarkMissing(string commit, string filename)
    {
        try
        {
            string path = NoExistPath(commit, filename);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using (File.Open(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite))
            {
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Only a hint for later offline runs; failing to write it changes nothing else.
        }
    }

    /// <summary>True when <paramref name="path"/> is a file, or a symlink chain that ends at a file.</summary>
    public static bool ResolvesToFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return false;
            }

            return info.LinkTarget is null || info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// A file name inside a repository: relative, '/'-separated, no empty, '.' or '..' part, no '\' or control
    /// characters.
    /// </summary>
    public static bool IsValidFilename(string? filename)
    {
        if (string.IsNullOrEmpty(filename) || filename.Length > 1024)
        {
            return false;
        }

        foreach (char c in filename)
        {
            if (c == '\\' || char.IsControl(c))
            {
                return false;
            }
        }

        foreach (string segment in filename.Split('/'))
        {
            if (segment.Length == 0 || segment is "." or "..")
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A name safe to use as one path segment (commit hashes, ETags): 1..128 of [A-Za-z0-9._-], not '.' or '..'.</summary>
    public static bool IsSafeSegment(string? text)
    {
        if (string.IsNullOrEmpty(text) || text.Length > 128 || text is "." or "..")
        {
            return false;
        }

        foreach (char c in text)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    private static string ToLocal(string slashPath) => slashPath.Replace('/', Path.DirectorySeparatorChar);
}
