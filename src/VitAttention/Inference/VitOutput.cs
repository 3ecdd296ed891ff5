namespace VitAttention.Inference;

/// <summary>The result of one forward pass over a batch.</summary>
internal sealed class VitOutput
{
    internal VitOutput(int batch, int classes, float[] logits, AttentionStack attentions)
    {
        Batch = batch;
        Classes = classes;
        Logits = logits;
        Attentions = attentions;
    }

    /// <summary>Images in the batch.</summary>
    public int Batch { get; }

    /// <summary>Classes per image (0 when the model has no classifier).</summary>
    public int Classes { get; }

    /// <summary>The classifier's logits, <c>[batch, classes]</c>.</summary>
    public float[] Logits { get; }

    /// <summary>Every layer's attention probabilities, <c>[layer, batch, head, query, key]</c>.</summary>
    public AttentionStack Attentions { get; }

    /// <summary>One image's logits, <c>[classes]</c>.</summary>
    /// <param name="item">The image's index in the batch.</param>
    public ReadOnlySpan<float> LogitsOf(int item)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(item);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(item, Batch);
        return Logits.AsSpan(item * Classes, Classes);
    }
}
