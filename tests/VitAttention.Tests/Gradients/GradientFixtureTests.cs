using VitAttention.Loading;
using VitAttention.Inference;
using VitAttention.Models;
using VitAttention.Onnx.Gradients;

namespace VitAttention.Tests.Gradients;

/// <summary>
/// The gradient graph against float64 PyTorch autograd (make_gradient_fixtures.py): d logit[target] / d attention of
/// every layer and the last block's norm1 tensors, for graphs the library builds from weights and for torch.onnx
/// exports it exposes (opset 11, 14 and 17), on the HF, timm, DeiT-distilled and mean-pooled (no class token) fixtures.
/// </summary>
public sealed class GradientFixtureTests
{
    /// <summary>Relative tolerance: max |actual − expected| / max |expected|, per tensor.</summary>
    private const double Relative = 1e-4;

    public static IEnumerable<TestCaseData> Models()
    {
        foreach (string fixture in new[] { "tiny-vit-hf", "tiny-vit-timm", "tiny-deit-distilled", "tiny-vit-gap" })
        {
            yield return new TestCaseData(fixture, null).SetName($"Run_{Name(fixture)}BuiltGraph_MatchesAutograd");
        }

        yield return new TestCaseData("tiny-vit-hf", "model_logits_only.onnx").SetName("Run_HfTorchExportOpset14_MatchesAutograd");
        yield return new TestCaseData("tiny-vit-timm", "model_logits_only.onnx").SetName("Run_TimmTorchExportOpset14_MatchesAutograd");
        yield return new TestCaseData("tiny-deit-distilled", "model_opset11.onnx").SetName("Run_DistilledTorchExportOpset11_MatchesAutograd");
        yield return new TestCaseData("tiny-deit-distilled", "model_opset17.onnx").SetName("Run_DistilledTorchExportOpset17_MatchesAutograd");
        yield return new TestCaseData("tiny-vit-gap", "model_opset14.onnx").SetName("Run_MeanPooledTorchExportOpset14_MatchesAutograd");
    }

    private static string Name(string fixture) => fixture switch
    {
        "tiny-vit-hf" => "Hf",
        "tiny-vit-timm" => "Timm",
        "tiny-vit-gap" => "MeanPooled",
        _ => "Distilled",
    };

    internal static PreparedModel Prepare(string fixture, string? onnxFile) => onnxFile is null
        ? CheckpointLoader.Prepare(FixturePaths.Folder(fixture))
        : OnnxModelLoader.PrepareOnnx(Path.Combine(FixturePaths.Folder(fixture), onnxFile), _ => { });

    internal static (float[] Pixels, int[] Targets) Inputs(SafeTensorsFile expected) =>
        (expected.ReadFloat32("pixel_values"), [.. expected.ReadFloat64("target_class").Select(t => (int)t)]);

    internal static double RelativeError(ReadOnlySpan<float> actual, double[] expected)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length));
        double worst = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]));
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }

        Assert.That(scale, Is.GreaterThan(0), "the oracle tensor is all zeros: the check could not fail");
        return double.IsNaN(worst) ? double.PositiveInfinity : worst / scale;
    }

    [TestCaseSource(nameof(Models))]
    public void Run_Fixture_MatchesAutograd(string fixture, string? onnxFile)
    {
        PreparedModel model = Prepare(fixture, onnxFile);
        using var expected = SafeTensorsFile.Open(Path.Combine(FixturePaths.Folder(fixture), "expected_gradients.safetensors"));
        (float[] pixels, int[] targets) = Inputs(expected);
        using var session = new GradientSession(model);
        GradientOutput output = session.Run(pixels, 2, targets);

        Assert.That(session.Hidden, Is.EqualTo(model.Config.HiddenSize), "norm1 found");
        var errors = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["logits"] = RelativeError(output.Logits, expected.ReadFloat64("logits")),
            ["norm1_input"] = RelativeError(output.Norm1Input, expected.ReadFloat64("norm1_input")),
            ["norm1_output"] = RelativeError(output.Norm1Output, expected.ReadFloat64("norm1_output")),
            ["grad.norm1_input"] = RelativeError(output.Norm1InputGradient, expected.ReadFloat64("grad.norm1_input")),
            ["grad.norm1_output"] = RelativeError(output.Norm1OutputGradient, expected.ReadFloat64("grad.norm1_output")),
        };
        AttentionShape shape = output.Attentions.Shape;
        for (int l = 0; l < shape.Layers; l++)
        {
            int length = (int)(shape.Batch * shape.LayerLength);
            errors[$"attentions.{l}"] = RelativeError(output.Attentions.Data.Slice((int)shape.OffsetOf(l, 0), length), expected.ReadFloat64($"attentions.{l}"));
            errors[$"grad.attentions.{l}"] = RelativeError(
                output.AttentionGradients.AsSpan((int)shape.OffsetOf(l, 0), length), expected.ReadFloat64($"grad.attentions.{l}"));
        }

        TestContext.Out.WriteLine(string.Join(" ", session.Graph.DifferentiatedOps.Distinct().Order()));
        TestContext.Out.WriteLine(string.Join(", ", errors.Select(e => $"{e.Key} {e.Value:E2}")));
        Assert.That(errors.Where(e => !(e.Value <= Relative)).Select(e => $"{e.Key} {e.Value:E2}"), Is.Empty);
    }
}
