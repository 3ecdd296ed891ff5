using System.Globalization;
using System.Text.RegularExpressions;
using SkiaSharp;
using VitAttention.Inference;
using VitAttention.Rendering;
using VitAttention.Rendering.Viewer;
using VitAttention.Rollout;
using VitAttention.Tests.Rollout;

namespace VitAttention.Tests.Rendering.Viewer;

public class ViewerPageTests
{
    [Test]
    public void Write_RandomData_NothingFetchedFromOutside()
    {
        string html = ViewerPage.Write(ViewerSamples.Random(2, 3, 4, 5, ["CLS"], seed: 21));
        // Every src/href is a data URL or an in-page anchor; no external script, style, font or image.
        var links = Regex.Matches(html, "(?:src|href)\\s*=\\s*[\"']([^\"']*)[\"']", RegexOptions.IgnoreCase).Select(m => m.Groups[1].Value).ToList();
        Assert.That(links, Is.Not.Empty);
        Assert.That(links, Has.All.Match("^(data:|#)"));
        Assert.That(html, Does.Not.Contain("http://").And.Not.Contain("https://").And.Not.Contain("@import").And.Not.Contain("url("));
        Assert.That(html, Does.Not.Contain("@@"), "every placeholder filled");
    }

    [Test]
    public void Write_Colormaps_AreTheLibrarysTables()
    {
        string html = ViewerPage.Write(ViewerSamples.Random(1, 1, 2, 2, ["CLS"], seed: 22) with { Colormap = Colormap.Turbo, Alpha = 0.35f });
        using var meta = PageParts.Meta(html);
        var maps = meta.RootElement.GetProperty("colormaps");
        foreach (Colormap c in Enum.GetValues<Colormap>())
        {
            byte[] table = maps.GetProperty(c.ToString().ToLowerInvariant()).GetBytesFromBase64();
            Assert.That(table, Is.EqualTo(Colormaps.Table(c).ToArray()), c.ToString());
            for (int i = 0; i < 256; i += 51)
            {
                var colour = Colormaps.Entry(c, i);
                Assert.That(table[(i * 3)..((i * 3) + 3)], Is.EqualTo(new[] { colour.Red, colour.Green, colour.Blue }), $"{c} entry {i}");
            }
        }

        Assert.That(meta.RootElement.GetProperty("defaults").GetProperty("colormap").GetString(), Is.EqualTo("turbo"));
        Assert.That(meta.RootElement.GetProperty("defaults").GetProperty("alpha").GetSingle(), Is.EqualTo(0.35f));
    }

    [Test]
    public void Write_Attention_DecodesWithinHalfStepOfEachRowMax()
    {
        var data = ViewerSamples.Random(3, 2, 3, 5, ["CLS", "DIST", "REG1"], seed: 23);
        string html = ViewerPage.Write(data);
        var decoded = PageParts.Attention(html, data.Layers, data.Heads, data.Tokens);
        int t = data.Tokens;
        for (int r = 0; r < decoded.Length / t; r++)
        {
            float max = data.Attention.AsSpan(r * t, t).ToArray().Max();
            for (int j = 0; j < t; j++)
            {
                Assert.That(decoded[(r * t) + j], Is.EqualTo(data.Attention[(r * t) + j]).Within((max / 510.0) + 1e-7), $"row {r}, key {j}");
            }
        }

        using var meta = PageParts.Meta(html);
        var root = meta.RootElement;
        Assert.That(root.GetProperty("prefix").EnumerateArray().Select(e => e.GetString()), Is.EqualTo(new[] { "CLS", "DIST", "REG1" }));
        Assert.That(root.GetProperty("tokens").GetInt32(), Is.EqualTo(18));
        Assert.That(root.GetProperty("gridHeight").GetInt32(), Is.EqualTo(3));
        Assert.That(root.GetProperty("gridWidth").GetInt32(), Is.EqualTo(5));
        var maps = root.GetProperty("maps").EnumerateArray().ToList();
        Assert.That(maps.Select(m => m.GetProperty("method").GetString()), Is.EqualTo(new[] { "rollout", "gradients", "gradients" }));
        Assert.That(maps[1].GetProperty("class").GetInt32(), Is.EqualTo(3));
        Assert.That(maps[0].GetProperty("class").ValueKind, Is.EqualTo(System.Text.Json.JsonValueKind.Null));
        Assert.That(maps[2].GetProperty("values").EnumerateArray().Select(v => v.GetSingle()), Is.EqualTo(data.Maps[2].Values));
    }

    [Test]
    public void Write_TitleAndLabelsWithMarkup_StayText()
    {
        const string hostile = "</script><script>alert(1)</script> & <b>";
        var data = ViewerSamples.Random(1, 1, 2, 2, ["CLS"], seed: 24) with
        {
            Title = hostile,
            Predictions = [new ViewerPrediction(0, hostile, 0.5f)],
        };
        string html = ViewerPage.Write(data);
        Assert.That(html, Does.Not.Contain("<script>alert"));
        Assert.That(Regex.Matches(html, "</script>").Count, Is.EqualTo(3), "only the page's own three script elements close");
        using var meta = PageParts.Meta(html);
        Assert.That(meta.RootElement.GetProperty("title").GetString(), Is.EqualTo(hostile));
        Assert.That(meta.RootElement.GetProperty("predictions")[0].GetProperty("label").GetString(), Is.EqualTo(hostile));
    }

    [Test]
    public void Write_InvalidData_ThrowsBeforeWriting()
    {
        var data = ViewerSamples.Random(1, 1, 2, 2, ["CLS"], seed: 25) with { GridWidth = 3 };
        string folder = FixturePaths.NewTempFolder();
        try
        {
            string path = Path.Combine(folder, "page.html");
            Assert.Throws<ArgumentException>(() => ViewerPage.Save(data, path));
            Assert.That(File.Exists(path), Is.False);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// The page size for ViT-B/16 (12 layers, 12 heads, 197 tokens) with random softmax rows (which compress worse than
    /// real attention) and the cat photo as the adapter embeds it (longest side 640 px, PNG).
    /// </summary>
    [Test]
    public void Write_VitB16RandomStack_PageAtMost8MB()
    {
        var shape = new AttentionShape(12, 1, 12, 197);
        var attention = RandomStacks.Create(shape, seed: 26);
        using var photo = SKBitmap.Decode(FixturePaths.Image("chelsea.png"));
        using var image = SKImage.FromBitmap(photo);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        var data = new ViewerData
        {
            Title = "ViT-B/16 sized random stack",
            Photo = png.ToArray(),
            PhotoWidth = photo.Width,
            PhotoHeight = photo.Height,
            SeenRegion = new SKRect(0, 0, photo.Width, photo.Height),
            GridHeight = 14,
            GridWidth = 14,
            PrefixTokens = ["CLS"],
            Layers = 12,
            Heads = 12,
            Attention = attention,
            Predictions = [new ViewerPrediction(0, "tabby cat", 0.9f)],
            Maps = [new ViewerMap("rollout", null, null, new float[196])],
        };
        string html = ViewerPage.Write(data);
        long bytes = System.Text.Encoding.UTF8.GetByteCount(html);
        long attentionBase64 = PageParts.Element(html, "vit-attention").Length;
        TestContext.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ViT-B/16 page: {bytes} bytes ({bytes / 1048576.0:0.00} MiB); attention {attentionBase64} base64 chars; photo {data.Photo.Length} bytes"));
        Assert.That(bytes, Is.LessThanOrEqualTo(8L * 1024 * 1024));

        // The quantisation's effect on what the page shows, against the library's own numbers.
        var decoded = ViewerReference.Quantised(attention, 197);
        var engine = new RolloutEngine();
        var exact = new float[197];
        var approx = new float[197];
        engine.RolloutRow(attention, shape, 0, RolloutOptions.Default, exact);
        engine.RolloutRow(decoded, shape, 0, RolloutOptions.Default with { InputsAreSoftmax = true }, approx);
        double rolloutError = exact.Zip(approx, (a, b) => Math.Abs(a - b)).Max();
        double worstValueError = attention.Zip(decoded, (a, b) => Math.Abs(a - b)).Max();
        TestContext.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"largest attention error {worstValueError:E2}; CLS rollout error {rolloutError:E2} (rollout max {exact.Max():E2})"));
        Assert.That(worstValueError, Is.LessThanOrEqualTo((1.0 / 510) + 1e-7));
        Assert.That(rolloutError, Is.LessThan(0.01 * exact.Max()), "quantisation moves the rollout by under 1% of its largest value");
    }
}
