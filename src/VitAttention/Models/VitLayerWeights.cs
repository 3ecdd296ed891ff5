namespace VitAttention.Models;

/// <summary>
/// One transformer block's weights in the canonical layout. Linear weights are PyTorch-style <c>[out, in]</c>.
/// </summary>
internal sealed class VitLayerWeights
{
    /// <summary>LayerNorm before attention, scale. <c>[hidden]</c></summary>
    public required float[] Norm1Weight { get; init; }

    /// <summary>LayerNorm before attention, shift. <c>[hidden]</c></summary>
    public required float[] Norm1Bias { get; init; }

    /// <summary>Fused query, key and value projection: rows 0..h−1 query, h..2h−1 key, 2h..3h−1 value. <c>[3·hidden, hidden]</c></summary>
    public required float[] QkvWeight { get; init; }

    /// <summary>Bias of the fused projection (q, k, v), or null when the model has no qkv bias. <c>[3·hidden]</c></summary>
    public float[]? QkvBias { get; init; }

    /// <summary>Attention output projection. <c>[hidden, hidden]</c></summary>
    public required float[] ProjWeight { get; init; }

    /// <summary>Attention output projection bias. <c>[hidden]</c></summary>
    public required float[] ProjBias { get; init; }

    /// <summary>LayerNorm before the MLP, scale. <c>[hidden]</c></summary>
    public required float[] Norm2Weight { get; init; }

    /// <summary>LayerNorm before the MLP, shift. <c>[hidden]</c></summary>
    public required float[] Norm2Bias { get; init; }

    /// <summary>First MLP layer. <c>[intermediate, hidden]</c></summary>
    public required float[] Fc1Weight { get; init; }

    /// <summary>First MLP layer bias. <c>[intermediate]</c></summary>
    public required float[] Fc1Bias { get; init; }

    /// <summary>Second MLP layer. <c>[hidden, intermediate]</c></summary>
    public required float[] Fc2Weight { get; init; }

    /// <summary>Second MLP layer bias. <c>[hidden]</c></summary>
    public required float[] Fc2Bias { get; init; }

    /// <summary>LayerScale of the attention branch, or null (<see cref="VitConfig.LayerScale"/> false). <c>[hidden]</c></summary>
    public float[]? LayerScale1 { get; init; }

    /// <summary>LayerScale of the MLP branch, or null. <c>[hidden]</c></summary>
    public float[]? LayerScale2 { get; init; }

    /// <summary>
    /// This block's relative position table, or null (<see cref="VitConfig.RelativePositionBias"/> is not
    /// <see cref="RelativePositionBiasKind.PerLayer"/>). <c>[<see cref="VitConfig.RelativePositionTableRows"/>, heads]</c>
    /// </summary>
    public float[]? RelativePositionBiasTable { get; init; }
}
