using System.Text.Json;
using static VitAttention.Tests.Cli.InProcessCli;

namespace VitAttention.Tests.Cli;

/// <summary><c>explain</c> and <c>view</c> with <c>--method</c> and <c>--class</c>: the method figures, the JSON maps, and bad values.</summary>
[NonParallelizable]
public class CliMethodTests
{
    [Test]
    public void Explain_MethodsAndTopTwo_WritesMethodAndClassFiguresAndJsonMaps()
    {
        string folder = FixturePaths.NewTempFolder();
        try
        {
            var (code, stdout, err) = Run("explain", FixturePaths.Image("chelsea.png"), "--model", FixturePaths.HfFolder, "--out", folder,
                "--method", "rollout,transformer-attribution,gradcam", "--class", "top2", "--json");

            Assert.That(code, Is.EqualTo(0), err);
            using var summary = JsonDocument.Parse(stdout);
            var files = summary.RootElement.GetProperty("images")[0].GetProperty("files");
            Assert.That(files.GetProperty("methods").GetString(), Is.EqualTo(Path.Combine(folder, "chelsea.methods.png")));
            Assert.That(files.GetProperty("classes").GetString(), Is.EqualTo(Path.Combine(folder, "chelsea.classes.png")));
            Assert.That(File.Exists(files.GetProperty("methods").GetString()) && File.Exists(files.GetProperty("classes").GetString()), Is.True);

            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "chelsea.json")));
            var root = json.RootElement;
            int[] top2 = [.. root.GetProperty("predictions").EnumerateArray().Take(2).Select(p => p.GetProperty("index").GetInt32())];
            Assert.That(root.GetProperty("targetClasses").EnumerateArray().Select(v => v.GetInt32()), Is.EqualTo(top2));
            var methods = root.GetProperty("methods");
            Assert.That(methods.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "rollout", "transformer-attribution", "gradcam" }));
            var attribution = methods.GetProperty("transformer-attribution");
            Assert.That(attribution.GetProperty("class").GetInt32(), Is.EqualTo(top2[0]));
            Assert.That(attribution.GetProperty("otherClasses")[0].GetProperty("class").GetInt32(), Is.EqualTo(top2[1]));
            Assert.That(attribution.GetProperty("map").GetArrayLength(), Is.EqualTo(16));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void Explain_RolloutOnly_WritesNoMethodFigures()
    {
        string folder = FixturePaths.NewTempFolder();
        try
        {
            var (code, _, err) = Run("explain", FixturePaths.Image("chelsea.png"), "--model", FixturePaths.HfFolder, "--out", folder, "--class", "top2");
            Assert.That(code, Is.EqualTo(0), err);
            Assert.That(Directory.GetFiles(folder).Select(Path.GetFileName), Has.None.EndsWith(".methods.png").And.None.EndsWith(".classes.png"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestCase("--method", "rollout,flows", "'flows' is not a method")]
    [TestCase("--method", ",", "--method is empty")]
    [TestCase("--class", "top0", "1 to 16")]
    [TestCase("--class", "2,2", "twice")]
    [TestCase("--class", "zebra", "valid labels: 0 tabby cat")]
    [TestCase("--class", "7", "Target class 7 does not exist")]
    public void Explain_BadMethodOrClass_Exit2NamesTheFix(string option, string value, string message)
    {
        string folder = FixturePaths.NewTempFolder();
        try
        {
            string[] args = ["explain", FixturePaths.Image("chelsea.png"), "--model", FixturePaths.HfFolder, "--out", folder,
                "--method", option == "--method" ? value : "gradcam", .. option == "--class" ? new[] { "--class", value } : []];
            var (code, _, err) = Run(args);
            Assert.That(code, Is.EqualTo(2), err);
            Assert.That(err, Does.Contain(message));
            Assert.That(Directory.GetFiles(folder), Is.Empty, "nothing written");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public void View_MethodAndClass_PageCarriesEachClassMap()
    {
        string folder = FixturePaths.NewTempFolder();
        try
        {
            string page = Path.Combine(folder, "cat.html");
            var (code, _, err) = Run("view", FixturePaths.Image("chelsea.png"), "--model", FixturePaths.HfFolder, "--out", page,
                "--method", "attention,gradient-rollout", "--class", "1,3");
            Assert.That(code, Is.EqualTo(0), err);
            using var meta = VitAttention.Tests.Rendering.Viewer.PageParts.Meta(File.ReadAllText(page));
            var maps = meta.RootElement.GetProperty("maps").EnumerateArray()
                .Select(m => (m.GetProperty("method").GetString(), m.GetProperty("class").ValueKind == JsonValueKind.Null ? (int?)null : m.GetProperty("class").GetInt32()))
                .ToArray();
            Assert.That(maps, Is.EqualTo(new (string?, int?)[] { ("rollout", null), ("last-layer attention", null), ("gradient-rollout", 1), ("gradient-rollout", 3) }));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
