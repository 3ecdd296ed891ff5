using VitAttention.Inference;

namespace VitAttention.Rollout;

/// <summary>
/// Settings of an attention rollout. Immutable; change one with <c>with</c>:
/// <c>RolloutOptions.Default with { Fusion = HeadFusion.Max, DiscardRatio = 0.9f }</c>.
/// The defaults reproduce Abnar &amp; Zuidema (2020): mean over heads, Ã = rownorm(0.5·A + 0.5·I), every layer,
/// the CLS token's row.
/// </summary>
public sealed record RolloutOptions
{
    /// <summary>The defaults: mean fusion, α = 0.5, no discard, layers 1 to the last, query token 0, one prefix token, checked inputs, every core for the full matrix.</summary>
    public static RolloutOptions Default { get; } = new();

    /// <summary>How each layer's heads are combined. Default <see cref="HeadFusion.Mean"/>.</summary>
    public HeadFusion Fusion { get; init; } = HeadFusion.Mean;

    /// <summary>
    /// α in Ã = rownorm(α·fuse(A) + (1 − α)·I): the weight of the attention; the identity (the residual connection)
    /// gets 1 − α. In [0, 1]; default 0.5. With α = 1 a row whose fused total is 0 (min fusion, discard) is replaced
    /// by the identity row instead of dividing by zero.
    /// </summary>
    public float ResidualAlpha { get; init; } = 0.5f;

    /// <summary>
    /// Fraction of each fused matrix's patch-to-patch entries set to zero before the residual is added, lowest
    /// first. In [0, 1); default 0 (nothing discarded). Exactly ⌊ratio · (tokens − prefix)²⌋ entries of the block
    /// with row ≥ <see cref="PrefixTokens"/> and column ≥ <see cref="PrefixTokens"/> are zeroed (ties broken in
    /// row-major order); the prefix tokens' rows and columns, diagonal included, are never discarded. (vit-explain
    /// spares only the single entry [0, 0] and counts the whole matrix.)
    /// </summary>
    public float DiscardRatio { get; init; }

    /// <summary>
    /// First layer of the product, one-based as in every figure and JSON document (the rightmost factor). Default 1.
    /// </summary>
    public int FirstLayer { get; init; } = 1;

    /// <summary>
    /// Last layer of the product, one-based and inclusive (the leftmost factor); null (the default) means the model's
    /// last layer.
    /// </summary>
    public int? LastLayer { get; init; }

    /// <summary>Zero-based index of <see cref="FirstLayer"/> in an attention stack.</summary>
    internal int StartLayer => FirstLayer - 1;

    /// <summary>Zero-based index of <see cref="LastLayer"/> in an attention stack; null means the last.</summary>
    internal int? EndLayer => LastLayer - 1;

    /// <summary>
    /// The token whose row <see cref="RolloutEngine.RolloutRow"/> returns and whose attention every layer's map shows,
    /// as a zero-based token position (0 is CLS in models that have one; patches follow the prefix tokens). Default 0.
    /// </summary>
    public int QueryToken { get; init; }

    /// <summary>
    /// Leading tokens that are not patches (CLS; DeiT's distillation token; registers). Default 1. They are spared by
    /// <see cref="DiscardRatio"/> and dropped from maps.
    /// </summary>
    public int PrefixTokens { get; init; } = 1;

    /// <summary>
    /// True when the caller vouches that the tensors come straight from a softmax: the check that every row sums to
    /// 1 (within <see cref="RolloutEngine.RowSumTolerance"/>) is skipped. NaN, infinity and negative values are
    /// still rejected. Default false.
    /// </summary>
    public bool InputsAreSoftmax { get; init; }

    /// <summary>
    /// Threads a call may use; default <see cref="Environment.ProcessorCount"/> (as numpy's OpenBLAS and ONNX
    /// Runtime use every core by default). With 2 or more, <see cref="RolloutEngine.RolloutMatrix"/> splits the layers
    /// into two chains built on two threads (the caller and one thread-pool work item; no allocation) and multiplies
    /// them at the end (faster on two idle cores; see docs/benchmarks/rollout.md). It never uses more than two, and a helper
    /// the busy pool has not started in time is skipped rather than waited for. The row, layer and map methods
    /// (all an overlay needs) and the <see cref="DiscardRatio"/> path always run on the calling thread. Set 1 when you
    /// already run one engine per core.
    /// </summary>
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>Zero-based index of the last layer actually used for a stack of <paramref name="layers"/> layers.</summary>
    internal int ResolveEndLayer(int layers) => EndLayer ?? (layers - 1);

    /// <summary>Throws when a setting does not fit the shape.</summary>
    /// <param name="shape">The attention stack the rollout will run on.</param>
    /// <exception cref="ArgumentException">A setting is out of range; the message names it and its valid range.</exception>
    public void Validate(AttentionShape shape)
    {
        if (!(ResidualAlpha >= 0f && ResidualAlpha <= 1f))
        {
            throw new ArgumentException($"RolloutOptions.ResidualAlpha must be in [0, 1], got {ResidualAlpha}.", nameof(ResidualAlpha));
        }

        if (!(DiscardRatio >= 0f && DiscardRatio < 1f))
        {
            throw new ArgumentException($"RolloutOptions.DiscardRatio must be in [0, 1), got {DiscardRatio}.", nameof(DiscardRatio));
        }

        if (FirstLayer < 1 || FirstLayer > shape.Layers)
        {
            throw new ArgumentException(
                $"RolloutOptions.FirstLayer must be a layer number from 1 to {shape.Layers} (one-based), got {FirstLayer}.",
                nameof(FirstLayer));
        }

        int last = LastLayer ?? shape.Layers;
        if (last < FirstLayer || last > shape.Layers)
        {
            throw new ArgumentException(
                $"RolloutOptions.LastLayer must be a layer number from FirstLayer ({FirstLayer}) to {shape.Layers} (one-based, inclusive), got {last}.",
                nameof(LastLayer));
        }

        if (QueryToken < 0 || QueryToken >= shape.Tokens)
        {
            throw new ArgumentException(
                $"RolloutOptions.QueryToken must be in [0, {shape.Tokens - 1}] for {shape.Tokens} tokens, got {QueryToken}.", nameof(QueryToken));
        }

        if (PrefixTokens < 0 || PrefixTokens >= shape.Tokens)
        {
            throw new ArgumentException(
                $"RolloutOptions.PrefixTokens must be in [0, {shape.Tokens - 1}] for {shape.Tokens} tokens, got {PrefixTokens}.", nameof(PrefixTokens));
        }

        if (MaxDegreeOfParallelism < 1)
        {
            throw new ArgumentException(
                $"RolloutOptions.MaxDegreeOfParallelism must be at least 1, got {MaxDegreeOfParallelism}.", nameof(MaxDegreeOfParallelism));
        }
    }
}
