using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using VitAttention.Inference;
using VitAttention.Loading;
using VitAttention.Models;

namespace VitAttention.Cli;

/// <summary>The <c>vit-attention</c> command: dispatch, options and the mapping of errors to exit codes.</summary>
internal static partial class CliApp
{
    /// <summary>Exit codes: each input error class has its own, all in 1..127.</summary>
    internal static class ExitCodes
    {
        public const int Ok = 0;
        public const int Internal = 1;
        public const int Usage = 2;
        public const int Model = 3;
        public const int Image = 4;
        public const int Hub = 5;
        public const int Device = 6;
        public const int File = 7;
        public const int Cancelled = 125;
    }

    private const string Usage = """
        usage: vit-attention <command> [options]

        commands:
          explain <image…> [--model M] --out DIR [--layers 1,6,12] [--top 3] [--roi x,y,w,h]
                  [--colormap jet|viridis|inferno|turbo|grey] [--alpha 0.6] [--head-fusion mean|max|min]
                  [--discard 0] [--top-classes 5] [--clip-percentile 99] [--colorbar] [--batch 8] [--json]
              write <stem>.cls.png, .layers.png, .focused.png, .rollout.png and .json for each image;
              for two images also <a>_vs_<b>.<figure>.png side by side
          classify <image> [--model M] [--top 5] [--json]
              print the model's top classes
          prepare --model M --out FILE.onnx
              write an ONNX graph whose outputs include every layer's attention
          bench rollout [--layers 12] [--heads 12] [--tokens 197] [--threads N] [--json]
              quick in-process timing of the rollout kernels on random data
              (--threads: what the full matrix may use; default every core, at most 2 used)

        common options:
          --model M       hub id owner/name[@revision], checkpoint folder, or .onnx file
                          (default google/vit-base-patch16-224)
          --device cpu|cuda   execution device (default cpu); --allow-cpu-fallback runs on CPU if CUDA fails
          --threads N     ONNX Runtime intra-op threads
          --verbose       stack traces on errors
        environment: HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE=1
        """;

    private static readonly HashSet<string> CommonValued = ["model", "device", "threads"];
    private static readonly HashSet<string> CommonSwitches = ["verbose", "allow-cpu-fallback", "json"];

    /// <summary>Runs one command line; returns the exit code. Nothing but results goes to <paramref name="stdout"/>.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        bool verbose = args.Contains("--verbose");
        try
        {
            if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
            {
                (args.Length == 0 ? stderr : stdout).WriteLine(Usage + Environment.NewLine + EvaluateUsage);
                return args.Length == 0 ? ExitCodes.Usage : ExitCodes.Ok;
            }

            if (args[0] is "--version")
            {
                stdout.WriteLine(typeof(AttentionRollout).Assembly.GetName().Version?.ToString(3));
                return ExitCodes.Ok;
            }

            return args[0] switch
            {
                "explain" when IsDatasetExplain(args[1..]) => ExplainDataset(args[1..], stdout, stderr, cancellationToken),
                "explain" => Explain(args[1..], stdout, stderr, cancellationToken),
                "evaluate" => Evaluate(args[1..], stdout, stderr, cancellationToken),
                "merge" => Merge(args[1..], stdout, stderr),
                "classify" => Classify(args[1..], stdout, stderr, cancellationToken),
                "prepare" => Prepare(args[1..], stdout, stderr, cancellationToken),
                "bench" => Bench(args[1..], stdout),
                _ => throw new UsageException($"unknown command '{args[0]}'; commands: explain, classify, prepare, bench, evaluate, merge (see --help)."),
            };
        }
        catch (Exception e)
        {
            (int code, string message) = Describe(e);
            stderr.WriteLine($"vit-attention: {OneLine(message)}"); // one line, whatever the message quotes
            if (verbose)
            {
                stderr.WriteLine(e.ToString());
            }
            else if (code == ExitCodes.Internal)
            {
                stderr.WriteLine("vit-attention: run again with --verbose for the stack trace.");
            }

            return code;
        }
    }

    /// <summary>The exit code and one-line message for an error.</summary>
    internal static (int Code, string Message) Describe(Exception e) => e switch
    {
        UsageException => (ExitCodes.Usage, e.Message + " (see vit-attention --help)"),
        ModelFormatException => (ExitCodes.Model, e.Message),
        InvalidImageException => (ExitCodes.Image, e.Message),
        ModelHubException => (ExitCodes.Hub, e.Message),
        DeviceUnavailableException => (ExitCodes.Device, e.Message),
        OperationCanceledException => (ExitCodes.Cancelled, "cancelled."),
        FileNotFoundException f => (ExitCodes.File, $"file not found: {f.FileName ?? f.Message}; check the path."),
        DirectoryNotFoundException => (ExitCodes.File, e.Message + " Check the path."),
        UnauthorizedAccessException => (ExitCodes.File, e.Message + " Check the permissions."),
        IOException => (ExitCodes.File, e.Message),
        ArgumentException => (ExitCodes.Usage, e.Message),
        OnnxRuntimeException => (ExitCodes.Model, "ONNX Runtime failed: " + e.Message),
        _ => (ExitCodes.Internal, $"internal error ({e.GetType().Name}): {e.Message}"),
    };

    private static string OneLine(string text) => string.Join(' ', text.ReplaceLineEndings("\n").Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));

    private static CliArguments Parse(string command, string[] args, IEnumerable<string> valued, IEnumerable<string> switches) =>
        CliArguments.Parse(command, args, valued.Concat(CommonValued).ToHashSet(), switches.Concat(CommonSwitches).ToHashSet());

    private static ExplainerOptions ExplainerOptionsFrom(CliArguments a, TextWriter stderr)
    {
        var device = a.Enum("device", ExecutionDevice.Cpu);
        int? threads = a.Get("threads") is null ? null : a.Int("threads", 0, 1, 1024);
        void Log(string line) => stderr.WriteLine("vit-attention: warning: " + line);
        return new ExplainerOptions
        {
            Session = new VitSessionOptions { Device = device, AllowCpuFallback = a.Has("allow-cpu-fallback"), IntraOpThreads = threads, Log = Log },
            Loading = new ModelLoadOptions { Progress = new ProgressBar(), Log = Log },
        };
    }

    private static int Classify(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var a = Parse("classify", args, ["top"], []);
        if (a.Positionals.Count != 1)
        {
            throw new UsageException("'classify' takes exactly one image path.");
        }

        int top = a.Int("top", 5, 1, 100_000);
        string image = a.Positionals[0];
        RequireFile(image, "image");
        var options = ExplainerOptionsFrom(a, stderr);
        using var explainer = VitExplainer.Load(a.Get("model") ?? AttentionRollout.DefaultModel, options, ct);
        var predictions = explainer.Classify(image, top, ct);
        if (a.Has("json"))
        {
            stdout.WriteLine(ClassifyJson(predictions, explainer.Config));
        }
        else
        {
            int width = Math.Max(5, predictions.Max(p => p.Label.Length));
            for (int i = 0; i < predictions.Count; i++)
            {
                var p = predictions[i];
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{i + 1,3}. {p.Label.PadRight(width)}  {p.Probability:0.0000}  (class {p.Index})"));
            }
        }

        return ExitCodes.Ok;
    }

    internal static string ClassifyJson(IReadOnlyList<Prediction> predictions, VitConfig config)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            Explanation.WritePredictions(w, predictions);
            Explanation.WriteModel(w, config);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static int Prepare(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var a = Parse("prepare", args, ["out"], []);
        if (a.Positionals.Count != 0)
        {
            throw new UsageException($"'prepare' takes no positional arguments (got '{a.Positionals[0]}'); use --model and --out.");
        }

        string model = a.Require("model");
        string output = a.Require("out");
        var options = ExplainerOptionsFrom(a, stderr);
        var prepared = ModelLoader.Load(model, options.Loading, ct);
        OnnxModelLoader.Save(prepared, output);
        var c = prepared.Config;
        if (a.Has("json"))
        {
            using var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                w.WriteString("out", output);
                w.WriteNumber("bytes", prepared.Onnx.LongLength);
                Explanation.WriteModel(w, c);
                w.WriteEndObject();
            }

            stdout.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
        }
        else
        {
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {output}: {c.NumLayers} layers × {c.NumHeads} heads, {c.Tokens} tokens ({c.PrefixTokens} prefix, grid {c.GridHeight}×{c.GridWidth}), {c.NumClasses} classes; outputs logits, attentions.0 … attentions.{c.NumLayers - 1}"));
        }

        return ExitCodes.Ok;
    }

    private static int Bench(string[] args, TextWriter stdout)
    {
        if (args.Length == 0 || args[0] != "rollout")
        {
            throw new UsageException("'bench' needs a target: bench rollout [--layers 12] [--heads 12] [--tokens 197] [--threads N] [--json].");
        }

        var a = CliArguments.Parse("bench rollout", args[1..], new HashSet<string> { "layers", "heads", "tokens", "threads" }, new HashSet<string> { "json", "verbose" });
        if (a.Positionals.Count != 0)
        {
            throw new UsageException($"'bench rollout' takes no positional arguments (got '{a.Positionals[0]}').");
        }

        var result = BenchRollout.Run(
            a.Int("layers", 12, 1, 64), a.Int("heads", 12, 1, 64), a.Int("tokens", 197, 1, 1025), a.Int("threads", Environment.ProcessorCount, 1, 1024));
        stdout.WriteLine(a.Has("json") ? BenchRollout.ToJson(result) : BenchRollout.ToText(result));
        return ExitCodes.Ok;
    }

    private static void RequireFile(string path, string what)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{what} '{path}' does not exist", path);
        }
    }
}
