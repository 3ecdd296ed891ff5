namespace VitAttention;

/// <summary>One layer's attention of the query token over the patch grid, with its focus score.</summary>
/// <param name="Layer">One-based layer number, as in every figure and JSON document.</param>
/// <param name="Map">
/// The head-mean attention of the query token (<see cref="Rollout.RolloutOptions.QueryToken"/>: CLS unless changed) to
/// each patch.
/// </param>
/// <param name="Focus">The layer's focus score: share of mass in the region of interest, or concentration.</param>
public sealed record LayerAttention(int Layer, AttentionMap Map, double Focus);
