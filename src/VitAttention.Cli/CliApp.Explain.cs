using System.Globalization;
using System.Text;
using System.Text.Json;
using VitAttention.Analysis;
using VitAttention.Rendering;
using VitAttention.Rollout;

namespace VitAttention.Cli;

internal static partial class CliApp
{
    private static int Explain(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var a = Parse(CliCommands.Explain, args);
        if (a.Positionals.Count == 0)
        {
            throw new UsageException("'explain' needs at least one image path.");
        }

        if (IsDataset(a))
        {
            return ExplainDataset(a, stdout, stderr, ct);
        }

        string outDir = a.Require("out");
        bool keepGoing = a.Has("keep-going");
        if (!keepGoing)
        {
            // Without --keep-going a missing image stops the run: find out before the model loads.
            foreach (string image in a.Positionals)
            {
                RequireFile(image, "image");
            }
        }

        float[]? roi = a.FloatList("roi", 4);
        if (roi is not null && (roi[2] <= 0 || roi[3] <= 0))
        {
            throw new UsageException($"'explain': --roi x,y,w,h needs a positive width and height, got '{a.Get("roi")}'.");
        }

        var options = ExplainOptionsFrom(a) with
        {
            RegionOfInterest = roi is null
                ? null
                : RegionOfInterest.FromRectangle((int)MathF.Round(roi[0]), (int)MathF.Round(roi[1]), (int)MathF.Round(roi[2]), (int)MathF.Round(roi[3])),
        };

        var explainerOptions = ExplainerOptionsFrom(a, stderr) with { MaxBatchSize = a.Int("batch", 8, 1, 256) };
        using var explainer = VitExplainer.Load(a.Get("model") ?? AttentionRollout.DefaultModel, explainerOptions, ct);
        int[]? layers = a.IntList("layers", 1, explainer.Config.NumLayers);
        if (layers is not null)
        {
            options = options with { Layers = layers };
        }

        ValidateForModel(options, explainer.Config, "explain");
        IReadOnlyList<string> images = a.Positionals;
        var stems = UniqueStems(images);
        RefuseOverwritingInputs(images, explainer.ModelFiles, outDir, stems, WritesMethodFigures(options));

        var progress = new ExplainProgress(stderr, images.Count, interactive: !Console.IsErrorRedirected && stderr == Console.Error);
        var written = new List<WrittenImage>();
        var failures = new List<ExplainFailure>();
        var keptForComparison = new List<Explanation>();
        var comparisons = new List<string>();
        bool cancelled = false;
        Action<ExplainFailure>? onFailure = keepGoing
            ? f =>
            {
                failures.Add(f);
                progress.Failed(f);
            }
            : null;
        try
        {
            try
            {
                // Each image's files are written as soon as its batch is done: Ctrl+C, or an image that fails without
                // --keep-going, leaves every earlier image's outputs complete.
                foreach (Explanation e in explainer.ExplainMany(images, options, onFailure, ct))
                {
                    bool keep = images.Count == 2;
                    try
                    {
                        progress.Explained();
                        var paths = e.SaveFigures(outDir, stems[e.InputIndex]);
                        written.Add(new WrittenImage(e.Source, paths, e.Predictions, e.FocusedLayers));
                        progress.Written(e.Source, paths);
                        if (keep)
                        {
                            keptForComparison.Add(e);
                        }
                    }
                    finally
                    {
                        if (!keep)
                        {
                            e.Dispose();
                        }
                    }
                }

                // Two photos: the study compares them, so each figure also comes side by side.
                if (keptForComparison.Count == 2)
                {
                    var sideBySide = FigurePaths.For(outDir, ComparisonStem(stems));
                    foreach (var (kind, _) in FigurePaths.FigureSuffixes)
                    {
                        ct.ThrowIfCancellationRequested();
                        string path = sideBySide.Of(kind);
                        using var image = Explanation.Compare(keptForComparison[0], keptForComparison[1], kind);
                        Figures.Save(image, path);
                        comparisons.Add(path);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                cancelled = true;
            }

            progress.Finish();
            Report(stdout, a.Has("json"), outDir, written, failures, comparisons, cancelled, explainer.Config);
        }
        finally
        {
            keptForComparison.ForEach(e => e.Dispose());
        }

        if (cancelled)
        {
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"vit-attention: cancelled after {written.Count} of {images.Count} images; their files in {outDir} are complete and kept."));
            return ExitCodes.Cancelled;
        }

        if (failures.Count > 0)
        {
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"vit-attention: {failures.Count} of {images.Count} images failed (listed above); the other {written.Count} were written."));
            return ExitCodes.SomeFailed;
        }

        return ExitCodes.Ok;
    }

    /// <summary>The explain options from the command line, but the region of interest and the layers (which need the model).</summary>
    private static ExplainOptions ExplainOptionsFrom(CliArguments a)
    {
        var overlay = OverlayOptions.Default with
        {
            Colormap = a.Enum("colormap", Colormap.Jet),
            Alpha = a.Float("alpha", 0.6f, 0f, 1f),
            ClipPercentile = a.Get("clip-percentile") is null ? null : a.Float("clip-percentile", 99f, 50f, 100f),
            ColorBar = a.Has("colorbar"),
        };
        return new ExplainOptions
        {
            TopK = a.Int("top-classes", 5, 1, 100_000),
            FocusedTop = a.Int("top-layers", 3, 1, 1024),
            Rollout = RolloutOptions.Default with
            {
                Fusion = a.Enum("head-fusion", HeadFusion.Mean),
                DiscardRatio = a.Float("discard", 0f, 0f, 0.99f),
            },
            Figure = FigureOptions.Default with { Overlay = overlay },
            Method = MethodsOf(a, "explain"),
            TargetClass = TargetClassOf(a, "explain"),
        };
    }

    /// <summary>What the summary says about an image whose files were written (kept after its explanation is disposed).</summary>
    private sealed record WrittenImage(string Source, FigurePaths Paths, IReadOnlyList<Inference.Prediction> Predictions, IReadOnlyList<int> FocusedLayers);

    private static void Report(
        TextWriter stdout, bool json, string outDir, List<WrittenImage> written, List<ExplainFailure> failures,
        List<string> comparisons, bool cancelled, Models.VitConfig config)
    {
        if (json)
        {
            stdout.WriteLine(SummaryJson(outDir, written, failures, comparisons, cancelled, config));
            return;
        }

        foreach (var image in written)
        {
            var top = image.Predictions.Count > 0 ? image.Predictions[0] : null;
            var paths = image.Paths;
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{image.Source}: {(top is null ? "no classifier" : $"{top.Label} {top.Probability:0.0000}")}; most focused layers {string.Join(", ", image.FocusedLayers)}"));
            stdout.WriteLine("  " + string.Join("\n  ", paths.All));
        }

        foreach (var f in failures)
        {
            stdout.WriteLine($"{f.Source}: failed: {OneLine(f.Error.Message)}");
        }

        if (comparisons.Count > 0)
        {
            stdout.WriteLine("side by side:\n  " + string.Join("\n  ", comparisons));
        }
    }

    /// <summary>Every file explain may write, so none of them can be one of the inputs (images or model files), by any path, link or hard link.</summary>
    internal static void RefuseOverwritingInputs(
        IReadOnlyList<string> images, IReadOnlyList<string> modelFiles, string outDir, string[] stems, (bool Methods, bool Classes) methodFigures = default)
    {
        var outputs = stems.SelectMany(s => FigurePaths.For(outDir, s, methodFigures.Methods, methodFigures.Classes).All).ToList();
        if (stems.Length == 2)
        {
            var sideBySide = FigurePaths.For(outDir, ComparisonStem(stems));
            outputs.AddRange(FigurePaths.FigureSuffixes.Select(f => sideBySide.Of(f.Kind)));
        }

        foreach (string output in outputs)
        {
            if (OutputGuard.Clash(output, images) is { } image)
            {
                throw new UsageException($"'explain' would write {Path.GetFileName(output)} over the input image '{image}'; choose another --out folder.");
            }

            if (OutputGuard.Clash(output, modelFiles) is { } modelFile)
            {
                throw new UsageException($"'explain' would write {Path.GetFileName(output)} over the model file '{modelFile}'; choose another --out folder.");
            }
        }
    }

    /// <summary>Which method figures explain may write: the grid with any method but rollout, the class comparison with a gradient method for two or more classes.</summary>
    internal static (bool Methods, bool Classes) WritesMethodFigures(ExplainOptions options) =>
        (options.Method != ExplanationMethod.Rollout,
         options.TargetClass.Count >= 2 && Analysis.Methods.MethodCatalog.NeedsGradients(options.Method));

    /// <summary>The options checked against the loaded model; a bad --class or a gradient method on a model without classes is a usage error.</summary>
    internal static void ValidateForModel(ExplainOptions options, Models.VitConfig config, string command)
    {
        try
        {
            options.ValidateFor(config);
        }
        catch (ArgumentException e) when (e.ParamName is nameof(ExplainOptions.TargetClass) or nameof(ExplainOptions.Method))
        {
            throw new UsageException($"'{command}': {(e.ParamName == nameof(ExplainOptions.Method) ? "--method" : "--class")}: {StripParameter(e.Message)}");
        }
    }

    /// <summary>An ArgumentException's message without the " (Parameter 'x')" .NET appends.</summary>
    private static string StripParameter(string message)
    {
        int at = message.LastIndexOf(" (Parameter '", StringComparison.Ordinal);
        return at > 0 ? message[..at] : message;
    }

    /// <summary>The stem of the side-by-side figures of two photos.</summary>
    internal static string ComparisonStem(string[] stems) => $"{stems[0]}_vs_{stems[1]}";

    /// <summary>File stems for the images, made unique when two images share a file name.</summary>
    internal static string[] UniqueStems(IReadOnlyList<string> images)
    {
        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var stems = new string[images.Count];
        for (int i = 0; i < images.Count; i++)
        {
            string stem = Path.GetFileNameWithoutExtension(images[i]);
            if (stem.Length == 0 || stem.StartsWith('.'))
            {
                stem = "image";
            }

            string candidate = stem;
            for (int n = 2; !used.Add(candidate); n++)
            {
                candidate = string.Create(CultureInfo.InvariantCulture, $"{stem}-{n}");
            }

            stems[i] = candidate;
        }

        return stems;
    }

    private static string SummaryJson(
        string outDir, List<WrittenImage> written, List<ExplainFailure> failures, List<string> comparisons, bool cancelled, Models.VitConfig config)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("out", outDir);
            w.WriteStartArray("images");
            foreach (var image in written)
            {
                var paths = image.Paths;
                w.WriteStartObject();
                w.WriteString("image", image.Source);
                w.WriteStartObject("files");
                w.WriteString("cls", paths.ClsOverlay);
                w.WriteString("layers", paths.Layers);
                w.WriteString("focused", paths.FocusedLayers);
                w.WriteString("rollout", paths.Rollout);
                if (paths.Methods is { } methods)
                {
                    w.WriteString("methods", methods);
                }

                if (paths.Classes is { } classes)
                {
                    w.WriteString("classes", classes);
                }

                w.WriteString("json", paths.Json);
                w.WriteEndObject();
                Explanation.WritePredictions(w, image.Predictions);
                w.WriteStartArray("focusedLayers");
                foreach (int l in image.FocusedLayers)
                {
                    w.WriteNumberValue(l);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("failures");
            foreach (var f in failures)
            {
                w.WriteStartObject();
                w.WriteNumber("index", f.Index);
                w.WriteString("image", f.Source);
                w.WriteString("error", f.Error.GetType().Name);
                w.WriteString("message", OneLine(f.Error.Message));
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("comparisons");
            foreach (string path in comparisons)
            {
                w.WriteStringValue(path);
            }

            w.WriteEndArray();
            w.WriteBoolean("cancelled", cancelled);
            Explanation.WriteModel(w, config);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
