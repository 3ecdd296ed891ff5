using System.Globalization;

namespace VitAttention.Analysis;

/// <summary>Every layer's focus score and the layers that score highest.</summary>
public sealed class LayerFocusResult
{
    internal LayerFocusResult(FocusMeasure measure, double[] scores, int[] topLayers, RegionOfInterest? region)
    {
        Measure = measure;
        Scores = scores;
        TopLayers = topLayers;
        Region = region;
    }

    /// <summary>What the scores measure.</summary>
    public FocusMeasure Measure { get; }

    /// <summary>The score of every layer in model order: <c>Scores[i]</c> belongs to layer i + 1.</summary>
    public IReadOnlyList<double> Scores { get; }

    /// <summary>The top layers' one-based numbers, highest score first; ties go to the earlier layer.</summary>
    public IReadOnlyList<int> TopLayers { get; }

    /// <summary>The region of interest the scores were measured in, or null for <see cref="FocusMeasure.Concentration"/>.</summary>
    public RegionOfInterest? Region { get; }

    /// <summary>The score of a layer by its one-based number.</summary>
    /// <param name="layerNumber">The layer number, 1 to the layer count.</param>
    /// <returns>The layer's focus score.</returns>
    /// <exception cref="ArgumentOutOfRangeException">There is no such layer.</exception>
    public double ScoreOf(int layerNumber)
    {
        if (layerNumber < 1 || layerNumber > Scores.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(layerNumber), layerNumber, $"Layer numbers are one-based, 1..{Scores.Count}.");
        }

        return Scores[layerNumber - 1];
    }

    /// <summary>The score as a short label: "41.2% in region" or "concentration 0.213".</summary>
    /// <param name="layerNumber">The layer number, 1 to the layer count.</param>
    /// <returns>The label.</returns>
    public string Describe(int layerNumber)
    {
        double s = ScoreOf(layerNumber);
        return Measure == FocusMeasure.RegionMass
            ? (s * 100).ToString("0.0", CultureInfo.InvariantCulture) + "% in region"
            : "concentration " + s.ToString("0.000", CultureInfo.InvariantCulture);
    }
}
