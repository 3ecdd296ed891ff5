namespace VitAttention.Analysis.Methods;

/// <summary>One explanation method: its flag, its name (CLI, JSON, viewer), its title (figures), whether it depends on a target class, and its formula.</summary>
/// <param name="Method">The flag.</param>
/// <param name="Name">The name the CLI takes and the JSON writes (<c>gradient-rollout</c>).</param>
/// <param name="Title">The name figures show (<c>Gradient Rollout</c>).</param>
/// <param name="ClassSpecific">True when the map is of one class's logit: it needs a gradient run per class.</param>
/// <param name="Compute">The map over the patches, one value per patch token.</param>
internal sealed record MethodSpec(ExplanationMethod Method, string Name, string Title, bool ClassSpecific, Func<MethodInputs, float[]> Compute);

/// <summary>
/// Every explanation method in one table: adding a method is one <see cref="ExplanationMethod"/> value and one entry
/// here (the CLI's <c>--method</c>, the JSON, the figures and the viewer all read this table).
/// </summary>
internal static class MethodCatalog
{
    /// <summary>Every method, in the order figures and JSON list them.</summary>
    public static readonly MethodSpec[] All =
    [
        new(ExplanationMethod.Rollout, "rollout", "Attention Rollout", false,
            x => x.RolloutRow[x.Prefix..]),
        new(ExplanationMethod.Attention, "attention", "Last-Layer Attention", false,
            x => ExplanationMethods.Attention(x.Attentions, x.Item, x.Prefix, x.Query)),
        new(ExplanationMethod.GradientRollout, "gradient-rollout", "Gradient Rollout", true,
            x => ExplanationMethods.GradientRollout(x.Attentions, x.RequireGradients().AttentionGradients, x.Item, x.Prefix, x.Query, x.Rollout.DiscardRatio)),
        new(ExplanationMethod.TransformerAttribution, "transformer-attribution", "Transformer Attribution", true,
            x => ExplanationMethods.TransformerAttribution(x.Attentions, x.RequireGradients().AttentionGradients, x.Item, x.Prefix, x.Query, x.Rollout.FirstLayer - 1)),
        new(ExplanationMethod.GradCam, "gradcam", "Grad-CAM", true, GradCam),
        new(ExplanationMethod.AttentionGradCam, "attention-gradcam", "Attention Grad-CAM", true,
            x => ExplanationMethods.AttentionGradCam(x.Attentions, x.RequireGradients().AttentionGradients, x.Item, x.Prefix, x.Query)),
        new(ExplanationMethod.Flow, "flow", "Attention Flow", false,
            x => FlowMethod.Flow(x.Attentions, x.Item, x.Prefix, x.Query, x.Rollout, x.FlowEngines)),
    ];

    /// <summary>Every defined flag together.</summary>
    public static readonly ExplanationMethod Defined = All.Aggregate((ExplanationMethod)0, (all, m) => all | m.Method);

    /// <summary>The names, comma-separated, for help and messages.</summary>
    public static string Names => string.Join(", ", All.Select(m => m.Name));

    /// <summary>The entry of one flag.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not exactly one defined flag.</exception>
    public static MethodSpec Of(ExplanationMethod method) =>
        Array.Find(All, m => m.Method == method) ?? throw new ArgumentOutOfRangeException(nameof(method), method, "not a single explanation method");

    /// <summary>The methods a flag set asks for, in table order.</summary>
    public static IReadOnlyList<MethodSpec> In(ExplanationMethod methods) => [.. All.Where(m => (methods & m.Method) != 0)];

    /// <summary>True when any method asked needs a gradient run.</summary>
    public static bool NeedsGradients(ExplanationMethod methods) => All.Any(m => m.ClassSpecific && (methods & m.Method) != 0);

    /// <summary>The method named <paramref name="name"/> (as the CLI and JSON write it, ignoring case and '_' for '-'), or null.</summary>
    public static MethodSpec? Find(string name)
    {
        string n = name.Trim().Replace('_', '-');
        return Array.Find(All, m => string.Equals(m.Name, n, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Grad-CAM on the last block's norm1 output, pytorch-grad-cam's ViT recipe.</summary>
    private static float[] GradCam(MethodInputs x)
    {
        var g = x.RequireGradients();
        if (g.Hidden == 0)
        {
            throw new ModelFormatException(
                "Grad-CAM needs the last block's norm1 tensors, which this model's graph does not expose; choose another method (e.g. transformer-attribution).");
        }

        int tokens = x.Attentions.Shape.Tokens;
        return ExplanationMethods.GradCam(g.Item(g.Norm1Output, x.Item), g.Item(g.Norm1OutputGradient, x.Item), tokens, x.Prefix);
    }
}
