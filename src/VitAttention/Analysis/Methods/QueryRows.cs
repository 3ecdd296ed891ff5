namespace VitAttention.Analysis.Methods;

/// <summary>
/// The query rows a map is read from: one token (the CLS token, row 0, for models that classify from it), or the mean
/// of a range of rows (for models without a class token, which classify the mean of the patch tokens: the "CLS row"
/// of such a model is the mean of the patch rows, <see cref="Patches"/>).
/// </summary>
/// <param name="First">The first row.</param>
/// <param name="Count">How many consecutive rows are averaged (1 for one token).</param>
internal readonly record struct QueryRows(int First, int Count)
{
    /// <summary>One token's row.</summary>
    public static QueryRows Token(int token) => new(token, 1);

    /// <summary>The mean of the patch tokens' rows (every row after the prefix).</summary>
    public static QueryRows Patches(int prefix, int tokens) => new(prefix, tokens - prefix);

    /// <summary>Throws when the rows do not lie inside a [tokens, tokens] matrix.</summary>
    public void Validate(int tokens)
    {
        if (Count < 1 || First < 0 || First + Count > tokens)
        {
            throw new ArgumentOutOfRangeException(
                nameof(QueryRows), $"Query rows {First}..{First + Count - 1} are not inside the {tokens} tokens; pick a token in 0..{tokens - 1}.");
        }
    }
}
