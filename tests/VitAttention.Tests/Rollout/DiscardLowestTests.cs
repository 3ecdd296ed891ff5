using VitAttention.Rollout.Kernels;

namespace VitAttention.Tests.Rollout;

/// <summary>
/// The discard kernel against a sort: exactly ⌊ratio · (T − p)²⌋ entries of the patch block zeroed, the lowest ones,
/// ties at the threshold broken in row-major order, prefix rows and columns untouched; the compacting selection (with
/// scratch) and the three-pass one give the same matrix bit for bit.
/// </summary>
public sealed class DiscardLowestTests
{
    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (int tokens in new[] { 2, 5, 17, 50, 197 })
        {
            foreach (int prefix in new[] { 0, 1, 2 })
            {
                foreach (float ratio in new[] { 0.1f, 0.5f, 0.9f, 0.99f })
                {
                    foreach (string kind in new[] { "relu", "ties", "spread" })
                    {
                        if (prefix < tokens - 1)
                        {
                            yield return new TestCaseData(tokens, prefix, ratio, kind);
                        }
                    }
                }
            }
        }
    }

    /// <summary>Non-negative test matrices: half zeros (a ReLU's output), few distinct values (ties), or values over many binades.</summary>
    private static float[] Matrix(int tokens, string kind, int seed)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, tokens * tokens).Select(_ => kind switch
        {
            "relu" => Math.Max(0f, (float)((rng.NextDouble() * 2) - 1)) * 1e-3f,
            "ties" => rng.Next(4) * 0.25f,
            _ => (float)Math.Pow(10, (rng.NextDouble() * 12) - 9),
        })];
    }

    /// <summary>The reference: sort the block's (value, row-major position) pairs and zero the first k.</summary>
    private static float[] Reference(float[] m, int tokens, int prefix, float ratio)
    {
        var r = (float[])m.Clone();
        long k = DiscardLowest.DiscardCount(ratio, tokens, prefix);
        var block = new List<(float Value, int Index)>();
        for (int i = prefix; i < tokens; i++)
        {
            for (int j = prefix; j < tokens; j++)
            {
                block.Add((m[(i * tokens) + j], (i * tokens) + j));
            }
        }

        foreach (var (_, index) in block.OrderBy(e => e.Value).ThenBy(e => e.Index).Take((int)k))
        {
            r[index] = 0f;
        }

        return r;
    }

    [TestCaseSource(nameof(Cases))]
    public unsafe void Invoke_WithAndWithoutScratch_ZeroesTheLowestAsASortDoes(int tokens, int prefix, float ratio, string kind)
    {
        float[] m = Matrix(tokens, kind, (tokens * 31) + prefix);
        float[] expected = Reference(m, tokens, prefix, ratio);
        float[] plain = (float[])m.Clone(), compacting = (float[])m.Clone(), interleaved = (float[])m.Clone();
        var histogram = new int[DiscardLowest.HistogramLength];
        var scratch = new uint[DiscardLowest.ScratchLength(tokens, prefix)];

        fixed (float* p = plain)
        {
            DiscardLowest.Invoke(p, tokens, tokens, prefix, ratio, histogram);
        }

        fixed (float* p = compacting)
        {
            DiscardLowest.Invoke(p, tokens, tokens, prefix, ratio, histogram, scratch);
        }

        fixed (float* p = interleaved)
        {
            DiscardLowest.Invoke(p, tokens, tokens, prefix, ratio, new int[DiscardLowest.InterleavedHistogramLength], scratch);
        }

        Assert.That(plain, Is.EqualTo(expected), "three-pass selection");
        Assert.That(interleaved, Is.EqualTo(expected), "compacting selection, four interleaved histograms");
        Assert.That(compacting, Is.EqualTo(expected), "compacting selection");
    }

    [Test]
    public unsafe void Invoke_ScratchTooSmall_ThrowsNamingIt()
    {
        var m = new float[25];
        m.AsSpan().Fill(1f);
        var histogram = new int[DiscardLowest.HistogramLength];
        var e = Assert.Throws<ArgumentException>(() =>
        {
            fixed (float* p = m)
            {
                DiscardLowest.Invoke(p, 5, 5, 1, 0.5f, histogram, new uint[3]);
            }
        })!;
        Assert.That(e.ParamName, Is.EqualTo("scratch"));
        Assert.That(e.Message, Does.Contain("needs 16"));
    }
}
