namespace VitAttention.Models;

/// <summary>Token layout and classifier head of a ViT (the part of the config that decides which tensors exist).</summary>
public sealed partial record VitConfig
{
    /// <summary>Whether the sequence starts with a learned class token (true for every known classifier but timm <c>class_token=False</c>).</summary>
    public bool HasClassToken { get; init; } = true;

    /// <summary>Whether a learned distillation token follows the class token (DeiT distilled; two prefix tokens).</summary>
    public bool HasDistillationToken { get; init; }

    /// <summary>Learned register tokens after the class and distillation tokens (timm <c>reg_tokens</c>).</summary>
    public int RegisterTokens { get; init; }

    /// <summary>
    /// Whether the position embedding covers the prefix tokens too (true: it has <see cref="Tokens"/> rows and is added
    /// after the prefix is prepended) or only the patches (timm <c>no_embed_class=True</c>: <see cref="Patches"/> rows,
    /// added before the prefix is prepended).
    /// </summary>
    public bool PositionEmbeddingCoversPrefix { get; init; } = true;

    /// <summary>How the classifier reads the final sequence.</summary>
    public VitPooling Pooling { get; init; } = VitPooling.ClassToken;

    /// <summary>
    /// Whether the final LayerNorm is applied after pooling (timm <c>fc_norm</c>, used with average pooling) instead of
    /// to every token before pooling.
    /// </summary>
    public bool NormAfterPooling { get; init; }

    /// <summary>The ViT-B/16 classifier at 224 px: patch 16, hidden 768, 12 layers, 12 heads, MLP 3072, 1000 classes, eps 1e-12.</summary>
    public static VitConfig VitB16() => new()
    {
        Family = ModelFamily.HuggingFace,
        ImageHeight = 224,
        ImageWidth = 224,
        PatchSize = 16,
        HiddenSize = 768,
        NumLayers = 12,
        NumHeads = 12,
        IntermediateSize = 3072,
        LayerNormEps = 1e-12,
        NumClasses = 1000,
    };

    /// <summary>
    /// Rows of the checkpoint's position embedding: <see cref="PositionEmbeddingPrefixRows"/> plus the trained grid's
    /// patches (<see cref="Tokens"/> for a plain ViT at its training size, <see cref="Patches"/> when the embedding does
    /// not cover the prefix); 0 when the model has none.
    /// </summary>
    public int PositionEmbeddingRows => HasPositionEmbedding ? PositionEmbeddingPrefixRows + (TrainedGridHeight * TrainedGridWidth) : 0;

    /// <summary>
    /// Checks that the token layout is consistent: <see cref="PrefixTokens"/> equals class + distillation + register
    /// tokens, the pooling has the tokens it reads, and <see cref="Validate"/>'s dimension rules hold.
    /// </summary>
    /// <param name="source">What the config came from, for the message.</param>
    /// <exception cref="ModelFormatException">The layout is inconsistent; the message names the property.</exception>
    public void ValidateLayout(string source)
    {
        Validate(source);
        int prefix = (HasClassToken ? 1 : 0) + (HasDistillationToken ? 1 : 0) + RegisterTokens;
        if (RegisterTokens < 0 || RegisterTokens > 64)
        {
            throw new ModelFormatException($"{source}: register token count {RegisterTokens} must be between 0 and 64.");
        }

        if (prefix != PrefixTokens)
        {
            throw new ModelFormatException(
                $"{source}: PrefixTokens is {PrefixTokens} but the layout has {prefix} (class token {HasClassToken}, distillation token {HasDistillationToken}, {RegisterTokens} registers); set HasClassToken / HasDistillationToken / RegisterTokens to match.");
        }

        if (Pooling == VitPooling.ClassToken && !HasClassToken && NumClasses > 0)
        {
            throw new ModelFormatException($"{source}: class-token pooling needs a class token (timm global_pool='token' with class_token=False); use global_pool='avg'.");
        }

        if (Pooling == VitPooling.ClassAndDistillationMean && !(HasClassToken && HasDistillationToken))
        {
            throw new ModelFormatException($"{source}: the distilled head needs both a class and a distillation token.");
        }

        if (Pooling == VitPooling.ClassAndPatchMean && !HasClassToken)
        {
            throw new ModelFormatException($"{source}: the class-and-patch-mean head (DINOv2's classifier) needs a class token.");
        }

        if (RegistersAfterPositionEmbedding && !(HasClassToken && PositionEmbeddingCoversPrefix))
        {
            throw new ModelFormatException($"{source}: registers inserted after the position embedding need a class token that the position embedding covers.");
        }

        if (RelativePositionBias != RelativePositionBiasKind.None && !(HasClassToken && PrefixTokens == 1))
        {
            throw new ModelFormatException($"{source}: a relative position bias (BEiT) needs exactly one prefix token, the class token; this layout has {PrefixTokens}.");
        }

        if ((PositionGridHeight is null) != (PositionGridWidth is null) || PositionGridHeight is <= 0 or > 1024 || PositionGridWidth is <= 0 or > 1024)
        {
            throw new ModelFormatException($"{source}: the trained position grid {PositionGridHeight}×{PositionGridWidth} must have both sides set, between 1 and 1024, or neither.");
        }
    }
}
