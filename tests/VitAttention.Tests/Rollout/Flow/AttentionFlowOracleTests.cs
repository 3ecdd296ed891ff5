using System.Globalization;
using VitAttention.Inference;
using VitAttention.Models;
using VitAttention.Rollout;
using VitAttention.Rollout.Flow;

namespace VitAttention.Tests.Rollout.Flow;

/// <summary>
/// The engine against networkx: Fixtures/attention-flow/flow-oracle.safetensors holds the max-flow values that
/// networkx's Edmonds–Karp (checked against its preflow-push) computes in float64 on graphs built as the authors'
/// code builds them (make_flow_oracle.py beside it), for random, peaked and real (tiny-vit-hf) attention and for
/// every option. Most of the cases are ones where the flow is well below the trivial bound, so the solver has real
/// work to do.
/// </summary>
public class AttentionFlowOracleTests
{
    /// <summary>The issue asks for 1e-6; the solver is exact to rounding, so the tests hold it to far less.</summary>
    private const double Tolerance = 1e-9;

    private static string OraclePath => Path.Combine(FixturePaths.Folder("attention-flow"), "flow-oracle.safetensors");

    private static IEnumerable<TestCaseData> Cases()
    {
        // The case count is fixed here so that a missing fixture fails instead of yielding no tests.
        for (int index = 0; index < 13; index++)
        {
            foreach (int threads in new[] { 1, 2 })
            {
                yield return new TestCaseData(index, threads).SetName($"FlowRow_OracleCase{index}_{threads}Threads_MatchesNetworkx");
            }
        }
    }

    internal static (AttentionStack Stack, RolloutOptions Options, double[] Flow, double[] Relevance) Load(int index)
    {
        using SafeTensorsFile file = SafeTensorsFile.Open(OraclePath);
        string name = $"case{index}";
        Dictionary<string, string> settings = file.Metadata[name].Split(';').Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);
        SafeTensorInfo info = file.Info($"{name}.attention"); // [layers, 1, heads, tokens, tokens]
        var shape = new AttentionShape((int)info.Shape[0], (int)info.Shape[1], (int)info.Shape[2], (int)info.Shape[3]);
        var options = RolloutOptions.Default with
        {
            QueryToken = int.Parse(settings["query"], CultureInfo.InvariantCulture),
            Fusion = Enum.Parse<HeadFusion>(settings["fusion"], ignoreCase: true),
            ResidualAlpha = float.Parse(settings["alpha"], CultureInfo.InvariantCulture),
            DiscardRatio = float.Parse(settings["discard"], CultureInfo.InvariantCulture),
            FirstLayer = int.Parse(settings["start"], CultureInfo.InvariantCulture) + 1, // the fixture's layers are zero-based
            LastLayer = int.Parse(settings["end"], CultureInfo.InvariantCulture) + 1,
            PrefixTokens = int.Parse(settings["prefix"], CultureInfo.InvariantCulture),
        };
        return (new AttentionStack(shape, file.ReadFloat32($"{name}.attention")), options,
            file.ReadFloat64($"{name}.flow"), file.ReadFloat64($"{name}.relevance"));
    }

    [TestCaseSource(nameof(Cases))]
    public void FlowRow_OracleCase_MatchesNetworkx(int index, int threads)
    {
        (AttentionStack stack, RolloutOptions options, double[] expected, _) = Load(index);
        var engine = new AttentionFlowEngine();
        var flow = new double[stack.Shape.Tokens];
        var cut = new double[stack.Shape.Tokens];
        engine.FlowRow(stack.Data, stack.Shape, 0, options with { MaxDegreeOfParallelism = threads }, flow, cut);
        for (int j = 0; j < flow.Length; j++)
        {
            Assert.That(flow[j], Is.EqualTo(expected[j]).Within(Tolerance), $"case {index}, input token {j}");
            Assert.That(cut[j], Is.EqualTo(flow[j]).Within(Tolerance), $"case {index}, input token {j}: cut certificate");
        }
    }

    [Test]
    public void Compute_OracleCases_RelevanceAndMapMatchAuthorsNormalisation()
    {
        int nonTrivial = 0;
        for (int index = 0; index < 13; index++)
        {
            (AttentionStack stack, RolloutOptions options, double[] flow, double[] relevance) = Load(index);
            int tokens = stack.Shape.Tokens, patches = tokens - options.PrefixTokens;
            AttentionFlowResult result = new AttentionFlowEngine().Compute(stack, 0, 1, patches, options);
            Assert.That(result.QueryToken, Is.EqualTo(options.QueryToken));
            for (int j = 0; j < tokens; j++)
            {
                Assert.That(result.Flow[j], Is.EqualTo(flow[j]).Within(Tolerance), $"case {index} flow {j}");
                Assert.That(result.Relevance[j], Is.EqualTo(relevance[j]).Within(Tolerance), $"case {index} relevance {j}");
                Assert.That(result.Flow[j], Is.LessThanOrEqualTo(result.TrivialBound[j] + 1e-12), $"case {index} bound {j}");
                nonTrivial += result.TrivialBound[j] - result.Flow[j] > 1e-3 ? 1 : 0;
            }

            Assert.That(result.Map.Height * result.Map.Width, Is.EqualTo(patches));
            for (int p = 0; p < patches; p++)
            {
                Assert.That(result.Map.Values[p], Is.EqualTo(relevance[options.PrefixTokens + p]).Within(1e-7), $"case {index} map {p}");
            }
        }

        // The fixture is only a strong oracle if the flow often differs from the trivial bound.
        Assert.That(nonTrivial, Is.GreaterThan(30));
    }
}
