namespace VitAttention.Models;

/// <summary>Element types a safetensors file may declare; the reader converts the floating ones to float32 and reads I64 as integers.</summary>
internal enum SafeTensorDType
{
    /// <summary>IEEE 754 single precision.</summary>
    F32,

    /// <summary>IEEE 754 half precision.</summary>
    F16,

    /// <summary>bfloat16 (the upper half of a float32).</summary>
    BF16,

    /// <summary>IEEE 754 double precision.</summary>
    F64,

    /// <summary>
    /// 64-bit signed integer: index buffers some checkpoints keep (CLIP <c>position_ids</c>, BEiT
    /// <c>relative_position_index</c>). Read with <see cref="SafeTensorsFile.ReadInt64"/>, never as floats.
    /// </summary>
    I64,
}
