using VitAttention.Analysis.Methods;
using VitAttention.Inference;

namespace VitAttention.Tests.Gradients;

/// <summary>Bad arguments to the explanation methods: exceptions that name the argument and its valid range.</summary>
public sealed class ExplanationMethodArgumentTests
{
    private static readonly AttentionShape Shape = new(2, 1, 3, 5);

    private static AttentionStack Stack()
    {
        var data = new float[Shape.TotalLength];
        Array.Fill(data, 0.2f); // rows of 5 tokens sum to 1
        return new AttentionStack(Shape, data);
    }

    [Test]
    public void GradientRollout_GradientsOfAnotherShape_NamesBothLengths()
    {
        var e = Assert.Throws<ArgumentException>(() => ExplanationMethods.GradientRollout(Stack(), new float[Shape.TotalLength - 1], 0, 1, QueryRows.Token(0)));
        Assert.That(e!.Message, Does.Contain($"{Shape.TotalLength - 1} values").And.Contain($"{Shape.TotalLength} values"));
        Assert.That(e.ParamName, Is.EqualTo("gradients"));
    }

    [TestCase(-1)]
    [TestCase(5)]
    public void Attention_PrefixOutsideTokens_NamesRange(int prefix)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ExplanationMethods.Attention(Stack(), 0, prefix, QueryRows.Token(0)));
        Assert.That(e!.Message, Does.Contain($"prefix token count {prefix}").And.Contain("0..4"));
    }

    [Test]
    public void TransformerAttribution_QueryRowsPastTheEnd_NamesRows()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            ExplanationMethods.TransformerAttribution(Stack(), new float[Shape.TotalLength], 0, 1, new QueryRows(3, 3)));
        Assert.That(e!.Message, Does.Contain("Query rows 3..5").And.Contain("0..4"));
    }

    [TestCase(-0.1f)]
    [TestCase(1f)]
    [TestCase(float.NaN)]
    public void GradientRollout_DiscardRatioOutsideRange_Throws(float ratio)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            ExplanationMethods.GradientRollout(Stack(), new float[Shape.TotalLength], 0, 1, QueryRows.Token(0), ratio));
        Assert.That(e!.ParamName, Is.EqualTo("discardRatio"));
    }

    [TestCase(-1)]
    [TestCase(2)]
    public void TransformerAttribution_StartLayerOutsideLayers_Throws(int start)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            ExplanationMethods.TransformerAttribution(Stack(), new float[Shape.TotalLength], 0, 1, QueryRows.Token(0), start));
        Assert.That(e!.ParamName, Is.EqualTo("startLayer"));
    }

    [Test]
    public void AttentionGradCam_ItemOutsideBatch_Throws()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            ExplanationMethods.AttentionGradCam(Stack(), new float[Shape.TotalLength], 1, 1, QueryRows.Token(0)));
        Assert.That(e!.ParamName, Is.EqualTo("item"));
    }

    [Test]
    public void GradCam_GradientOfAnotherLength_NamesTokens()
    {
        var e = Assert.Throws<ArgumentException>(() => ExplanationMethods.GradCam(new float[5 * 4], new float[5 * 3], 5, 1));
        Assert.That(e!.Message, Does.Contain("5 tokens").And.Contain("20 and 15 values"));
    }

    [Test]
    public void GradientRollout_ZeroGradients_IsPlainResidualChain()
    {
        // With dA = 0 every fused matrix is 0, so Ã = I at each layer and the map is the query row of I: 0 on patches.
        float[] map = ExplanationMethods.GradientRollout(Stack(), new float[Shape.TotalLength], 0, 1, QueryRows.Token(2));
        Assert.That(map, Is.EqualTo(new float[] { 0, 1, 0, 0 }));
    }
}
