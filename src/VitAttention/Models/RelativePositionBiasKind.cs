namespace VitAttention.Models;

/// <summary>Whether a learned relative position bias is added to the attention logits before the softmax (BEiT, data2vec-vision).</summary>
internal enum RelativePositionBiasKind
{
    /// <summary>No relative position bias (every ViT but BEiT's family).</summary>
    None,

    /// <summary>One table per block (<c>use_relative_position_bias</c>; fine-tuned BEiT and data2vec-vision classifiers).</summary>
    PerLayer,

    /// <summary>One table shared by every block (<c>use_shared_relative_position_bias</c>; BEiT pre-training checkpoints).</summary>
    Shared,
}
