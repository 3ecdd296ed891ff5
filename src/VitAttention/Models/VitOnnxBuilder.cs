using System.Globalization;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using VitAttention.Loading;

namespace VitAttention.Models;

/// <summary>
/// Builds an ONNX graph of a ViT from its weights whose outputs include every layer's attention probabilities, so
/// that no export from Python is needed.
/// </summary>
/// <remarks>
/// <para>
/// The graph (opset 17, IR version 8) takes <c>pixel_values</c> float32 <c>[batch, channels, height, width]</c> with a
/// symbolic batch dimension and outputs <c>logits</c> <c>[batch, classes]</c> (absent when the model has no classifier,
/// <see cref="VitConfig.NumClasses"/> 0, e.g. DINO) and <c>attentions.0</c> … <c>attentions.{L−1}</c>
/// <c>[batch, heads, tokens, tokens]</c>: the output of a plain <c>Softmax</c> over the last axis of Q·Kᵀ/√d, so the
/// probabilities are exactly those the network uses.
/// </para>
/// <para>
/// Blocks are pre-LayerNorm (<c>x += γ₁·Attn(LN1(x)); x += γ₂·MLP(LN2(x))</c>, γ the optional LayerScale, folded into
/// the output projections) with the <c>LayerNormalization</c> op and the config's epsilon; the MLP's activation is exact
/// GELU <c>0.5·x·(1 + erf(x/√2))</c>, QuickGELU <c>x·sigmoid(1.702·x)</c> or tanh-GELU (<see cref="VitConfig.Activation"/>);
/// an optional LayerNorm follows the embedding (<see cref="VitConfig.PreNorm"/>); BEiT's relative position bias is
/// added to <c>Q·Kᵀ/√d</c> before the softmax, so the exposed probabilities are still the softmax output. The
/// embedding adds the patches' position rows (interpolated to the input grid when the checkpoint was trained on
/// another) before the prefix tokens, whose own position rows are folded into them: this covers timm's
/// <c>no_embed_class</c> and transformers' registers-after-positions orders. A final LayerNorm and the classifier read
/// the pooled sequence (<see cref="VitConfig.Pooling"/>). Every dimension comes from the config; weights are initializers.
/// </para>
/// </remarks>
internal static class VitOnnxBuilder
{
    /// <summary>Name of the image input of the graphs this class builds.</summary>
    public const string InputName = "pixel_values";

    /// <summary>ONNX operator set the graphs use (17: the first with <c>LayerNormalization</c>).</summary>
    public const int OpsetVersion = 17;

    /// <summary>ONNX IR version written (8, read by every ONNX Runtime since 1.10).</summary>
    public const long IrVersion = 8;

    /// <summary>Bumped whenever the graph layout changes, so old caches are rebuilt.</summary>
    internal const int GraphFormatVersion = 2;

    private const long MaxParameters = 500_000_000; // 2 GB protobuf limit, less room for the graph

    /// <summary>Builds the serialised ONNX ModelProto of the ViT described by <paramref name="config"/> and <paramref name="weights"/>.</summary>
    /// <param name="config">The dimensions and layout.</param>
    /// <param name="weights">Weights matching <paramref name="config"/>.</param>
    /// <param name="includeAttentions">
    /// Whether the attention probabilities are graph outputs (the default). False builds the same network with
    /// <c>logits</c> only, for comparison.
    /// </param>
    /// <returns>The ONNX bytes, ready for <c>InferenceSession</c> or a file.</returns>
    /// <exception cref="ModelFormatException">The config is inconsistent.</exception>
    /// <exception cref="ArgumentException">The weights do not match the config, or there would be no output at all.</exception>
    public static byte[] Build(VitConfig config, VitWeights weights, bool includeAttentions = true) =>
        BuildModel(config, weights, includeAttentions, metadata: null).ToByteArray();

    internal static ModelProto BuildModel(VitConfig config, VitWeights weights, bool includeAttentions, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        config.ValidateLayout("VitConfig");
        weights.CheckAgainst(config);
        if (weights.ParameterCount > MaxParameters)
        {
            throw new ArgumentException(
                $"The model has {weights.ParameterCount} parameters; a single ONNX file holds at most {MaxParameters} float32 values (protobuf's 2 GB limit) and external data is not supported.", nameof(weights));
        }

        if (!includeAttentions && config.NumClasses == 0)
        {
            throw new ArgumentException("A model without a classifier has no logits; building it without attention outputs would leave no output.", nameof(includeAttentions));
        }

        var g = new GraphWriter();
        int d = config.HiddenSize;
        int heads = config.NumHeads;
        int hd = config.HeadDim;
        int p = config.PatchSize;
        float eps = (float)config.LayerNormEps;

        g.Input(InputName, config.Channels, config.ImageHeight, config.ImageWidth);

        // Patch embedding: conv with kernel = stride = patch → [B, D, gh, gw] → [B, D, N] → [B, N, D] (row-major patches).
        string[] convInputs = weights.PatchBias is { } patchBias
            ? [InputName, g.Init("patch_embed.weight", weights.PatchWeight, d, config.Channels, p, p), g.Init("patch_embed.bias", patchBias, d)]
            : [InputName, g.Init("patch_embed.weight", weights.PatchWeight, d, config.Channels, p, p)];
        string conv = g.Node("Conv", convInputs, GraphWriter.Ints("kernel_shape", p, p), GraphWriter.Ints("strides", p, p));
        string x = g.Node("Transpose", [g.Node("Reshape", [conv, g.InitInt64("shape_b_d_n", 0, d, -1)])], GraphWriter.Ints("perm", 0, 2, 1));

        // The patches' position rows (resized to this grid when the checkpoint was trained on another) are added before
        // the prefix is prepended; the prefix tokens' own position rows are folded into their initializer. Both orders
        // of the reference code (timm's no_embed_class, transformers' registers after the position) are this sum.
        if (EmbeddingTables.PatchPositions(config, weights) is { } patchPositions)
        {
            x = g.Node("Add", [x, g.Init("pos_embed", patchPositions, 1, config.Patches, d)]);
        }

        if (config.PrefixTokens > 0)
        {
            // [cls, dist, registers…] as one [1, P, D] initializer, expanded to the batch and put before the patches.
            string batch = g.Node("Shape", [InputName], GraphWriter.Int("start", 0), GraphWriter.Int("end", 1));
            string shape = g.Node("Concat", [batch, g.InitInt64("shape_p_d", config.PrefixTokens, d)], GraphWriter.Int("axis", 0));
            string tokens = g.Node("Expand", [g.Init("prefix_tokens", EmbeddingTables.Prefix(config, weights), 1, config.PrefixTokens, d), shape]);
            x = g.Node("Concat", [tokens, x], GraphWriter.Int("axis", 1));
        }

        if (config.PreNorm)
        {
            x = g.LayerNorm(x, g.Init("norm_pre.weight", weights.PreNormWeight!, d), g.Init("norm_pre.bias", weights.PreNormBias!, d), eps);
        }

        // [B, T, D] from here on.
        string qkvShape = g.InitInt64("shape_qkv", 0, 0, 3, heads, hd);
        string mergeShape = g.InitInt64("shape_b_t_d", 0, 0, d);
        string scale = g.Scalar("attn_scale", (float)(1.0 / Math.Sqrt(hd)));
        string sqrt2 = g.Scalar("sqrt2", (float)Math.Sqrt(2.0));
        string one = g.Scalar("one", 1f);
        string half = g.Scalar("half", 0.5f);
        string[] index = [g.ScalarInt64("index0", 0), g.ScalarInt64("index1", 1), g.ScalarInt64("index2", 2)];
        string? sharedBias = config.RelativePositionBias == RelativePositionBiasKind.Shared
            ? RelativeBias(g, config, "rel_pos", weights.SharedRelativePositionBiasTable!)
            : null;
        var attentionOutputs = new List<string>();
        for (int l = 0; l < config.NumLayers; l++)
        {
            var w = weights.Layers[l];
            string n = $"blocks.{l}.";
            string h = g.LayerNorm(x, g.Init(n + "norm1.weight", w.Norm1Weight, d), g.Init(n + "norm1.bias", w.Norm1Bias, d), eps);
            string qkv = g.Linear(h, n + "attn.qkv", w.QkvWeight, w.QkvBias, 3 * d, d);
            // [B, T, 3D] → [B, T, 3, H, hd] → [3, B, H, T, hd]; rows of the fused weight are q, then k, then v.
            string split = g.Node("Transpose", [g.Node("Reshape", [qkv, qkvShape])], GraphWriter.Ints("perm", 2, 0, 3, 1, 4));
            string q = g.Node("Gather", [split, index[0]], GraphWriter.Int("axis", 0));
            string k = g.Node("Gather", [split, index[1]], GraphWriter.Int("axis", 0));
            string v = g.Node("Gather", [split, index[2]], GraphWriter.Int("axis", 0));
            string kt = g.Node("Transpose", [k], GraphWriter.Ints("perm", 0, 1, 3, 2));
            string scores = g.Node("Mul", [g.Node("MatMul", [q, kt]), scale]); // [B, H, T, T] = Q·Kᵀ/√d
            string? bias = config.RelativePositionBias == RelativePositionBiasKind.PerLayer
                ? RelativeBias(g, config, n + "attn.rel_pos", w.RelativePositionBiasTable!)
                : sharedBias;
            if (bias is not null)
            {
                scores = g.Node("Add", [scores, bias]); // + B[h, q, k] before the softmax, as BEiT does
            }

            string probs = includeAttentions ? PreparedModel.AttentionOutput(l) : g.Fresh("attn_probs");
            g.Node("Softmax", [scores], probs, GraphWriter.Int("axis", -1));
            if (includeAttentions)
            {
                attentionOutputs.Add(probs);
            }

            string context = g.Node("MatMul", [probs, v]); // [B, H, T, hd]
            string merged = g.Node("Reshape", [g.Node("Transpose", [context], GraphWriter.Ints("perm", 0, 2, 1, 3)), mergeShape]); // [B, T, D]
            // LayerScale γ·(W·x + b) is folded into the projection: (γ⊙W)·x + γ⊙b.
            var (projW, projB) = Scaled(w.ProjWeight, w.ProjBias, w.LayerScale1, d, d);
            x = g.Node("Add", [x, g.Linear(merged, n + "attn.proj", projW, projB, d, d)]);

            string h2 = g.LayerNorm(x, g.Init(n + "norm2.weight", w.Norm2Weight, d), g.Init(n + "norm2.bias", w.Norm2Bias, d), eps);
            string fc1 = g.Linear(h2, n + "mlp.fc1", w.Fc1Weight, w.Fc1Bias, config.IntermediateSize, d);
            string act = config.Activation switch
            {
                // Exact GELU, written as torch.onnx exports it so that ORT can fuse it: x · (erf(x/√2) + 1) · 0.5.
                VitActivation.Gelu => g.Node("Mul", [g.Node("Mul", [fc1, g.Node("Add", [g.Node("Erf", [g.Node("Div", [fc1, sqrt2])]), one])]), half]),
                // QuickGELU: x · sigmoid(1.702 · x).
                VitActivation.QuickGelu => g.Node("Mul", [fc1, g.Node("Sigmoid", [g.Node("Mul", [fc1, g.Scalar(g.Fresh("quick_gelu_k"), 1.702f)])])]),
                // tanh GELU: 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))).
                _ => TanhGelu(g, fc1, one, half),
            };
            var (fc2W, fc2B) = Scaled(w.Fc2Weight, w.Fc2Bias, w.LayerScale2, d, config.IntermediateSize);
            x = g.Node("Add", [x, g.Linear(act, n + "mlp.fc2", fc2W, fc2B, d, config.IntermediateSize)]);
        }

        if (config.NumClasses > 0)
        {
            string normW = g.Init("norm.weight", weights.FinalNormWeight, d);
            string normB = g.Init("norm.bias", weights.FinalNormBias, d);
            string seq = config.NormAfterPooling ? x : g.LayerNorm(x, normW, normB, eps);
            string PatchMean() => g.Node("ReduceMean",
                [g.Node("Slice", [seq, g.InitInt64(g.Fresh("patch_start"), config.PrefixTokens), g.InitInt64(g.Fresh("patch_end"), long.MaxValue), g.InitInt64(g.Fresh("axis1"), 1)])],
                GraphWriter.Ints("axes", 1), GraphWriter.Int("keepdims", 0)); // [B, D] over the tokens after the prefix
            string pooled = config.Pooling switch
            {
                VitPooling.MeanOfPatches => PatchMean(),
                VitPooling.ClassAndPatchMean => g.Node("Concat", [g.Node("Gather", [seq, index[0]], GraphWriter.Int("axis", 1)), PatchMean()], GraphWriter.Int("axis", 1)), // [B, 2D]
                _ => g.Node("Gather", [seq, index[0]], GraphWriter.Int("axis", 1)), // [B, D]
            };
            if (config.NormAfterPooling)
            {
                pooled = g.LayerNorm(pooled, normW, normB, eps);
            }

            int headIn = VitWeights.HeadInputWidth(config);
            string logits = g.Node("Gemm", [pooled, g.Init("head.weight", weights.HeadWeight!, config.NumClasses, headIn), g.Init("head.bias", weights.HeadBias!, config.NumClasses)],
                GraphWriter.Int("transB", 1));
            if (config.Pooling == VitPooling.ClassAndDistillationMean)
            {
                string dist = g.Node("Gather", [seq, index[1]], GraphWriter.Int("axis", 1));
                string distLogits = g.Node("Gemm", [dist, g.Init("head_dist.weight", weights.DistillationHeadWeight!, config.NumClasses, d), g.Init("head_dist.bias", weights.DistillationHeadBias!, config.NumClasses)],
                    GraphWriter.Int("transB", 1));
                logits = g.Node("Mul", [g.Node("Add", [logits, distLogits]), half]);
            }

            g.Node("Identity", [logits], PreparedModel.LogitsOutput);
            g.Output(PreparedModel.LogitsOutput, config.NumClasses);
        }

        foreach (string name in attentionOutputs)
        {
            g.Output(name, heads, config.Tokens, config.Tokens);
        }

        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "VitAttention",
            ProducerVersion = LibraryVersion,
            DocString = $"ViT {config.Family}: {config.NumLayers} layers, {heads} heads, hidden {d}, {config.Tokens} tokens; outputs logits and attentions.{{l}}.",
            Graph = g.Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = OpsetVersion });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "vitattention.graph_format", Value = GraphFormatVersion.ToString(CultureInfo.InvariantCulture) });
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }

        return model;
    }

    /// <summary>
    /// BEiT's bias <c>B[h, q, k] = table[index[q, k], h]</c> as a graph constant subexpression: the table (resized to
    /// this grid) gathered by the index, <c>[1, heads, T, T]</c>. ORT folds it once when the session is created.
    /// </summary>
    private static string RelativeBias(GraphWriter g, VitConfig config, string name, float[] table)
    {
        float[] resized = EmbeddingTables.RelativeTable(config, table);
        int rows = resized.Length / config.NumHeads, t = config.Tokens;
        string gathered = g.Node("Gather",
            [g.Init(name + ".table", resized, rows, config.NumHeads), g.InitInt64(name + ".index", EmbeddingTables.RelativeIndex(config.GridHeight, config.GridWidth))],
            GraphWriter.Int("axis", 0)); // [T·T, H]
        string perHead = g.Node("Transpose", [gathered], GraphWriter.Ints("perm", 1, 0)); // [H, T·T]
        return g.Node("Reshape", [perHead, g.InitInt64(name + ".shape", 1, config.NumHeads, t, t)]);
    }

    /// <summary>A linear layer's weight and bias with a LayerScale γ folded in (rows scaled), or unchanged when γ is null.</summary>
    private static (float[] Weight, float[]? Bias) Scaled(float[] weight, float[]? bias, float[]? gamma, int outFeatures, int inFeatures)
    {
        if (gamma is null)
        {
            return (weight, bias);
        }

        var w = new float[weight.Length];
        for (int o = 0; o < outFeatures; o++)
        {
            float s = gamma[o];
            for (int i = 0; i < inFeatures; i++)
            {
                w[(o * inFeatures) + i] = weight[(o * inFeatures) + i] * s;
            }
        }

        float[]? b = null;
        if (bias is not null)
        {
            b = new float[bias.Length];
            for (int o = 0; o < outFeatures; o++)
            {
                b[o] = bias[o] * gamma[o];
            }
        }

        return (w, b);
    }

    private static string TanhGelu(GraphWriter g, string x, string one, string half)
    {
        string cube = g.Node("Mul", [g.Node("Mul", [x, x]), x]);
        string inner = g.Node("Add", [x, g.Node("Mul", [cube, g.Scalar(g.Fresh("gelu_c"), 0.044715f)])]);
        string tanh = g.Node("Tanh", [g.Node("Mul", [inner, g.Scalar(g.Fresh("gelu_k"), (float)Math.Sqrt(2.0 / Math.PI))])]);
        return g.Node("Mul", [g.Node("Mul", [x, half]), g.Node("Add", [tanh, one])]);
    }

    /// <summary>The library's informational version (part of the cache key).</summary>
    internal static string LibraryVersion { get; } =
        typeof(VitOnnxBuilder).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion
        ?? typeof(VitOnnxBuilder).Assembly.GetName().Version?.ToString() ?? "0";

    /// <summary>Accumulates nodes, initializers, inputs and outputs of one graph with unique generated names.</summary>
    private sealed class GraphWriter
    {
        private int _next;

        public GraphProto Graph { get; } = new() { Name = "vit_attention" };

        public static AttributeProto Int(string name, long value) =>
            new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

        public static AttributeProto Ints(string name, params long[] values)
        {
            var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
            a.Ints.AddRange(values);
            return a;
        }

        public string Fresh(string hint) => $"{hint}_{_next++}";

        public string Node(string op, string[] inputs, params AttributeProto[] attributes) =>
            Node(op, inputs, Fresh(op.ToLowerInvariant()), attributes);

        public string Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
        {
            var node = new NodeProto { OpType = op, Name = $"{op}_{_next++}" };
            node.Input.AddRange(inputs);
            node.Output.Add(output);
            node.Attribute.AddRange(attributes);
            Graph.Node.Add(node);
            return output;
        }

        public string LayerNorm(string x, string weight, string bias, float eps) =>
            Node("LayerNormalization", [x, weight, bias], Int("axis", -1), new AttributeProto { Name = "epsilon", Type = AttributeProto.Types.AttributeType.Float, F = eps });

        /// <summary>x·Wᵀ + b for a PyTorch [out, in] weight: the weight is stored transposed, [in, out], for MatMul.</summary>
        public string Linear(string x, string name, float[] weight, float[]? bias, int outFeatures, int inFeatures)
        {
            // Blocked transpose straight into the initializer's bytes (one copy; 32×32 tiles keep both sides in cache).
            var bytes = new byte[checked(weight.Length * sizeof(float))];
            Span<float> transposed = MemoryMarshal.Cast<byte, float>(bytes.AsSpan());
            const int Tile = 32;
            for (int o0 = 0; o0 < outFeatures; o0 += Tile)
            {
                for (int i0 = 0; i0 < inFeatures; i0 += Tile)
                {
                    int oEnd = Math.Min(o0 + Tile, outFeatures), iEnd = Math.Min(i0 + Tile, inFeatures);
                    for (int o = o0; o < oEnd; o++)
                    {
                        for (int i = i0; i < iEnd; i++)
                        {
                            transposed[(i * outFeatures) + o] = weight[(o * inFeatures) + i];
                        }
                    }
                }
            }

            var t = new TensorProto { Name = name + ".weight_t", DataType = (int)TensorProto.Types.DataType.Float, RawData = UnsafeByteOperations.UnsafeWrap(bytes) };
            t.Dims.AddRange([inFeatures, outFeatures]);
            Graph.Initializer.Add(t);
            string y = Node("MatMul", [x, t.Name]);
            return bias is null ? y : Node("Add", [y, Init(name + ".bias", bias, outFeatures)]);
        }

        public string Init(string name, float[] data, params long[] dims)
        {
            var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan())) };
            t.Dims.AddRange(dims);
            Graph.Initializer.Add(t);
            return name;
        }

        public string InitInt64(string name, params long[] data)
        {
            var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan())) };
            t.Dims.Add(data.Length);
            Graph.Initializer.Add(t);
            return name;
        }

        public string Scalar(string name, float value)
        {
            Graph.Initializer.Add(new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)) });
            return name;
        }

        public string ScalarInt64(string name, long value)
        {
            Graph.Initializer.Add(new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64, RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)) });
            return name;
        }

        public void Input(string name, params long[] dims) => Graph.Input.Add(Value(name, dims));

        public void Output(string name, params long[] dims) => Graph.Output.Add(Value(name, dims));

        /// <summary>A float32 tensor value [batch, dims…] with a symbolic batch dimension.</summary>
        private static ValueInfoProto Value(string name, long[] dims)
        {
            var shape = new TensorShapeProto();
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
            foreach (long dim in dims)
            {
                shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = dim });
            }

            return new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
            };
        }
    }
}
