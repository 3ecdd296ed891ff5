namespace VitAttention.Rollout;

/// <summary>How one layer's heads are combined into a single [tokens, tokens] matrix before rollout.</summary>
public enum HeadFusion
{
    /// <summary>The mean over heads (Abnar &amp; Zuidema's choice; the default).</summary>
    Mean,

    /// <summary>The element-wise maximum over heads.</summary>
    Max,

    /// <summary>The element-wise minimum over heads.</summary>
    Min,
}
