namespace VitAttention.Evaluation;

/// <summary>
/// A faithfulness test: how a map's ranking of the input is used to perturb the image, and what is measured.
/// </summary>
internal enum FaithfulnessMetric
{
    /// <summary>
    /// Chefer et al. (2021) positive perturbation: the most relevant 10 %, 20 %, …, 90 % of pixels are blacked out;
    /// top-1 accuracy is measured at each step. A faithful map makes accuracy fall fast: lower AUC is better.
    /// </summary>
    PositivePerturbation,

    /// <summary>
    /// Chefer et al. (2021) negative perturbation: the least relevant pixels are blacked out first. A faithful map
    /// keeps accuracy up: higher AUC is better.
    /// </summary>
    NegativePerturbation,

    /// <summary>
    /// Petsiuk et al. (2018, RISE) deletion: patches are replaced by a substrate in order of the map, most relevant
    /// first; the probability of the originally predicted class is measured. Lower AUC is better.
    /// </summary>
    Deletion,

    /// <summary>
    /// Petsiuk et al. (2018, RISE) insertion: patches of the original are inserted into a blurred image in order of the
    /// map, most relevant first; the probability of the originally predicted class is measured. Higher AUC is better.
    /// </summary>
    Insertion,
}
