namespace VitAttention.Evaluation;

/// <summary>
/// <see cref="IMapProvider"/> over a <see cref="VitExplainer"/>: "rollout" (the attention rollout of Abnar and
/// Zuidema 2020, with the explain options' rollout settings) and "attention" (the final layer's CLS attention, mean
/// over heads). Both are class-agnostic. One forward pass per image serves both.
/// </summary>
internal sealed class ExplainerMapProvider : IMapProvider
{
    /// <summary>The rollout method's name.</summary>
    public const string Rollout = "rollout";

    /// <summary>The final-layer attention method's name.</summary>
    public const string Attention = "attention";

    private readonly VitExplainer _explainer;
    private readonly ExplainOptions _options;

    /// <summary>Maps from an explainer; the caller keeps ownership of it.</summary>
    public ExplainerMapProvider(VitExplainer explainer, ExplainOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(explainer);
        _explainer = explainer;
        _options = options ?? ExplainOptions.Default;
    }

    /// <inheritdoc />
    public IReadOnlyList<string> Methods { get; } = [Rollout, Attention];

    /// <inheritdoc />
    public IReadOnlyList<float[]> Maps(IReadOnlyList<string> methods, ReadOnlySpan<float> pixels, int targetClass, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(methods);
        foreach (string m in methods)
        {
            if (!Methods.Contains(m))
            {
                throw new ArgumentException($"method '{m}' is not available here; available: {string.Join(", ", Methods)}.", nameof(methods));
            }
        }

        using var explanation = _explainer.ExplainPixels(pixels, _options, cancellationToken)[0];
        return methods.Select(m => m == Rollout ? explanation.Rollout.ToArray() : explanation.Layers[^1].ClsMap.ToArray()).ToList();
    }
}
