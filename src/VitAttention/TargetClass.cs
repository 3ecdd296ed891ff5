using System.Globalization;
using VitAttention.Models;

namespace VitAttention;

/// <summary>
/// Which classes the class-specific methods explain (<see cref="ExplainOptions.TargetClass"/>): the top n predicted
/// classes of each image, or fixed classes by index or label. Each class costs one forward and backward pass per
/// batch. Immutable.
/// </summary>
public sealed class TargetClass : IEquatable<TargetClass>
{
    /// <summary>Most classes one explanation may target (each is a gradient pass).</summary>
    public const int MaxClasses = 16;

    private readonly int[] _indices;
    private readonly string[] _labels;

    private TargetClass(int top, int[] indices, string[] labels)
    {
        TopCount = top;
        _indices = indices;
        _labels = labels;
    }

    /// <summary>The image's most probable class (the default).</summary>
    public static TargetClass Default { get; } = new(1, [], []);

    /// <summary>How many of the top predicted classes are explained; 0 when the classes are fixed.</summary>
    public int TopCount { get; }

    /// <summary>The fixed class indices given to <see cref="Index"/>; empty otherwise.</summary>
    public IReadOnlyList<int> Indices => _indices;

    /// <summary>The labels given to <see cref="Label"/>; empty otherwise.</summary>
    public IReadOnlyList<string> Labels => _labels;

    /// <summary>How many classes are explained (maps per class-specific method).</summary>
    public int Count => TopCount > 0 ? TopCount : _indices.Length + _labels.Length;

    /// <summary>The <paramref name="count"/> most probable classes of each image, most probable first.</summary>
    /// <param name="count">1 to <see cref="MaxClasses"/>.</param>
    /// <returns>The target.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is outside 1..<see cref="MaxClasses"/>.</exception>
    public static TargetClass Top(int count = 1)
    {
        if (count < 1 || count > MaxClasses)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"TargetClass.Top takes 1 to {MaxClasses} classes (one gradient pass each), got {count}.");
        }

        return count == 1 ? Default : new(count, [], []);
    }

    /// <summary>Fixed classes by zero-based index, in this order (checked against the model when explaining).</summary>
    /// <param name="classes">1 to <see cref="MaxClasses"/> distinct, non-negative class indices.</param>
    /// <returns>The target.</returns>
    /// <exception cref="ArgumentException">No class, too many, a negative or a repeated index; the message names it.</exception>
    public static TargetClass Index(params int[] classes)
    {
        ArgumentNullException.ThrowIfNull(classes);
        CheckCount(classes.Length, nameof(classes));
        var seen = new HashSet<int>();
        foreach (int c in classes)
        {
            if (c < 0)
            {
                throw new ArgumentException($"Class index {c} is negative; class indices start at 0.", nameof(classes));
            }

            if (!seen.Add(c))
            {
                throw new ArgumentException($"Class index {c} is given twice; give each class once.", nameof(classes));
            }
        }

        return new(0, [.. classes], []);
    }

    /// <summary>
    /// Fixed classes by label, in this order: a label matches a class whose whole label, or one of its comma-separated
    /// names ("tabby" in "tabby, tabby cat"), equals it, ignoring case (checked against the model when explaining).
    /// </summary>
    /// <param name="labels">1 to <see cref="MaxClasses"/> labels.</param>
    /// <returns>The target.</returns>
    /// <exception cref="ArgumentException">No label, too many, or an empty one.</exception>
    public static TargetClass Label(params string[] labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        CheckCount(labels.Length, nameof(labels));
        foreach (string label in labels)
        {
            if (string.IsNullOrWhiteSpace(label))
            {
                throw new ArgumentException("A class label is empty; give the label as the model's config names it (e.g. \"tabby\").", nameof(labels));
            }
        }

        return new(0, [], [.. labels.Select(l => l.Trim())]);
    }

    /// <summary>"top 1", "top 2", "class 281, 285" or "label tabby, tiger cat".</summary>
    /// <returns>A short description.</returns>
    public override string ToString() =>
        TopCount > 0 ? string.Create(CultureInfo.InvariantCulture, $"top {TopCount}")
        : _indices.Length > 0 ? "class " + string.Join(", ", _indices.Select(i => i.ToString(CultureInfo.InvariantCulture)))
        : "label " + string.Join(", ", _labels);

    /// <summary>True when both name the same classes the same way.</summary>
    /// <param name="other">The other target.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(TargetClass? other) =>
        other is not null && TopCount == other.TopCount && _indices.SequenceEqual(other._indices) && _labels.SequenceEqual(other._labels, StringComparer.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as TargetClass);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(TopCount, _indices.Length, _labels.Length, _indices.FirstOrDefault(), _labels.FirstOrDefault());

    /// <summary>
    /// The fixed classes' indices for a model, or null for <see cref="Top"/> (known only after the forward pass).
    /// </summary>
    /// <exception cref="ArgumentException">A class is out of range, a label matches no class or several; the message lists the valid ones.</exception>
    internal int[]? Resolve(VitConfig config, string parameter)
    {
        if (TopCount > 0)
        {
            if (TopCount > config.NumClasses)
            {
                throw new ArgumentException($"TargetClass {this} asks for more classes than the model's {config.NumClasses}.", parameter);
            }

            return null;
        }

        foreach (int c in _indices)
        {
            if (c >= config.NumClasses)
            {
                throw new ArgumentException(
                    $"Target class {c} does not exist: the model's classes are 0..{config.NumClasses - 1}{Listing(config)}.", parameter);
            }
        }

        var resolved = new List<int>(_indices);
        foreach (string label in _labels)
        {
            resolved.Add(FindLabel(config, label, parameter));
        }

        if (resolved.Distinct().Count() != resolved.Count)
        {
            throw new ArgumentException($"TargetClass {this} names one class twice.", parameter);
        }

        return [.. resolved];
    }

    private static int FindLabel(VitConfig config, string label, string parameter)
    {
        var whole = new List<int>();
        var names = new List<int>();
        for (int c = 0; c < config.NumClasses; c++)
        {
            string text = config.LabelOf(c);
            if (string.Equals(text, label, StringComparison.OrdinalIgnoreCase))
            {
                whole.Add(c);
            }
            else if (text.Split(',', StringSplitOptions.TrimEntries).Any(n => string.Equals(n, label, StringComparison.OrdinalIgnoreCase)))
            {
                names.Add(c);
            }
        }

        List<int> found = whole.Count > 0 ? whole : names;
        if (found.Count == 1)
        {
            return found[0];
        }

        if (found.Count > 1)
        {
            throw new ArgumentException(
                $"Target class label '{label}' matches several classes: {string.Join("; ", found.Select(c => $"{c} ({config.LabelOf(c)})"))}; give the class index instead.",
                parameter);
        }

        throw new ArgumentException($"Target class label '{label}' is not one of the model's labels{Listing(config)}.", parameter);
    }

    /// <summary>": 0 tench, 1 goldfish, …" (the first 40), for messages.</summary>
    private static string Listing(VitConfig config)
    {
        const int Shown = 40;
        int n = Math.Min(config.NumClasses, Shown);
        string list = string.Join(", ", Enumerable.Range(0, n).Select(c => string.Create(CultureInfo.InvariantCulture, $"{c} {config.LabelOf(c)}")));
        return config.NumClasses > Shown
            ? string.Create(CultureInfo.InvariantCulture, $"; valid labels: {list}, … ({config.NumClasses} in all, listed in the model's config.json id2label)")
            : $"; valid labels: {list}";
    }

    private static void CheckCount(int count, string parameter)
    {
        if (count < 1 || count > MaxClasses)
        {
            throw new ArgumentException($"Give 1 to {MaxClasses} target classes (one gradient pass each), got {count}.", parameter);
        }
    }
}
