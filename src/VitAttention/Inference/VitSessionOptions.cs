using Microsoft.ML.OnnxRuntime;

namespace VitAttention.Inference;

/// <summary>
/// How a <see cref="VitSession"/> runs. Immutable; change with <c>with</c>:
/// <c>VitSessionOptions.Default with { Device = ExecutionDevice.Cuda, AllowCpuFallback = true }</c>.
/// </summary>
public sealed record VitSessionOptions
{
    /// <summary>The defaults: CPU, ONNX Runtime's own thread count and spinning, all graph optimisations, no log.</summary>
    public static VitSessionOptions Default { get; } = new();

    /// <summary>The device to run on (default <see cref="ExecutionDevice.Cpu"/>).</summary>
    public ExecutionDevice Device { get; init; } = ExecutionDevice.Cpu;

    /// <summary>The CUDA device ordinal when <see cref="Device"/> is <see cref="ExecutionDevice.Cuda"/> (default 0).</summary>
    public int CudaDeviceId { get; init; }

    /// <summary>
    /// When CUDA is requested but cannot be used: true runs on the CPU and reports a warning through <see cref="Log"/>;
    /// false (the default) throws <see cref="DeviceUnavailableException"/>.
    /// </summary>
    public bool AllowCpuFallback { get; init; }

    /// <summary>
    /// Threads ONNX Runtime may use inside one operator (intra-op). Null (the default) leaves ONNX Runtime's default,
    /// one per physical core. Lower it when several sessions or many concurrent requests share the machine.
    /// </summary>
    public int? IntraOpThreads { get; init; }

    /// <summary>
    /// Whether ONNX Runtime's worker threads spin (busy-wait) for the next piece of work instead of sleeping. Default
    /// true, ONNX Runtime's own default: fastest on an idle machine. Set false on a machine shared with other work
    /// (other sessions, a web server's threads, CI): the spinning threads otherwise take CPU time the others need.
    /// </summary>
    public bool AllowSpinning { get; init; } = true;

    /// <summary>
    /// Whether ONNX Runtime plans each input shape's tensors into one block ahead of the run (its "memory pattern";
    /// default true, ONNX Runtime's own default). With it, a long run's resident memory keeps climbing over its first
    /// few dozen batches as the session's arena spreads into new chunks (13 MiB of the climb on the demo model); false
    /// allocates tensor by tensor from the same arena: flatter memory, at the same speed in our measurements
    /// (docs/reliability.md). The <c>vit-attention</c> command runs with it off.
    /// </summary>
    public bool UseMemoryPattern { get; init; } = true;

    /// <summary>ONNX Runtime graph optimisation level (default <see cref="GraphOptimizationLevel.ORT_ENABLE_ALL"/>).</summary>
    public GraphOptimizationLevel GraphOptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>Receives warnings, such as a fallback from CUDA to the CPU, one line each without a "warning:" prefix (the caller adds its own). Null discards them.</summary>
    public Action<string>? Log { get; init; }
}
