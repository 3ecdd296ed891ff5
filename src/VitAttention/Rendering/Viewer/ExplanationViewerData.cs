using System.Globalization;
using SkiaSharp;
using VitAttention.Models;

namespace VitAttention.Rendering.Viewer;

/// <summary>
/// The one place that knows how an <see cref="Explanation"/> holds its numbers: it copies what the viewer shows into
/// a <see cref="ViewerData"/>. When the explanation's shape changes (its own item's attention, per-method maps), only
/// this file changes.
/// </summary>
internal static class ExplanationViewerData
{
    /// <summary>The longest side of the photo embedded in the page; larger photos are scaled down (the page shows ≤ 560 px).</summary>
    public const int DefaultMaxPhotoSide = 640;

    /// <summary>Photos whose PNG is larger than this are embedded as JPEG at <see cref="JpegQuality"/> instead.</summary>
    public const int MaxPngBytes = 300_000;

    /// <summary>The JPEG quality for detailed photos.</summary>
    public const int JpegQuality = 90;

    /// <summary>The viewer's data for an explanation: its photo, its batch item's attention, predictions and rollout.</summary>
    public static ViewerData From(Explanation explanation, int maxPhotoSide = DefaultMaxPhotoSide)
    {
        ArgumentNullException.ThrowIfNull(explanation);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPhotoSide, 16);
        VitConfig c = explanation.Config;
        var (photo, mediaType, width, height, seen) = EncodePhoto(explanation.Photo, explanation.SeenRegion, maxPhotoSide);
        var rollout = explanation.Options.Rollout;
        string description = string.Create(CultureInfo.InvariantCulture,
            $"Attention rollout computed by the library: {rollout.Fusion.ToString().ToLowerInvariant()} over heads, α {rollout.ResidualAlpha}, " +
            $"discard {rollout.DiscardRatio}, layers {rollout.FirstLayer}..{rollout.LastLayer ?? c.NumLayers}, from token {rollout.QueryToken}.");
        return new ViewerData
        {
            Title = Path.GetFileName(explanation.Source) is { Length: > 0 } name ? name : explanation.Source,
            ModelDescription = Describe(c),
            Photo = photo,
            PhotoMediaType = mediaType,
            PhotoWidth = width,
            PhotoHeight = height,
            SeenRegion = seen,
            GridHeight = c.GridHeight,
            GridWidth = c.GridWidth,
            PrefixTokens = PrefixKinds(c),
            Layers = c.NumLayers,
            Heads = c.NumHeads,
            Attention = ItemAttention(explanation),
            Predictions = [.. explanation.Predictions.Select(p => new ViewerPrediction(p.Index, p.Label, p.Probability))],
            Maps =
            [
                new ViewerMap("rollout", null, null, explanation.Rollout.Values.ToArray(), description),
                .. MethodMaps(explanation),
            ],
            Colormap = explanation.Options.Figure.Overlay.Colormap,
            Alpha = explanation.Options.Figure.Overlay.Alpha,
        };
    }

    /// <summary>
    /// Every other method map the explanation holds (<see cref="Explanation.Maps"/>; the rollout is already there), one
    /// per method and class, so the page's method picker lists each method and its class picker each class.
    /// </summary>
    private static IEnumerable<ViewerMap> MethodMaps(Explanation explanation)
    {
        foreach (var m in explanation.Maps)
        {
            if (m.Method == ExplanationMethod.Rollout)
            {
                continue;
            }

            var spec = Analysis.Methods.MethodCatalog.Of(m.Method);
            string description = m.ClassIndex is { } c
                ? string.Create(CultureInfo.InvariantCulture, $"{spec.Title} computed by the library for class {c} ({m.ClassLabel}), from the gradient of its logit.")
                : $"{spec.Title} computed by the library.";
            yield return new ViewerMap(ViewerName(m.Method), m.ClassIndex, m.ClassLabel, m.Map.ToArray(), description);
        }
    }

    /// <summary>A method's name in the page: its CLI name, except that "attention" is the page's own per-layer view.</summary>
    public static string ViewerName(ExplanationMethod method) =>
        method == ExplanationMethod.Attention ? "last-layer attention" : Analysis.Methods.MethodCatalog.Of(method).Name;

    /// <summary>The kinds of the prefix tokens in sequence order: class, distillation, then registers.</summary>
    public static IReadOnlyList<string> PrefixKinds(VitConfig config)
    {
        var kinds = new List<string>(config.PrefixTokens);
        if (config.HasClassToken)
        {
            kinds.Add("CLS");
        }

        if (config.HasDistillationToken)
        {
            kinds.Add("DIST");
        }

        for (int r = 1; r <= config.RegisterTokens; r++)
        {
            kinds.Add($"REG{r}");
        }

        // A config whose counts disagree (ValidateLayout rejects it when loading) still gets a name per token.
        while (kinds.Count < config.PrefixTokens)
        {
            kinds.Add($"P{kinds.Count}");
        }

        return kinds.Count > config.PrefixTokens ? kinds.GetRange(0, config.PrefixTokens) : kinds;
    }

    // [layer, head, query, key]: the explanation's own stack ([layer, 1, head, query, key], kept with KeepAttentions).
    private static float[] ItemAttention(Explanation explanation) => explanation.RequireAttentions().Data.ToArray();

    private static (byte[] Bytes, string MediaType, int Width, int Height, SKRect Seen) EncodePhoto(SKBitmap photo, SKRectI seenRegion, int maxSide)
    {
        double scale = Math.Min(1.0, maxSide / (double)Math.Max(photo.Width, photo.Height));
        int w = Math.Max(1, (int)Math.Round(photo.Width * scale)), h = Math.Max(1, (int)Math.Round(photo.Height * scale));
        double sx = w / (double)photo.Width, sy = h / (double)photo.Height;
        var seen = new SKRect(
            (float)(seenRegion.Left * sx), (float)(seenRegion.Top * sy), (float)(seenRegion.Right * sx), (float)(seenRegion.Bottom * sy));
        using var scaled = Overlay.PreparePhoto(photo, w, h);
        using var image = SKImage.FromBitmap(scaled);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        if (png.Size <= MaxPngBytes)
        {
            return (png.ToArray(), "image/png", w, h, seen);
        }

        // A detailed photo: JPEG keeps the page's size in check (a ViT-B/16 page stays under 8 MB whatever the photo).
        using var jpeg = image.Encode(SKEncodedImageFormat.Jpeg, JpegQuality);
        return (jpeg.ToArray(), "image/jpeg", w, h, seen);
    }

    private static string Describe(VitConfig c) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{c.Family} ViT: {c.NumLayers} layers × {c.NumHeads} heads, hidden {c.HiddenSize}, patch {c.PatchSize}, {c.ImageHeight}×{c.ImageWidth} px input, {c.Tokens} tokens ({c.PrefixTokens} prefix + {c.GridHeight}×{c.GridWidth} patches), {c.NumClasses} classes");
}
