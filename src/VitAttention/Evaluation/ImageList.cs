namespace VitAttention.Evaluation;

/// <summary>
/// Expands the inputs of a data-set command into an ordered list of image files with stable keys. An input is an
/// image file (key: the path as given), a folder (every image file below it, recursively; key: the path relative to
/// the folder), or a list file ending in .txt (one image path per line, relative to the list's folder unless absolute;
/// blank lines and lines starting with # are skipped; key: the path as written). Folder contents are sorted by key
/// (ordinal), so the order is the same on every machine. Keys use '/' separators.
/// </summary>
internal static class ImageList
{
    /// <summary>File extensions taken from folders (case-insensitive).</summary>
    public static IReadOnlySet<string> ImageExtensions { get; } =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { ".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif" };

    /// <summary>Expands the inputs, in order.</summary>
    /// <exception cref="FileNotFoundException">An input or a listed image does not exist.</exception>
    /// <exception cref="ArgumentException">No image was found, or two images have the same key.</exception>
    public static IReadOnlyList<ImageEntry> Expand(IReadOnlyList<string> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var entries = new List<ImageEntry>();
        foreach (string input in inputs)
        {
            if (Directory.Exists(input))
            {
                string root = Path.GetFullPath(input);
                var found = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                    .Where(f => ImageExtensions.Contains(Path.GetExtension(f)))
                    .Select(f => new ImageEntry(f, Normalise(Path.GetRelativePath(root, f))))
                    .OrderBy(e => e.Key, StringComparer.Ordinal);
                entries.AddRange(found);
            }
            else if (File.Exists(input) && Path.GetExtension(input).Equals(".txt", StringComparison.OrdinalIgnoreCase))
            {
                entries.AddRange(ReadList(input));
            }
            else if (File.Exists(input))
            {
                entries.Add(new ImageEntry(input, Normalise(input)));
            }
            else
            {
                throw new FileNotFoundException($"input '{input}' is neither an image file, a folder, nor a .txt list of images", input);
            }
        }

        if (entries.Count == 0)
        {
            throw new ArgumentException(
                $"no images found in {string.Join(", ", inputs.Select(i => $"'{i}'"))} (folders are searched for {string.Join(", ", ImageExtensions.Order(StringComparer.Ordinal))}).",
                nameof(inputs));
        }

        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            if (!seen.TryAdd(e.Key, e.Path))
            {
                throw new ArgumentException(
                    $"two images have the key '{e.Key}' ('{seen[e.Key]}' and '{e.Path}'); results are filed by key, so give each input its own name.",
                    nameof(inputs));
            }
        }

        return entries;
    }

    private static IEnumerable<ImageEntry> ReadList(string listPath)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(listPath))!;
        int n = 0;
        foreach (string raw in File.ReadLines(listPath))
        {
            n++;
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            string path = Path.IsPathRooted(line) ? line : Path.Combine(folder, line);
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"'{listPath}' line {n} names '{line}', which does not exist (relative paths are read from the list's folder)", path);
            }

            yield return new ImageEntry(path, Normalise(line));
        }
    }

    private static string Normalise(string path) => path.Replace('\\', '/');
}
