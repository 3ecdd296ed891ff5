namespace VitAttention;

/// <summary>
/// The explanation methods an <see cref="Explanation"/> can hold maps of (<see cref="ExplainOptions.Method"/>); combine
/// them with <c>|</c>. Class-agnostic methods (rollout, attention) give one map; class-specific ones (the gradient
/// methods) give one map per target class (<see cref="ExplainOptions.TargetClass"/>) and need one extra forward and
/// backward pass per class, in a gradient graph built the first time one is asked for.
/// </summary>
[Flags]
#pragma warning disable CA1008 // no "None": an explanation always holds at least one method
public enum ExplanationMethod
#pragma warning restore CA1008
{
    /// <summary>Attention rollout (Abnar &amp; Zuidema 2020) with <see cref="ExplainOptions.Rollout"/>'s settings; class-agnostic. CLI name <c>rollout</c>.</summary>
    Rollout = 1,

    /// <summary>The last layer's attention of the query token, mean over heads; class-agnostic. CLI name <c>attention</c>.</summary>
    Attention = 2,

    /// <summary>
    /// Gradient rollout (vit-explain's <c>grad_rollout</c>, its layer-order and normalisation bugs fixed): per layer
    /// mean_h(A ⊙ dA) with negatives set to 0, <see cref="Rollout.RolloutOptions.DiscardRatio"/> of the patch block
    /// discarded, (x + I) / 2, rows normalised, chained over layers. CLI name <c>gradient-rollout</c>.
    /// </summary>
    GradientRollout = 4,

    /// <summary>
    /// Transformer attribution (Chefer, Gur &amp; Wolf, ICCV 2021): R = I, R += mean_h((dA ⊙ A)⁺) · R for each layer
    /// from <see cref="Rollout.RolloutOptions.FirstLayer"/> on. CLI name <c>transformer-attribution</c>.
    /// </summary>
    TransformerAttribution = 8,

    /// <summary>
    /// Grad-CAM as pytorch-grad-cam computes it for a ViT: the last block's norm1 output over the patch tokens, weights
    /// the mean gradient over the patches, ReLU. CLI name <c>gradcam</c>.
    /// </summary>
    GradCam = 16,

    /// <summary>
    /// The attention Grad-CAM of Chefer et al.'s tables: mean_h(A_L[q, patches] · mean(dA_L[q, patches]))⁺ on the last
    /// layer. CLI name <c>attention-gradcam</c>.
    /// </summary>
    AttentionGradCam = 32,

    /// <summary>
    /// Attention flow (Abnar &amp; Zuidema 2020): the exact maximum flow from the query token through the layered graph
    /// of (A + I)/2 capacities (the rollout options' fusion, α, discard and layer range) to each input token, divided
    /// by the total over all tokens. Class-agnostic. CLI name <c>flow</c>; cost and meaning in docs/benchmarks/flow.md.
    /// </summary>
    Flow = 64,
}
