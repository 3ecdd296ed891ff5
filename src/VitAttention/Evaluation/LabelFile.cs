using System.Globalization;

namespace VitAttention.Evaluation;

/// <summary>
/// Ground-truth labels for a data set: a text file with one image per line, its key (or just its file name) and its
/// class index separated by whitespace or a comma, for example <c>test/00042.png 7</c>. Blank lines and lines starting
/// with # are skipped. The class is the last field, so keys may contain spaces.
/// </summary>
internal sealed class LabelFile
{
    private readonly Dictionary<string, int> _byKey;
    private readonly Dictionary<string, int?> _byName; // null when two keys share a file name

    private LabelFile(Dictionary<string, int> byKey)
    {
        _byKey = byKey;
        _byName = new Dictionary<string, int?>(StringComparer.Ordinal);
        foreach (var (key, label) in byKey)
        {
            string name = key[(key.LastIndexOf('/') + 1)..];
            _byName[name] = _byName.ContainsKey(name) ? null : label;
        }
    }

    /// <summary>Labels listed.</summary>
    public int Count => _byKey.Count;

    /// <summary>Reads a labels file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="FormatException">A line has no class index, or a key is listed twice; the message names the line.</exception>
    public static LabelFile Read(string path)
    {
        var byKey = new Dictionary<string, int>(StringComparer.Ordinal);
        int n = 0;
        foreach (string raw in File.ReadLines(path))
        {
            n++;
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            int cut = line.LastIndexOfAny([' ', '\t', ',']);
            if (cut <= 0 || !int.TryParse(line[(cut + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int label))
            {
                throw new FormatException($"'{path}' line {n}: expected '<image> <class index>', got '{line}'.");
            }

            string key = line[..cut].TrimEnd(' ', '\t', ',').Replace('\\', '/');
            if (!byKey.TryAdd(key, label))
            {
                throw new FormatException($"'{path}' line {n}: '{key}' is listed twice.");
            }
        }

        return new LabelFile(byKey);
    }

    /// <summary>The label of an image: by its key, else by its file name when that is unambiguous; null when not listed.</summary>
    public int? Find(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (_byKey.TryGetValue(key, out int label))
        {
            return label;
        }

        return _byName.GetValueOrDefault(key[(key.LastIndexOf('/') + 1)..]);
    }
}
