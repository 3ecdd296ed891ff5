using System.Globalization;
using VitAttention.Analysis.Methods;

namespace VitAttention.Cli;

internal static partial class CliApp
{
    /// <summary><c>--method rollout,transformer-attribution,…</c>: the methods' flags; rollout alone when absent.</summary>
    internal static ExplanationMethod MethodsOf(CliArguments a, string command)
    {
        string? text = a.Get("method");
        if (text is null)
        {
            return ExplanationMethod.Rollout;
        }

        ExplanationMethod methods = 0;
        foreach (string name in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            methods |= (MethodCatalog.Find(name) ?? throw new UsageException(
                $"'{command}': --method '{name}' is not a method; use a comma-separated list of {MethodCatalog.Names}.")).Method;
        }

        return methods != 0
            ? methods
            : throw new UsageException($"'{command}': --method is empty; use a comma-separated list of {MethodCatalog.Names}.");
    }

    /// <summary>
    /// <c>--class top|topN|&lt;index&gt;[,&lt;index&gt;…]|&lt;label&gt;</c>: the target classes; the top class when absent.
    /// A label may hold commas ("tabby, tabby cat"): text is read as indices only when every part is a number.
    /// </summary>
    internal static TargetClass TargetClassOf(CliArguments a, string command)
    {
        string? text = a.Get("class")?.Trim();
        if (text is null)
        {
            return TargetClass.Default;
        }

        try
        {
            if (text.Equals("top", StringComparison.OrdinalIgnoreCase))
            {
                return TargetClass.Top(1);
            }

            if (text.StartsWith("top", StringComparison.OrdinalIgnoreCase)
                && int.TryParse(text.AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out int top))
            {
                return TargetClass.Top(top);
            }

            string[] parts = text.Split(',', StringSplitOptions.TrimEntries);
            var indices = new int[parts.Length];
            bool numbers = parts.Length > 0 && parts.All(p => p.Length > 0);
            for (int i = 0; numbers && i < parts.Length; i++)
            {
                numbers = int.TryParse(parts[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out indices[i]);
            }

            return numbers ? TargetClass.Index(indices) : TargetClass.Label(text);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"'{command}': --class '{text}': {e.Message} Use top, top2, a class index (281 or 281,285) or a label.");
        }
    }
}
