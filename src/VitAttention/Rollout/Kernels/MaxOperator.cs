using System.Runtime.CompilerServices;

namespace VitAttention.Rollout.Kernels;

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
