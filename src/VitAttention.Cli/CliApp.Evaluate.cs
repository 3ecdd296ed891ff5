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
    /// <summary>
    /// True when an explain command line is about a data set: it names a folder or a .txt list, or asks for --shard or
    /// --resume.
    /// </summary>
    internal static bool IsDataset(CliArguments a) =>
        a.Get("shard") is not null || a.Has("resume")
        || a.Positionals.Any(p => Directory.Exists(p) || p.EndsWith(".txt", StringComparison.OrdinalIgnoreCase));

    private static int Evaluate(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var a = Parse(CliCommands.Evaluate, args);
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

        var entries = shard.Select(WithoutOwnOutputs(ImageList.Expand(a.Positionals), outDir, stderr), e => e.Key);
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
            ContinueOnImageError = a.Has("keep-going"),
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
        int failed = 0;
        foreach (var result in evaluator.Evaluate(pending, progress, ct))
        {
            log.Append(result.Key, ResultJson.ToLine(result, geometry.Patches, evaluator.PatchesPerStep));
            if (result.Error is not null)
            {
                failed++;
                stderr.WriteLine($"vit-attention: {result.Key}: failed: {OneLine(result.Error)}");
            }
        }

        progress.Finish();
        int code = WriteAggregate([resultsPath], outDir, "faithfulness" + suffix, a.Has("json"), stdout, stderr);
        if (failed > 0)
        {
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"vit-attention: {failed} of {pending.Count} images failed (listed above, and logged as failed in {resultsPath}); the other {pending.Count - failed} were evaluated."));
            return ExitCodes.SomeFailed;
        }

        return code;
    }

    private static int Merge(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var a = Parse(CliCommands.Merge, args);
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
            w.WriteString("model", explainer.Source);
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

    /// <summary>
    /// Explains every image of a data set (or of one shard), writing each image's figures and its line in the log as
    /// soon as it is done; explain's figure options apply, --keep-going as for single images.
    /// </summary>
    private static int ExplainDataset(CliArguments a, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (a.Get("roi") is not null)
        {
            throw new UsageException("'explain' over a data set takes no --roi (one region cannot fit every image); explain images one by one for that.");
        }

        string outDir = a.Require("out");
        bool keepGoing = a.Has("keep-going");
        var shard = a.Get("shard") is { } s ? ParseShard(s) : ShardSpec.All;
        var options = ExplainOptionsFrom(a);
        var entries = shard.Select(WithoutOwnOutputs(ImageList.Expand(a.Positionals), outDir, stderr), e => e.Key);
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
        foreach (var entry in pending)
        {
            // No figure may land on an input image or a model file (the output folder may be the input folder).
            foreach (string output in OutputPaths(outDir, entry.Key).All)
            {
                if (OutputGuard.Clash(output, [entry.Path]) is { } image)
                {
                    throw new UsageException($"'explain' would write {output} over the input image '{image}'; choose another --out folder.");
                }

                if (OutputGuard.Clash(output, explainer.ModelFiles) is { } modelFile)
                {
                    throw new UsageException($"'explain' would write {output} over the model file '{modelFile}'; choose another --out folder.");
                }
            }
        }

        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"explain: {entries.Count} images in shard {shard}, {entries.Count - pending.Count} already done, {pending.Count} to go"));
        var progress = new EvaluationProgressWriter(stderr, Console.IsErrorRedirected || stderr != Console.Error, "explaining");
        var failures = new List<ExplainFailure>();
        Action<ExplainFailure>? onFailure = keepGoing
            ? f =>
            {
                failures.Add(f);
                progress.Finish();
                stderr.WriteLine($"vit-attention: {pending[f.Index].Key}: failed: {OneLine(f.Error.Message)}");
            }
            : null;
        var clock = Stopwatch.StartNew();
        int explained = 0;
        // Each image's files and log line are written as its batch finishes: a stop keeps every earlier image.
        foreach (var e in explainer.ExplainMany(pending.Select(p => p.Path), options, onFailure, ct))
        {
            using (e)
            {
                var entry = pending[e.InputIndex];
                var paths = e.SaveFigures(Path.Combine(outDir, OutputFolder(entry.Key)), OutputStem(entry.Key));
                log.Append(entry.Key, ExplainRecord(entry.Key, e, paths, outDir));
            }

            explained++;
            progress.Report(new EvaluationProgress(explained + failures.Count, pending.Count, clock.Elapsed, explained));
        }

        progress.Finish();
        stdout.WriteLine(a.Has("json")
            ? string.Create(CultureInfo.InvariantCulture,
                $"{{\"out\":{JsonSerializer.Serialize(outDir)},\"log\":{JsonSerializer.Serialize(log.Path)},\"images\":{entries.Count},\"explained\":{explained},\"failed\":[{string.Join(",", failures.Select(f => JsonSerializer.Serialize(pending[f.Index].Key)))}]}}")
            : string.Create(CultureInfo.InvariantCulture,
                $"{explained} images explained into {outDir} ({entries.Count - pending.Count} were already done, {failures.Count} failed); log {log.Path}"));
        if (failures.Count > 0)
        {
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"vit-attention: {failures.Count} of {pending.Count} images failed (listed above); the other {explained} were written. A run with --resume retries them."));
            return ExitCodes.SomeFailed;
        }

        return ExitCodes.Ok;
    }

    /// <summary>
    /// The entries less the figures that explain and evaluate write (<c>*.cls.png</c>, <c>*.layers.png</c>,
    /// <c>*.focused.png</c>, <c>*.rollout.png</c>, <c>faithfulness*.png</c>) found inside the output folder, so that an
    /// output folder inside an input folder does not feed a run's own figures to the next run.
    /// </summary>
    internal static IReadOnlyList<ImageEntry> WithoutOwnOutputs(IReadOnlyList<ImageEntry> entries, string outDir, TextWriter stderr)
    {
        string root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outDir)) + Path.DirectorySeparatorChar;
        var kept = entries.Where(e =>
        {
            string name = Path.GetFileName(e.Path);
            bool ours = FigurePaths.FigureSuffixes.Any(f => name.EndsWith(f.Suffix, StringComparison.OrdinalIgnoreCase))
                || (name.StartsWith("faithfulness", StringComparison.Ordinal) && name.EndsWith(".png", StringComparison.OrdinalIgnoreCase));
            return !(ours && Path.GetFullPath(e.Path).StartsWith(root, StringComparison.Ordinal));
        }).ToList();
        if (kept.Count < entries.Count)
        {
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"vit-attention: skipped {entries.Count - kept.Count} figures in {outDir} that this command writes (not input images)."));
        }

        return kept.Count > 0 ? kept : throw new UsageException($"the only images in {string.Join(", ", entries.Select(e => e.Key).Take(3))}… are figures this command wrote in {outDir}; give the input images.");
    }

    /// <summary>The figure paths of one data-set image.</summary>
    private static FigurePaths OutputPaths(string outDir, string key) => FigurePaths.For(Path.Combine(outDir, OutputFolder(key)), OutputStem(key));

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
