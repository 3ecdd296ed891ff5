namespace VitAttention.Evaluation;

/// <summary>
/// What a removed patch becomes in the deletion and insertion tests (Petsiuk et al. 2018). Every substrate is defined
/// in the model's normalised input space, as RISE applies it to the normalised tensor.
/// </summary>
internal enum Substrate
{
    /// <summary>Zero in normalised space: the normalisation mean, a mid grey for mean 0.5 (RISE's deletion).</summary>
    Zero,

    /// <summary>
    /// The image blurred by RISE's kernel (11 × 11, σ = 5, per channel, zero padding in normalised space): RISE's
    /// insertion start.
    /// </summary>
    Blur,

    /// <summary>Each channel's mean over the image itself (normalised space).</summary>
    Mean,
}
