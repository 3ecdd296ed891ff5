using System.Text;
using VitAttention.Analysis.Methods;

namespace VitAttention.Cli;

/// <summary>One option of a command: <c>--name VALUE</c>, or a switch when <see cref="Value"/> is null.</summary>
/// <param name="Name">The name without the dashes.</param>
/// <param name="Value">The value's placeholder in the help (<c>N</c>, <c>DIR</c>, <c>jet|viridis</c>); null for a switch.</param>
/// <param name="Help">What it does and its default.</param>
internal sealed record CliOption(string Name, string? Value, string Help)
{
    public bool IsSwitch => Value is null;

    public string Usage => Value is null ? "--" + Name : $"--{Name} {Value}";
}

/// <summary>A command: its arguments, what it does, its own options (the common ones are added to every command).</summary>
internal sealed record CliCommand(string Name, string Arguments, string Summary, string Description, IReadOnlyList<CliOption> Options)
{
    public IEnumerable<CliOption> AllOptions => Options.Concat(CliCommands.Common);
}

/// <summary>
/// Every command and option of <c>vit-attention</c>, in one place: the parser accepts exactly these and the help text
/// is generated from them, so the two cannot disagree (and README.md's usage block is checked against the help).
/// </summary>
internal static class CliCommands
{
    /// <summary>Options every command takes.</summary>
    public static readonly CliOption[] Common =
    [
        new("model", "M", "hub id owner/name[@revision], checkpoint folder, or .onnx file (default google/vit-base-patch16-224); text that looks like a path (./x, /x, ~/x, dir/x with dir existing) is never sent to the hub"),
        new("device", "cpu|cuda", "execution device (default cpu)"),
        new("allow-cpu-fallback", null, "run on the CPU when CUDA cannot be used, with a warning"),
        new("threads", "N", "ONNX Runtime intra-op threads (default one per core)"),
        new("image-size", "N", "run a checkpoint at N×N pixels (position embeddings interpolated), e.g. 448 for sharper maps; a multiple of the patch size; not for .onnx exports"),
        new("no-spinning", null, "ONNX Runtime threads sleep instead of spinning between work (kinder to a busy machine)"),
        new("json", null, "print one JSON document on stdout instead of text"),
        new("verbose", null, "print the stack trace of an error"),
        new("help", null, "print this command's help (also -h)"),
    ];

    /// <summary><c>--method</c>, from the method table (a new method appears here by itself).</summary>
    private static CliOption MethodOption(string effect) => new(
        "method", "rollout,attention,…",
        $"explanation methods, comma-separated: {MethodCatalog.Names} (default rollout); the gradient methods build the model's gradient graph once and run one backward pass per class; {effect}");

    /// <summary><c>--class</c>.</summary>
    private static CliOption ClassOption(string effect) => new(
        "class", "top|top2|<index>|<label>",
        $"target class of the gradient methods: the top predicted class (default), the top N (topN), class indices (281 or 281,285) or a label (tabby); {effect}");

    public static readonly CliCommand Explain = new(
        "explain",
        "<image…> --out DIR",
        "explain images; write figures and JSON for each as soon as it is done",
        "Writes <stem>.cls.png, .layers.png, .focused.png, .rollout.png and .json in DIR for each image as soon as that image is " +
        "done (each file atomically), so an interrupted run keeps every finished image; given two images it also writes each " +
        "figure side by side as <a>_vs_<b>.<figure>.png. With --method, <stem>.methods.png shows each method, and with --class " +
        "top2 (or two classes) <stem>.classes.png shows one gradient method for each class; the JSON gains their maps. Progress for explaining and writing goes to stderr. No output may " +
        "replace an input image or a model file.\n" +
        "A data set: given a folder (every image below it), a .txt list (one image path per line), --shard or --resume, " +
        "the figures go under DIR in the input's subfolders and each finished image is appended to DIR/explain.jsonl " +
        "(explain.shard-i-of-N.jsonl for a shard), so a stopped run resumes where it stopped and N copies with --shard " +
        "0/N … N-1/N split the set with no coordinator (see docs/scale.md).",
        [
            new("out", "DIR", "folder for the figures and JSON (required; created if needed)"),
            new("layers", "1,6,12", "one-based layers for the side-by-side figure (default: first, middle, last)"),
            new("top-layers", "N", "how many of the most focused layers the focused figure shows (default 3)"),
            new("top-classes", "N", "how many classes to list (default 5)"),
            new("roi", "x,y,w,h", "region of interest in photo pixels: focus = share of attention inside it (default: concentration)"),
            new("colormap", "jet|viridis|inferno|turbo|grey", "heat-map colours (default jet)"),
            new("alpha", "A", "heat-map opacity from 0 to 1 (default 0.6)"),
            new("head-fusion", "mean|max|min", "how the rollout combines heads (default mean)"),
            new("discard", "R", "rollout discard ratio from 0 to 0.99 (default 0)"),
            new("clip-percentile", "P", "clip each map at this percentile, 50 to 100, before scaling (default none)"),
            MethodOption("also writes <stem>.methods.png, one panel per method"),
            ClassOption("two or more classes also write <stem>.classes.png, one panel per class (transformer attribution if asked, else the first gradient method)"),
            new("colorbar", null, "add a colour bar to each figure"),
            new("batch", "N", "images per forward pass, 1 to 256 (default 8)"),
            new("keep-going", null, "go on past images that cannot be read; list them, exit 8 if any failed"),
            new("shard", "i/N", "a data set: take only the images whose key hashes to slice i of N (0 ≤ i < N); the N slices cover every image once"),
            new("resume", null, "a data set: skip images already in the log whose files all exist; without it an existing log is an error"),
        ]);

    public static readonly CliCommand View = new(
        "view",
        "<image> --out page.html",
        "write one self-contained HTML page to explore every layer, head, token and method",
        "Writes an interactive viewer for one image as a single HTML file that opens offline in a browser: every layer and " +
        "head, the attention of any patch, the rollout from it, the predictions (atomically; never over the image).",
        [
            new("out", "page.html", "the .html file to write (required)"),
            new("colormap", "jet|viridis|inferno|turbo|grey", "heat-map colours (default jet)"),
            new("alpha", "A", "heat-map opacity from 0 to 1 (default 0.6)"),
            new("head-fusion", "mean|max|min", "how the rollout combines heads (default mean)"),
            new("discard", "R", "rollout discard ratio from 0 to 0.99 (default 0)"),
            new("top-classes", "N", "how many classes to list (default 5)"),
            MethodOption("the page's method picker lists each"),
            ClassOption("the page's class picker switches between them"),
        ]);

    public static readonly CliCommand Classify = new(
        "classify",
        "<image>",
        "print the model's top classes for an image",
        "Prints the top classes of one image, most probable first (logits only: no attention is fetched).",
        [
            new("top-classes", "N", "how many classes to list (default 5)"),
        ]);

    public static readonly CliCommand Prepare = new(
        "prepare",
        "--model M --out FILE.onnx",
        "write an ONNX graph whose outputs include every layer's attention",
        "Writes the model's ONNX graph with logits and attentions.0 … attentions.{L-1} as outputs (atomically). FILE may not " +
        "be any file the model is read from (weights, configs, the ONNX export or its data), by any path, link or hard link.",
        [
            new("out", "FILE.onnx", "the file to write (required)"),
        ]);

    public static readonly CliCommand Bench = new(
        "bench",
        "rollout",
        "time the rollout kernels on random data, in process",
        "Times the full rollout matrix, the rollout row and the memory floor on a random attention stack.",
        [
            new("num-layers", "N", "layers of the random stack (default 12)"),
            new("num-heads", "N", "heads per layer (default 12)"),
            new("num-tokens", "N", "tokens, prefix included (default 197)"),
            new("rollout-threads", "N", "threads the full matrix may use (default every core; at most 2 are used)"),
        ]);

    public static readonly CliCommand Evaluate = new(
        "evaluate",
        "<image|folder|list.txt…> --out DIR",
        "measure how faithful the maps are: perturbation and deletion/insertion tests against a random baseline",
        "Runs the faithfulness tests of each method and of a random-map baseline on every image: positive and negative " +
        "perturbation (Chefer et al. 2021: top-1 accuracy as the most / least relevant 10 %…90 % of pixels are zeroed) and " +
        "deletion and insertion (Petsiuk et al. 2018, RISE: the predicted class's probability as patches are removed or " +
        "inserted in the map's order). Each finished image is appended to DIR/results.jsonl (results.shard-i-of-N.jsonl for " +
        "a shard); at the end DIR/faithfulness.md (the table), .json and .png (mean curves with a band) aggregate it. The " +
        "perturbed copies run through the model in batches, logits only. Given only .jsonl files, it aggregates them as " +
        "merge does. See docs/faithfulness.md.",
        [
            new("out", "DIR", "folder for the results log, table, JSON and figure (required; created if needed)"),
            new("methods", "rollout,attention,…", $"the maps to test, comma-separated: {MethodCatalog.Names} (default rollout); class-specific methods explain the predicted class (the label with --explain-label); the random baseline is always added"),
            new("metrics", "positive,negative,deletion,insertion|all", "the tests to run (default all)"),
            new("labels", "FILE", "ground-truth classes, one line per image: its key (path under the folder or list, or file name) and class index; perturbation accuracy is measured against them (default: against the class predicted on the original)"),
            new("explain-label", null, "class-specific methods explain the label instead of the predicted class"),
            new("steps", "N", "deletion/insertion in N steps of equal patch counts (default one patch per step)"),
            new("patches-per-step", "P", "deletion/insertion step size in patches (default 1); not with --steps"),
            new("substrate", "zero|blur|mean", "what deleted patches become (default zero: zeros after normalisation, as RISE)"),
            new("insertion-substrate", "blur|zero|mean", "the image insertion starts from (default blur, as RISE)"),
            new("batch", "N", "perturbed copies per forward pass, 1 to 4096 (default 16)"),
            new("seed", "S", "seed of the random baseline's maps (default 0)"),
            new("keep-going", null, "go on past images that cannot be read; they are logged as failed, exit 8 if any failed"),
            new("shard", "i/N", "take only the images whose key hashes to slice i of N (0 ≤ i < N); merge the slices' logs afterwards"),
            new("resume", null, "skip images already in the results log (a torn last line is redone); the options must match the first run's"),
        ]);

    public static readonly CliCommand Merge = new(
        "merge",
        "<results.jsonl|folder…> --out DIR",
        "aggregate the results logs of evaluate's shards into one table, JSON and figure",
        "Reads evaluate's results logs (files, or folders searched for results*.jsonl) and writes DIR/faithfulness.md, .json " +
        "and .png over all their images; an image found in more than one log counts once.",
        [
            new("out", "DIR", "folder for the table, JSON and figure (required; created if needed)"),
        ]);

    public static readonly CliCommand[] All = [Explain, View, Classify, Prepare, Bench, Evaluate, Merge];

    /// <summary>Exit codes and what they mean, as the help prints them.</summary>
    public static readonly (int Code, string Meaning)[] ExitCodes =
    [
        (CliApp.ExitCodes.Ok, "success"),
        (CliApp.ExitCodes.Internal, "internal error"),
        (CliApp.ExitCodes.Usage, "usage: a bad command, option or value"),
        (CliApp.ExitCodes.Model, "the model is malformed"),
        (CliApp.ExitCodes.Image, "an image cannot be decoded"),
        (CliApp.ExitCodes.Hub, "the hub cannot be reached or refuses"),
        (CliApp.ExitCodes.Device, "CUDA cannot be used"),
        (CliApp.ExitCodes.File, "a file or folder is missing or cannot be written"),
        (CliApp.ExitCodes.SomeFailed, "explain or evaluate --keep-going: some images failed (the others were written)"),
        (CliApp.ExitCodes.Cancelled, "cancelled (Ctrl+C): finished images are kept"),
    ];

    private const string EnvironmentLine = "environment: HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE=1, VITATTENTION_CACHE";

    /// <summary>The command named <paramref name="name"/>, or null.</summary>
    public static CliCommand? Find(string name) => All.FirstOrDefault(c => c.Name == name);

    /// <summary>The text of <c>vit-attention --help</c>.</summary>
    public static string MainHelp()
    {
        var text = new StringBuilder();
        text.AppendLine("usage: vit-attention <command> [options]");
        text.AppendLine("       vit-attention <command> --help     a command's options");
        text.AppendLine("       vit-attention --version");
        text.AppendLine();
        text.AppendLine("commands:");
        foreach (var command in All)
        {
            text.AppendLine(Synopsis(command));
            text.AppendLine("      " + command.Summary);
        }

        text.AppendLine();
        AppendOptions(text, "common options:", Common);
        AppendFooter(text);
        return text.ToString().TrimEnd() + "\n";
    }

    /// <summary>The text of <c>vit-attention &lt;command&gt; --help</c>.</summary>
    public static string CommandHelp(CliCommand command)
    {
        var text = new StringBuilder();
        text.AppendLine($"usage: vit-attention {command.Name} {command.Arguments} [options]");
        text.AppendLine();
        text.AppendLine(Wrap(command.Description, 0));
        text.AppendLine();
        AppendOptions(text, "options:", command.Options);
        AppendOptions(text, "common options:", Common);
        AppendFooter(text);
        return text.ToString().TrimEnd() + "\n";
    }

    /// <summary>
    /// <c>  vit-attention command args [--option V] …</c>, wrapped at whole options with continuation lines indented.
    /// </summary>
    private static string Synopsis(CliCommand command)
    {
        const int Width = 110;
        var tokens = new List<string> { $"  vit-attention {command.Name} {command.Arguments}" };
        tokens.AddRange(command.Options.Where(o => !command.Arguments.Contains("--" + o.Name, StringComparison.Ordinal)).Select(o => $"[{o.Usage}]"));
        var lines = new List<string>();
        string line = tokens[0];
        foreach (string token in tokens.Skip(1))
        {
            if (line.Length + 1 + token.Length > Width)
            {
                lines.Add(line);
                line = new string(' ', 8) + token;
            }
            else
            {
                line += " " + token;
            }
        }

        lines.Add(line);
        return string.Join("\n", lines);
    }

    private static void AppendOptions(StringBuilder text, string title, IEnumerable<CliOption> options)
    {
        text.AppendLine(title);
        foreach (var option in options)
        {
            string usage = "  " + option.Usage;
            const int Column = 30;
            string line = usage.Length < Column - 1 ? usage.PadRight(Column) + option.Help : usage + "\n" + new string(' ', Column) + option.Help;
            text.AppendLine(Wrap(line, Column));
        }

        text.AppendLine();
    }

    private static void AppendFooter(StringBuilder text)
    {
        text.AppendLine("exit codes:");
        foreach (var (code, meaning) in ExitCodes)
        {
            text.AppendLine($"  {code,3}  {meaning}");
        }

        text.AppendLine();
        text.AppendLine(EnvironmentLine);
    }

    /// <summary>Wraps each line of <paramref name="text"/> at 110 columns, continuation lines indented by <paramref name="indent"/>.</summary>
    private static string Wrap(string text, int indent)
    {
        const int Width = 110;
        var output = new StringBuilder();
        foreach (string source in text.Split('\n'))
        {
            string line = source;
            while (line.Length > Width)
            {
                int cut = line.LastIndexOf(' ', Width);
                if (cut <= indent)
                {
                    break;
                }

                output.Append(line[..cut].TrimEnd()).Append('\n');
                line = new string(' ', indent) + line[(cut + 1)..];
            }

            output.Append(line).Append('\n');
        }

        return output.ToString().TrimEnd('\n');
    }
}
