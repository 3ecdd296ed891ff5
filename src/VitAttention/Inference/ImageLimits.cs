namespace VitAttention.Inference;

/// <summary>
/// Bounds on what an image may cost to decode, so that hostile uploads (decompression bombs, huge files) cannot exhaust
/// memory. Change with <c>with</c>: <c>ImageLimits.Default with { MaxPixels = 50_000_000 }</c>.
/// </summary>
public sealed record ImageLimits
{
    /// <summary>The defaults: 100 MB encoded, 100 megapixels decoded, 1 gigapixel claimed.</summary>
    public static ImageLimits Default { get; } = new();

    /// <summary>Largest encoded file or stream accepted, in bytes (default 100 MB).</summary>
    public long MaxEncodedBytes { get; init; } = 100L * 1024 * 1024;

    /// <summary>
    /// Most pixels held decoded in memory (default 100 megapixels, 400 MB as RGBA). A larger image is decoded
    /// downscaled to fit: by the codec's own scaling where the format has it (JPEG), else by averaging blocks of
    /// rows and columns as the scanlines stream in (PNG and others that decode line by line).
    /// </summary>
    public long MaxPixels { get; init; } = 100_000_000;

    /// <summary>
    /// Most pixels an image may claim in its header (default 1 gigapixel). Larger images are rejected before any pixel
    /// is decoded: decoding them even downscaled costs time in proportion to their claimed size.
    /// </summary>
    public long MaxSourcePixels { get; init; } = 1_000_000_000;

    /// <summary>Throws when a limit is not positive.</summary>
    /// <exception cref="ArgumentException">A limit is zero or negative.</exception>
    public void Validate()
    {
        if (MaxEncodedBytes <= 0 || MaxPixels <= 0 || MaxSourcePixels <= 0)
        {
            throw new ArgumentException(
                $"Image limits must be positive (MaxEncodedBytes {MaxEncodedBytes}, MaxPixels {MaxPixels}, MaxSourcePixels {MaxSourcePixels}).");
        }
    }
}
