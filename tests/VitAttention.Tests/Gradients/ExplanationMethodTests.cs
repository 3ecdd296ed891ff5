using System.Collections.Concurrent;
using VitAttention.Loading;
using VitAttention.Analysis.Methods;
using VitAttention.Inference;
using VitAttention.Models;

namespace VitAttention.Tests.Gradients;

/// <summary>
/// The class-specific maps against the float64 numpy formulas of make_gradient_fixtures.py: once from the oracle's own
/// attentions and gradients (the method alone), once from this library's gradient graph on the same pixels (the whole
/// pipeline), for the HF, timm, DeiT-distilled (two prefix tokens) and mean-pooled (no class token) fixtures, CLS row
/// and mean of the patch rows.
/// </summary>
public sealed class ExplanationMethodTests
{
    private const double Relative = 1e-4;

    private static readonly ConcurrentDictionary<(string, bool), Inputs> s_inputs = new();

    private static readonly string[] Fixtures = ["tiny-vit-hf", "tiny-vit-timm", "tiny-deit-distilled", "tiny-vit-gap"];

    private static readonly string[] Methods =
    [
        "attention", "attention_heads", "gradient_rollout", "gradient_rollout_discard90", "transformer_attribution",
        "transformer_attribution_start1", "gradcam", "gradcam_norm1_input", "attention_gradcam", "attention_patchrows",
        "gradient_rollout_patchrows", "transformer_attribution_patchrows", "attention_gradcam_patchrows",
    ];

    private sealed record Inputs(AttentionStack Attentions, float[] Gradients, float[] Norm1Input, float[] GradNorm1Input,
        float[] Norm1Output, float[] GradNorm1Output, int Prefix, int Hidden);

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (string fixture in Fixtures)
        {
            foreach (string method in Methods)
            {
                foreach (bool session in new[] { false, true })
                {
                    yield return new TestCaseData(fixture, method, session)
                        .SetName($"{Pascal(method)}_{fixture.Replace("tiny-", string.Empty, StringComparison.Ordinal)}{(session ? "FromGradientGraph" : "FromOracleTensors")}_MatchesFloat64Formula");
                }
            }
        }
    }

    private static string Pascal(string snake) => string.Concat(snake.Split('_').Select(w => char.ToUpperInvariant(w[0]) + w[1..]));

    [TestCaseSource(nameof(Cases))]
    public void Method_Fixture_MatchesFloat64Formula(string fixture, string method, bool fromSession)
    {
        Inputs x = s_inputs.GetOrAdd((fixture, fromSession), key => Load(key.Item1, key.Item2));
        using var expected = SafeTensorsFile.Open(Path.Combine(FixturePaths.Folder(fixture), "expected_gradients.safetensors"));
        double[] oracle = expected.ReadFloat64("map." + method);
        int tokens = x.Attentions.Shape.Tokens, perItem = oracle.Length / 2;
        for (int item = 0; item < 2; item++)
        {
            float[] map = Compute(x, method, item);
            double[] want = oracle[(item * perItem)..((item + 1) * perItem)];
            if (want.All(v => v == 0))
            {
                // The last layer's patch rows do not reach a class-token classifier: their gradient, and this map, is 0.
                Assert.That(map, Is.All.EqualTo(0f), $"item {item}");
                continue;
            }

            double error = GradientFixtureTests.RelativeError(map, want);
            TestContext.Out.WriteLine($"item {item}: {error:E2}");
            Assert.That(error, Is.LessThanOrEqualTo(Relative), $"item {item}: max |difference| / max |oracle| = {error:E2}");
        }

        Assert.That(perItem % (tokens - x.Prefix), Is.Zero);
    }

    private static float[] Compute(Inputs x, string method, int item)
    {
        int t = x.Attentions.Shape.Tokens, p = x.Prefix;
        // A model without a class token explains its pooled output: its "CLS row" is the mean of the patch rows.
        QueryRows patches = QueryRows.Patches(p, t), cls = p > 0 ? QueryRows.Token(0) : patches;
        int norm = t * x.Hidden;
        ReadOnlySpan<float> Slice(float[] buffer) => buffer.AsSpan(item * norm, norm);
        return method switch
        {
            "attention" => ExplanationMethods.Attention(x.Attentions, item, p, cls),
            "attention_heads" => ExplanationMethods.AttentionPerHead(x.Attentions, item, p, cls),
            "gradient_rollout" => ExplanationMethods.GradientRollout(x.Attentions, x.Gradients, item, p, cls),
            "gradient_rollout_discard90" => ExplanationMethods.GradientRollout(x.Attentions, x.Gradients, item, p, cls, 0.9f),
            "transformer_attribution" => ExplanationMethods.TransformerAttribution(x.Attentions, x.Gradients, item, p, cls),
            "transformer_attribution_start1" => ExplanationMethods.TransformerAttribution(x.Attentions, x.Gradients, item, p, cls, startLayer: 1),
            "gradcam" => ExplanationMethods.GradCam(Slice(x.Norm1Output), Slice(x.GradNorm1Output), t, p),
            "gradcam_norm1_input" => ExplanationMethods.GradCam(Slice(x.Norm1Input), Slice(x.GradNorm1Input), t, p),
            "attention_gradcam" => ExplanationMethods.AttentionGradCam(x.Attentions, x.Gradients, item, p, cls),
            "attention_patchrows" => ExplanationMethods.Attention(x.Attentions, item, p, patches),
            "gradient_rollout_patchrows" => ExplanationMethods.GradientRollout(x.Attentions, x.Gradients, item, p, patches),
            "transformer_attribution_patchrows" => ExplanationMethods.TransformerAttribution(x.Attentions, x.Gradients, item, p, patches),
            "attention_gradcam_patchrows" => ExplanationMethods.AttentionGradCam(x.Attentions, x.Gradients, item, p, patches),
            _ => throw new ArgumentException(method),
        };
    }

    private static Inputs Load(string fixture, bool fromSession)
    {
        using var expected = SafeTensorsFile.Open(Path.Combine(FixturePaths.Folder(fixture), "expected_gradients.safetensors"));
        PreparedModel model = CheckpointLoader.Prepare(FixturePaths.Folder(fixture));
        VitConfig c = model.Config;
        if (fromSession)
        {
            (float[] pixels, int[] targets) = GradientFixtureTests.Inputs(expected);
            using var session = new GradientSession(model);
            GradientOutput o = session.Run(pixels, 2, targets);
            return new Inputs(o.Attentions, o.AttentionGradients, o.Norm1Input, o.Norm1InputGradient, o.Norm1Output, o.Norm1OutputGradient, c.PrefixTokens, o.Hidden);
        }

        var shape = new AttentionShape(c.NumLayers, 2, c.NumHeads, c.Tokens);
        float[] Stack(string prefix) => [.. Enumerable.Range(0, c.NumLayers).SelectMany(l => expected.ReadFloat32(prefix + l))];
        return new Inputs(new AttentionStack(shape, Stack("attentions.")), Stack("grad.attentions."),
            expected.ReadFloat32("norm1_input"), expected.ReadFloat32("grad.norm1_input"),
            expected.ReadFloat32("norm1_output"), expected.ReadFloat32("grad.norm1_output"), c.PrefixTokens, c.HiddenSize);
    }
}
