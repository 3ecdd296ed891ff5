using System.Runtime.Intrinsics;

namespace VitAttention.Rollout.Kernels;

/// <summary>
/// The vector operations the rollout kernels need, over one vector type. Kernels are written once, generic over an
/// implementation of this interface; the JIT specialises them per struct, so there is no call overhead.
/// (<c>ISimdVector</c> is not public in .NET 10, hence this small local version.)
/// </summary>
/// <typeparam name="TVec">A vector of floats (<see cref="Vector128{T}"/>, <see cref="Vector256{T}"/> or <see cref="Vector512{T}"/>).</typeparam>
internal unsafe interface ISimd<TVec>
    where TVec : struct
{
    /// <summary>Lanes per vector.</summary>
    static abstract int Count { get; }

    /// <summary>All lanes zero.</summary>
    static abstract TVec Zero { get; }

    /// <summary>Loads <see cref="Count"/> floats (no alignment needed).</summary>
    static abstract TVec Load(float* source);

    /// <summary>Stores <see cref="Count"/> floats (no alignment needed).</summary>
    static abstract void Store(TVec value, float* destination);

    /// <summary>Every lane <paramref name="value"/>.</summary>
    static abstract TVec Broadcast(float value);

    /// <summary>a + b per lane.</summary>
    static abstract TVec Add(TVec a, TVec b);

    /// <summary>a · b per lane.</summary>
    static abstract TVec Multiply(TVec a, TVec b);

    /// <summary>a · b + c per lane, fused where the hardware has FMA.</summary>
    static abstract TVec MultiplyAdd(TVec a, TVec b, TVec c);

    /// <summary>Larger lane (the hardware's rule for NaN; inputs are validated first).</summary>
    static abstract TVec Max(TVec a, TVec b);

    /// <summary>Smaller lane (the hardware's rule for NaN; inputs are validated first).</summary>
    static abstract TVec Min(TVec a, TVec b);

    /// <summary>Sum of the lanes.</summary>
    static abstract float Sum(TVec value);

    /// <summary>Bitwise a &amp; b (a mask from <see cref="KeepLast"/> zeroes lanes).</summary>
    static abstract TVec And(TVec a, TVec b);

    /// <summary>Bitwise a | b (gathers sign bits).</summary>
    static abstract TVec Or(TVec a, TVec b);

    /// <summary>A mask whose last <paramref name="lanes"/> lanes are all ones and the others zero (0 ≤ lanes ≤ Count).</summary>
    static abstract TVec KeepLast(int lanes);

    /// <summary>Whether any lane has its sign bit set (negative numbers, −0 and some NaNs).</summary>
    static abstract bool AnySignBit(TVec value);
}
