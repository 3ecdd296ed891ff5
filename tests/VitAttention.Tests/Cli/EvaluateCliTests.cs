using System.Text.Json;
using VitAttention.Cli;
using static VitAttention.Tests.Cli.InProcessCli;

namespace VitAttention.Tests.Cli;

/// <summary>evaluate, merge and data-set explain on the tiny fixture model (32 × 32, 16 patches).</summary>
[NonParallelizable]
public class EvaluateCliTests
{
    private string _dir = null!;
    private string _images = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = FixturePaths.NewTempFolder();
        _images = Path.Combine(_dir, "images");
        Directory.CreateDirectory(Path.Combine(_images, "sub"));
        File.Copy(FixturePaths.Image("chelsea.png"), Path.Combine(_images, "chelsea.png"));
        File.Copy(FixturePaths.Image("coffee.png"), Path.Combine(_images, "coffee.png"));
        File.Copy(FixturePaths.Image("astronaut.png"), Path.Combine(_images, "sub", "astronaut.png"));
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private (int Code, string Out, string Err) Evaluate(string outDir, params string[] extra) =>
        Run(["evaluate", _images, "--model", FixturePaths.HfFolder, "--out", outDir, "--methods", "rollout,attention", "--steps", "4", .. extra]);

    private static Dictionary<(string, string), double> Aucs(string summaryJson)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(summaryJson));
        return doc.RootElement.GetProperty("results").EnumerateArray().ToDictionary(
            r => (r.GetProperty("method").GetString()!, r.GetProperty("metric").GetString()!),
            r => r.GetProperty("auc").GetProperty("mean").GetDouble());
    }

    [Test]
    public void Evaluate_Folder_WritesResultsTableJsonAndFigure()
    {
        string outDir = Path.Combine(_dir, "out");
        var (code, stdout, err) = Evaluate(outDir);
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(File.ReadAllLines(Path.Combine(outDir, "results.jsonl")), Has.Length.EqualTo(3));
        Assert.That(stdout, Does.Contain("| rollout |").And.Contain("| attention |").And.Contain("| random |"));
        Assert.That(File.ReadAllText(Path.Combine(outDir, "faithfulness.md")), Is.EqualTo(stdout.TrimEnd('\n', '\r') + Environment.NewLine).Or.StartWith("| Method |"));
        Assert.That(new FileInfo(Path.Combine(outDir, "faithfulness.png")).Length, Is.GreaterThan(1000));
        Assert.That(Aucs(Path.Combine(outDir, "faithfulness.json")), Has.Count.EqualTo(12), "3 methods × 4 tests");
        Assert.That(err, Does.Contain("3 to go").And.Contain("images/s"));
    }

    [Test]
    public void Evaluate_ResumeAfterTornLine_RedoesOnlyTheUnfinishedImage()
    {
        string outDir = Path.Combine(_dir, "out");
        Assert.That(Evaluate(outDir).Code, Is.EqualTo(0));
        string results = Path.Combine(outDir, "results.jsonl");
        string[] lines = File.ReadAllLines(results);
        // As if killed while writing the third line.
        File.WriteAllText(results, lines[0] + "\n" + lines[1] + "\n" + lines[2][..(lines[2].Length / 2)]);
        var (code, _, err) = Evaluate(outDir, "--resume");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("torn line").And.Contain("2 already done, 1 to go"));
        Assert.That(File.ReadAllLines(results), Is.EqualTo(lines), "the redone image gives the same line");
    }

    [Test]
    public void Evaluate_ExistingResultsWithoutResume_Exit7WithFix()
    {
        string outDir = Path.Combine(_dir, "out");
        Assert.That(Evaluate(outDir).Code, Is.EqualTo(0));
        var (code, _, err) = Evaluate(outDir);
        Assert.That(code, Is.EqualTo(7));
        Assert.That(err, Does.Contain("--resume"));
    }

    [Test]
    public void Evaluate_ResumeWithOtherSteps_Exit2()
    {
        string outDir = Path.Combine(_dir, "out");
        Assert.That(Evaluate(outDir).Code, Is.EqualTo(0));
        var (code, _, err) = Run("evaluate", _images, "--model", FixturePaths.HfFolder, "--out", outDir, "--methods", "rollout,attention", "--steps", "8", "--resume");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("other options"));
    }

    [Test]
    public void Evaluate_TwoShardsThenMerge_SameAsOneRun()
    {
        string whole = Path.Combine(_dir, "whole"), sharded = Path.Combine(_dir, "sharded");
        Assert.That(Evaluate(whole).Code, Is.EqualTo(0));
        Assert.That(Evaluate(sharded, "--shard", "0/2").Code, Is.EqualTo(0));
        Assert.That(Evaluate(sharded, "--shard", "1/2").Code, Is.EqualTo(0));
        int lines0 = File.ReadAllLines(Path.Combine(sharded, "results.shard-0-of-2.jsonl")).Length;
        int lines1 = File.ReadAllLines(Path.Combine(sharded, "results.shard-1-of-2.jsonl")).Length;
        Assert.That(lines0 + lines1, Is.EqualTo(3));
        var (code, _, err) = Run("merge", sharded, "--out", Path.Combine(_dir, "merged"));
        Assert.That(code, Is.EqualTo(0), err);
        var expected = Aucs(Path.Combine(whole, "faithfulness.json"));
        var merged = Aucs(Path.Combine(_dir, "merged", "faithfulness.json"));
        Assert.That(merged.Keys, Is.EquivalentTo(expected.Keys));
        foreach (var (k, v) in expected)
        {
            Assert.That(merged[k], Is.EqualTo(v).Within(1e-12), k.ToString());
        }
    }

    [Test]
    public void Evaluate_JsonlInputs_AggregatesLikeMerge()
    {
        string outDir = Path.Combine(_dir, "out");
        Assert.That(Evaluate(outDir).Code, Is.EqualTo(0));
        var (code, stdout, err) = Run("evaluate", Path.Combine(outDir, "results.jsonl"), "--out", Path.Combine(_dir, "again"), "--json");
        Assert.That(code, Is.EqualTo(0), err);
        using var doc = JsonDocument.Parse(stdout);
        Assert.That(doc.RootElement.GetProperty("images").GetInt32(), Is.EqualTo(3));
    }

    [Test]
    public void Evaluate_Labels_AccuracyReported()
    {
        string labels = Path.Combine(_dir, "labels.txt");
        File.WriteAllText(labels, "chelsea.png 0\ncoffee.png 1\nsub/astronaut.png 3\n");
        string outDir = Path.Combine(_dir, "out");
        var (code, _, err) = Evaluate(outDir, "--labels", labels, "--metrics", "positive,negative");
        Assert.That(code, Is.EqualTo(0), err);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "faithfulness.json")));
        Assert.That(doc.RootElement.GetProperty("accuracy").ValueKind, Is.EqualTo(JsonValueKind.Number));
        var first = JsonDocument.Parse(File.ReadLines(Path.Combine(outDir, "results.jsonl")).First()).RootElement;
        Assert.That(first.GetProperty("label").GetInt32(), Is.EqualTo(0), "chelsea.png sorts first");
    }

    [TestCase("--shard", "2/2", "i/N")]
    [TestCase("--metrics", "speed", "faithfulness metric")]
    [TestCase("--substrate", "noise", "zero, blur, mean")]
    public void Evaluate_BadOption_Exit2NamingIt(string option, string value, string expected)
    {
        var (code, _, err) = Evaluate(Path.Combine(_dir, "out"), option, value);
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain(expected));
    }

    [Test]
    public void Evaluate_UnknownMethod_Exit2ListingAvailable()
    {
        var (code, _, err) = Run("evaluate", _images, "--model", FixturePaths.HfFolder, "--out", Path.Combine(_dir, "out"), "--methods", "no-such-method");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("'no-such-method'").And.Contain("rollout, attention"));
    }

    [Test]
    public void Evaluate_UnreadableImageWithKeepGoing_Exit8OthersEvaluatedAndFailureLogged()
    {
        File.WriteAllText(Path.Combine(_images, "broken.png"), "not an image");
        string outDir = Path.Combine(_dir, "out");
        var (code, stdout, err) = Evaluate(outDir, "--keep-going");
        Assert.That(code, Is.EqualTo(CliApp.ExitCodes.SomeFailed), err);
        Assert.That(err, Does.Contain("broken.png: failed").And.Contain("1 of 4 images failed"));
        Assert.That(stdout, Does.Contain("| rollout |"), "the table of the other three is still written");
        string[] lines = File.ReadAllLines(Path.Combine(outDir, "results.jsonl"));
        Assert.That(lines, Has.Length.EqualTo(4));
        Assert.That(lines.Count(l => JsonDocument.Parse(l).RootElement.TryGetProperty("error", out _)), Is.EqualTo(1));
    }

    [Test]
    public void Evaluate_UnreadableImageWithoutKeepGoing_Exit4NamingIt()
    {
        File.WriteAllText(Path.Combine(_images, "broken.png"), "not an image");
        var (code, _, err) = Evaluate(Path.Combine(_dir, "out"));
        Assert.That(code, Is.EqualTo(CliApp.ExitCodes.Image), err);
        Assert.That(err, Does.Contain("broken.png"));
    }

    [Test]
    public void ExplainDataset_UnreadableImageWithKeepGoing_Exit8OthersWrittenAndResumeRetriesOnlyIt()
    {
        File.WriteAllText(Path.Combine(_images, "broken.png"), "not an image");
        string outDir = Path.Combine(_dir, "ex");
        var (code, stdout, err) = Run("explain", _images, "--model", FixturePaths.HfFolder, "--out", outDir, "--keep-going", "--json");
        Assert.That(code, Is.EqualTo(CliApp.ExitCodes.SomeFailed), err);
        Assert.That(err, Does.Contain("broken.png: failed"));
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.That(doc.RootElement.GetProperty("explained").GetInt32(), Is.EqualTo(3));
            Assert.That(doc.RootElement.GetProperty("failed").EnumerateArray().Select(f => f.GetString()), Is.EqualTo(new[] { "broken.png" }));
        }

        Assert.That(File.ReadAllLines(Path.Combine(outDir, "explain.jsonl")), Has.Length.EqualTo(3), "a failed image is not logged as done");
        Assert.That(File.Exists(Path.Combine(outDir, "sub", "astronaut.json")), Is.True);

        (code, _, err) = Run("explain", _images, "--model", FixturePaths.HfFolder, "--out", outDir, "--keep-going", "--resume");
        Assert.That(code, Is.EqualTo(CliApp.ExitCodes.SomeFailed), err);
        Assert.That(err, Does.Contain("3 already done, 1 to go"));
    }

    [Test]
    public void ExplainDataset_UnreadableImageWithoutKeepGoing_Exit4AndImagesBeforeItAreLogged()
    {
        File.WriteAllText(Path.Combine(_images, "d-broken.png"), "not an image");
        string outDir = Path.Combine(_dir, "ex");
        var (code, _, err) = Run("explain", _images, "--model", FixturePaths.HfFolder, "--out", outDir, "--batch", "1");
        Assert.That(code, Is.EqualTo(CliApp.ExitCodes.Image), err);
        Assert.That(err, Does.Contain("d-broken.png"));
        var keys = File.ReadAllLines(Path.Combine(outDir, "explain.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("image").GetString());
        Assert.That(keys, Is.EqualTo(new[] { "chelsea.png", "coffee.png" }), "the images sorted before it are done and logged");
    }

    [Test]
    public void ExplainDataset_Roi_Exit2SayingWhy()
    {
        var (code, _, err) = Run("explain", _images, "--model", FixturePaths.HfFolder, "--out", Path.Combine(_dir, "ex"), "--roi", "0,0,4,4");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("--roi"));
    }

    [Test]
    public void ExplainDataset_OutputFolderIsTheInputFolder_FiguresBesideTheImagesNoneOverwritten()
    {
        byte[] before = File.ReadAllBytes(Path.Combine(_images, "coffee.png"));
        var (code, _, err) = Run("explain", _images, "--model", FixturePaths.HfFolder, "--out", _images, "--shard", "0/1");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(File.ReadAllBytes(Path.Combine(_images, "coffee.png")), Is.EqualTo(before));
        Assert.That(File.Exists(Path.Combine(_images, "coffee.rollout.png")), Is.True);

        // A second run over the same folder takes the three images again, not the figures the first run wrote there.
        (code, _, err) = Run("explain", _images, "--model", FixturePaths.HfFolder, "--out", _images, "--resume");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("skipped 12 figures").And.Contain("3 images in shard 0/1, 3 already done, 0 to go"));
    }

    [Test]
    public void Evaluate_OutputFolderInsideTheInputFolder_SecondRunIgnoresTheCurvesFigure()
    {
        string outDir = Path.Combine(_images, "faith");
        Assert.That(Evaluate(outDir).Code, Is.EqualTo(0));
        Assert.That(File.Exists(Path.Combine(outDir, "faithfulness.png")), Is.True);
        var (code, _, err) = Evaluate(outDir, "--resume");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("skipped 1 figures").And.Contain("3 images in shard 0/1, 3 already done, 0 to go"));
    }

    [TestCase("evaluate", "--keep-going")]
    [TestCase("evaluate", "--shard")]
    [TestCase("evaluate", "--resume")]
    [TestCase("evaluate", "--insertion-substrate")]
    [TestCase("merge", "--out")]
    [TestCase("explain", "--shard")]
    [TestCase("explain", "--resume")]
    public void Help_DatasetCommands_ListTheirOptions(string command, string option)
    {
        var (code, stdout, err) = Run(command, "--help");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(stdout, Does.StartWith($"usage: vit-attention {command} ").And.Contain(option));
        var (_, main, _) = Run("--help");
        Assert.That(main, Does.Contain($"vit-attention {command} "));
    }

    [Test]
    public void Evaluate_OldContinueOnErrorOption_Exit2ListingKnownOptions()
    {
        var (code, _, err) = Evaluate(Path.Combine(_dir, "out"), "--continue-on-error");
        Assert.That(code, Is.EqualTo(2), err);
        Assert.That(err, Does.Contain("--keep-going"));
    }

    [Test]
    public void ExplainDataset_ResumeSkipsDoneAndRedoesMissingFigures()
    {
        string outDir = Path.Combine(_dir, "ex");
        var (code, _, err) = Run("explain", _images, "--model", FixturePaths.HfFolder, "--out", outDir, "--resume");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(File.Exists(Path.Combine(outDir, "sub", "astronaut.rollout.png")), Is.True);
        Assert.That(File.ReadAllLines(Path.Combine(outDir, "explain.jsonl")), Has.Length.EqualTo(3));

        (code, _, err) = Run("explain", _images, "--model", FixturePaths.HfFolder, "--out", outDir, "--resume");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("3 already done, 0 to go"));

        File.Delete(Path.Combine(outDir, "coffee.layers.png"));
        (code, _, err) = Run("explain", _images, "--model", FixturePaths.HfFolder, "--out", outDir, "--resume");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("2 already done, 1 to go"));
        Assert.That(File.Exists(Path.Combine(outDir, "coffee.layers.png")), Is.True);
    }

    [Test]
    public void ExplainDataset_Shards_CoverEveryImageOnce()
    {
        string outDir = Path.Combine(_dir, "ex");
        for (int i = 0; i < 3; i++)
        {
            var (code, _, err) = Run("explain", _images, "--model", FixturePaths.HfFolder, "--out", outDir, "--shard", $"{i}/3");
            Assert.That(code, Is.EqualTo(0), err);
        }

        var keys = Enumerable.Range(0, 3)
            .SelectMany(i => File.ReadAllLines(Path.Combine(outDir, $"explain.shard-{i}-of-3.jsonl")))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("image").GetString());
        Assert.That(keys, Is.EquivalentTo(new[] { "chelsea.png", "coffee.png", "sub/astronaut.png" }));
    }

    [TestCase("a/b.png", "a", "b")]
    [TestCase("../x/y.png", "", "x_y")]
    [TestCase("/abs/z.jpg", "", "abs_z")]
    public void OutputPaths_UnsafeKeys_StayInsideTheOutputFolder(string key, string folder, string stem)
    {
        Assert.That(CliApp.OutputFolder(key), Is.EqualTo(folder));
        Assert.That(CliApp.OutputStem(key), Is.EqualTo(stem));
    }
}
