using System.Diagnostics;

namespace VitAttention.Evaluation;

/// <summary>
/// Runs the faithfulness tests over a stream of images: for each image, one forward pass of the original, the maps of
/// every method (and the seeded random baseline), then every perturbed copy that the requested tests need, built in
/// the model's input space and run through the model in batches; the image's curves are yielded as soon as it is done.
/// Images are loaded one at a time, so lists of any length cost only their keys. One instance runs one image at a time
/// (it reuses its batch buffer): use one evaluator per thread.
/// </summary>
/// <remarks>
/// Forward passes per image and method: 9 for each perturbation test, ⌈N / p⌉ − 1 for deletion and for insertion
/// (N patches, p per step); plus, per image, the original and one fully substituted image per substrate, shared by
/// all methods (the curves' end points are those images, bit for bit).
/// </remarks>
internal sealed class FaithfulnessEvaluator
{
    private readonly ILogitsModel _model;
    private readonly IMapProvider? _maps;
    private float[] _batch = [];
    private long _forwards;

    /// <summary>Creates an evaluator.</summary>
    /// <param name="model">The logits of the model being explained.</param>
    /// <param name="maps">The maps of <see cref="EvaluationOptions.Methods"/>; may be null only when that list is empty.</param>
    /// <param name="geometry">The model's input.</param>
    /// <param name="options">What to measure; <see cref="EvaluationOptions.Default"/> when null.</param>
    /// <exception cref="ArgumentException">The options are invalid or name a method the provider does not have.</exception>
    public FaithfulnessEvaluator(ILogitsModel model, IMapProvider? maps, EvaluationGeometry geometry, EvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(geometry);
        Options = options ?? EvaluationOptions.Default;
        Options.Validate();
        foreach (string method in Options.Methods)
        {
            if (maps is null || !maps.Methods.Contains(method))
            {
                string available = maps is null ? "none (no map provider)" : string.Join(", ", maps.Methods);
                throw new ArgumentException($"method '{method}' is not available; available methods: {available}.", nameof(options));
            }
        }

        _model = model;
        _maps = maps;
        Geometry = geometry;
        Methods = [.. Options.Methods, RandomMap.MethodName];
        PatchesPerStep = Options.PatchesPerStepFor(geometry.Patches);
    }

    /// <summary>The options.</summary>
    public EvaluationOptions Options { get; }

    /// <summary>The model's input.</summary>
    public EvaluationGeometry Geometry { get; }

    /// <summary>The methods evaluated: the options' methods, then the random baseline.</summary>
    public IReadOnlyList<string> Methods { get; }

    /// <summary>Patches changed per deletion/insertion step.</summary>
    public int PatchesPerStep { get; }

    /// <summary>Images passed through the model so far (originals and perturbed copies).</summary>
    public long Forwards => Interlocked.Read(ref _forwards);

    /// <summary>
    /// Evaluates the images in order, yielding each one's results as soon as it is done; <paramref name="progress"/>
    /// hears after each image. Cancelling stops before the next forward pass.
    /// </summary>
    /// <exception cref="ArgumentException">Two images share a key.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    public IEnumerable<ImageEvaluation> Evaluate(
        IReadOnlyList<EvaluationImage> images, IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            ArgumentNullException.ThrowIfNull(image, nameof(images));
            if (!keys.Add(image.Key))
            {
                throw new ArgumentException($"two images have the key '{image.Key}'; every image in a run needs its own key.", nameof(images));
            }
        }

        return Run(images, progress, cancellationToken);
    }

    /// <summary>Evaluates one image.</summary>
    /// <exception cref="ArgumentException">The image's pixels or a map have the wrong length, or its label is not a class.</exception>
    public ImageEvaluation EvaluateOne(EvaluationImage image, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        cancellationToken.ThrowIfCancellationRequested();
        float[] pixels;
        try
        {
            pixels = image.Load();
        }
        catch (Exception e) when (Options.ContinueOnImageError && e is InvalidImageException or IOException or UnauthorizedAccessException)
        {
            return ImageEvaluation.Failed(image.Key, image.Label, e.Message);
        }

        return EvaluatePixels(image.Key, image.Label, pixels, cancellationToken);
    }

    private IEnumerable<ImageEvaluation> Run(IReadOnlyList<EvaluationImage> images, IProgress<EvaluationProgress>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < images.Count; i++)
        {
            var result = EvaluateOne(images[i], cancellationToken);
            progress?.Report(new EvaluationProgress(i + 1, images.Count, clock.Elapsed, Forwards));
            yield return result;
        }
    }

    private ImageEvaluation EvaluatePixels(string key, int? label, float[] pixels, CancellationToken cancellationToken)
    {
        var g = Geometry;
        PerturbationTest.CheckImage(pixels, g, $"the pixels of '{key}'");
        float[] logits = Forward(pixels, 1, cancellationToken);
        int classes = logits.Length;
        if (label is { } l && l >= classes)
        {
            throw new ArgumentException($"the label of '{key}' is {l}, but the model has {classes} classes (0..{classes - 1}).");
        }

        int predicted = ArgMax(logits);
        double[] probabilities = Softmax(logits);
        int target = label ?? predicted;                                   // perturbation tests: accuracy against this
        int explained = Options.ExplainLabel && label is { } lab ? lab : predicted;
        var maps = MapsOf(key, pixels, explained, cancellationToken);

        var jobs = new List<Job>();
        var curves = new List<(string Method, FaithfulnessMetric Metric, double[] X, double[] Y)>();
        bool wantsDeletion = Options.Metrics.Contains(FaithfulnessMetric.Deletion);
        bool wantsInsertion = Options.Metrics.Contains(FaithfulnessMetric.Insertion);
        float[]? deletionSubstrate = wantsDeletion ? SubstrateOf(Options.DeletionSubstrate, pixels) : null;
        float[]? insertionSubstrate = !wantsInsertion ? null
            : wantsDeletion && Options.InsertionSubstrate == Options.DeletionSubstrate ? deletionSubstrate : SubstrateOf(Options.InsertionSubstrate, pixels);
        int[] counts = DeletionInsertion.Counts(g.Patches, PatchesPerStep);
        double[] patchX = DeletionInsertion.X(counts, g.Patches);
        int last = counts.Length - 1;
        var deletionEnds = new List<double[]>();   // curves whose last point is the fully deleted image
        var insertionStarts = new List<double[]>(); // curves whose first point is the full insertion substrate

        for (int m = 0; m < Methods.Count; m++)
        {
            float[] map = maps[m];
            foreach (var metric in Options.Metrics)
            {
                switch (metric)
                {
                    case FaithfulnessMetric.PositivePerturbation or FaithfulnessMetric.NegativePerturbation:
                    {
                        int[] order = PerturbationTest.PixelOrder(map, g, metric == FaithfulnessMetric.PositivePerturbation);
                        var y = new double[PerturbationTest.X.Count];
                        y[0] = predicted == target ? 1 : 0;
                        for (int s = 0; s < PerturbationTest.Fractions.Count; s++)
                        {
                            int count = PerturbationTest.PixelsAt(g.Plane, PerturbationTest.Fractions[s]), point = s + 1;
                            jobs.Add(new Job(
                                dst => PerturbationTest.Apply(pixels, order, count, g, dst),
                                o => y[point] = ArgMax(o) == target ? 1 : 0));
                        }

                        curves.Add((Methods[m], metric, [.. PerturbationTest.X], y));
                        break;
                    }

                    case FaithfulnessMetric.Deletion or FaithfulnessMetric.Insertion:
                    {
                        bool deletion = metric == FaithfulnessMetric.Deletion;
                        int[] order = DeletionInsertion.PatchOrder(map);
                        float[] start = deletion ? pixels : insertionSubstrate!;
                        float[] finish = deletion ? deletionSubstrate! : pixels;
                        var y = new double[counts.Length];
                        if (deletion)
                        {
                            y[0] = probabilities[predicted];
                            deletionEnds.Add(y);
                        }
                        else
                        {
                            y[last] = probabilities[predicted];
                            insertionStarts.Add(y);
                        }

                        for (int k = 1; k < last; k++)
                        {
                            int count = counts[k], point = k;
                            jobs.Add(new Job(
                                dst => DeletionInsertion.Apply(start, finish, order, count, g, dst),
                                o => y[point] = Softmax(o)[predicted]));
                        }

                        curves.Add((Methods[m], metric, (double[])patchX.Clone(), y));
                        break;
                    }
                }
            }
        }

        if (deletionSubstrate is not null)
        {
            // The fully deleted image; when insertion starts from the same substrate it is that image too.
            bool shared = ReferenceEquals(deletionSubstrate, insertionSubstrate);
            jobs.Add(new Job(dst => deletionSubstrate.CopyTo(dst), o =>
            {
                double p = Softmax(o)[predicted];
                deletionEnds.ForEach(y => y[last] = p);
                if (shared)
                {
                    insertionStarts.ForEach(y => y[0] = p);
                }
            }));
        }

        if (insertionSubstrate is not null && !ReferenceEquals(deletionSubstrate, insertionSubstrate))
        {
            jobs.Add(new Job(dst => insertionSubstrate.CopyTo(dst), o =>
            {
                double p = Softmax(o)[predicted];
                insertionStarts.ForEach(y => y[0] = p);
            }));
        }

        RunJobs(jobs, classes, cancellationToken);
        var results = curves.Select(c => new MetricCurve(c.Method, c.Metric, c.X, c.Y,
            FaithfulnessMetrics.IsPerturbation(c.Metric) ? PerturbationTest.Auc(c.Y) : AreaUnderCurve.Trapezoid(c.X, c.Y))).ToList();
        return new ImageEvaluation(key, label, predicted, probabilities[predicted], results);
    }

    /// <summary>The maps of every method, the random baseline last, each checked.</summary>
    private List<float[]> MapsOf(string key, float[] pixels, int explained, CancellationToken cancellationToken)
    {
        var maps = new List<float[]>(Methods.Count);
        if (Options.Methods.Count > 0)
        {
            var computed = _maps!.Maps(Options.Methods, pixels, explained, cancellationToken);
            if (computed is null || computed.Count != Options.Methods.Count)
            {
                throw new InvalidOperationException($"the map provider returned {computed?.Count ?? 0} maps for {Options.Methods.Count} methods.");
            }

            maps.AddRange(computed);
        }

        maps.Add(RandomMap.For(Options.RandomSeed, key, Geometry.Patches));
        for (int m = 0; m < maps.Count; m++)
        {
            if (maps[m] is null || maps[m].Length != Geometry.Patches || maps[m].Any(v => !float.IsFinite(v)))
            {
                throw new InvalidOperationException(
                    $"the '{Methods[m]}' map of '{key}' must hold {Geometry.Patches} finite values ({Geometry.GridHeight}×{Geometry.GridWidth} patches), " +
                    $"got {(maps[m] is null ? "null" : $"{maps[m].Length} values")}{(maps[m]?.Any(v => !float.IsFinite(v)) == true ? " with NaN or infinity" : string.Empty)}.");
            }
        }

        return maps;
    }

    private float[] SubstrateOf(Substrate kind, float[] pixels)
    {
        var substrate = new float[pixels.Length];
        Substrates.Fill(kind, pixels, Geometry, substrate);
        return substrate;
    }

    /// <summary>Builds the jobs' images in batches, runs them, and hands each its logits.</summary>
    private void RunJobs(List<Job> jobs, int classes, CancellationToken cancellationToken)
    {
        int one = Geometry.InputLength, size = Options.BatchSize;
        if (_batch.Length < (long)size * one)
        {
            _batch = new float[checked(size * one)]; // [batch, channels, height, width]
        }

        for (int startJob = 0; startJob < jobs.Count; startJob += size)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = Math.Min(size, jobs.Count - startJob);
            for (int i = 0; i < n; i++)
            {
                jobs[startJob + i].Fill(_batch.AsSpan(i * one, one));
            }

            float[] logits = Forward(_batch.AsSpan(0, n * one), n, cancellationToken);
            if (logits.Length != n * classes)
            {
                throw new InvalidOperationException($"the model returned {logits.Length} logits for a batch of {n} × {classes} classes.");
            }

            for (int i = 0; i < n; i++)
            {
                jobs[startJob + i].Record(logits.AsSpan(i * classes, classes));
            }
        }
    }

    private float[] Forward(ReadOnlySpan<float> pixels, int batch, CancellationToken cancellationToken)
    {
        float[] logits = _model.Logits(pixels, batch, cancellationToken);
        Interlocked.Add(ref _forwards, batch);
        if (logits is null || logits.Length == 0 || logits.Length % batch != 0)
        {
            throw new InvalidOperationException($"the model returned {logits?.Length ?? 0} logits for a batch of {batch}.");
        }

        return logits;
    }

    /// <summary>The first index of the largest logit (as <c>torch.max</c> and <c>argmax</c> pick).</summary>
    internal static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }

        return best;
    }

    /// <summary>Softmax in float64, shifted by the maximum.</summary>
    internal static double[] Softmax(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (float v in logits)
        {
            max = Math.Max(max, v);
        }

        var result = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = Math.Exp(logits[i] - max);
            sum += result[i];
        }

        for (int i = 0; i < result.Length; i++)
        {
            result[i] /= sum;
        }

        return result;
    }

    /// <summary>One perturbed copy: how to build it, and what to do with its logits.</summary>
    private sealed record Job(SpanAction Fill, LogitsAction Record);

    private delegate void SpanAction(Span<float> destination);

    private delegate void LogitsAction(ReadOnlySpan<float> logits);
}
