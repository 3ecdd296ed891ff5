using System.Runtime.CompilerServices;

namespace VitAttention.Rollout.Kernels;

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
