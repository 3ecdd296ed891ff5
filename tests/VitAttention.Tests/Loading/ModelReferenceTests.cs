using VitAttention.Loading;

namespace VitAttention.Tests.Loading;

[NonParallelizable] // changes the current directory
public sealed class ModelReferenceTests
{
    private string _root = null!;
    private string _previous = null!;

    [SetUp]
    public void Enter()
    {
        _root = FixturePaths.NewTempFolder();
        Directory.CreateDirectory(Path.Combine(_root, "models", "vit"));
        File.WriteAllText(Path.Combine(_root, "model.onnx"), "x");
        _previous = Environment.CurrentDirectory;
        Environment.CurrentDirectory = _root;
    }

    [TearDown]
    public void Leave()
    {
        Environment.CurrentDirectory = _previous;
        Directory.Delete(_root, recursive: true);
    }

    [TestCase("google/vit-base-patch16-224", "google/vit-base-patch16-224@main")]
    [TestCase("google/vit-base-patch16-224@refs/pr/1", "google/vit-base-patch16-224@refs/pr/1")]
    [TestCase("facebook/deit-small-patch16-224@main", "facebook/deit-small-patch16-224@main")]
    public void Parse_HubId_IsAHubReference(string text, string canonical)
    {
        var reference = ModelReference.Parse(text);
        Assert.That(reference.LocalPath, Is.Null);
        Assert.That(reference.HubId!.Value.ToString(), Is.EqualTo(canonical));
    }

    [TestCase("models/vit")]
    [TestCase("./models/vit")]
    [TestCase("models/../models/vit/")]
    [TestCase("model.onnx")]
    public void Parse_ExistingPath_IsLocal(string text)
    {
        var reference = ModelReference.Parse(text);
        Assert.That(reference.HubId, Is.Null);
        Assert.That(reference.LocalPath, Does.StartWith(_root));
    }

    [TestCase("models/vitt", "no such folder")]
    [TestCase("./vit", "no such folder")]
    [TestCase("../nowhere/vit", "no such folder")]
    [TestCase("/no/such/root/vit", "no such folder")]
    [TestCase("models\\vit2", "no such folder")]
    [TestCase("./missing.onnx", "no such file")]
    public void Parse_PathThatDoesNotExist_SaysSoAndIsNeverAHubId(string text, string message)
    {
        var ex = Assert.Catch<IOException>(() => ModelReference.Parse(text));
        Assert.That(ex!.Message, Does.Contain(message).And.Contain(text));
    }

    [Test]
    public void Key_SpellingsOfOneModel_AreEqual()
    {
        Assert.That(ModelReference.Parse("./models/vit").Key, Is.EqualTo(ModelReference.Parse(Path.Combine(_root, "models", "vit")).Key));
        Assert.That(ModelReference.Parse("google/vit-base-patch16-224").Key, Is.EqualTo(ModelReference.Parse("google/vit-base-patch16-224@main").Key));
        Assert.That(ModelReference.Parse("google/vit-base-patch16-224").Key, Is.Not.EqualTo(ModelReference.Parse("google/vit-base-patch16-384").Key));
    }
}
