using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using VitAttention.Loading;
using VitAttention.Models;

namespace VitAttention.Inference;

/// <summary>
/// One reusable ONNX Runtime session over a <see cref="PreparedModel"/>. Creating it is expensive (the graph is loaded
/// and optimised); <see cref="Run(ReadOnlySpan{float}, int, CancellationToken)"/> is thread-safe and may be called concurrently from many threads. Outputs are
/// written by ONNX Runtime straight into arrays this class allocates (one contiguous attention stack per call, each
/// layer's output bound to its slice), so nothing is copied after the graph runs. Dispose it when done.
/// </summary>
internal sealed class VitSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames; // logits (when the model classifies), then attentions.0 … attentions.{L−1}
    private readonly string[] _logitsOnly;  // [logits], for Classify: ORT copies out nothing else
    private readonly bool _hasLogits;
    private readonly int _fixedBatch;       // the graph's batch dimension when fixed, else −1
    private readonly AttentionBufferPool _buffers = new();
    private readonly RunGate _gate = new();  // runs in flight, so that Dispose waits for them

    /// <summary>Loads a prepared model into ONNX Runtime.</summary>
    /// <param name="model">The ONNX graph with <c>logits</c> and <c>attentions.{l}</c> outputs, and its config.</param>
    /// <param name="options">Device, threads and logging; <see cref="VitSessionOptions.Default"/> when null.</param>
    /// <exception cref="ModelFormatException">
    /// The graph cannot be loaded, or its input and outputs do not match <see cref="PreparedModel.Config"/>.
    /// </exception>
    /// <exception cref="DeviceUnavailableException">CUDA was requested, cannot be used, and fallback is off.</exception>
    public VitSession(PreparedModel model, VitSessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        Options = options ?? VitSessionOptions.Default;
        if (Options.IntraOpThreads is <= 0)
        {
            throw new ArgumentException(
                $"IntraOpThreads must be positive or null (ONNX Runtime's default), got {Options.IntraOpThreads}.", nameof(options));
        }

        Source = model.Source;
        InputName = model.InputName;
        Config = model.Config;
        Config.Validate(model.Source);
        (_session, ActualDevice) = CreateSession(model, Options);
        try
        {
            _hasLogits = Config.NumClasses > 0;
            _inputNames = [model.InputName];
            var outputs = new List<string>();
            if (_hasLogits)
            {
                outputs.Add(PreparedModel.LogitsOutput);
            }

            for (int l = 0; l < Config.NumLayers; l++)
            {
                outputs.Add(PreparedModel.AttentionOutput(l));
            }

            _outputNames = [.. outputs];
            _logitsOnly = [PreparedModel.LogitsOutput];
            _fixedBatch = CheckGraph();
        }
        catch
        {
            _session.Dispose();
            throw;
        }
    }

    /// <summary>Where the model came from (a path or a hub id), for messages.</summary>
    public string Source { get; }

    /// <summary>Name of the graph's image input.</summary>
    public string InputName { get; }

    /// <summary>The model's dimensions.</summary>
    public VitConfig Config { get; }

    /// <summary>The options the session was created with.</summary>
    public VitSessionOptions Options { get; }

    /// <summary>The device the session actually runs on (the CPU after a permitted fallback from CUDA).</summary>
    public ExecutionDevice ActualDevice { get; }

    /// <summary>Floats in one image's input: channels · height · width.</summary>
    public int InputLength => Config.Channels * Config.ImageHeight * Config.ImageWidth;

    /// <summary>Runs one preprocessed image (batch of 1).</summary>
    /// <param name="image">The image from <see cref="ImagePreprocessor"/>.</param>
    /// <param name="cancellationToken">Stops the run; ONNX Runtime is asked to terminate.</param>
    /// <returns>Logits <c>[1, classes]</c> and the attention stack <c>[layer, 1, head, query, key]</c>.</returns>
    public VitOutput Run(PreprocessedImage image, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        return Run(image.Pixels, 1, cancellationToken);
    }

    /// <summary>Runs the forward pass over a batch of preprocessed images.</summary>
    /// <param name="pixels">The batch, <c>[batch, channels, height, width]</c> float32; read, never written.</param>
    /// <param name="batch">Images in <paramref name="pixels"/> (at least 1).</param>
    /// <param name="cancellationToken">Stops the run; ONNX Runtime is asked to terminate.</param>
    /// <returns>
    /// Logits <c>[batch, classes]</c> and the attention stack <c>[layer, batch, head, query, key]</c>. The stack's buffer
    /// comes from a small pool: dispose the output when done with it to hand the buffer to the next run.
    /// </returns>
    /// <exception cref="ArgumentException">The batch is not positive or the length is not batch · <see cref="InputLength"/>.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before or during the run.</exception>
    /// <exception cref="ModelFormatException">The graph's outputs do not have the shapes the config implies.</exception>
    /// <exception cref="ObjectDisposedException">The session was disposed.</exception>
    public VitOutput Run(ReadOnlySpan<float> pixels, int batch, CancellationToken cancellationToken = default)
    {
        var shape = CheckRun(pixels, batch);
        cancellationToken.ThrowIfCancellationRequested();
        _gate.Enter(this);
        float[]? attentions = null;
        try
        {
            var logits = new float[batch * Config.NumClasses]; // [batch, classes]
            attentions = _buffers.Rent(shape.TotalLength);    // [layer, batch, head, query, key]
            RunGraph(pixels, batch, shape, logits, attentions, _outputNames, cancellationToken);
            var output = new VitOutput(batch, Config.NumClasses, logits, new AttentionStack(shape, attentions), _buffers);
            attentions = null;
            return output;
        }
        finally
        {
            if (attentions is not null)
            {
                _buffers.Return(attentions);
            }

            _gate.Leave();
        }
    }

    /// <summary>
    /// Runs the forward pass and fetches the logits only: ONNX Runtime copies out no attention and no attention
    /// buffer is allocated (the classifier still needs every layer computed).
    /// </summary>
    /// <param name="pixels">The batch, <c>[batch, channels, height, width]</c> float32; read, never written.</param>
    /// <param name="batch">Images in <paramref name="pixels"/> (at least 1).</param>
    /// <param name="cancellationToken">Stops the run; ONNX Runtime is asked to terminate.</param>
    /// <returns>The logits, <c>[batch, classes]</c>.</returns>
    /// <exception cref="InvalidOperationException">The model has no classifier.</exception>
    public float[] RunLogits(ReadOnlySpan<float> pixels, int batch, CancellationToken cancellationToken = default)
    {
        if (!_hasLogits)
        {
            throw new InvalidOperationException($"Model '{Source}' has no classifier, so it has no logits to run for.");
        }

        var shape = CheckRun(pixels, batch);
        cancellationToken.ThrowIfCancellationRequested();
        _gate.Enter(this);
        try
        {
            var logits = new float[batch * Config.NumClasses]; // [batch, classes]
            RunGraph(pixels, batch, shape, logits, null, _logitsOnly, cancellationToken);
            return logits;
        }
        finally
        {
            _gate.Leave();
        }
    }

    private AttentionShape CheckRun(ReadOnlySpan<float> pixels, int batch)
    {
        if (batch < 1)
        {
            throw new ArgumentException($"The batch must hold at least one image, got {batch}.", nameof(batch));
        }

        long expected = (long)batch * InputLength;
        if (pixels.Length != expected)
        {
            throw new ArgumentException(
                $"The input holds {pixels.Length} floats; a batch of {batch} images of {Config.Channels}×{Config.ImageHeight}×{Config.ImageWidth} needs {expected}.",
                nameof(pixels));
        }

        if (_fixedBatch > 0 && batch != _fixedBatch)
        {
            throw new ArgumentException(
                $"The model '{Source}' has a fixed batch size of {_fixedBatch}; it cannot run a batch of {batch}. " +
                "Export it with a dynamic batch dimension, or run batches of that size.", nameof(batch));
        }

        var shape = new AttentionShape(Config.NumLayers, batch, Config.NumHeads, Config.Tokens);
        if (shape.TotalLength > Array.MaxLength || (long)batch * Config.NumClasses > Array.MaxLength)
        {
            throw new ArgumentException(
                $"A batch of {batch} needs an attention stack of {shape.TotalLength} floats, more than one array can hold; run smaller batches.",
                nameof(batch));
        }

        return shape;
    }

    /// <summary>Releases the ONNX Runtime session, after any runs in flight finish.</summary>
    public void Dispose()
    {
        if (_gate.CloseAndWait())
        {
            _session.Dispose();
        }
    }

    private unsafe void RunGraph(ReadOnlySpan<float> pixels, int batch, AttentionShape shape, float[] logits,
        float[]? attentions, string[] outputNames, CancellationToken cancellationToken)
    {
        var values = new List<OrtValue>(outputNames.Length + 1);
        try
        {
            fixed (float* input = pixels)
            {
                // The input wraps the caller's memory, pinned by `fixed` for the duration of the run; ORT only reads it.
                long[] inputShape = [batch, Config.Channels, Config.ImageHeight, Config.ImageWidth];
                using OrtValue inputValue = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance,
                    TensorElementType.Float, inputShape, (IntPtr)input, (long)pixels.Length * sizeof(float));
                if (_hasLogits)
                {
                    values.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
                        logits.AsMemory(), [batch, Config.NumClasses]));
                }

                long[] layerShape = [batch, Config.NumHeads, Config.Tokens, Config.Tokens];
                int layerLength = checked((int)(batch * shape.LayerLength));
                for (int l = 0; attentions is not null && l < Config.NumLayers; l++)
                {
                    // Layer l's [batch, head, query, key] block is contiguous in the [layer, ...] stack.
                    values.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
                        attentions.AsMemory((int)shape.OffsetOf(l, 0), layerLength), layerShape));
                }

                // Run failures become exceptions carrying ORT's message; keep ORT from also printing them to stderr.
                using var runOptions = new RunOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
                using CancellationTokenRegistration registration =
                    cancellationToken.Register(static o => ((RunOptions)o!).Terminate = true, runOptions);
                try
                {
                    _session.Run(runOptions, _inputNames, [inputValue], outputNames, values);
                }
                catch (OnnxRuntimeException e) when (cancellationToken.IsCancellationRequested)
                {
                    throw new OperationCanceledException("The forward pass was cancelled.", e, cancellationToken);
                }
                catch (OnnxRuntimeException e)
                {
                    throw new ModelFormatException(
                        $"Model '{Source}' failed to run a batch of {batch}: expected outputs " +
                        $"{ShapeText(PreparedModel.LogitsOutput, [batch, Config.NumClasses])} and " +
                        $"{ShapeText("attentions.{l}", layerShape)} for l = 0..{Config.NumLayers - 1} (from its config). " +
                        $"ONNX Runtime said: {e.Message}", e);
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

    /// <summary>Checks the graph's input and outputs against the config; returns the fixed batch size or −1.</summary>
    private int CheckGraph()
    {
        string source = Source;
        if (!_session.InputMetadata.TryGetValue(InputName, out NodeMetadata? input))
        {
            throw new ModelFormatException(
                $"Model '{source}' has no input named '{InputName}'; its inputs are {string.Join(", ", _session.InputMetadata.Keys)}.");
        }

        CheckTensor(source, "input", InputName, input, [Config.Channels, Config.ImageHeight, Config.ImageWidth]);
        if (_hasLogits)
        {
            CheckOutput(source, PreparedModel.LogitsOutput, [Config.NumClasses]);
        }

        for (int l = 0; l < Config.NumLayers; l++)
        {
            CheckOutput(source, PreparedModel.AttentionOutput(l), [Config.NumHeads, Config.Tokens, Config.Tokens]);
        }

        if (_session.OutputMetadata.ContainsKey(PreparedModel.AttentionOutput(Config.NumLayers)))
        {
            throw new ModelFormatException(
                $"Model '{source}' outputs more attention layers than its config's {Config.NumLayers}; the config does not describe this graph.");
        }

        int batch = input.Dimensions.Length > 0 ? input.Dimensions[0] : -1;
        return batch > 0 ? batch : -1;
    }

    private void CheckOutput(string source, string name, int[] trailing)
    {
        if (!_session.OutputMetadata.TryGetValue(name, out NodeMetadata? meta))
        {
            throw new ModelFormatException(
                $"Model '{source}' has no output named '{name}' (its outputs are {string.Join(", ", _session.OutputMetadata.Keys)}). " +
                "Prepare the model with the library (VitOnnxBuilder, or expose the attention of an existing export) so that it outputs logits and every layer's attention.");
        }

        CheckTensor(source, "output", name, meta, trailing);
    }

    /// <summary>Checks a tensor's element type and rank, and each fixed dimension after the batch.</summary>
    private static void CheckTensor(string source, string kind, string name, NodeMetadata meta, int[] trailing)
    {
        if (!meta.IsTensor || meta.ElementDataType != TensorElementType.Float)
        {
            throw new ModelFormatException(
                $"Model '{source}': {kind} '{name}' is {meta.ElementDataType}, not a float32 tensor.");
        }

        int[] dims = meta.Dimensions;
        if (dims.Length == 0)
        {
            return; // the graph does not declare this shape: ONNX Runtime checks it against the bound buffer at run time
        }

        bool ok = dims.Length == trailing.Length + 1;
        for (int i = 0; ok && i < trailing.Length; i++)
        {
            ok = dims[i + 1] <= 0 || dims[i + 1] == trailing[i]; // symbolic dimensions (≤ 0) are checked at run time
        }

        if (!ok)
        {
            string actual = "[" + string.Join(", ", dims.Select(d => d > 0 ? d.ToString(CultureInfo.InvariantCulture) : "?")) + "]";
            string want = "[batch, " + string.Join(", ", trailing) + "]";
            throw new ModelFormatException(
                $"Model '{source}': {kind} '{name}' has shape {actual}, but the config implies {want}. The config does not describe this graph.");
        }
    }

    private static string ShapeText(string name, long[] shape) => $"{name} [{string.Join(", ", shape)}]";

    /// <summary>Creates the ORT session on the requested device, falling back to the CPU when allowed.</summary>
    internal static (InferenceSession Session, ExecutionDevice Device) CreateSession(PreparedModel model, VitSessionOptions options)
    {
        if (options.Device == ExecutionDevice.Cuda)
        {
            Exception? failure = null;
            SessionOptions? cuda = null;
            try
            {
                cuda = BaseOptions(options);
                cuda.AppendExecutionProvider_CUDA(options.CudaDeviceId);
            }
            catch (Exception e) when (e is EntryPointNotFoundException or OnnxRuntimeException or DllNotFoundException)
            {
                failure = e;
            }

            if (failure is null)
            {
                try
                {
                    using (cuda)
                    {
                        return (Open(model, cuda!), ExecutionDevice.Cuda);
                    }
                }
                catch (OnnxRuntimeException e)
                {
                    // Either the CUDA libraries are missing at session creation, or the model itself is bad: tell the
                    // two apart by loading on the CPU below (a bad model fails there too, as a ModelFormatException).
                    failure = e;
                }
            }
            else
            {
                cuda?.Dispose();
            }

            bool cpuOnlyRuntime = failure is EntryPointNotFoundException or DllNotFoundException;
            string why = cpuOnlyRuntime
                ? "this process has the CPU-only ONNX Runtime (package Microsoft.ML.OnnxRuntime), which has no CUDA execution provider"
                : $"ONNX Runtime's CUDA execution provider could not start on device {options.CudaDeviceId}: {failure!.Message}";
            string fix = cpuOnlyRuntime
                ? "Reference the VitAttention.Cuda package instead of VitAttention (it brings Microsoft.ML.OnnxRuntime.Gpu), " +
                  "with CUDA 13 and cuDNN 9 installed where the app runs, or set VitSessionOptions.AllowCpuFallback to run on the CPU."
                : "Install CUDA 13 and cuDNN 9 where the app runs (their libraries on the loader path: LD_LIBRARY_PATH on Linux, " +
                  "PATH on Windows), check that the GPU is visible (nvidia-smi) and the device id exists, or set " +
                  "VitSessionOptions.AllowCpuFallback to run on the CPU.";
            InferenceSession cpu = CreateCpu(model, options);
            if (!options.AllowCpuFallback)
            {
                cpu.Dispose();
                throw new DeviceUnavailableException($"CUDA was requested for model '{model.Source}' but cannot be used: {why}. {fix}", failure);
            }

            options.Log?.Invoke($"CUDA was requested for model '{model.Source}' but cannot be used ({why}); running on the CPU instead.");
            return (cpu, ExecutionDevice.Cpu);
        }

        return (CreateCpu(model, options), ExecutionDevice.Cpu);
    }

    private static InferenceSession CreateCpu(PreparedModel model, VitSessionOptions options)
    {
        using SessionOptions cpu = BaseOptions(options);
        try
        {
            return Open(model, cpu);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ModelFormatException(
                $"Model '{model.Source}' could not be loaded by ONNX Runtime: {e.Message}. Check that it is a complete ONNX file.", e);
        }
    }

    /// <summary>
    /// Opens the graph from its file when it has one (ONNX Runtime reads it; the process never holds the serialised
    /// model), else from the bytes held.
    /// </summary>
    private static InferenceSession Open(PreparedModel model, SessionOptions options) =>
        model.OnnxPath is { } path ? new InferenceSession(path, options) : new InferenceSession(model.OnnxBytes!, options);

    internal static SessionOptions BaseOptions(VitSessionOptions options)
    {
        var so = new SessionOptions { GraphOptimizationLevel = options.GraphOptimizationLevel, EnableMemoryPattern = options.UseMemoryPattern };
        if (options.IntraOpThreads is { } threads)
        {
            so.IntraOpNumThreads = threads;
        }

        foreach (var (key, value) in ConfigEntries(options))
        {
            so.AddSessionConfigEntry(key, value);
        }

        return so;
    }

    /// <summary>The ONNX Runtime session configuration entries the options ask for.</summary>
    internal static IReadOnlyList<(string Key, string Value)> ConfigEntries(VitSessionOptions options) =>
        options.AllowSpinning
            ? []
            : [("session.intra_op.allow_spinning", "0"), ("session.inter_op.allow_spinning", "0")];
}
