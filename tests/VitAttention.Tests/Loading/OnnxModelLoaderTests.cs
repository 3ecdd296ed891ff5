using System.Text.Json.Nodes;
using Onnx;
using VitAttention.Loading;
using VitAttention.Models;
using VitAttention.Tests.Models;
using static VitAttention.Tests.Models.OnnxTestGraphs;

namespace VitAttention.Tests.Loading;

public class OnnxModelLoaderTests
{
    private string _temp = "";

    [SetUp]
    public void CreateTemp() => _temp = FixturePaths.NewTempFolder();

    [TearDown]
    public void DeleteTemp() => Directory.Delete(_temp, recursive: true);

    private string Copy(string fixture, string file, string relative)
    {
        string to = Path.Combine(_temp, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(to)!);
        File.Copy(Path.Combine(FixturePaths.Folder(fixture), file), to);
        return to;
    }

    private static string Message(string path) =>
        Assert.Throws<ModelFormatException>(() => OnnxModelLoader.PrepareOnnx(path, _ => { }))!.Message;

    [Test]
    public void PrepareOnnx_OptimumLayout_ReadsConfigAndLabelsFromParentFolder()
    {
        string onnx = Copy("tiny-vit-hf", "model_logits_only.onnx", Path.Combine("x", "onnx", "model.onnx"));
        Copy("tiny-vit-hf", "config.json", Path.Combine("x", "config.json"));
        Copy("tiny-vit-hf", "preprocessor_config.json", Path.Combine("x", "preprocessor_config.json"));
        var warnings = new List<string>();

        PreparedModel model = OnnxModelLoader.PrepareOnnx(onnx, warnings.Add);

        Assert.That(warnings, Is.Empty);
        Assert.That(model.Config.Labels, Is.EqualTo(new[] { "tabby cat", "coffee mug", "golden retriever", "space shuttle", "espresso" }));
        Assert.That(model.Config.Family, Is.EqualTo(ModelFamily.HuggingFace));
        Assert.That((model.Config.NumLayers, model.Config.NumHeads, model.Config.Tokens), Is.EqualTo((3, 4, 17)));
        Assert.That((model.InputName, model.Source), Is.EqualTo(("pixel_values", onnx)));
        var outputs = Run(model.ReadOnnx(), model.InputName, Pixels("tiny-vit-hf"), 2, AllOutputs());
        AssertClose(outputs["attentions.2"].Data, Expected("tiny-vit-hf", "attentions.2"), 1e-5, "attentions.2");
        AssertClose(outputs["logits"].Data, Expected("tiny-vit-hf", "logits"), 1e-4, "logits");
    }

    [Test]
    public void PrepareOnnx_TimmConfigBeside_UsesItsImageNetMeanStd()
    {
        string onnx = Copy("tiny-vit-timm", "model_logits_only.onnx", "model.onnx");
        Copy("tiny-vit-timm", "config.json", "config.json");

        PreparedModel model = OnnxModelLoader.PrepareOnnx(onnx, w => Assert.Fail(w));

        Assert.That(model.Config.Preprocess.Mean, Is.EqualTo(new[] { 0.485f, 0.456f, 0.406f }));
        Assert.That(model.Config.Labels, Has.Count.EqualTo(5));
    }

    [Test]
    public void PrepareOnnx_FolderGiven_FindsOnnxModelOnnx()
    {
        Copy("tiny-vit-hf", "model_logits_only.onnx", Path.Combine("x", "onnx", "model.onnx"));
        Copy("tiny-vit-hf", "config.json", Path.Combine("x", "config.json"));

        PreparedModel model = OnnxModelLoader.PrepareOnnx(Path.Combine(_temp, "x"));

        Assert.That(model.Config.NumClasses, Is.EqualTo(5));
    }

    [Test]
    public void PrepareOnnx_NoConfig_WarnsAndUsesGraphDimsWithHalfMeanStd()
    {
        string onnx = Copy("tiny-vit-timm", "model_logits_only.onnx", "alone.onnx");
        var warnings = new List<string>();

        PreparedModel model = OnnxModelLoader.PrepareOnnx(onnx, warnings.Add);

        Assert.That(warnings, Has.Count.EqualTo(1));
        Assert.That(warnings[0], Does.StartWith(onnx).And.Contain("no config.json").And.Contain("mean 0.5 / std 0.5"));
        VitConfig c = model.Config;
        Assert.That(c.Preprocess.Mean, Is.EqualTo(new[] { 0.5f, 0.5f, 0.5f }));
        Assert.That(c.Preprocess.Std, Is.EqualTo(new[] { 0.5f, 0.5f, 0.5f }));
        Assert.That((c.ImageHeight, c.ImageWidth, c.PatchSize, c.PrefixTokens), Is.EqualTo((32, 32, 8, 1)));
        Assert.That((c.NumLayers, c.NumHeads, c.HiddenSize, c.NumClasses), Is.EqualTo((3, 4, 48, 5)));
        Assert.That(c.Labels, Is.Empty);
        Assert.That(c.Family, Is.EqualTo(ModelFamily.Onnx));
    }

    [Test]
    public void PrepareOnnx_ConfigOfAnotherModel_SaysWhichDimensionDisagrees()
    {
        string onnx = Copy("tiny-vit-hf", "model_logits_only.onnx", "model.onnx");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(FixturePaths.HfFolder, "config.json")))!;
        config["num_hidden_layers"] = 4;
        File.WriteAllText(Path.Combine(_temp, "config.json"), config.ToJsonString());

        string message = Message(onnx);

        Assert.That(message, Does.Contain("does not describe " + onnx));
        Assert.That(message, Does.Contain("the config has 4 layers but the graph has 3 attention softmaxes"));
    }

    [Test]
    public void PrepareOnnx_EmptyFile_MessageNamesFile()
    {
        string path = Path.Combine(_temp, "empty.onnx");
        File.WriteAllBytes(path, []);

        Assert.That(Message(path), Does.StartWith(path + ": not an ONNX model (the file is empty"));
    }

    [Test]
    public void PrepareOnnx_RandomBytes_MessageNamesFile()
    {
        string path = Path.Combine(_temp, "random.onnx");
        var bytes = new byte[10_000];
        new Random(42).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);

        Assert.That(Message(path), Does.StartWith(path + ": not an ONNX model").And.Contain("download it again"));
    }

    [Test]
    public void PrepareOnnx_TruncatedFixture_MessageNamesFile()
    {
        string path = Path.Combine(_temp, "model.onnx");
        byte[] full = File.ReadAllBytes(FixtureOnnx("tiny-vit-hf"));
        File.WriteAllBytes(path, full[..(full.Length * 2 / 3)]);

        Assert.That(Message(path), Does.StartWith(path + ": not an ONNX model").And.Contain("truncated"));
    }

    [Test]
    public void PrepareOnnx_NotAViT_MessageNamesFile()
    {
        string path = Path.Combine(_temp, "mlp.onnx");
        File.WriteAllBytes(path, MatMulRelu());

        Assert.That(Message(path), Does.StartWith(path + ": no attention softmax found"));
    }

    [Test]
    public void PrepareOnnx_MissingFile_FileNotFound()
    {
        Assert.Throws<FileNotFoundException>(() => OnnxModelLoader.PrepareOnnx(Path.Combine(_temp, "nope.onnx")));
    }

    [Test]
    public void Save_OutEqualsInput_RefusedAndInputUntouched()
    {
        string onnx = Copy("tiny-vit-hf", "model_logits_only.onnx", "model.onnx");
        byte[] before = File.ReadAllBytes(onnx);
        PreparedModel model = OnnxModelLoader.PrepareOnnx(onnx, _ => { });

        var error = Assert.Catch<ArgumentException>(() => OnnxModelLoader.Save(model, Path.Combine(_temp, ".", "model.onnx")));

        Assert.That(error!.Message, Does.Contain("refusing to write"));
        Assert.That(File.ReadAllBytes(onnx), Is.EqualTo(before));
    }

    [Test]
    public void Save_ThenPrepareAgain_SameOutputsNoTempFilesLeft()
    {
        string onnx = Copy("tiny-vit-hf", "model_logits_only.onnx", "model.onnx");
        Copy("tiny-vit-hf", "config.json", "config.json");
        PreparedModel model = OnnxModelLoader.PrepareOnnx(onnx);
        string saved = Path.Combine(_temp, "out", "model.attn.onnx");

        OnnxModelLoader.Save(model, saved);
        OnnxModelLoader.Save(model, saved); // replaces atomically
        PreparedModel again = OnnxModelLoader.PrepareOnnx(saved, _ => { });

        Assert.That(Directory.GetFiles(Path.Combine(_temp, "out")), Is.EqualTo(new[] { saved }));
        Assert.That(File.ReadAllBytes(saved), Is.EqualTo(model.ReadOnnx()));
        Assert.That(ModelProto.Parser.ParseFrom(again.ReadOnnx()).Graph.Output.Select(o => o.Name), Is.EqualTo(AllOutputs()));
        var outputs = Run(again.ReadOnnx(), again.InputName, Pixels("tiny-vit-hf"), 2, AllOutputs());
        AssertClose(outputs["attentions.1"].Data, Expected("tiny-vit-hf", "attentions.1"), 1e-5, "attentions.1");
    }
}
