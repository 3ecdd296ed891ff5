using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace VitAttention.Models;

/// <summary>Writes float32 tensors in the safetensors format (used for prepared weights, tests and benchmarks).</summary>
internal static class SafeTensorsWriter
{
    /// <summary>Encodes tensors (name, shape, data) as safetensors bytes, in the given order.</summary>
    /// <exception cref="ArgumentException">A shape does not match its data length, or a name repeats.</exception>
    public static byte[] ToBytes(IEnumerable<(string Name, long[] Shape, float[] Data)> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        var header = new StringBuilder("{");
        long offset = 0;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, shape, data) in list)
        {
            if (!names.Add(name))
            {
                throw new ArgumentException($"tensor name '{name}' repeats.", nameof(tensors));
            }

            if (shape.Aggregate(1L, (a, b) => a * b) != data.LongLength)
            {
                throw new ArgumentException($"tensor '{name}' shape [{string.Join(", ", shape)}] does not hold {data.Length} values.", nameof(tensors));
            }

            if (header.Length > 1)
            {
                header.Append(',');
            }

            long end = offset + (data.LongLength * 4);
            header.Append(JsonSerializer.Serialize(name)).Append(":{\"dtype\":\"F32\",\"shape\":[")
                .Append(string.Join(",", shape)).Append("],\"data_offsets\":[").Append(offset).Append(',').Append(end).Append("]}");
            offset = end;
        }

        header.Append('}');
        while ((header.Length + 8) % 8 != 0)
        {
            header.Append(' ');
        }

        byte[] headerBytes = Encoding.UTF8.GetBytes(header.ToString());
        var result = new byte[8 + headerBytes.Length + offset];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)headerBytes.Length);
        headerBytes.CopyTo(result, 8);
        long at = 8 + headerBytes.Length;
        foreach (var (_, _, data) in list)
        {
            MemoryMarshal.AsBytes(data.AsSpan()).CopyTo(result.AsSpan((int)at));
            at += data.LongLength * 4;
        }

        return result;
    }
}
