namespace VitAttention.Models;

/// <summary>
/// The constant tables a graph needs, computed once when it is built: the prefix tokens with their position rows
/// folded in, the patch position embedding resized to the input grid, and BEiT's relative position bias (table and
/// index) for that grid.
/// </summary>
internal static class EmbeddingTables
{
    /// <summary>
    /// The prefix tokens in sequence order (class, distillation, registers), each plus its position row where the
    /// position embedding covers it (timm's default and transformers add the position after the prefix is prepended;
    /// timm's <c>no_embed_class</c> and transformers' DINOv2 registers get none). <c>[prefix, hidden]</c>
    /// </summary>
    public static float[] Prefix(VitConfig config, VitWeights weights)
    {
        int d = config.HiddenSize;
        var prefix = new float[config.PrefixTokens * d];
        int row = 0;
        void Put(float[]? tokens)
        {
            if (tokens is null)
            {
                return;
            }

            tokens.CopyTo(prefix, row * d);
            row += tokens.Length / d;
        }

        Put(weights.ClassToken);
        Put(weights.DistillationToken);
        Put(weights.RegisterTokens);

        if (weights.PositionEmbedding is { } pos)
        {
            // Rows 0..k−1 of the table belong to the first k prefix tokens (class and distillation; registers too
            // unless they are inserted after the position embedding).
            for (int t = 0; t < config.PositionEmbeddingPrefixRows; t++)
            {
                for (int i = 0; i < d; i++)
                {
                    prefix[(t * d) + i] += pos[(t * d) + i];
                }
            }
        }

        return prefix;
    }

    /// <summary>
    /// The position embedding of the patches on the input grid, <c>[gridH · gridW, hidden]</c>; the trained grid's rows
    /// resized as the family's reference code does when the grids differ; null when the model has no position embedding.
    /// </summary>
    public static float[]? PatchPositions(VitConfig config, VitWeights weights)
    {
        if (weights.PositionEmbedding is not { } pos)
        {
            return null;
        }

        int d = config.HiddenSize;
        var trained = pos.AsSpan(config.PositionEmbeddingPrefixRows * d, config.TrainedGridHeight * config.TrainedGridWidth * d);
        if (config.TrainedGridHeight == config.GridHeight && config.TrainedGridWidth == config.GridWidth)
        {
            return trained.ToArray();
        }

        return GridResampler.Resize(trained, d, config.TrainedGridHeight, config.TrainedGridWidth, config.GridHeight, config.GridWidth,
            config.PositionInterpolation);
    }

    /// <summary>
    /// A relative position table for the input grid: the trained <c>(2h−1)(2w−1)</c> rows resized bilinearly when the
    /// grids differ (transformers' <c>BeitRelativePositionBias</c>, which reshapes them as <c>[2w−1, 2h−1]</c>), the
    /// three class rows kept. <c>[(2·gridH−1)(2·gridW−1) + 3, heads]</c>
    /// </summary>
    public static float[] RelativeTable(VitConfig config, float[] table)
    {
        int heads = config.NumHeads;
        if (config.TrainedGridHeight == config.GridHeight && config.TrainedGridWidth == config.GridWidth)
        {
            return table;
        }

        int oldH = (2 * config.TrainedGridHeight) - 1, oldW = (2 * config.TrainedGridWidth) - 1;
        int newH = (2 * config.GridHeight) - 1, newW = (2 * config.GridWidth) - 1;
        float[] grid = GridResampler.Resize(table.AsSpan(0, oldH * oldW * heads), heads, oldW, oldH, newH, newW, GridInterpolation.Bilinear);
        var result = new float[((newH * newW) + 3) * heads];
        grid.CopyTo(result, 0);
        table.AsSpan(oldH * oldW * heads, 3 * heads).CopyTo(result.AsSpan(newH * newW * heads));
        return result;
    }

    /// <summary>
    /// The relative position index of the input grid, <c>[tokens · tokens]</c>: for patches i, j at (r, c) the row
    /// <c>(r_i − r_j + gh − 1)·(2·gw − 1) + (c_i − c_j + gw − 1)</c>; the class token's row, column and itself use the
    /// table's last three rows (patch ← class row, class ← patch column, class ← class).
    /// </summary>
    public static long[] RelativeIndex(int gridHeight, int gridWidth)
    {
        int patches = gridHeight * gridWidth, tokens = patches + 1;
        long rows = (((2L * gridHeight) - 1) * ((2L * gridWidth) - 1)) + 3;
        var index = new long[tokens * tokens];
        for (int i = 0; i < patches; i++)
        {
            int ri = i / gridWidth, ci = i % gridWidth;
            for (int j = 0; j < patches; j++)
            {
                int rj = j / gridWidth, cj = j % gridWidth;
                index[((i + 1) * tokens) + j + 1] = ((ri - rj + gridHeight - 1L) * ((2L * gridWidth) - 1)) + (ci - cj + gridWidth - 1L);
            }
        }

        for (int j = 0; j < tokens; j++)
        {
            index[j] = rows - 3;           // the class token's row: class → every token
        }

        for (int i = 0; i < tokens; i++)
        {
            index[i * tokens] = rows - 2;  // every token → the class token
        }

        index[0] = rows - 1;               // class → class
        return index;
    }
}
