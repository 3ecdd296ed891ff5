using VitAttention.Analysis;
using VitAttention.Inference;
using VitAttention.Rendering;
using VitAttention.Rollout;

namespace VitAttention;

/// <summary>What an explanation computes and how its figures look. Immutable; change with <c>with</c>.</summary>
public sealed record ExplainOptions
{
    /// <summary>Top 5 classes, mean-fusion rollout, focus by concentration, top 3 layers, jet at α = 0.6.</summary>
    public static ExplainOptions Default { get; } = new();

    /// <summary>How many classes <see cref="Explanation.Predictions"/> lists (1 or more; default 5).</summary>
    public int TopK { get; init; } = 5;

    /// <summary>
    /// Rollout settings: head fusion, residual weight, discard ratio, start and end layer, query token. The prefix
    /// token count is always taken from the model, whatever this says.
    /// </summary>
    public RolloutOptions Rollout { get; init; } = RolloutOptions.Default;

    /// <summary>
    /// One-based layers for the side-by-side figure; null picks the first, the middle and the last
    /// (1, 6 and 12 for a 12-layer model).
    /// </summary>
    public IReadOnlyList<int>? Layers { get; init; }

    /// <summary>How many of the most focused layers the focused-layers figure shows (default 3).</summary>
    public int FocusedTop { get; init; } = LayerFocus.DefaultTopK;

    /// <summary>
    /// The region the study cares about (a rectangle or mask in photo pixels). With one, a layer's focus is the share of
    /// its CLS attention inside the region; without one, its concentration (1 − normalised entropy).
    /// </summary>
    public RegionOfInterest? RegionOfInterest { get; init; }

    /// <summary>
    /// Whether the explanation keeps its image's whole attention stack, <c>[layer, 1, head, tokens, tokens]</c>, as
    /// <see cref="Explanation.Attentions"/> (a copy of the image's slice of the batch; 21 MB at ViT-B/16). Default
    /// false: the explanation keeps only the maps, the rollout and each head's query row, so holding many explanations
    /// costs little.
    /// </summary>
    public bool KeepAttentions { get; init; }

    /// <summary>
    /// How the figures look: colormap, opacity, upsampling, clipping and colour bar (<see cref="FigureOptions.Overlay"/>),
    /// panel sizes, fonts and titles.
    /// </summary>
    public FigureOptions Figure { get; init; } = FigureOptions.Default;

    /// <summary>Throws when an option is out of range for a model with <paramref name="layers"/> layers.</summary>
    /// <param name="layers">The model's layer count.</param>
    /// <exception cref="ArgumentException">An option is out of range; the message names it.</exception>
    public void Validate(int layers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(TopK, 1, nameof(TopK));
        ArgumentOutOfRangeException.ThrowIfLessThan(FocusedTop, 1, nameof(FocusedTop));
        ArgumentNullException.ThrowIfNull(Rollout);
        ArgumentNullException.ThrowIfNull(Figure);
        Figure.Validate();
        if (Layers is not null)
        {
            if (Layers.Count == 0)
            {
                throw new ArgumentException("Layers is empty; give at least one one-based layer number, or null for the default.", nameof(Layers));
            }

            CheckLayerNumbers(Layers, layers, nameof(Layers));
        }
    }

    /// <summary>Throws when a one-based layer number is outside 1..<paramref name="layers"/>.</summary>
    internal static void CheckLayerNumbers(IReadOnlyList<int> numbers, int layers, string parameter)
    {
        foreach (int layer in numbers)
        {
            if (layer < 1 || layer > layers)
            {
                throw new ArgumentException($"Layer {layer} does not exist: this model's layers are numbered 1 to {layers}.", parameter);
            }
        }
    }

    /// <summary>The one-based layers for the side-by-side figure of a model with <paramref name="layers"/> layers.</summary>
    /// <param name="layers">The model's layer count.</param>
    /// <returns><see cref="Layers"/>, or the first, middle and last layer when it is null.</returns>
    public IReadOnlyList<int> LayersFor(int layers) =>
        Layers ?? (layers switch
        {
            1 => [1],
            2 => [1, 2],
            _ => [1, (layers + 1) / 2, layers],
        });
}
