using System.Buffers;
using SkiaSharp;
using VitAttention.Analysis;
using VitAttention.Analysis.Methods;
using VitAttention.Inference;
using VitAttention.Rendering;
using VitAttention.Rollout;

namespace VitAttention;

public sealed partial class VitExplainer
{
    /// <summary>Decodes and preprocesses one input on the calling thread.</summary>
    private PreprocessedImage Preprocess(ImageInput input)
    {
        if (input.Path is { } path)
        {
            return _preprocessor.Preprocess(path);
        }

        if (input.Bytes is { } bytes)
        {
            return _preprocessor.Preprocess(bytes, input.Name);
        }

        if (input.Stream is { } stream)
        {
            return _preprocessor.Preprocess(stream, input.Name);
        }

        SKBitmap bitmap = input.Bitmap!;
        SkiaGuard.ThrowIfDisposed(bitmap, "image");
        return _preprocessor.Preprocess(bitmap, input.Name);
    }

    /// <summary>Reads one input with asynchronous I/O, then decodes and preprocesses it on a thread-pool thread.</summary>
    private async Task<PreprocessedImage> PreprocessAsync(ImageInput input, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        byte[]? encoded = input.Path is { } path
            ? await EncodedImageReader.ReadFileAsync(path, _preprocessor.Limits, cancellationToken).ConfigureAwait(false)
            : input.Stream is { } stream
                ? await EncodedImageReader.ReadStreamAsync(stream, input.Name, _preprocessor.Limits, cancellationToken).ConfigureAwait(false)
                : input.Bytes;
        if (encoded is not null)
        {
            return await Task.Run(() => _preprocessor.Preprocess(encoded, input.Name), cancellationToken).ConfigureAwait(false);
        }

        SKBitmap bitmap = input.Bitmap!;
        SkiaGuard.ThrowIfDisposed(bitmap, "image");
        return await Task.Run(() => _preprocessor.Preprocess(bitmap, input.Name), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// An exception that belongs to one image of a batch (it could not be read or decoded), so the batch may go on
    /// without it; anything else (cancellation, a model that fails to run, a bug) stops the batch.
    /// </summary>
    private static bool IsImageFailure(Exception e) =>
        e is InvalidImageException or IOException or UnauthorizedAccessException or ObjectDisposedException or ArgumentException or NotSupportedException;

    /// <summary>
    /// Runs the preprocessed images through the model as one batch and builds each one's explanation. Each photo's
    /// ownership moves to its explanation; the pending list is emptied and everything left in it is disposed, on
    /// success or failure. The batch's attention buffer goes back to the session's pool before this returns.
    /// </summary>
    private List<Explanation> RunBatch(List<(int Index, PreprocessedImage? Image)> pending, ExplainOptions options, CancellationToken cancellationToken)
    {
        var results = new List<Explanation>(pending.Count);
        try
        {
            int batch = pending.Count;
            if (batch == 0)
            {
                return results;
            }

            cancellationToken.ThrowIfCancellationRequested();
            int one = _session.InputLength;
            if (MethodCatalog.NeedsGradients(options.Method))
            {
                RunGradientBatch(pending, batch, one, options, results, cancellationToken);
                return results;
            }

            using VitOutput output = RunPooled(pending, batch, one, cancellationToken);
            for (int i = 0; i < batch; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                results.Add(Build(pending[i].Image!, output.Attentions, output.Logits, i, options, pending[i].Index, [], []));
                pending[i] = (pending[i].Index, null); // the photo now belongs to the explanation
            }

            return results;
        }
        catch
        {
            results.ForEach(r => r.Dispose());
            throw;
        }
        finally
        {
            foreach (var (_, image) in pending)
            {
                image?.Dispose();
            }

            pending.Clear();
        }
    }

    /// <summary>The forward pass of the batch, its input assembled in a pooled buffer (a batch of ViT-B/16 images is 4.8 MB).</summary>
    private VitOutput RunPooled(List<(int Index, PreprocessedImage? Image)> pending, int batch, int one, CancellationToken cancellationToken)
    {
        float[] pixels = ArrayPool<float>.Shared.Rent(batch * one); // [batch, channels, height, width]
        try
        {
            for (int i = 0; i < batch; i++)
            {
                pending[i].Image!.Pixels.CopyTo(pixels.AsSpan(i * one, one));
            }

            return _session.Run(pixels.AsSpan(0, batch * one), batch, cancellationToken);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(pixels);
        }
    }

    /// <summary>
    /// A batch with class-specific methods: one gradient run per target class gives the logits, the attentions and the
    /// gradients together (the attention session is not run). The top classes are learned first from a logits-only
    /// run; fixed classes need none. The runs for the second and later classes go first and are dropped once their
    /// maps are taken, so only one run's tensors are held at a time; the first class's run then makes the explanations.
    /// </summary>
    private void RunGradientBatch(
        List<(int Index, PreprocessedImage? Image)> pending, int batch, int one, ExplainOptions options, List<Explanation> results, CancellationToken cancellationToken)
    {
        GradientSession gradients = EnsureGradientSession();
        int[]? fixedClasses = options.TargetClass.Resolve(Config, nameof(options.TargetClass));
        int count = options.TargetClass.Count;
        float[] pixels = ArrayPool<float>.Shared.Rent(batch * one); // [batch, channels, height, width]
        try
        {
            for (int i = 0; i < batch; i++)
            {
                pending[i].Image!.Pixels.CopyTo(pixels.AsSpan(i * one, one));
            }

            ReadOnlySpan<float> input = pixels.AsSpan(0, batch * one);
            var targets = new int[batch][]; // [batch][class rank]
            if (fixedClasses is null)
            {
                float[] logits = _session.RunLogits(input, batch, cancellationToken); // [batch, classes]
                for (int i = 0; i < batch; i++)
                {
                    targets[i] = [.. Predictions.TopK(logits.AsSpan(i * Config.NumClasses, Config.NumClasses), Config, count).Select(p => p.Index)];
                }
            }
            else
            {
                Array.Fill(targets, fixedClasses);
            }

            var classMaps = new List<(int Rank, MethodMap Map)>[batch];
            for (int i = 0; i < batch; i++)
            {
                classMaps[i] = [];
            }

            var specific = MethodCatalog.In(options.Method).Where(m => m.ClassSpecific).ToArray();
            GradientOutput? first = null;
            for (int step = 1; step <= count; step++)
            {
                int rank = step % count; // 1, 2, …, count − 1, then 0
                cancellationToken.ThrowIfCancellationRequested();
                int[] target = [.. targets.Select(t => t[rank])];
                GradientOutput run = gradients.Run(input, batch, target, cancellationToken);
                for (int i = 0; i < batch; i++)
                {
                    var inputs = MethodInputsOf(run.Attentions, i, options, [], run);
                    foreach (var method in specific)
                    {
                        var map = new AttentionMap(Config.GridHeight, Config.GridWidth, method.Compute(inputs));
                        classMaps[i].Add((rank, new MethodMap(method.Method, target[i], Config.LabelOf(target[i]), map)));
                    }
                }

                first = run;
            }

            for (int i = 0; i < batch; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                results.Add(Build(pending[i].Image!, first!.Attentions, first.Logits, i, options, pending[i].Index, classMaps[i], targets[i]));
                pending[i] = (pending[i].Index, null); // the photo now belongs to the explanation
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(pixels);
        }
    }

    /// <summary>What the method formulas read for one image: the rows of the options' query token, or the patch-row mean.</summary>
    private MethodInputs MethodInputsOf(AttentionStack stack, int item, ExplainOptions options, float[] rolloutRow, GradientOutput? gradients)
    {
        var readout = QueryReadout.For(Config, options.Rollout.QueryToken);
        return new MethodInputs
        {
            Attentions = stack,
            Item = item,
            Prefix = Config.PrefixTokens,
            Query = readout.IsPatchQueryMean ? QueryRows.Patches(Config.PrefixTokens, Config.Tokens) : QueryRows.Token(readout.QueryToken),
            Rollout = options.Rollout,
            RolloutRow = rolloutRow,
            FlowEngines = _flowEngines,
            Gradients = gradients,
        };
    }

    /// <summary>
    /// One image's explanation from its batch's output: every layer's map, each head's query row, the rollout row,
    /// the focus ranking and the probabilities are computed here, so nothing of the batch is kept afterwards (only
    /// this item's attention, copied, when <see cref="ExplainOptions.KeepAttentions"/> asks for it).
    /// </summary>
    private Explanation Build(
        PreprocessedImage image, AttentionStack stack, float[] batchLogits, int item, ExplainOptions options, int inputIndex,
        IReadOnlyList<(int Rank, MethodMap Map)> classMaps, int[] targets)
    {
        var config = Config;
        var rolloutOptions = options.Rollout with { PrefixTokens = config.PrefixTokens, InputsAreSoftmax = true };
        int heads = config.NumHeads;
        var engine = _engines.TryTake(out var e) ? e : new RolloutEngine();
        try
        {
            // The class token's row, or for models without one the mean over every patch query (what their pooled
            // output reads); register tokens are prefix tokens and never in the maps.
            var readout = QueryReadout.For(config, rolloutOptions.QueryToken);
            var maps = new AttentionMap[config.NumLayers];
            var headMaps = new AttentionMap[config.NumLayers * heads]; // [layer, head]
            var registerShares = new double?[config.NumLayers];
            for (int l = 0; l < maps.Length; l++)
            {
                maps[l] = readout.LayerMap(engine, stack, l, item, head: null);
                for (int h = 0; h < heads; h++)
                {
                    headMaps[(l * heads) + h] = readout.LayerMap(engine, stack, l, item, h);
                }

                registerShares[l] = readout.RegisterShare(stack, l, item);
            }

            float[] row = readout.RolloutRow(engine, stack, item, rolloutOptions);
            var rollout = new AttentionMap(config.GridHeight, config.GridWidth, row.AsSpan(config.PrefixTokens));
            var photoSize = new SKSizeI(image.Photo.Width, image.Photo.Height);
            var seen = SKRectI.Round(image.Crop);
            var focus = options.RegionOfInterest is { } roi
                ? LayerFocus.Rank(maps, roi, photoSize, seen, Math.Min(options.FocusedTop, maps.Length))
                : LayerFocus.Rank(maps, Math.Min(options.FocusedTop, maps.Length));
            var layers = maps.Select((m, l) => new LayerAttention(l + 1, m, focus.Scores[l])).ToArray();
            // A model without a classifier (DINO) explains attention only: no probabilities, no predictions.
            var logits = config.NumClasses > 0 ? batchLogits.AsSpan(item * config.NumClasses, config.NumClasses) : [];
            float[] probabilities = config.NumClasses > 0 ? Predictions.Softmax(logits) : [];
            IReadOnlyList<Prediction> top = config.NumClasses > 0 ? Predictions.TopKOfProbabilities(probabilities, config, options.TopK) : [];
            AttentionStack? kept = options.KeepAttentions ? CopyItem(stack, item) : null;
            MethodMap[] methodMaps = MethodMapsOf(stack, item, options, row, classMaps);
            return new Explanation(
                image.Source, config, options, top, probabilities, layers, rollout, row, focus, image.Photo, seen, headMaps, registerShares, kept, inputIndex,
                methodMaps, targets);
        }
        finally
        {
            _engines.Add(engine);
        }
    }

    /// <summary>
    /// Every method map of one image, in <see cref="MethodCatalog"/>'s order: the class-agnostic ones computed here, the
    /// class-specific ones (already computed from their gradient runs) by class rank.
    /// </summary>
    private MethodMap[] MethodMapsOf(AttentionStack stack, int item, ExplainOptions options, float[] rolloutRow, IReadOnlyList<(int Rank, MethodMap Map)> classMaps)
    {
        var maps = new List<MethodMap>();
        MethodInputs? inputs = null;
        foreach (var method in MethodCatalog.In(options.Method))
        {
            if (method.ClassSpecific)
            {
                maps.AddRange(classMaps.Where(c => c.Map.Method == method.Method).OrderBy(c => c.Rank).Select(c => c.Map));
                continue;
            }

            inputs ??= MethodInputsOf(stack, item, options, rolloutRow, null);
            maps.Add(new MethodMap(method.Method, null, null, new AttentionMap(Config.GridHeight, Config.GridWidth, method.Compute(inputs))));
        }

        return [.. maps];
    }

    /// <summary>One item's part of a batch's stack as a stack of its own, <c>[layer, 1, head, query, key]</c>.</summary>
    private static AttentionStack CopyItem(AttentionStack stack, int item)
    {
        var shape = stack.Shape;
        var own = new AttentionShape(shape.Layers, 1, shape.Heads, shape.Tokens);
        var data = new float[own.TotalLength];
        for (int l = 0; l < shape.Layers; l++)
        {
            stack.Layer(l, item).CopyTo(data.AsSpan((int)own.OffsetOf(l, 0), (int)own.LayerLength));
        }

        return new AttentionStack(own, data);
    }
}
