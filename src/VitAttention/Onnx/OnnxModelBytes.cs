using Google.Protobuf;
using Onnx;

namespace VitAttention.Onnx;

/// <summary>
/// An ONNX model parsed without its weights: the graph's nodes, inputs and outputs as protobuf objects, the
/// initializers as stubs (name, type, shape, external data entries) that point at their bytes in the source. Editing
/// the graph and writing it back copies the weight bytes once, verbatim, instead of decoding and re-encoding them,
/// which keeps a 330 MB ViT-B from costing a second and third copy.
/// </summary>
/// <remarks>
/// Written out, a model holds the source's ModelProto fields (the graph field last), then the graph: its edited
/// non-initializer fields followed by every initializer. Protobuf readers merge fields in any order and keep
/// repeated fields in the order they appear, so the result is the same model.
/// </remarks>
internal sealed class OnnxModelBytes
{
    private const int ModelGraphField = 7;
    private const int GraphInitializerField = 5;
    private const int GraphSparseInitializerField = 15;

    // TensorProto fields that carry the data: float_data, int32_data, string_data, int64_data, raw_data, double_data, uint64_data.
    private static readonly HashSet<int> TensorDataFields = [4, 5, 6, 7, 9, 10, 11];

    private readonly byte[] _source;
    private readonly List<(int Start, int End)> _initializerFields = [];
    private readonly List<(int Start, int End)> _sparseFields = [];
    private readonly Dictionary<int, TensorProto> _replaced = [];

    private OnnxModelBytes(byte[] source, ModelProto header, GraphProto graph, List<TensorProto> stubs)
    {
        _source = source;
        Header = header;
        Graph = graph;
        Initializers = stubs;
    }

    /// <summary>Every ModelProto field but the graph (ir_version, opset_import, producer, metadata).</summary>
    public ModelProto Header { get; }

    /// <summary>The graph without its initializers; edit nodes, inputs and outputs freely.</summary>
    public GraphProto Graph { get; }

    /// <summary>The initializers without their data, in source order.</summary>
    public IReadOnlyList<TensorProto> Initializers { get; }

    /// <summary>Parses the model, skipping the initializer data.</summary>
    /// <exception cref="FormatException">The bytes are not a well-formed protobuf, or hold no graph.</exception>
    /// <exception cref="InvalidProtocolBufferException">A message inside does not parse.</exception>
    public static OnnxModelBytes Parse(byte[] bytes)
    {
        using var header = new MemoryStream();
        (int Start, int End)? graphPayload = null;
        foreach (Field f in Fields(bytes, 0, bytes.Length))
        {
            if (f.Number == ModelGraphField && f.WireType == 2)
            {
                if (graphPayload is not null)
                {
                    throw new FormatException("the model holds two graph fields");
                }

                graphPayload = (f.PayloadStart, f.End);
            }
            else
            {
                header.Write(bytes, f.Start, f.End - f.Start);
            }
        }

        if (graphPayload is not (int graphStart, int graphEnd))
        {
            throw new FormatException("no graph in the protobuf");
        }

        using var skeleton = new MemoryStream();
        var stubs = new List<TensorProto>();
        var model = new OnnxModelBytes(bytes, ModelProto.Parser.ParseFrom(header.ToArray()), new GraphProto(), stubs);
        foreach (Field f in Fields(bytes, graphStart, graphEnd))
        {
            if (f.Number == GraphInitializerField && f.WireType == 2)
            {
                model._initializerFields.Add((f.Start, f.End));
                using var stub = new MemoryStream();
                foreach (Field t in Fields(bytes, f.PayloadStart, f.End))
                {
                    if (!TensorDataFields.Contains(t.Number))
                    {
                        stub.Write(bytes, t.Start, t.End - t.Start);
                    }
                }

                stubs.Add(TensorProto.Parser.ParseFrom(stub.ToArray()));
            }
            else if (f.Number == GraphSparseInitializerField && f.WireType == 2)
            {
                model._sparseFields.Add((f.Start, f.End));
            }
            else
            {
                skeleton.Write(bytes, f.Start, f.End - f.Start);
            }
        }

        model.Graph.MergeFrom(skeleton.ToArray());
        return model;
    }

    /// <summary>
    /// Initializer <paramref name="index"/> with its data: the replacement when there is one, else parsed from the
    /// source bytes (a copy of that tensor only; meant for the small constants a graph edit needs to read).
    /// </summary>
    public TensorProto ReadInitializer(int index)
    {
        if (_replaced.TryGetValue(index, out TensorProto? replaced))
        {
            return replaced;
        }

        (int start, int end) = _initializerFields[index];
        Field field = Fields(_source, start, end)[0];
        return TensorProto.Parser.ParseFrom(_source, field.PayloadStart, field.End - field.PayloadStart);
    }

    /// <summary>Replaces initializer <paramref name="index"/> (its stub and its bytes) by a complete tensor.</summary>
    public void ReplaceInitializer(int index, TensorProto tensor) => _replaced[index] = tensor;

    /// <summary>The whole model with the current header and graph, and every initializer.</summary>
    /// <exception cref="InvalidOperationException">The model would exceed 2 GB, the protobuf limit.</exception>
    public byte[] ToByteArray()
    {
        byte[] header = Header.ToByteArray();
        byte[] graph = Graph.ToByteArray();
        var pieces = new List<(byte[] Bytes, int Start, int Length)> { (graph, 0, graph.Length) };
        for (int i = 0; i < _initializerFields.Count; i++)
        {
            if (_replaced.TryGetValue(i, out TensorProto? t))
            {
                byte[] tensor = t.ToByteArray();
                pieces.Add((Varint((GraphInitializerField << 3) | 2, tensor.Length), 0, -1));
                pieces.Add((tensor, 0, tensor.Length));
            }
            else
            {
                pieces.Add((_source, _initializerFields[i].Start, _initializerFields[i].End - _initializerFields[i].Start));
            }
        }

        pieces.AddRange(_sparseFields.Select(f => (_source, f.Start, f.End - f.Start)));
        long graphLength = pieces.Sum(p => (long)(p.Length < 0 ? p.Bytes.Length : p.Length));
        if (graphLength > int.MaxValue)
        {
            throw new InvalidOperationException("the model would exceed 2 GB, more than one ONNX protobuf can hold");
        }

        byte[] graphTag = Varint((ModelGraphField << 3) | 2, (int)graphLength);
        long total = header.Length + graphTag.Length + graphLength;
        if (total > Array.MaxLength)
        {
            throw new InvalidOperationException("the model would exceed 2 GB, more than one ONNX protobuf can hold");
        }

        var result = new byte[total];
        int at = 0;
        void Put(byte[] bytes, int start, int length)
        {
            Buffer.BlockCopy(bytes, start, result, at, length);
            at += length;
        }

        Put(header, 0, header.Length);
        Put(graphTag, 0, graphTag.Length);
        foreach ((byte[] bytes, int start, int length) in pieces)
        {
            Put(bytes, start, length < 0 ? bytes.Length : length);
        }

        return at == result.Length ? result : throw new InvalidOperationException("internal error: model size mismatch");
    }

    // A tag varint followed by a length varint.
    private static byte[] Varint(int tag, int length)
    {
        var bytes = new List<byte>(10);
        foreach (uint value in new[] { (uint)tag, (uint)length })
        {
            uint v = value;
            while (v >= 0x80)
            {
                bytes.Add((byte)(v | 0x80));
                v >>= 7;
            }

            bytes.Add((byte)v);
        }

        return [.. bytes];
    }

    private readonly record struct Field(int Number, int WireType, int Start, int PayloadStart, int End);

    // The top-level fields of the message in bytes[start..end), with their byte ranges; validates lengths.
    private static List<Field> Fields(byte[] bytes, int start, int end)
    {
        var fields = new List<Field>();
        int at = start;
        while (at < end)
        {
            int fieldStart = at;
            ulong tag = ReadVarint(bytes, ref at, end);
            int number = (int)(tag >> 3);
            int wireType = (int)(tag & 7);
            if (number <= 0 || tag >> 3 > 0x1FFFFFFF)
            {
                throw new FormatException($"invalid field number at byte {fieldStart}");
            }

            int payloadStart;
            switch (wireType)
            {
                case 0:
                    payloadStart = at;
                    ReadVarint(bytes, ref at, end);
                    break;
                case 1:
                    payloadStart = at;
                    at = Advance(at, 8, end);
                    break;
                case 2:
                    ulong length = ReadVarint(bytes, ref at, end);
                    payloadStart = at;
                    at = Advance(at, length, end);
                    break;
                case 5:
                    payloadStart = at;
                    at = Advance(at, 4, end);
                    break;
                default:
                    throw new FormatException($"unsupported wire type {wireType} at byte {fieldStart}");
            }

            fields.Add(new Field(number, wireType, fieldStart, payloadStart, at));
        }

        return fields;
    }

    private static int Advance(int at, ulong count, int end) =>
        count <= (ulong)(end - at)
            ? at + (int)count
            : throw new FormatException($"a field at byte {at} runs {count} bytes past the end of its message (truncated?)");

    private static ulong ReadVarint(byte[] bytes, ref int at, int end)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (at >= end)
            {
                throw new FormatException("the input ended in the middle of a field (truncated?)");
            }

            byte b = bytes[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new FormatException($"malformed varint before byte {at}");
    }
}
