using System.Globalization;

namespace VitAttention.Cli;

/// <summary>
/// Parsed arguments of one command: positionals in order, <c>--name value</c> options and <c>--flag</c> switches.
/// Every option must be known to the command, so a typo is an error rather than silently ignored.
/// </summary>
internal sealed class CliArguments
{
    private readonly Dictionary<string, string> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    private CliArguments(string command)
    {
        Command = command;
    }

    public string Command { get; }

    public List<string> Positionals { get; } = [];

    /// <summary>Parses <paramref name="args"/> for a command that accepts these valued options and switches.</summary>
    public static CliArguments Parse(string command, IEnumerable<string> args, IReadOnlySet<string> valued, IReadOnlySet<string> switches)
    {
        var result = new CliArguments(command);
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            string a = e.Current;
            if (a == "--")
            {
                while (e.MoveNext())
                {
                    result.Positionals.Add(e.Current);
                }

                break;
            }

            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                string name = a[2..];
                string? inline = null;
                int eq = name.IndexOf('=', StringComparison.Ordinal);
                if (eq >= 0)
                {
                    inline = name[(eq + 1)..];
                    name = name[..eq];
                }

                if (switches.Contains(name))
                {
                    if (inline is not null)
                    {
                        throw new UsageException($"'{command}': --{name} is a switch and takes no value.");
                    }

                    result._flags.Add(name);
                }
                else if (valued.Contains(name))
                {
                    if (inline is null && !e.MoveNext())
                    {
                        throw new UsageException($"'{command}': --{name} needs a value.");
                    }

                    if (!result._options.TryAdd(name, inline ?? e.Current))
                    {
                        throw new UsageException($"'{command}': --{name} was given twice.");
                    }
                }
                else if (name == "top" && (valued.Contains("top-classes") || valued.Contains("top-layers")))
                {
                    throw new UsageException(
                        $"'{command}': --top is not an option (it used to mean classes in one command and layers in another); " +
                        "use --top-classes N for the classes" + (valued.Contains("top-layers") ? " or --top-layers N for the most focused layers." : "."));
                }
                else
                {
                    string known = string.Join(", ", valued.Concat(switches).Order(StringComparer.Ordinal).Select(o => "--" + o));
                    throw new UsageException($"'{command}': unknown option --{name}; known options: {known}.");
                }
            }
            else
            {
                result.Positionals.Add(a);
            }
        }

        return result;
    }

    public bool Has(string flag) => _flags.Contains(flag);

    public string? Get(string name) => _options.GetValueOrDefault(name);

    public string Require(string name) =>
        Get(name) ?? throw new UsageException($"'{Command}' needs --{name} <value>.");

    public int Int(string name, int fallback, int min, int max)
    {
        string? text = Get(name);
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
        {
            throw new UsageException($"'{Command}': --{name} must be an integer from {min} to {max}, got '{text}'.");
        }

        return value;
    }

    public float Float(string name, float fallback, float min, float max)
    {
        string? text = Get(name);
        if (text is null)
        {
            return fallback;
        }

        if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) || !(value >= min && value <= max))
        {
            throw new UsageException($"'{Command}': --{name} must be a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}, got '{text}'.");
        }

        return value;
    }

    public T Enum<T>(string name, T fallback)
        where T : struct, System.Enum
    {
        string? text = Get(name);
        if (text is null)
        {
            return fallback;
        }

        if (!System.Enum.TryParse(text, ignoreCase: true, out T value) || !System.Enum.IsDefined(value) || int.TryParse(text, out _))
        {
            string options = string.Join(", ", System.Enum.GetNames<T>().Select(n => n.ToLowerInvariant()));
            throw new UsageException($"'{Command}': --{name} must be one of {options}, got '{text}'.");
        }

        return value;
    }

    /// <summary>A comma-separated list of integers, e.g. <c>1,6,12</c>.</summary>
    public int[]? IntList(string name, int min, int max)
    {
        string? text = Get(name);
        if (text is null)
        {
            return null;
        }

        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var values = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out values[i]) || values[i] < min || values[i] > max)
            {
                throw new UsageException($"'{Command}': --{name} must list integers from {min} to {max} separated by commas, got '{text}'.");
            }
        }

        return values.Length > 0 ? values : throw new UsageException($"'{Command}': --{name} is empty.");
    }

    /// <summary>A comma-separated list of exactly <paramref name="count"/> numbers, e.g. <c>x,y,w,h</c>.</summary>
    public float[]? FloatList(string name, int count)
    {
        string? text = Get(name);
        if (text is null)
        {
            return null;
        }

        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new float[parts.Length];
        bool ok = parts.Length == count;
        for (int i = 0; ok && i < parts.Length; i++)
        {
            ok = float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) && float.IsFinite(values[i]);
        }

        return ok ? values : throw new UsageException($"'{Command}': --{name} needs {count} numbers separated by commas, got '{text}'.");
    }
}
