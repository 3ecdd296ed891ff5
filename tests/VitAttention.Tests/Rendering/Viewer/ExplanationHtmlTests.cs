using VitAttention.Models;
using VitAttention.Rendering.Viewer;

namespace VitAttention.Tests.Rendering.Viewer;

[NonParallelizable]
public class ExplanationHtmlTests
{
    private static VitExplainer? explainer;

    /// <summary>The viewer embeds the image's whole attention stack, which an explanation keeps only when asked.</summary>
    private static readonly ExplainOptions Keep = ExplainOptions.Default with { KeepAttentions = true };

    private static VitExplainer Explainer => explainer ??= VitExplainer.Load(FixturePaths.HfFolder);

    [OneTimeTearDown]
    public void DisposeExplainer()
    {
        explainer?.Dispose();
        explainer = null;
    }

    [Test]
    public void SaveHtml_SecondBatchItem_EmbedsThatItemsAttention()
    {
        using var expected = SafeTensorsFile.Open(FixturePaths.Expected("tiny-vit-hf"));
        var explanations = Explainer.ExplainPixels(expected.ReadFloat32("pixel_values"), Keep);
        string folder = FixturePaths.NewTempFolder();
        try
        {
            using var second = explanations[1];
            explanations[0].Dispose();
            string path = Path.Combine(folder, "sub", "item1.html");
            second.SaveHtml(path);
            string html = File.ReadAllText(path);
            var decoded = PageParts.Attention(html, 3, 4, 17);
            // The oracle's float64 attention of item 1, [layer][item, head, query, key], against the decoded page.
            for (int l = 0; l < 3; l++)
            {
                double[] oracle = expected.ReadFloat64($"attentions.{l}");
                int layerLength = 4 * 17 * 17;
                for (int i = 0; i < layerLength; i++)
                {
                    int row = i / 17;
                    double max = oracle.Skip(layerLength + (row * 17)).Take(17).Max();
                    Assert.That(decoded[(l * layerLength) + i], Is.EqualTo(oracle[layerLength + i]).Within((max / 510) + 2e-6),
                        $"layer {l + 1}, head {i / 289 + 1}, query {row % 17}, key {i % 17}");
                }
            }

            using var meta = PageParts.Meta(html);
            var root = meta.RootElement;
            Assert.That(root.GetProperty("layers").GetInt32(), Is.EqualTo(3));
            Assert.That(root.GetProperty("prefix").EnumerateArray().Select(e => e.GetString()), Is.EqualTo(new[] { "CLS" }));
            var rollout = root.GetProperty("maps")[0];
            Assert.That(rollout.GetProperty("method").GetString(), Is.EqualTo("rollout"));
            Assert.That(rollout.GetProperty("values").EnumerateArray().Select(v => v.GetSingle()), Is.EqualTo(second.Rollout.Values.ToArray()));
            Assert.That(root.GetProperty("predictions")[0].GetProperty("label").GetString(), Is.EqualTo(second.Predictions[0].Label));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void SaveHtml_ExplainedWithoutKeepAttentions_SaysToKeepThem()
    {
        using var e = Explainer.Explain(FixturePaths.Image("chelsea.png"));
        string path = Path.Combine(Path.GetTempPath(), "vitattention-" + Guid.NewGuid().ToString("N") + ".html");
        var ex = Assert.Throws<InvalidOperationException>(() => e.SaveHtml(path));
        Assert.That(ex!.Message, Does.Contain("KeepAttentions"));
        Assert.That(File.Exists(path), Is.False);
    }

    [Test]
    public void SaveHtml_EmptyPath_Throws()
    {
        using var e = Explainer.Explain(FixturePaths.Image("chelsea.png"), Keep);
        Assert.Throws<ArgumentException>(() => e.SaveHtml(" "));
    }

    [Test]
    public void From_LargePhoto_ScaledToMaxSideWithSeenRegion()
    {
        using var e = Explainer.Explain(FixturePaths.Image("chelsea.png"), Keep);
        var data = ExplanationViewerData.From(e, maxPhotoSide: 100);
        Assert.That(Math.Max(data.PhotoWidth, data.PhotoHeight), Is.EqualTo(100));
        double scale = data.PhotoWidth / (double)e.Photo.Width;
        Assert.That(data.SeenRegion.Width, Is.EqualTo(e.SeenRegion.Width * scale).Within(1e-3));
        Assert.That(data.SeenRegion.Left, Is.EqualTo(e.SeenRegion.Left * scale).Within(1e-3));
        using var decoded = SkiaSharp.SKBitmap.Decode(data.Photo);
        Assert.That((decoded.Width, decoded.Height), Is.EqualTo((data.PhotoWidth, data.PhotoHeight)));
    }

    [TestCase("chelsea.png", "image/png")]
    [TestCase("astronaut.png", "image/jpeg")]
    public void From_Photo_PngUnlessLargeThenJpegAtMostMaxSide(string file, string mediaType)
    {
        using var e = Explainer.Explain(FixturePaths.Image(file), Keep);
        var data = ExplanationViewerData.From(e);
        Assert.That(data.PhotoMediaType, Is.EqualTo(mediaType));
        Assert.That(data.Photo.Length, Is.LessThanOrEqualTo(ExplanationViewerData.MaxPngBytes));
        Assert.That(Math.Max(data.PhotoWidth, data.PhotoHeight), Is.LessThanOrEqualTo(ExplanationViewerData.DefaultMaxPhotoSide));
        using var decoded = SkiaSharp.SKBitmap.Decode(data.Photo);
        Assert.That((decoded.Width, decoded.Height), Is.EqualTo((data.PhotoWidth, data.PhotoHeight)));
        // The embedded photo is the explanation's photo, scaled: compare a downscaled copy pixel by pixel.
        using var reference = e.Photo.Resize(new SkiaSharp.SKImageInfo(data.PhotoWidth, data.PhotoHeight), new SkiaSharp.SKSamplingOptions(SkiaSharp.SKFilterMode.Linear, SkiaSharp.SKMipmapMode.Linear));
        double total = 0;
        for (int y = 0; y < decoded.Height; y += 7)
        {
            for (int x = 0; x < decoded.Width; x += 7)
            {
                var a = decoded.GetPixel(x, y);
                var b = reference.GetPixel(x, y);
                total += Math.Abs(a.Red - b.Red) + Math.Abs(a.Green - b.Green) + Math.Abs(a.Blue - b.Blue);
            }
        }

        double meanError = total / (3.0 * ((decoded.Height + 6) / 7) * ((decoded.Width + 6) / 7));
        Assert.That(meanError, Is.LessThan(6), "mean absolute difference per channel, 0..255");
    }

    [TestCase(true, false, 0, new[] { "CLS" })]
    [TestCase(true, true, 0, new[] { "CLS", "DIST" })]
    [TestCase(true, false, 4, new[] { "CLS", "REG1", "REG2", "REG3", "REG4" })]
    [TestCase(false, false, 2, new[] { "REG1", "REG2" })]
    public void PrefixKinds_ConfigLayout_NamesEachPrefixToken(bool cls, bool distillation, int registers, string[] expected)
    {
        var config = VitConfig.VitB16() with
        {
            HasClassToken = cls, HasDistillationToken = distillation, RegisterTokens = registers, PrefixTokens = expected.Length,
        };
        Assert.That(ExplanationViewerData.PrefixKinds(config), Is.EqualTo(expected));
    }
}
