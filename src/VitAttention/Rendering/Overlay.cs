using System.Buffers;
using System.Runtime.CompilerServices;
using SkiaSharp;

namespace VitAttention.Rendering;

/// <summary>Blends a heat map over a photo, at the photo's own size and aspect, over the region the model saw.</summary>
public static class Overlay
{
    /// <summary>
    /// Draws <paramref name="map"/> as a heat map over the part of <paramref name="photo"/> the model saw and
    /// returns a new opaque bitmap of the photo's size (Rgba8888). Inside <paramref name="seenRegion"/> each
    /// pixel is (1 − α) · photo + α · colour; outside it the photo is darkened by
    /// <see cref="OverlayOptions.UnseenDimming"/>. The caller disposes the bitmap.
    /// </summary>
    /// <param name="photo">The photo as decoded (EXIF-oriented); any size, aspect and colour type.</param>
    /// <param name="seenRegion">
    /// The rectangle of the photo, in photo pixels, that the model's input covered: the whole photo for models
    /// that resize, the centre crop for models that crop.
    /// </param>
    /// <param name="map">Values over the patch grid; the grid is stretched over <paramref name="seenRegion"/>.</param>
    /// <param name="options">Colormap, alpha, scaling; null for <see cref="OverlayOptions.Default"/>.</param>
    /// <param name="mapName">How error messages name the map; defaults to the argument expression.</param>
    /// <exception cref="ArgumentException">
    /// The photo is empty, the seen region is empty or not inside the photo, the map holds NaN or ±∞, or an
    /// option is out of range.
    /// </exception>
    public static SKBitmap Render(
        SKBitmap photo, SKRectI seenRegion, AttentionMap map, OverlayOptions? options = null,
        [CallerArgumentExpression(nameof(map))] string? mapName = null)
    {
        SkiaGuard.ThrowIfDisposed(photo, nameof(photo));
        ArgumentNullException.ThrowIfNull(map);
        options ??= OverlayOptions.Default;
        options.Validate();
        ValidatePhoto(photo, seenRegion);
        HeatMap.RequireFinite(map, mapName);
        var target = PreparePhoto(photo, photo.Width, photo.Height);
        try
        {
            BlendInto(target, target, new SKSizeI(photo.Width, photo.Height), seenRegion, map, options);
            return target;
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    /// <summary>Throws when the photo is empty or the seen region is empty or not inside the photo.</summary>
    /// <param name="photo">The photo (not disposed).</param>
    /// <param name="seenRegion">The rectangle of the photo the model saw.</param>
    /// <exception cref="ArgumentException">The message names the region and the photo size.</exception>
    public static void ValidatePhoto(SKBitmap photo, SKRectI seenRegion)
    {
        SkiaGuard.ThrowIfDisposed(photo, nameof(photo));
        if (photo.Width <= 0 || photo.Height <= 0)
        {
            throw new ArgumentException($"The photo is empty ({photo.Width}×{photo.Height}); decode it before rendering.", nameof(photo));
        }

        if (seenRegion.Width <= 0 || seenRegion.Height <= 0)
        {
            throw new ArgumentException(
                $"The seen region {Describe(seenRegion)} is empty; pass the rectangle of the {photo.Width}×{photo.Height} photo the model saw " +
                "(the whole photo for resize-based models, the centre crop for crop-based ones).", nameof(seenRegion));
        }

        if (seenRegion.Left < 0 || seenRegion.Top < 0 || seenRegion.Right > photo.Width || seenRegion.Bottom > photo.Height)
        {
            throw new ArgumentException(
                $"The seen region {Describe(seenRegion)} is not inside the {photo.Width}×{photo.Height} photo; it must lie within " +
                $"(0, 0)–({photo.Width}, {photo.Height}).", nameof(seenRegion));
        }
    }

    /// <summary>Formats a rectangle as "(left, top)–(right, bottom), w×h".</summary>
    internal static string Describe(SKRectI r) => $"({r.Left}, {r.Top})–({r.Right}, {r.Bottom}) [{r.Width}×{r.Height}]";

    /// <summary>
    /// A new opaque Rgba8888 bitmap of <paramref name="width"/> × <paramref name="height"/> holding the photo
    /// scaled to it (over white, should the photo have transparency).
    /// </summary>
    internal static SKBitmap PreparePhoto(SKBitmap photo, int width, int height)
    {
        var target = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(target);
        canvas.Clear(SKColors.White);
        SKSamplingOptions sampling;
        if (width == photo.Width && height == photo.Height)
        {
            sampling = new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None); // exact copy
        }
        else if (width * 2 < photo.Width || height * 2 < photo.Height)
        {
            // Shrinking by more than half: mipmaps keep bilinear from aliasing (building them costs a few ms).
            sampling = new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear);
        }
        else if (width <= photo.Width)
        {
            sampling = new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None);
        }
        else
        {
            sampling = new SKSamplingOptions(SKCubicResampler.Mitchell);
        }

        canvas.DrawBitmap(photo, new SKRect(0, 0, width, height), sampling);
        canvas.Flush();
        return target;
    }

    /// <summary>
    /// Writes photo + heat map into <paramref name="destination"/>: <paramref name="photo"/> holds the photo
    /// scaled to the destination's size (both opaque Rgba8888; they may be the same bitmap). The seen region
    /// (photo pixels) is scaled by destination / photo size; pixels whose centres fall inside it get the heat
    /// map, the others are dimmed.
    /// </summary>
    internal static void BlendInto(
        SKBitmap photo, SKBitmap destination, SKSizeI photoSize, SKRectI seenRegion, AttentionMap map, OverlayOptions options)
    {
        int w = destination.Width;
        int h = destination.Height;
        double sx = w / (double)photoSize.Width;
        double sy = h / (double)photoSize.Height;
        double offX = seenRegion.Left * sx, extX = seenRegion.Width * sx;
        double offY = seenRegion.Top * sy, extY = seenRegion.Height * sy;

        // Output pixels whose centres lie in [off, off + ext): x0 ≤ x < x1.
        int x0 = Math.Clamp((int)Math.Ceiling(offX - 0.5), 0, w);
        int x1 = Math.Clamp((int)Math.Ceiling(offX + extX - 0.5), x0, w);
        int y0 = Math.Clamp((int)Math.Ceiling(offY - 0.5), 0, h);
        int y1 = Math.Clamp((int)Math.Ceiling(offY + extY - 0.5), y0, h);
        int cw = x1 - x0, ch = y1 - y0;

        ReadOnlySpan<byte> src = photo.GetPixelSpan(); // [y, x, rgba]
        var dst = destination.GetPixelSpan();           // [y, x, rgba]
        int srcStride = photo.RowBytes, dstStride = destination.RowBytes;

        // Outside the seen region: the photo, dimmed.
        float dim = 1f - options.UnseenDimming;
        for (int y = 0; y < h; y++)
        {
            var s = src.Slice(y * srcStride, w * 4);
            var d = dst.Slice(y * dstStride, w * 4);
            if (y >= y0 && y < y1)
            {
                Dim(s[..(x0 * 4)], d[..(x0 * 4)], dim);
                Dim(s[(x1 * 4)..], d[(x1 * 4)..], dim);
            }
            else
            {
                Dim(s, d, dim);
            }
        }

        if (cw > 0 && ch > 0)
        {
            var scaled = new float[map.Values.Length];
            HeatMap.NormalizeCore(map.Values, options.Epsilon, options.ClipPercentile, scaled);
            var xTaps = AxisTaps.Create(map.Width, x0, cw, offX, extX, options.Upsampling);
            var yTaps = AxisTaps.Create(map.Height, y0, ch, offY, extY, options.Upsampling);
            var values = ArrayPool<float>.Shared.Rent(cw * ch); // [y − y0, x − x0]
            try
            {
                HeatMap.Resample(scaled, map.Height, map.Width, xTaps, yTaps, values.AsSpan(0, cw * ch));

                // Heat colours pre-multiplied by α, so each channel is one multiply-add: (1 − α) · photo + α · heat.
                var table = Colormaps.Table(options.Colormap);
                Span<float> heat = stackalloc float[Colormaps.Size * 3];
                float a = options.Alpha, keep = 1f - a;
                for (int i = 0; i < heat.Length; i++)
                {
                    heat[i] = (a * table[i]) + 0.5f; // + 0.5: round to nearest when truncating
                }

                for (int y = 0; y < ch; y++)
                {
                    var s = src.Slice(((y0 + y) * srcStride) + (x0 * 4), cw * 4);
                    var d = dst.Slice(((y0 + y) * dstStride) + (x0 * 4), cw * 4);
                    var v = values.AsSpan(y * cw, cw);
                    for (int x = 0; x < cw; x++)
                    {
                        int c = Colormaps.Index(v[x]) * 3;
                        int o = x * 4;
                        d[o] = (byte)((keep * s[o]) + heat[c]);
                        d[o + 1] = (byte)((keep * s[o + 1]) + heat[c + 1]);
                        d[o + 2] = (byte)((keep * s[o + 2]) + heat[c + 2]);
                        d[o + 3] = 255;
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(values);
            }
        }

        destination.NotifyPixelsChanged();
    }

    private static void Dim(ReadOnlySpan<byte> source, Span<byte> destination, float factor)
    {
        if (factor == 1f)
        {
            source.CopyTo(destination);
            return;
        }

        for (int o = 0; o < source.Length; o += 4)
        {
            destination[o] = (byte)((source[o] * factor) + 0.5f);
            destination[o + 1] = (byte)((source[o + 1] * factor) + 0.5f);
            destination[o + 2] = (byte)((source[o + 2] * factor) + 0.5f);
            destination[o + 3] = 255;
        }
    }

}
