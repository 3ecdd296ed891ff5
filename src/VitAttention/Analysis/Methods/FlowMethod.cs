using System.Collections.Concurrent;
using VitAttention.Inference;
using VitAttention.Rollout;
using VitAttention.Rollout.Flow;

namespace VitAttention.Analysis.Methods;

/// <summary>
/// Attention flow (Abnar &amp; Zuidema 2020, the second method of the paper rollout comes from) as a map over the
/// patch grid, called like the methods of <see cref="ExplanationMethods"/>: the exact maximum flow from the query
/// rows at the top of the layered attention graph to each input token (<see cref="AttentionFlowEngine"/>), divided
/// by the sum over every input token as the authors' <c>compute_node_flow</c> does, prefix tokens dropped.
/// </summary>
internal static class FlowMethod
{
    /// <inheritdoc cref="Flow(AttentionStack, int, int, QueryRows, RolloutOptions?, AttentionFlowEngine?)"/>
    /// <param name="attentions">The attention stack.</param>
    /// <param name="item">The image in the batch.</param>
    /// <param name="prefix">Tokens before the patches.</param>
    /// <param name="query">The query rows.</param>
    /// <param name="options">Fusion, α, discard, layer range and threads; null for the authors' definition.</param>
    /// <param name="engines">Engines to reuse: one is taken for the call (a new one when none is free) and put back
    /// after, so an explainer that asks for flow on every image allocates an engine's buffers (~3 MB per thread at
    /// ViT-B/16) once per concurrent caller, not once per image; null for a new engine.</param>
    public static float[] Flow(
        AttentionStack attentions, int item, int prefix, QueryRows query, RolloutOptions? options, ConcurrentBag<AttentionFlowEngine>? engines)
    {
        if (engines is null)
        {
            return Flow(attentions, item, prefix, query, options);
        }

        var engine = engines.TryTake(out var kept) ? kept : new AttentionFlowEngine();
        try
        {
            return Flow(attentions, item, prefix, query, options, engine);
        }
        finally
        {
            engines.Add(engine);
        }
    }

    /// <summary>
    /// The flow map of one image: map[j] = flow(prefix + j) / Σ_k flow(k), k over every token (prefix tokens
    /// included), so the values are the authors' relevance and, like a rollout row, sum to at most 1 over the patches.
    /// </summary>
    /// <param name="attentions">The attention stack (softmax rows; checked as rollout checks them).</param>
    /// <param name="item">The image in the batch.</param>
    /// <param name="prefix">Tokens before the patches.</param>
    /// <param name="query">The query rows: one token (CLS), or for a mean-pooling model the patch rows, whose mean
    /// row of the last layer's Ã is then the source's arcs (the rollout of the same readout averages the same rows).</param>
    /// <param name="options">Fusion, α, discard, layer range and threads (<see cref="RolloutOptions.MaxDegreeOfParallelism"/>:
    /// the input tokens are solved in parallel); null for <see cref="RolloutOptions.Default"/>, the authors'
    /// definition. Its <see cref="RolloutOptions.QueryToken"/> and <see cref="RolloutOptions.PrefixTokens"/> are not
    /// used: <paramref name="query"/> and <paramref name="prefix"/> say them.</param>
    /// <param name="engine">An engine to reuse (it keeps its buffers, ~3 MB per thread at ViT-B/16; not thread-safe:
    /// one per concurrent caller); null for a new one.</param>
    /// <returns>One value per patch token, row-major, <c>[tokens − prefix]</c>.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The item, prefix or query rows are out of range.</exception>
    /// <exception cref="ArgumentException">The attention holds NaN, infinity, negative values or rows that do not
    /// sum to 1, or an option does not fit the stack.</exception>
    public static float[] Flow(
        AttentionStack attentions, int item, int prefix, QueryRows query, RolloutOptions? options = null, AttentionFlowEngine? engine = null)
    {
        ArgumentNullException.ThrowIfNull(attentions);
        AttentionShape s = attentions.Shape;
        ArgumentOutOfRangeException.ThrowIfNegative(item);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(item, s.Batch);
        if (prefix < 0 || prefix >= s.Tokens)
        {
            throw new ArgumentOutOfRangeException(nameof(prefix), $"The prefix token count {prefix} must be in 0..{s.Tokens - 1} for {s.Tokens} tokens.");
        }

        query.Validate(s.Tokens);
        RolloutOptions settings = (options ?? RolloutOptions.Default) with { QueryToken = query.First, PrefixTokens = prefix };
        var flow = new double[s.Tokens];
        (engine ?? new AttentionFlowEngine()).FlowRow(attentions.Data, s, item, settings, query.First, query.Count, flow);
        double total = 0;
        foreach (double f in flow)
        {
            total += f;
        }

        var map = new float[s.Tokens - prefix];
        if (total > 0)
        {
            for (int j = 0; j < map.Length; j++)
            {
                map[j] = (float)(flow[prefix + j] / total);
            }
        }

        return map;
    }
}
