using SkiaSharp;

namespace VitAttention.Analysis;

/// <summary>
/// A region of a photo, in photo pixels, whose share of attention is measured: a rectangle (a box drawn
/// around the subject) or a mask image (white = inside, black or transparent = outside, grey = partly inside).
/// </summary>
public sealed class RegionOfInterest
{
    private readonly float[]? _mask; // [y, x] weight in [0, 1], photo size

    private RegionOfInterest(SKRectI rectangle, float[]? mask, SKSizeI maskSize)
    {
        Rectangle = rectangle;
        _mask = mask;
        MaskSize = maskSize;
    }

    /// <summary>
    /// The rectangle (left and top inclusive, right and bottom exclusive, photo pixels); for a mask, the
    /// bounding box of its non-zero pixels.
    /// </summary>
    public SKRectI Rectangle { get; }

    /// <summary>Whether the region is a mask image rather than a rectangle.</summary>
    public bool IsMask => _mask is not null;

    /// <summary>The mask's size (which must equal the photo's); empty for a rectangle.</summary>
    public SKSizeI MaskSize { get; }

    /// <summary>A rectangular region in photo pixels (left and top inclusive, right and bottom exclusive).</summary>
    /// <param name="rectangle">The rectangle in photo pixels.</param>
    /// <returns>The region.</returns>
    /// <exception cref="ArgumentException">The rectangle is empty.</exception>
    public static RegionOfInterest FromRectangle(SKRectI rectangle)
    {
        if (rectangle.Width <= 0 || rectangle.Height <= 0)
        {
            throw new ArgumentException(
                $"The region of interest {Describe(rectangle)} is empty; give a rectangle with positive width and height in photo pixels.",
                nameof(rectangle));
        }

        return new RegionOfInterest(rectangle, null, SKSizeI.Empty);
    }

    /// <summary>A rectangular region from its left, top, width and height in photo pixels.</summary>
    /// <param name="left">Left edge, inclusive.</param>
    /// <param name="top">Top edge, inclusive.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <returns>The region.</returns>
    /// <exception cref="ArgumentException">The rectangle is empty.</exception>
    public static RegionOfInterest FromRectangle(int left, int top, int width, int height) =>
        FromRectangle(SKRectI.Create(left, top, width, height));

    /// <summary>
    /// A region from a mask image of the photo's size: each pixel's weight is its grey level
    /// ((R + G + B) / 3 / 255) times its opacity, so white is inside, black or transparent outside, grey partly
    /// inside. The mask is read once; the bitmap may be disposed afterwards.
    /// </summary>
    /// <param name="mask">The mask, the photo's size (the caller keeps and disposes it).</param>
    /// <returns>The region.</returns>
    /// <exception cref="ArgumentException">The mask is empty or every pixel has weight 0.</exception>
    public static RegionOfInterest FromMask(SKBitmap mask)
    {
        Rendering.SkiaGuard.ThrowIfDisposed(mask, nameof(mask));
        if (mask.Width <= 0 || mask.Height <= 0)
        {
            throw new ArgumentException($"The mask image is empty ({mask.Width}×{mask.Height}).", nameof(mask));
        }

        using var rgba = new SKBitmap(new SKImageInfo(mask.Width, mask.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        if (!mask.CopyTo(rgba, SKColorType.Rgba8888))
        {
            using var canvas = new SKCanvas(rgba);
            canvas.Clear(SKColors.Transparent);
            canvas.DrawBitmap(mask, 0, 0, new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None));
        }

        var pixels = rgba.GetPixelSpan();
        var weights = new float[mask.Width * mask.Height];
        int left = int.MaxValue, top = int.MaxValue, right = -1, bottom = -1;
        for (int y = 0; y < mask.Height; y++)
        {
            var row = pixels.Slice(y * rgba.RowBytes, mask.Width * 4);
            for (int x = 0; x < mask.Width; x++)
            {
                int o = x * 4;
                float w = (row[o] + row[o + 1] + row[o + 2]) / (3f * 255f) * (row[o + 3] / 255f);
                weights[(y * mask.Width) + x] = w;
                if (w > 0f)
                {
                    left = Math.Min(left, x);
                    right = Math.Max(right, x + 1);
                    top = Math.Min(top, y);
                    bottom = Math.Max(bottom, y + 1);
                }
            }
        }

        if (right < 0)
        {
            throw new ArgumentException(
                $"The {mask.Width}×{mask.Height} mask image is empty: every pixel is black or transparent. Paint the region of interest white.",
                nameof(mask));
        }

        return new RegionOfInterest(new SKRectI(left, top, right, bottom), weights, new SKSizeI(mask.Width, mask.Height));
    }

    /// <summary>
    /// The fraction of each patch-grid cell covered by the region, row-major over a
    /// <paramref name="gridHeight"/> × <paramref name="gridWidth"/> grid stretched over
    /// <paramref name="seenRegion"/>. Cells have fractional extents (seen width / grid width pixels); a
    /// rectangle covers a cell by the area of their intersection, a mask by its mean weight over the cell with
    /// partly covered pixels counted by their covered area. The part of the region outside the seen region is
    /// ignored.
    /// </summary>
    /// <param name="photoSize">The photo's size in pixels.</param>
    /// <param name="seenRegion">The rectangle of the photo the model saw.</param>
    /// <param name="gridHeight">Patch-grid rows.</param>
    /// <param name="gridWidth">Patch-grid columns.</param>
    /// <returns>gridHeight × gridWidth coverages in [0, 1].</returns>
    /// <exception cref="ArgumentException">
    /// The region is not inside the photo, a mask's size differs from the photo's, the seen region is empty or
    /// outside the photo, or the region does not overlap the seen region; messages give the sizes.
    /// </exception>
    public double[] CoverageOnGrid(SKSizeI photoSize, SKRectI seenRegion, int gridHeight, int gridWidth)
    {
        Validate(photoSize, seenRegion);
        if (gridHeight <= 0 || gridWidth <= 0)
        {
            throw new ArgumentException($"The patch grid must have a positive size, got {gridHeight}×{gridWidth}.", nameof(gridHeight));
        }

        double cellW = seenRegion.Width / (double)gridWidth;
        double cellH = seenRegion.Height / (double)gridHeight;
        var coverage = new double[gridHeight * gridWidth];
        if (_mask is null)
        {
            var colCover = new double[gridWidth];
            var rowCover = new double[gridHeight];
            for (int c = 0; c < gridWidth; c++)
            {
                double x0 = seenRegion.Left + (c * cellW);
                colCover[c] = Overlap(x0, x0 + cellW, Rectangle.Left, Rectangle.Right) / cellW;
            }

            for (int r = 0; r < gridHeight; r++)
            {
                double y0 = seenRegion.Top + (r * cellH);
                rowCover[r] = Overlap(y0, y0 + cellH, Rectangle.Top, Rectangle.Bottom) / cellH;
            }

            for (int r = 0; r < gridHeight; r++)
            {
                for (int c = 0; c < gridWidth; c++)
                {
                    coverage[(r * gridWidth) + c] = rowCover[r] * colCover[c];
                }
            }
        }
        else
        {
            // rowSums[y, c]: the mask integrated along x over cell column c, for each photo row y in the seen region.
            int seenH = seenRegion.Height;
            var rowSums = new double[seenH * gridWidth];
            for (int y = 0; y < seenH; y++)
            {
                var maskRow = _mask.AsSpan(((seenRegion.Top + y) * MaskSize.Width) + seenRegion.Left, seenRegion.Width);
                var sums = rowSums.AsSpan(y * gridWidth, gridWidth);
                for (int x = 0; x < maskRow.Length; x++)
                {
                    float w = maskRow[x];
                    if (w == 0f)
                    {
                        continue;
                    }

                    // Pixel [x, x + 1) in seen-region coordinates touches cells floor(x / cellW) .. floor((x + 1) / cellW).
                    int c0 = Math.Min((int)(x / cellW), gridWidth - 1);
                    int c1 = Math.Min((int)((x + 1) / cellW), gridWidth - 1);
                    for (int c = c0; c <= c1; c++)
                    {
                        sums[c] += w * Overlap(x, x + 1, c * cellW, (c + 1) * cellW);
                    }
                }
            }

            for (int y = 0; y < seenH; y++)
            {
                int r0 = Math.Min((int)(y / cellH), gridHeight - 1);
                int r1 = Math.Min((int)((y + 1) / cellH), gridHeight - 1);
                for (int r = r0; r <= r1; r++)
                {
                    double oy = Overlap(y, y + 1, r * cellH, (r + 1) * cellH);
                    if (oy <= 0)
                    {
                        continue;
                    }

                    for (int c = 0; c < gridWidth; c++)
                    {
                        coverage[(r * gridWidth) + c] += oy * rowSums[(y * gridWidth) + c];
                    }
                }
            }

            double area = cellW * cellH;
            for (int i = 0; i < coverage.Length; i++)
            {
                coverage[i] = Math.Clamp(coverage[i] / area, 0, 1);
            }
        }

        if (coverage.All(v => v <= 0))
        {
            throw new ArgumentException(
                $"The region of interest {Describe(Rectangle)} does not overlap the region the model saw, {Describe(seenRegion)} of the " +
                $"{photoSize.Width}×{photoSize.Height} photo (crop-based models see only the centre crop).");
        }

        return coverage;
    }

    /// <summary>Throws when the region does not fit the photo.</summary>
    /// <param name="photoSize">The photo's size in pixels.</param>
    /// <param name="seenRegion">The rectangle of the photo the model saw.</param>
    /// <exception cref="ArgumentException">The message gives the region and the photo size.</exception>
    public void Validate(SKSizeI photoSize, SKRectI seenRegion)
    {
        if (photoSize.Width <= 0 || photoSize.Height <= 0)
        {
            throw new ArgumentException($"The photo size must be positive, got {photoSize.Width}×{photoSize.Height}.", nameof(photoSize));
        }

        if (seenRegion.Width <= 0 || seenRegion.Height <= 0 || seenRegion.Left < 0 || seenRegion.Top < 0
            || seenRegion.Right > photoSize.Width || seenRegion.Bottom > photoSize.Height)
        {
            throw new ArgumentException(
                $"The seen region {Describe(seenRegion)} must be a non-empty rectangle inside the {photoSize.Width}×{photoSize.Height} photo.",
                nameof(seenRegion));
        }

        if (_mask is not null && MaskSize != photoSize)
        {
            throw new ArgumentException(
                $"The mask image is {MaskSize.Width}×{MaskSize.Height} but the photo is {photoSize.Width}×{photoSize.Height}; " +
                "draw the mask at the photo's own size (after EXIF orientation).", nameof(photoSize));
        }

        if (Rectangle.Left < 0 || Rectangle.Top < 0 || Rectangle.Right > photoSize.Width || Rectangle.Bottom > photoSize.Height)
        {
            throw new ArgumentException(
                $"The region of interest {Describe(Rectangle)} is outside the {photoSize.Width}×{photoSize.Height} photo; it must lie within " +
                $"(0, 0)–({photoSize.Width}, {photoSize.Height}) in photo pixels (after EXIF orientation).", nameof(photoSize));
        }
    }

    /// <inheritdoc/>
    public override string ToString() => (IsMask ? "mask, bounding box " : "rectangle ") + Describe(Rectangle);

    internal static string Describe(SKRectI r) => $"({r.Left}, {r.Top})–({r.Right}, {r.Bottom}) [{r.Width}×{r.Height}]";

    private static double Overlap(double a0, double a1, double b0, double b1) => Math.Max(0, Math.Min(a1, b1) - Math.Max(a0, b0));
}
