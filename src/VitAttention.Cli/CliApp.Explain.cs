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
        var a = Parse("explain", args,
            ["out", "layers", "top", "roi", "colormap", "alpha", "head-fusion", "discard", "top-classes", "batch", "clip-percentile"], ["colorbar"]);
        if (a.Positionals.Count == 0)
        {
            throw new UsageException("'explain' needs at least one image path.");
        }

        string outDir = a.Require("out");
        foreach (string image in a.Positionals)
        {
            RequireFile(image, "image");
        }

        float[]? roi = a.FloatList("roi", 4);
        if (roi is not null && (roi[2] <= 0 || roi[3] <= 0))
        {
            throw new UsageException($"'explain': --roi x,y,w,h needs a positive width and height, got '{a.Get("roi")}'.");
        }

        var overlay = OverlayOptions.Default with
        {
            Colormap = a.Enum("colormap", Colormap.Jet),
            Alpha = a.Float("alpha", 0.6f, 0f, 1f),
            ClipPercentile = a.Get("clip-percentile") is null ? null : a.Float("clip-percentile", 99f, 50f, 100f),
            ColorBar = a.Has("colorbar"),
        };
        var options = new ExplainOptions
        {
            TopK = a.Int("top-classes", 5, 1, 100_000),
            FocusedTop = a.Int("top", 3, 1, 1024),
            Rollout = RolloutOptions.Default with
            {
                Fusion = a.Enum("head-fusion", HeadFusion.Mean),
                DiscardRatio = a.Float("discard", 0f, 0f, 0.99f),
            },
            RegionOfInterest = roi is null
                ? null
                : RegionOfInterest.FromRectangle((int)MathF.Round(roi[0]), (int)MathF.Round(roi[1]), (int)MathF.Round(roi[2]), (int)MathF.Round(roi[3])),
            Figure = FigureOptions.Default with { Overlay = overlay },
        };

        var explainerOptions = ExplainerOptionsFrom(a, stderr) with { MaxBatchSize = a.Int("batch", 8, 1, 256) };
        using var explainer = VitExplainer.Load(a.Get("model") ?? AttentionRollout.DefaultModel, explainerOptions, ct);
        int[]? layers = a.IntList("layers", 1, explainer.Config.NumLayers);
        if (layers is not null)
        {
            options = options with { Layers = layers };
        }

        options.Validate(explainer.Config.NumLayers);
        var stems = UniqueStems(a.Positionals);
        RefuseOverwritingInputs(a.Positionals, outDir, stems);
        var bar = new CountProgress(stderr, a.Positionals.Count, Console.IsErrorRedirected || stderr != Console.Error);
        var explanations = explainer.ExplainMany(a.Positionals, options, bar, ct);
        var written = new List<(Explanation Explanation, FigurePaths Paths)>();
        try
        {
            for (int i = 0; i < explanations.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                written.Add((explanations[i], explanations[i].SaveFigures(outDir, stems[i])));
            }

            // Two photos: the study compares them, so each figure also comes side by side.
            var comparisons = new List<string>();
            if (explanations.Count == 2)
            {
                var sideBySide = FigurePaths.For(outDir, ComparisonStem(stems));
                foreach (var (kind, _) in FigurePaths.FigureSuffixes)
                {
                    string path = sideBySide.Of(kind);
                    using var image = Explanation.Compare(explanations[0], explanations[1], kind);
                    Figures.Save(image, path);
                    comparisons.Add(path);
                }
            }

            if (a.Has("json"))
            {
                stdout.WriteLine(SummaryJson(outDir, written, comparisons));
            }
            else
            {
                foreach (var (e, paths) in written)
                {
                    var top = e.Predictions.Count > 0 ? e.Predictions[0] : null;
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{e.Source}: {(top is null ? "no classifier" : $"{top.Label} {top.Probability:0.0000}")}; most focused layers {string.Join(", ", e.FocusedLayers)}"));
                    stdout.WriteLine($"  {paths.ClsOverlay}\n  {paths.Layers}\n  {paths.FocusedLayers}\n  {paths.Rollout}\n  {paths.Json}");
                }

                if (comparisons.Count > 0)
                {
                    stdout.WriteLine("side by side:\n  " + string.Join("\n  ", comparisons));
                }
            }
        }
        finally
        {
            foreach (var e in explanations)
            {
                e.Dispose();
            }
        }

        return ExitCodes.Ok;
    }

    /// <summary>Every file explain may write, so none of them can be one of the inputs.</summary>
    internal static void RefuseOverwritingInputs(IReadOnlyList<string> images, string outDir, string[] stems)
    {
        var inputs = images.ToDictionary(i => Path.GetFullPath(i), i => i, StringComparer.Ordinal);
        var outputs = stems.SelectMany(s => FigurePaths.For(outDir, s).All).ToList();
        if (stems.Length == 2)
        {
            var sideBySide = FigurePaths.For(outDir, ComparisonStem(stems));
            outputs.AddRange(FigurePaths.FigureSuffixes.Select(f => sideBySide.Of(f.Kind)));
        }

        foreach (string output in outputs)
        {
            if (inputs.TryGetValue(Path.GetFullPath(output), out string? input))
            {
                throw new UsageException($"'explain' would write {Path.GetFileName(output)} over the input image '{input}'; choose another --out folder.");
            }
        }
    }

    /// <summary>The stem of the side-by-side figures of two photos.</summary>
    private static string ComparisonStem(string[] stems) => $"{stems[0]}_vs_{stems[1]}";

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

    private static string SummaryJson(string outDir, List<(Explanation Explanation, FigurePaths Paths)> written, List<string> comparisons)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("out", outDir);
            w.WriteStartArray("images");
            foreach (var (e, paths) in written)
            {
                w.WriteStartObject();
                w.WriteString("image", e.Source);
                w.WriteStartObject("files");
                w.WriteString("cls", paths.ClsOverlay);
                w.WriteString("layers", paths.Layers);
                w.WriteString("focused", paths.FocusedLayers);
                w.WriteString("rollout", paths.Rollout);
                w.WriteString("json", paths.Json);
                w.WriteEndObject();
                Explanation.WritePredictions(w, e.Predictions);
                w.WriteStartArray("focusedLayers");
                foreach (int l in e.FocusedLayers)
                {
                    w.WriteNumberValue(l);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("comparisons");
            foreach (string path in comparisons)
            {
                w.WriteStringValue(path);
            }

            w.WriteEndArray();
            if (written.Count > 0)
            {
                Explanation.WriteModel(w, written[0].Explanation.Config);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Images-done progress on stderr: a bar redrawn in place on a terminal, a line per batch otherwise.</summary>
    private sealed class CountProgress(TextWriter writer, int total, bool plain) : IProgress<int>
    {
        public void Report(int value)
        {
            const int Cells = 24;
            int filled = total == 0 ? Cells : value * Cells / total;
            string line = string.Create(CultureInfo.InvariantCulture, $"explaining [{new string('#', filled)}{new string('.', Cells - filled)}] {value}/{total} images");
            if (plain)
            {
                writer.WriteLine(line);
            }
            else
            {
                writer.Write("\r" + line + (value >= total ? "\n" : string.Empty));
            }
        }
    }
}
