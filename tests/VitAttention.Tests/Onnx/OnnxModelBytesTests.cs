using Google.Protobuf;
using Onnx;
using VitAttention.Models;
using VitAttention.Onnx;
using VitAttention.Tests.Models;
using static VitAttention.Tests.Models.OnnxTestGraphs;

namespace VitAttention.Tests.Onnx;

public class OnnxModelBytesTests
{
    [TestCase("tiny-vit-hf")]
    [TestCase("tiny-vit-timm")]
    public void ToByteArray_Unedited_ParsesToTheSameModel(string fixture)
    {
        byte[] bytes = File.ReadAllBytes(FixtureOnnx(fixture));

        OnnxModelBytes model = OnnxModelBytes.Parse(bytes);

        Assert.That(ModelProto.Parser.ParseFrom(model.ToByteArray()), Is.EqualTo(ModelProto.Parser.ParseFrom(bytes)));
        Assert.That(model.Initializers.Select(t => t.Name), Is.EqualTo(LoadFixture(fixture).Graph.Initializer.Select(t => t.Name)));
        Assert.That(model.Initializers.All(t => t.RawData.IsEmpty && t.FloatData.Count == 0), Is.True);
    }

    [Test]
    public void ToByteArray_EditedGraphAndReplacedInitializer_SameAsEditingTheFullModel()
    {
        byte[] bytes = File.ReadAllBytes(FixtureOnnx("tiny-vit-hf"));
        ModelProto full = ModelProto.Parser.ParseFrom(bytes);
        OnnxModelBytes lazy = OnnxModelBytes.Parse(bytes);
        var rng = new Random(5);
        int index = rng.Next(full.Graph.Initializer.Count);
        TensorProto replacement = full.Graph.Initializer[index].Clone();
        replacement.RawData = ByteString.CopyFrom([.. Enumerable.Range(0, replacement.RawData.Length).Select(_ => (byte)rng.Next(256))]);
        full.Graph.Node.Add(Node("Identity", ["logits"], ["copy"]));
        full.Graph.Output.Add(FloatValue("copy", 0, 5));
        full.Graph.Initializer[index] = replacement;

        lazy.Graph.Node.Add(Node("Identity", ["logits"], ["copy"]));
        lazy.Graph.Output.Add(FloatValue("copy", 0, 5));
        lazy.ReplaceInitializer(index, replacement);

        Assert.That(ModelProto.Parser.ParseFrom(lazy.ToByteArray()), Is.EqualTo(full));
    }

    [TestCase(1)]
    [TestCase(100)]
    [TestCase(5000)]
    [TestCase(200_000)]
    public void Parse_TruncatedInsideAField_Throws(int keep)
    {
        byte[] bytes = File.ReadAllBytes(FixtureOnnx("tiny-vit-hf"));

        Assert.That(() => OnnxModelBytes.Parse(bytes[..keep]),
            Throws.InstanceOf<FormatException>().Or.InstanceOf<InvalidProtocolBufferException>());
    }
}
