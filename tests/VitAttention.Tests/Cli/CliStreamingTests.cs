using System.Text.Json;
using SkiaSharp;
using VitAttention.Cli;
using static VitAttention.Tests.Cli.InProcessCli;

namespace VitAttention.Tests.Cli;

/// <summary>
/// <c>explain</c> writes each image's files as soon as it is done: Ctrl+C keeps the finished ones, an unreadable image
/// costs only itself with <c>--keep-going</c> (and, without it, not the images before it), and progress covers writing.
/// </summary>
[NonParallelizable]
public sealed class CliStreamingTests
{
    private static readonly string[] Suffixes = [".cls.png", ".layers.png", ".focused.png", ".rollout.png", ".json"];

    private string _dir = null!;

    [SetUp]
    public void CreateTemp() => _dir = FixturePaths.NewTempFolder();

    [TearDown]
    public void DeleteTemp() => Directory.Delete(_dir, recursive: true);

    private static string TextPng => Path.Combine(TestContext.CurrentContext.TestDirectory, "Inference", "Images", "text.png");

    [Test]
    public void Explain_SigintMidRun_KeepsEveryFinishedImageCompleteAndExits125()
    {
        string photos = Path.Combine(_dir, "photos");
        string output = Path.Combine(_dir, "out");
        Directory.CreateDirectory(photos);
        // Enough images that the run cannot finish before the interrupt lands, even when a loaded machine delays it.
        const int Count = 600;
        var images = new List<string>();
        for (int i = 0; i < Count; i++)
        {
            string path = Path.Combine(photos, $"photo{i:D3}.png");
            File.Copy(FixturePaths.Image("astronaut.png"), path);
            images.Add(path);
        }

        using var cli = new CliProcess(["explain", .. images, "--model", FixturePaths.HfFolder, "--out", output, "--batch", "1", "--json"]);
        Assert.That(SpinWait.SpinUntil(() => cli.Stderr.Contains(" wrote ", StringComparison.Ordinal), TimeSpan.FromSeconds(120)), Is.True,
            "the first image was written before the run ended: " + cli.Stderr);
        cli.Interrupt();
        int? code = cli.WaitForExit(TimeSpan.FromSeconds(60));

        Assert.That(code, Is.EqualTo(125), cli.Stderr);
        Assert.That(cli.Stderr, Does.Contain("cancelled after"));
        string[] jsons = Directory.GetFiles(output, "*.json");
        Assert.That(jsons, Has.Length.GreaterThanOrEqualTo(1).And.Length.LessThan(Count), "some, not all, images were finished");
        foreach (string json in jsons)
        {
            string stem = Path.GetFileNameWithoutExtension(json);
            using (JsonDocument.Parse(File.ReadAllText(json)))
            {
            }

            foreach (string suffix in Suffixes.Where(s => s.EndsWith(".png", StringComparison.Ordinal)))
            {
                using var figure = SKBitmap.Decode(Path.Combine(output, stem + suffix));
                Assert.That(figure, Is.Not.Null, $"{stem}{suffix} is a complete PNG");
            }
        }

        Assert.That(Directory.GetFiles(output).Where(f => !Suffixes.Any(s => f.EndsWith(s, StringComparison.Ordinal))), Is.Empty, "no temporary files");
        using var summary = JsonDocument.Parse(cli.Stdout);
        Assert.That(summary.RootElement.GetProperty("cancelled").GetBoolean(), Is.True);
        Assert.That(summary.RootElement.GetProperty("images").GetArrayLength(), Is.EqualTo(jsons.Length));
    }

    [Test]
    public void Explain_KeepGoing_UnreadableImages_Exit8AndJsonListsThem()
    {
        string missing = Path.Combine(_dir, "missing.png");
        var (code, stdout, err) = Run("explain", FixturePaths.Image("chelsea.png"), missing, TextPng, FixturePaths.Image("coffee.png"),
            "--model", FixturePaths.HfFolder, "--out", _dir, "--keep-going", "--json");

        Assert.That(code, Is.EqualTo(CliApp.ExitCodes.SomeFailed), err);
        foreach (string stem in new[] { "chelsea", "coffee" })
        {
            Assert.That(Suffixes.All(s => File.Exists(Path.Combine(_dir, stem + s))), stem);
        }

        using var doc = JsonDocument.Parse(stdout);
        var failures = doc.RootElement.GetProperty("failures");
        Assert.That(failures.GetArrayLength(), Is.EqualTo(2));
        Assert.That(failures[0].GetProperty("index").GetInt32(), Is.EqualTo(1));
        Assert.That(failures[0].GetProperty("image").GetString(), Is.EqualTo(missing));
        Assert.That(failures[0].GetProperty("message").GetString(), Does.Contain("missing.png"));
        Assert.That(failures[1].GetProperty("error").GetString(), Is.EqualTo(nameof(InvalidImageException)));
        Assert.That(doc.RootElement.GetProperty("images").GetArrayLength(), Is.EqualTo(2));
        Assert.That(err, Does.Contain("failed").And.Contain("text.png"));
    }

    [Test]
    public void Explain_BrokenImageWithoutKeepGoing_ImagesBeforeItAreWrittenThenExit4()
    {
        var (code, _, err) = Run("explain", FixturePaths.Image("chelsea.png"), FixturePaths.Image("coffee.png"), TextPng, FixturePaths.Image("astronaut.png"),
            "--model", FixturePaths.HfFolder, "--out", _dir);
        Assert.That(code, Is.EqualTo(CliApp.ExitCodes.Image), err);
        Assert.That(err, Does.Contain("text.png"));
        foreach (string stem in new[] { "chelsea", "coffee" })
        {
            Assert.That(Suffixes.All(s => File.Exists(Path.Combine(_dir, stem + s))), $"{stem} was written before the failure");
        }

        Assert.That(File.Exists(Path.Combine(_dir, "astronaut.json")), Is.False, "the run stops at the bad image");
    }

    [Test]
    public void Explain_Progress_ReportsEachWrittenImageOnStderr()
    {
        var (code, stdout, err) = Run("explain", FixturePaths.Image("chelsea.png"), FixturePaths.Image("coffee.png"), FixturePaths.Image("astronaut.png"),
            "--model", FixturePaths.HfFolder, "--out", _dir);
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("[1/3] wrote").And.Contain("[2/3] wrote").And.Contain("[3/3] wrote"));
        Assert.That(stdout, Does.Not.Contain("[1/3]"), "progress stays off stdout");
    }
}
