using VitAttention.Rollout;

namespace VitAttention.Cli;

/// <summary>What <c>vit-attention bench rollout</c> measured: medians in milliseconds for one batch item.</summary>
/// <param name="Layers">Layers in the stack.</param>
/// <param name="Heads">Heads per layer.</param>
/// <param name="Tokens">Tokens per head matrix.</param>
/// <param name="FullMs">The full rollout matrix, default options (<see cref="RolloutOptions.MaxDegreeOfParallelism"/> = <paramref name="Threads"/>), widest SIMD width.</param>
/// <param name="RowMs">One rollout row (the overlay path), default options.</param>
/// <param name="FloorMs">One <c>TensorPrimitives.Sum</c> over the same item's attention: the memory floor.</param>
/// <param name="ScalarMs">The full rollout matrix on the scalar kernels, one thread.</param>
/// <param name="AllocatedBytesPerCall">Bytes the calling thread allocated per full + row call after warm-up.</param>
/// <param name="Threads">The threads the full matrix was allowed (it uses at most two).</param>
internal sealed record BenchRolloutResult(
    int Layers, int Heads, int Tokens, double FullMs, double RowMs, double FloorMs, double ScalarMs, double AllocatedBytesPerCall, int Threads);
