using SkiaSharp;

namespace VitAttention;

/// <summary>
/// One image to explain: a file path, encoded bytes (PNG, JPEG, WebP, …), a stream or a decoded bitmap, with a name
/// for messages, captions and file names. A path, a <see cref="T:byte[]"/>, a <see cref="Stream"/> or an
/// <see cref="SKBitmap"/> converts to it implicitly, so <c>explainer.Explain("cat.png")</c>,
/// <c>explainer.Explain(bytes, options)</c> and <c>explainer.Explain(bitmap)</c> all work; use the <c>From…</c> methods
/// to give bytes, streams and bitmaps a name.
/// </summary>
/// <remarks>
/// Nothing is read when the input is made. A stream is read to its end when the image is explained and is not closed;
/// a bitmap is copied and not disposed: the caller keeps ownership of both.
/// </remarks>
public sealed class ImageInput
{
    private const string BytesName = "image bytes";
    private const string StreamName = "stream";
    private const string BitmapName = "bitmap";

    private ImageInput(string name, string? path, byte[]? bytes, Stream? stream, SKBitmap? bitmap)
    {
        Name = name;
        Path = path;
        Bytes = bytes;
        Stream = stream;
        Bitmap = bitmap;
    }

    /// <summary>The name used in messages, captions, JSON and output file names: the path, or the name given.</summary>
    public string Name { get; }

    /// <summary>The file to read, or null.</summary>
    internal string? Path { get; }

    /// <summary>The encoded image, or null.</summary>
    internal byte[]? Bytes { get; }

    /// <summary>The stream to read the encoded image from, or null.</summary>
    internal Stream? Stream { get; }

    /// <summary>The decoded bitmap, or null.</summary>
    internal SKBitmap? Bitmap { get; }

    /// <summary>An image file: JPEG, PNG, WebP, GIF, BMP, ICO or WBMP.</summary>
    /// <param name="path">The file's path; it is read when the image is explained.</param>
    /// <returns>The input, named by <paramref name="path"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    public static ImageInput FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new ImageInput(path, path, null, null, null);
    }

    /// <summary>An encoded image held in memory (PNG, JPEG, WebP, …).</summary>
    /// <param name="encodedImage">The encoded bytes; not copied, so do not change them until the image is explained.</param>
    /// <param name="name">A name for messages and file names, such as the upload's file name; null for "image bytes".</param>
    /// <returns>The input.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="encodedImage"/> is null.</exception>
    public static ImageInput FromBytes(byte[] encodedImage, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(encodedImage);
        return new ImageInput(NameOr(name, BytesName), null, encodedImage, null, null);
    }

    /// <summary>An encoded image read from a stream when it is explained (read to its end, not closed).</summary>
    /// <param name="stream">The stream; the caller keeps ownership and disposes it.</param>
    /// <param name="name">A name for messages and file names; null uses a <see cref="FileStream"/>'s file name, else "stream".</param>
    /// <returns>The input.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="stream"/> is null.</exception>
    public static ImageInput FromStream(Stream stream, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return new ImageInput(NameOr(name, stream is FileStream { Name: { Length: > 0 } file } ? file : StreamName), null, null, stream, null);
    }

    /// <summary>A decoded, upright bitmap (it is copied when explained; alpha is dropped).</summary>
    /// <param name="bitmap">The bitmap; the caller keeps ownership and disposes it.</param>
    /// <param name="name">A name for messages and file names; null for "bitmap".</param>
    /// <returns>The input.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="bitmap"/> is null.</exception>
    public static ImageInput FromBitmap(SKBitmap bitmap, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        return new ImageInput(NameOr(name, BitmapName), null, null, null, bitmap);
    }

    /// <summary>An image file; see <see cref="FromFile"/>.</summary>
    /// <param name="path">The file's path.</param>
    public static implicit operator ImageInput(string path) => FromFile(path);

    /// <summary>An encoded image in memory, named "image bytes"; see <see cref="FromBytes"/>.</summary>
    /// <param name="encodedImage">The encoded bytes.</param>
    public static implicit operator ImageInput(byte[] encodedImage) => FromBytes(encodedImage);

    /// <summary>An encoded image read from a stream; see <see cref="FromStream"/>.</summary>
    /// <param name="stream">The stream (read to its end, not closed).</param>
    public static implicit operator ImageInput(Stream stream) => FromStream(stream);

    /// <summary>A decoded bitmap, named "bitmap"; see <see cref="FromBitmap"/>.</summary>
    /// <param name="bitmap">The bitmap (copied, not disposed).</param>
    public static implicit operator ImageInput(SKBitmap bitmap) => FromBitmap(bitmap);

    /// <summary>The input's <see cref="Name"/>.</summary>
    /// <returns>The name.</returns>
    public override string ToString() => Name;

    /// <summary>
    /// The input for one element of a sequence given to <c>ExplainMany</c>; unnamed bytes, streams and bitmaps are
    /// named by their position, e.g. "image bytes [3]".
    /// </summary>
    internal static ImageInput FromElement<TImage>(TImage element, int index)
    {
        string Indexed(string name) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{name} [{index}]");
        return element switch
        {
            null => throw new ArgumentNullException(nameof(element), $"Image [{index}] of the sequence is null."),
            ImageInput input => input,
            string path => FromFile(path),
            byte[] bytes => FromBytes(bytes, Indexed(BytesName)),
            FileStream { Name: { Length: > 0 } } file => FromStream(file),
            Stream stream => FromStream(stream, Indexed(StreamName)),
            SKBitmap bitmap => FromBitmap(bitmap, Indexed(BitmapName)),
            _ => throw new ArgumentException($"Image [{index}] is a {element.GetType().Name}; {SupportedTypes}."),
        };
    }

    /// <summary>Throws unless <typeparamref name="TImage"/> is an element type <c>ExplainMany</c> understands.</summary>
    /// <exception cref="ArgumentException">The type is not a path, bytes, stream, bitmap or <see cref="ImageInput"/>.</exception>
    internal static void RequireElementType<TImage>(string parameter)
    {
        Type t = typeof(TImage);
        bool ok = t == typeof(string) || t == typeof(byte[]) || t == typeof(ImageInput) || t == typeof(object)
            || typeof(Stream).IsAssignableFrom(t) || typeof(SKBitmap).IsAssignableFrom(t);
        if (!ok)
        {
            throw new ArgumentException($"ExplainMany was given a sequence of {t.Name}; {SupportedTypes}.", parameter);
        }
    }

    private const string SupportedTypes =
        "give image paths (string), encoded images (byte[]), streams, SKBitmaps or ImageInputs";

    private static string NameOr(string? name, string fallback) => string.IsNullOrWhiteSpace(name) ? fallback : name;
}
