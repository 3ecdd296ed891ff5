namespace VitAttention.Models;

/// <summary>Which reference pipeline a checkpoint comes from; it decides weight names and preprocessing.</summary>
public enum ModelFamily
{
    /// <summary>Hugging Face transformers <c>ViTForImageClassification</c> (names under <c>vit.</c> and <c>classifier.</c>).</summary>
    HuggingFace,

    /// <summary>timm <c>VisionTransformer</c> (fused <c>attn.qkv</c>, config with <c>model_args</c> / <c>pretrained_cfg</c>).</summary>
    Timm,

    /// <summary>An ONNX file whose origin is not known.</summary>
    Onnx,
}
