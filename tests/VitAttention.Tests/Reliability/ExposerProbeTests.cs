using Google.Protobuf;
using Onnx;
using VitAttention.Models;
using VitAttention.Onnx;

namespace VitAttention.Tests.Reliability;

/// <summary>Graph-declared input sizes are header values too: the probe the exposer runs must not be sized by them unchecked.</summary>
[TestFixture]
public sealed class ExposerProbeTests
{
    [TestCase(64, 4, 8192, 8192)] // 2^34 floats: wraps to 0 in 32-bit arithmetic
    [TestCase(64, 3, 8192, 8192)] // 3 * 2^32 floats: wraps to 0 as well
    public void Expose_DeclaredInputTooLargeToProbe_ThrowsModelFormatWithoutAllocating(long batch, long channels, long height, long width)
    {
        byte[] onnx = SoftmaxMatMul([batch, channels, height, width]).ToByteArray();
        Assert.That(() => AttentionExposer.Expose(onnx, "huge-input.onnx"),
            Throws.TypeOf<ModelFormatException>().With.Message.Contains("huge-input.onnx"));
    }

    /// <summary>x → Softmax → MatMul(p, x): attention-shaped and loadable by ONNX Runtime whatever the input size.</summary>
    private static ModelProto SoftmaxMatMul(long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (long d in dims)
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        }

        var type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } };
        var graph = new GraphProto { Name = "softmax-matmul" };
        graph.Node.Add(new NodeProto { OpType = "Softmax", Input = { "pixel_values" }, Output = { "p" }, Name = "softmax", Attribute = { new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = -1 } } });
        graph.Node.Add(new NodeProto { OpType = "MatMul", Input = { "p", "pixel_values" }, Output = { "o" }, Name = "matmul" });
        graph.Input.Add(new ValueInfoProto { Name = "pixel_values", Type = type });
        graph.Output.Add(new ValueInfoProto { Name = "o", Type = type.Clone() });
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model;
    }
}
