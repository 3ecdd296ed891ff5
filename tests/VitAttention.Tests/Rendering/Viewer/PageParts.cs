using System.Buffers.Binary;
using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using VitAttention.Rendering.Viewer;

namespace VitAttention.Tests.Rendering.Viewer;

/// <summary>Reads a written viewer page back the way the page's script does: metadata JSON and the attention blob.</summary>
internal static partial class PageParts
{
    public static JsonDocument Meta(string html) => JsonDocument.Parse(Element(html, "vit-meta"));

    /// <summary>The embedded attention decoded as the page decodes it, <c>[layer, head, query, key]</c>.</summary>
    public static float[] Attention(string html, int layers, int heads, int tokens)
    {
        byte[] packed = Convert.FromBase64String(Element(html, "vit-attention").Trim());
        using var gzip = new GZipStream(new MemoryStream(packed), CompressionMode.Decompress);
        using var raw = new MemoryStream();
        gzip.CopyTo(raw);
        byte[] bytes = raw.ToArray();
        int rows = layers * heads * tokens;
        Assert.That(bytes, Has.Length.EqualTo((rows * 4) + (rows * tokens)), "the blob's length: scales then codes");
        var scales = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            scales[r] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(r * 4));
        }

        var values = new float[rows * tokens];
        AttentionQuantizer.Decode(bytes.AsSpan(rows * 4), scales, tokens, values);
        return values;
    }

    public static string Element(string html, string id)
    {
        var match = ScriptElement().Matches(html).FirstOrDefault(m => m.Groups["id"].Value == id);
        Assert.That(match, Is.Not.Null, $"the page has no <script id=\"{id}\">");
        return match!.Groups["body"].Value;
    }

    [GeneratedRegex("<script type=\"[^\"]+\" id=\"(?<id>[^\"]+)\">(?<body>.*?)</script>", RegexOptions.Singleline)]
    private static partial Regex ScriptElement();
}
