using System.Collections.Concurrent;
using SkiaSharp;
using VitAttention.Inference;
using VitAttention.Loading;
using VitAttention.Models;
using VitAttention.Rollout;
using VitAttention.Rollout.Flow;

namespace VitAttention;

/// <summary>
/// Explains images with one model. Creating it loads the model into ONNX Runtime (expensive); reuse one instance.
/// It is thread-safe: share one across request threads. Dispose it to free the session; after that every method
/// throws <see cref="ObjectDisposedException"/>.
/// </summary>
/// <remarks>
/// The synchronous methods run on the calling thread. The asynchronous ones read files and streams with asynchronous
/// I/O and run decoding and the forward pass (CPU work) on a thread-pool thread, so they never block a UI or request
/// thread's synchronisation context.
/// </remarks>
public sealed partial class VitExplainer : IDisposable
{
    private readonly VitSession _session;
    private readonly ImagePreprocessor _preprocessor;
    private readonly ConcurrentBag<RolloutEngine> _engines = [];
    private readonly ConcurrentBag<AttentionFlowEngine> _flowEngines = [];
    private readonly Lock _gradientLock = new();
    private readonly PreparedModel? _gradientModel; // what the gradient graph is built from, when it is cheap to hold
    private readonly Func<PreparedModel>? _reload;   // else how to prepare the model again for it
    private GradientSession? _gradients;             // built on the first class-specific explanation
    private int _disposed;

    /// <summary>
    /// Wraps a prepared model in a session. The model's serialised graph is not kept: a model whose graph is a file
    /// (a checkpoint in the prepared-model cache) is kept by its path, for the gradient graph a class-specific method
    /// builds later; a model held in memory (an ONNX export) is prepared again by <paramref name="reload"/> then. Without
    /// <paramref name="reload"/> an in-memory model is kept (tests, small graphs).
    /// </summary>
    /// <exception cref="DeviceUnavailableException">CUDA was asked for and cannot be used (and fallback was not allowed).</exception>
    internal VitExplainer(PreparedModel model, ExplainerOptions? options = null, Func<PreparedModel>? reload = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        _gradientModel = model.OnnxBytes is null || reload is null ? model : null;
        _reload = reload;
        Options = options ?? ExplainerOptions.Default;
        Options.Validate();
        if (Options.ImageSize is { } size && (size != model.Config.ImageHeight || size != model.Config.ImageWidth))
        {
            throw new ArgumentException(
                $"ExplainerOptions.ImageSize is {size} but model '{model.Source}' was built for {model.Config.ImageHeight}×{model.Config.ImageWidth}; load it with VitExplainer.Load (or ModelLoadOptions.ImageSize) to build it at that size.",
                nameof(options));
        }

        _session = new VitSession(model, Options.Session);
        try
        {
            _preprocessor = new ImagePreprocessor(model.Config, Options.ImageLimits);
        }
        catch
        {
            _session.Dispose();
            throw;
        }

        Source = model.Source;
        ModelFiles = model.OnnxPath is { } path ? [.. model.InputFiles, path] : model.InputFiles;
    }

    /// <summary>Where the model came from (a path or a hub id), for messages.</summary>
    internal string Source { get; }

    /// <summary>Every file the model was made from, the cached graph included: outputs must never be written over them.</summary>
    internal IReadOnlyList<string> ModelFiles { get; }

    /// <summary>The session, for the faithfulness tests' logits-only forward passes.</summary>
    internal VitSession Session => _session;

    /// <summary>The model's dimensions, labels and preprocessing.</summary>
    public VitConfig Config => _session.Config;

    /// <summary>True once a class-specific method has built the gradient session (tests: the default path never does).</summary>
    internal bool HasGradientSession
    {
        get
        {
            lock (_gradientLock)
            {
                return _gradients is not null;
            }
        }
    }

    /// <summary>The options the explainer was built with.</summary>
    public ExplainerOptions Options { get; }

    /// <summary>The device the session actually runs on (CPU after a permitted CUDA fallback).</summary>
    public ExecutionDevice Device => _session.ActualDevice;

    /// <summary>Loads a model (hub id, checkpoint folder or ONNX file) and wraps it in an explainer, on the calling thread.</summary>
    /// <param name="model">A hub id <c>owner/name[@revision]</c>, a checkpoint folder, or an ONNX file. Text that looks like a path is never sent to the hub.</param>
    /// <param name="options">Device, threads, limits, batching, hub and cache settings; null for <see cref="ExplainerOptions.Default"/>.</param>
    /// <param name="cancellationToken">Cancels a download.</param>
    /// <returns>The explainer; the caller disposes it.</returns>
    /// <exception cref="ModelFormatException">The model is malformed.</exception>
    /// <exception cref="DirectoryNotFoundException">The model is a path to a folder that does not exist.</exception>
    /// <exception cref="FileNotFoundException">The model is a path to a file that does not exist.</exception>
    /// <exception cref="ModelHubException">A hub model could not be downloaded or found in the cache.</exception>
    /// <exception cref="DeviceUnavailableException">CUDA was asked for and cannot be used.</exception>
    public static VitExplainer Load(string model, ExplainerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= ExplainerOptions.Default;
        options.Validate();
        PreparedModel prepared = ModelLoader.Load(model, LoadingOf(options), cancellationToken);
        return new VitExplainer(prepared, options, ReloaderOf(prepared, model, options));
    }

    /// <summary>
    /// Loads a model and wraps it in an explainer without blocking the caller: a hub download uses asynchronous
    /// requests; building the graph and creating the ONNX Runtime session run on a thread-pool thread.
    /// </summary>
    /// <param name="model">A hub id <c>owner/name[@revision]</c>, a checkpoint folder, or an ONNX file.</param>
    /// <param name="options">Device, threads, limits, batching, hub and cache settings; null for <see cref="ExplainerOptions.Default"/>.</param>
    /// <param name="cancellationToken">Cancels a download, or the load before its next step.</param>
    /// <returns>The explainer; the caller disposes it.</returns>
    /// <exception cref="ModelFormatException">The model is malformed.</exception>
    /// <exception cref="DirectoryNotFoundException">The model is a path to a folder that does not exist.</exception>
    /// <exception cref="FileNotFoundException">The model is a path to a file that does not exist.</exception>
    /// <exception cref="ModelHubException">A hub model could not be downloaded or found in the cache.</exception>
    /// <exception cref="DeviceUnavailableException">CUDA was asked for and cannot be used.</exception>
    public static async Task<VitExplainer> LoadAsync(string model, ExplainerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= ExplainerOptions.Default;
        options.Validate();
        PreparedModel prepared = await ModelLoader.LoadAsync(model, LoadingOf(options), cancellationToken).ConfigureAwait(false);
        return await Task.Run(() => new VitExplainer(prepared, options, ReloaderOf(prepared, model, options)), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The model's top classes for an image, without computing any map: ONNX Runtime is asked for the logits only.
    /// </summary>
    /// <param name="image">A path, encoded bytes, a stream or a bitmap (see <see cref="ImageInput"/>).</param>
    /// <param name="topK">How many classes to return, most probable first (at least 1).</param>
    /// <param name="cancellationToken">Stops the forward pass.</param>
    /// <returns>The top classes.</returns>
    /// <exception cref="ModelFormatException">The model has no classifier.</exception>
    /// <exception cref="FileNotFoundException">The image file does not exist.</exception>
    /// <exception cref="InvalidImageException">The image is not decodable or exceeds the limits.</exception>
    public IReadOnlyList<Prediction> Classify(ImageInput image, int topK = 5, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckClassify(topK);
        using var prepared = Preprocess(image);
        return ClassifyPrepared(prepared, topK, cancellationToken);
    }

    /// <summary>
    /// <see cref="Classify"/> without blocking the caller: the file or stream is read asynchronously, decoding and the
    /// forward pass run on a thread-pool thread.
    /// </summary>
    /// <param name="image">A path, encoded bytes, a stream or a bitmap (see <see cref="ImageInput"/>).</param>
    /// <param name="topK">How many classes to return, most probable first (at least 1).</param>
    /// <param name="cancellationToken">Cancels the read or stops the forward pass.</param>
    /// <returns>The top classes.</returns>
    /// <exception cref="ModelFormatException">The model has no classifier.</exception>
    /// <exception cref="FileNotFoundException">The image file does not exist.</exception>
    /// <exception cref="InvalidImageException">The image is not decodable or exceeds the limits.</exception>
    public async Task<IReadOnlyList<Prediction>> ClassifyAsync(ImageInput image, int topK = 5, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckClassify(topK);
        using var prepared = await PreprocessAsync(image, cancellationToken).ConfigureAwait(false);
        return await Task.Run(() => ClassifyPrepared(prepared, topK, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Explains one image: top classes, every layer's map, the rollout and the focus of each layer.</summary>
    /// <param name="image">
    /// A path, encoded bytes, a stream (read to its end, not closed) or a bitmap (copied, not disposed); they convert to
    /// <see cref="ImageInput"/> implicitly. Use <see cref="ImageInput.FromBytes"/> and its siblings to give a name.
    /// </param>
    /// <param name="options">What to compute and how to draw it; null for <see cref="ExplainOptions.Default"/>.</param>
    /// <param name="cancellationToken">Stops the forward pass.</param>
    /// <returns>The explanation; the caller disposes it.</returns>
    /// <exception cref="FileNotFoundException">The image file does not exist.</exception>
    /// <exception cref="InvalidImageException">The image is not decodable or exceeds the limits.</exception>
    /// <exception cref="ObjectDisposedException">The bitmap or stream given has been disposed, or the explainer has.</exception>
    /// <exception cref="ArgumentException">An option is out of range for this model.</exception>
    public Explanation Explain(ImageInput image, ExplainOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        options = Resolve(options);
        cancellationToken.ThrowIfCancellationRequested();
        var pending = new List<(int Index, PreprocessedImage? Image)> { (0, Preprocess(image)) };
        return RunBatch(pending, options, cancellationToken)[0];
    }

    /// <summary>
    /// <see cref="Explain"/> without blocking the caller: a file or stream is read with asynchronous I/O, then decoding,
    /// the forward pass and the maps (CPU work) run on a thread-pool thread.
    /// </summary>
    /// <param name="image">A path, encoded bytes, a stream (read to its end, not closed) or a bitmap (copied, not disposed).</param>
    /// <param name="options">What to compute and how to draw it; null for <see cref="ExplainOptions.Default"/>.</param>
    /// <param name="cancellationToken">Cancels the read or stops the forward pass.</param>
    /// <returns>The explanation; the caller disposes it.</returns>
    /// <exception cref="FileNotFoundException">The image file does not exist.</exception>
    /// <exception cref="InvalidImageException">The image is not decodable or exceeds the limits.</exception>
    /// <exception cref="ObjectDisposedException">The bitmap or stream given has been disposed, or the explainer has.</exception>
    /// <exception cref="ArgumentException">An option is out of range for this model.</exception>
    public async Task<Explanation> ExplainAsync(ImageInput image, ExplainOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        options = Resolve(options);
        var prepared = await PreprocessAsync(image, cancellationToken).ConfigureAwait(false);
        var pending = new List<(int Index, PreprocessedImage? Image)> { (0, prepared) };
        // No token for Task.Run itself: RunBatch checks it and disposes the photo when cancelled.
        return await Task.Run(() => RunBatch(pending, options, cancellationToken)[0], CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>
    /// Explains pixels already preprocessed for this model, <c>[batch, channels, height, width]</c> (for example a
    /// reference pipeline's <c>pixel_values</c>); the photo of each explanation is the tensor de-normalised.
    /// </summary>
    /// <param name="pixels">One or more images' normalised pixels, <c>[batch, channels, height, width]</c>.</param>
    /// <param name="options">What to compute and how to draw it; null for <see cref="ExplainOptions.Default"/>.</param>
    /// <param name="cancellationToken">Stops the forward pass.</param>
    /// <returns>One explanation per image, in order; the caller disposes them.</returns>
    /// <exception cref="ArgumentException">The length is not a multiple of one image's length.</exception>
    public IReadOnlyList<Explanation> ExplainPixels(ReadOnlySpan<float> pixels, ExplainOptions? options = null, CancellationToken cancellationToken = default)
    {
        int one = _session.InputLength;
        if (pixels.IsEmpty || pixels.Length % one != 0)
        {
            throw new ArgumentException(
                $"pixels holds {pixels.Length} floats, not a positive multiple of one {Config.Channels}×{Config.ImageHeight}×{Config.ImageWidth} image ({one}).",
                nameof(pixels));
        }

        options = Resolve(options);
        var results = new List<Explanation>(pixels.Length / one);
        try
        {
            for (int start = 0; start < pixels.Length / one; start += Options.MaxBatchSize)
            {
                int batch = Math.Min(Options.MaxBatchSize, (pixels.Length / one) - start);
                var pending = new List<(int Index, PreprocessedImage? Image)>(batch);
                for (int i = start; i < start + batch; i++)
                {
                    pending.Add((i, FromPixels(pixels.Slice(i * one, one).ToArray(), Config, $"pixels[{i}]")));
                }

                results.AddRange(RunBatch(pending, options, cancellationToken));
            }
        }
        catch
        {
            results.ForEach(r => r.Dispose());
            throw;
        }

        return results;
    }

    /// <summary>Releases the ONNX Runtime session, after any runs in flight finish.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _session.Dispose();
            lock (_gradientLock)
            {
                _gradients?.Dispose();
                _gradients = null;
            }
        }
    }

    /// <summary>
    /// The gradient session, built on first use: the gradient graph of ViT-B/16 takes seconds to build and its session
    /// holds a second copy of the weights, so explainers that never ask for a class-specific method never pay for it.
    /// </summary>
    private GradientSession EnsureGradientSession()
    {
        lock (_gradientLock)
        {
            ThrowIfDisposed();
            if (_gradients is null)
            {
                PreparedModel model = _gradientModel ?? _reload!();
                _gradients = new GradientSession(model, Options.Session, keepGraph: false);
            }

            return _gradients;
        }
    }

    /// <summary>How to prepare a model held in memory again (for its gradient graph) without keeping its bytes; null when its graph is a file.</summary>
    private static Func<PreparedModel>? ReloaderOf(PreparedModel prepared, string model, ExplainerOptions options) =>
        prepared.OnnxBytes is null ? null : () => ModelLoader.Load(model, LoadingOf(options));

    /// <summary>The load options, with <see cref="ExplainerOptions.ImageSize"/> passed on when it is set.</summary>
    private static ModelLoadOptions LoadingOf(ExplainerOptions options) =>
        options.ImageSize is { } size ? options.Loading with { ImageSize = size } : options.Loading;

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    private void CheckClassify(int topK)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfLessThan(topK, 1);
        if (Config.NumClasses == 0)
        {
            throw new ModelFormatException($"model '{Source}' has no classifier (num_classes 0, e.g. a DINO backbone): it has attention maps but no classes; use Explain.");
        }
    }

    private IReadOnlyList<Prediction> ClassifyPrepared(PreprocessedImage prepared, int topK, CancellationToken cancellationToken)
    {
        float[] logits = _session.RunLogits(prepared.Pixels, 1, cancellationToken);
        return Predictions.TopK(logits, Config, topK);
    }

    /// <summary>The options to use, checked against this model before any image is read.</summary>
    private ExplainOptions Resolve(ExplainOptions? options)
    {
        ThrowIfDisposed();
        options ??= ExplainOptions.Default;
        options.ValidateFor(Config);
        ArgumentNullException.ThrowIfNull(options.Rollout);
        (options.Rollout with { PrefixTokens = Config.PrefixTokens })
            .Validate(new AttentionShape(Config.NumLayers, 1, Config.NumHeads, Config.Tokens));
        return options;
    }

    /// <summary>A photo made by undoing the normalisation of a [C, H, W] tensor (first three channels as RGB).</summary>
    private static PreprocessedImage FromPixels(float[] pixels, VitConfig config, string name)
    {
        int h = config.ImageHeight, w = config.ImageWidth, plane = h * w;
        var photo = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var pre = config.Preprocess;
        Span<byte> rgba = photo.GetPixelSpan();
        for (int i = 0; i < plane; i++)
        {
            for (int c = 0; c < 3; c++)
            {
                int channel = Math.Min(c, config.Channels - 1);
                float value = ((pixels[(channel * plane) + i] * pre.Std[channel]) + pre.Mean[channel]) / pre.RescaleFactor;
                rgba[(i * 4) + c] = (byte)Math.Clamp(MathF.Round(value), 0, 255);
            }

            rgba[(i * 4) + 3] = 255;
        }

        return new PreprocessedImage(name, photo, w, h, new SKRect(0, 0, w, h), pixels);
    }
}
