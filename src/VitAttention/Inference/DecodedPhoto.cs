using SkiaSharp;

namespace VitAttention.Inference;

/// <summary>A decoded, upright photo and how it relates to the encoded image.</summary>
/// <param name="Photo">
/// The photo, upright (EXIF orientation applied), 8-bit RGBA (opaque or unpremultiplied) with every alpha 255:
/// exactly the RGB that PIL's <c>convert("RGB")</c> would give, alpha discarded.
/// </param>
/// <param name="SourceWidth">Width of the full-resolution upright image the file holds.</param>
/// <param name="SourceHeight">Height of the full-resolution upright image the file holds.</param>
internal sealed record DecodedPhoto(SKBitmap Photo, int SourceWidth, int SourceHeight);
