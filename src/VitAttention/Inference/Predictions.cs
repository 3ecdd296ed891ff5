using VitAttention.Models;

namespace VitAttention.Inference;

/// <summary>Turns logits into probabilities and ranked, labelled predictions.</summary>
internal static class Predictions
{
    /// <summary>
    /// Numerically stable softmax: <c>p_i = exp(x_i − max x) / Σ_j exp(x_j − max x)</c>, accumulated in float64.
    /// </summary>
    /// <param name="logits">The logits of one image.</param>
    /// <param name="destination">Receives the probabilities; the same length as <paramref name="logits"/>.</param>
    /// <exception cref="ArgumentException">The lengths differ, the logits are empty, or a logit is NaN.</exception>
    public static void Softmax(ReadOnlySpan<float> logits, Span<float> destination)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("Softmax needs at least one logit.", nameof(logits));
        }

        if (destination.Length != logits.Length)
        {
            throw new ArgumentException(
                $"The destination holds {destination.Length} values; it needs {logits.Length}, one per logit.", nameof(destination));
        }

        double max = double.NegativeInfinity;
        foreach (float x in logits)
        {
            if (float.IsNaN(x))
            {
                throw new ArgumentException("A logit is NaN: the model's output is not usable.", nameof(logits));
            }

            max = Math.Max(max, x);
        }

        if (double.IsNegativeInfinity(max) || double.IsPositiveInfinity(max))
        {
            // All −∞ (uniform by convention) or some +∞ (all mass on the infinite ones).
            int count = 0;
            foreach (float x in logits)
            {
                count += x == max ? 1 : 0;
            }

            for (int i = 0; i < logits.Length; i++)
            {
                destination[i] = logits[i] == max ? 1f / count : 0f;
            }

            return;
        }

        double sum = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            sum += Math.Exp(logits[i] - max);
        }

        for (int i = 0; i < logits.Length; i++)
        {
            destination[i] = (float)(Math.Exp(logits[i] - max) / sum);
        }
    }

    /// <summary>The softmax of one image's logits (see <see cref="Softmax(ReadOnlySpan{float}, Span{float})"/>).</summary>
    /// <param name="logits">The logits of one image.</param>
    /// <returns>The probabilities.</returns>
    public static float[] Softmax(ReadOnlySpan<float> logits)
    {
        var p = new float[logits.Length];
        Softmax(logits, p);
        return p;
    }

    /// <summary>
    /// The <paramref name="k"/> most probable classes of one image, most probable first (ties: lower index first).
    /// </summary>
    /// <param name="logits">The logits of one image.</param>
    /// <param name="config">The model config, for the labels (<see cref="VitConfig.LabelOf"/>).</param>
    /// <param name="k">How many to return; fewer when the model has fewer classes.</param>
    /// <returns>Up to <paramref name="k"/> predictions with softmax probabilities.</returns>
    /// <exception cref="ArgumentException"><paramref name="k"/> is not positive, or the logits are empty or NaN.</exception>
    public static IReadOnlyList<Prediction> TopK(ReadOnlySpan<float> logits, VitConfig config, int k = 5)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (k < 1)
        {
            throw new ArgumentException($"k must be at least 1, got {k}.", nameof(k));
        }

        return TopKOfProbabilities(Softmax(logits), config, k);
    }

    /// <summary>The <paramref name="k"/> most probable classes given softmax probabilities already computed (k ≥ 1).</summary>
    internal static IReadOnlyList<Prediction> TopKOfProbabilities(float[] p, VitConfig config, int k)
    {
        int[] order = Enumerable.Range(0, p.Length).ToArray();
        // Stable order: descending probability, then ascending index.
        Array.Sort(order, (a, b) => p[b] != p[a] ? p[b].CompareTo(p[a]) : a.CompareTo(b));
        int n = Math.Min(k, p.Length);
        var top = new Prediction[n];
        for (int i = 0; i < n; i++)
        {
            top[i] = new Prediction(order[i], config.LabelOf(order[i]), p[order[i]]);
        }

        return top;
    }

    /// <summary>The top <paramref name="k"/> predictions of one image of a batch's output.</summary>
    /// <param name="output">A forward pass's output.</param>
    /// <param name="item">The image's index in the batch.</param>
    /// <param name="config">The model config, for the labels.</param>
    /// <param name="k">How many to return.</param>
    /// <returns>Up to <paramref name="k"/> predictions, most probable first.</returns>
    public static IReadOnlyList<Prediction> TopK(VitOutput output, int item, VitConfig config, int k = 5)
    {
        ArgumentNullException.ThrowIfNull(output);
        return TopK(output.LogitsOf(item), config, k);
    }
}
