using System.Collections.Concurrent;
using SkiaSharp;
using VitAttention.Analysis;
using VitAttention.Inference;
using VitAttention.Loading;
using VitAttention.Models;
using VitAttention.Rollout;

namespace VitAttention;

/// <summary>
/// Explains images with one model. Creating it loads the model into ONNX Runtime (expensive); reuse one instance.
/// It is thread-safe: share one across request threads. Dispose it to free the session.
/// </summary>
public sealed class VitExplainer : IDisposable
{
    private readonly VitSession _session;
    private readonly ImagePreprocessor _preprocessor;
    private readonly ConcurrentBag<RolloutEngine> _engines = [];

    /// <summary>Wraps a prepared model in a session.</summary>
    /// <exception cref="DeviceUnavailableException">CUDA was asked for and cannot be used (and fallback was not allowed).</exception>
    internal VitExplainer(PreparedModel model, ExplainerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        Options = options ?? ExplainerOptions.Default;
        Options.Validate();
        _session = new VitSession(model, Options.Session);
        _preprocessor = new ImagePreprocessor(model.Config, Options.ImageLimits);
        Model = model;
    }

    /// <summary>The model being explained.</summary>
    internal PreparedModel Model { get; }

    /// <summary>The session, for the faithfulness tests' logits-only forward passes.</summary>
    internal VitSession Session => _session;

    /// <summary>The model's dimensions, labels and preprocessing.</summary>
    public VitConfig Config => Model.Config;

    /// <summary>The options the explainer was built with.</summary>
    public ExplainerOptions Options { get; }

    /// <summary>The device the session actually runs on (CPU after a permitted CUDA fallback).</summary>
    public ExecutionDevice Device => _session.ActualDevice;

    /// <summary>Loads a model (hub id, checkpoint folder or ONNX file) and wraps it in an explainer.</summary>
    /// <exception cref="ModelFormatException">The model is malformed.</exception>
    /// <exception cref="ModelHubException">A hub model could not be downloaded or found in the cache.</exception>
    public static VitExplainer Load(string model, ExplainerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= ExplainerOptions.Default;
        return new VitExplainer(ModelLoader.Load(model, options.Loading, cancellationToken), options);
    }

    /// <summary>The model's top <paramref name="topK"/> classes for a photo file, without computing any map.</summary>
    /// <exception cref="ModelFormatException">The model has no classifier.</exception>
    /// <exception cref="InvalidImageException">The file is not a decodable image or exceeds the limits.</exception>
    public IReadOnlyList<Prediction> Classify(string imagePath, int topK = 5, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(topK, 1);
        if (Config.NumClasses == 0)
        {
            throw new ModelFormatException($"model '{Model.Source}' has no classifier (num_classes 0, e.g. a DINO backbone): it has attention maps but no classes; use Explain.");
        }

        using var image = _preprocessor.Preprocess(imagePath);
        var output = _session.Run(image.Pixels, 1, cancellationToken);
        return Predictions.TopK(output.LogitsOf(0), Config, topK);
    }

    /// <summary>Explains a photo file.</summary>
    /// <exception cref="InvalidImageException">The file is not a decodable image or exceeds the limits.</exception>
    public Explanation Explain(string imagePath, ExplainOptions? options = null, CancellationToken cancellationToken = default) =>
        ExplainMany([imagePath], options, null, cancellationToken)[0];

    /// <summary>Explains an encoded image (PNG, JPEG, WebP, …).</summary>
    /// <exception cref="InvalidImageException">The bytes are not a decodable image or exceed the limits.</exception>
    public Explanation Explain(byte[] encodedImage, string name = "image bytes", ExplainOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(encodedImage);
        return Run([() => _preprocessor.Preprocess(encodedImage, name)], options, null, cancellationToken)[0];
    }

    /// <summary>Explains an image read from a stream (read to its end; not closed).</summary>
    /// <exception cref="InvalidImageException">The stream is not a decodable image or exceeds the limits.</exception>
    public Explanation Explain(Stream image, string name = "stream", ExplainOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        return Run([() => _preprocessor.Preprocess(image, name)], options, null, cancellationToken)[0];
    }

    /// <summary>Explains a bitmap already in memory (it is copied; the caller keeps ownership).</summary>
    public Explanation Explain(SKBitmap image, string name = "bitmap", ExplainOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        return Run([() => _preprocessor.Preprocess(image, name)], options, null, cancellationToken)[0];
    }

    /// <summary>
    /// Explains several photo files, running them through the model in batches of
    /// <see cref="ExplainerOptions.MaxBatchSize"/>; <paramref name="progress"/> receives the number done.
    /// </summary>
    /// <exception cref="InvalidImageException">A file is not a decodable image; the message names it.</exception>
    public IReadOnlyList<Explanation> ExplainMany(
        IReadOnlyList<string> imagePaths, ExplainOptions? options = null, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(imagePaths);
        return Run(imagePaths.Select(p => (Func<PreprocessedImage>)(() => _preprocessor.Preprocess(p))).ToList(), options, progress, cancellationToken);
    }

    /// <summary>
    /// Explains pixels already preprocessed for this model, <c>[batch, channels, height, width]</c> (for example a
    /// reference pipeline's <c>pixel_values</c>); the photo of each explanation is the tensor de-normalised.
    /// </summary>
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

        var copy = pixels.ToArray();
        var makers = new List<Func<PreprocessedImage>>();
        for (int i = 0; i < copy.Length / one; i++)
        {
            int item = i;
            makers.Add(() => FromPixels(copy.AsSpan(item * one, one).ToArray(), Config, $"pixels[{item}]"));
        }

        return Run(makers, options, null, cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();

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

    private List<Explanation> Run(
        IReadOnlyList<Func<PreprocessedImage>> images, ExplainOptions? options, IProgress<int>? progress, CancellationToken cancellationToken)
    {
        options ??= ExplainOptions.Default;
        options.Validate(Config.NumLayers);
        var results = new List<Explanation>(images.Count);
        int one = _session.InputLength;
        try
        {
            for (int start = 0; start < images.Count; start += Options.MaxBatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int batch = Math.Min(Options.MaxBatchSize, images.Count - start);
                var prepared = new List<PreprocessedImage>(batch);
                try
                {
                    var pixels = new float[batch * one]; // [batch, channels, height, width]
                    for (int i = 0; i < batch; i++)
                    {
                        var image = images[start + i]();
                        prepared.Add(image);
                        image.Pixels.CopyTo(pixels.AsSpan(i * one, one));
                    }

                    var output = _session.Run(pixels, batch, cancellationToken);
                    for (int i = 0; i < batch; i++)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        results.Add(Build(prepared[i], output, i, options));
                        prepared[i] = null!; // ownership of the photo moved to the explanation
                    }
                }
                finally
                {
                    foreach (var p in prepared)
                    {
                        p?.Dispose();
                    }
                }

                progress?.Report(start + batch);
            }
        }
        catch
        {
            foreach (var r in results)
            {
                r.Dispose();
            }

            throw;
        }

        return results;
    }

    private Explanation Build(PreprocessedImage image, VitOutput output, int item, ExplainOptions options)
    {
        var config = Config;
        var stack = output.Attentions;
        var rolloutOptions = options.Rollout with { PrefixTokens = config.PrefixTokens, InputsAreSoftmax = true };
        var engine = _engines.TryTake(out var e) ? e : new RolloutEngine();
        try
        {
            var maps = new AttentionMap[config.NumLayers];
            for (int l = 0; l < maps.Length; l++)
            {
                maps[l] = engine.LayerMap(stack, l, item, config.GridHeight, config.GridWidth, rolloutOptions.QueryToken, null, config.PrefixTokens);
            }

            var row = new float[config.Tokens];
            engine.RolloutRow(stack.Data, stack.Shape, item, rolloutOptions, row);
            var rollout = new AttentionMap(config.GridHeight, config.GridWidth, row.AsSpan(config.PrefixTokens));
            var photoSize = new SKSizeI(image.Photo.Width, image.Photo.Height);
            var seen = SKRectI.Round(image.Crop);
            var focus = options.RegionOfInterest is { } roi
                ? LayerFocus.Rank(maps, roi, photoSize, seen, Math.Min(options.FocusedTop, maps.Length))
                : LayerFocus.Rank(maps, Math.Min(options.FocusedTop, maps.Length));
            var layers = maps.Select((m, l) => new LayerAttention(l + 1, m, focus.Scores[l])).ToArray();
            // A model without a classifier (DINO) explains attention only: no probabilities, no predictions.
            var logits = config.NumClasses > 0 ? output.LogitsOf(item) : [];
            float[] probabilities = config.NumClasses > 0 ? Predictions.Softmax(logits) : [];
            IReadOnlyList<Prediction> top = config.NumClasses > 0 ? Predictions.TopKOfProbabilities(probabilities, config, options.TopK) : [];
            return new Explanation(image.Source, config, options, top, probabilities, layers, rollout, row, focus, image.Photo, seen, stack, item);
        }
        finally
        {
            _engines.Add(engine);
        }
    }
}
