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
        public const int SomeFailed = 8;
        public const int Cancelled = 125;
    }

    /// <summary>Runs one command line; returns the exit code. Nothing but results goes to <paramref name="stdout"/>.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        bool verbose = args.Contains("--verbose");
        try
        {
            if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
            {
                (args.Length == 0 ? stderr : stdout).Write(CliCommands.MainHelp());
                return args.Length == 0 ? ExitCodes.Usage : ExitCodes.Ok;
            }

            if (args[0] is "--version")
            {
                stdout.WriteLine(Version);
                return ExitCodes.Ok;
            }

            var command = CliCommands.Find(args[0])
                ?? throw new UsageException($"unknown command '{args[0]}'; commands: {string.Join(", ", CliCommands.All.Select(c => c.Name))} (see --help).");
            string[] rest = args[1..];
            if (WantsHelp(rest))
            {
                stdout.Write(CliCommands.CommandHelp(command));
                return ExitCodes.Ok;
            }

            return command.Name switch
            {
                "explain" => Explain(rest, stdout, stderr, cancellationToken),
                "view" => View(rest, stdout, stderr, cancellationToken),
                "classify" => Classify(rest, stdout, stderr, cancellationToken),
                "prepare" => Prepare(rest, stdout, stderr, cancellationToken),
                "evaluate" => Evaluate(rest, stdout, stderr, cancellationToken),
                "merge" => Merge(rest, stdout, stderr),
                _ => Bench(rest, stdout),
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

    /// <summary>The library's version, as <c>--version</c> prints it.</summary>
    internal static string Version => typeof(AttentionRollout).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>The exit code and one-line message for an error.</summary>
    internal static (int Code, string Message) Describe(Exception e) => e switch
    {
        UsageException => (ExitCodes.Usage, e.Message + " (see vit-attention --help)"),
        ModelFormatException => (ExitCodes.Model, e.Message),
        InvalidImageException => (ExitCodes.Image, e.Message),
        ModelHubException => (ExitCodes.Hub, e.Message),
        DeviceUnavailableException d => (ExitCodes.Device, CudaBuild.DeviceMessage(d, CudaBuild.RuntimeHasCuda)),
        OperationCanceledException => (ExitCodes.Cancelled, "cancelled."),
        FileNotFoundException f => (ExitCodes.File, f.Message.Contains(f.FileName ?? "\0", StringComparison.Ordinal)
            ? f.Message + " Check the path."
            : $"file not found: {f.FileName ?? f.Message}; check the path."),
        DirectoryNotFoundException => (ExitCodes.File, e.Message + " Check the path."),
        UnauthorizedAccessException => (ExitCodes.File, e.Message + " Check the permissions."),
        IOException => (ExitCodes.File, e.Message),
        ArgumentException => (ExitCodes.Usage, e.Message),
        OnnxRuntimeException => (ExitCodes.Model, "ONNX Runtime failed: " + e.Message),
        _ => (ExitCodes.Internal, $"internal error ({e.GetType().Name}): {e.Message}"),
    };

    private static bool WantsHelp(string[] args)
    {
        foreach (string a in args)
        {
            if (a == "--")
            {
                return false;
            }

            if (a is "--help" or "-h")
            {
                return true;
            }
        }

        return false;
    }

    private static string OneLine(string text) => string.Join(' ', text.ReplaceLineEndings("\n").Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));

    internal static CliArguments Parse(CliCommand command, string[] args)
    {
        var options = command.AllOptions.Where(o => o.Name != "help").ToList();
        return CliArguments.Parse(
            command.Name, args,
            options.Where(o => !o.IsSwitch).Select(o => o.Name).ToHashSet(),
            options.Where(o => o.IsSwitch).Select(o => o.Name).ToHashSet());
    }

    internal static ExplainerOptions ExplainerOptionsFrom(CliArguments a, TextWriter stderr)
    {
        var device = a.Enum("device", ExecutionDevice.Cpu);
        int? threads = a.Get("threads") is null ? null : a.Int("threads", 0, 1, 1024);
        int? imageSize = a.Get("image-size") is null ? null : a.Int("image-size", 0, 1, 8192);
        void Log(string line) => stderr.WriteLine("vit-attention: warning: " + line);
        return new ExplainerOptions
        {
            ImageSize = imageSize,
            Session = new VitSessionOptions
            {
                Device = device,
                AllowCpuFallback = a.Has("allow-cpu-fallback"),
                IntraOpThreads = threads,
                AllowSpinning = !a.Has("no-spinning"),
                // A batch tool: no planned block per batch size, so the resident memory of 1000 images stays near that of 10.
                UseMemoryPattern = false,
                Log = Log,
            },
            Loading = new ModelLoadOptions { Progress = new ProgressBar(), Log = Log, ImageSize = imageSize },
        };
    }

    private static int Classify(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var a = Parse(CliCommands.Classify, args);
        if (a.Positionals.Count != 1)
        {
            throw new UsageException("'classify' takes exactly one image path.");
        }

        int top = a.Int("top-classes", 5, 1, 100_000);
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
        var a = Parse(CliCommands.Prepare, args);
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
                w.WriteNumber("bytes", new FileInfo(output).Length);
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
            throw new UsageException("'bench' needs a target: bench rollout [--num-layers 12] [--num-heads 12] [--num-tokens 197] [--rollout-threads N] [--json].");
        }

        var a = Parse(CliCommands.Bench, args[1..]);
        if (a.Positionals.Count != 0)
        {
            throw new UsageException($"'bench rollout' takes no positional arguments (got '{a.Positionals[0]}').");
        }

        var result = BenchRollout.Run(
            a.Int("num-layers", 12, 1, 64), a.Int("num-heads", 12, 1, 64), a.Int("num-tokens", 197, 1, 1025),
            a.Int("rollout-threads", Environment.ProcessorCount, 1, 1024));
        stdout.WriteLine(a.Has("json") ? BenchRollout.ToJson(result) : BenchRollout.ToText(result));
        return ExitCodes.Ok;
    }

    private static void RequireFile(string path, string what)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{what} '{path}' does not exist.", path);
        }
    }
}
