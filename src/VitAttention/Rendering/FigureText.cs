using System.Reflection;
using SkiaSharp;

namespace VitAttention.Rendering;

/// <summary>
/// Text for figures, always in the DejaVu Sans shipped inside this assembly (so a figure looks the same on
/// every machine, with or without system fonts), unhinted and antialiased.
/// </summary>
internal static class FigureText
{
    private const string FontResource = "VitAttention.Rendering.Fonts.DejaVuSans.ttf";

    private static readonly Lazy<SKTypeface> LazyTypeface = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>DejaVu Sans, loaded once from the embedded resource and kept for the life of the process.</summary>
    public static SKTypeface Typeface => LazyTypeface.Value;

    public static SKFont CreateFont(float size, bool bold = false) => new(Typeface, size)
    {
        Edging = SKFontEdging.Antialias,
        Hinting = SKFontHinting.None,
        Subpixel = true,
        Embolden = bold,
    };

    /// <summary>Height of one line: descent − ascent.</summary>
    public static float LineHeight(SKFont font)
    {
        font.GetFontMetrics(out var m);
        return m.Descent - m.Ascent;
    }

    /// <summary>Distance from a line's top to its baseline.</summary>
    public static float Ascent(SKFont font)
    {
        font.GetFontMetrics(out var m);
        return -m.Ascent;
    }

    /// <summary>
    /// Makes <paramref name="text"/> fit <paramref name="maxWidth"/>: first shrinks the font down to
    /// <paramref name="minScale"/> of its size, then drops characters and adds an ellipsis. Returns the text to draw.
    /// </summary>
    public static string Fit(string text, SKFont font, float maxWidth, float minScale = 0.75f)
    {
        float width = font.MeasureText(text);
        if (width <= maxWidth)
        {
            return text;
        }

        float original = font.Size;
        font.Size = Math.Max(original * minScale, original * maxWidth / width);
        if (font.MeasureText(text) <= maxWidth)
        {
            return text;
        }

        for (int n = text.Length - 1; n > 0; n--)
        {
            string candidate = text[..n].TrimEnd() + "…";
            if (font.MeasureText(candidate) <= maxWidth)
            {
                return candidate;
            }
        }

        return "…";
    }

    private static SKTypeface Load()
    {
        using var stream = typeof(FigureText).Assembly.GetManifestResourceStream(FontResource)
            ?? throw new InvalidOperationException($"The embedded font {FontResource} is missing from {typeof(FigureText).Assembly.GetName().Name}.");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        // A native memory copy: the typeface reads glyphs from it lazily, from any thread, for the process's life.
        var typeface = SKTypeface.FromStream(new SKMemoryStream(bytes));
        return typeface is null || typeface.GlyphCount == 0
            ? throw new InvalidOperationException($"The embedded font {FontResource} could not be loaded by SkiaSharp.")
            : typeface;
    }
}
