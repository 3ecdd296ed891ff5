using SkiaSharp;

namespace VitAttention.Inference;

/// <summary>
/// A photo after preprocessing: the upright photo, the part of it the model saw, and the model's input tensor.
/// Dispose it to release <see cref="Photo"/>.
/// </summary>
internal sealed class PreprocessedImage : IDisposable
{
    internal PreprocessedImage(string source, SKBitmap photo, int sourceWidth, int sourceHeight, SKRect crop, float[] pixels)
    {
        Source = source;
        Photo = photo;
        SourceWidth = sourceWidth;
        SourceHeight = sourceHeight;
        Crop = crop;
        Pixels = pixels;
    }

    /// <summary>The file path or name the image came from, for messages and captions.</summary>
    public string Source { get; }

    /// <summary>
    /// The upright photo (EXIF orientation applied) as 8-bit RGBA with every alpha 255, for overlays. It is smaller than
    /// the encoded image when that exceeded <see cref="ImageLimits.MaxPixels"/> and was decoded downscaled.
    /// </summary>
    public SKBitmap Photo { get; }

    /// <summary>Width of the full-resolution upright image in the file (equals <see cref="Photo"/>'s unless downscaled).</summary>
    public int SourceWidth { get; }

    /// <summary>Height of the full-resolution upright image in the file (equals <see cref="Photo"/>'s unless downscaled).</summary>
    public int SourceHeight { get; }

    /// <summary>
    /// The region of <see cref="Photo"/> that the model saw, in its pixel coordinates: the whole photo for a plain resize,
    /// the centre square for a resize-and-crop pipeline. The model's input pixel (x, y) covers
    /// <c>Crop.Left + (x + 0.5) · Crop.Width / ImageWidth</c> (and likewise in y).
    /// </summary>
    public SKRect Crop { get; }

    /// <summary>The normalised input tensor, <c>[channel, height, width]</c> float32.</summary>
    public float[] Pixels { get; }

    /// <summary>Releases <see cref="Photo"/>.</summary>
    public void Dispose() => Photo.Dispose();
}
