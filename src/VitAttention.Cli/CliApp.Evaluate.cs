using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using VitAttention.Evaluation;
using VitAttention.Inference;
using VitAttention.Rendering;
using VitAttention.Rollout;

namespace VitAttention.Cli;

/// <summary>
/// The data-set commands: <c>evaluate</c> (faithfulness tests over images, a folder or a list), <c>merge</c> (aggregate
/// the JSON Lines results of shards) and <c>explain</c> over a data set with <c>--shard</c>/<c>--resume</c>. Each image's
/// result is appended to a JSON Lines file as soon as it is done, so a killed run loses at most the image in flight.
/// </summary>
internal static partial class CliApp
{
    internal const string EvaluateUsage = """
        data-set commands:
          evaluate <image|folder|list.txt…> [--model M] --out DIR [--methods rollout,attention]
                   [--metrics positive,negative,deletion,insertion|all] [--labels FILE] [--steps N | --patches-per-step P]
                   [--substrate zero|blur|mean] [--insertion-substrate blur|zero|mean] [--batch 16] [--seed 0]
                   [--explain-label] [--shard i/N] [--resume] [--continue-on-error] [--json]
              faithfulness tests (Chefer et al. 2021 positive/negative perturbation, Petsiuk et al. 2018 deletion/insertion)
              of each method and a random-map baseline; writes DIR/results.jsonl (one line per image as it finishes),
              DIR/faithfulness.md (the table), .json and .png (the curves). Given .jsonl files instead of images, it
              aggregates them as merge does.
          merge <results.jsonl|folder…> --out DIR [--json]
              aggregate the JSON Lines results of shards into DIR/faithfulness.md, .json and .png
          explain <folder|list.txt…> --out DIR [--shard i/N] [--resume] [explain's figure options]
              explain a data set: figures per image under DIR (subfolders as in the input), DIR/explain.jsonl
        """;

    private static readonly string[] EvaluateValued =
        ["out", "methods", "metrics", "labels", "steps", "patches-per-step", "substrate", "insertion-substrate", "batch", "seed", "shard"];

    private static readonly string[] DatasetExplainValued =
        ["out", "layers", "top", "colormap", "alpha", "head-fusion", "discard", "top-classes", "batch", "clip-percentile", "shard"];

    /// <summary>True when an explain command line names a folder or list, or asks for --shard or --resume.</summary>
    internal static bool IsDatasetExplain(string[] args)
    {
        if (args.Contains("--shard") || args.Contains("--resume"))
        {
            return true;
        }

        try
        {
            var a = Parse("explain", args, [.. DatasetExplainValued, "roi"], ["colorbar", "resume"]);
            return a.Positionals.Any(p => Directory.Exists(p) || p.EndsWith(".txt", StringComparison.OrdinalIgnoreCase));
        }
        catch (UsageException)
        {
            return false; // let explain report it
        }
    }

    private static int Evaluate(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var a = Parse("evaluate", args, EvaluateValued, ["resume", "explain-label", "continue-on-error"]);
        if (a.Positionals.Count == 0)
        {
            throw new UsageException("'evaluate' needs images, folders or .txt lists of images (or .jsonl results to aggregate).");
        }

        string outDir = a.Require("out");
        if (a.Positionals.All(p => p.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)))
        {
            return WriteAggregate(a.Positionals, outDir, "faithfulness", a.Has("json"), stdout, stderr);
        }

        var shard = a.Get("shard") is { } s ? ParseShard(s) : ShardSpec.All;
        if (a.Get("steps") is not null && a.Get("patches-per-step") is not null)
        {
            throw new UsageException("'evaluate': give --steps or --patches-per-step, not both.");
        }

        var entries = shard.Select(ImageList.Expand(a.Positionals), e => e.Key);
        var labels = a.Get("labels") is { } labelPath ? ReadLabels(labelPath) : null;
        var options = new EvaluationOptions
        {
            Methods = [.. (a.Get("methods") ?? ExplainerMapProvider.Rollout).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Where(m => m != RandomMap.MethodName).Distinct()],
            Metrics = a.Get("metrics") is { } metrics ? ParseMetrics(metrics) : FaithfulnessMetrics.All,
            DeletionSubstrate = a.Enum("substrate", Substrate.Zero),
            InsertionSubstrate = a.Enum("insertion-substrate", Substrate.Blur),
            Steps = a.Get("steps") is null ? null : a.Int("steps", 10, 1, 1_000_000),
            PatchesPerStep = a.Int("patches-per-step", 1, 1, 1_000_000),
            BatchSize = a.Int("batch", 16, 1, 4096),
            RandomSeed = (ulong)a.Int("seed", 0, 0, int.MaxValue),
            ExplainLabel = a.Has("explain-label"),
            ContinueOnImageError = a.Has("continue-on-error"),
        };

        string suffix = shard.Count > 1 ? string.Create(CultureInfo.InvariantCulture, $".shard-{shard.Index}-of-{shard.Count}") : string.Empty;
        string resultsPath = Path.Combine(outDir, $"results{suffix}.jsonl");
        using var explainer = VitExplainer.Load(a.Get("model") ?? AttentionRollout.DefaultModel, ExplainerOptionsFrom(a, stderr), ct);
        var geometry = EvaluationGeometry.FromConfig(explainer.Config);
        var evaluator = new FaithfulnessEvaluator(new SessionLogitsModel(explainer.Session), new ExplainerMapProvider(explainer), geometry, options);
        CheckRunHeader(Path.Combine(outDir, $"run{suffix}.json"), RunHeader(explainer, evaluator, shard), a.Has("resume"));

        using var log = ResultLog.Open(resultsPath, a.Has("resume"));
        if (log.DroppedBytes > 0)
        {
            stderr.WriteLine($"vit-attention: warning: {resultsPath} ended in a torn line ({log.DroppedBytes} bytes, an image in flight when the last run stopped); it was cut off and that image will be redone.");
        }

        var preprocessor = new ImagePreprocessor(explainer.Config, explainer.Options.ImageLimits);
        var pending = entries.Where(e => !log.Completed.Contains(e.Key))
            .Select(e => EvaluationImage.FromFile(e.Path, e.Key, preprocessor, labels?.Find(e.Key)))
            .ToList();
        if (labels is not null && pending.Count(p => p.Label is null) is > 0 and var unlabelled)
        {
            stderr.WriteLine($"vit-attention: warning: {unlabelled} images have no label in {a.Get("labels")}; their perturbation accuracy is measured against the class predicted on the original.");
        }

        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"evaluate: {entries.Count} images in shard {shard}, {entries.Count - pending.Count} already done, {pending.Count} to go; methods {string.Join(", ", evaluator.Methods)}; {geometry.Patches} patches, {evaluator.PatchesPerStep} per step"));
        var progress = new EvaluationProgressWriter(stderr, Console.IsErrorRedirected || stderr != Console.Error);
        foreach (var result in evaluator.Evaluate(pending, progress, ct))
        {
            log.Append(result.Key, ResultJson.ToLine(result, geometry.Patches, evaluator.PatchesPerStep));
            if (result.Error is not null)
            {
                stderr.WriteLine($"vit-attention: warning: {result.Key}: {result.Error}");
            }
        }

        progress.Finish();
        return WriteAggregate([resultsPath], outDir, "faithfulness" + suffix, a.Has("json"), stdout, stderr);
    }

    private static int Merge(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var a = Parse("merge", args, ["out"], []);
        if (a.Positionals.Count == 0)
        {
            throw new UsageException("'merge' needs .jsonl result files or folders holding them.");
        }

        var files = new List<string>();
        foreach (string p in a.Positionals)
        {
            if (Directory.Exists(p))
            {
                files.AddRange(Directory.EnumerateFiles(p, "results*.jsonl", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
            }
            else
            {
                RequireFile(p, "results file");
                files.Add(p);
            }
        }

        if (files.Count == 0)
        {
            throw new UsageException($"'merge' found no results*.jsonl in {string.Join(", ", a.Positionals)}.");
        }

        return WriteAggregate(files, a.Require("out"), "faithfulness", a.Has("json"), stdout, stderr);
    }

    /// <summary>Aggregates results files into the table, the JSON summary and the curves figure.</summary>
    private static int WriteAggregate(IReadOnlyList<string> files, string outDir, string stem, bool json, TextWriter stdout, TextWriter stderr)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int duplicates = 0;
        var summary = new EvaluationSummary();
        try
        {
            foreach (var r in ResultJson.ReadAll(files))
            {
                if (seen.Add(r.Key))
                {
                    summary.Add(r);
                }
                else
                {
                    duplicates++;
                }
            }
        }
        catch (FormatException e)
        {
            throw new IOException(e.Message, e);
        }

        if (duplicates > 0)
        {
            stderr.WriteLine($"vit-attention: warning: {duplicates} images appear in more than one results file; the first result of each was used.");
        }

        if (summary.Images == 0)
        {
            throw new IOException($"no evaluated images in {string.Join(", ", files)}{(summary.Failures.Count > 0 ? $" ({summary.Failures.Count} failed)" : string.Empty)}.");
        }

        Directory.CreateDirectory(outDir);
        string md = EvaluationReport.ToMarkdown(summary), summaryJson = EvaluationReport.ToJson(summary);
        AtomicFile.Write(Path.Combine(outDir, stem + ".md"), Encoding.UTF8.GetBytes(md));
        AtomicFile.Write(Path.Combine(outDir, stem + ".json"), Encoding.UTF8.GetBytes(summaryJson));
        using (var figure = CurvesFigure.Draw(summary))
        {
            Figures.Save(figure, Path.Combine(outDir, stem + ".png"));
        }

        stdout.WriteLine(json ? summaryJson : md);
        return ExitCodes.Ok;
    }

    /// <summary>What a run was started with; a resumed run must match it.</summary>
    private static string RunHeader(VitExplainer explainer, FaithfulnessEvaluator evaluator, ShardSpec shard)
    {
        var o = evaluator.Options;
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("model", explainer.Model.Source);
            w.WriteString("shard", shard.ToString());
            w.WriteStartArray("methods");
            evaluator.Methods.ToList().ForEach(w.WriteStringValue);
            w.WriteEndArray();
            w.WriteStartArray("metrics");
            o.Metrics.Select(FaithfulnessMetrics.Name).ToList().ForEach(w.WriteStringValue);
            w.WriteEndArray();
            w.WriteString("deletionSubstrate", o.DeletionSubstrate.ToString().ToLowerInvariant());
            w.WriteString("insertionSubstrate", o.InsertionSubstrate.ToString().ToLowerInvariant());
            w.WriteNumber("patches", evaluator.Geometry.Patches);
            w.WriteNumber("patchesPerStep", evaluator.PatchesPerStep);
            w.WriteNumber("seed", o.RandomSeed);
            w.WriteBoolean("explainLabel", o.ExplainLabel);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void CheckRunHeader(string path, string header, bool resume)
    {
        if (resume && File.Exists(path))
        {
            string before = File.ReadAllText(path);
            if (before != header)
            {
                throw new UsageException($"'{path}' shows that run was started with other options:\n{before}\nnow:\n{header}\nresume with the same options, or choose another --out.");
            }

            return;
        }

        AtomicFile.Write(path, Encoding.UTF8.GetBytes(header));
    }

    private static ShardSpec ParseShard(string text)
    {
        try
        {
            return ShardSpec.Parse(text);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
    }

    private static IReadOnlyList<FaithfulnessMetric> ParseMetrics(string text)
    {
        try
        {
            return FaithfulnessMetrics.ParseList(text);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--metrics: {e.Message}");
        }
    }

    private static LabelFile ReadLabels(string path)
    {
        RequireFile(path, "labels file");
        try
        {
            return LabelFile.Read(path);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>Explains every image of a data set (or of one shard), writing figures as each image finishes.</summary>
    private static int ExplainDataset(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var a = Parse("explain", args, [.. DatasetExplainValued, "roi"], ["colorbar", "resume"]);
        if (a.Get("roi") is not null)
        {
            throw new UsageException("'explain' over a data set takes no --roi (one region cannot fit every image); explain images one by one for that.");
        }

        string outDir = a.Require("out");
        var shard = a.Get("shard") is { } s ? ParseShard(s) : ShardSpec.All;
        var entries = shard.Select(ImageList.Expand(a.Positionals), e => e.Key);
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
            Rollout = RolloutOptions.Default with { Fusion = a.Enum("head-fusion", HeadFusion.Mean), DiscardRatio = a.Float("discard", 0f, 0f, 0.99f) },
            Figure = FigureOptions.Default with { Overlay = overlay },
        };
        int batch = a.Int("batch", 8, 1, 256);
        using var explainer = VitExplainer.Load(a.Get("model") ?? AttentionRollout.DefaultModel, ExplainerOptionsFrom(a, stderr) with { MaxBatchSize = batch }, ct);
        if (a.IntList("layers", 1, explainer.Config.NumLayers) is { } layers)
        {
            options = options with { Layers = layers };
        }

        options.Validate(explainer.Config.NumLayers);
        string suffix = shard.Count > 1 ? string.Create(CultureInfo.InvariantCulture, $".shard-{shard.Index}-of-{shard.Count}") : string.Empty;
        using var log = ResultLog.Open(Path.Combine(outDir, $"explain{suffix}.jsonl"), a.Has("resume"));
        // An image is done when its record is in the log and every file it lists still exists.
        var done = new HashSet<string>(StringComparer.Ordinal);
        foreach (string line in ResultLog.ReadLines(log.Path))
        {
            using var doc = JsonDocument.Parse(line);
            var files = doc.RootElement.GetProperty("files").EnumerateObject().Select(f => Path.Combine(outDir, f.Value.GetString()!));
            if (files.All(File.Exists))
            {
                done.Add(doc.RootElement.GetProperty(ResultJson.KeyProperty).GetString()!);
            }
        }

        var pending = entries.Where(e => !done.Contains(e.Key)).ToList();
        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"explain: {entries.Count} images in shard {shard}, {entries.Count - pending.Count} already done, {pending.Count} to go"));
        var progress = new EvaluationProgressWriter(stderr, Console.IsErrorRedirected || stderr != Console.Error, "explaining");
        var clock = Stopwatch.StartNew();
        for (int start = 0; start < pending.Count; start += batch)
        {
            ct.ThrowIfCancellationRequested();
            var chunk = pending.Skip(start).Take(batch).ToList();
            var explanations = explainer.ExplainMany([.. chunk.Select(e => e.Path)], options, null, ct);
            try
            {
                for (int i = 0; i < chunk.Count; i++)
                {
                    var paths = explanations[i].SaveFigures(Path.Combine(outDir, OutputFolder(chunk[i].Key)), OutputStem(chunk[i].Key));
                    log.Append(chunk[i].Key, ExplainRecord(chunk[i].Key, explanations[i], paths, outDir));
                }
            }
            finally
            {
                foreach (var e in explanations)
                {
                    e.Dispose();
                }
            }

            progress.Report(new EvaluationProgress(start + chunk.Count, pending.Count, clock.Elapsed, start + chunk.Count));
        }

        progress.Finish();
        stdout.WriteLine(a.Has("json")
            ? $"{{\"out\":{JsonSerializer.Serialize(outDir)},\"log\":{JsonSerializer.Serialize(log.Path)},\"images\":{entries.Count},\"explained\":{pending.Count}}}"
            : $"{pending.Count} images explained into {outDir} ({entries.Count - pending.Count} were already done); log {log.Path}");
        return ExitCodes.Ok;
    }

    private static byte[] ExplainRecord(string key, Explanation e, FigurePaths paths, string outDir)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString(ResultJson.KeyProperty, key);
            w.WriteStartObject("files");
            w.WriteString("cls", Path.GetRelativePath(outDir, paths.ClsOverlay));
            w.WriteString("layers", Path.GetRelativePath(outDir, paths.Layers));
            w.WriteString("focused", Path.GetRelativePath(outDir, paths.FocusedLayers));
            w.WriteString("rollout", Path.GetRelativePath(outDir, paths.Rollout));
            w.WriteString("json", Path.GetRelativePath(outDir, paths.Json));
            w.WriteEndObject();
            Explanation.WritePredictions(w, e.Predictions);
            w.WriteStartArray("focusedLayers");
            e.FocusedLayers.ToList().ForEach(w.WriteNumberValue);
            w.WriteEndArray();
            w.WriteEndObject();
        }

        return stream.ToArray();
    }

    /// <summary>
    /// The folder under the output folder that mirrors the key's folder; keys that climb out (..) or are absolute are
    /// written flat, so nothing lands outside the output folder.
    /// </summary>
    internal static string OutputFolder(string key) => IsSafeRelative(key) ? Path.GetDirectoryName(key) ?? string.Empty : string.Empty;

    /// <summary>The file stem of a key's figures: its file name without extension, or the whole key flattened when unsafe.</summary>
    internal static string OutputStem(string key)
    {
        string stem = IsSafeRelative(key)
            ? Path.GetFileNameWithoutExtension(key)
            : Path.ChangeExtension(key, null)!.Replace(':', '_').Replace('/', '_').Trim('_', '.');
        return stem.Length == 0 ? "image" : stem;
    }

    private static bool IsSafeRelative(string key) =>
        !Path.IsPathRooted(key) && !key.Split('/').Any(part => part is ".." or ".") && !key.Contains(':', StringComparison.Ordinal);

    /// <summary>Progress with rate and ETA on standard error: redrawn in place on a terminal, else a line per ~5 %.</summary>
    private sealed class EvaluationProgressWriter(TextWriter writer, bool plain, string verb = "evaluating") : IProgress<EvaluationProgress>
    {
        private int _lastPlainPercent = -1;
        private bool _open;

        public void Report(EvaluationProgress value)
        {
            double rate = value.Elapsed.TotalSeconds > 0 ? value.Done / value.Elapsed.TotalSeconds : 0;
            string eta = value.Remaining is { } r ? Format(r) : "?";
            string line = string.Create(CultureInfo.InvariantCulture,
                $"{verb}: {value.Done}/{value.Total} images, {rate:0.00} images/s, {value.Forwards} forward passes, elapsed {Format(value.Elapsed)}, left {eta}");
            if (plain)
            {
                int percent = value.Total == 0 ? 100 : value.Done * 100 / value.Total;
                if (percent / 5 != _lastPlainPercent / 5 || value.Done == value.Total)
                {
                    _lastPlainPercent = percent;
                    writer.WriteLine(line);
                }
            }
            else
            {
                writer.Write("\r" + line.PadRight(100));
                _open = true;
            }
        }

        public void Finish()
        {
            if (_open)
            {
                writer.WriteLine();
                _open = false;
            }
        }

        private static string Format(TimeSpan t) => t.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}h{t.Minutes:00}m")
            : string.Create(CultureInfo.InvariantCulture, $"{t.Minutes}m{t.Seconds:00}s");
    }
}
