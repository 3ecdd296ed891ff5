using System.Runtime.CompilerServices;

namespace VitAttention.Rollout.Kernels;

/// <summary>
/// A zero-initialised float buffer on the pinned object heap whose first element is 64-byte aligned, so that
/// 512-bit loads of padded rows never straddle a cache line. Pinned arrays never move, so the pointer stays valid
/// for the buffer's lifetime.
/// </summary>
internal sealed unsafe class AlignedBuffer
{
    private const int AlignmentFloats = 16;
    private readonly float[] _array;
    private readonly int _offset;

    /// <summary>Allocates <paramref name="length"/> zeroed floats.</summary>
    public AlignedBuffer(int length)
    {
        _array = GC.AllocateArray<float>(length + AlignmentFloats, pinned: true);
        long address = (long)Unsafe.AsPointer(ref _array[0]);
        _offset = (int)(((64 - (address % 64)) % 64) / sizeof(float));
        Length = length;
    }

    /// <summary>Floats available.</summary>
    public int Length { get; }

    /// <summary>The first float (64-byte aligned).</summary>
    public float* Pointer => (float*)Unsafe.AsPointer(ref _array[_offset]);

    /// <summary>The buffer as a span.</summary>
    public Span<float> Span => _array.AsSpan(_offset, Length);
}
