using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using VitAttention.Inference;
using VitAttention.Rollout.Kernels;

namespace VitAttention.Rollout;

/// <summary>
/// Attention rollout (Abnar &amp; Zuidema 2020) over an attention stack <c>[layer, batch, head, tokens, tokens]</c>,
/// with SIMD kernels and a reusable workspace: after the first call for a shape, the span methods allocate nothing.
/// Each layer becomes Ã_l = rownorm(α·fuse_h(A_l,h) + (1 − α)·I) (after the optional discard), and the rollout is
/// R = Ã_end ⋯ Ã_start.
/// </summary>
/// <remarks>
/// <para>Thread-safety: an instance holds mutable scratch buffers and is <b>not</b> thread-safe. Use one engine per
/// thread (they are cheap: the buffers grow to the largest shape seen, ~4 · tokens² floats).</para>
/// <para>Input checks happen at this boundary, fused into the single read of the input: lengths and indices
/// (<see cref="ArgumentException"/>), and for every attention row read: NaN or infinity, negative values, and
/// (unless <see cref="RolloutOptions.InputsAreSoftmax"/>) a row sum further than <see cref="RowSumTolerance"/>
/// from 1 (<see cref="ArgumentException"/> naming layer, item, head and row).</para>
/// </remarks>
public sealed unsafe partial class RolloutEngine
{
    /// <summary>How far from 1 a row of attention probabilities may sum (absolute) before it is rejected.</summary>
    public const float RowSumTolerance = 1e-3f;

    private readonly SimdWidth _width;
    private readonly Lane _main;
    private readonly MatrixJob _matrix;

    /// <summary>Creates an engine that runs at the widest vector width this machine accelerates.</summary>
    public RolloutEngine()
        : this(RolloutKernelFactory.Best)
    {
    }

    /// <summary>Creates an engine forced to one vector width (tests run every width in turn).</summary>
    internal RolloutEngine(SimdWidth width)
    {
        _width = width;
        _main = new Lane(width);
        _matrix = new MatrixJob(_main);
    }

    /// <summary>The vector width the kernels run at.</summary>
    internal SimdWidth Width => _width;

    /// <summary>
    /// The full rollout matrix R = Ã_end ⋯ Ã_start of one batch item, written row-major to
    /// <paramref name="destination"/> (<c>[tokens, tokens]</c>: row q is what token q gathers from every input token).
    /// </summary>
    /// <param name="stack">The attention stack, <c>[layer, batch, head, tokens, tokens]</c>.</param>
    /// <param name="shape">Its shape.</param>
    /// <param name="item">The batch item.</param>
    /// <param name="options">Fusion, α, discard, layer range, parallelism; <see cref="RolloutOptions.QueryToken"/> is not used.</param>
    /// <param name="destination">tokens² floats.</param>
    /// <exception cref="ArgumentException">A length, index or option is out of range, or the attention holds NaN,
    /// infinity, negative values or rows that do not sum to 1.</exception>
    public void RolloutMatrix(ReadOnlySpan<float> stack, AttentionShape shape, int item, RolloutOptions options, Span<float> destination)
    {
        CheckCall(stack, shape, item, options);
        int n = shape.Tokens;
        CheckDestination(destination, shape.MatrixLength, "tokens² (the rollout matrix)");
        int start = options.StartLayer, end = options.ResolveEndLayer(shape.Layers);

        fixed (float* stackPtr = stack)
        {
            _main.Prepare(shape);
            float* result = options.DiscardRatio > 0f
                ? _main.Chain(stackPtr, shape, item, options, start, end)
                : _matrix.Run(stackPtr, shape, item, options, start, end);

            int ld = _main.Stride;
            for (int i = 0; i < n; i++)
            {
                new ReadOnlySpan<float>(result + ((long)i * ld), n).CopyTo(destination.Slice(i * n, n));
            }
        }
    }

    /// <summary>
    /// One row of the rollout, r = e_q · Ã_end · Ã_end−1 ⋯ Ã_start for q = <see cref="RolloutOptions.QueryToken"/>,
    /// computed as vector × matrix products (what an overlay needs; ~tokens× less work than the matrix). Without
    /// discard the fused matrices are never written: each row of each layer is fused across heads in L1 and added
    /// into the next vector at once (r·Ã = Σ_k r_k·Ã[k, :]; for mean fusion this is mean_h(r·A_h) with the row
    /// normalisation folded in), so every attention value is read exactly once.
    /// </summary>
    /// <param name="stack">The attention stack, <c>[layer, batch, head, tokens, tokens]</c>.</param>
    /// <param name="shape">Its shape.</param>
    /// <param name="item">The batch item.</param>
    /// <param name="options">Fusion, α, discard, layer range and query token.</param>
    /// <param name="destination">tokens floats: the query token's row over all tokens, prefix tokens included.</param>
    /// <exception cref="ArgumentException">A length, index or option is out of range, or the attention holds NaN,
    /// infinity, negative values or rows that do not sum to 1.</exception>
    public void RolloutRow(ReadOnlySpan<float> stack, AttentionShape shape, int item, RolloutOptions options, Span<float> destination)
    {
        CheckCall(stack, shape, item, options);
        CheckDestination(destination, shape.Tokens, "tokens (one rollout row)");
        _main.Prepare(shape);
        fixed (float* stackPtr = stack)
        {
            float* row = _main.Row(stackPtr, shape, item, options);
            new ReadOnlySpan<float>(row, shape.Tokens).CopyTo(destination);
        }
    }

    /// <summary>
    /// One layer's attention of a query token to every token, without rollout: the mean over heads, or one head's
    /// row. Scalar equivalent <c>dst[j] = mean_h A[layer, item, h, query, j]</c>.
    /// </summary>
    /// <param name="stack">The attention stack, <c>[layer, batch, head, tokens, tokens]</c>.</param>
    /// <param name="shape">Its shape.</param>
    /// <param name="layerIndex">Zero-based index of the layer in the stack: layer number − 1.</param>
    /// <param name="item">The batch item.</param>
    /// <param name="query">The query token (0 = CLS).</param>
    /// <param name="head">One head, or null for the mean over heads.</param>
    /// <param name="destination">tokens floats.</param>
    /// <param name="inputsAreSoftmax">Skip the row-sum check (NaN, infinity and negatives are still rejected).</param>
    /// <exception cref="ArgumentException">A length or index is out of range, or the rows read hold NaN,
    /// infinity, negative values or do not sum to 1.</exception>
    public void LayerRow(
        ReadOnlySpan<float> stack, AttentionShape shape, int layerIndex, int item, int query, int? head, Span<float> destination,
        bool inputsAreSoftmax = false)
    {
        CheckStack(stack, shape, item);
        CheckIndex(layerIndex, shape.Layers, nameof(layerIndex), "layers");
        int layer = layerIndex;
        CheckIndex(query, shape.Tokens, nameof(query), "tokens");
        if (head is int h)
        {
            CheckIndex(h, shape.Heads, nameof(head), "heads");
        }

        CheckDestination(destination, shape.Tokens, "tokens (one attention row)");
        _main.Prepare(shape);
        int n = shape.Tokens;
        int heads = head is null ? shape.Heads : 1;
        long offset = shape.OffsetOf(layer, item, head ?? 0) + ((long)query * n);
        fixed (float* stackPtr = stack)
        fixed (float* dst = destination)
        {
            float* source = stackPtr + offset;
            _main.CheckRow(source, shape.MatrixLength, heads, n, layer, item, head ?? 0, query, !inputsAreSoftmax);
            FuseHeads.Fuse(HeadFusion.Mean, _width, source, shape.MatrixLength, heads, n, 1f / heads, dst, accumulate: false);
        }
    }

    /// <summary>
    /// The rollout row of <see cref="RolloutOptions.QueryToken"/> over the patch grid (prefix tokens dropped,
    /// row-major): the classic rollout overlay. Allocates the returned map.
    /// </summary>
    /// <param name="stack">The attention stack.</param>
    /// <param name="item">The batch item.</param>
    /// <param name="gridHeight">Patch rows (14 for ViT-B/16 at 224 px).</param>
    /// <param name="gridWidth">Patch columns.</param>
    /// <param name="options">Rollout settings; null for <see cref="RolloutOptions.Default"/>.</param>
    /// <exception cref="ArgumentException">The grid does not match tokens − prefix tokens, or see <see cref="RolloutRow"/>.</exception>
    public AttentionMap RolloutMap(AttentionStack stack, int item, int gridHeight, int gridWidth, RolloutOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        options ??= RolloutOptions.Default;
        AttentionShape shape = stack.Shape;
        CheckGrid(shape, gridHeight, gridWidth, options.PrefixTokens);
        Span<float> row = shape.Tokens <= 1024 ? stackalloc float[shape.Tokens] : new float[shape.Tokens];
        RolloutRow(stack.Data, shape, item, options, row);
        return new AttentionMap(gridHeight, gridWidth, row[options.PrefixTokens..]);
    }

    /// <summary>
    /// One layer's attention of <paramref name="query"/> (default CLS) to the patches, head-mean or one head, over
    /// the patch grid (prefix tokens dropped, row-major). Allocates the returned map.
    /// </summary>
    /// <param name="stack">The attention stack.</param>
    /// <param name="layerIndex">Zero-based index of the layer in the stack: layer number − 1.</param>
    /// <param name="item">The batch item.</param>
    /// <param name="gridHeight">Patch rows.</param>
    /// <param name="gridWidth">Patch columns.</param>
    /// <param name="query">The query token; default 0 (CLS).</param>
    /// <param name="head">One head, or null (default) for the mean over heads.</param>
    /// <param name="prefixTokens">Leading non-patch tokens to drop; default 1.</param>
    /// <exception cref="ArgumentException">The grid does not match tokens − prefix tokens, or see <see cref="LayerRow"/>.</exception>
    public AttentionMap LayerMap(
        AttentionStack stack, int layerIndex, int item, int gridHeight, int gridWidth, int query = 0, int? head = null, int prefixTokens = 1)
    {
        ArgumentNullException.ThrowIfNull(stack);
        AttentionShape shape = stack.Shape;
        CheckGrid(shape, gridHeight, gridWidth, prefixTokens);
        Span<float> row = shape.Tokens <= 1024 ? stackalloc float[shape.Tokens] : new float[shape.Tokens];
        LayerRow(stack.Data, shape, layerIndex, item, query, head, row);
        return new AttentionMap(gridHeight, gridWidth, row[prefixTokens..]);
    }

    private static void CheckGrid(AttentionShape shape, int gridHeight, int gridWidth, int prefixTokens)
    {
        if (prefixTokens < 0 || gridHeight <= 0 || gridWidth <= 0 || (long)gridHeight * gridWidth + prefixTokens != shape.Tokens)
        {
            throw new ArgumentException(
                $"A {gridHeight}×{gridWidth} patch grid plus {prefixTokens} prefix token(s) does not match {shape.Tokens} tokens: " +
                "pass the model's grid (image size / patch size per side) and its prefix-token count.",
                nameof(gridHeight));
        }
    }

    private static void CheckCall(ReadOnlySpan<float> stack, AttentionShape shape, int item, RolloutOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckStack(stack, shape, item);
        options.Validate(shape);
    }

    private static void CheckStack(ReadOnlySpan<float> stack, AttentionShape shape, int item)
    {
        shape.Validate();
        if (stack.Length != shape.TotalLength)
        {
            throw new ArgumentException(
                $"The attention stack has {stack.Length} floats but shape {shape} needs {shape.TotalLength} " +
                "([layer, batch, head, tokens, tokens]).", nameof(stack));
        }

        CheckIndex(item, shape.Batch, nameof(item), "batch items");
    }

    private static void CheckIndex(int value, int count, string name, string what)
    {
        if (value < 0 || value >= count)
        {
            throw new ArgumentException($"{name} must be in [0, {count - 1}] ({count} {what}), got {value}.", name);
        }
    }

    private static void CheckDestination(Span<float> destination, long length, string what)
    {
        if (destination.Length != length)
        {
            throw new ArgumentException($"destination must hold {length} floats = {what}, got {destination.Length}.", nameof(destination));
        }
    }
}
