using System.Globalization;
using Onnx;

namespace VitAttention.Onnx;

/// <summary>Finds and checks the image input of an ONNX ViT export: [batch, channels, height, width], float32 or float16.</summary>
internal static class ImageInputFinder
{
    internal static int? StaticDim(TensorShapeProto.Types.Dimension d) =>
        d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue > 0 && d.DimValue <= int.MaxValue
            ? (int)d.DimValue
            : null;

    internal static OnnxImageInput Find(GraphProto graph, HashSet<string> initializers, ExposeOptions options, string source)
    {
        var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        if (inputs.Count != 1)
        {
            throw new ModelFormatException(
                $"{source}: expected one image input [batch, channels, height, width], found {inputs.Count} graph inputs " +
                $"({string.Join(", ", inputs.Select(i => i.Name))}); this is not a ViT image classifier export.");
        }

        ValueInfoProto info = inputs[0];
        TypeProto.Types.Tensor? tensor = info.Type?.TensorType;
        if (tensor is null || tensor.Shape is null || tensor.Shape.Dim.Count != 4)
        {
            throw new ModelFormatException(
                $"{source}: input '{info.Name}' is not a 4-D tensor [batch, channels, height, width] (rank " +
                $"{tensor?.Shape?.Dim.Count.ToString(CultureInfo.InvariantCulture) ?? "unknown"}); this is not a ViT image classifier export.");
        }

        if (tensor.ElemType == (int)TensorProto.Types.DataType.Float16)
        {
            ConvertFloat16Input(graph, info, initializers);
        }
        else if (tensor.ElemType != (int)TensorProto.Types.DataType.Float)
        {
            throw new ModelFormatException(
                $"{source}: input '{info.Name}' has element type {(TensorProto.Types.DataType)tensor.ElemType}, but the library " +
                "feeds float32 pixels; use the float32 export (for transformers.js, onnx/model.onnx).");
        }

        var dims = tensor.Shape.Dim;
        if (StaticDim(dims[1]) is > 4 && StaticDim(dims[3]) is >= 1 and <= 4)
        {
            throw new ModelFormatException(
                $"{source}: input '{info.Name}' is [batch, {dims[1].DimValue}, {dims[2].DimValue}, {dims[3].DimValue}], channels last; " +
                "the library feeds channels-first [batch, channels, height, width] pixels as PyTorch and Optimum exports take them.");
        }

        int? staticH = StaticDim(dims[2]);
        int? staticW = StaticDim(dims[3]);
        int height = staticH ?? options.ImageHeight ?? throw new ModelFormatException(
            $"{source}: input '{info.Name}' has a symbolic height and width, so the image size cannot be read from the graph. " +
            "Put the model's config.json (with image_size) beside the .onnx file or in its parent folder, or pass " +
            "ExposeOptions.ImageHeight and ImageWidth.");
        int width = staticW ?? options.ImageWidth ?? height;
        int channels = StaticDim(dims[1]) ?? 3;
        if (height is <= 0 or > 8192 || width is <= 0 or > 8192 || channels > 4)
        {
            throw new ModelFormatException(
                $"{source}: input '{info.Name}' would be probed at {channels}×{height}×{width}; sizes must be 1 to 8192 " +
                "pixels with 1 to 4 channels.");
        }

        int batch = StaticDim(dims[0]) ?? 1;
        if (batch > 64)
        {
            throw new ModelFormatException($"{source}: input '{info.Name}' fixes the batch at {batch}; export it with a dynamic or small batch.");
        }

        return new OnnxImageInput(info.Name, info, channels, height, width, staticH, staticW, batch, dims[0].Clone());
    }

    // A float16 model (transformers.js model_fp16.onnx): the input becomes float32 and a Cast to float16 feeds the
    // nodes that read it, so the library can feed float32 pixels like any other model.
    internal static void ConvertFloat16Input(GraphProto graph, ValueInfoProto input, IEnumerable<string> initializers)
    {
        string inner = GraphEdit.UniqueValueName(graph, initializers, input.Name + "_float16");
        foreach (NodeProto node in graph.Node)
        {
            for (int k = 0; k < node.Input.Count; k++)
            {
                if (node.Input[k] == input.Name)
                {
                    node.Input[k] = inner;
                }
            }
        }

        var cast = new NodeProto { OpType = "Cast", Name = GraphEdit.UniqueNodeName(graph, "VitAttention/input_to_float16"), Input = { input.Name }, Output = { inner } };
        cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Float16 });
        graph.Node.Insert(0, cast);
        input.Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Float;
    }
}
