namespace VitAttention;

/// <summary>One layer's CLS attention over the patch grid, with its focus score.</summary>
/// <param name="Layer">One-based layer number, as in every figure and JSON document.</param>
/// <param name="ClsMap">Head-mean attention of the query token (CLS unless changed) to each patch.</param>
/// <param name="Focus">The layer's focus score: share of mass in the region of interest, or concentration.</param>
public sealed record LayerAttention(int Layer, AttentionMap ClsMap, double Focus);
