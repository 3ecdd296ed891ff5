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
