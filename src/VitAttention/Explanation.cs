using SkiaSharp;
using VitAttention.Analysis;
using VitAttention.Inference;
using VitAttention.Models;

namespace VitAttention;

/// <summary>
/// Why the model decided what it decided, for one image: the top classes, every layer's attention map of the query
/// token (CLS unless <see cref="Rollout.RolloutOptions.QueryToken"/> says otherwise), the attention rollout, and the
/// focus of each layer; it draws the study's figures and writes the numbers as JSON.
/// </summary>
/// <remarks>
/// An explanation holds only its own image's results: the maps, the rollout row, each head's map per layer
/// (a few hundred kilobytes at most) and the decoded photo; the batch's attention stack is not kept unless
/// <see cref="ExplainOptions.KeepAttentions"/> asks for this image's part of it. Dispose it (or use <c>using</c>) to
/// free the photo: after <see cref="Dispose"/> every member throws <see cref="ObjectDisposedException"/>. Reading it
/// from several threads is safe; disposing it while another thread uses it is not.
/// </remarks>
public sealed partial class Explanation : IDisposable
{
    private readonly string _source;
    private readonly VitConfig _config;
    private readonly ExplainOptions _options;
    private readonly IReadOnlyList<Prediction> _predictions;
    private readonly float[] _probabilities;
    private readonly LayerAttention[] _layers;
    private readonly AttentionMap _rollout;
    private readonly float[] _rolloutRow;
    private readonly LayerFocusResult _focus;
    private readonly SKRectI _seenRegion;
    private readonly double?[] _registerShares; // per layer: the read rows' attention to register tokens, or null
    private readonly MethodMap[] _methodMaps; // per method asked (table order), class-specific ones per target class
    private readonly int[] _targetClasses;    // the classes the class-specific maps explain, in rank order
    private AttentionMap[]? _headMaps; // [layer, head]: each head's map of the query token
    private SKBitmap? _photo;
    private AttentionStack? _attentions; // [layer, 1, head, query, key] when KeepAttentions, else null
    private bool _disposed;

    internal Explanation(
        string source,
        VitConfig config,
        ExplainOptions options,
        IReadOnlyList<Prediction> predictions,
        float[] probabilities,
        LayerAttention[] layers,
        AttentionMap rollout,
        float[] rolloutRow,
        LayerFocusResult focus,
        SKBitmap photo,
        SKRectI seenRegion,
        AttentionMap[] headMaps,
        double?[] registerShares,
        AttentionStack? attentions,
        int inputIndex,
        MethodMap[] methodMaps,
        int[] targetClasses)
    {
        _source = source;
        _config = config;
        _options = options;
        _predictions = predictions;
        _probabilities = probabilities;
        _layers = layers;
        _rollout = rollout;
        _rolloutRow = rolloutRow;
        _focus = focus;
        _photo = photo;
        _seenRegion = seenRegion;
        _headMaps = headMaps;
        _registerShares = registerShares;
        _attentions = attentions;
        InputIndex = inputIndex;
        _methodMaps = methodMaps;
        _targetClasses = targetClasses;
    }

    /// <summary>The image's path or name.</summary>
    public string Source => Alive(_source);

    /// <summary>The model's dimensions and labels.</summary>
    public VitConfig Config => Alive(_config);

    /// <summary>The options the explanation was computed and is drawn with.</summary>
    public ExplainOptions Options => Alive(_options);

    /// <summary>The top classes, most probable first; empty for a model without a classifier.</summary>
    public IReadOnlyList<Prediction> Predictions => Alive(_predictions);

    /// <summary>Softmax probability of every class, by class index; empty for a model without a classifier.</summary>
    public ReadOnlySpan<float> Probabilities => Alive(_probabilities);

    /// <summary>
    /// Every layer's attention map of the query token and its focus, first layer first (index 0 is layer 1, as
    /// <see cref="LayerAttention.Layer"/> says).
    /// </summary>
    public IReadOnlyList<LayerAttention> Layers => Alive(_layers);

    /// <summary>The attention rollout of the query token over the patch grid.</summary>
    public AttentionMap Rollout => Alive(_rollout);

    /// <summary>The query token's whole rollout row over every token, prefix tokens included.</summary>
    public ReadOnlySpan<float> RolloutRow => Alive(_rolloutRow);

    /// <summary>Focus scores of every layer and the most focused ones.</summary>
    public LayerFocusResult Focus => Alive(_focus);

    /// <summary>One-based numbers of the most focused layers, most focused first.</summary>
    public IReadOnlyList<int> FocusedLayers => Alive(_focus).TopLayers;

    /// <summary>
    /// The photo as decoded, EXIF orientation applied. The explanation owns it: do not dispose it, and do not use it
    /// after the explanation is disposed (copy it with <see cref="SKBitmap.Copy()"/> to keep it).
    /// </summary>
    public SKBitmap Photo => Alive(_photo)!;

    /// <summary>The part of <see cref="Photo"/> the model saw (the centre crop for crop-based models).</summary>
    public SKRectI SeenRegion => Alive(_seenRegion);

    /// <summary>
    /// This image's attention probabilities in every layer, <c>[layer, 1, head, query, key]</c>, when
    /// <see cref="ExplainOptions.KeepAttentions"/> was set; null otherwise.
    /// </summary>
    public AttentionStack? Attentions => Alive(_attentions);

    /// <summary>
    /// The map of every method <see cref="ExplainOptions.Method"/> asked for, in <see cref="ExplanationMethod"/> order:
    /// one per class-agnostic method, and one per target class (<see cref="TargetClasses"/> order) per class-specific
    /// method.
    /// </summary>
    public IReadOnlyList<MethodMap> Maps => Alive(_methodMaps);

    /// <summary>
    /// The classes the class-specific maps explain, in order (the top predicted first for <see cref="TargetClass.Top"/>);
    /// empty when no class-specific method was asked for.
    /// </summary>
    public IReadOnlyList<int> TargetClasses => Alive(_targetClasses);

    /// <summary>One method's map.</summary>
    /// <param name="method">One method that <see cref="ExplainOptions.Method"/> asked for.</param>
    /// <param name="classIndex">
    /// For a class-specific method, the target class (one of <see cref="TargetClasses"/>); null for the first target
    /// class. Ignored for a class-agnostic method, whose map is the same for every class.
    /// </param>
    /// <returns>The map.</returns>
    /// <exception cref="ArgumentException">The method was not asked for, is not one flag, or the class is not a target class; the message lists what is there.</exception>
    public MethodMap Map(ExplanationMethod method, int? classIndex = null)
    {
        ThrowIfDisposed();
        var asked = _methodMaps.Where(m => m.Method == method).ToList();
        if (asked.Count == 0)
        {
            string held = string.Join(", ", _methodMaps.Select(m => m.Name).Distinct());
            throw new ArgumentException(
                $"The explanation of '{_source}' has no {method} map; it holds {held}. Ask for it with ExplainOptions.Method.", nameof(method));
        }

        if (!asked[0].IsClassSpecific || classIndex is null)
        {
            return asked[0];
        }

        return asked.Find(m => m.ClassIndex == classIndex) ?? throw new ArgumentException(
            $"The explanation of '{_source}' has no {method} map for class {classIndex}; its target classes are {string.Join(", ", _targetClasses)}. Ask for it with ExplainOptions.TargetClass.",
            nameof(classIndex));
    }

    /// <summary>The image's position in the sequence given to <c>ExplainMany</c> (0 for a single image).</summary>
    internal int InputIndex { get; }

    /// <summary>
    /// This image's whole attention stack, <c>[layer, 1, head, query, key]</c>, for analyses that need more than the
    /// query row (the per-head maps, other query tokens, gradients).
    /// </summary>
    /// <exception cref="InvalidOperationException">The explanation was made without <see cref="ExplainOptions.KeepAttentions"/>.</exception>
    internal AttentionStack RequireAttentions() =>
        Alive(_attentions) ?? throw new InvalidOperationException(
            $"The explanation of '{_source}' does not hold its attention stack; explain it with ExplainOptions.KeepAttentions = true.");

    /// <summary>The map of a one-based layer.</summary>
    /// <param name="layer">The layer number, 1 to <see cref="VitConfig.NumLayers"/>.</param>
    /// <returns>The layer's head-mean attention map of the query token.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The layer does not exist.</exception>
    public AttentionMap LayerMap(int layer)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfLessThan(layer, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(layer, _layers.Length);
        return _layers[layer - 1].Map;
    }

    /// <summary>Releases the photo and everything else the explanation holds; later calls to any member throw.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _photo?.Dispose();
        _photo = null;
        _attentions = null;
        _headMaps = null;
    }

    /// <summary>One head's map of the query token in a one-based layer, from the head maps kept at explain time.</summary>
    internal AttentionMap HeadMap(int layer, int head)
    {
        ThrowIfDisposed();
        return _headMaps![((layer - 1) * _config.NumHeads) + head];
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private T Alive<T>(T value)
    {
        ThrowIfDisposed();
        return value;
    }

    private ReadOnlySpan<float> Alive(float[] values)
    {
        ThrowIfDisposed();
        return values;
    }
}
