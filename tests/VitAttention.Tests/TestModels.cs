using VitAttention.Loading;
using VitAttention.Models;

namespace VitAttention.Tests;

/// <summary>Random ViTs built in memory for tests that need a model of a particular shape.</summary>
internal static class TestModels
{
    /// <summary>
    /// A ViT with many tokens and a small width (64×64 input, patch 4: 257 tokens; 4 layers × 4 heads; hidden 32,
    /// 10 classes): one image's attention stack is 4.2 MB while the weights are tiny, so memory held per explanation
    /// is easy to see.
    /// </summary>
    public static VitConfig ManyTokens { get; } = new()
    {
        ImageHeight = 64, ImageWidth = 64, PatchSize = 4, HiddenSize = 32, NumLayers = 4, NumHeads = 4, IntermediateSize = 64, NumClasses = 10,
    };

    /// <summary>Bytes of one image's attention stack under <paramref name="config"/>.</summary>
    public static long StackBytes(VitConfig config) => (long)config.NumLayers * config.NumHeads * config.Tokens * config.Tokens * sizeof(float);

    /// <summary>An explainer over a random model of <paramref name="config"/> (weights seeded).</summary>
    public static VitExplainer Explainer(VitConfig config, ExplainerOptions? options = null, int seed = 3) =>
        new(new PreparedModel(config, VitOnnxBuilder.Build(config, VitWeights.Random(config, seed)), VitOnnxBuilder.InputName, "random ViT"), options);
}
