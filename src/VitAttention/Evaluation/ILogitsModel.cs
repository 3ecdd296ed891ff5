namespace VitAttention.Evaluation;

/// <summary>
/// The forward pass the faithfulness tests need: logits only, for a batch of preprocessed images. The seam between
/// the protocols and the runtime: <see cref="SessionLogitsModel"/> backs it with the library's ONNX Runtime session,
/// tests with models whose answers are known by construction.
/// </summary>
internal interface ILogitsModel
{
    /// <summary>Classes per image.</summary>
    int Classes { get; }

    /// <summary>Logits of a batch.</summary>
    /// <param name="pixels">The batch, <c>[batch, channels, height, width]</c>, normalised as the model expects.</param>
    /// <param name="batch">Images in <paramref name="pixels"/>.</param>
    /// <param name="cancellationToken">Stops the forward pass.</param>
    /// <returns>The logits, <c>[batch, classes]</c>.</returns>
    float[] Logits(ReadOnlySpan<float> pixels, int batch, CancellationToken cancellationToken);
}
