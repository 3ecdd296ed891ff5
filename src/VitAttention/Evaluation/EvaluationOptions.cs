namespace VitAttention.Evaluation;

/// <summary>
/// What a faithfulness run measures and how. Immutable; change with <c>with</c>. The random-map baseline is always
/// evaluated beside <see cref="Methods"/>.
/// </summary>
internal sealed record EvaluationOptions
{
    /// <summary>The defaults: rollout, all four tests, deletion to zeros, insertion from the blur, one patch per step.</summary>
    public static EvaluationOptions Default { get; } = new();

    /// <summary>Methods to evaluate, by name (default rollout); the random baseline is added after them.</summary>
    public IReadOnlyList<string> Methods { get; init; } = ["rollout"];

    /// <summary>Tests to run (default all four).</summary>
    public IReadOnlyList<FaithfulnessMetric> Metrics { get; init; } = FaithfulnessMetrics.All;

    /// <summary>What deleted patches become (default <see cref="Substrate.Zero"/>, as RISE).</summary>
    public Substrate DeletionSubstrate { get; init; } = Substrate.Zero;

    /// <summary>The image insertion starts from (default <see cref="Substrate.Blur"/>, as RISE).</summary>
    public Substrate InsertionSubstrate { get; init; } = Substrate.Blur;

    /// <summary>Patches changed per deletion/insertion step (default 1); ignored when <see cref="Steps"/> is set.</summary>
    public int PatchesPerStep { get; init; } = 1;

    /// <summary>
    /// Deletion/insertion steps instead of a step size: each step then changes ⌈patches / Steps⌉ patches (the last
    /// fewer), so a run costs about Steps forward passes per method and test. Null (default) uses <see cref="PatchesPerStep"/>.
    /// </summary>
    public int? Steps { get; init; }

    /// <summary>Perturbed copies per forward pass (default 16).</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Seed of the random-map baseline (default 0).</summary>
    public ulong RandomSeed { get; init; }

    /// <summary>
    /// Which class class-specific methods explain: false (default) the class predicted on the image (Chefer et al.'s
    /// "predicted"), true the label when one is given (their "target").
    /// </summary>
    public bool ExplainLabel { get; init; }

    /// <summary>
    /// True: an image that cannot be loaded is reported as failed and the run goes on; false (default): the error stops the run.
    /// </summary>
    public bool ContinueOnImageError { get; init; }

    /// <summary>The step size for a model with <paramref name="patches"/> patches.</summary>
    public int PatchesPerStepFor(int patches) => Steps is { } s ? (patches + s - 1) / s : PatchesPerStep;

    /// <summary>Checks every option; the message names the option and the fix.</summary>
    /// <exception cref="ArgumentException">An option is out of range, or a method or test is listed twice or named "random".</exception>
    public void Validate()
    {
        if (Methods is null || Metrics is null || Metrics.Count == 0)
        {
            throw new ArgumentException("Methods may be empty (random only) but not null, and Metrics needs at least one test.");
        }

        if (Methods.Distinct(StringComparer.Ordinal).Count() != Methods.Count || Methods.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException($"Methods must be distinct, non-empty names; got {string.Join(", ", Methods)}.");
        }

        if (Methods.Contains(RandomMap.MethodName))
        {
            throw new ArgumentException($"'{RandomMap.MethodName}' is the baseline every run reports; leave it out of Methods.");
        }

        if (Metrics.Distinct().Count() != Metrics.Count || Metrics.Any(m => !Enum.IsDefined(m)))
        {
            throw new ArgumentException("Metrics must be distinct, defined tests.");
        }

        if (PatchesPerStep < 1 || Steps is < 1)
        {
            throw new ArgumentException($"PatchesPerStep ({PatchesPerStep}) and Steps ({Steps}) must be at least 1.");
        }

        if (BatchSize is < 1 or > 4096)
        {
            throw new ArgumentException($"BatchSize must be within 1..4096, got {BatchSize}.");
        }

        if (!Enum.IsDefined(DeletionSubstrate) || !Enum.IsDefined(InsertionSubstrate))
        {
            throw new ArgumentException("DeletionSubstrate and InsertionSubstrate must be defined substrates (zero, blur or mean).");
        }
    }
}
