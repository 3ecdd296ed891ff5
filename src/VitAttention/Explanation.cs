using SkiaSharp;
using VitAttention.Analysis;
using VitAttention.Inference;
using VitAttention.Models;

namespace VitAttention;

/// <summary>
/// Why the model decided what it decided, for one image: the top classes, every layer's CLS attention map, the
/// attention rollout, and the focus of each layer; it draws the study's figures and writes the numbers as JSON.
/// Holds the oriented photo: dispose it (or use <c>using</c>) when done.
/// </summary>
public sealed partial class Explanation : IDisposable
{
    private readonly float[] _probabilities;
    private readonly float[] _rolloutRow;

    internal Explanation(
        string source,
        VitConfig config,
        ExplainOptions options,
        IReadOnlyList<Prediction> predictions,
        float[] probabilities,
        IReadOnlyList<LayerAttention> layers,
        AttentionMap rollout,
        float[] rolloutRow,
        LayerFocusResult focus,
        SKBitmap photo,
        SKRectI seenRegion,
        AttentionStack attentions,
        int item)
    {
        Source = source;
        Config = config;
        Options = options;
        Predictions = predictions;
        _probabilities = probabilities;
        Layers = layers;
        Rollout = rollout;
        _rolloutRow = rolloutRow;
        Focus = focus;
        Photo = photo;
        SeenRegion = seenRegion;
        Attentions = attentions;
        Item = item;
    }

    /// <summary>The image's path or name.</summary>
    public string Source { get; }

    /// <summary>The model's dimensions and labels.</summary>
    public VitConfig Config { get; }

    /// <summary>The options the explanation was computed and is drawn with.</summary>
    public ExplainOptions Options { get; }

    /// <summary>The top classes, most probable first.</summary>
    public IReadOnlyList<Prediction> Predictions { get; }

    /// <summary>Softmax probability of every class, by class index.</summary>
    public ReadOnlySpan<float> Probabilities => _probabilities;

    /// <summary>Every layer's CLS attention map and focus, first layer first (index 0 is layer 1).</summary>
    public IReadOnlyList<LayerAttention> Layers { get; }

    /// <summary>The attention rollout of the query token over the patch grid.</summary>
    public AttentionMap Rollout { get; }

    /// <summary>The query token's whole rollout row over every token, prefix tokens included.</summary>
    public ReadOnlySpan<float> RolloutRow => _rolloutRow;

    /// <summary>Focus scores of every layer and the most focused ones.</summary>
    public LayerFocusResult Focus { get; }

    /// <summary>One-based numbers of the most focused layers, most focused first.</summary>
    public IReadOnlyList<int> FocusedLayers => Focus.TopLayers;

    /// <summary>The photo as decoded, EXIF orientation applied.</summary>
    public SKBitmap Photo { get; }

    /// <summary>The part of <see cref="Photo"/> the model saw (the centre crop for crop-based models).</summary>
    public SKRectI SeenRegion { get; }

    /// <summary>The raw attention probabilities of the batch this image ran in; this image is item <see cref="Item"/>.</summary>
    public AttentionStack Attentions { get; }

    /// <summary>This image's index in <see cref="Attentions"/>.</summary>
    public int Item { get; }

    /// <summary>The map of a one-based layer.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The layer does not exist.</exception>
    public AttentionMap LayerMap(int layer)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layer, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(layer, Layers.Count);
        return Layers[layer - 1].ClsMap;
    }

    /// <inheritdoc />
    public void Dispose() => Photo.Dispose();
}
