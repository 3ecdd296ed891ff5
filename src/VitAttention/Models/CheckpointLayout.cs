namespace VitAttention.Models;

/// <summary>Which tensor names a checkpoint uses (the reader's name map); <see cref="Auto"/> follows <see cref="VitConfig.Family"/>.</summary>
internal enum CheckpointLayout
{
    /// <summary>Hugging Face ViT/DeiT names for <see cref="ModelFamily.HuggingFace"/>, timm names for <see cref="ModelFamily.Timm"/>.</summary>
    Auto,

    /// <summary>transformers ViT: <c>vit.embeddings.*</c>, <c>vit.encoder.layer.N.*</c>, <c>classifier.*</c>.</summary>
    HfVit,

    /// <summary>transformers DeiT: <c>deit.*</c>, <c>cls_classifier</c> / <c>distillation_classifier</c>.</summary>
    HfDeit,

    /// <summary>transformers DINOv2: <c>[dinov2.]embeddings.*</c>, <c>encoder.layer.N.norm1 / layer_scale1.lambda1 / mlp.fc1</c>.</summary>
    HfDinov2,

    /// <summary>transformers DINOv2 with registers: as DINOv2 under <c>dinov2_with_registers.</c>, plus <c>embeddings.register_tokens</c>.</summary>
    HfDinov2WithRegisters,

    /// <summary>transformers CLIP vision tower: <c>vision_model.embeddings.class_embedding</c>, <c>pre_layrnorm</c>, <c>encoder.layers.N.self_attn.q_proj</c>.</summary>
    HfClip,

    /// <summary>transformers BEiT: <c>beit.*</c>, <c>attention.attention.relative_position_bias.*</c>, <c>lambda_1</c>.</summary>
    HfBeit,

    /// <summary>transformers data2vec-vision: BEiT's names under <c>data2vec_vision.</c>.</summary>
    HfData2VecVision,

    /// <summary>timm <c>VisionTransformer</c>: <c>blocks.N.attn.qkv</c>, <c>ls1.gamma</c>, <c>norm_pre</c>.</summary>
    Timm,
}
