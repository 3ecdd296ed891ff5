using VitAttention.Inference;
using VitAttention.Models;
using VitAttention.Rollout;

namespace VitAttention;

/// <summary>
/// Which attention rows a map reads. Models with a class token: that token's row (or the query the options name).
/// Models without one (timm <c>global_pool='avg'</c>, <c>*_gap_*</c>) have no row the pooled output reads alone: the
/// head reads the mean of the patch tokens, so the maps and the rollout are the mean over every patch query's row.
/// Register tokens are prefix tokens: maps never show them; <see cref="RegisterShare"/> reports how much of the read
/// rows' attention they took.
/// </summary>
internal sealed class QueryReadout
{
    private QueryReadout(VitConfig config, int queryToken, bool patchMean)
    {
        Config = config;
        QueryToken = queryToken;
        IsPatchQueryMean = patchMean;
    }

    /// <summary>The label figures and JSON use for the mean over patch queries.</summary>
    public const string PatchQueryMeanLabel = "mean of patch queries";

    public VitConfig Config { get; }

    /// <summary>The one query row read when <see cref="IsPatchQueryMean"/> is false.</summary>
    public int QueryToken { get; }

    /// <summary>True when the maps average every patch query's row (no class token, default query).</summary>
    public bool IsPatchQueryMean { get; }

    /// <summary>What the maps show, for JSON and titles: "class token", "mean of patch queries" or "token q".</summary>
    public string Label => IsPatchQueryMean ? PatchQueryMeanLabel
        : QueryToken == 0 && Config.HasClassToken ? "class token"
        : $"token {QueryToken}";

    /// <summary>The readout for a model and the options' query token.</summary>
    public static QueryReadout For(VitConfig config, int queryToken) =>
        new(config, queryToken, patchMean: !config.HasClassToken && queryToken == 0 && config.Patches > 0);

    /// <summary>One layer's map: head-mean (or one head's) attention of the read rows to the patches.</summary>
    public AttentionMap LayerMap(RolloutEngine engine, AttentionStack stack, int layer, int item, int? head)
    {
        if (!IsPatchQueryMean)
        {
            return engine.LayerMap(stack, layer, item, Config.GridHeight, Config.GridWidth, QueryToken, head, Config.PrefixTokens);
        }

        double[] mean = MeanRow(stack, layer, item, head);
        return new AttentionMap(Config.GridHeight, Config.GridWidth, Array.ConvertAll(mean[Config.PrefixTokens..], v => (float)v));
    }

    /// <summary>
    /// The rollout row over every token: the query's row, or for the patch-query mean the mean of the patch rows of the
    /// full rollout matrix (the rollout of the pooled output, which averages the patches).
    /// </summary>
    public float[] RolloutRow(RolloutEngine engine, AttentionStack stack, int item, RolloutOptions options)
    {
        int t = Config.Tokens;
        var row = new float[t];
        if (!IsPatchQueryMean)
        {
            engine.RolloutRow(stack.Data, stack.Shape, item, options, row);
            return row;
        }

        var matrix = new float[(long)t * t]; // [query, key]
        engine.RolloutMatrix(stack.Data, stack.Shape, item, options, matrix);
        var sum = new double[t];
        for (int q = Config.PrefixTokens; q < t; q++)
        {
            for (int k = 0; k < t; k++)
            {
                sum[k] += matrix[((long)q * t) + k];
            }
        }

        int patches = t - Config.PrefixTokens;
        for (int k = 0; k < t; k++)
        {
            row[k] = (float)(sum[k] / patches);
        }

        return row;
    }

    /// <summary>
    /// The share of the read rows' head-mean attention that went to register tokens in one layer (the registers
    /// paper's measure), or null when the model has none.
    /// </summary>
    public double? RegisterShare(AttentionStack stack, int layer, int item)
    {
        if (Config.RegisterTokens == 0)
        {
            return null;
        }

        double[] mean = MeanRow(stack, layer, item, head: null);
        int first = Config.PrefixTokens - Config.RegisterTokens; // registers are the last prefix tokens
        double share = 0;
        for (int k = first; k < Config.PrefixTokens; k++)
        {
            share += mean[k];
        }

        return share;
    }

    /// <summary>The read rows' attention to every token: mean over heads (or one head), then over the read rows.</summary>
    private double[] MeanRow(AttentionStack stack, int layer, int item, int? head)
    {
        var shape = stack.Shape;
        int t = shape.Tokens;
        int firstQuery = IsPatchQueryMean ? Config.PrefixTokens : QueryToken;
        int lastQuery = IsPatchQueryMean ? t - 1 : QueryToken;
        int h0 = head ?? 0, h1 = head ?? (shape.Heads - 1);
        var mean = new double[t];
        ReadOnlySpan<float> data = stack.Data;
        double weight = 1.0 / ((h1 - h0 + 1) * (lastQuery - firstQuery + 1));
        for (int h = h0; h <= h1; h++)
        {
            long offset = shape.OffsetOf(layer, item, h);
            for (int q = firstQuery; q <= lastQuery; q++)
            {
                ReadOnlySpan<float> row = data.Slice((int)(offset + ((long)q * t)), t);
                for (int k = 0; k < t; k++)
                {
                    mean[k] += row[k] * weight;
                }
            }
        }

        return mean;
    }
}
