namespace VitAttention.Models;

/// <summary>
/// One timm <c>VisionTransformer</c> architecture as timm's model registry defines it (the <c>model_args</c> of its
/// <c>@register_model</c> function; timm <c>VisionTransformer</c>'s defaults otherwise). Hub configs name the
/// architecture but carry no <c>model_args</c>, so these are where the dimensions and flags come from.
/// </summary>
/// <param name="Name">The registered name, e.g. <c>vit_base_patch14_reg4_dinov2</c>.</param>
/// <param name="EmbedDim">embed_dim.</param>
/// <param name="Depth">depth.</param>
/// <param name="Heads">num_heads.</param>
/// <param name="Patch">patch_size.</param>
internal sealed record TimmArchitecture(string Name, int EmbedDim, int Depth, int Heads, int Patch)
{
    /// <summary>mlp_ratio (MLP width is <c>int(embed_dim · mlp_ratio)</c>).</summary>
    public double MlpRatio { get; init; } = 4.0;

    /// <summary>class_token.</summary>
    public bool ClassToken { get; init; } = true;

    /// <summary>reg_tokens.</summary>
    public int RegTokens { get; init; }

    /// <summary>no_embed_class: the position embedding covers the patches only.</summary>
    public bool NoEmbedClass { get; init; }

    /// <summary>pre_norm: <c>norm_pre</c> after the embedding, and no patch-embedding bias.</summary>
    public bool PreNorm { get; init; }

    /// <summary>init_values: LayerScale (<c>ls1.gamma</c>, <c>ls2.gamma</c>) when set.</summary>
    public double? InitValues { get; init; }

    /// <summary>qkv_bias.</summary>
    public bool QkvBias { get; init; } = true;

    /// <summary>global_pool: <c>token</c> or <c>avg</c>.</summary>
    public string GlobalPool { get; init; } = "token";

    /// <summary>fc_norm; null means "when global_pool is avg".</summary>
    public bool? FcNorm { get; init; }

    /// <summary>act_layer.</summary>
    public VitActivation Activation { get; init; } = VitActivation.Gelu;

    /// <summary>The LayerNorm epsilon (1e-6; CLIP towers 1e-5).</summary>
    public double Eps { get; init; } = 1e-6;

    /// <summary>DeiT's distilled variant (<c>VisionTransformerDistilled</c>, a distillation token and head).</summary>
    public bool Distilled { get; init; }

    /// <summary>Why VitAttention cannot build it (a part it does not implement), or null.</summary>
    public string? Unsupported { get; init; }

    /// <summary>The family the name belongs to, for listing known names.</summary>
    public string Family => Name switch
    {
        _ when Name.StartsWith("deit3_", StringComparison.Ordinal) => "DeiT-III",
        _ when Name.StartsWith("deit_", StringComparison.Ordinal) => "DeiT",
        _ when Name.Contains("_dinov2", StringComparison.Ordinal) => "DINOv2",
        _ when Name.Contains("_clip_", StringComparison.Ordinal) => "CLIP image towers",
        _ when Name.Contains("siglip", StringComparison.Ordinal) => "SigLIP towers",
        _ when Name.Contains("_gap_", StringComparison.Ordinal) || Name.Contains("_reg", StringComparison.Ordinal) => "no class token / registers",
        _ => "ViT",
    };
}
