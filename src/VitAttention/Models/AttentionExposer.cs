using System.Globalization;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace VitAttention.Models;

/// <summary>
/// Makes the attention probabilities of an existing ONNX ViT export (torch.onnx.export, Hugging Face Optimum,
/// transformers.js <c>onnx/model.onnx</c>) graph outputs, without re-exporting it.
/// </summary>
/// <remarks>
/// <para>
/// The probabilities are found by graph structure, never by node name: a <c>Softmax</c> (or
/// <c>com.microsoft</c> <c>QLinearSoftmax</c>) over the last axis whose output feeds the first input of a
/// <c>MatMul</c>, <c>QLinearMatMul</c>, <c>MatMulInteger</c> or <c>MatMulIntegerToFloat</c>, possibly through
/// <c>Cast</c>, <c>Dropout</c>, <c>Identity</c>, <c>QuantizeLinear</c>, <c>DequantizeLinear</c>,
/// <c>DynamicQuantizeLinear</c> or <c>Reshape</c> nodes. To check the shapes the graph is run once by ONNX Runtime
/// on a seeded random input (batch 1): a candidate is kept when its probabilities are
/// [batch, heads, tokens, tokens] and the other operand of its MatMul is [batch, heads, tokens, head_dim]. The kept
/// ones are ordered by depth (longest path from the graph inputs), so <c>attentions.0</c> is the layer nearest the
/// image.
/// </para>
/// <para>
/// Opset note: before opset 13 <c>Softmax</c> flattens its input to 2-D at <c>axis</c> (default 1). Over the last
/// axis of a 4-D tensor that equals the per-row softmax, so such nodes are accepted; with the default axis 1 on a
/// 4-D input it normalises over heads × tokens × tokens, which is not attention, and the node is refused with that
/// reason. A softmax computed on a 2-D [batch·heads·tokens, tokens] reshape whose result is reshaped back to 4-D
/// before the MatMul is exposed after that reshape.
/// </para>
/// <para>
/// Precision: probabilities in float16, bfloat16 or double are cast to float32 outputs; a quantized
/// <c>QLinearSoftmax</c> output is dequantized with its own scale and zero point; quantized graphs whose Softmax is
/// float (QDQ, or dynamic quantization with <c>DynamicQuantizeLinear</c> + <c>MatMulInteger</c>) expose the float
/// Softmax output. A float16 model (transformers.js <c>model_fp16.onnx</c>) gets a float32 input that is cast to
/// float16 inside the graph, and a float32 <c>logits</c> cast from its float16 logits (kept as
/// <c>logits_float16</c>).
/// </para>
/// </remarks>
public static class AttentionExposer
{
    /// <summary>How to obtain an export that keeps each layer's Softmax; part of the fused-attention message.</summary>
    public const string UnfusedExportAdvice =
        "Export the model again without attention fusion: with Hugging Face Optimum run " +
        "`optimum-cli export onnx --model <model id> --task image-classification <output folder>` with no `--optimize` " +
        "option (and do not run onnxruntime's transformers optimizer on the result); with torch.onnx.export, load the " +
        "model with attn_implementation=\"eager\" so every layer keeps its own Softmax.";

    // Contrib operators that compute softmax(QKᵀ/√d)·V inside one kernel and never materialise the probabilities.
    private static readonly HashSet<string> FusedMicrosoftOps = new(StringComparer.Ordinal)
    {
        "Attention", "MultiHeadAttention", "PackedAttention", "PackedMultiHeadAttention", "GroupQueryAttention",
        "QAttention", "QOrderedAttention", "DecoderAttention", "DecoderMaskedMultiHeadAttention",
        "DecoderMaskedSelfAttention", "SparseAttention", "LongformerAttention",
    };

    private const int ProbeSeed = 20260;

    /// <summary>Most input values the probe run may allocate (64 M floats, 256 MB): far above any ViT's image.</summary>
    private const long MaxProbeValues = 1L << 26;
    private const int MaxPassThrough = 6;
    private const int MaxReasons = 6;
    private const string WindowedReason = "windowed attention (Swin-like models) is not supported";

    /// <summary>
    /// Adds one graph output per layer, <c>attentions.{l}</c> float32 [batch, heads, tokens, tokens], and a
    /// <c>logits</c> output (an alias of the graph's [batch, classes] output when it has another name); every
    /// existing output is kept.
    /// </summary>
    /// <param name="onnx">The serialised ONNX model.</param>
    /// <param name="source">What the bytes came from (a file path), named in every message.</param>
    /// <param name="options">Probe size for graphs with a symbolic input size, and the external data folder; null
    /// for <see cref="ExposeOptions.Default"/>.</param>
    /// <returns>The new model bytes and the dimensions read from the graph.</returns>
    /// <exception cref="ModelFormatException">The bytes are not an ONNX model (empty, truncated, random), the graph
    /// has no attention softmax (not a ViT), attention was fused into one operator (the message says how to export
    /// it unfused), the layers' shapes disagree, no [batch, classes] output exists, or ONNX Runtime cannot run it.
    /// The message names <paramref name="source"/>.</exception>
    public static ExposedOnnx Expose(byte[] onnx, string source, ExposeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(onnx);
        source = string.IsNullOrEmpty(source) ? "ONNX bytes" : source;
        options ??= ExposeOptions.Default;

        OnnxModelBytes model = Parse(onnx, source);
        GraphProto graph = model.Graph;
        RefuseFusedAttention(graph, source);
        long opset = model.Header.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0;

        var initializers = new HashSet<string>(model.Initializers.Select(t => t.Name), StringComparer.Ordinal);
        ImageInput input = FindImageInput(graph, initializers, options, source);
        InlineExternalData(model, options.ExternalDataFolder, source, onnx.LongLength);

        var consumers = new Dictionary<string, List<(NodeProto Node, int Index)>>(StringComparer.Ordinal);
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Node.Count; i++)
        {
            NodeProto node = graph.Node[i];
            for (int k = 0; k < node.Input.Count; k++)
            {
                if (node.Input[k].Length == 0)
                {
                    continue;
                }

                if (!consumers.TryGetValue(node.Input[k], out var list))
                {
                    consumers[node.Input[k]] = list = [];
                }

                list.Add((node, k));
            }

            foreach (string output in node.Output)
            {
                if (output.Length > 0)
                {
                    producer[output] = i;
                }
            }
        }

        List<Candidate> candidates = FindCandidates(graph, consumers, initializers, opset);
        if (candidates.Count == 0)
        {
            int softmaxes = graph.Node.Count(n => IsSoftmax(n));
            throw new ModelFormatException(
                $"{source}: no attention softmax found: not a ViT, or attention was fused. The graph has {graph.Node.Count} " +
                $"nodes and {softmaxes} Softmax node(s), none of whose output feeds a MatMul as attention probabilities do. " +
                "If this is a Vision Transformer whose attention was fused: " + UnfusedExportAdvice);
        }

        // Run the graph once with every candidate tensor as an extra output to learn the shapes.
        var originalOutputs = graph.Output.ToList();
        Dictionary<string, ProbedTensor> probed = Probe(model, input, candidates, originalOutputs, source);

        var reasons = new List<string>();
        var accepted = new List<Accepted>();
        foreach (Candidate c in candidates)
        {
            if (Check(c, probed, input.ProbeBatch, opset, out Accepted? ok, out string? reason))
            {
                accepted.Add(ok!);
            }
            else
            {
                reasons.Add(reason!);
            }
        }

        string? windowed = reasons.FirstOrDefault(r => r.Contains(WindowedReason, StringComparison.Ordinal));
        if (windowed is not null)
        {
            throw new ModelFormatException(
                $"{source}: {windowed}. Only plain ViTs, whose every layer attends over the whole image, are supported.");
        }

        if (accepted.Count == 0)
        {
            throw new ModelFormatException(
                $"{source}: no attention softmax found: not a ViT, or attention was fused. Softmax nodes that feed a MatMul " +
                $"were found but none computes attention probabilities: {string.Join("; ", reasons.Take(MaxReasons))}.");
        }

        int[] depth = Depths(graph, producer, source);
        accepted = [.. accepted.OrderBy(a => depth[a.Candidate.NodeIndex]).ThenBy(a => a.Candidate.NodeIndex)];
        Accepted first = accepted[0];
        foreach (Accepted a in accepted)
        {
            if (a.Heads != first.Heads || a.Tokens != first.Tokens)
            {
                throw new ModelFormatException(
                    $"{source}: the attention layers have different shapes (softmax '{first.Candidate.Softmax.Name}' is " +
                    $"[batch, {first.Heads}, {first.Tokens}, {first.Tokens}], '{a.Candidate.Softmax.Name}' is [batch, {a.Heads}, " +
                    $"{a.Tokens}, {a.Tokens}]): only plain ViTs with one attention shape in every layer are supported.");
            }
        }

        (string? logitsSource, int classes, int logitsType) = FindLogits(graph, initializers, originalOutputs, probed, input.ProbeBatch, source);
        bool already = AddOutputs(graph, initializers, input, accepted, logitsSource, classes, logitsType, source);

        return new ExposedOnnx
        {
            Onnx = Serialize(model, source),
            InputName = input.Name,
            Channels = input.Channels,
            InputHeight = input.StaticHeight,
            InputWidth = input.StaticWidth,
            ProbeHeight = input.Height,
            ProbeWidth = input.Width,
            Layers = accepted.Count,
            Heads = first.Heads,
            Tokens = first.Tokens,
            HeadDim = first.HeadDim,
            NumClasses = classes,
            PatchSize = FindPatchSize(graph, input.Name),
            LogitsSource = logitsSource,
            AttentionSources = [.. accepted.Select(a => a.ExposeName)],
            AlreadyExposed = already,
        };
    }

    private static ModelFormatException NotOnnx(string source, string detail, Exception? inner = null) =>
        new($"{source}: not an ONNX model ({detail}). The file may be truncated (an interrupted download or copy) or " +
            "not ONNX at all: download it again, or export it again with torch.onnx.export or " +
            "`optimum-cli export onnx --task image-classification`.", inner);

    private static OnnxModelBytes Parse(byte[] onnx, string source)
    {
        if (onnx.Length == 0)
        {
            throw NotOnnx(source, "the file is empty, 0 bytes");
        }

        OnnxModelBytes model;
        try
        {
            model = OnnxModelBytes.Parse(onnx);
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or FormatException)
        {
            throw NotOnnx(source, $"{onnx.Length} bytes that do not parse as an ONNX protobuf: {ex.Message}", ex);
        }

        if (model.Graph.Node.Count == 0 || model.Header.IrVersion <= 0)
        {
            throw NotOnnx(source, model.Header.IrVersion <= 0 ? "no ir_version in the protobuf" : "the graph has no nodes");
        }

        return model;
    }

    private static byte[] Serialize(OnnxModelBytes model, string source)
    {
        try
        {
            return model.ToByteArray();
        }
        catch (InvalidOperationException ex)
        {
            throw new ModelFormatException($"{source}: {ex.Message}; models this large are not supported by attention exposure.", ex);
        }
    }

    private static void RefuseFusedAttention(GraphProto graph, string source)
    {
        var fused = graph.Node
            .Where(n => (n.Domain == "com.microsoft" && FusedMicrosoftOps.Contains(n.OpType))
                || (n.Domain is "" or "ai.onnx" && n.OpType == "Attention"))
            .ToList();
        if (fused.Count > 0)
        {
            NodeProto n = fused[0];
            string domain = n.Domain.Length == 0 ? "ai.onnx" : n.Domain;
            throw new ModelFormatException(
                $"{source}: the export fused attention into {fused.Count} {domain} {n.OpType} node(s) (the first is " +
                $"'{n.Name}'). A fused attention operator computes softmax(QKᵀ/√d)·V inside one kernel, which hides the " +
                "attention probabilities, so they cannot be made outputs. " + UnfusedExportAdvice);
        }
    }

    private sealed record ImageInput(
        string Name, ValueInfoProto Info, int Channels, int Height, int Width, int? StaticHeight, int? StaticWidth,
        int ProbeBatch, TensorShapeProto.Types.Dimension BatchDim);

    private static int? StaticDim(TensorShapeProto.Types.Dimension d) =>
        d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue > 0 && d.DimValue <= int.MaxValue
            ? (int)d.DimValue
            : null;

    private static ImageInput FindImageInput(GraphProto graph, HashSet<string> initializers, ExposeOptions options, string source)
    {
        var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        if (inputs.Count != 1)
        {
            throw new ModelFormatException(
                $"{source}: expected one image input [batch, channels, height, width], found {inputs.Count} graph inputs " +
                $"({string.Join(", ", inputs.Select(i => i.Name))}); this is not a ViT image classifier export.");
        }

        ValueInfoProto info = inputs[0];
        TypeProto.Types.Tensor? tensor = info.Type?.TensorType;
        if (tensor is null || tensor.Shape is null || tensor.Shape.Dim.Count != 4)
        {
            throw new ModelFormatException(
                $"{source}: input '{info.Name}' is not a 4-D tensor [batch, channels, height, width] (rank " +
                $"{tensor?.Shape?.Dim.Count.ToString(CultureInfo.InvariantCulture) ?? "unknown"}); this is not a ViT image classifier export.");
        }

        if (tensor.ElemType == (int)TensorProto.Types.DataType.Float16)
        {
            ConvertFloat16Input(graph, info, initializers);
        }
        else if (tensor.ElemType != (int)TensorProto.Types.DataType.Float)
        {
            throw new ModelFormatException(
                $"{source}: input '{info.Name}' has element type {(TensorProto.Types.DataType)tensor.ElemType}, but the library " +
                "feeds float32 pixels; use the float32 export (for transformers.js, onnx/model.onnx).");
        }

        var dims = tensor.Shape.Dim;
        if (StaticDim(dims[1]) is > 4 && StaticDim(dims[3]) is >= 1 and <= 4)
        {
            throw new ModelFormatException(
                $"{source}: input '{info.Name}' is [batch, {dims[1].DimValue}, {dims[2].DimValue}, {dims[3].DimValue}], channels last; " +
                "the library feeds channels-first [batch, channels, height, width] pixels as PyTorch and Optimum exports take them.");
        }

        int? staticH = StaticDim(dims[2]);
        int? staticW = StaticDim(dims[3]);
        int height = staticH ?? options.ImageHeight ?? throw new ModelFormatException(
            $"{source}: input '{info.Name}' has a symbolic height and width, so the image size cannot be read from the graph. " +
            "Put the model's config.json (with image_size) beside the .onnx file or in its parent folder, or pass " +
            "ExposeOptions.ImageHeight and ImageWidth.");
        int width = staticW ?? options.ImageWidth ?? height;
        int channels = StaticDim(dims[1]) ?? 3;
        if (height is <= 0 or > 8192 || width is <= 0 or > 8192 || channels > 4)
        {
            throw new ModelFormatException(
                $"{source}: input '{info.Name}' would be probed at {channels}×{height}×{width}; sizes must be 1 to 8192 " +
                "pixels with 1 to 4 channels.");
        }

        int batch = StaticDim(dims[0]) ?? 1;
        if (batch > 64)
        {
            throw new ModelFormatException($"{source}: input '{info.Name}' fixes the batch at {batch}; export it with a dynamic or small batch.");
        }

        return new ImageInput(info.Name, info, channels, height, width, staticH, staticW, batch, dims[0].Clone());
    }

    // A float16 model (transformers.js model_fp16.onnx): the input becomes float32 and a Cast to float16 feeds the
    // nodes that read it, so the library can feed float32 pixels like any other model.
    private static void ConvertFloat16Input(GraphProto graph, ValueInfoProto input, IEnumerable<string> initializers)
    {
        string inner = UniqueValueName(graph, initializers, input.Name + "_float16");
        foreach (NodeProto node in graph.Node)
        {
            for (int k = 0; k < node.Input.Count; k++)
            {
                if (node.Input[k] == input.Name)
                {
                    node.Input[k] = inner;
                }
            }
        }

        var cast = new NodeProto { OpType = "Cast", Name = UniqueNodeName(graph, "VitAttention/input_to_float16"), Input = { input.Name }, Output = { inner } };
        cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Float16 });
        graph.Node.Insert(0, cast);
        input.Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Float;
    }

    // Renames a graph output tensor everywhere (producer, consumers, output list) so its old name can be reused.
    private static string RenameValue(GraphProto graph, IEnumerable<string> initializers, string name, string suggested)
    {
        string renamed = UniqueValueName(graph, initializers, suggested);
        foreach (NodeProto node in graph.Node)
        {
            for (int k = 0; k < node.Input.Count; k++)
            {
                if (node.Input[k] == name)
                {
                    node.Input[k] = renamed;
                }
            }

            for (int k = 0; k < node.Output.Count; k++)
            {
                if (node.Output[k] == name)
                {
                    node.Output[k] = renamed;
                }
            }
        }

        foreach (ValueInfoProto output in graph.Output.Where(o => o.Name == name))
        {
            output.Name = renamed;
        }

        return renamed;
    }

    private static string UniqueValueName(GraphProto graph, IEnumerable<string> initializers, string wanted)
    {
        var used = new HashSet<string>(graph.Node.SelectMany(n => n.Input.Concat(n.Output)), StringComparer.Ordinal);
        used.UnionWith(graph.Input.Select(i => i.Name));
        used.UnionWith(initializers);
        string name = wanted;
        for (int k = 1; used.Contains(name); k++)
        {
            name = wanted + "_" + k.ToString(CultureInfo.InvariantCulture);
        }

        return name;
    }

    private static string UniqueNodeName(GraphProto graph, string wanted)
    {
        var used = new HashSet<string>(graph.Node.Select(n => n.Name), StringComparer.Ordinal);
        string name = wanted;
        for (int k = 1; used.Contains(name); k++)
        {
            name = wanted + "_" + k.ToString(CultureInfo.InvariantCulture);
        }

        return name;
    }

    private static int ElementSize(int dataType) => (TensorProto.Types.DataType)dataType switch
    {
        TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Uint32 => 4,
        TensorProto.Types.DataType.Double or TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Uint64 => 8,
        TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16 or TensorProto.Types.DataType.Int16
            or TensorProto.Types.DataType.Uint16 => 2,
        TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Bool => 1,
        _ => 0,
    };

    private static void InlineExternalData(OnnxModelBytes model, string? folder, string source, long modelBytes)
    {
        var external = model.Initializers.Select((t, i) => (Tensor: t, Index: i))
            .Where(x => x.Tensor.DataLocation == TensorProto.Types.DataLocation.External).ToList();
        if (external.Count == 0)
        {
            return;
        }

        if (folder is null)
        {
            throw new ModelFormatException(
                $"{source}: the model keeps {external.Count} weight tensor(s) in external data files (the first is " +
                $"'{external[0].Tensor.Name}'), which cannot be read from bytes alone. Load it from its file " +
                "(OnnxModelLoader.PrepareOnnx(path)) so the files beside it are found, or set ExposeOptions.ExternalDataFolder.");
        }

        string root = Path.GetFullPath(folder);
        string rootWithSlash = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        long total = modelBytes;
        foreach ((TensorProto stub, int index) in external)
        {
            TensorProto t = stub.Clone();
            string? location = null;
            long offset = 0;
            long? length = null;
            foreach (StringStringEntryProto entry in t.ExternalData)
            {
                switch (entry.Key)
                {
                    case "location":
                        location = entry.Value;
                        break;
                    case "offset":
                        offset = ParseExternalNumber(entry.Value, "offset", t.Name, source);
                        break;
                    case "length":
                        length = ParseExternalNumber(entry.Value, "length", t.Name, source);
                        break;
                    default:
                        break;
                }
            }

            if (string.IsNullOrEmpty(location))
            {
                throw new ModelFormatException($"{source}: tensor '{t.Name}' is marked external but names no location file; export the model again.");
            }

            string file = Path.GetFullPath(Path.Combine(root, location));
            if (!file.StartsWith(rootWithSlash, StringComparison.Ordinal))
            {
                throw new ModelFormatException(
                    $"{source}: tensor '{t.Name}' names external data '{location}', which is outside the model's folder {root}; refusing to read it.");
            }

            if (!File.Exists(file))
            {
                throw new ModelFormatException(
                    $"{source}: tensor '{t.Name}' is stored in the external data file '{location}', which is missing from {root}; " +
                    "copy it beside the .onnx file (it is downloaded with the model, often as model.onnx_data).");
            }

            long fileLength = new FileInfo(file).Length;
            long count = 1;
            foreach (long d in t.Dims)
            {
                if (d < 0 || (d > 0 && count > long.MaxValue / d))
                {
                    throw new ModelFormatException($"{source}: tensor '{t.Name}' has an invalid shape [{string.Join(", ", t.Dims)}].");
                }

                count *= d;
            }

            int size = ElementSize(t.DataType);
            long len = length ?? fileLength - offset;
            if (offset > fileLength || len < 0 || offset + len > fileLength)
            {
                throw new ModelFormatException(
                    $"{source}: tensor '{t.Name}' lies at bytes {offset}..{offset + len} of '{location}', beyond its end " +
                    $"({fileLength} bytes): the external data file is truncated or belongs to another export; download it again.");
            }

            if (size > 0 && (count > long.MaxValue / size || count * size != len))
            {
                throw new ModelFormatException(
                    $"{source}: tensor '{t.Name}' of shape [{string.Join(", ", t.Dims)}] needs {count * size} bytes but its " +
                    $"external data entry in '{location}' has {len}: the data file does not match the model.");
            }

            total += len;
            if (total > int.MaxValue)
            {
                throw new ModelFormatException(
                    $"{source}: the model with its external data exceeds 2 GB, more than one ONNX protobuf can hold; " +
                    "models this large are not supported by attention exposure.");
            }

            byte[] data = new byte[len];
            using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read))
            {
                stream.Seek(offset, SeekOrigin.Begin);
                stream.ReadExactly(data);
            }

            t.RawData = UnsafeByteOperations.UnsafeWrap(data);
            t.ExternalData.Clear();
            t.DataLocation = TensorProto.Types.DataLocation.Default;
            model.ReplaceInitializer(index, t);
        }
    }

    private static long ParseExternalNumber(string text, string key, string tensor, string source) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value)
            ? value
            : throw new ModelFormatException($"{source}: tensor '{tensor}' has external data {key} '{text}', which is not a non-negative integer.");

    private sealed record Candidate(
        NodeProto Softmax, int NodeIndex, long? Axis, string Raw, string? AfterReshape, string ValueInput,
        string? DequantScale, string? DequantZeroPoint);

    private sealed record Accepted(Candidate Candidate, string ExposeName, int ElemType, int Heads, int Tokens, int HeadDim);

    private sealed record ProbedTensor(long[] Shape, TensorElementType Type);

    private static bool IsSoftmax(NodeProto n) =>
        (n.OpType == "Softmax" && n.Domain is "" or "ai.onnx") || (n.OpType == "QLinearSoftmax" && n.Domain == "com.microsoft");

    private static List<Candidate> FindCandidates(
        GraphProto graph, Dictionary<string, List<(NodeProto Node, int Index)>> consumers, HashSet<string> initializers, long opset)
    {
        var found = new List<Candidate>();
        for (int i = 0; i < graph.Node.Count; i++)
        {
            NodeProto node = graph.Node[i];
            if (!IsSoftmax(node) || node.Output.Count == 0 || node.Output[0].Length == 0)
            {
                continue;
            }

            AttributeProto? axisAttribute = node.Attribute.FirstOrDefault(a => a.Name == "axis");
            long? axis = axisAttribute?.I;
            bool quantized = node.OpType == "QLinearSoftmax";
            if (quantized)
            {
                axis ??= -1;
            }
            else if (axis is null && opset >= 13)
            {
                axis = -1;
            }

            // Walk forward through pass-through nodes to the first MatMul-like consumer that takes it as input A.
            var queue = new Queue<(string Name, string? AfterReshape, int Steps)>();
            queue.Enqueue((node.Output[0], null, 0));
            Candidate? candidate = null;
            while (candidate is null && queue.Count > 0)
            {
                (string name, string? afterReshape, int steps) = queue.Dequeue();
                if (!consumers.TryGetValue(name, out var uses))
                {
                    continue;
                }

                foreach ((NodeProto use, int index) in uses)
                {
                    string? valueInput = MatMulValueInput(use, index);
                    if (valueInput is not null && !initializers.Contains(valueInput))
                    {
                        candidate = new Candidate(node, i, axis, node.Output[0], afterReshape, valueInput,
                            quantized && node.Input.Count > 3 ? node.Input[3] : null,
                            quantized && node.Input.Count > 4 ? node.Input[4] : null);
                        break;
                    }

                    if (steps < MaxPassThrough && index == 0 && use.Output.Count > 0 && use.Output[0].Length > 0
                        && use.Domain is "" or "ai.onnx")
                    {
                        switch (use.OpType)
                        {
                            case "Identity" or "Dropout" or "Cast" or "QuantizeLinear" or "DequantizeLinear" or "DynamicQuantizeLinear":
                                queue.Enqueue((use.Output[0], afterReshape, steps + 1));
                                break;
                            case "Reshape" when afterReshape is null:
                                queue.Enqueue((use.Output[0], use.Output[0], steps + 1));
                                break;
                            default:
                                break;
                        }
                    }
                }
            }

            if (candidate is not null)
            {
                found.Add(candidate);
            }
        }

        return found;
    }

    // The operand that multiplies the probabilities (V) when the probabilities are input A of this node, else null.
    private static string? MatMulValueInput(NodeProto node, int index)
    {
        if (index != 0)
        {
            return null;
        }

        int valueIndex = (node.Domain, node.OpType) switch
        {
            ("" or "ai.onnx", "MatMul") => 1,
            ("" or "ai.onnx", "MatMulInteger") => 1,
            ("" or "ai.onnx", "QLinearMatMul") => 3,
            ("com.microsoft", "MatMulIntegerToFloat") => 1,
            _ => -1,
        };
        return valueIndex >= 0 && node.Input.Count > valueIndex && node.Input[valueIndex].Length > 0 ? node.Input[valueIndex] : null;
    }

    private static Dictionary<string, ProbedTensor> Probe(
        OnnxModelBytes model, ImageInput input, List<Candidate> candidates, List<ValueInfoProto> originalOutputs, string source)
    {
        // The probe input is sized by dimensions the graph declares: check them in 64-bit before allocating.
        long probeValues = (long)input.ProbeBatch * input.Channels * input.Height * input.Width;
        if (input.ProbeBatch <= 0 || input.Channels <= 0 || input.Height <= 0 || input.Width <= 0 || probeValues > MaxProbeValues)
        {
            throw new ModelFormatException(
                $"{source}: the graph declares an input of {input.ProbeBatch}×{input.Channels}×{input.Height}×{input.Width} values, " +
                $"outside what a ViT image input can be (1 to {MaxProbeValues} values); check the export's input shape, or pass " +
                "ExposeOptions.ImageHeight/ImageWidth for a graph with a symbolic size.");
        }

        GraphProto graph = model.Graph;
        var names = new List<string>(originalOutputs.Select(o => o.Name));
        var seen = new HashSet<string>(names, StringComparer.Ordinal);
        foreach (Candidate c in candidates)
        {
            foreach (string? name in new[] { c.Raw, c.AfterReshape, c.ValueInput })
            {
                if (name is not null && name != input.Name && seen.Add(name))
                {
                    names.Add(name);
                    graph.Output.Add(new ValueInfoProto { Name = name });
                }
            }
        }

        byte[] probeBytes;
        try
        {
            probeBytes = Serialize(model, source);
        }
        finally
        {
            graph.Output.Clear();
            graph.Output.AddRange(originalOutputs);
        }

        using var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC, // keeps every requested output; cuts session setup
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        InferenceSession session;
        try
        {
            session = new InferenceSession(probeBytes, sessionOptions);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new ModelFormatException(
                $"{source}: ONNX Runtime cannot load the model ({ex.Message}). The file may be truncated, or use operators " +
                "this ONNX Runtime version does not have; export it again with a standard opset.", ex);
        }

        using (session)
        {
            long[] shape = [input.ProbeBatch, input.Channels, input.Height, input.Width]; // [batch, channels, height, width]
            var pixels = new float[probeValues];
            var random = new Random(ProbeSeed);
            for (int i = 0; i < pixels.Length; i++)
            {
                pixels[i] = (float)(random.NextDouble() * 2 - 1);
            }

            using OrtValue value = OrtValue.CreateTensorValueFromMemory(pixels, shape);
            using var runOptions = new RunOptions();
            IDisposableReadOnlyCollection<OrtValue> results;
            try
            {
                results = session.Run(runOptions, [input.Name], [value], names);
            }
            catch (OnnxRuntimeException ex)
            {
                throw new ModelFormatException(
                    $"{source}: ONNX Runtime could not run the model on a {string.Join("×", shape)} input ({ex.Message}). " +
                    "If the input size is wrong, put the model's config.json beside the file or set ExposeOptions.ImageHeight/ImageWidth.", ex);
            }

            using (results)
            {
                var probed = new Dictionary<string, ProbedTensor>(StringComparer.Ordinal);
                for (int i = 0; i < names.Count; i++)
                {
                    OrtValue r = results[i];
                    if (r.OnnxType == OnnxValueType.ONNX_TYPE_TENSOR)
                    {
                        OrtTensorTypeAndShapeInfo info = r.GetTensorTypeAndShape();
                        probed[names[i]] = new ProbedTensor(info.Shape, info.ElementDataType);
                    }
                }

                return probed;
            }
        }
    }

    private static string Shape(long[] shape) => "[" + string.Join(", ", shape) + "]";

    private static bool Check(Candidate c, Dictionary<string, ProbedTensor> probed, int batch, long opset, out Accepted? ok, out string? reason)
    {
        ok = null;
        string name = $"softmax '{c.Softmax.Name}'";
        if (!probed.TryGetValue(c.Raw, out ProbedTensor? raw))
        {
            reason = $"{name}: its output is not a tensor";
            return false;
        }

        int rank = raw.Shape.Length;
        long axis = c.Axis ?? 1;
        long normalised = axis < 0 ? axis + rank : axis;
        if (normalised != rank - 1)
        {
            reason = c.Axis is null
                ? $"{name} uses opset {opset}'s default axis 1 on a rank-{rank} input, which normalises over all axes after the first, not over keys"
                : $"{name} normalises over axis {axis} of a rank-{rank} tensor, not the last axis";
            return false;
        }

        string exposeName = c.Raw;
        ProbedTensor exposed = raw;
        if (rank != 4)
        {
            if (rank == 2 && c.AfterReshape is not null && probed.TryGetValue(c.AfterReshape, out ProbedTensor? reshaped)
                && reshaped.Shape.Length == 4 && reshaped.Shape[3] == raw.Shape[1] && c.DequantScale is null)
            {
                exposeName = c.AfterReshape;
                exposed = reshaped;
            }
            else
            {
                reason = $"{name}: its output {Shape(raw.Shape)} is not [batch, heads, tokens, tokens]";
                return false;
            }
        }

        long[] s = exposed.Shape;
        if (s[0] != batch)
        {
            reason = $"{name}: its first dimension {s[0]} is not the batch ({batch}): {WindowedReason}";
            return false;
        }

        if (s[2] != s[3] || s[1] <= 0 || s[2] <= 0)
        {
            reason = $"{name}: its output {Shape(s)} has last two dimensions that differ, so it is not self-attention over tokens";
            return false;
        }

        if (!probed.TryGetValue(c.ValueInput, out ProbedTensor? v) || v.Shape.Length != 4 || v.Shape[0] != s[0]
            || v.Shape[1] != s[1] || v.Shape[2] != s[3] || v.Shape[3] <= 0)
        {
            string vShape = v is null ? "unknown" : Shape(v.Shape);
            reason = $"{name}: the MatMul's other operand '{c.ValueInput}' is {vShape}, not [batch, heads, tokens, head_dim] for probabilities {Shape(s)}";
            return false;
        }

        int elemType;
        if (c.DequantScale is not null)
        {
            elemType = (int)TensorProto.Types.DataType.Uint8;
        }
        else
        {
            elemType = exposed.Type switch
            {
                TensorElementType.Float => (int)TensorProto.Types.DataType.Float,
                TensorElementType.Float16 => (int)TensorProto.Types.DataType.Float16,
                TensorElementType.BFloat16 => (int)TensorProto.Types.DataType.Bfloat16,
                TensorElementType.Double => (int)TensorProto.Types.DataType.Double,
                _ => 0,
            };
            if (elemType == 0)
            {
                reason = $"{name}: its output has element type {exposed.Type}, not a floating-point type";
                return false;
            }
        }

        if (s[1] > int.MaxValue || s[2] > int.MaxValue || v.Shape[3] > int.MaxValue)
        {
            reason = $"{name}: its output {Shape(s)} is too large";
            return false;
        }

        ok = new Accepted(c, exposeName, elemType, (int)s[1], (int)s[2], (int)v.Shape[3]);
        reason = null;
        return true;
    }

    // Longest path from the graph inputs, by Kahn's algorithm (iterative: no recursion on deep graphs).
    private static int[] Depths(GraphProto graph, Dictionary<string, int> producer, string source)
    {
        int n = graph.Node.Count;
        var successors = new List<int>[n];
        var indegree = new int[n];
        for (int i = 0; i < n; i++)
        {
            successors[i] = [];
        }

        for (int i = 0; i < n; i++)
        {
            var preds = new HashSet<int>();
            foreach (string inputName in graph.Node[i].Input)
            {
                if (inputName.Length > 0 && producer.TryGetValue(inputName, out int p) && p != i)
                {
                    preds.Add(p);
                }
            }

            foreach (int p in preds)
            {
                successors[p].Add(i);
            }

            indegree[i] = preds.Count;
        }

        var depth = new int[n];
        var ready = new Queue<int>(Enumerable.Range(0, n).Where(i => indegree[i] == 0));
        int done = 0;
        while (ready.Count > 0)
        {
            int i = ready.Dequeue();
            done++;
            foreach (int j in successors[i])
            {
                depth[j] = Math.Max(depth[j], depth[i] + 1);
                if (--indegree[j] == 0)
                {
                    ready.Enqueue(j);
                }
            }
        }

        if (done != n)
        {
            throw new ModelFormatException($"{source}: the graph has a cycle; it is not a valid ONNX model. Export it again.");
        }

        return depth;
    }

    private static (string? Name, int Classes, int ElemType) FindLogits(
        GraphProto graph, HashSet<string> initializers, List<ValueInfoProto> outputs, Dictionary<string, ProbedTensor> probed, int batch, string source)
    {
        static bool IsLogitsShape(ProbedTensor? t, int batch) => t is not null && t.Shape.Length == 2 && t.Shape[0] == batch && t.Shape[1] > 0;

        ValueInfoProto? named = outputs.FirstOrDefault(o => o.Name == PreparedModel.LogitsOutput);
        List<ValueInfoProto> matches;
        if (named is not null)
        {
            probed.TryGetValue(named.Name, out ProbedTensor? t);
            if (!IsLogitsShape(t, batch))
            {
                throw new ModelFormatException(
                    $"{source}: output 'logits' has shape {(t is null ? "unknown" : Shape(t.Shape))}, not [batch, classes]; " +
                    "export the model for image classification (optimum-cli export onnx --task image-classification).");
            }

            matches = [named];
        }
        else
        {
            matches = [.. outputs.Where(o => probed.TryGetValue(o.Name, out ProbedTensor? t) && IsLogitsShape(t, batch)
                && !o.Name.Contains("pooler", StringComparison.OrdinalIgnoreCase)
                && !o.Name.Contains("embed", StringComparison.OrdinalIgnoreCase))];
        }

        if (matches.Count == 0 && named is null)
        {
            return (null, 0, 0); // a backbone without a classifier (DINO, ViTModel): attention outputs only
        }

        if (matches.Count != 1)
        {
            string all = string.Join(", ", outputs.Select(o => probed.TryGetValue(o.Name, out ProbedTensor? t) ? $"{o.Name} {Shape(t.Shape)}" : o.Name));
            throw new ModelFormatException(
                $"{source}: cannot tell which output holds the class logits ({(matches.Count == 0 ? "none" : "several")} of " +
                $"the outputs {all} is [batch, classes]). The library needs an image-classification export: " +
                "`optimum-cli export onnx --model <model id> --task image-classification <output folder>`.");
        }

        ProbedTensor logits = probed[matches[0].Name];
        int elemType = logits.Type switch
        {
            TensorElementType.Float => (int)TensorProto.Types.DataType.Float,
            TensorElementType.Float16 => (int)TensorProto.Types.DataType.Float16,
            TensorElementType.BFloat16 => (int)TensorProto.Types.DataType.Bfloat16,
            TensorElementType.Double => (int)TensorProto.Types.DataType.Double,
            _ => 0,
        };
        if (elemType == 0 || logits.Shape[1] > 1 << 20)
        {
            throw new ModelFormatException(
                $"{source}: output '{matches[0].Name}' is {logits.Type} {Shape(logits.Shape)}; the library reads float32 " +
                "logits with at most 2^20 classes. Use the float32 export.");
        }

        string name = matches[0].Name;
        if (name == PreparedModel.LogitsOutput && elemType != (int)TensorProto.Types.DataType.Float)
        {
            // A float16 'logits': keep it under another name and add a float32 'logits' cast from it.
            name = RenameValue(graph, initializers, name, name + "_" + ((TensorProto.Types.DataType)elemType).ToString().ToLowerInvariant());
        }

        return (name, (int)logits.Shape[1], elemType);
    }

    private static ValueInfoProto FloatOutput(string name, params TensorShapeProto.Types.Dimension[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims);
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    private static TensorShapeProto.Types.Dimension Fixed(long value) => new() { DimValue = value };

    private static TensorShapeProto.Types.Dimension Symbolic(string name) => new() { DimParam = name };

    // Node that turns the exposed tensor into float32 under the output name.
    private static NodeProto ToFloat(string from, string to, int elemType, Candidate? quantized, HashSet<string> nodeNames)
    {
        string nodeName = "VitAttention/" + to;
        for (int k = 1; !nodeNames.Add(nodeName); k++)
        {
            nodeName = "VitAttention/" + to + "_" + k.ToString(CultureInfo.InvariantCulture);
        }

        var node = new NodeProto { Name = nodeName, Input = { from }, Output = { to } };
        if (quantized?.DequantScale is not null)
        {
            node.OpType = "DequantizeLinear";
            node.Input.Add(quantized.DequantScale);
            if (quantized.DequantZeroPoint is { Length: > 0 })
            {
                node.Input.Add(quantized.DequantZeroPoint);
            }
        }
        else if (elemType == (int)TensorProto.Types.DataType.Float)
        {
            node.OpType = "Identity";
        }
        else
        {
            node.OpType = "Cast";
            node.Attribute.Add(new AttributeProto
            {
                Name = "to",
                Type = AttributeProto.Types.AttributeType.Int,
                I = (long)TensorProto.Types.DataType.Float,
            });
        }

        return node;
    }

    // Appends the exposing nodes (after every producer, so the node list stays topologically sorted) and the outputs.
    // Returns true when the graph already had exactly these outputs.
    private static bool AddOutputs(
        GraphProto graph, HashSet<string> initializers, ImageInput input, List<Accepted> layers, string? logitsSource, int classes, int logitsType, string source)
    {
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        var values = new HashSet<string>(StringComparer.Ordinal);
        foreach (NodeProto node in graph.Node)
        {
            foreach (string o in node.Output)
            {
                producers[o] = node;
                values.Add(o);
            }
        }

        values.UnionWith(graph.Input.Select(i => i.Name));
        values.UnionWith(initializers);
        var outputNames = new HashSet<string>(graph.Output.Select(o => o.Name), StringComparer.Ordinal);

        bool already = true;
        for (int l = 0; l < layers.Count; l++)
        {
            string name = PreparedModel.AttentionOutput(l);
            // Already an output: the exposed tensor itself (a graph built with its Softmax output named so), or a
            // conversion of it that an earlier exposure added.
            bool exposedBefore = outputNames.Contains(name)
                && (name == layers[l].ExposeName
                    || (producers.TryGetValue(name, out NodeProto? p) && p.OpType is "Identity" or "Cast" or "DequantizeLinear"
                        && p.Input.Count > 0 && p.Input[0] == layers[l].ExposeName));
            if (!exposedBefore)
            {
                already = false;
                if (values.Contains(name))
                {
                    throw new ModelFormatException(
                        $"{source}: the graph already has a value named '{name}' that is not layer {l}'s attention; " +
                        "it cannot take the attention outputs. Was it prepared for another model?");
                }
            }
        }

        if (already && logitsSource is null or PreparedModel.LogitsOutput)
        {
            return true;
        }

        var nodeNames = new HashSet<string>(graph.Node.Select(n => n.Name), StringComparer.Ordinal);
        var batch = input.BatchDim.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.None
            ? Symbolic("batch")
            : input.BatchDim;
        bool staticSize = input.StaticHeight is not null && input.StaticWidth is not null;
        for (int l = 0; l < layers.Count && !already; l++)
        {
            Accepted a = layers[l];
            string name = PreparedModel.AttentionOutput(l);
            graph.Node.Add(ToFloat(a.ExposeName, name, a.ElemType, a.Candidate, nodeNames));
            graph.Output.Add(FloatOutput(name, batch.Clone(), Fixed(a.Heads),
                staticSize ? Fixed(a.Tokens) : Symbolic("tokens"), staticSize ? Fixed(a.Tokens) : Symbolic("tokens")));
        }

        if (logitsSource is not null and not PreparedModel.LogitsOutput)
        {
            if (values.Contains(PreparedModel.LogitsOutput))
            {
                throw new ModelFormatException(
                    $"{source}: the graph has a value named 'logits' that is not its [batch, classes] output '{logitsSource}'; rename it.");
            }

            graph.Node.Add(ToFloat(logitsSource, PreparedModel.LogitsOutput, logitsType, null, nodeNames));
            graph.Output.Add(FloatOutput(PreparedModel.LogitsOutput, batch.Clone(), Fixed(classes)));
        }

        return already;
    }

    private static int? FindPatchSize(GraphProto graph, string inputName)
    {
        // The image, or its float16 cast (see ConvertFloat16Input).
        var image = new HashSet<string>(StringComparer.Ordinal) { inputName };
        image.UnionWith(graph.Node.Where(n => n.OpType == "Cast" && n.Input.Count == 1 && n.Input[0] == inputName).Select(n => n.Output[0]));
        foreach (NodeProto node in graph.Node)
        {
            if (node.OpType != "Conv" || node.Input.Count == 0 || !image.Contains(node.Input[0]))
            {
                continue;
            }

            var kernel = node.Attribute.FirstOrDefault(a => a.Name == "kernel_shape")?.Ints;
            var strides = node.Attribute.FirstOrDefault(a => a.Name == "strides")?.Ints;
            if (kernel is { Count: 2 } && strides is { Count: 2 } && kernel[0] == kernel[1] && strides[0] == kernel[0]
                && strides[1] == kernel[1] && kernel[0] is > 0 and <= 8192)
            {
                return (int)kernel[0];
            }
        }

        return null;
    }
}
