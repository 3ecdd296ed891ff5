namespace VitAttention.Evaluation;

/// <summary>
/// Explanation maps for the faithfulness tests: one patch-grid map per method for an image and a target class. The
/// seam between the protocols and the explanation methods: <see cref="ExplainerMapProvider"/> backs it with the
/// library's explainer (rollout and final-layer attention today), tests with maps built by construction.
/// </summary>
internal interface IMapProvider
{
    /// <summary>The methods this provider computes, by name (for example "rollout").</summary>
    IReadOnlyList<string> Methods { get; }

    /// <summary>Maps of one image.</summary>
    /// <param name="methods">Methods to compute, each one of <see cref="Methods"/>.</param>
    /// <param name="pixels">The normalised image, <c>[channels, height, width]</c>.</param>
    /// <param name="targetClass">The class to explain (class-agnostic methods such as rollout ignore it).</param>
    /// <param name="cancellationToken">Stops the work.</param>
    /// <returns>One map per method, in the same order, each <c>[gridHeight, gridWidth]</c> row-major; larger = more relevant.</returns>
    IReadOnlyList<float[]> Maps(IReadOnlyList<string> methods, ReadOnlySpan<float> pixels, int targetClass, CancellationToken cancellationToken);
}
