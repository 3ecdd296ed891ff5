using System.Runtime.Intrinsics;

namespace VitAttention.Rollout.Kernels;

/// <summary>
/// Lists every kernel width, accelerated or not, so that tests can force each in turn, and picks the widest
/// accelerated one for normal use (Vector512 → Vector256 → Vector128 → scalar).
/// </summary>
internal static class RolloutKernelFactory
{
    /// <summary>Every implementation, widest first, including ones this machine only emulates.</summary>
    public static IReadOnlyList<RolloutKernelInfo> All { get; } =
    [
        new(SimdWidth.Vector512, Vector512.IsHardwareAccelerated),
        new(SimdWidth.Vector256, Vector256.IsHardwareAccelerated),
        new(SimdWidth.Vector128, Vector128.IsHardwareAccelerated),
        new(SimdWidth.Scalar, true),
    ];

    /// <summary>The widest width this machine accelerates.</summary>
    public static SimdWidth Best { get; } = All.First(k => k.IsAccelerated).Width;
}
