using SkiaSharp;

namespace VitAttention.Rendering;

/// <summary>The 256-entry lookup tables behind <see cref="Colormap"/>.</summary>
/// <remarks>
/// Viridis, inferno and turbo are the published 256-entry tables (see <c>make_colormaps.py</c>); jet is
/// computed from its piecewise-linear definition and grey is the identity ramp. Each entry is the published
/// float colour rounded to the nearest byte. A value t in [0, 1] picks entry min(⌊256 · t⌋, 255), the
/// indexing matplotlib uses.
/// </remarks>
public static class Colormaps
{
    // Jet's definition (matplotlib's _jet_data, after MATLAB): per channel, (x, value) knots joined linearly.
    // Declared before Tables: static fields initialise in text order.
    private static readonly (double X, double V)[] JetRed = [(0, 0), (0.35, 0), (0.66, 1), (0.89, 1), (1, 0.5)];
    private static readonly (double X, double V)[] JetGreen = [(0, 0), (0.125, 0), (0.375, 1), (0.64, 1), (0.91, 0), (1, 0)];
    private static readonly (double X, double V)[] JetBlue = [(0, 0.5), (0.11, 1), (0.34, 1), (0.65, 0), (1, 0)];

    // [colormap, entry, rgb]
    private static readonly byte[] Tables = BuildTables();

    /// <summary>Entries per table.</summary>
    public const int Size = 256;

    /// <summary>The colour of a normalised value; values outside [0, 1] are clamped, NaN maps to entry 0.</summary>
    /// <param name="colormap">The colour table.</param>
    /// <param name="value">A value in [0, 1].</param>
    /// <returns>An opaque colour.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="colormap"/> is not a defined value.</exception>
    public static SKColor Map(Colormap colormap, float value)
    {
        var table = Table(colormap);
        int i = Index(value) * 3;
        return new SKColor(table[i], table[i + 1], table[i + 2]);
    }

    /// <summary>Entry <paramref name="index"/> (0..255) of a table as an opaque colour.</summary>
    /// <param name="colormap">The colour table.</param>
    /// <param name="index">The entry, 0 to 255.</param>
    /// <returns>An opaque colour.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The index is outside 0..255 or the colormap is not defined.</exception>
    public static SKColor Entry(Colormap colormap, int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, Size - 1);
        var table = Table(colormap);
        return new SKColor(table[index * 3], table[(index * 3) + 1], table[(index * 3) + 2]);
    }

    /// <summary>The table index of a normalised value: min(⌊256 · clamp(t, 0, 1)⌋, 255); NaN gives 0.</summary>
    internal static int Index(float value)
    {
        float t = value >= 0f ? (value <= 1f ? value : 1f) : 0f; // also sends NaN to 0
        int i = (int)(t * Size);
        return i < Size ? i : Size - 1;
    }

    /// <summary>The table as 256 × (R, G, B) bytes.</summary>
    internal static ReadOnlySpan<byte> Table(Colormap colormap)
    {
        if ((uint)colormap > (uint)Colormap.Grey)
        {
            throw new ArgumentOutOfRangeException(nameof(colormap), colormap, "Unknown colormap; use one of Jet, Viridis, Inferno, Turbo, Grey.");
        }

        return Tables.AsSpan((int)colormap * Size * 3, Size * 3);
    }

    private static byte[] BuildTables()
    {
        var all = new byte[5 * Size * 3];
        WriteJet(all.AsSpan((int)Colormap.Jet * Size * 3, Size * 3));
        ColormapTables.Viridis.CopyTo(all.AsSpan((int)Colormap.Viridis * Size * 3));
        ColormapTables.Inferno.CopyTo(all.AsSpan((int)Colormap.Inferno * Size * 3));
        ColormapTables.Turbo.CopyTo(all.AsSpan((int)Colormap.Turbo * Size * 3));
        var grey = all.AsSpan((int)Colormap.Grey * Size * 3, Size * 3);
        for (int i = 0; i < Size; i++)
        {
            grey[i * 3] = grey[(i * 3) + 1] = grey[(i * 3) + 2] = (byte)i;
        }

        return all;
    }

    private static void WriteJet(Span<byte> table)
    {
        for (int i = 0; i < Size; i++)
        {
            double x = i / (double)(Size - 1);
            table[i * 3] = ToByte(Piecewise(JetRed, x));
            table[(i * 3) + 1] = ToByte(Piecewise(JetGreen, x));
            table[(i * 3) + 2] = ToByte(Piecewise(JetBlue, x));
        }
    }

    private static double Piecewise((double X, double V)[] knots, double x)
    {
        for (int k = 1; k < knots.Length; k++)
        {
            if (x <= knots[k].X)
            {
                var (x0, v0) = knots[k - 1];
                var (x1, v1) = knots[k];
                return v0 + ((v1 - v0) * (x - x0) / (x1 - x0));
            }
        }

        return knots[^1].V;
    }

    // Nearest byte, ties up; the 1e-9 keeps jet's many exact ties from flipping on float fuzz (as make_colormaps.py).
    private static byte ToByte(double v) => (byte)Math.Clamp(Math.Floor((v * 255.0) + 0.5 + 1e-9), 0, 255);
}
