namespace VitAttention.Models;

/// <summary>How the classifier reads the final token sequence.</summary>
public enum VitPooling
{
    /// <summary>The class token (token 0): Hugging Face ViT, timm <c>global_pool='token'</c>.</summary>
    ClassToken,

    /// <summary>
    /// DeiT distilled: the class head on token 0 and the distillation head on token 1, averaged (the inference output
    /// of <c>DeiTForImageClassificationWithTeacher</c> and timm's <c>VisionTransformerDistilled</c>).
    /// </summary>
    ClassAndDistillationMean,

    /// <summary>The mean of the patch tokens (the tokens after the prefix): timm <c>global_pool='avg'</c>.</summary>
    MeanOfPatches,
}
