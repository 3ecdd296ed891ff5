using Google.Protobuf;
using Onnx;

namespace VitAttention.Onnx;


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
internal static class AttentionExposer
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

    private const int MaxReasons = 6;

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
        OnnxImageInput input = ImageInputFinder.Find(graph, initializers, options, source);
        IReadOnlyList<string> externalFiles = ExternalData.Inline(model, options.ExternalDataFolder, source, onnx.LongLength);

        var (consumers, producer) = GraphTopology.Links(graph);

        List<SoftmaxCandidate> candidates = SoftmaxSearch.FindCandidates(graph, consumers, initializers, opset);
        if (candidates.Count == 0)
        {
            int softmaxes = graph.Node.Count(n => SoftmaxSearch.IsSoftmax(n));
            throw new ModelFormatException(
                $"{source}: no attention softmax found: not a ViT, or attention was fused. The graph has {graph.Node.Count} " +
                $"nodes and {softmaxes} Softmax node(s), none of whose output feeds a MatMul as attention probabilities do. " +
                "If this is a Vision Transformer whose attention was fused: " + UnfusedExportAdvice);
        }

        // Run the graph once with every candidate tensor as an extra output to learn the shapes.
        var originalOutputs = graph.Output.ToList();
        Dictionary<string, ProbedTensor> probed = ProbeRun.Run(model, input, candidates, originalOutputs, source);

        var reasons = new List<string>();
        var accepted = new List<AttentionSoftmax>();
        foreach (SoftmaxCandidate c in candidates)
        {
            if (SoftmaxSearch.Check(c, probed, input.ProbeBatch, opset, out AttentionSoftmax? ok, out string? reason))
            {
                accepted.Add(ok!);
            }
            else
            {
                reasons.Add(reason!);
            }
        }

        string? windowed = reasons.FirstOrDefault(r => r.Contains(SoftmaxSearch.WindowedReason, StringComparison.Ordinal));
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

        int[] depth = GraphTopology.Depths(graph, producer, source);
        accepted = [.. accepted.OrderBy(a => depth[a.Candidate.NodeIndex]).ThenBy(a => a.Candidate.NodeIndex)];
        AttentionSoftmax first = accepted[0];
        foreach (AttentionSoftmax a in accepted)
        {
            if (a.Heads != first.Heads || a.Tokens != first.Tokens)
            {
                throw new ModelFormatException(
                    $"{source}: the attention layers have different shapes (softmax '{first.Candidate.Softmax.Name}' is " +
                    $"[batch, {first.Heads}, {first.Tokens}, {first.Tokens}], '{a.Candidate.Softmax.Name}' is [batch, {a.Heads}, " +
                    $"{a.Tokens}, {a.Tokens}]): only plain ViTs with one attention shape in every layer are supported.");
            }
        }

        (string? logitsSource, int classes, int logitsType) = AttentionOutputs.FindLogits(graph, initializers, originalOutputs, probed, input.ProbeBatch, source);
        bool already = AttentionOutputs.Add(graph, initializers, input, accepted, logitsSource, classes, logitsType, source);

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
            PatchSize = AttentionOutputs.FindPatchSize(graph, input.Name),
            LogitsSource = logitsSource,
            AttentionSources = [.. accepted.Select(a => a.ExposeName)],
            AlreadyExposed = already,
            ExternalFiles = externalFiles,
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

    internal static byte[] Serialize(OnnxModelBytes model, string source)
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
}
