using SkiaSharp;
using VitAttention.Inference;
using VitAttention.Rendering.Viewer;
using VitAttention.Tests.Rollout;

namespace VitAttention.Tests.Rendering.Viewer;

/// <summary>Viewer data made here: seeded random attention in any layout, over a generated photo.</summary>
internal static class ViewerSamples
{
    /// <summary>
    /// A page's data with <paramref name="prefix"/> tokens before a <paramref name="gridHeight"/>×<paramref name="gridWidth"/>
    /// grid, random softmax-like rows, a photo of <paramref name="photoWidth"/>×<paramref name="photoHeight"/> with the
    /// seen region <paramref name="seen"/> (the whole photo when null), and class-specific maps for two classes.
    /// </summary>
    public static ViewerData Random(
        int layers, int heads, int gridHeight, int gridWidth, IReadOnlyList<string> prefix, int seed,
        int photoWidth = 200, int photoHeight = 120, SKRect? seen = null)
    {
        int tokens = prefix.Count + (gridHeight * gridWidth);
        var attention = RandomStacks.Create(new AttentionShape(layers, 1, heads, tokens), seed);
        var random = new Random(seed + 1);
        float[] Map() => Enumerable.Range(0, gridHeight * gridWidth).Select(_ => (float)random.NextDouble()).ToArray();
        return new ViewerData
        {
            Title = $"random {layers}x{heads}x{tokens} (seed {seed})",
            ModelDescription = "seeded random attention",
            Photo = Photo(photoWidth, photoHeight, seed),
            PhotoWidth = photoWidth,
            PhotoHeight = photoHeight,
            SeenRegion = seen ?? new SKRect(0, 0, photoWidth, photoHeight),
            GridHeight = gridHeight,
            GridWidth = gridWidth,
            PrefixTokens = prefix,
            Layers = layers,
            Heads = heads,
            Attention = attention,
            Predictions = [new ViewerPrediction(3, "cat", 0.7f), new ViewerPrediction(1, "dog", 0.2f), new ViewerPrediction(0, "car", 0.1f)],
            Maps =
            [
                new ViewerMap("rollout", null, null, Map(), "a class-agnostic map"),
                new ViewerMap("gradients", 3, "cat", Map(), "a class-specific map for cat"),
                new ViewerMap("gradients", 1, "dog", Map(), "a class-specific map for dog"),
            ],
        };
    }

    /// <summary>A smooth colour gradient with seeded noise, as PNG bytes.</summary>
    public static byte[] Photo(int width, int height, int seed)
    {
        var random = new Random(seed);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                bitmap.SetPixel(x, y, new SKColor((byte)(255 * x / width), (byte)(255 * y / height), (byte)random.Next(96, 160)));
            }
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }
}
