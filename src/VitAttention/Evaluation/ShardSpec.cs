using System.Globalization;

namespace VitAttention.Evaluation;

/// <summary>
/// One deterministic slice of a data set, <c>i/N</c> (zero-based, 0 ≤ i &lt; N), so that N copies of a command, each
/// given its own i (a Kubernetes Indexed Job's <c>JOB_COMPLETION_INDEX</c>, a Slurm array's
/// <c>SLURM_ARRAY_TASK_ID</c>), cover every image exactly once with no coordinator. An image belongs to shard
/// <c>StableHash(key) mod N</c>, its key being its path relative to the folder or list it came from, with '/'
/// separators: membership does not depend on the order of the list, on the machine, or on which other images exist,
/// so a data set that grows keeps every image in its shard. Shard sizes follow a binomial spread around 1/N.
/// </summary>
internal readonly record struct ShardSpec
{
    /// <summary>A shard; see <see cref="Parse"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Count is not positive or index is outside 0..count−1.</exception>
    public ShardSpec(int index, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, count);
        Index = index;
        Count = count;
    }

    /// <summary>The whole data set: shard 0 of 1.</summary>
    public static ShardSpec All => new(0, 1);

    /// <summary>This shard's number, 0 … <see cref="Count"/> − 1.</summary>
    public int Index { get; }

    /// <summary>Shards in the run.</summary>
    public int Count { get; }

    /// <summary>Parses <c>i/N</c>, for example <c>3/16</c>.</summary>
    /// <exception cref="FormatException">The text is not i/N with 0 ≤ i &lt; N; the message shows the form.</exception>
    public static ShardSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Split('/');
        if (parts.Length == 2 &&
            int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int index) &&
            int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int count) &&
            count >= 1 && index < count)
        {
            return new ShardSpec(index, count);
        }

        throw new FormatException($"--shard takes i/N with 0 ≤ i < N (zero-based, e.g. 0/4 … 3/4), got '{text}'.");
    }

    /// <summary>True when the image with this key belongs to this shard.</summary>
    public bool Contains(string key) => Count == 1 || StableHash.Of(key) % (ulong)Count == (ulong)Index;

    /// <summary>The items of this shard, in their order.</summary>
    public IReadOnlyList<T> Select<T>(IReadOnlyList<T> items, Func<T, string> key)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(key);
        var self = this;
        return Count == 1 ? items : items.Where(i => self.Contains(key(i))).ToList();
    }

    /// <summary>"i/N".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");
}
