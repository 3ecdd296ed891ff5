using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace VitAttention.Onnx;

/// <summary>Runs a graph once in ONNX Runtime on a seeded random image to learn the shapes and types of chosen tensors.</summary>
internal static class ProbeRun
{
    internal const int ProbeSeed = 20260;

    /// <summary>Most input values the probe run may allocate (64 M floats, 256 MB): far above any ViT's image.</summary>
    internal const long MaxProbeValues = 1L << 26;

    internal static Dictionary<string, ProbedTensor> Run(
        OnnxModelBytes model, OnnxImageInput input, List<SoftmaxCandidate> candidates, List<ValueInfoProto> originalOutputs, string source)
    {
        // The probe input is sized by dimensions the graph declares: check them in 64-bit before allocating.
        long probeValues = (long)input.ProbeBatch * input.Channels * input.Height * input.Width;
        if (input.ProbeBatch <= 0 || input.Channels <= 0 || input.Height <= 0 || input.Width <= 0 || probeValues > MaxProbeValues)
        {
            throw new ModelFormatException(
                $"{source}: the graph declares an input of {input.ProbeBatch}×{input.Channels}×{input.Height}×{input.Width} values, " +
                $"outside what a ViT image input can be (1 to {MaxProbeValues} values); check the export's input shape, or pass " +
                "ExposeOptions.ImageHeight/ImageWidth for a graph with a symbolic size.");
        }

        GraphProto graph = model.Graph;
        var names = new List<string>(originalOutputs.Select(o => o.Name));
        var seen = new HashSet<string>(names, StringComparer.Ordinal);
        foreach (SoftmaxCandidate c in candidates)
        {
            foreach (string? name in new[] { c.Raw, c.AfterReshape, c.ValueInput })
            {
                if (name is not null && name != input.Name && seen.Add(name))
                {
                    names.Add(name);
                    graph.Output.Add(new ValueInfoProto { Name = name });
                }
            }
        }

        byte[] probeBytes;
        try
        {
            probeBytes = AttentionExposer.Serialize(model, source);
        }
        finally
        {
            graph.Output.Clear();
            graph.Output.AddRange(originalOutputs);
        }

        using var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC, // keeps every requested output; cuts session setup
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        InferenceSession session;
        try
        {
            session = new InferenceSession(probeBytes, sessionOptions);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new ModelFormatException(
                $"{source}: ONNX Runtime cannot load the model ({ex.Message}). The file may be truncated, or use operators " +
                "this ONNX Runtime version does not have; export it again with a standard opset.", ex);
        }

        using (session)
        {
            long[] shape = [input.ProbeBatch, input.Channels, input.Height, input.Width]; // [batch, channels, height, width]
            var pixels = new float[probeValues];
            var random = new Random(ProbeSeed);
            for (int i = 0; i < pixels.Length; i++)
            {
                pixels[i] = (float)(random.NextDouble() * 2 - 1);
            }

            using OrtValue value = OrtValue.CreateTensorValueFromMemory(pixels, shape);
            using var runOptions = new RunOptions();
            IDisposableReadOnlyCollection<OrtValue> results;
            try
            {
                results = session.Run(runOptions, [input.Name], [value], names);
            }
            catch (OnnxRuntimeException ex)
            {
                throw new ModelFormatException(
                    $"{source}: ONNX Runtime could not run the model on a {string.Join("×", shape)} input ({ex.Message}). " +
                    "If the input size is wrong, put the model's config.json beside the file or set ExposeOptions.ImageHeight/ImageWidth.", ex);
            }

            using (results)
            {
                var probed = new Dictionary<string, ProbedTensor>(StringComparer.Ordinal);
                for (int i = 0; i < names.Count; i++)
                {
                    OrtValue r = results[i];
                    if (r.OnnxType == OnnxValueType.ONNX_TYPE_TENSOR)
                    {
                        OrtTensorTypeAndShapeInfo info = r.GetTensorTypeAndShape();
                        probed[names[i]] = new ProbedTensor(info.Shape, info.ElementDataType);
                    }
                }

                return probed;
            }
        }
    }
}
