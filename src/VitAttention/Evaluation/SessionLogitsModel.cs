using VitAttention.Inference;

namespace VitAttention.Evaluation;

/// <summary>
/// <see cref="ILogitsModel"/> over the library's ONNX Runtime session, through its logits-only run
/// (<see cref="VitSession.RunLogits"/>): the perturbed copies fetch no attention and allocate no attention buffer.
/// </summary>
internal sealed class SessionLogitsModel : ILogitsModel
{
    private readonly VitSession _session;

    /// <summary>Wraps a session; the caller keeps ownership.</summary>
    /// <exception cref="ArgumentException">The model has no classifier.</exception>
    public SessionLogitsModel(VitSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (session.Config.NumClasses < 1)
        {
            throw new ArgumentException(
                $"model '{session.Source}' has no classifier (num_classes 0): the faithfulness tests measure a class's score, so they need a classification model.",
                nameof(session));
        }

        _session = session;
    }

    /// <inheritdoc />
    public int Classes => _session.Config.NumClasses;

    /// <inheritdoc />
    public float[] Logits(ReadOnlySpan<float> pixels, int batch, CancellationToken cancellationToken) =>
        _session.RunLogits(pixels, batch, cancellationToken);
}
