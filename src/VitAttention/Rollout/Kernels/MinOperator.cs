using System.Runtime.CompilerServices;

namespace VitAttention.Rollout.Kernels;

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
