using System.Diagnostics.CodeAnalysis;
using System.Numerics.Tensors;
using VitAttention.Inference;
using VitAttention.Rollout.Kernels;

namespace VitAttention.Rollout.Flow;

/// <summary>
/// The attention graph of Abnar &amp; Zuidema (2020, "Quantifying Attention Flow in Transformers", section 3.2) for
/// one image, with float64 capacities, reduced to the parts a max-flow from one output token can use.
/// </summary>
/// <remarks>
/// <para>The full graph has node layers r = 0 … n (n = layers used = end − start + 1), each holding every token;
/// r = 0 are the input tokens, r = n the outputs of the last layer used. Token a at node layer r has an arc to
/// token b at node layer r − 1 with capacity Ã_{start + r − 1}[a, b], where
/// Ã_l = rownorm(α·fuse_h(A_l) + (1 − α)·I) after the optional discard: exactly the matrices rollout chains. With
/// the defaults (mean fusion, α = 0.5) and softmax rows this is (mean_h A_l + I) / 2, the authors'
/// <c>res_att_mat = att + I; res_att_mat /= res_att_mat.sum(-1)</c> (their <c>get_adjmat</c> then adds one arc per
/// entry, from layer i + 1 to layer i). The flow of input token j is the maximum flow from (n, q) to (0, j).</para>
/// <para>What is stored: the top layer's other tokens have no incoming arcs and the other input tokens no outgoing
/// ones, so neither can carry flow from (n, q) to (0, j). Left are the source's arcs (row q of Ã_end, or the mean of the query rows), the
/// interior node layers 1 … n − 1 with the arcs between them, and each input token's incoming arcs (column j of
/// Ã_start).</para>
/// <code>
/// Source   [tokens]                   Ã_end[q, b] (or its mean over the query rows): source → token b of node layer n − 1 (or of layer 0 when n = 1)
/// Interior [n − 2, tokens, tokens]    block k = Ã_{start + k + 1}[a, b]: token a of node layer k + 2 → token b of layer k + 1
/// SinkIn   [tokens, tokens]           SinkIn[j, a] = Ã_start[a, j]: token a of node layer 1 → input token j (transposed)
/// </code>
/// </remarks>
internal sealed class FlowGraph
{
    private double[] _source = [];     // [tokens]
    private double[] _interior = [];   // [n − 2, tokens, tokens]
    private ulong[] _interiorMask = []; // [n − 2, tokens, words]: bit b of (k, a) set when Interior[k, a, b] > ε
    private ulong[] _sourceMask = [];  // [words]
    private double[] _sinkIn = [];     // [tokens, tokens] (transposed Ã_start)
    private double[] _fused = [];      // [tokens, tokens] scratch: one layer, fused, before the residual
    private double[] _rowScratch = []; // [tokens] one head's row in float64
    private float[] _discardScratch = []; // [tokens, tokens] the fused layer in float32, for the discard selection
    private uint[] _select = [];          // the discard selection's candidates, [(tokens − prefix)²]
    private readonly int[] _histogram = new int[DiscardLowest.HistogramLength];

    /// <summary>Tokens per layer.</summary>
    public int Tokens { get; private set; }

    /// <summary>Attention layers used, n = end − start + 1; the graph has n + 1 node layers.</summary>
    public int Layers { get; private set; }

    /// <summary>Interior node layers (1 … n − 1), each with <see cref="Tokens"/> nodes.</summary>
    public int InteriorLayers => Layers - 1;

    /// <summary>64-bit words in one row's bit set: ⌈tokens / 64⌉.</summary>
    public int Words { get; private set; }

    /// <summary>The first query token q: the source is (n, q), or the mean of <see cref="QueryCount"/> rows from q.</summary>
    public int Query { get; private set; }

    /// <summary>How many consecutive query rows the source's arcs average (1: the source is the token (n, q) itself).</summary>
    public int QueryCount { get; private set; } = 1;

    /// <summary>Capacities of the source's arcs, <c>[tokens]</c> (row q of Ã_end, or the mean of the query rows).</summary>
    public ReadOnlySpan<double> Source => _source.AsSpan(0, Tokens);

    /// <summary>Bits of the source's arcs with capacity above <see cref="LayeredMaxFlow.Epsilon"/>, <c>[words]</c>.</summary>
    public ReadOnlySpan<ulong> SourceMask => _sourceMask.AsSpan(0, Words);

    /// <summary>The interior blocks, <c>[n − 2, tokens, tokens]</c>; block k joins node layer k + 2 (rows) to k + 1 (columns).</summary>
    public double[] Interior => _interior;

    /// <summary>Bits of <see cref="Interior"/> above <see cref="LayeredMaxFlow.Epsilon"/>, <c>[n − 2, tokens, words]</c>.</summary>
    public ulong[] InteriorMask => _interiorMask;

    /// <summary>Capacities of the arcs into input token <paramref name="sink"/> from node layer 1, <c>[tokens]</c>.</summary>
    public ReadOnlySpan<double> SinkIn(int sink) => _sinkIn.AsSpan(sink * Tokens, Tokens);

    /// <summary>
    /// The cut around the source or around the sink, whichever is smaller: min(Σ_b Ã_end[q, b], Σ_a Ã_start[a, j])
    /// = min(1, column sum j of Ã_start) for normalised rows. No flow can exceed it. For n = 1 it is the flow itself.
    /// </summary>
    public double TrivialBound(int sink)
    {
        if (Layers == 1)
        {
            return _source[sink];
        }

        return Math.Min(TensorPrimitives.Sum(Source), TensorPrimitives.Sum(SinkIn(sink)));
    }

    /// <summary>
    /// Builds the graph of one batch item from an attention stack, checking every attention row it reads. The
    /// source is the query token <see cref="RolloutOptions.QueryToken"/> at the top.
    /// The caller has validated the shape, the item and <paramref name="options"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A row read holds NaN, infinity or a negative value, or (unless
    /// <see cref="RolloutOptions.InputsAreSoftmax"/>) does not sum to 1 within <see cref="RolloutEngine.RowSumTolerance"/>.</exception>
    public void Build(ReadOnlySpan<float> stack, AttentionShape shape, int item, RolloutOptions options) =>
        Build(stack, shape, item, options, options.QueryToken, 1);

    /// <summary>
    /// Builds the graph with a source whose arcs are the mean of the rows <paramref name="firstQuery"/> …
    /// firstQuery + queryCount − 1 of Ã_end: the output a model reads when it pools those tokens (the mean of
    /// the patch tokens, for models without a class token). Its attention row is the mean of theirs, so it is one
    /// more node at the top whose out-capacity is 1, as a single token's is; with one row it is that token.
    /// The caller has validated the range.
    /// </summary>
    public void Build(ReadOnlySpan<float> stack, AttentionShape shape, int item, RolloutOptions options, int firstQuery, int queryCount)
    {
        int n = shape.Tokens;
        int start = options.StartLayer, end = options.ResolveEndLayer(shape.Layers);
        Tokens = n;
        Layers = end - start + 1;
        Words = (n + 63) >> 6;
        Query = firstQuery;
        QueryCount = queryCount;
        int blocks = Math.Max(Layers - 2, 0);
        Grow(ref _source, n);
        Grow(ref _sourceMask, Words);
        Grow(ref _interior, (long)blocks * n * n);
        Grow(ref _interiorMask, (long)blocks * n * Words);
        Grow(ref _sinkIn, Layers > 1 ? (long)n * n : 0);
        Grow(ref _fused, (long)n * n);
        Grow(ref _rowScratch, n);
        if (options.DiscardRatio > 0f)
        {
            Grow(ref _discardScratch, (long)n * n);
            Grow(ref _select, DiscardLowest.ScratchLength(n, options.PrefixTokens));
        }

        for (int layer = start; layer <= end; layer++)
        {
            ReadOnlySpan<float> heads = stack.Slice((int)shape.OffsetOf(layer, item), (int)shape.LayerLength); // [head, query, key]
            bool top = layer == end;
            if (top && !(options.DiscardRatio > 0f))
            {
                // Only the query rows of the top layer are arcs of the reduced graph.
                Span<double> source = _source.AsSpan(0, n);
                if (queryCount == 1)
                {
                    FuseRow(heads, shape, layer, item, Query, options, source);
                    ResidualNormalize(source, Query, options.ResidualAlpha);
                }
                else
                {
                    source.Clear();
                    Span<double> row = _fused.AsSpan(0, n);
                    for (int q = Query; q < Query + queryCount; q++)
                    {
                        FuseRow(heads, shape, layer, item, q, options, row);
                        ResidualNormalize(row, q, options.ResidualAlpha);
                        TensorPrimitives.Add(source, row, source);
                    }

                    TensorPrimitives.Divide(source, queryCount, source);
                }
            }
            else
            {
                BuildLayer(heads, shape, layer, item, options);
                if (top)
                {
                    Span<double> source = _source.AsSpan(0, n);
                    _fused.AsSpan(Query * n, n).CopyTo(source);
                    if (queryCount > 1)
                    {
                        for (int q = Query + 1; q < Query + queryCount; q++)
                        {
                            TensorPrimitives.Add(source, _fused.AsSpan(q * n, n), source);
                        }

                        TensorPrimitives.Divide(source, queryCount, source);
                    }
                }
                else if (layer == start)
                {
                    for (int a = 0; a < n; a++)
                    {
                        for (int j = 0; j < n; j++)
                        {
                            _sinkIn[(j * n) + a] = _fused[(a * n) + j];
                        }
                    }
                }
                else
                {
                    _fused.AsSpan(0, n * n).CopyTo(_interior.AsSpan((layer - start - 1) * n * n, n * n));
                }
            }
        }

        SetMask(_source.AsSpan(0, n), _sourceMask.AsSpan(0, Words));
        for (int row = 0; row < blocks * n; row++)
        {
            SetMask(_interior.AsSpan(row * n, n), _interiorMask.AsSpan(row * Words, Words));
        }
    }

    /// <summary>Ã_layer whole into the fused scratch: fuse every row, discard, then residual and normalisation.</summary>
    private void BuildLayer(ReadOnlySpan<float> heads, AttentionShape shape, int layer, int item, RolloutOptions options)
    {
        int n = shape.Tokens;
        for (int q = 0; q < n; q++)
        {
            FuseRow(heads, shape, layer, item, q, options, _fused.AsSpan(q * n, n));
        }

        if (options.DiscardRatio > 0f)
        {
            Discard(n, options.PrefixTokens, options.DiscardRatio);
        }

        for (int q = 0; q < n; q++)
        {
            ResidualNormalize(_fused.AsSpan(q * n, n), q, options.ResidualAlpha);
        }
    }

    /// <summary>
    /// The rollout's discard rule (<see cref="RolloutOptions.DiscardRatio"/>, <see cref="DiscardLowest"/>) on the
    /// fused layer rounded to float32, so that the same entries are chosen as rollout's float32 engine chooses;
    /// those entries are then zeroed in the float64 layer.
    /// </summary>
    private unsafe void Discard(int n, int prefix, float ratio)
    {
        for (int i = 0; i < n * n; i++)
        {
            _discardScratch[i] = (float)_fused[i];
        }

        fixed (float* fused = _discardScratch)
        {
            DiscardLowest.Invoke(fused, n, n, prefix, ratio, _histogram, _select);
        }

        for (int i = prefix; i < n; i++)
        {
            for (int j = prefix; j < n; j++)
            {
                if (_discardScratch[(i * n) + j] == 0f)
                {
                    _fused[(i * n) + j] = 0;
                }
            }
        }
    }

    /// <summary>
    /// Row <paramref name="q"/> of fuse_h(A[layer, item]) in float64 (mean: Σ_h A_h / heads; max; min), checking
    /// each head's row: finite, not negative, and summing to 1 unless the options vouch for softmax rows.
    /// </summary>
    private void FuseRow(ReadOnlySpan<float> heads, AttentionShape shape, int layer, int item, int q, RolloutOptions options, Span<double> destination)
    {
        int n = shape.Tokens;
        Span<double> widened = _rowScratch.AsSpan(0, n);
        for (int h = 0; h < shape.Heads; h++)
        {
            ReadOnlySpan<float> row = heads.Slice((int)((h * shape.MatrixLength) + ((long)q * n)), n);
            TensorPrimitives.ConvertChecked<float, double>(row, widened);
            double sum = TensorPrimitives.Sum<double>(widened);
            if (!double.IsFinite(sum))
            {
                AttentionInputErrors.ThrowNotFinite(layer, item, h, q);
            }

            float min = TensorPrimitives.Min(row);
            if (min < 0f)
            {
                AttentionInputErrors.ThrowNegative(min, layer, item, h, q, "attention flow", " as capacities");
            }

            if (!options.InputsAreSoftmax && Math.Abs(sum - 1) > RolloutEngine.RowSumTolerance)
            {
                AttentionInputErrors.ThrowRowSum(layer, item, h, q, sum);
            }

            if (h == 0)
            {
                widened.CopyTo(destination);
            }
            else if (options.Fusion == HeadFusion.Mean)
            {
                TensorPrimitives.Add(destination, widened, destination);
            }
            else if (options.Fusion == HeadFusion.Max)
            {
                TensorPrimitives.Max(destination, widened, destination);
            }
            else
            {
                TensorPrimitives.Min(destination, widened, destination);
            }
        }

        if (options.Fusion == HeadFusion.Mean)
        {
            TensorPrimitives.Divide(destination, shape.Heads, destination);
        }
    }

    /// <summary>
    /// row ← rownorm(α·row + (1 − α)·e_q); a row whose total is 0 (min fusion or discard with α = 1) becomes e_q,
    /// as in rollout.
    /// </summary>
    private static void ResidualNormalize(Span<double> row, int q, float residualAlpha)
    {
        double alpha = residualAlpha;
        TensorPrimitives.Multiply(row, alpha, row);
        row[q] += 1 - alpha;
        double total = TensorPrimitives.Sum<double>(row);
        if (total > 0)
        {
            TensorPrimitives.Divide(row, total, row);
        }
        else
        {
            row.Clear();
            row[q] = 1;
        }
    }

    private static void SetMask(ReadOnlySpan<double> capacities, Span<ulong> mask)
    {
        mask.Clear();
        for (int b = 0; b < capacities.Length; b++)
        {
            if (capacities[b] > LayeredMaxFlow.Epsilon)
            {
                mask[b >> 6] |= 1UL << b;
            }
        }
    }

    private static void Grow<T>(ref T[] buffer, long length)
    {
        if (buffer.LongLength < length)
        {
            buffer = new T[length];
        }
    }
}
