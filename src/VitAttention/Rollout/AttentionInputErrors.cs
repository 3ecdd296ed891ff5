using System.Diagnostics.CodeAnalysis;

namespace VitAttention.Rollout;

/// <summary>
/// The errors for an attention stack that is not probabilities, shared by everything that walks one (the rollout
/// lanes, the attention-flow graph): each names the layer, item, head and row and says what to pass instead.
/// </summary>
internal static class AttentionInputErrors
{
    [DoesNotReturn]
    public static void ThrowNotFinite(int layer, int item, int head, int row) =>
        throw new ArgumentException(
            $"The attention stack holds NaN or infinity at layer {layer}, item {item}, head {head}, row {row}: " +
            "pass attention probabilities (softmax outputs) from a healthy forward pass.", "stack");

    /// <param name="value">The negative value found.</param>
    /// <param name="layer">Its layer.</param>
    /// <param name="item">Its batch item.</param>
    /// <param name="head">Its head.</param>
    /// <param name="row">Its query row.</param>
    /// <param name="method">What needs probabilities ("rollout", "attention flow"), for the message.</param>
    /// <param name="use">What it uses them as ("" or " as capacities").</param>
    [DoesNotReturn]
    public static void ThrowNegative(float value, int layer, int item, int head, int row, string method, string use = "") =>
        throw new ArgumentException(
            $"The attention stack holds a negative value ({value}) at layer {layer}, item {item}, head {head}, row {row}: " +
            $"{method} needs attention probabilities (softmax outputs){use}, not logits or scores.", "stack");

    /// <param name="layer">The row's layer.</param>
    /// <param name="item">Its batch item.</param>
    /// <param name="head">Its head.</param>
    /// <param name="row">Its query row.</param>
    /// <param name="sum">Its sum, printed as its own type prints.</param>
    [DoesNotReturn]
    public static void ThrowRowSum(int layer, int item, int head, int row, object sum) =>
        throw new ArgumentException(
            $"The attention row at layer {layer}, item {item}, head {head}, row {row} sums to {sum}, not 1 " +
            $"(tolerance {RolloutEngine.RowSumTolerance}): pass softmax outputs over the last axis in " +
            "[layer, batch, head, query, key] order, or set RolloutOptions.InputsAreSoftmax if the rows are known to be probabilities.",
            "stack");
}
