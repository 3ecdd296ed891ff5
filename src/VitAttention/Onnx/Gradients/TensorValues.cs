using System.Buffers.Binary;
using Google.Protobuf;
using Onnx;

namespace VitAttention.Onnx.Gradients;

/// <summary>Reads and writes the small constant tensors a gradient graph needs (axes, indices, exponents, scalars).</summary>
internal static class TensorValues
{
    public const int Float = (int)TensorProto.Types.DataType.Float;
    public const int Double = (int)TensorProto.Types.DataType.Double;
    public const int Int64 = (int)TensorProto.Types.DataType.Int64;
    public const int Int32 = (int)TensorProto.Types.DataType.Int32;
    public const int Bool = (int)TensorProto.Types.DataType.Bool;

    /// <summary>Whether the element type is one the gradient graph computes in (float32 or float64).</summary>
    public static bool IsGradientType(int elemType) => elemType is Float or Double;

    /// <summary>Whether the element type is a floating-point type of any width.</summary>
    public static bool IsFloating(int elemType) => elemType is Float or Double
        or (int)TensorProto.Types.DataType.Float16 or (int)TensorProto.Types.DataType.Bfloat16;

    /// <summary>The tensor's values as integers (int64, int32 and their typed or raw encodings); null for other types.</summary>
    public static long[]? Integers(TensorProto t)
    {
        int count = Count(t);
        if (t.DataType == Int64)
        {
            if (t.Int64Data.Count > 0)
            {
                return [.. t.Int64Data];
            }

            return RawCount(t, 8) == count ? Read(t.RawData, count, 8, static (s) => BinaryPrimitives.ReadInt64LittleEndian(s)) : null;
        }

        if (t.DataType == Int32)
        {
            if (t.Int32Data.Count > 0)
            {
                return [.. t.Int32Data.Select(v => (long)v)];
            }

            return RawCount(t, 4) == count ? Read(t.RawData, count, 4, static (s) => (long)BinaryPrimitives.ReadInt32LittleEndian(s)) : null;
        }

        return null;
    }

    /// <summary>The tensor's values as doubles (float32 or float64, typed or raw); null for other types.</summary>
    public static double[]? Reals(TensorProto t)
    {
        int count = Count(t);
        if (t.DataType == Float)
        {
            if (t.FloatData.Count > 0)
            {
                return [.. t.FloatData.Select(v => (double)v)];
            }

            return RawCount(t, 4) == count ? Read(t.RawData, count, 4, static (s) => (double)BinaryPrimitives.ReadSingleLittleEndian(s)) : null;
        }

        if (t.DataType == Double)
        {
            if (t.DoubleData.Count > 0)
            {
                return [.. t.DoubleData];
            }

            return RawCount(t, 8) == count ? Read(t.RawData, count, 8, static (s) => BinaryPrimitives.ReadDoubleLittleEndian(s)) : null;
        }

        return null;
    }

    /// <summary>Element count from the dims (1 for a scalar).</summary>
    public static int Count(TensorProto t)
    {
        long n = 1;
        foreach (long d in t.Dims)
        {
            n *= d;
        }

        return (int)Math.Min(n, int.MaxValue);
    }

    /// <summary>An int64 tensor of the given values; <paramref name="scalar"/> makes it rank 0 (one value).</summary>
    public static TensorProto Int64Tensor(long[] values, bool scalar = false)
    {
        var bytes = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), values[i]);
        }

        var t = new TensorProto { DataType = Int64, RawData = ByteString.CopyFrom(bytes) };
        if (!scalar)
        {
            t.Dims.Add(values.Length);
        }

        return t;
    }

    /// <summary>A float32 or float64 tensor of the given values with the given dims (none: a scalar).</summary>
    public static TensorProto RealTensor(int elemType, double[] values, params long[] dims)
    {
        int size = elemType == Double ? 8 : 4;
        var bytes = new byte[values.Length * size];
        for (int i = 0; i < values.Length; i++)
        {
            if (elemType == Double)
            {
                BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(i * 8), values[i]);
            }
            else
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), (float)values[i]);
            }
        }

        var t = new TensorProto { DataType = elemType, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    /// <summary>The tensor a Constant node holds, from whichever of its value attributes is set; null when none is.</summary>
    public static TensorProto? FromConstantNode(NodeProto node)
    {
        foreach (AttributeProto a in node.Attribute)
        {
            switch (a.Name)
            {
                case "value":
                    return a.T;
                case "value_float":
                    return RealTensor(Float, [a.F]);
                case "value_floats":
                    return RealTensor(Float, [.. a.Floats.Select(f => (double)f)], a.Floats.Count);
                case "value_int":
                    return Int64Tensor([a.I], scalar: true);
                case "value_ints":
                    return Int64Tensor([.. a.Ints]);
                default:
                    break;
            }
        }

        return null;
    }

    private static long RawCount(TensorProto t, int size) => t.RawData.Length / size;

    private delegate T Reader<T>(ReadOnlySpan<byte> bytes);

    private static T[] Read<T>(ByteString raw, int count, int size, Reader<T> read)
    {
        ReadOnlySpan<byte> span = raw.Span;
        var values = new T[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = read(span.Slice(i * size, size));
        }

        return values;
    }
}
