using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using System.Reflection;
using System.Text;
using System.Text.Json;

namespace VitAttention.Rendering.Viewer;

/// <summary>
/// Writes the interactive viewer: one HTML file that opens offline in any current browser (no server, nothing fetched).
/// The page's HTML, CSS and JavaScript are embedded resources (viewer.html, viewer.css, viewer.js beside this file);
/// the data goes in as JSON metadata, the photo as a data URL, and the attention as base64 of a gzip stream
/// (float32 row scales, then uint8 codes; see <see cref="AttentionQuantizer"/>), which the page inflates with the
/// browser's own <c>DecompressionStream</c>.
/// </summary>
internal static class ViewerPage
{
    /// <summary>Version of the data layout the page reads; bumped when the layout changes.</summary>
    public const int Format = 1;

    private const string ResourcePrefix = "VitAttention.Rendering.Viewer.";
    private static readonly Lazy<string[]> TemplateParts = new(LoadTemplate);
    private static readonly Lazy<string> Css = new(() => Resource("viewer.css"));
    private static readonly Lazy<string> Script = new(() => Resource("viewer.js"));

    /// <summary>The page for <paramref name="data"/> as one HTML string.</summary>
    /// <exception cref="ArgumentException">The data is inconsistent; see <see cref="ViewerData.Validate"/>.</exception>
    public static string Write(ViewerData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        data.Validate();
        string meta = Meta(data);
        string attention = Convert.ToBase64String(EncodeAttention(data));
        string photo = $"data:{data.PhotoMediaType};base64,{Convert.ToBase64String(data.Photo)}";

        // The template was split at its placeholders once, so nothing injected here is ever searched again.
        string[] p = TemplateParts.Value; // text, TITLE, text, CSS, text, META, text, ATTENTION, text, PHOTO, text, JS, text
        var html = new StringBuilder(p.Sum(s => s.Length) + meta.Length + attention.Length + photo.Length + 256);
        html.Append(p[0]).Append(WebUtility.HtmlEncode(data.Title))
            .Append(p[1]).Append(Css.Value)
            .Append(p[2]).Append(meta)
            .Append(p[3]).Append(attention)
            .Append(p[4]).Append(photo)
            .Append(p[5]).Append(Script.Value)
            .Append(p[6]);
        return html.ToString();
    }

    /// <summary>Writes the page to <paramref name="path"/> atomically (a reader never sees half a page).</summary>
    /// <exception cref="ArgumentException">The data is inconsistent.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Save(ViewerData data, string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        AtomicFile.Write(path, Encoding.UTF8.GetBytes(Write(data)));
    }

    /// <summary>
    /// The attention as the page stores it, before base64: gzip of the row scales (float32 little-endian,
    /// <c>[layer, head, query]</c>) followed by the codes (uint8, <c>[layer, head, query, key]</c>).
    /// </summary>
    internal static byte[] EncodeAttention(ViewerData data)
    {
        int n = data.Tokens;
        int rows = data.Attention.Length / n;
        var codes = new byte[data.Attention.Length];
        var scales = new float[rows];
        AttentionQuantizer.Encode(data.Attention, n, codes, scales);
        var scaleBytes = new byte[rows * sizeof(float)];
        for (int r = 0; r < rows; r++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(scaleBytes.AsSpan(r * sizeof(float)), scales[r]);
        }

        using var output = new MemoryStream(codes.Length / 2);
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(scaleBytes);
            gzip.Write(codes);
        }

        return output.ToArray();
    }

    /// <summary>The page's JSON metadata: dimensions, tokens, predictions, maps, colormaps and defaults.</summary>
    internal static string Meta(ViewerData data)
    {
        using var stream = new MemoryStream();
        // The default encoder escapes <, >, &, quotes and non-ASCII, so the JSON is safe inside a <script> element.
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteNumber("format", Format);
            w.WriteString("generator", $"VitAttention {typeof(ViewerPage).Assembly.GetName().Version?.ToString(3)}");
            w.WriteString("title", data.Title);
            if (data.ModelDescription is not null)
            {
                w.WriteString("model", data.ModelDescription);
            }

            w.WriteNumber("layers", data.Layers);
            w.WriteNumber("heads", data.Heads);
            w.WriteNumber("tokens", data.Tokens);
            w.WriteNumber("gridHeight", data.GridHeight);
            w.WriteNumber("gridWidth", data.GridWidth);
            w.WriteStartArray("prefix");
            foreach (string kind in data.PrefixTokens)
            {
                w.WriteStringValue(kind);
            }

            w.WriteEndArray();

            w.WriteStartObject("photo");
            w.WriteNumber("width", data.PhotoWidth);
            w.WriteNumber("height", data.PhotoHeight);
            w.WriteStartArray("seen");
            w.WriteNumberValue(data.SeenRegion.Left);
            w.WriteNumberValue(data.SeenRegion.Top);
            w.WriteNumberValue(data.SeenRegion.Width);
            w.WriteNumberValue(data.SeenRegion.Height);
            w.WriteEndArray();
            w.WriteEndObject();

            w.WriteStartObject("attention");
            w.WriteString("encoding", "uint8 per row, scaled by the row maximum: value = code * scale / 255");
            w.WriteString("compression", "gzip");
            w.WriteString("layout", "float32 LE scales [layer, head, query], then uint8 codes [layer, head, query, key]");
            w.WriteNumber("levels", AttentionQuantizer.Levels);
            w.WriteEndObject();

            w.WriteStartArray("predictions");
            foreach (var p in data.Predictions)
            {
                w.WriteStartObject();
                w.WriteNumber("index", p.Index);
                w.WriteString("label", p.Label);
                w.WriteNumber("probability", p.Probability);
                w.WriteEndObject();
            }

            w.WriteEndArray();

            w.WriteStartArray("maps");
            foreach (var m in data.Maps)
            {
                w.WriteStartObject();
                w.WriteString("method", m.Method);
                if (m.ClassIndex is int c)
                {
                    w.WriteNumber("class", c);
                    w.WriteString("label", m.ClassLabel ?? $"class {c}");
                }
                else
                {
                    w.WriteNull("class");
                }

                if (m.Description is not null)
                {
                    w.WriteString("description", m.Description);
                }

                w.WriteStartArray("values");
                foreach (float v in m.Values)
                {
                    w.WriteNumberValue(v);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();

            // The library's own tables, so the page's colours are the figures' colours.
            w.WriteStartObject("colormaps");
            foreach (Colormap c in Enum.GetValues<Colormap>())
            {
                w.WriteBase64String(Name(c), Colormaps.Table(c));
            }

            w.WriteEndObject();

            w.WriteStartObject("defaults");
            w.WriteString("colormap", Name(data.Colormap));
            w.WriteNumber("alpha", data.Alpha);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The name the page uses for a colormap: the enum name in lower case.</summary>
    internal static string Name(Colormap colormap) => colormap.ToString().ToLowerInvariant();

    private static string[] LoadTemplate()
    {
        string html = Resource("viewer.html");
        string[] markers = ["@@TITLE@@", "@@CSS@@", "@@META@@", "@@ATTENTION@@", "@@PHOTO@@", "@@JS@@"];
        var parts = new List<string>();
        int at = 0;
        foreach (string marker in markers)
        {
            int i = html.IndexOf(marker, at, StringComparison.Ordinal);
            if (i < 0)
            {
                throw new InvalidOperationException($"The viewer template lacks {marker} after offset {at}; the build embedded a broken viewer.html.");
            }

            parts.Add(html[at..i]);
            at = i + marker.Length;
        }

        parts.Add(html[at..]);
        return [.. parts];
    }

    private static string Resource(string file)
    {
        Assembly assembly = typeof(ViewerPage).Assembly;
        using Stream stream = assembly.GetManifestResourceStream(ResourcePrefix + file)
            ?? throw new InvalidOperationException($"The viewer resource {file} is not embedded in {assembly.GetName().Name}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
