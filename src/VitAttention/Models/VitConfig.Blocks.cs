namespace VitAttention.Models;

/// <summary>
/// The parts of a ViT that differ between families (DINOv2, DeiT-III, CLIP, BEiT) beyond the token layout: block
/// extras, normalisation placement, and the position embedding's own grid when the input grid differs from it.
/// </summary>
public sealed partial record VitConfig
{
    /// <summary>The MLP's activation. Default exact GELU.</summary>
    internal VitActivation Activation { get; init; } = VitActivation.Gelu;

    /// <summary>
    /// Whether each block scales its attention and MLP outputs by learned per-channel factors before the residual add
    /// (LayerScale: timm <c>init_values</c> → <c>blocks.N.ls1.gamma</c>; DINOv2 <c>layer_scale1.lambda1</c>; BEiT
    /// <c>lambda_1</c>).
    /// </summary>
    internal bool LayerScale { get; init; }

    /// <summary>Whether a LayerNorm follows the embedding, before the first block (timm <c>pre_norm</c> → <c>norm_pre</c>; CLIP <c>pre_layrnorm</c>).</summary>
    internal bool PreNorm { get; init; }

    /// <summary>Whether the patch-embedding convolution has a bias (false for CLIP towers).</summary>
    internal bool PatchEmbeddingBias { get; init; } = true;

    /// <summary>Whether the model has an absolute position embedding (false for BEiT, which uses relative position biases).</summary>
    internal bool HasPositionEmbedding { get; init; } = true;

    /// <summary>
    /// Whether the register tokens are inserted after the position embedding is added, so that the position embedding
    /// has rows for the class token and the patches only (Hugging Face <c>Dinov2WithRegistersModel</c>). timm's register
    /// models instead use <see cref="PositionEmbeddingCoversPrefix"/> false.
    /// </summary>
    internal bool RegistersAfterPositionEmbedding { get; init; }

    /// <summary>The learned relative position bias added to the attention logits, if any (BEiT, data2vec-vision).</summary>
    internal RelativePositionBiasKind RelativePositionBias { get; init; }

    /// <summary>
    /// Rows of the patch grid the checkpoint's position embedding (and relative position tables) were trained for, when
    /// it differs from <see cref="GridHeight"/> (the grid of this graph's input); null when they are the same. The
    /// table is interpolated to the input grid when the graph is built, as the family's reference code does at run time.
    /// </summary>
    internal int? PositionGridHeight { get; init; }

    /// <summary>Columns of the trained position grid; see <see cref="PositionGridHeight"/>.</summary>
    internal int? PositionGridWidth { get; init; }

    /// <summary>
    /// How the position embedding is resized when <see cref="PositionGridHeight"/> differs from the input grid, in float32
    /// with <c>align_corners=False</c>: bicubic with antialiasing (timm's <c>resample_abs_pos_embed</c>, transformers'
    /// DINOv2 with registers), plain bicubic (transformers' ViT, DeiT, DINOv2, CLIP, BEiT) or bilinear (timm FlexiViT).
    /// </summary>
    internal GridInterpolation PositionInterpolation { get; init; } = GridInterpolation.Bicubic;

    /// <summary>
    /// Whether the checkpoint's head is an embedding projection rather than a classifier (timm's OpenCLIP towers keep the
    /// image projection as <c>head</c>): its tensors are read past, and the model explains attention without classes.
    /// </summary>
    internal bool HeadIsProjection { get; init; }

    /// <summary>The checkpoint's tensor names; <see cref="CheckpointLayout.Auto"/> follows <see cref="Family"/>.</summary>
    internal CheckpointLayout Checkpoint { get; init; }

    /// <summary>Rows of the checkpoint's position grid: <see cref="PositionGridHeight"/>, or <see cref="GridHeight"/>.</summary>
    internal int TrainedGridHeight => PositionGridHeight ?? GridHeight;

    /// <summary>Columns of the checkpoint's position grid: <see cref="PositionGridWidth"/>, or <see cref="GridWidth"/>.</summary>
    internal int TrainedGridWidth => PositionGridWidth ?? GridWidth;

    /// <summary>Prefix tokens that have a row in the position embedding (all of them, the class token only, or none).</summary>
    internal int PositionEmbeddingPrefixRows =>
        !HasPositionEmbedding || !PositionEmbeddingCoversPrefix ? 0 : RegistersAfterPositionEmbedding ? PrefixTokens - RegisterTokens : PrefixTokens;

    /// <summary>Rows of one relative position table: <c>(2·gh − 1)·(2·gw − 1) + 3</c> over the trained grid (the last three: class to patch, patch to class, class to class).</summary>
    internal int RelativePositionTableRows => ((2 * TrainedGridHeight) - 1) * ((2 * TrainedGridWidth) - 1) + 3;
}
