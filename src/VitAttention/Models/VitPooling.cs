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

    /// <summary>
    /// The mean of the patch tokens (the tokens after the prefix): timm <c>global_pool='avg'</c>, BEiT's mean pooling.
    /// Models without a class token have their maps and rollout read as the mean over every patch query.
    /// </summary>
    MeanOfPatches,

    /// <summary>
    /// The class token concatenated with the mean of the patch tokens, <c>[CLS, mean(patches)]</c>, into a classifier of
    /// twice the width (transformers <c>Dinov2ForImageClassification</c>; registers are not patches).
    /// </summary>
    ClassAndPatchMean,
}
