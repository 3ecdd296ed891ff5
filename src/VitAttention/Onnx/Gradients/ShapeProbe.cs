using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using VitAttention.Models;

namespace VitAttention.Onnx.Gradients;

/// <summary>
/// Learns the shapes of chosen intermediate tensors by running the graph: a <c>Shape</c> node per tensor is added as
/// an output (so only the small shape vectors come back, never the activations). With a dynamic batch the graph runs
/// at batch 1 and 2, and a dimension that differs between the two is marked −1 (it follows the batch); with a fixed
/// batch it runs once. Everything else in a ViT graph (tokens, widths, heads) is fixed by the input size.
/// </summary>
internal static class ShapeProbe
{
    private const string OutputPrefix = "vitattention.probe_shape.";

    public static Dictionary<string, long[]> Run(
        OnnxModelBytes model, string inputName, long[] itemShape, IReadOnlyCollection<string> tensors, string source)
    {
        GraphProto graph = model.Graph;
        ValueInfoProto input = graph.Input.First(i => i.Name == inputName);
        var batchDim = input.Type?.TensorType?.Shape?.Dim.FirstOrDefault();
        int? fixedBatch = batchDim is { ValueCase: TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue, DimValue: > 0 and <= 64 }
            ? (int)batchDim.DimValue
            : null;

        int elemType = input.Type?.TensorType?.ElemType ?? TensorValues.Float;
        var names = tensors.ToList();
        var outputs = new List<string>(names.Count);
        var originalOutputs = graph.Output.ToList();
        int originalNodes = graph.Node.Count;
        byte[] bytes;
        try
        {
            for (int i = 0; i < names.Count; i++)
            {
                string output = OutputPrefix + i.ToString(CultureInfo.InvariantCulture);
                var node = new NodeProto { OpType = "Shape", Name = output, Output = { output } };
                node.Input.Add(names[i]);
                graph.Node.Add(node);
                graph.Output.Add(new ValueInfoProto { Name = output });
                outputs.Add(output);
            }

            bytes = model.ToByteArray();
        }
        finally
        {
            while (graph.Node.Count > originalNodes)
            {
                graph.Node.RemoveAt(graph.Node.Count - 1);
            }

            graph.Output.Clear();
            graph.Output.AddRange(originalOutputs);
        }

        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        InferenceSession session;
        try
        {
            session = new InferenceSession(bytes, options);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new ModelFormatException($"{source}: ONNX Runtime cannot load the graph to read its tensor shapes for the gradients: {ex.Message}", ex);
        }

        using (session)
        {
            int[] batches = fixedBatch is int b ? [b] : [1, 2];
            var results = new List<long[]>[batches.Length];
            for (int r = 0; r < batches.Length; r++)
            {
                results[r] = RunOnce(session, inputName, elemType, batches[r], itemShape, outputs, source);
            }

            var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
            for (int i = 0; i < names.Count; i++)
            {
                long[] shape = (long[])results[0][i].Clone();
                for (int r = 1; r < batches.Length; r++)
                {
                    long[] other = results[r][i];
                    if (other.Length != shape.Length)
                    {
                        throw new ModelFormatException(
                            $"{source}: tensor '{names[i]}' changes rank with the batch size ({shape.Length} at batch {batches[0]}, " +
                            $"{other.Length} at batch {batches[r]}); the gradient graph cannot be built for it.");
                    }

                    for (int d = 0; d < shape.Length; d++)
                    {
                        if (other[d] != shape[d])
                        {
                            shape[d] = -1;
                        }
                    }
                }

                shapes[names[i]] = shape;
            }

            return shapes;
        }
    }

    private static List<long[]> RunOnce(
        InferenceSession session, string inputName, int elemType, int batch, long[] itemShape, List<string> outputs, string source)
    {
        long[] shape = [batch, .. itemShape]; // [batch, channels, height, width] for an image
        var pixels = new double[shape.Aggregate(1L, (p, d) => p * d)];
        var random = new Random(271828);
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (random.NextDouble() * 2) - 1;
        }

        using OrtValue value = elemType == TensorValues.Double
            ? OrtValue.CreateTensorValueFromMemory(pixels, shape)
            : OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(pixels, v => (float)v), shape);
        using var runOptions = new RunOptions();
        IDisposableReadOnlyCollection<OrtValue> results;
        try
        {
            results = session.Run(runOptions, [inputName], [value], outputs);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new ModelFormatException(
                $"{source}: ONNX Runtime could not run the graph on a {string.Join("×", shape)} input to read its tensor shapes: {ex.Message}", ex);
        }

        using (results)
        {
            return [.. results.Select(r => r.GetTensorDataAsSpan<long>().ToArray())];
        }
    }
}
