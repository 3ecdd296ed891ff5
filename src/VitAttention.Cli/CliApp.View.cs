using System.Globalization;
using System.Text;
using System.Text.Json;
using VitAttention.Rendering;
using VitAttention.Rollout;

namespace VitAttention.Cli;

internal static partial class CliApp
{
    /// <summary><c>view &lt;image&gt; --out page.html</c>: the interactive viewer page for one image.</summary>
    private static int View(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var a = Parse(CliCommands.View, args);
        if (a.Positionals.Count != 1)
        {
            throw new UsageException($"'view' takes exactly one image path (got {a.Positionals.Count}); one page shows one image.");
        }

        string image = a.Positionals[0];
        string output = a.Require("out");
        RequireFile(image, "image");
        if (!output.EndsWith(".html", StringComparison.OrdinalIgnoreCase) && !output.EndsWith(".htm", StringComparison.OrdinalIgnoreCase))
        {
            throw new UsageException($"'view': --out '{output}' should name an .html file (e.g. --out page.html).");
        }

        if (OutputGuard.Clash(output, [image]) is not null)
        {
            throw new UsageException($"'view': --out '{output}' is the input image; choose another file name.");
        }

        var options = new ExplainOptions
        {
            KeepAttentions = true, // the page embeds every layer's and head's attention
            TopK = a.Int("top-classes", 5, 1, 100_000),
            Method = MethodsOf(a, "view"),
            TargetClass = TargetClassOf(a, "view"),
            Rollout = RolloutOptions.Default with
            {
                Fusion = a.Enum("head-fusion", HeadFusion.Mean),
                DiscardRatio = a.Float("discard", 0f, 0f, 0.99f),
            },
            Figure = FigureOptions.Default with
            {
                Overlay = OverlayOptions.Default with { Colormap = a.Enum("colormap", Colormap.Jet), Alpha = a.Float("alpha", 0.6f, 0f, 1f) },
            },
        };

        using var explainer = VitExplainer.Load(a.Get("model") ?? AttentionRollout.DefaultModel, ExplainerOptionsFrom(a, stderr), ct);
        if (OutputGuard.Clash(output, explainer.ModelFiles) is { } modelFile)
        {
            throw new UsageException($"'view': --out '{output}' is the model file '{modelFile}'; choose another file name.");
        }

        ValidateForModel(options, explainer.Config, "view");

        using var explanation = explainer.Explain(image, options, ct);
        explanation.SaveHtml(output);
        long bytes = new FileInfo(output).Length;
        if (a.Has("json"))
        {
            using var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                w.WriteString("source", explanation.Source);
                w.WriteString("out", output);
                w.WriteNumber("bytes", bytes);
                Explanation.WritePredictions(w, explanation.Predictions);
                w.WriteEndObject();
            }

            stdout.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
        }
        else
        {
            var top = explanation.Predictions.Count > 0 ? explanation.Predictions[0] : null;
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{image}: {(top is null ? "no classifier" : $"{top.Label} {top.Probability:0.0000}")}; wrote {output} ({bytes / 1e6:0.0} MB), open it in a browser"));
        }

        return ExitCodes.Ok;
    }
}
