using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using VitAttention.Inference;
using VitAttention.Loading;
using VitAttention.Models;

namespace VitAttention.Tests.Gradients;

/// <summary>
/// The gradient graph on every family fixture with a classifier (BEiT's relative position bias, QuickGELU, LayerScale,
/// registers, DINOv2's CLS + patch-mean head, mean pooling): d logit / d attention against a central difference of
/// the forward graph along a random direction, taken by adding ± h·D to that layer's probabilities inside the graph.
/// float32 throughout, so the tolerance is that of a float32 central difference (1e-2 relative).
/// </summary>
public sealed class FamilyGradientTests
{
    public static IEnumerable<TestCaseData> Families() =>
        new[] { "hf-beit", "hf-data2vec-vision", "hf-dinov2-classifier", "timm-clip", "timm-deit3", "timm-gap" }
            .Select(f => new TestCaseData(f).SetName($"Run_{f}_MatchesDirectionalFiniteDifference"));

    [TestCaseSource(nameof(Families))]
    public void Run_Family_MatchesDirectionalFiniteDifference(string family)
    {
        string folder = Path.Combine(FixturePaths.Root, "families", family);
        PreparedModel model = CheckpointLoader.Prepare(folder);
        VitConfig c = model.Config;
        using var expected = SafeTensorsFile.Open(Path.Combine(folder, "expected.safetensors"));
        float[] pixels = expected.ReadFloat32("pixel_values");
        int batch = pixels.Length / (c.Channels * c.ImageHeight * c.ImageWidth);
        int[] targets = [.. Enumerable.Range(0, batch).Select(i => (i * 3) % c.NumClasses)];
        using var session = new GradientSession(model);
        GradientOutput output = session.Run(pixels, batch, targets);
        Assert.That(session.Hidden, Is.EqualTo(c.HiddenSize), "the last block's norm1 was found");

        AttentionShape shape = output.Attentions.Shape;
        foreach (int layer in new[] { 0, c.NumLayers - 1 })
        {
            int length = (int)(batch * shape.LayerLength);
            ReadOnlySpan<float> gradient = output.AttentionGradients.AsSpan((int)shape.OffsetOf(layer, 0), length);
            var random = new Random(layer + 17);
            float[] direction = [.. Enumerable.Range(0, length).Select(_ => (float)((random.NextDouble() * 2) - 1))];
            double analytic = 0;
            for (int i = 0; i < length; i++)
            {
                analytic += gradient[i] * (double)direction[i];
            }

            const float H = 2e-3f;
            double plus = PerturbedObjective(model, layer, pixels, batch, targets, direction, H);
            double minus = PerturbedObjective(model, layer, pixels, batch, targets, direction, -H);
            double numeric = (plus - minus) / (2 * H);
            Assert.That(Math.Abs(numeric), Is.GreaterThan(1e-3), $"layer {layer}: the directional derivative is ~0");
            Assert.That(analytic, Is.EqualTo(numeric).Within(1e-2 * Math.Abs(numeric)), $"layer {layer}");
        }
    }

    // Σ_b logits[b, target[b]] with attentions.{layer} + h·direction in place of the layer's probabilities.
    private static double PerturbedObjective(PreparedModel model, int layer, float[] pixels, int batch, int[] targets, float[] direction, float h)
    {
        var proto = ModelProto.Parser.ParseFrom(model.ReadOnnx());
        string attention = PreparedModel.AttentionOutput(layer), perturbed = attention + ".perturbed";
        foreach (NodeProto node in proto.Graph.Node)
        {
            for (int k = 0; k < node.Input.Count; k++)
            {
                if (node.Input[k] == attention)
                {
                    node.Input[k] = perturbed;
                }
            }
        }

        proto.Graph.Node.Add(new NodeProto { OpType = "Add", Name = "perturb", Input = { attention, "delta" }, Output = { perturbed } });
        proto.Graph.Input.Add(new ValueInfoProto
        {
            Name = "delta",
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
        });
        VitConfig c = model.Config;
        using var session = new InferenceSession(proto.ToByteArray());
        float[] delta = Array.ConvertAll(direction, d => d * h);
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, [batch, c.Channels, c.ImageHeight, c.ImageWidth]);
        using var deltaValue = OrtValue.CreateTensorValueFromMemory(delta, [batch, c.NumHeads, c.Tokens, c.Tokens]);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [model.InputName, "delta"], [input, deltaValue], [PreparedModel.LogitsOutput]);
        ReadOnlySpan<float> logits = results[0].GetTensorDataAsSpan<float>();
        double total = 0;
        for (int b = 0; b < batch; b++)
        {
            total += logits[(b * c.NumClasses) + targets[b]];
        }

        return total;
    }
}
