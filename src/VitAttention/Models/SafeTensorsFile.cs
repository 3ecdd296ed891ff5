using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace VitAttention.Models;

/// <summary>
/// A validated safetensors file: an 8-byte little-endian header length N, N bytes of JSON describing each tensor
/// (<c>dtype</c>, <c>shape</c>, <c>data_offsets</c> relative to the data start, optional <c>__metadata__</c>), then the
/// data. Opening checks the whole header before any tensor is read: header length within the file and at most
/// 100 MB, offsets in range, tensors tiling the data section with no overlap and no hole, shape × dtype size equal
/// to the byte length, no duplicate names. Reads are thread-safe.
/// </summary>
internal sealed class SafeTensorsFile : IDisposable
{
    /// <summary>Largest header accepted (the format's own limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly SafeFileHandle? _handle;
    private readonly byte[]? _bytes;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorInfo> _tensors;

    private SafeTensorsFile(string source, SafeFileHandle? handle, byte[]? bytes, long length)
    {
        Source = source;
        _handle = handle;
        _bytes = bytes;
        if (length < 8)
        {
            throw Bad($"the file is {length} bytes, shorter than the 8-byte header length; it is truncated or not a safetensors file");
        }

        Span<byte> lengthBytes = stackalloc byte[8];
        ReadAt(0, lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes)
        {
            throw Bad($"the header claims {headerLength} bytes, above the {MaxHeaderBytes}-byte limit; the file is corrupt or not a safetensors file");
        }

        if ((long)headerLength > length - 8)
        {
            throw Bad($"the header claims {headerLength} bytes but the file has only {length - 8} after the length field; the file is truncated");
        }

        _dataStart = 8 + (long)headerLength;
        byte[] header = new byte[(int)headerLength];
        ReadAt(8, header);
        try
        {
            (_tensors, Metadata) = ParseHeader(header, length - _dataStart);
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json: a value of the wrong JSON type (offsets that are strings) or text that is not UTF-8.
            throw Bad($"the header holds a value of the wrong JSON type or text that is not valid UTF-8 ({e.Message}); the file is corrupt", e);
        }
    }

    /// <summary>The path (or description) the tensors come from, as used in error messages.</summary>
    public string Source { get; }

    /// <summary>The optional <c>__metadata__</c> string map.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Every tensor, by name.</summary>
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors => _tensors;

    /// <summary>Opens and validates a safetensors file.</summary>
    /// <exception cref="ModelFormatException">The file is malformed; the message names the file and the problem.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            return new SafeTensorsFile(path, handle, null, RandomAccess.GetLength(handle));
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Validates a safetensors file held in memory; <paramref name="bytes"/> is not copied.</summary>
    /// <exception cref="ModelFormatException">The bytes are malformed.</exception>
    public static SafeTensorsFile FromBytes(byte[] bytes, string source = "safetensors bytes")
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return new SafeTensorsFile(source, null, bytes, bytes.LongLength);
    }

    /// <summary>Whether a tensor of that name exists.</summary>
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>The entry of a tensor.</summary>
    /// <exception cref="ModelFormatException">No tensor has that name.</exception>
    public SafeTensorInfo Info(string name) =>
        _tensors.TryGetValue(name, out var info)
            ? info
            : throw Bad($"tensor '{name}' is missing; the checkpoint does not match the expected architecture (found {_tensors.Count} tensors, e.g. {string.Join(", ", _tensors.Keys.Order(StringComparer.Ordinal).Take(3))})");

    /// <summary>Reads a tensor, converting F16, BF16 and F64 to float32.</summary>
    /// <exception cref="ModelFormatException">The tensor is missing, or holds integers (I64).</exception>
    public float[] ReadFloat32(string name)
    {
        var info = Info(name);
        RequireFloat(info);
        var result = new float[checked((int)info.ElementCount)];
        ReadInto(info, result);
        return result;
    }

    /// <summary>Reads a tensor into <paramref name="destination"/>, which must hold exactly its element count.</summary>
    /// <exception cref="ArgumentException">The destination length differs from the tensor's element count.</exception>
    public void ReadInto(SafeTensorInfo info, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(info);
        RequireFloat(info);
        if (destination.Length != info.ElementCount)
        {
            throw new ArgumentException($"tensor '{info.Name}' has {info.ElementCount} elements, the destination {destination.Length}.", nameof(destination));
        }

        const int Chunk = 1 << 16; // elements per read: bounded scratch whatever the tensor size
        int elementSize = ElementSize(info.DType);
        byte[] scratch = new byte[Math.Min(destination.Length, Chunk) * elementSize];
        for (int done = 0; done < destination.Length; done += Chunk)
        {
            int n = Math.Min(Chunk, destination.Length - done);
            Span<byte> raw = scratch.AsSpan(0, n * elementSize);
            ReadAt(_dataStart + info.Begin + ((long)done * elementSize), raw);
            Convert(info.DType, raw, destination.Slice(done, n));
        }
    }

    /// <summary>Reads an I64 tensor (an index buffer) as integers.</summary>
    /// <exception cref="ModelFormatException">The tensor is missing or is not I64.</exception>
    public long[] ReadInt64(string name)
    {
        var info = Info(name);
        if (info.DType != SafeTensorDType.I64)
        {
            throw Bad($"tensor '{name}' is {info.DType}, not I64");
        }

        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors data is little-endian; big-endian hosts are not supported.");
        }

        var result = new long[checked((int)info.ElementCount)];
        ReadAt(_dataStart + info.Begin, MemoryMarshal.AsBytes(result.AsSpan()));
        return result;
    }

    /// <summary>Reads a tensor as float64 (exact for F64, widened for the others).</summary>
    /// <exception cref="ModelFormatException">The tensor is missing, or holds integers (I64).</exception>
    public double[] ReadFloat64(string name)
    {
        var info = Info(name);
        RequireFloat(info);
        int count = checked((int)info.ElementCount);
        if (info.DType != SafeTensorDType.F64)
        {
            return Array.ConvertAll(ReadFloat32(name), f => (double)f);
        }

        var result = new double[count];
        ReadAt(_dataStart + info.Begin, MemoryMarshal.AsBytes(result.AsSpan()));
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors data is little-endian; big-endian hosts are not supported.");
        }

        return result;
    }

    /// <inheritdoc />
    public void Dispose() => _handle?.Dispose();

    private static int ElementSize(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F32 => 4,
        SafeTensorDType.F64 or SafeTensorDType.I64 => 8,
        _ => 2,
    };

    private void RequireFloat(SafeTensorInfo info)
    {
        if (info.DType == SafeTensorDType.I64)
        {
            throw Bad($"tensor '{info.Name}' holds 64-bit integers (an index buffer), not weights; read it with ReadInt64");
        }
    }

    private static void Convert(SafeTensorDType dtype, ReadOnlySpan<byte> raw, Span<float> destination)
    {
        switch (dtype)
        {
            case SafeTensorDType.F32:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]);
                }

                break;
            case SafeTensorDType.F16:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(raw[(i * 2)..]);
                }

                break;
            case SafeTensorDType.BF16:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..]) << 16);
                }

                break;
            case SafeTensorDType.F64:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(raw[(i * 8)..]);
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype");
        }
    }

    private void ReadAt(long offset, Span<byte> destination)
    {
        if (_bytes is not null)
        {
            _bytes.AsSpan((int)offset, destination.Length).CopyTo(destination);
            return;
        }

        int read = 0;
        while (read < destination.Length)
        {
            int n = RandomAccess.Read(_handle!, destination[read..], offset + read);
            if (n == 0)
            {
                throw Bad($"the file ended at byte {offset + read} while reading; it was truncated while open");
            }

            read += n;
        }
    }

    private (Dictionary<string, SafeTensorInfo> Tensors, IReadOnlyDictionary<string, string> Metadata) ParseHeader(byte[] header, long dataLength)
    {
        var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw Bad($"the header is not valid JSON ({e.Message})", e);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Bad("the header must be a JSON object of tensor entries");
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    throw Bad($"the header names '{property.Name}' twice");
                }

                if (property.Name == "__metadata__")
                {
                    if (property.Value.ValueKind != JsonValueKind.Object)
                    {
                        throw Bad("__metadata__ must be an object of strings");
                    }

                    foreach (var m in property.Value.EnumerateObject())
                    {
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String
                            ? m.Value.GetString()!
                            : throw Bad($"__metadata__ entry '{m.Name}' must be a string");
                    }

                    continue;
                }

                tensors.Add(property.Name, ParseEntry(property.Name, property.Value, dataLength));
            }
        }

        // The tensors must tile [0, dataLength) exactly: sorted by start, each begins where the previous ended.
        long expected = 0;
        foreach (var info in tensors.Values.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (info.Begin < expected)
            {
                throw Bad($"tensor '{info.Name}' bytes [{info.Begin}, {info.End}) overlap the previous tensor (which ends at {expected})");
            }

            if (info.Begin > expected)
            {
                throw Bad($"there is a hole of {info.Begin - expected} bytes before tensor '{info.Name}' (bytes [{expected}, {info.Begin}) belong to no tensor)");
            }

            expected = info.End;
        }

        if (expected != dataLength)
        {
            throw Bad($"the tensors cover {expected} data bytes but the file has {dataLength}; it is truncated or has trailing data");
        }

        return (tensors, metadata);
    }

    private SafeTensorInfo ParseEntry(string name, JsonElement entry, long dataLength)
    {
        if (entry.ValueKind != JsonValueKind.Object)
        {
            throw Bad($"entry '{name}' must be an object with dtype, shape and data_offsets");
        }

        if (!entry.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw Bad($"tensor '{name}' has no dtype string");
        }

        string dtypeText = dtypeElement.GetString()!;
        SafeTensorDType dtype = dtypeText switch
        {
            "F32" => SafeTensorDType.F32,
            "F16" => SafeTensorDType.F16,
            "BF16" => SafeTensorDType.BF16,
            "F64" => SafeTensorDType.F64,
            "I64" => SafeTensorDType.I64,
            _ => throw Bad($"tensor '{name}' has dtype {dtypeText}; only F32, F16, BF16, F64 (and I64 index buffers) are supported (convert the checkpoint to float)"),
        };

        if (!entry.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            throw Bad($"tensor '{name}' has no shape array");
        }

        var shape = new List<long>();
        long elements = 1;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
            {
                throw Bad($"tensor '{name}' has a shape entry that is not a non-negative integer");
            }

            if (shape.Count >= 8)
            {
                throw Bad($"tensor '{name}' has more than 8 dimensions");
            }

            shape.Add(dim);
            elements = dim == 0 || elements == 0 ? 0 : (elements > dataLength / dim ? dataLength + 1 : elements * dim);
        }

        if (!entry.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
        {
            throw Bad($"tensor '{name}' needs data_offsets [begin, end]");
        }

        if (!offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < begin || end > dataLength)
        {
            throw Bad($"tensor '{name}' data_offsets [{offsets[0]}, {offsets[1]}] lie outside the {dataLength}-byte data section; the file is truncated or corrupt (download it again)");
        }

        long bytes = elements > dataLength ? long.MaxValue : elements * ElementSize(dtype);
        if (bytes != end - begin)
        {
            throw Bad($"tensor '{name}' shape [{string.Join(", ", shape)}] of {dtypeText} needs {(bytes == long.MaxValue ? "more than the file's" : bytes.ToString(System.Globalization.CultureInfo.InvariantCulture))} bytes but its offsets span {end - begin}");
        }

        if (elements > Array.MaxLength)
        {
            throw Bad($"tensor '{name}' has {elements} elements, more than one array can hold");
        }

        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    private ModelFormatException Bad(string problem, Exception? inner = null) =>
        new($"{Source}: not a valid safetensors file: {problem}.", inner);
}
