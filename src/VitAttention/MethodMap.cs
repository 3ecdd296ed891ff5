namespace VitAttention;

/// <summary>
/// One explanation method's map for one image (and, for a class-specific method, one target class), over the patch
/// grid. Values are raw (no normalisation): compare maps of one method, not across methods.
/// </summary>
public sealed class MethodMap
{
    internal MethodMap(ExplanationMethod method, int? classIndex, string? classLabel, AttentionMap map)
    {
        Method = method;
        ClassIndex = classIndex;
        ClassLabel = classLabel;
        Map = map;
    }

    /// <summary>The method that made the map (one flag).</summary>
    public ExplanationMethod Method { get; }

    /// <summary>The method's name as the CLI and the JSON write it: <c>rollout</c>, <c>gradient-rollout</c>, ….</summary>
    public string Name => Analysis.Methods.MethodCatalog.Of(Method).Name;

    /// <summary>The target class whose logit was explained; null for a class-agnostic method.</summary>
    public int? ClassIndex { get; }

    /// <summary>The target class's label; null for a class-agnostic method.</summary>
    public string? ClassLabel { get; }

    /// <summary>True when the map depends on the target class (a gradient method).</summary>
    public bool IsClassSpecific => ClassIndex is not null;

    /// <summary>The map over the patch grid, row-major.</summary>
    public AttentionMap Map { get; }

    /// <summary>"gradient-rollout for class 281 (tabby)", or "rollout".</summary>
    /// <returns>A short description.</returns>
    public override string ToString() => ClassIndex is { } c ? $"{Name} for class {c} ({ClassLabel})" : Name;
}
