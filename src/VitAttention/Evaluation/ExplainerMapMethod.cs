namespace VitAttention.Evaluation;

/// <summary>
/// One row of <see cref="ExplainerMapProvider"/>'s table: a method's name, how it changes the explain options so that
/// the explanation holds its map, and how its map is read from that explanation.
/// </summary>
/// <param name="Name">The name in <c>--methods</c>, results, tables and figures.</param>
/// <param name="ClassSpecific">True when the map depends on the explained class (the provider then passes the target class).</param>
/// <param name="Configure">
/// Adds what this method needs to the options of the one explanation an image gets (for example a method flag and the
/// target class); the identity for methods every explanation holds. Applied for each requested method in turn, so it
/// must add to the options, never replace what another method set.
/// </param>
/// <param name="Read">The method's map from the explanation, <c>[gridHeight, gridWidth]</c> row-major, for the target class.</param>
internal sealed record ExplainerMapMethod(
    string Name,
    bool ClassSpecific,
    Func<ExplainOptions, int, ExplainOptions> Configure,
    Func<Explanation, int, float[]> Read);
