using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using VitAttention.Inference;
using VitAttention.Rollout.Kernels;

namespace VitAttention.Analysis.Methods;

/// <summary>
/// Class-specific explanation maps of one image from its attention stack and the gradients of a target logit
/// (<see cref="GradientSession"/>), as the papers' code computes them, without the peers' known bugs. Every method
/// returns a map over the patch grid: one value per patch token (the tokens after <c>prefix</c>), row-major.
/// </summary>
/// <remarks>
/// <para>
/// Gradients are laid out like the attention stack, <c>[layer, batch, head, query, key]</c>. The query rows
/// (<see cref="QueryRows"/>) are the CLS token's for models that classify from it, or the mean of the patch rows for
/// models that classify the mean of the patch tokens. Prefix tokens (CLS, distillation, registers) are never in a map.
/// </para>
/// <para>
/// Only the needed row of each product is computed: the rollout-type methods multiply a row vector by each layer's
/// matrix, last layer first (r·M_L·…·M_1 read from the left), which is L vector-matrix products instead of L matrix
/// products. Maps are raw values: no min-max or max normalisation (a figure normalises for display).
/// </para>
/// </remarks>
internal static class ExplanationMethods
{
    /// <summary>
    /// Raw attention: the last layer's query row(s), mean over heads. map[j] = mean_h mean_q A_L[h, q, prefix + j].
    /// </summary>
    /// <param name="attentions">The attention stack.</param>
    /// <param name="item">The image in the batch.</param>
    /// <param name="prefix">Tokens before the patches.</param>
    /// <param name="query">The query rows.</param>
    /// <param name="layer">The layer (zero-based); null for the last.</param>
    public static float[] Attention(AttentionStack attentions, int item, int prefix, QueryRows query, int? layer = null)
    {
        AttentionShape s = Check(attentions, [], false, item, prefix, query);
        int l = layer ?? (s.Layers - 1);
        ArgumentOutOfRangeException.ThrowIfNegative(l, nameof(layer));
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(l, s.Layers, nameof(layer));
        var map = new float[s.Tokens - prefix];
        float weight = 1f / (s.Heads * query.Count);
        for (int h = 0; h < s.Heads; h++)
        {
            ReadOnlySpan<float> head = attentions.Head(l, item, h);
            for (int q = query.First; q < query.First + query.Count; q++)
            {
                TensorPrimitives.MultiplyAdd(head.Slice((q * s.Tokens) + prefix, map.Length), weight, map, map);
            }
        }

        return map;
    }

    /// <summary>
    /// Raw attention of each head of the last layer: <c>[head, patch]</c>, map[h, j] = mean_q A_L[h, q, prefix + j].
    /// </summary>
    public static float[] AttentionPerHead(AttentionStack attentions, int item, int prefix, QueryRows query, int? layer = null)
    {
        AttentionShape s = Check(attentions, [], false, item, prefix, query);
        int l = layer ?? (s.Layers - 1);
        ArgumentOutOfRangeException.ThrowIfNegative(l, nameof(layer));
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(l, s.Layers, nameof(layer));
        int patches = s.Tokens - prefix;
        var maps = new float[s.Heads * patches];
        for (int h = 0; h < s.Heads; h++)
        {
            ReadOnlySpan<float> head = attentions.Head(l, item, h);
            Span<float> map = maps.AsSpan(h * patches, patches);
            for (int q = query.First; q < query.First + query.Count; q++)
            {
                TensorPrimitives.MultiplyAdd(head.Slice((q * s.Tokens) + prefix, patches), 1f / query.Count, map, map);
            }
        }

        return maps;
    }

    /// <summary>
    /// Gradient rollout (vit-explain's <c>grad_rollout</c>, corrected): per layer F = mean_h(A ⊙ dA) with negatives set
    /// to 0, the lowest <paramref name="discardRatio"/> of the patch-to-patch block zeroed (prefix rows and columns
    /// spared, as the library's rollout does), Ã = rownorm((F + I) / 2), and R = Ã_L ⋯ Ã_1. Each layer's gradient is
    /// paired with that layer's attention (vit-explain zips forward-order attentions with backward-order gradients) and
    /// rows are divided by their own sums (vit-explain divides without keepdim, by the column's row).
    /// </summary>
    /// <param name="attentions">The attention stack.</param>
    /// <param name="gradients">d logit / d attention, laid out like the stack.</param>
    /// <param name="item">The image in the batch.</param>
    /// <param name="prefix">Tokens before the patches.</param>
    /// <param name="query">The query rows of R that make the map.</param>
    /// <param name="discardRatio">Fraction of each fused matrix's patch block set to 0, lowest first, in [0, 1).</param>
    public static unsafe float[] GradientRollout(
        AttentionStack attentions, ReadOnlySpan<float> gradients, int item, int prefix, QueryRows query, float discardRatio = 0f)
    {
        AttentionShape s = Check(attentions, gradients, true, item, prefix, query);
        if (!(discardRatio >= 0f && discardRatio < 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(discardRatio), $"The discard ratio must be in [0, 1), got {discardRatio}.");
        }

        int t = s.Tokens;
        float[] r = QueryVector(query, t);
        var next = new float[t];
        var fused = new float[t * t]; // [query, key]
        int[] histogram = discardRatio > 0 ? new int[DiscardLowest.InterleavedHistogramLength] : [];
        uint[] scratch = discardRatio > 0 ? new uint[DiscardLowest.ScratchLength(t, prefix)] : []; // the block's keys, compacted
        for (int l = s.Layers - 1; l >= 0; l--)
        {
            Array.Clear(fused);
            for (int h = 0; h < s.Heads; h++)
            {
                int offset = (int)s.OffsetOf(l, item, h);
                TensorPrimitives.MultiplyAdd(attentions.Data.Slice(offset, t * t), gradients.Slice(offset, t * t), fused, fused);
            }

            // mean over heads, then negatives to 0 (the clamp comes after the mean, as in vit-explain)
            TensorPrimitives.Multiply(fused, 1f / s.Heads, fused);
            TensorPrimitives.Max(fused, 0f, fused);
            if (discardRatio > 0)
            {
                fixed (float* f = fused)
                {
                    DiscardLowest.Invoke(f, t, t, prefix, discardRatio, histogram, scratch);
                }
            }

            // r·Ã with Ã[i, :] = (F[i, :] + e_i) / (Σ_j F[i, j] + 1): the 1/2 cancels in the row normalisation.
            Array.Clear(next);
            for (int i = 0; i < t; i++)
            {
                if (r[i] == 0f)
                {
                    continue;
                }

                ReadOnlySpan<float> row = fused.AsSpan(i * t, t);
                float w = r[i] / (TensorPrimitives.Sum(row) + 1f);
                TensorPrimitives.MultiplyAdd(row, w, next, next);
                next[i] += w;
            }

            (r, next) = (next, r);
        }

        return r[prefix..];
    }

    /// <summary>
    /// Transformer attribution (Chefer, Gur &amp; Wolf, ICCV 2021, "Generic Attention-model Explainability"): R = I;
    /// for each layer from <paramref name="startLayer"/> on, R += mean_h((dA ⊙ A)⁺) · R; the map is R's query row(s)
    /// over the patches. No row normalisation (as the authors' code).
    /// </summary>
    /// <param name="attentions">The attention stack.</param>
    /// <param name="gradients">d logit / d attention, laid out like the stack.</param>
    /// <param name="item">The image in the batch.</param>
    /// <param name="prefix">Tokens before the patches.</param>
    /// <param name="query">The query rows of R that make the map.</param>
    /// <param name="startLayer">First layer that updates R (zero-based); default 0, every layer.</param>
    public static float[] TransformerAttribution(
        AttentionStack attentions, ReadOnlySpan<float> gradients, int item, int prefix, QueryRows query, int startLayer = 0)
    {
        AttentionShape s = Check(attentions, gradients, true, item, prefix, query);
        ArgumentOutOfRangeException.ThrowIfNegative(startLayer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(startLayer, s.Layers);
        int t = s.Tokens;

        // R = (I + C_L)⋯(I + C_start), so r·R is r ← r + r·C_l from the last layer down.
        float[] r = QueryVector(query, t);
        var product = new float[t];
        for (int l = s.Layers - 1; l >= startLayer; l--)
        {
            Array.Clear(product);
            for (int h = 0; h < s.Heads; h++)
            {
                int offset = (int)s.OffsetOf(l, item, h);
                ReadOnlySpan<float> a = attentions.Data.Slice(offset, t * t);
                ReadOnlySpan<float> g = gradients.Slice(offset, t * t);
                for (int i = 0; i < t; i++)
                {
                    if (r[i] != 0f)
                    {
                        AddClampedProduct(a.Slice(i * t, t), g.Slice(i * t, t), r[i] / s.Heads, product);
                    }
                }
            }

            TensorPrimitives.Add(r, product, r);
        }

        return r[prefix..];
    }

    /// <summary>
    /// Grad-CAM as pytorch-grad-cam computes it for a ViT: over the patch tokens of a [tokens, hidden] activation and its
    /// gradient, weights w_c = mean over patches of the gradient, map[j] = max(0, Σ_c w_c · activation[j, c]).
    /// pytorch-grad-cam's recipe hooks <c>blocks[-1].norm1</c>, whose output it takes (its forward hook's
    /// <c>output</c>): pass the norm1 output and its gradient for that; the norm1 input gives the input variant.
    /// </summary>
    /// <param name="activations">One image's activation, <c>[tokens, hidden]</c>.</param>
    /// <param name="gradients">Its gradient, <c>[tokens, hidden]</c>.</param>
    /// <param name="tokens">Tokens.</param>
    /// <param name="prefix">Tokens before the patches (dropped, as the recipe's reshape drops the class token).</param>
    public static float[] GradCam(ReadOnlySpan<float> activations, ReadOnlySpan<float> gradients, int tokens, int prefix)
    {
        if (tokens <= 0 || activations.Length == 0 || activations.Length % tokens != 0 || gradients.Length != activations.Length)
        {
            throw new ArgumentException(
                $"Grad-CAM needs an activation and a gradient of [tokens, hidden] with {tokens} tokens; got {activations.Length} and {gradients.Length} values.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(prefix);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(prefix, tokens);
        int hidden = activations.Length / tokens;
        int patches = tokens - prefix;
        var weights = new float[hidden];
        for (int j = prefix; j < tokens; j++)
        {
            TensorPrimitives.Add(weights, gradients.Slice(j * hidden, hidden), weights);
        }

        TensorPrimitives.Multiply(weights, 1f / patches, weights);
        var map = new float[patches];
        for (int j = 0; j < patches; j++)
        {
            map[j] = Math.Max(0f, TensorPrimitives.Dot(activations.Slice((prefix + j) * hidden, hidden), weights));
        }

        return map;
    }

    /// <summary>
    /// The attention Grad-CAM of Chefer et al.'s tables: on the last layer, per head the query row(s) of A times the
    /// mean over the patches of the same row(s) of dA, then the mean over heads, negatives to 0:
    /// map[j] = max(0, mean_h A_L[h, q, prefix + j] · mean_k dA_L[h, q, prefix + k]).
    /// </summary>
    public static float[] AttentionGradCam(AttentionStack attentions, ReadOnlySpan<float> gradients, int item, int prefix, QueryRows query)
    {
        AttentionShape s = Check(attentions, gradients, true, item, prefix, query);
        int t = s.Tokens, patches = t - prefix, l = s.Layers - 1;
        var map = new float[patches];
        var row = new float[patches];
        for (int h = 0; h < s.Heads; h++)
        {
            int offset = (int)s.OffsetOf(l, item, h);
            float weight = 0f;
            Array.Clear(row);
            for (int q = query.First; q < query.First + query.Count; q++)
            {
                int at = offset + (q * t) + prefix;
                TensorPrimitives.Add(row, attentions.Data.Slice(at, patches), row);
                weight += TensorPrimitives.Sum(gradients.Slice(at, patches));
            }

            // mean_q over both factors, mean_k of the gradient, mean_h of the product
            TensorPrimitives.MultiplyAdd(row, weight / ((float)query.Count * query.Count * patches * s.Heads), map, map);
        }

        TensorPrimitives.Max(map, 0f, map);
        return map;
    }

    private static AttentionShape Check(AttentionStack attentions, ReadOnlySpan<float> gradients, bool withGradients, int item, int prefix, QueryRows query)
    {
        ArgumentNullException.ThrowIfNull(attentions);
        AttentionShape s = attentions.Shape;
        if (withGradients && gradients.Length != s.TotalLength)
        {
            throw new ArgumentException(
                $"The gradients hold {gradients.Length} values; they must be laid out like the attention stack {s}, {s.TotalLength} values.",
                nameof(gradients));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(item);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(item, s.Batch);
        if (prefix < 0 || prefix >= s.Tokens)
        {
            throw new ArgumentOutOfRangeException(nameof(prefix), $"The prefix token count {prefix} must be in 0..{s.Tokens - 1} for {s.Tokens} tokens.");
        }

        query.Validate(s.Tokens);
        return s;
    }

    private static float[] QueryVector(QueryRows query, int tokens)
    {
        var r = new float[tokens];
        r.AsSpan(query.First, query.Count).Fill(1f / query.Count);
        return r;
    }

    /// <summary>acc[k] += scale · max(a[k] · g[k], 0).</summary>
    private static void AddClampedProduct(ReadOnlySpan<float> a, ReadOnlySpan<float> g, float scale, Span<float> acc)
    {
        int k = 0;
        if (Vector.IsHardwareAccelerated)
        {
            ReadOnlySpan<Vector<float>> va = MemoryMarshal.Cast<float, Vector<float>>(a);
            ReadOnlySpan<Vector<float>> vg = MemoryMarshal.Cast<float, Vector<float>>(g);
            Span<Vector<float>> vacc = MemoryMarshal.Cast<float, Vector<float>>(acc);
            var s = new Vector<float>(scale);
            for (int i = 0; i < va.Length; i++)
            {
                vacc[i] += s * Vector.Max(va[i] * vg[i], Vector<float>.Zero);
            }

            k = va.Length * Vector<float>.Count;
        }

        for (; k < a.Length; k++)
        {
            acc[k] += scale * Math.Max(a[k] * g[k], 0f);
        }
    }
}
