using System.Text.Json;
using static VitAttention.Tests.Cli.InProcessCli;

namespace VitAttention.Tests.Cli;

[NonParallelizable]
public class CliViewTests
{
    [Test]
    public void View_FixtureModel_WritesPageAndJsonSummary()
    {
        string folder = FixturePaths.NewTempFolder();
        try
        {
            string page = Path.Combine(folder, "cat.html");
            var (code, stdout, err) = Run("view", FixturePaths.Image("chelsea.png"), "--model", FixturePaths.HfFolder, "--out", page, "--colormap", "viridis", "--json");
            Assert.That(code, Is.EqualTo(0), err);
            using var doc = JsonDocument.Parse(stdout);
            Assert.That(doc.RootElement.GetProperty("out").GetString(), Is.EqualTo(page));
            Assert.That(doc.RootElement.GetProperty("bytes").GetInt64(), Is.EqualTo(new FileInfo(page).Length));
            string html = File.ReadAllText(page);
            Assert.That(html, Does.StartWith("<!DOCTYPE html>"));
            using var meta = VitAttention.Tests.Rendering.Viewer.PageParts.Meta(html);
            Assert.That(meta.RootElement.GetProperty("defaults").GetProperty("colormap").GetString(), Is.EqualTo("viridis"));
            Assert.That(meta.RootElement.GetProperty("tokens").GetInt32(), Is.EqualTo(17));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void View_TwoImages_Exit2SaysOnePagePerImage()
    {
        var image = FixturePaths.Image("chelsea.png");
        var (code, _, err) = Run("view", image, image, "--model", FixturePaths.HfFolder, "--out", "x.html");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("'view' takes exactly one image path"));
    }

    [Test]
    public void View_OutNotHtml_Exit2NamesTheFix()
    {
        var (code, _, err) = Run("view", FixturePaths.Image("chelsea.png"), "--model", FixturePaths.HfFolder, "--out", "page.png");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("should name an .html file"));
    }

    [Test]
    public void View_MissingOut_Exit2()
    {
        var (code, _, err) = Run("view", FixturePaths.Image("chelsea.png"), "--model", FixturePaths.HfFolder);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("--out"));
    }
}
