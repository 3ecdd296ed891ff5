using VitAttention.Cli;
using VitAttention.Loading;
using VitAttention.Models;

namespace VitAttention.Tests.Reliability;

/// <summary>Outputs are written through a temporary file and a rename; a failed write leaves no partial or temporary file, and inputs are never written over.</summary>
[TestFixture]
[NonParallelizable]
public sealed class AtomicOutputTests
{
    private string _dir = null!;

    [SetUp]
    public void CreateTemp() => _dir = FixturePaths.NewTempFolder();

    [TearDown]
    public void DeleteTemp() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void SaveFigures_TargetIsAFolder_ThrowsIOExceptionNamingItAndLeavesNoTemporaryFile()
    {
        using var explainer = VitExplainer.Load(FixturePaths.HfFolder);
        using var explanation = explainer.Explain(FixturePaths.Image("chelsea.png"));
        string blocked = Path.Combine(_dir, "chelsea.layers.png");
        Directory.CreateDirectory(blocked); // the rename onto it fails

        var error = Assert.Throws<IOException>(() => explanation.SaveFigures(_dir))!;
        Assert.That(error.Message, Does.Contain("chelsea.layers.png"));
        Assert.That(Directory.GetFiles(_dir, "*.tmp"), Is.Empty);

        // The figure written before the failure is complete: it decodes as a PNG of the expected size.
        using var cls = SkiaSharp.SKBitmap.Decode(Path.Combine(_dir, "chelsea.cls.png"));
        Assert.That(cls, Is.Not.Null);
        Assert.That(cls.Width, Is.GreaterThan(0));
    }

    [Test]
    public void Save_FolderIsAFile_ThrowsAndLeavesNoFileBeside()
    {
        var model = OnnxModelLoader.PrepareOnnx(Path.Combine(FixturePaths.HfFolder, "model_logits_only.onnx"), _ => { });
        string notAFolder = Path.Combine(_dir, "plain-file");
        File.WriteAllText(notAFolder, "not a folder");
        Assert.That(() => OnnxModelLoader.Save(model, Path.Combine(notAFolder, "model.attn.onnx")), Throws.InstanceOf<IOException>());
        Assert.That(Directory.GetFileSystemEntries(_dir), Is.EqualTo(new[] { notAFolder }));
        Assert.That(File.ReadAllText(notAFolder), Is.EqualTo("not a folder"));
    }

    [Test]

    public void Explain_SecondInputNamedLikeFirstInputsFigure_SecondInputNotOverwritten()
    {
        // "a.png" writes "a.cls.png"; a second input of that name in the same folder must not be written over.
        string first = Path.Combine(_dir, "a.png");
        string second = Path.Combine(_dir, "a.cls.png");
        File.Copy(FixturePaths.Image("chelsea.png"), first);
        File.Copy(FixturePaths.Image("coffee.png"), second);
        byte[] before = File.ReadAllBytes(second);

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(["explain", first, second, "--model", FixturePaths.HfFolder, "--out", _dir], stdout, stderr);

        Assert.That(File.ReadAllBytes(second), Is.EqualTo(before), $"exit {code}: {stderr}");
    }
}
