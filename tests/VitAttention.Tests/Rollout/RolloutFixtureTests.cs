using VitAttention.Inference;
using VitAttention.Models;
using VitAttention.Rollout;
using VitAttention.Rollout.Kernels;

namespace VitAttention.Tests.Rollout;

/// <summary>
/// The engine against the independent PyTorch float64 outputs in the fixtures (both batch items, every SIMD width):
/// the fixture's own attention tensors in, its rollout matrices, CLS rows and per-layer maps out.
/// </summary>
public class RolloutFixtureTests
{
    private const double Tolerance = 1e-5;
    private const int Layers = 3, Batch = 2, Heads = 4, Tokens = 17, Grid = 4;

    private static readonly string[] Folders = ["tiny-vit-hf", "tiny-vit-timm"];

    private static IEnumerable<TestCaseData> Cases()
    {
        foreach (string folder in Folders)
        {
            foreach (RolloutKernelInfo kernel in RolloutKernelFactory.All)
            {
                yield return new TestCaseData(folder, (int)kernel.Width); // 512, 256, 128, 0 = scalar
            }
        }
    }

    private static (AttentionStack Stack, SafeTensorsFile Expected) Load(string folder)
    {
        SafeTensorsFile expected = SafeTensorsFile.Open(FixturePaths.Expected(folder));
        var shape = new AttentionShape(Layers, Batch, Heads, Tokens);
        var data = new float[shape.TotalLength]; // [layer, batch, head, query, key]
        for (int l = 0; l < Layers; l++)
        {
            expected.ReadFloat32($"attentions.{l}").CopyTo(data.AsSpan((int)shape.OffsetOf(l, 0), Batch * (int)shape.LayerLength));
        }

        return (new AttentionStack(shape, data), expected);
    }

    [TestCaseSource(nameof(Cases))]
    public void RolloutMatrix_Fixture_MatchesPyTorchFloat64(string folder, int widthBits)
    {
        (AttentionStack stack, SafeTensorsFile expected) = Load(folder);
        using (expected)
        {
            var engine = new RolloutEngine((SimdWidth)widthBits);
            var matrix = new float[Tokens * Tokens];
            var row = new float[Tokens];
            foreach ((HeadFusion fusion, string name) in new[] { (HeadFusion.Mean, "mean"), (HeadFusion.Max, "max"), (HeadFusion.Min, "min") })
            {
                double[] full = expected.ReadFloat64($"rollout_{name}");   // [batch, 17, 17]
                double[] cls = expected.ReadFloat64($"rollout_{name}_cls"); // [batch, 16]
                var options = RolloutOptions.Default with { Fusion = fusion };
                for (int item = 0; item < Batch; item++)
                {
                    engine.RolloutMatrix(stack.Data, stack.Shape, item, options, matrix);
                    RolloutEngineTests.AssertClose(matrix, full[(item * Tokens * Tokens)..((item + 1) * Tokens * Tokens)], $"{name} matrix item {item}");

                    engine.RolloutRow(stack.Data, stack.Shape, item, options, row);
                    RolloutEngineTests.AssertClose(row[1..], cls[(item * 16)..((item + 1) * 16)], $"{name} row item {item}");
                }
            }
        }
    }

    [TestCaseSource(nameof(Folders))]
    public void RolloutMap_Fixture_MatchesClsRolloutOverGrid(string folder)
    {
        (AttentionStack stack, SafeTensorsFile expected) = Load(folder);
        using (expected)
        {
            double[] cls = expected.ReadFloat64("rollout_mean_cls");
            var engine = new RolloutEngine();
            for (int item = 0; item < Batch; item++)
            {
                AttentionMap map = engine.RolloutMap(stack, item, Grid, Grid);
                RolloutEngineTests.AssertClose(map.ToArray(), cls[(item * 16)..((item + 1) * 16)], $"item {item}");
            }
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void LayerRow_Fixture_MatchesLayerClsMean(string folder, int widthBits)
    {
        (AttentionStack stack, SafeTensorsFile expected) = Load(folder);
        using (expected)
        {
            var engine = new RolloutEngine((SimdWidth)widthBits);
            var row = new float[Tokens];
            for (int l = 0; l < Layers; l++)
            {
                double[] map = expected.ReadFloat64($"layer_cls_mean.{l}"); // [batch, 16]
                for (int item = 0; item < Batch; item++)
                {
                    engine.LayerRow(stack.Data, stack.Shape, l, item, 0, null, row);
                    RolloutEngineTests.AssertClose(row[1..], map[(item * 16)..((item + 1) * 16)], $"layer {l} item {item}");
                }
            }

            double[] last = expected.ReadFloat64("last_layer_cls_mean");
            for (int item = 0; item < Batch; item++)
            {
                AttentionMap map = engine.LayerMap(stack, Layers - 1, item, Grid, Grid);
                RolloutEngineTests.AssertClose(map.ToArray(), last[(item * 16)..((item + 1) * 16)], $"last layer item {item}");
            }
        }
    }
}
