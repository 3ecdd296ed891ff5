using VitAttention.Inference;
using VitAttention.Rendering.Viewer;
using VitAttention.Tests.Rollout;

namespace VitAttention.Tests.Rendering.Viewer;

public class AttentionQuantizerTests
{
    [TestCase(17, 11)]
    [TestCase(197, 12)]
    [TestCase(198, 13)]
    [TestCase(577, 14)]
    public void EncodeDecode_RandomSoftmaxRows_ErrorWithinHalfStepOfRowMax(int tokens, int seed)
    {
        var values = RandomStacks.Create(new AttentionShape(2, 1, 3, tokens), seed);
        int rows = values.Length / tokens;
        var codes = new byte[values.Length];
        var scales = new float[rows];
        AttentionQuantizer.Encode(values, tokens, codes, scales);
        var decoded = new float[values.Length];
        AttentionQuantizer.Decode(codes, scales, tokens, decoded);

        double worstRatio = 0;
        for (int r = 0; r < rows; r++)
        {
            double max = values.Skip(r * tokens).Take(tokens).Max();
            Assert.That(scales[r], Is.EqualTo((float)max), $"row {r}'s scale is its maximum");
            for (int j = 0; j < tokens; j++)
            {
                double error = Math.Abs(decoded[(r * tokens) + j] - (double)values[(r * tokens) + j]);
                worstRatio = Math.Max(worstRatio, error / max);
            }
        }

        // Half a step of 1/255 of the row maximum, plus float rounding of the decoded value.
        Assert.That(worstRatio, Is.LessThanOrEqualTo((1.0 / 510) + 1e-7));
        Assert.That(worstRatio, Is.GreaterThan(1.0 / 510 * 0.9), "random rows should come close to the bound (else the test proves little)");
    }

    [Test]
    public void Encode_RowMaximumAndZero_DecodeExactly()
    {
        float[] row = [0f, 0.125f, 0.3f, 0.575f];
        var codes = new byte[4];
        var scales = new float[1];
        AttentionQuantizer.Encode(row, 4, codes, scales);
        Assert.That(codes[0], Is.EqualTo(0));
        Assert.That(codes[3], Is.EqualTo(255));
        Assert.That(AttentionQuantizer.Decode(codes[3], scales[0]), Is.EqualTo(0.575f));
        Assert.That(AttentionQuantizer.Decode(codes[0], scales[0]), Is.EqualTo(0f));
        // 0.3 / 0.575 · 255 = 133.04… → 133; 0.125 / 0.575 · 255 = 55.43… → 55.
        Assert.That(codes[1..3], Is.EqualTo(new byte[] { 55, 133 }));
    }

    [Test]
    public void Encode_AllZeroRow_StaysZero()
    {
        var codes = new byte[3];
        var scales = new float[1];
        AttentionQuantizer.Encode(new float[3], 3, codes, scales);
        Assert.That(codes, Is.All.EqualTo(0));
        Assert.That(scales[0], Is.EqualTo(0f));
    }

    [TestCase(-0.1f)]
    [TestCase(float.NaN)]
    [TestCase(float.PositiveInfinity)]
    public void Encode_InvalidValue_ThrowsNamingRow(float bad)
    {
        float[] values = [0.5f, 0.5f, 0.2f, bad];
        var ex = Assert.Throws<ArgumentException>(() => AttentionQuantizer.Encode(values, 2, new byte[4], new float[2]));
        Assert.That(ex!.Message, Does.Contain("Row 1"));
    }

    [Test]
    public void Encode_LengthNotMultipleOfRow_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => AttentionQuantizer.Encode(new float[5], 2, new byte[5], new float[2]));
        Assert.That(ex!.Message, Does.Contain("do not split into rows of 2"));
    }
}
