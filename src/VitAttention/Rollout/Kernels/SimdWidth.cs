using System.Runtime.Intrinsics;

namespace VitAttention.Rollout.Kernels;

/// <summary>The vector width a kernel runs at. Every kernel has a path for each.</summary>
internal enum SimdWidth
{
    /// <summary>Plain float loops: the reference path, and what runs where no vector width is accelerated.</summary>
    Scalar = 0,

    /// <summary><see cref="Vector128{T}"/>: 4 floats (SSE, NEON).</summary>
    Vector128 = 128,

    /// <summary><see cref="Vector256{T}"/>: 8 floats (AVX2).</summary>
    Vector256 = 256,

    /// <summary><see cref="Vector512{T}"/>: 16 floats (AVX-512).</summary>
    Vector512 = 512,
}

/// <summary>One kernel implementation the factory can hand out.</summary>
/// <param name="Width">The vector width it runs at.</param>
/// <param name="IsAccelerated">Whether this machine runs that width in hardware (an unaccelerated width still works, slowly).</param>
internal readonly record struct RolloutKernelInfo(SimdWidth Width, bool IsAccelerated)
{
    /// <inheritdoc/>
    public override string ToString() => IsAccelerated ? Width.ToString() : $"{Width} (software)";
}

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
