using System.Text;
using VitAttention.Evaluation;

namespace VitAttention.Tests.Evaluation;

public class ResultFilesTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = FixturePaths.NewTempFolder();

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static ImageEvaluation Sample(string key, double shift = 0) => new(key, 3, 3, 0.875, [
        new MetricCurve("rollout", FaithfulnessMetric.PositivePerturbation, [.. PerturbationTest.X], [1, 1, 1, 0, 0, 0, 0, 0, 0, 0], 25),
        new MetricCurve("rollout", FaithfulnessMetric.Deletion, [0, 0.5, 1], [0.875, 0.25 + shift, 0.125], 0.375 + (shift / 2)),
        new MetricCurve("random", FaithfulnessMetric.PositivePerturbation, [.. PerturbationTest.X], [1, 1, 1, 1, 1, 1, 0, 0, 0, 0], 55),
        new MetricCurve("random", FaithfulnessMetric.Deletion, [0, 0.5, 1], [0.875, 0.5, 0.125], 0.5),
    ]);

    [Test]
    public void ResultJson_RoundTrip_KeepsEverything()
    {
        var original = Sample("a/b c.png");
        // 4 patches, 2 per step: x = 0, 0.5, 1 as in the sample.
        string line = ResultJson.ToText(original, 4, 2);
        Assert.That(line, Does.Not.Contain("\n"));
        var back = ResultJson.Parse(line, "test");
        Assert.That(back.Key, Is.EqualTo("a/b c.png"));
        Assert.That(back.Label, Is.EqualTo(3));
        Assert.That(back.Predicted, Is.EqualTo(3));
        Assert.That(back.Probability, Is.EqualTo(0.875));
        Assert.That(back.Curves.Select(c => (c.Method, c.Metric, c.Auc)), Is.EqualTo(original.Curves.Select(c => (c.Method, c.Metric, c.Auc))));
        Assert.That(back.Curves.Select(c => c.X), Is.EqualTo(original.Curves.Select(c => c.X)));
        Assert.That(back.Curves.Select(c => c.Y), Is.EqualTo(original.Curves.Select(c => c.Y)));
    }

    [Test]
    public void ResultJson_Failed_RoundTripsError()
    {
        var back = ResultJson.Parse(ResultJson.ToText(ImageEvaluation.Failed("x.png", null, "not an image"), 4, 1), "test");
        Assert.That(back.Error, Is.EqualTo("not an image"));
        Assert.That(back.Label, Is.Null);
    }

    [Test]
    public void ResultJson_NotAResult_ThrowsNamingWhere()
    {
        var ex = Assert.Throws<FormatException>(() => ResultJson.Parse("{\"image\":\"a\",\"label\":1}", "r.jsonl line 3"));
        Assert.That(ex!.Message, Does.Contain("r.jsonl line 3"));
    }

    [Test]
    public void ResultLog_TornLastLine_DroppedOnResumeAndAppendStartsClean()
    {
        string path = Path.Combine(_dir, "results.jsonl");
        using (var log = ResultLog.Open(path, resume: false))
        {
            log.Append("a", ResultJson.ToLine(Sample("a"), 4, 2));
            log.Append("b", ResultJson.ToLine(Sample("b"), 4, 2));
        }

        // A kill in the middle of the third write leaves half a line without its newline.
        byte[] third = ResultJson.ToLine(Sample("c"), 4, 2);
        using (var f = new FileStream(path, FileMode.Append))
        {
            f.Write(third.AsSpan(0, third.Length / 2));
        }

        Assert.That(ResultLog.ReadLines(path).Count(), Is.EqualTo(2), "readers skip the torn line");
        using (var log = ResultLog.Open(path, resume: true))
        {
            Assert.That(log.Completed, Is.EquivalentTo(new[] { "a", "b" }));
            Assert.That(log.DroppedBytes, Is.EqualTo(third.Length / 2));
            log.Append("c", third);
        }

        var all = ResultJson.ReadAll([path]).ToList();
        Assert.That(all.Select(r => r.Key), Is.EqualTo(new[] { "a", "b", "c" }));
    }

    [Test]
    public void ResultLog_ExistingWithoutResume_ThrowsWithFix()
    {
        string path = Path.Combine(_dir, "r.jsonl");
        using (var log = ResultLog.Open(path, resume: false))
        {
            log.Append("a", "{\"image\":\"a\"}"u8);
        }

        var ex = Assert.Throws<IOException>(() => ResultLog.Open(path, resume: false));
        Assert.That(ex!.Message, Does.Contain("--resume"));
    }

    [Test]
    public void ResultLog_CorruptCompleteLine_ThrowsNamingLine()
    {
        string path = Path.Combine(_dir, "r.jsonl");
        File.WriteAllText(path, "{\"image\":\"a\"}\nnot json\n");
        var ex = Assert.Throws<FormatException>(() => ResultLog.Open(path, resume: true));
        Assert.That(ex!.Message, Does.Contain("line 2"));
    }

    [Test]
    public void ResultLog_LineWithNewline_Refused()
    {
        using var log = ResultLog.Open(Path.Combine(_dir, "r.jsonl"), resume: false);
        Assert.Throws<ArgumentException>(() => log.Append("a", Encoding.UTF8.GetBytes("{\"image\":\"a\"}\n{}")));
    }

    [Test]
    public void Summary_Merged_EqualsHandComputedStatistics()
    {
        var summary = EvaluationSummary.Of([Sample("a"), Sample("b", 0.25), ImageEvaluation.Failed("c", null, "bad")]);
        var deletion = summary.Get("rollout", FaithfulnessMetric.Deletion)!;
        // AUCs 0.375 and 0.5: mean 0.4375, population std 0.0625, standard error 0.0625·√2/√2 = 0.0625.
        Assert.That(deletion.Auc.Mean, Is.EqualTo(0.4375).Within(1e-15));
        Assert.That(deletion.Auc.StandardDeviation, Is.EqualTo(0.0625).Within(1e-15));
        Assert.That(deletion.Auc.StandardError, Is.EqualTo(0.0625).Within(1e-15));
        Assert.That(deletion.Points[1].Mean, Is.EqualTo(0.375).Within(1e-15));
        Assert.That(summary.Images, Is.EqualTo(2));
        Assert.That(summary.Failures, Has.Count.EqualTo(1));
        Assert.That(summary.Accuracy.Mean, Is.EqualTo(1.0));
    }

    [Test]
    public void Summary_DifferentStepSizes_RefusesToMix()
    {
        var other = new ImageEvaluation("z", null, 0, 0.5, [new MetricCurve("rollout", FaithfulnessMetric.Deletion, [0, 1], [0.5, 0.1], 0.3)]);
        var summary = EvaluationSummary.Of([Sample("a")]);
        var ex = Assert.Throws<ArgumentException>(() => summary.Add(other));
        Assert.That(ex!.Message, Does.Contain("different step sizes"));
    }

    [Test]
    public void Markdown_TwoImages_TableWithBestInBoldAndCaptions()
    {
        string md = EvaluationReport.ToMarkdown(EvaluationSummary.Of([Sample("a"), Sample("b", 0.25)]));
        string[] lines = md.Split('\n');
        Assert.That(lines[0], Is.EqualTo("| Method | Positive perturbation AUC (%) ↓ | Deletion AUC ↓ |"));
        Assert.That(lines[1], Is.EqualTo("| --- | ---: | ---: |"));
        // rollout: positive 25 ± 0 (best, lower is better), deletion 0.4375 ± 0.0625 → 0.438 ± 0.063 (best: random is 0.5).
        Assert.That(lines[2], Is.EqualTo("| rollout | **25.00 ± 0.00** | **0.438 ± 0.063** |"));
        Assert.That(lines[3], Is.EqualTo("| random | 55.00 ± 0.00 | 0.500 ± 0.000 |"));
        Assert.That(md, Does.Contain("2 images").And.Contain("Chefer et al. 2021").And.Contain("Petsiuk et al. 2018"));
    }

    [Test]
    public void Json_Summary_SaysWhetherEachMethodBeatsRandom()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(EvaluationReport.ToJson(EvaluationSummary.Of([Sample("a")])));
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
        var rolloutPositive = results.Single(r => r.GetProperty("method").GetString() == "rollout" && r.GetProperty("metric").GetString() == "positive");
        Assert.That(rolloutPositive.GetProperty("beatsRandom").GetBoolean(), Is.True);
        Assert.That(rolloutPositive.GetProperty("auc").GetProperty("mean").GetDouble(), Is.EqualTo(25));
        Assert.That(rolloutPositive.GetProperty("mean").GetArrayLength(), Is.EqualTo(10));
        Assert.That(results.Where(r => r.GetProperty("method").GetString() == "random").All(r => !r.TryGetProperty("beatsRandom", out _)), Is.True);
    }

    [Test]
    public void LabelFile_KeysNamesAndCommas_Found()
    {
        string path = Path.Combine(_dir, "labels.txt");
        File.WriteAllText(path, "# key label\ntest/a b.png 3\nc.png,7\n\nsub/d.png\t9\n");
        var labels = LabelFile.Read(path);
        Assert.That(labels.Count, Is.EqualTo(3));
        Assert.That(labels.Find("test/a b.png"), Is.EqualTo(3));
        Assert.That(labels.Find("c.png"), Is.EqualTo(7));
        Assert.That(labels.Find("other/d.png"), Is.EqualTo(9), "by file name");
        Assert.That(labels.Find("e.png"), Is.Null);
    }

    [Test]
    public void LabelFile_MissingClass_ThrowsNamingLine()
    {
        string path = Path.Combine(_dir, "labels.txt");
        File.WriteAllText(path, "a.png 1\nb.png cat\n");
        var ex = Assert.Throws<FormatException>(() => LabelFile.Read(path));
        Assert.That(ex!.Message, Does.Contain("line 2").And.Contain("<class index>"));
    }

    [Test]
    public void ImageList_FolderAndList_SortedRelativeKeys()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "set", "b"));
        foreach (string f in new[] { "set/b/2.png", "set/a.JPG", "set/b/1.png", "set/notes.txt" })
        {
            File.WriteAllBytes(Path.Combine(_dir, f), [0]);
        }

        var fromFolder = ImageList.Expand([Path.Combine(_dir, "set")]);
        Assert.That(fromFolder.Select(e => e.Key), Is.EqualTo(new[] { "a.JPG", "b/1.png", "b/2.png" }));
        File.WriteAllText(Path.Combine(_dir, "list.txt"), "# images\nset/b/2.png\n\nset/a.JPG\n");
        var fromList = ImageList.Expand([Path.Combine(_dir, "list.txt")]);
        Assert.That(fromList.Select(e => e.Key), Is.EqualTo(new[] { "set/b/2.png", "set/a.JPG" }));
        Assert.That(File.Exists(fromList[0].Path), Is.True);
    }

    [Test]
    public void ImageList_MissingListedImage_ThrowsNamingLine()
    {
        File.WriteAllText(Path.Combine(_dir, "list.txt"), "gone.png\n");
        var ex = Assert.Throws<FileNotFoundException>(() => ImageList.Expand([Path.Combine(_dir, "list.txt")]));
        Assert.That(ex!.Message, Does.Contain("line 1").And.Contain("gone.png"));
    }

    [Test]
    public void ImageList_DuplicateKeys_Throws()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "x"));
        Directory.CreateDirectory(Path.Combine(_dir, "y"));
        File.WriteAllBytes(Path.Combine(_dir, "x", "1.png"), [0]);
        File.WriteAllBytes(Path.Combine(_dir, "y", "1.png"), [0]);
        var ex = Assert.Throws<ArgumentException>(() => ImageList.Expand([Path.Combine(_dir, "x"), Path.Combine(_dir, "y")]));
        Assert.That(ex!.Message, Does.Contain("'1.png'"));
    }
}
