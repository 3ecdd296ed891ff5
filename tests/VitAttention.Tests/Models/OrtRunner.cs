using Microsoft.ML.OnnxRuntime;
using VitAttention.Models;

namespace VitAttention.Tests.Models;

/// <summary>Runs a built graph with ONNX Runtime directly (OrtValue API) and returns every output by name.</summary>
internal static class OrtRunner
{
    public static Dictionary<string, (float[] Data, long[] Shape)> Run(byte[] onnx, float[] pixels, long[] shape)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 2 };
        using var session = new InferenceSession(onnx, options);
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, shape);
        using var runOptions = new RunOptions();
        var names = session.OutputNames;
        using var outputs = session.Run(runOptions, [VitOnnxBuilder.InputName], [input], names);
        var result = new Dictionary<string, (float[], long[])>(StringComparer.Ordinal);
        for (int i = 0; i < names.Count; i++)
        {
            result[names[i]] = (outputs[i].GetTensorDataAsSpan<float>().ToArray(), outputs[i].GetTensorTypeAndShape().Shape);
        }

        return result;
    }
}
