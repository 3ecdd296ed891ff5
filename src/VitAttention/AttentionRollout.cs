using VitAttention.Loading;

namespace VitAttention;

/// <summary>
/// The front door. <c>AttentionRollout.Compute("dog.jpg")</c> explains a photo with the default model
/// (<see cref="DefaultModel"/>, downloaded once into the Hugging Face cache); <see cref="Load"/> gives an explainer
/// for any model, to reuse across many images and threads.
/// </summary>
public static class AttentionRollout
{
    /// <summary>The model used when none is named: <c>google/vit-base-patch16-224</c>.</summary>
    public const string DefaultModel = ModelLoader.DefaultModel;

    private static readonly Dictionary<string, VitExplainer> Shared = new(StringComparer.Ordinal);
    private static readonly Lock SharedLock = new();

    /// <summary>
    /// Explains a photo with the default model. The model is loaded on first use and kept for later calls
    /// (process-wide, thread-safe).
    /// </summary>
    /// <exception cref="InvalidImageException">The file is not a decodable image.</exception>
    /// <exception cref="ModelHubException">The default model could not be downloaded or found in the cache.</exception>
    public static Explanation Compute(string imagePath, ExplainOptions? options = null, CancellationToken cancellationToken = default) =>
        Compute(imagePath, DefaultModel, options, cancellationToken);

    /// <summary>
    /// Explains a photo with the named model (hub id, checkpoint folder or ONNX file). Each model is loaded once and
    /// kept for later calls (process-wide, thread-safe); use <see cref="Load"/> to control its lifetime instead.
    /// </summary>
    /// <exception cref="InvalidImageException">The file is not a decodable image.</exception>
    /// <exception cref="ModelFormatException">The model is malformed.</exception>
    /// <exception cref="ModelHubException">A hub model could not be downloaded or found in the cache.</exception>
    public static Explanation Compute(string imagePath, string model, ExplainOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(imagePath);
        ArgumentException.ThrowIfNullOrEmpty(model);
        return SharedExplainer(model, cancellationToken).Explain(imagePath, options, cancellationToken);
    }

    /// <summary>Loads a model into a new explainer; dispose it when done.</summary>
    /// <param name="model">A hub id <c>owner/name[@revision]</c>, a checkpoint folder, or an ONNX file.</param>
    /// <param name="options">Device, threads, limits, hub settings.</param>
    /// <param name="cancellationToken">Cancels a download.</param>
    /// <exception cref="ModelFormatException">The model is malformed.</exception>
    /// <exception cref="ModelHubException">A hub model could not be downloaded or found in the cache.</exception>
    /// <exception cref="DeviceUnavailableException">CUDA was asked for and cannot be used.</exception>
    public static VitExplainer Load(string model = DefaultModel, ExplainerOptions? options = null, CancellationToken cancellationToken = default) =>
        VitExplainer.Load(model, options, cancellationToken);

    private static VitExplainer SharedExplainer(string model, CancellationToken cancellationToken)
    {
        lock (SharedLock)
        {
            if (!Shared.TryGetValue(model, out var explainer))
            {
                // Loading under the lock keeps one session per model; a failure leaves nothing cached, so a later call retries.
                explainer = VitExplainer.Load(model, null, cancellationToken);
                Shared.Add(model, explainer);
            }

            return explainer;
        }
    }
}
