namespace VitAttention.Analysis;

/// <summary>What a layer focus score measures.</summary>
public enum FocusMeasure
{
    /// <summary>The share of the map's attention mass inside a region of interest, 0 to 1.</summary>
    RegionMass,

    /// <summary>Concentration, 1 − (entropy / ln N) of the map as a distribution over N patches, 0 (uniform) to 1 (one patch).</summary>
    Concentration,
}
