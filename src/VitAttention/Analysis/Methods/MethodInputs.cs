using System.Collections.Concurrent;
using VitAttention.Inference;
using VitAttention.Rollout;
using VitAttention.Rollout.Flow;

namespace VitAttention.Analysis.Methods;

/// <summary>
/// What a method's formula may read for one image of a batch: the attention stack, the rows the maps read, the
/// rollout settings and the library's rollout row, and, for a class-specific method, the gradient run of one target
/// class (<see cref="Gradients"/>).
/// </summary>
internal sealed class MethodInputs
{
    /// <summary>The batch's attention, <c>[layer, batch, head, query, key]</c>.</summary>
    public required AttentionStack Attentions { get; init; }

    /// <summary>The image in the batch.</summary>
    public required int Item { get; init; }

    /// <summary>Tokens before the patches (class, distillation, registers).</summary>
    public required int Prefix { get; init; }

    /// <summary>The query rows the maps read: the query token, or the mean of the patch rows for a model without a class token.</summary>
    public required QueryRows Query { get; init; }

    /// <summary>The explanation's rollout settings (discard ratio and first layer are reused by the gradient methods).</summary>
    public required RolloutOptions Rollout { get; init; }

    /// <summary>The library's rollout row over every token (already computed for the explanation).</summary>
    public required float[] RolloutRow { get; init; }

    /// <summary>
    /// Attention flow engines kept by the explainer (each holds ~3 MB of buffers per thread at ViT-B/16, so a flow map
    /// per image would otherwise allocate them anew); null for a new engine per map.
    /// </summary>
    public ConcurrentBag<AttentionFlowEngine>? FlowEngines { get; init; }

    /// <summary>The gradient run of the target class; null for a class-agnostic method.</summary>
    public GradientOutput? Gradients { get; init; }

    /// <summary>The gradient run, for a class-specific formula.</summary>
    public GradientOutput RequireGradients() =>
        Gradients ?? throw new InvalidOperationException("A class-specific method was computed without its gradient run.");
}
