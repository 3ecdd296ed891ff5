using System.Globalization;

namespace VitAttention.Models;

/// <summary>
/// A ViT's weights in one canonical layout, whatever checkpoint they came from: patch embedding, prefix tokens,
/// position embedding, blocks with a fused qkv projection, final norm and classifier. Every array is float32 and its
/// length is checked against a <see cref="VitConfig"/> by <see cref="CheckAgainst"/>.
/// </summary>
internal sealed class VitWeights
{
    /// <summary>The checkpoint file name in a model folder.</summary>
    public const string WeightsFile = "model.safetensors";

    /// <summary>Patch embedding convolution. <c>[hidden, channels, patch, patch]</c></summary>
    public required float[] PatchWeight { get; init; }

    /// <summary>Patch embedding bias, or null when the model has none (<see cref="VitConfig.PatchEmbeddingBias"/> false: CLIP). <c>[hidden]</c></summary>
    public float[]? PatchBias { get; init; }

    /// <summary>The class token, or null when the model has none. <c>[hidden]</c></summary>
    public float[]? ClassToken { get; init; }

    /// <summary>The distillation token (DeiT distilled), or null. <c>[hidden]</c></summary>
    public float[]? DistillationToken { get; init; }

    /// <summary>The register tokens, or null when there are none. <c>[registers, hidden]</c></summary>
    public float[]? RegisterTokens { get; init; }

    /// <summary>
    /// Position embedding as the checkpoint holds it (prefix rows, then the trained grid's patches row-major), or null
    /// when the model has none (<see cref="VitConfig.HasPositionEmbedding"/> false: BEiT).
    /// <c>[<see cref="VitConfig.PositionEmbeddingRows"/>, hidden]</c>
    /// </summary>
    public float[]? PositionEmbedding { get; init; }

    /// <summary>LayerNorm after the embedding, scale, or null (<see cref="VitConfig.PreNorm"/> false). <c>[hidden]</c></summary>
    public float[]? PreNormWeight { get; init; }

    /// <summary>LayerNorm after the embedding, shift, or null. <c>[hidden]</c></summary>
    public float[]? PreNormBias { get; init; }

    /// <summary>
    /// The relative position table shared by every block, or null (<see cref="VitConfig.RelativePositionBias"/> is not
    /// <see cref="RelativePositionBiasKind.Shared"/>). <c>[<see cref="VitConfig.RelativePositionTableRows"/>, heads]</c>
    /// </summary>
    public float[]? SharedRelativePositionBiasTable { get; init; }

    /// <summary>The blocks, first to last.</summary>
    public required IReadOnlyList<VitLayerWeights> Layers { get; init; }

    /// <summary>Final LayerNorm scale (timm <c>norm</c> or <c>fc_norm</c>, HF <c>layernorm</c>). <c>[hidden]</c></summary>
    public required float[] FinalNormWeight { get; init; }

    /// <summary>Final LayerNorm shift. <c>[hidden]</c></summary>
    public required float[] FinalNormBias { get; init; }

    /// <summary>Classifier weight, or null when the model has no classifier. <c>[classes, hidden]</c> (<c>[classes, 2·hidden]</c> for <see cref="VitPooling.ClassAndPatchMean"/>)</summary>
    public float[]? HeadWeight { get; init; }

    /// <summary>Classifier bias, or null. <c>[classes]</c></summary>
    public float[]? HeadBias { get; init; }

    /// <summary>Distillation classifier weight (DeiT distilled), or null. <c>[classes, hidden]</c></summary>
    public float[]? DistillationHeadWeight { get; init; }

    /// <summary>Distillation classifier bias, or null. <c>[classes]</c></summary>
    public float[]? DistillationHeadBias { get; init; }

    /// <summary>Number of float parameters held.</summary>
    public long ParameterCount => Arrays().Sum(a => (long)a.Length);

    /// <summary>
    /// Loads the weights of the checkpoint in <paramref name="folder"/> (<c>model.safetensors</c>, Hugging Face or timm
    /// names as <paramref name="config"/>.<see cref="VitConfig.Family"/> says) and checks every tensor's shape against
    /// the config. Separate HF query/key/value projections are fused into the canonical qkv layout.
    /// </summary>
    /// <param name="folder">The checkpoint folder.</param>
    /// <param name="config">The config read from the same folder (<see cref="VitConfigLoader.FromFolder"/>).</param>
    /// <exception cref="ModelFormatException">
    /// The weights are missing or malformed, a tensor is missing, a shape disagrees with the config (the message names
    /// the tensor, its shape and the config value), or the file holds tensors this layout does not use.
    /// </exception>
    public static VitWeights Load(string folder, VitConfig config)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(config);
        string path = Path.Combine(folder, WeightsFile);
        if (!File.Exists(path))
        {
            string hint = File.Exists(Path.Combine(folder, "pytorch_model.bin")) || File.Exists(Path.Combine(folder, "pytorch_model.pth"))
                ? " The folder has PyTorch pickle weights only; VitAttention reads safetensors (convert with safetensors.torch.save_file, or download model.safetensors)."
                : " Download model.safetensors from the same repository as config.json.";
            throw new ModelFormatException($"{folder}: no {WeightsFile}.{hint}");
        }

        config.ValidateLayout(Path.Combine(folder, VitConfigLoader.ConfigFile));
        using var file = SafeTensorsFile.Open(path);
        var reader = new CheckpointReader(file, config, Path.Combine(folder, VitConfigLoader.ConfigFile));
        VitWeights weights = reader.Load();
        reader.RejectUnused();
        return weights;
    }

    /// <summary>
    /// Seeded random weights for tests and benchmarks: linear, conv, token and position weights from a normal
    /// distribution truncated at ±2σ with σ = <paramref name="std"/>, biases the same, LayerNorm scales 1 + the same
    /// noise (so that swapped norms would show). The same config and seed always give the same weights.
    /// </summary>
    /// <param name="config">The dimensions (validated with <see cref="VitConfig.ValidateLayout"/>).</param>
    /// <param name="seed">The seed.</param>
    /// <param name="std">Standard deviation of the weights (0.02 is timm's initialisation).</param>
    /// <exception cref="ModelFormatException">The config is inconsistent.</exception>
    public static VitWeights Random(VitConfig config, int seed, float std = 0.02f)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.ValidateLayout("random ViT config");
        int d = config.HiddenSize;

        // One generator per layer (and one for the rest), seeded from (seed, index): layers are drawn in parallel and
        // the result does not depend on scheduling.
        var layers = new VitLayerWeights[config.NumLayers];
        Parallel.For(0, layers.Length, l =>
        {
            var rng = new SplitMix(Mix(seed, l + 1));
            layers[l] = new VitLayerWeights
            {
                Norm1Weight = rng.TruncatedNormal(d, std, 1f),
                Norm1Bias = rng.TruncatedNormal(d, std),
                QkvWeight = rng.TruncatedNormal(checked(3 * d * d), std),
                QkvBias = config.QkvBias ? rng.TruncatedNormal(3 * d, std) : null,
                ProjWeight = rng.TruncatedNormal(checked(d * d), std),
                ProjBias = rng.TruncatedNormal(d, std),
                Norm2Weight = rng.TruncatedNormal(d, std, 1f),
                Norm2Bias = rng.TruncatedNormal(d, std),
                Fc1Weight = rng.TruncatedNormal(checked(config.IntermediateSize * d), std),
                Fc1Bias = rng.TruncatedNormal(config.IntermediateSize, std),
                Fc2Weight = rng.TruncatedNormal(checked(d * config.IntermediateSize), std),
                Fc2Bias = rng.TruncatedNormal(d, std),
                LayerScale1 = config.LayerScale ? rng.TruncatedNormal(d, std, 1f) : null,
                LayerScale2 = config.LayerScale ? rng.TruncatedNormal(d, std, 1f) : null,
                RelativePositionBiasTable = config.RelativePositionBias == RelativePositionBiasKind.PerLayer
                    ? rng.TruncatedNormal(checked(config.RelativePositionTableRows * config.NumHeads), std)
                    : null,
            };
        });

        var top = new SplitMix(Mix(seed, 0));
        float[] N(long count) => top.TruncatedNormal(checked((int)count), std);
        float[] One(int count) => top.TruncatedNormal(count, std, 1f);

        bool head = config.NumClasses > 0;
        bool distHead = head && config.Pooling == VitPooling.ClassAndDistillationMean;
        return new VitWeights
        {
            PatchWeight = N((long)d * config.Channels * config.PatchSize * config.PatchSize),
            PatchBias = config.PatchEmbeddingBias ? N(d) : null,
            ClassToken = config.HasClassToken ? N(d) : null,
            DistillationToken = config.HasDistillationToken ? N(d) : null,
            RegisterTokens = config.RegisterTokens > 0 ? N((long)config.RegisterTokens * d) : null,
            PositionEmbedding = config.HasPositionEmbedding ? N((long)config.PositionEmbeddingRows * d) : null,
            PreNormWeight = config.PreNorm ? One(d) : null,
            PreNormBias = config.PreNorm ? N(d) : null,
            SharedRelativePositionBiasTable = config.RelativePositionBias == RelativePositionBiasKind.Shared
                ? N((long)config.RelativePositionTableRows * config.NumHeads)
                : null,
            Layers = layers,
            FinalNormWeight = One(d),
            FinalNormBias = N(d),
            HeadWeight = head ? N((long)config.NumClasses * HeadInputWidth(config)) : null,
            HeadBias = head ? N(config.NumClasses) : null,
            DistillationHeadWeight = distHead ? N((long)config.NumClasses * d) : null,
            DistillationHeadBias = distHead ? N(config.NumClasses) : null,
        };
    }

    /// <summary>Checks that every array has the length <paramref name="config"/> implies and optional parts are present exactly when needed.</summary>
    /// <param name="config">The dimensions.</param>
    /// <exception cref="ArgumentException">An array is missing, unexpected or of the wrong length; the message names it.</exception>
    public void CheckAgainst(VitConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        long d = config.HiddenSize;
        long m = config.IntermediateSize;
        long c = config.NumClasses;
        bool head = c > 0;
        bool distHead = head && config.Pooling == VitPooling.ClassAndDistillationMean;
        Check(PatchWeight, d * config.Channels * config.PatchSize * config.PatchSize, nameof(PatchWeight));
        long relRows = config.RelativePositionTableRows;
        Check(PatchBias, config.PatchEmbeddingBias ? d : null, nameof(PatchBias));
        Check(ClassToken, config.HasClassToken ? d : null, nameof(ClassToken));
        Check(DistillationToken, config.HasDistillationToken ? d : null, nameof(DistillationToken));
        Check(RegisterTokens, config.RegisterTokens > 0 ? config.RegisterTokens * d : null, nameof(RegisterTokens));
        Check(PositionEmbedding, config.HasPositionEmbedding ? config.PositionEmbeddingRows * d : null, nameof(PositionEmbedding));
        Check(PreNormWeight, config.PreNorm ? d : null, nameof(PreNormWeight));
        Check(PreNormBias, config.PreNorm ? d : null, nameof(PreNormBias));
        Check(SharedRelativePositionBiasTable, config.RelativePositionBias == RelativePositionBiasKind.Shared ? relRows * config.NumHeads : null, nameof(SharedRelativePositionBiasTable));
        Check(FinalNormWeight, d, nameof(FinalNormWeight));
        Check(FinalNormBias, d, nameof(FinalNormBias));
        Check(HeadWeight, head ? c * HeadInputWidth(config) : null, nameof(HeadWeight));
        Check(HeadBias, head ? c : null, nameof(HeadBias));
        Check(DistillationHeadWeight, distHead ? c * d : null, nameof(DistillationHeadWeight));
        Check(DistillationHeadBias, distHead ? c : null, nameof(DistillationHeadBias));
        if (Layers is null || Layers.Count != config.NumLayers)
        {
            throw new ArgumentException($"The weights have {Layers?.Count ?? 0} layers but the config {config.NumLayers}.", nameof(config));
        }

        for (int l = 0; l < Layers.Count; l++)
        {
            var w = Layers[l] ?? throw new ArgumentException($"Layer {l} is null.", nameof(config));
            string p = $"Layers[{l}].";
            Check(w.Norm1Weight, d, p + nameof(w.Norm1Weight));
            Check(w.Norm1Bias, d, p + nameof(w.Norm1Bias));
            Check(w.QkvWeight, 3 * d * d, p + nameof(w.QkvWeight));
            Check(w.QkvBias, config.QkvBias ? 3 * d : null, p + nameof(w.QkvBias));
            Check(w.ProjWeight, d * d, p + nameof(w.ProjWeight));
            Check(w.ProjBias, d, p + nameof(w.ProjBias));
            Check(w.Norm2Weight, d, p + nameof(w.Norm2Weight));
            Check(w.Norm2Bias, d, p + nameof(w.Norm2Bias));
            Check(w.Fc1Weight, m * d, p + nameof(w.Fc1Weight));
            Check(w.Fc1Bias, m, p + nameof(w.Fc1Bias));
            Check(w.Fc2Weight, d * m, p + nameof(w.Fc2Weight));
            Check(w.Fc2Bias, d, p + nameof(w.Fc2Bias));
            Check(w.LayerScale1, config.LayerScale ? d : null, p + nameof(w.LayerScale1));
            Check(w.LayerScale2, config.LayerScale ? d : null, p + nameof(w.LayerScale2));
            Check(w.RelativePositionBiasTable, config.RelativePositionBias == RelativePositionBiasKind.PerLayer ? relRows * config.NumHeads : null, p + nameof(w.RelativePositionBiasTable));
        }

        static void Check(float[]? array, long? expected, string name)
        {
            if (expected is null)
            {
                if (array is not null)
                {
                    throw new ArgumentException($"VitWeights.{name} is set but the config has no such part; remove it or fix the config.", nameof(config));
                }

                return;
            }

            if (array is null || array.LongLength != expected)
            {
                throw new ArgumentException(
                    $"VitWeights.{name} has {array?.LongLength.ToString(CultureInfo.InvariantCulture) ?? "no"} values but the config needs {expected}.", nameof(config));
            }
        }
    }

    private IEnumerable<float[]> Arrays()
    {
        float[]?[] top = [PatchWeight, PatchBias, ClassToken, DistillationToken, RegisterTokens, PositionEmbedding, PreNormWeight, PreNormBias, SharedRelativePositionBiasTable, FinalNormWeight, FinalNormBias, HeadWeight, HeadBias, DistillationHeadWeight, DistillationHeadBias];
        foreach (var a in top)
        {
            if (a is not null)
            {
                yield return a;
            }
        }

        foreach (var w in Layers)
        {
            float[]?[] layer = [w.Norm1Weight, w.Norm1Bias, w.QkvWeight, w.QkvBias, w.ProjWeight, w.ProjBias, w.Norm2Weight, w.Norm2Bias, w.Fc1Weight, w.Fc1Bias, w.Fc2Weight, w.Fc2Bias, w.LayerScale1, w.LayerScale2, w.RelativePositionBiasTable];
            foreach (var a in layer)
            {
                if (a is not null)
                {
                    yield return a;
                }
            }
        }
    }

    /// <summary>The classifier's input width: the hidden size, twice that for <see cref="VitPooling.ClassAndPatchMean"/>.</summary>
    internal static int HeadInputWidth(VitConfig config) =>
        config.Pooling == VitPooling.ClassAndPatchMean ? 2 * config.HiddenSize : config.HiddenSize;

    private static ulong Mix(int seed, int index) => ((ulong)(uint)seed * 0x9E3779B97F4A7C15UL) ^ ((ulong)index * 0xD1B54A32D192ED03UL);

    /// <summary>SplitMix64: a small, fast, seedable generator whose sequence is fixed across platforms and runtimes.</summary>
    private struct SplitMix(ulong seed)
    {
        private ulong _state = seed;

        private ulong Next()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        private double Uniform() => ((Next() >> 11) + 0.5) * (1.0 / (1UL << 53)); // (0, 1)

        public float[] TruncatedNormal(int count, float std, float mean = 0f)
        {
            var result = new float[count];
            int i = 0;
            while (i < count)
            {
                // Marsaglia's polar method gives two independent normals; those beyond ±2σ are redrawn (trunc-normal, as
                // timm initialises).
                double u = (2.0 * Uniform()) - 1.0, v = (2.0 * Uniform()) - 1.0, s = (u * u) + (v * v);
                if (s >= 1.0)
                {
                    continue;
                }

                double f = Math.Sqrt(-2.0 * Math.Log(s) / s);
                double z0 = u * f;
                double z1 = v * f;
                if (Math.Abs(z0) <= 2.0)
                {
                    result[i++] = mean + (float)(z0 * std);
                }

                if (i < count && Math.Abs(z1) <= 2.0)
                {
                    result[i++] = mean + (float)(z1 * std);
                }
            }

            return result;
        }
    }
}
