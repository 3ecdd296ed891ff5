using VitAttention.Evaluation;

namespace VitAttention.Tests.Evaluation;

/// <summary>
/// A two-class model whose answer is known by construction. The input is 1 × 8 × 8 with 2 × 2 patches (a 4 × 4 grid);
/// the "important" pixels are the 16 of the centre 2 × 2 patches (5, 6, 9, 10). With u the fraction of important
/// pixels still equal to the original image's, the model outputs logits [ln p, ln(1 − p)] with p = 0.05 + 0.9·u, so
/// softmax gives exactly p for class 0, and the top-1 class is 0 exactly when more than 8 important pixels are intact.
/// Every other pixel is ignored.
/// </summary>
internal sealed class ToyModel : ILogitsModel
{
    public static readonly EvaluationGeometry Geometry = new(1, 8, 8, 2, [0.5f], [0.5f]);

    public static readonly int[] ImportantPatches = [5, 6, 9, 10];

    private readonly float[] _original;

    public ToyModel(float[] original) => _original = original;

    public int Classes => 2;

    public List<int> Batches { get; } = [];

    public static bool IsImportant(int pixel) => ImportantPatches.Contains((pixel / 8 / 2 * 4) + (pixel % 8 / 2));

    /// <summary>A random image whose values are never the black value (−1) nor reproduced by any substrate.</summary>
    public static float[] Image(int seed)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, 64).Select(_ => (float)((rng.NextDouble() * 1.6) - 0.8))];
    }

    public static double Probability(int intact) => 0.05 + (0.9 * intact / 16);

    public float[] Logits(ReadOnlySpan<float> pixels, int batch, CancellationToken cancellationToken)
    {
        Assert.That(pixels.Length, Is.EqualTo(batch * 64));
        Batches.Add(batch);
        var logits = new float[batch * 2];
        for (int b = 0; b < batch; b++)
        {
            int intact = 0;
            for (int p = 0; p < 64; p++)
            {
                if (IsImportant(p) && pixels[(b * 64) + p] == _original[p])
                {
                    intact++;
                }
            }

            double prob = Probability(intact);
            logits[(b * 2) + 0] = (float)Math.Log(prob);
            logits[(b * 2) + 1] = (float)Math.Log(1 - prob);
        }

        return logits;
    }
}

/// <summary>Maps by construction: "perfect" is 1 on the important patches and 0 elsewhere, "reversed" the opposite.</summary>
internal sealed class ToyMaps : IMapProvider
{
    public IReadOnlyList<string> Methods { get; } = ["perfect", "reversed"];

    public List<int> TargetClasses { get; } = [];

    public static float[] Perfect() => [.. Enumerable.Range(0, 16).Select(p => ToyModel.ImportantPatches.Contains(p) ? 1f : 0f)];

    public IReadOnlyList<float[]> Maps(IReadOnlyList<string> methods, ReadOnlySpan<float> pixels, int targetClass, CancellationToken cancellationToken)
    {
        TargetClasses.Add(targetClass);
        return [.. methods.Select(m => m == "perfect" ? Perfect() : [.. Perfect().Select(v => 1 - v)])];
    }
}
