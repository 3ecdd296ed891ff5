namespace VitAttention.Rollout.Kernels;

/// <summary>How two heads' attentions combine, lane by lane: a scalar and a vector form of the same operation.</summary>
internal interface IFusionOperator
{
    /// <summary>The scalar operation.</summary>
    static abstract float Invoke(float x, float y);

    /// <summary>The same operation on every lane.</summary>
    static abstract TVec Invoke<TSimd, TVec>(TVec x, TVec y)
        where TSimd : ISimd<TVec>
        where TVec : struct;
}
