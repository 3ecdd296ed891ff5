using VitAttention.Analysis;
using VitAttention.Analysis.Methods;
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
    /// Which explanation methods' maps <see cref="Explanation.Maps"/> holds; combine flags with <c>|</c>. Default
    /// <see cref="ExplanationMethod.Rollout"/> alone: no gradient graph is built. Any class-specific method (gradient
    /// rollout, transformer attribution, Grad-CAM, attention Grad-CAM) builds the model's gradient graph on first use
    /// (once per explainer) and runs one forward and backward pass per target class and batch. Gradient rollout uses
    /// <see cref="RolloutOptions.DiscardRatio"/>, transformer attribution starts at <see cref="RolloutOptions.FirstLayer"/>,
    /// and every method reads the rows of <see cref="RolloutOptions.QueryToken"/> (the mean of the patch rows for a
    /// model without a class token). <see cref="Explanation.Rollout"/> and the layer maps are computed whatever this says.
    /// </summary>
    public ExplanationMethod Method { get; init; } = ExplanationMethod.Rollout;

    /// <summary>
    /// The classes the class-specific methods explain: <see cref="TargetClass.Top"/> (default: the most probable class),
    /// <see cref="TargetClass.Index"/> or <see cref="TargetClass.Label"/>. Each class is one gradient pass; two classes
    /// give two maps per class-specific method. Ignored when <see cref="Method"/> asks for no class-specific method.
    /// </summary>
    public TargetClass TargetClass { get; init; } = TargetClass.Default;

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
        ArgumentNullException.ThrowIfNull(TargetClass);
        if (Method == 0 || (Method & ~MethodCatalog.Defined) != 0)
        {
            throw new ArgumentException(
                $"Method {(int)Method} is not a combination of explanation methods; use ExplanationMethod flags ({MethodCatalog.Names}), e.g. ExplanationMethod.Rollout | ExplanationMethod.TransformerAttribution.",
                nameof(Method));
        }

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

    /// <summary>
    /// Throws when an option cannot apply to <paramref name="config"/>'s model: a class-specific method for a model
    /// without a classifier, or a target class it does not have.
    /// </summary>
    /// <returns>The fixed target classes, or null when they are the top predicted ones (or no class-specific method is asked).</returns>
    internal int[]? ValidateFor(Models.VitConfig config)
    {
        Validate(config.NumLayers);
        if (!MethodCatalog.NeedsGradients(Method))
        {
            return null;
        }

        if (config.NumClasses == 0)
        {
            string asked = string.Join(", ", MethodCatalog.In(Method).Where(m => m.ClassSpecific).Select(m => m.Name));
            throw new ArgumentException(
                $"Method asks for class-specific maps ({asked}) but the model has no classifier (num_classes 0): it has no class to explain; use ExplanationMethod.Rollout or Attention.",
                nameof(Method));
        }

        return TargetClass.Resolve(config, nameof(TargetClass));
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
