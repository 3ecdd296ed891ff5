using VitAttention.Hub;

namespace VitAttention.Tests.Hub;

public class ModelIdTests
{
    [TestCase("google/vit-base-patch16-224", "google", "vit-base-patch16-224", "main")]
    [TestCase("google/vit-base-patch16-224@main", "google", "vit-base-patch16-224", "main")]
    [TestCase("timm/vit_base_patch16_224.augreg2_in21k_ft_in1k@v1.0", "timm", "vit_base_patch16_224.augreg2_in21k_ft_in1k", "v1.0")]
    [TestCase("facebook/dino-vitb16@refs/pr/3", "facebook", "dino-vitb16", "refs/pr/3")]
    [TestCase("a/b@0123456789abcdef0123456789abcdef01234567", "a", "b", "0123456789abcdef0123456789abcdef01234567")]
    public void TryParse_ValidId_ReturnsParts(string text, string owner, string name, string revision)
    {
        Assert.That(ModelId.TryParse(text, out var id), Is.True);
        Assert.That(id, Is.EqualTo(new ModelId(owner, name, revision)));
        Assert.That(ModelId.Parse(id.ToString()), Is.EqualTo(id), "ToString reads back");
    }

    [TestCase(null)]
    [TestCase("")]
    [TestCase("vit-base")]                       // no owner: a local file name
    [TestCase("./google/vit")]                   // relative path
    [TestCase("../vit/model")]
    [TestCase("/models/vit")]                    // absolute path
    [TestCase("~/models")]
    [TestCase("models/vit/model.onnx")]          // two slashes: a path
    [TestCase("google/vit base")]                // space
    [TestCase("google/vit@")]                    // empty revision
    [TestCase("google/vit@../x")]
    [TestCase("google/vit@a//b")]
    [TestCase("google/-vit")]                    // hub rules: no leading or trailing '-' or '.'
    [TestCase("google/vit.")]
    [TestCase("goo--gle/vit")]                   // '--' would make the cache folder name ambiguous
    [TestCase("google/vi..t")]
    [TestCase("C:\\models\\vit")]
    [TestCase("google/")]
    [TestCase("/vit")]
    public void TryParse_NotAnId_ReturnsFalse(string? text)
    {
        Assert.That(ModelId.TryParse(text, out var id), Is.False);
        Assert.That(id, Is.EqualTo(default(ModelId)));
    }

    [Test]
    public void TryParse_NameOver96Characters_ReturnsFalse() =>
        Assert.That(ModelId.TryParse("owner/" + new string('x', 97), out _), Is.False);

    [Test]
    public void Parse_Invalid_ThrowsNamingTextAndForm()
    {
        var ex = Assert.Throws<ArgumentException>(() => ModelId.Parse("models/vit/model.onnx"));

        Assert.That(ex!.Message, Does.Contain("'models/vit/model.onnx'").And.Contain("owner/name[@revision]"));
    }

    [TestCase("0123456789abcdef0123456789abcdef01234567", true)]
    [TestCase("0123456789ABCDEF0123456789ABCDEF01234567", false)]
    [TestCase("0123456789abcdef0123456789abcdef0123456", false)]
    [TestCase("main", false)]
    public void IsCommitRevision_FortyLowerHex_True(string revision, bool expected) =>
        Assert.That(new ModelId("a", "b", revision).IsCommitRevision, Is.EqualTo(expected));

    [Test]
    public void WithRevision_InvalidRevision_Throws()
    {
        var id = ModelId.Parse("google/vit-base-patch16-224");

        Assert.That(id.WithRevision("v2").Revision, Is.EqualTo("v2"));
        Assert.Throws<ArgumentException>(() => id.WithRevision("../x"));
        Assert.That(id.RepoId, Is.EqualTo("google/vit-base-patch16-224"));
    }

    [Test]
    public void ModelReference_ExistingRelativeFolder_IsAPathAndOwnerWithoutFolderIsAnId()
    {
        string root = Path.Combine(Path.GetTempPath(), "vit-attention-id-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(root, "owner", "name"));
        string previous = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = root;

            Assert.That(VitAttention.Loading.ModelReference.Parse("owner/name").LocalPath, Is.Not.Null, "an existing folder stays a path");
            Assert.Throws<DirectoryNotFoundException>(() => VitAttention.Loading.ModelReference.Parse("owner/other"), "owner/ exists here: a path");
            Assert.That(VitAttention.Loading.ModelReference.Parse("someone/other").HubId, Is.EqualTo(new ModelId("someone", "other", "main")));
        }
        finally
        {
            Environment.CurrentDirectory = previous;
            Directory.Delete(root, recursive: true);
        }
    }
}
