namespace VitAttention.Rollout.Kernels;

/// <summary>One kernel implementation the factory can hand out.</summary>
/// <param name="Width">The vector width it runs at.</param>
/// <param name="IsAccelerated">Whether this machine runs that width in hardware (an unaccelerated width still works, slowly).</param>
internal readonly record struct RolloutKernelInfo(SimdWidth Width, bool IsAccelerated)
{
    /// <inheritdoc/>
    public override string ToString() => IsAccelerated ? Width.ToString() : $"{Width} (software)";
}
