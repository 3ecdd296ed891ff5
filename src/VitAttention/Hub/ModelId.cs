using System.Diagnostics.CodeAnalysis;

namespace VitAttention.Hub;

/// <summary>
/// A model repository on the hub, written <c>owner/name[@revision]</c>, for example
/// <c>google/vit-base-patch16-224</c> or <c>google/vit-base-patch16-224@main</c>.
/// </summary>
/// <remarks>
/// <para>
/// Owner and name follow the hub's rules: 1 to 96 characters from <c>[A-Za-z0-9._-]</c>, not starting or ending with
/// <c>.</c> or <c>-</c>, and without <c>--</c> or <c>..</c>. The revision (branch, tag or 40-hex commit) defaults to
/// <c>main</c>; it may contain <c>/</c> (for example <c>refs/pr/1</c>) but no empty, <c>.</c> or <c>..</c> part.
/// </para>
/// <para>
/// A model argument can be a local path or an id. <see cref="TryParse"/> rejects anything that starts with
/// <c>.</c>, <c>/</c> or <c>~</c> or that has more or fewer than one <c>/</c> before the <c>@</c>, but
/// <c>models/vit</c> is both a valid id and a plausible relative path: the model loader treats it as a path when
/// <c>models/</c> exists here, and never sends anything that looks like a path to the hub.
/// </para>
/// </remarks>
/// <param name="Owner">The user or organisation, for example <c>google</c>.</param>
/// <param name="Name">The repository name, for example <c>vit-base-patch16-224</c>.</param>
/// <param name="Revision">A branch, tag or commit hash; <c>main</c> when the text names none.</param>
public readonly record struct ModelId(string Owner, string Name, string Revision)
{
    /// <summary>The revision used when the text names none: <c>main</c>.</summary>
    public const string DefaultRevision = "main";

    private const int MaxPartLength = 96;
    private const int MaxRevisionLength = 256;

    /// <summary><c>owner/name</c>, without the revision.</summary>
    public string RepoId => Owner + "/" + Name;

    /// <summary>True when <see cref="Revision"/> is a full 40-hex commit hash (no lookup in <c>refs/</c> needed).</summary>
    public bool IsCommitRevision => IsCommitHash(Revision);

    /// <summary>Parses <c>owner/name[@revision]</c>.</summary>
    /// <param name="text">The text to parse.</param>
    /// <returns>The id; its revision is <see cref="DefaultRevision"/> when the text names none.</returns>
    /// <exception cref="ArgumentException">The text is not a valid model id; the message names it and the expected form.</exception>
    public static ModelId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!TryParse(text, out var id))
        {
            throw new ArgumentException(
                $"'{text}' is not a model id: expected owner/name[@revision] (for example google/vit-base-patch16-224 or " +
                "google/vit-base-patch16-224@main), with owner and name made of letters, digits, '.', '_' and '-'.",
                nameof(text));
        }

        return id;
    }

    /// <summary>Tries to parse <c>owner/name[@revision]</c>.</summary>
    /// <param name="text">The text to parse; null or empty gives false.</param>
    /// <param name="id">The id when the text is valid, otherwise <c>default</c>.</param>
    /// <returns>True when <paramref name="text"/> is a valid model id.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, out ModelId id)
    {
        id = default;
        if (string.IsNullOrEmpty(text) || text[0] is '.' or '/' or '~')
        {
            return false;
        }

        string repo = text;
        string revision = DefaultRevision;
        int at = text.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            repo = text[..at];
            revision = text[(at + 1)..];
            if (!IsValidRevision(revision))
            {
                return false;
            }
        }

        int slash = repo.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || repo.IndexOf('/', slash + 1) >= 0)
        {
            return false;
        }

        string owner = repo[..slash];
        string name = repo[(slash + 1)..];
        if (!IsValidPart(owner) || !IsValidPart(name))
        {
            return false;
        }

        id = new ModelId(owner, name, revision);
        return true;
    }

    /// <summary>The same repository at another revision.</summary>
    /// <param name="revision">A branch, tag or commit hash.</param>
    /// <returns>A copy of this id with <see cref="Revision"/> replaced.</returns>
    /// <exception cref="ArgumentException"><paramref name="revision"/> is not a valid revision.</exception>
    public ModelId WithRevision(string revision)
    {
        if (!IsValidRevision(revision))
        {
            throw new ArgumentException($"'{revision}' is not a valid revision: use a branch, tag or commit hash.", nameof(revision));
        }

        return this with { Revision = revision };
    }

    /// <summary>The id as <c>owner/name@revision</c>, the form <see cref="Parse"/> reads back.</summary>
    /// <returns>The text form of the id.</returns>
    public override string ToString() => Owner + "/" + Name + "@" + Revision;

    /// <summary>True when <paramref name="text"/> is a full commit hash: exactly 40 lower-case hex digits.</summary>
    internal static bool IsCommitHash(string? text)
    {
        if (text is null || text.Length != 40)
        {
            return false;
        }

        foreach (char c in text)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A revision: 1..256 characters of [A-Za-z0-9._-/], no empty, '.' or '..' segment.</summary>
    internal static bool IsValidRevision(string? revision)
    {
        if (string.IsNullOrEmpty(revision) || revision.Length > MaxRevisionLength)
        {
            return false;
        }

        foreach (string segment in revision.Split('/'))
        {
            if (segment.Length == 0 || segment is "." or ".." || !AllSafeChars(segment))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsValidPart(string part) =>
        part.Length is > 0 and <= MaxPartLength
        && AllSafeChars(part)
        && part[0] is not ('.' or '-')
        && part[^1] is not ('.' or '-')
        && !part.Contains("--", StringComparison.Ordinal)
        && !part.Contains("..", StringComparison.Ordinal);

    private static bool AllSafeChars(string text)
    {
        foreach (char c in text)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }
}
