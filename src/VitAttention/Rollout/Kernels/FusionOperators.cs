using System.Runtime.CompilerServices;

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

/// <summary>x + y: mean fusion sums the heads and scales by 1/heads once, in the normalisation.</summary>
internal readonly struct AddOperator : IFusionOperator
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Invoke(float x, float y) => x + y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Invoke<TSimd, TVec>(TVec x, TVec y)
        where TSimd : ISimd<TVec>
        where TVec : struct => TSimd.Add(x, y);
}

/// <summary>max(x, y): max fusion.</summary>
internal readonly struct MaxOperator : IFusionOperator
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Invoke(float x, float y) => x > y ? x : y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Invoke<TSimd, TVec>(TVec x, TVec y)
        where TSimd : ISimd<TVec>
        where TVec : struct => TSimd.Max(x, y);
}

/// <summary>min(x, y): min fusion.</summary>
internal readonly struct MinOperator : IFusionOperator
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Invoke(float x, float y) => x < y ? x : y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Invoke<TSimd, TVec>(TVec x, TVec y)
        where TSimd : ISimd<TVec>
        where TVec : struct => TSimd.Min(x, y);
}
