using System.Runtime.CompilerServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using VitAttention.Loading;
using VitAttention.Models;
using VitAttention.Onnx.Gradients;

namespace VitAttention.Inference;

/// <summary>One run of a <see cref="GradientSession"/>: the forward outputs and the gradients of each item's target logit.</summary>
internal sealed class GradientOutput
{
    public required int Batch { get; init; }

    public required int Classes { get; init; }

    /// <summary>The target class of each item, <c>[batch]</c>.</summary>
    public required int[] Targets { get; init; }

    /// <summary><c>[batch, classes]</c></summary>
    public required float[] Logits { get; init; }

    /// <summary>Every layer's attention probabilities, <c>[layer, batch, head, query, key]</c>.</summary>
    public required AttentionStack Attentions { get; init; }

    /// <summary>d logit[target] / d attention, laid out as <see cref="Attentions"/>: <c>[layer, batch, head, query, key]</c>.</summary>
    public required float[] AttentionGradients { get; init; }

    /// <summary>Width of the norm1 tensors (hidden size); 0 when the graph has none.</summary>
    public required int Hidden { get; init; }

    /// <summary>The last block's norm1 input (the residual stream), <c>[batch, tokens, hidden]</c>; empty when not found.</summary>
    public required float[] Norm1Input { get; init; }

    /// <summary>d logit[target] / d norm1 input (the whole derivative of that tensor, residual path included), <c>[batch, tokens, hidden]</c>.</summary>
    public required float[] Norm1InputGradient { get; init; }

    /// <summary>The last block's norm1 output (what pytorch-grad-cam's ViT recipe hooks), <c>[batch, tokens, hidden]</c>.</summary>
    public required float[] Norm1Output { get; init; }

    /// <summary>d logit[target] / d norm1 output, <c>[batch, tokens, hidden]</c>.</summary>
    public required float[] Norm1OutputGradient { get; init; }

    /// <summary>One item's slice of a <c>[batch, tokens, hidden]</c> buffer.</summary>
    public ReadOnlySpan<float> Item(float[] tokensByHidden, int item)
    {
        int length = tokensByHidden.Length / Batch;
        return tokensByHidden.AsSpan(item * length, length);
    }
}

/// <summary>
/// Runs a model's gradient graph (<see cref="GradientGraph"/>): one ONNX Runtime run gives the logits, every layer's
/// attention, the gradient of each item's target logit with respect to every attention, and the last block's norm1
/// activations with their gradients. The graph is built once per <see cref="PreparedModel"/> instance and kept while
/// the instance lives; outputs are bound to buffers allocated per run, as <see cref="VitSession"/> does. Thread-safe.
/// The logits-only and attention sessions (<see cref="VitSession"/>) are unchanged and do not pay for the gradients.
/// </summary>
internal sealed class GradientSession : IDisposable
{
    private static readonly ConditionalWeakTable<PreparedModel, GradientGraphResult> s_graphs = [];

    private readonly InferenceSession _session;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly RunGate _gate = new();

    /// <summary>Builds (or reuses) the gradient graph of <paramref name="model"/> and loads it.</summary>
    /// <param name="model">The prepared model.</param>
    /// <param name="options">Device and threads.</param>
    /// <param name="keepGraph">
    /// True (the default) keeps the built graph with the model instance (<see cref="GraphOf"/>) and the session keeps
    /// both; false builds it for this session alone and lets the serialised graph and the model go once ONNX Runtime
    /// holds the session (what an explainer does: it keeps no serialised graph).
    /// </param>
    /// <exception cref="ModelFormatException">The model has no classifier, or an op between the attention and the logits
    /// has no backward rule (the message names it).</exception>
    public GradientSession(PreparedModel model, VitSessionOptions? options = null, bool keepGraph = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = keepGraph ? model : null;
        Source = model.Source;
        Config = model.Config;
        Config.Validate(model.Source);
        Graph = keepGraph ? GraphOf(model) : GradientGraph.Build(model);
        options ??= VitSessionOptions.Default;
        if (options.IntraOpThreads is <= 0)
        {
            throw new ArgumentException($"IntraOpThreads must be positive or null (ONNX Runtime's default), got {options.IntraOpThreads}.", nameof(options));
        }

        var graphModel = new PreparedModel(Config, Graph.Onnx, model.InputName, model.Source);
        (_session, ActualDevice) = VitSession.CreateSession(graphModel, options);
        Hidden = Graph.Norm1Shape is { Length: 3 } s ? (int)s[2] : 0;
        _inputNames = [model.InputName, GradientGraph.TargetInput];
        var outputs = new List<string> { PreparedModel.LogitsOutput };
        for (int l = 0; l < Config.NumLayers; l++)
        {
            outputs.Add(PreparedModel.AttentionOutput(l));
        }

        for (int l = 0; l < Config.NumLayers; l++)
        {
            outputs.Add(GradientGraph.AttentionGradientOutput(l));
        }

        if (Hidden > 0)
        {
            outputs.AddRange([GradientGraph.Norm1InputOutput, GradientGraph.GradNorm1Input, GradientGraph.Norm1OutputOutput, GradientGraph.GradNorm1Output]);
        }

        _outputNames = [.. outputs];
        if (!keepGraph)
        {
            Graph = Graph with { Onnx = [] };
        }
    }

    /// <summary>The model, when the session was made with <c>keepGraph</c>; else null.</summary>
    public PreparedModel? Model { get; }

    /// <summary>Where the model came from, for messages.</summary>
    public string Source { get; }

    public VitConfig Config { get; }

    /// <summary>The gradient graph and what was learned building it.</summary>
    public GradientGraphResult Graph { get; }

    public ExecutionDevice ActualDevice { get; }

    /// <summary>Hidden size of the norm1 outputs; 0 when the norm was not found (no Grad-CAM tensors).</summary>
    public int Hidden { get; }

    /// <summary>The gradient graph of a model, built on first use and kept with the model instance.</summary>
    public static GradientGraphResult GraphOf(PreparedModel model) => s_graphs.GetValue(model, GradientGraph.Build);

    /// <summary>Runs a batch with one target class per item.</summary>
    /// <param name="pixels">The batch, <c>[batch, channels, height, width]</c>.</param>
    /// <param name="batch">Images in <paramref name="pixels"/>.</param>
    /// <param name="targets">The class whose logit is differentiated, one per item (0 ≤ class &lt; classes).</param>
    /// <param name="cancellationToken">Stops the run.</param>
    /// <exception cref="ArgumentException">Sizes disagree, or a target class is out of range (the message names it).</exception>
    public GradientOutput Run(ReadOnlySpan<float> pixels, int batch, ReadOnlySpan<int> targets, CancellationToken cancellationToken = default)
    {
        if (batch < 1)
        {
            throw new ArgumentException($"The batch must hold at least one image, got {batch}.", nameof(batch));
        }

        long inputLength = (long)Config.Channels * Config.ImageHeight * Config.ImageWidth;
        if (pixels.Length != batch * inputLength)
        {
            throw new ArgumentException(
                $"The input holds {pixels.Length} floats; a batch of {batch} images of {Config.Channels}×{Config.ImageHeight}×{Config.ImageWidth} needs {batch * inputLength}.",
                nameof(pixels));
        }

        if (targets.Length != batch)
        {
            throw new ArgumentException($"One target class per image is needed: {batch} images, {targets.Length} targets.", nameof(targets));
        }

        var target = new long[batch];
        for (int i = 0; i < batch; i++)
        {
            if (targets[i] < 0 || targets[i] >= Config.NumClasses)
            {
                throw new ArgumentException(
                    $"Target class {targets[i]} of image {i} is outside the model's classes 0..{Config.NumClasses - 1}.", nameof(targets));
            }

            target[i] = targets[i];
        }

        var shape = new AttentionShape(Config.NumLayers, batch, Config.NumHeads, Config.Tokens);
        if (shape.TotalLength > Array.MaxLength)
        {
            throw new ArgumentException($"A batch of {batch} needs {shape.TotalLength} floats per attention stack, more than one array can hold; run smaller batches.", nameof(batch));
        }

        cancellationToken.ThrowIfCancellationRequested();
        _gate.Enter(this);
        try
        {
            int norm = batch * Config.Tokens * Hidden; // [batch, tokens, hidden]
            var attentions = new float[shape.TotalLength]; // [layer, batch, head, query, key]
            var output = new GradientOutput
            {
                Batch = batch,
                Classes = Config.NumClasses,
                Targets = targets.ToArray(),
                Logits = new float[batch * Config.NumClasses],
                Attentions = new AttentionStack(shape, attentions),
                AttentionGradients = new float[shape.TotalLength],
                Hidden = Hidden,
                Norm1Input = new float[norm],
                Norm1InputGradient = new float[norm],
                Norm1Output = new float[norm],
                Norm1OutputGradient = new float[norm],
            };
            RunGraph(pixels, batch, target, shape, attentions, output, cancellationToken);
            return output;
        }
        finally
        {
            _gate.Leave();
        }
    }

    public void Dispose()
    {
        if (_gate.CloseAndWait())
        {
            _session.Dispose();
        }
    }

    private unsafe void RunGraph(
        ReadOnlySpan<float> pixels, int batch, long[] target, AttentionShape shape, float[] attentions, GradientOutput output, CancellationToken cancellationToken)
    {
        var values = new List<OrtValue>(_outputNames.Length);
        try
        {
            fixed (float* input = pixels)
            {
                long[] inputShape = [batch, Config.Channels, Config.ImageHeight, Config.ImageWidth];
                using OrtValue inputValue = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance,
                    TensorElementType.Float, inputShape, (IntPtr)input, (long)pixels.Length * sizeof(float));
                using OrtValue targetValue = OrtValue.CreateTensorValueFromMemory(target, [batch]);
                values.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, output.Logits.AsMemory(), [batch, Config.NumClasses]));
                long[] layerShape = [batch, Config.NumHeads, Config.Tokens, Config.Tokens];
                int layerLength = checked((int)(batch * shape.LayerLength));
                foreach (float[] stack in new[] { attentions, output.AttentionGradients })
                {
                    for (int l = 0; l < Config.NumLayers; l++)
                    {
                        values.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
                            stack.AsMemory((int)shape.OffsetOf(l, 0), layerLength), layerShape));
                    }
                }

                if (Hidden > 0)
                {
                    long[] normShape = [batch, Config.Tokens, Hidden];
                    foreach (float[] buffer in new[] { output.Norm1Input, output.Norm1InputGradient, output.Norm1Output, output.Norm1OutputGradient })
                    {
                        values.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, buffer.AsMemory(), normShape));
                    }
                }

                using var runOptions = new RunOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
                using CancellationTokenRegistration registration =
                    cancellationToken.Register(static o => ((RunOptions)o!).Terminate = true, runOptions);
                try
                {
                    _session.Run(runOptions, _inputNames, [inputValue, targetValue], _outputNames, values);
                }
                catch (OnnxRuntimeException e) when (cancellationToken.IsCancellationRequested)
                {
                    throw new OperationCanceledException("The gradient pass was cancelled.", e, cancellationToken);
                }
                catch (OnnxRuntimeException e)
                {
                    throw new ModelFormatException($"Model '{Source}': the gradient graph failed on a batch of {batch}: {e.Message}", e);
                }
            }
        }
        finally
        {
            foreach (OrtValue v in values)
            {
                v.Dispose();
            }
        }
    }
}
