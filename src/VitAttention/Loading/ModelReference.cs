using VitAttention.Hub;

namespace VitAttention.Loading;

/// <summary>
/// What a user's model argument names: a local file or folder, or a hub repository. Anything that looks like a path is
/// never sent to the hub, so a typo in a folder name says "no such folder" instead of asking the hub for a repository
/// that does not exist (or, worse, downloading one that does).
/// </summary>
internal sealed record ModelReference
{
    private ModelReference(string text, string? localPath, ModelId? hubId)
    {
        Text = text;
        LocalPath = localPath;
        HubId = hubId;
    }

    /// <summary>The argument as given.</summary>
    public string Text { get; }

    /// <summary>The full path of an existing local file or folder, or null for a hub id.</summary>
    public string? LocalPath { get; }

    /// <summary>The hub repository, or null for a local path.</summary>
    public ModelId? HubId { get; }

    /// <summary>
    /// A key that is the same for every spelling of the same model: the local path with links resolved, or
    /// <c>owner/name@revision</c> with the default revision written out.
    /// </summary>
    public string Key => LocalPath is { } path ? "path:" + Resolve(path) : "hub:" + HubId!.Value;

    /// <summary>
    /// Reads a model argument. It is a path when it starts with <c>.</c>, <c>/</c>, <c>\</c> or <c>~</c>, names an
    /// existing file or folder, has a drive letter, or has a separator whose first part is an existing folder
    /// (<c>models/vit-tiny</c> when <c>models/</c> exists); otherwise it must be a hub id <c>owner/name[@revision]</c>.
    /// </summary>
    /// <param name="model">The argument.</param>
    /// <returns>The reference.</returns>
    /// <exception cref="DirectoryNotFoundException">It looks like a folder path but no such folder exists.</exception>
    /// <exception cref="FileNotFoundException">It looks like a file path (it has an extension) but no such file exists.</exception>
    /// <exception cref="ModelFormatException">It is neither a path nor a valid hub id.</exception>
    public static ModelReference Parse(string model)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        string path = ExpandHome(model);
        if (File.Exists(path) || Directory.Exists(path))
        {
            return new ModelReference(model, Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)), null);
        }

        if (LooksLikePath(model))
        {
            string full = Path.GetFullPath(path);
            if (Path.HasExtension(path) && !path.EndsWith(Path.DirectorySeparatorChar) && !path.EndsWith(Path.AltDirectorySeparatorChar))
            {
                throw new FileNotFoundException(
                    $"model '{model}' is a path, but there is no such file ({full}). Check the path; hub ids are written owner/name without a leading '.', '/' or '~'.",
                    full);
            }

            throw new DirectoryNotFoundException(
                $"model '{model}' is a path, but there is no such folder ({full}). Check the path; hub ids are written owner/name without a leading '.', '/' or '~'.");
        }

        if (ModelId.TryParse(model, out var id))
        {
            return new ModelReference(model, null, id);
        }

        throw new ModelFormatException(
            $"model '{model}' is not an existing file or folder, nor a hub id of the form owner/name[@revision]; pass a checkpoint folder " +
            "(config.json + model.safetensors), an ONNX file, or a hub id such as " + ModelLoader.DefaultModel + ".");
    }

    /// <summary>True when the text can only be meant as a path (see <see cref="Parse"/>).</summary>
    internal static bool LooksLikePath(string text)
    {
        if (text.Length == 0)
        {
            return false;
        }

        if (text[0] is '.' or '/' or '\\' or '~' || Path.IsPathRooted(text) || (text.Length >= 2 && char.IsAsciiLetter(text[0]) && text[1] == ':'))
        {
            return true;
        }

        if (text.Contains('\\'))
        {
            return true; // never part of a hub id
        }

        int slash = text.IndexOf('/');
        if (slash > 0)
        {
            // owner/name is also a relative path: it is one when its first part exists here as a folder.
            return Directory.Exists(text[..slash]);
        }

        return false;
    }

    private static string ExpandHome(string path)
    {
        if (path == "~" || path.StartsWith("~/", StringComparison.Ordinal) || path.StartsWith("~\\", StringComparison.Ordinal))
        {
            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            return path.Length == 1 ? home : Path.Combine(home, path[2..]);
        }

        return path;
    }

    private static string Resolve(string path)
    {
        try
        {
            FileSystemInfo info = Directory.Exists(path) ? new DirectoryInfo(path) : new FileInfo(path);
            return info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? info.FullName;
        }
        catch (IOException)
        {
            return path;
        }
    }
}
