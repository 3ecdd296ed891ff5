using VitAttention.Inference;

namespace VitAttention.Evaluation;

/// <summary>
/// One image to evaluate: a key that names it in results (its relative path), an optional ground-truth label, and a
/// loader that produces its normalised pixels only when the evaluator reaches it, so lists of any length cost little.
/// </summary>
internal sealed class EvaluationImage
{
    private readonly Func<float[]> _load;

    /// <summary>An image whose pixels <paramref name="load"/> produces.</summary>
    /// <param name="key">The name in results; unique within a run.</param>
    /// <param name="load">Returns the normalised image, <c>[channels, height, width]</c>.</param>
    /// <param name="label">The ground-truth class, or null.</param>
    public EvaluationImage(string key, Func<float[]> load, int? label = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(load);
        if (label is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(label), label, $"the label of '{key}' must be a class index ≥ 0.");
        }

        Key = key;
        _load = load;
        Label = label;
    }

    /// <summary>The image's name in results.</summary>
    public string Key { get; }

    /// <summary>The ground-truth class, or null.</summary>
    public int? Label { get; }

    /// <summary>An image file, decoded and preprocessed for the model when loaded.</summary>
    public static EvaluationImage FromFile(string path, string key, ImagePreprocessor preprocessor, int? label = null)
    {
        ArgumentNullException.ThrowIfNull(preprocessor);
        return new EvaluationImage(key, () =>
        {
            using var image = preprocessor.Preprocess(path);
            return image.Pixels;
        }, label);
    }

    /// <summary>Produces the normalised pixels.</summary>
    public float[] Load() => _load();
}
