using System.Diagnostics;
using VitAttention.Cli;

namespace VitAttention.Tests.Reliability;

/// <summary>
/// No command writes over a file it reads — weights, configs, the ONNX it loads, the images — whatever the output
/// path's spelling: absolute, relative, with <c>..</c>, through a symbolic link, or a hard link.
/// </summary>
[TestFixture]
[NonParallelizable] // changes the current directory
public sealed class OverwriteTests
{
    private string _dir = null!;
    private string _model = null!;

    [SetUp]
    public void CreateModel()
    {
        _dir = FixturePaths.NewTempFolder();
        _model = Path.Combine(_dir, "model");
        Directory.CreateDirectory(_model);
        foreach (string f in new[] { "config.json", "preprocessor_config.json", "model.safetensors", "model_logits_only.onnx" })
        {
            File.Copy(Path.Combine(FixturePaths.HfFolder, f), Path.Combine(_model, f));
        }
    }

    [TearDown]
    public void DeleteModel() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Err) Run(params string[] args)
    {
        var stderr = new StringWriter();
        int code = CliApp.Run(args, new StringWriter(), stderr);
        return (code, stderr.ToString());
    }

    /// <summary>Each way of spelling an input file; the first part names the file the output must not replace.</summary>
    private static IEnumerable<TestCaseData> Spellings()
    {
        foreach (string file in new[] { "model.safetensors", "config.json", "preprocessor_config.json" })
        {
            yield return new TestCaseData(file, "absolute").SetName($"Prepare_OutIsTheCheckpoints_{file}_Absolute_Refused");
            yield return new TestCaseData(file, "relative").SetName($"Prepare_OutIsTheCheckpoints_{file}_Relative_Refused");
            yield return new TestCaseData(file, "dotdot").SetName($"Prepare_OutIsTheCheckpoints_{file}_DotDot_Refused");
            yield return new TestCaseData(file, "symlink").SetName($"Prepare_OutIsTheCheckpoints_{file}_Symlink_Refused");
            yield return new TestCaseData(file, "hardlink").SetName($"Prepare_OutIsTheCheckpoints_{file}_HardLink_Refused");
        }
    }

    [TestCaseSource(nameof(Spellings))]
    public void Prepare_OutIsAFileTheCheckpointLoadReads_RefusedAndFileUnchanged(string file, string spelling)
    {
        File.Delete(Path.Combine(_model, "model_logits_only.onnx")); // a plain checkpoint folder
        string target = Path.Combine(_model, file);
        byte[] before = File.ReadAllBytes(target);
        string previous = Environment.CurrentDirectory;
        try
        {
            string output = Spell(target, spelling);
            var (code, err) = Run("prepare", "--model", _model, "--out", output);
            Assert.That(code, Is.EqualTo(CliApp.ExitCodes.Usage), err);
            Assert.That(err, Does.Contain("refusing to write").And.Contain(file));
            Assert.That(File.ReadAllBytes(target), Is.EqualTo(before), $"{file} is unchanged");
            Assert.That(Directory.GetFiles(_model, "*.tmp", SearchOption.AllDirectories), Is.Empty);
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }
    }

    [TestCase("absolute")]
    [TestCase("dotdot")]
    [TestCase("symlink")]
    [TestCase("hardlink")]
    public void Prepare_OutIsTheOnnxItLoads_RefusedAndFileUnchanged(string spelling)
    {
        string onnx = Path.Combine(_model, "model_logits_only.onnx");
        byte[] before = File.ReadAllBytes(onnx);
        var (code, err) = Run("prepare", "--model", onnx, "--out", Spell(onnx, spelling));
        Assert.That(code, Is.EqualTo(CliApp.ExitCodes.Usage), err);
        Assert.That(File.ReadAllBytes(onnx), Is.EqualTo(before));
    }

    [Test]
    public void Prepare_OutElsewhere_StillWritesTheGraph()
    {
        string output = Path.Combine(_dir, "elsewhere", "model.attn.onnx");
        var (code, err) = Run("prepare", "--model", _model, "--out", output);
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(new FileInfo(output).Length, Is.GreaterThan(1000));
    }

    [Test]
    public void Explain_OutIsASymlinkToThePhotosFolder_InputNamedLikeAFigureIsNotOverwritten()
    {
        string photos = Path.Combine(_dir, "photos");
        Directory.CreateDirectory(photos);
        string first = Path.Combine(photos, "a.png");
        string second = Path.Combine(photos, "a.cls.png");
        File.Copy(FixturePaths.Image("chelsea.png"), first);
        File.Copy(FixturePaths.Image("coffee.png"), second);
        byte[] before = File.ReadAllBytes(second);
        string link = Path.Combine(_dir, "out-link");
        Directory.CreateSymbolicLink(link, photos);

        var (code, err) = Run("explain", first, second, "--model", _model, "--out", link);

        Assert.That(code, Is.EqualTo(CliApp.ExitCodes.Usage), err);
        Assert.That(err, Does.Contain("a.cls.png"));
        Assert.That(File.ReadAllBytes(second), Is.EqualTo(before));
    }

    [Test]
    public void Explain_OutputNameIsAHardLinkToAModelFile_Refused()
    {
        string output = Path.Combine(_dir, "out");
        Directory.CreateDirectory(output);
        string config = Path.Combine(_model, "config.json");
        HardLink(config, Path.Combine(output, "chelsea.json"));
        byte[] before = File.ReadAllBytes(config);

        var (code, err) = Run("explain", FixturePaths.Image("chelsea.png"), "--model", _model, "--out", output);

        Assert.That(code, Is.EqualTo(CliApp.ExitCodes.Usage), err);
        Assert.That(err, Does.Contain("model file"));
        Assert.That(File.ReadAllBytes(config), Is.EqualTo(before));
    }

    private string Spell(string target, string spelling)
    {
        string folder = Path.GetDirectoryName(target)!;
        string name = Path.GetFileName(target);
        switch (spelling)
        {
            case "absolute":
                return target;
            case "relative":
                Environment.CurrentDirectory = folder;
                return name;
            case "dotdot":
                return Path.Combine(folder, "..", Path.GetFileName(folder), ".", name);
            case "symlink":
                string link = Path.Combine(_dir, "link-to-" + name);
                File.CreateSymbolicLink(link, target);
                return link;
            default:
                string hard = Path.Combine(_dir, "hard-" + name);
                HardLink(target, hard);
                return hard;
        }
    }

    private static void HardLink(string existing, string link)
    {
        using var ln = Process.Start(new ProcessStartInfo("ln", [existing, link]) { UseShellExecute = false })!;
        ln.WaitForExit();
        Assume.That(ln.ExitCode, Is.EqualTo(0), "ln made the hard link");
    }
}
