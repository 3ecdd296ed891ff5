using SkiaSharp;
using VitAttention.Rendering;

namespace VitAttention.Tests.Rendering;

public class ColormapTests
{
    // Endpoints from the published definitions: jet's segment data (0 → (0, 0, 0.5), 1 → (0.5, 0, 0)); the
    // first and last entries of the viridis (#440154, #fde725), inferno (#000004, #fcffa4) and turbo
    // ((0.18995, 0.07176, 0.23217), (0.4796, 0.01583, 0.01055)) tables; grey black to white.
    [TestCase(Colormap.Jet, 0, 0, 128, 128, 0, 0)]
    [TestCase(Colormap.Viridis, 0x44, 0x01, 0x54, 0xfd, 0xe7, 0x25)]
    [TestCase(Colormap.Inferno, 0x00, 0x00, 0x04, 0xfc, 0xff, 0xa4)]
    [TestCase(Colormap.Turbo, 48, 18, 59, 122, 4, 3)]
    [TestCase(Colormap.Grey, 0, 0, 0, 255, 255, 255)]
    public void Map_Endpoints_MatchPublishedValues(Colormap colormap, int r0, int g0, int b0, int r1, int g1, int b1)
    {
        Assert.That(Colormaps.Map(colormap, 0f), Is.EqualTo(new SKColor((byte)r0, (byte)g0, (byte)b0)));
        Assert.That(Colormaps.Map(colormap, 1f), Is.EqualTo(new SKColor((byte)r1, (byte)g1, (byte)b1)));
    }

    [Test]
    public void Map_JetInterior_MatchesSegmentDefinitionInFloat64()
    {
        (double X, double V)[] red = [(0, 0), (0.35, 0), (0.66, 1), (0.89, 1), (1, 0.5)];
        (double X, double V)[] green = [(0, 0), (0.125, 0), (0.375, 1), (0.64, 1), (0.91, 0), (1, 0)];
        (double X, double V)[] blue = [(0, 0.5), (0.11, 1), (0.34, 1), (0.65, 0), (1, 0)];
        for (int i = 0; i < 256; i++)
        {
            var c = Colormaps.Entry(Colormap.Jet, i);
            double x = i / 255.0;
            Assert.That((int)c.Red, Is.EqualTo(255 * Interp(red, x)).Within(0.5 + 1e-6), $"red {i}");
            Assert.That((int)c.Green, Is.EqualTo(255 * Interp(green, x)).Within(0.5 + 1e-6), $"green {i}");
            Assert.That((int)c.Blue, Is.EqualTo(255 * Interp(blue, x)).Within(0.5 + 1e-6), $"blue {i}");
        }
    }

    [TestCase(-0.5f, 0)]
    [TestCase(float.NaN, 0)]
    [TestCase(0.5f, 128)]
    [TestCase(0.999f, 255)]
    [TestCase(7f, 255)]
    [TestCase(0.00390625f, 1)] // exactly 1/256
    public void Map_ValueToEntry_UsesMatplotlibIndexing(float value, int entry)
    {
        Assert.That(Colormaps.Map(Colormap.Viridis, value), Is.EqualTo(Colormaps.Entry(Colormap.Viridis, entry)));
    }

    [TestCase(Colormap.Viridis)]
    [TestCase(Colormap.Inferno)]
    public void Entries_PerceptualMaps_LightnessRisesMonotonically(Colormap colormap)
    {
        // Viridis and inferno are designed with monotonically increasing lightness; use Rec. 709 luma as a proxy.
        double previous = -1;
        for (int i = 0; i < 256; i += 8)
        {
            var c = Colormaps.Entry(colormap, i);
            double luma = (0.2126 * c.Red) + (0.7152 * c.Green) + (0.0722 * c.Blue);
            Assert.That(luma, Is.GreaterThan(previous), $"entry {i}");
            previous = luma;
        }
    }

    [Test]
    public void Entry_OutOfRange_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Colormaps.Entry(Colormap.Jet, 256));
        Assert.Throws<ArgumentOutOfRangeException>(() => Colormaps.Map((Colormap)42, 0.5f));
    }

    private static double Interp((double X, double V)[] knots, double x)
    {
        for (int k = 1; k < knots.Length; k++)
        {
            if (x <= knots[k].X)
            {
                return knots[k - 1].V + ((knots[k].V - knots[k - 1].V) * (x - knots[k - 1].X) / (knots[k].X - knots[k - 1].X));
            }
        }

        return knots[^1].V;
    }
}
