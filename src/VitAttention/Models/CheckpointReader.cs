using System.Globalization;

namespace VitAttention.Models;

/// <summary>
/// Maps a checkpoint's tensor names (transformers ViT, DeiT, DINOv2, CLIP, BEiT, data2vec-vision, or timm) to
/// <see cref="VitWeights"/>, checking each shape against the config and remembering which tensors were used so that
/// unknown ones (parts the builder would silently drop) are reported.
/// </summary>
internal sealed class CheckpointReader(SafeTensorsFile file, VitConfig config, string configPath)
{
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly string _hidden = config.Family == ModelFamily.Timm ? "embed_dim" : "hidden_size";
    private readonly string _mlp = config.Family == ModelFamily.Timm ? "embed_dim × mlp_ratio" : "intermediate_size";
    private readonly string _classes = config.Family == ModelFamily.Timm ? "num_classes" : "id2label / num_labels";

    /// <summary>A dimension the config expects: its value and the config key it comes from (null for a constant).</summary>
    private readonly record struct Dim(long Value, string? Key);

    private Dim Hidden => new(config.HiddenSize, _hidden);

    private Dim Mlp => new(config.IntermediateSize, _mlp);

    private Dim Classes => new(config.NumClasses, _classes);

    private Dim Patch => new(config.PatchSize, config.Family == ModelFamily.Timm ? "patch_size" : "patch_size");

    /// <summary>Reads the weights with the name map <see cref="VitConfig.Checkpoint"/> (or the family's) selects.</summary>
    public VitWeights Load() => config.Checkpoint switch
    {
        CheckpointLayout.Auto when config.Family == ModelFamily.Timm => LoadTimm(),
        CheckpointLayout.Auto when config.Family == ModelFamily.HuggingFace => LoadHuggingFace(),
        CheckpointLayout.HfVit or CheckpointLayout.HfDeit => LoadHuggingFace(),
        CheckpointLayout.HfDinov2 or CheckpointLayout.HfDinov2WithRegisters => LoadDinov2(),
        CheckpointLayout.HfClip => LoadClip(),
        CheckpointLayout.HfBeit or CheckpointLayout.HfData2VecVision => LoadBeit(),
        CheckpointLayout.Timm => LoadTimm(),
        _ => throw new ModelFormatException($"{file.Source}: model family {config.Family} has no safetensors name map; use a Hugging Face or timm checkpoint."),
    };

    public VitWeights LoadHuggingFace()
    {
        string p = config.HasDistillationToken && file.Contains("deit.embeddings.cls_token") ? "deit."
            : file.Contains("vit.embeddings.cls_token") ? "vit."
            : file.Contains("deit.embeddings.cls_token") ? "deit."
            : file.Contains("embeddings.cls_token") ? string.Empty
            : throw new ModelFormatException(
                $"{file.Source}: no class token under 'vit.', 'deit.' or the bare 'embeddings.' prefix (looked for 'vit.embeddings.cls_token'); this is not a Hugging Face ViT/DeiT checkpoint ({Sample()}).");

        var layers = new VitLayerWeights[config.NumLayers];
        for (int l = 0; l < layers.Length; l++)
        {
            string b = $"{p}encoder.layer.{l}.";
            string a = b + "attention.attention.";
            var qkvW = Fuse(Read(a + "query.weight", Hidden, Hidden), Read(a + "key.weight", Hidden, Hidden), Read(a + "value.weight", Hidden, Hidden));
            float[]? qkvB = config.QkvBias ? Fuse(Read(a + "query.bias", Hidden), Read(a + "key.bias", Hidden), Read(a + "value.bias", Hidden)) : null;
            layers[l] = new VitLayerWeights
            {
                Norm1Weight = Read(b + "layernorm_before.weight", Hidden),
                Norm1Bias = Read(b + "layernorm_before.bias", Hidden),
                QkvWeight = qkvW,
                QkvBias = qkvB,
                ProjWeight = Read(b + "attention.output.dense.weight", Hidden, Hidden),
                ProjBias = Read(b + "attention.output.dense.bias", Hidden),
                Norm2Weight = Read(b + "layernorm_after.weight", Hidden),
                Norm2Bias = Read(b + "layernorm_after.bias", Hidden),
                Fc1Weight = Read(b + "intermediate.dense.weight", Mlp, Hidden),
                Fc1Bias = Read(b + "intermediate.dense.bias", Mlp),
                Fc2Weight = Read(b + "output.dense.weight", Hidden, Mlp),
                Fc2Bias = Read(b + "output.dense.bias", Hidden),
            };
        }

        RejectExtraLayer($"{p}encoder.layer.");
        string e = p + "embeddings.";
        bool head = config.NumClasses > 0;
        bool teacher = config.Pooling == VitPooling.ClassAndDistillationMean;
        string headName = teacher ? "cls_classifier" : "classifier";
        RejectUnexpectedClassifier("classifier.weight");
        MarkIgnorable(n => n.StartsWith(p + "pooler.", StringComparison.Ordinal) || n == e + "mask_token");
        return new VitWeights
        {
            PatchWeight = ReadPatchWeight(e + "patch_embeddings.projection.weight", "num_channels"),
            PatchBias = Read(e + "patch_embeddings.projection.bias", Hidden),
            ClassToken = Read(e + "cls_token", One, One, Hidden),
            DistillationToken = config.HasDistillationToken ? Read(e + "distillation_token", One, One, Hidden) : null,
            PositionEmbedding = ReadPositions(e + "position_embeddings", batched: true),
            Layers = layers,
            FinalNormWeight = Read(p + "layernorm.weight", Hidden),
            FinalNormBias = Read(p + "layernorm.bias", Hidden),
            HeadWeight = head ? Read(headName + ".weight", Classes, Hidden) : null,
            HeadBias = head ? Read(headName + ".bias", Classes) : null,
            DistillationHeadWeight = head && teacher ? Read("distillation_classifier.weight", Classes, Hidden) : null,
            DistillationHeadBias = head && teacher ? Read("distillation_classifier.bias", Classes) : null,
        };
    }

    /// <summary>transformers DINOv2 (<c>Dinov2Model</c> names bare or under <c>dinov2.</c>) and DINOv2 with registers.</summary>
    public VitWeights LoadDinov2()
    {
        bool registers = config.Checkpoint == CheckpointLayout.HfDinov2WithRegisters;
        string p = PrefixOf("embeddings.cls_token", registers ? ["dinov2_with_registers.", string.Empty] : ["dinov2.", string.Empty],
            registers ? "DINOv2-with-registers" : "DINOv2");
        var layers = new VitLayerWeights[config.NumLayers];
        for (int l = 0; l < layers.Length; l++)
        {
            string b = $"{p}encoder.layer.{l}.";
            string a = b + "attention.attention.";
            layers[l] = new VitLayerWeights
            {
                Norm1Weight = Read(b + "norm1.weight", Hidden),
                Norm1Bias = Read(b + "norm1.bias", Hidden),
                QkvWeight = Fuse(Read(a + "query.weight", Hidden, Hidden), Read(a + "key.weight", Hidden, Hidden), Read(a + "value.weight", Hidden, Hidden)),
                QkvBias = config.QkvBias ? Fuse(Read(a + "query.bias", Hidden), Read(a + "key.bias", Hidden), Read(a + "value.bias", Hidden)) : null,
                ProjWeight = Read(b + "attention.output.dense.weight", Hidden, Hidden),
                ProjBias = Read(b + "attention.output.dense.bias", Hidden),
                LayerScale1 = Read(b + "layer_scale1.lambda1", Hidden),
                Norm2Weight = Read(b + "norm2.weight", Hidden),
                Norm2Bias = Read(b + "norm2.bias", Hidden),
                Fc1Weight = Read(b + "mlp.fc1.weight", Mlp, Hidden),
                Fc1Bias = Read(b + "mlp.fc1.bias", Mlp),
                Fc2Weight = Read(b + "mlp.fc2.weight", Hidden, Mlp),
                Fc2Bias = Read(b + "mlp.fc2.bias", Hidden),
                LayerScale2 = Read(b + "layer_scale2.lambda1", Hidden),
            };
        }

        RejectExtraLayer($"{p}encoder.layer.");
        string e = p + "embeddings.";
        bool head = config.NumClasses > 0;
        RejectUnexpectedClassifier("classifier.weight");
        MarkIgnorable(n => n == e + "mask_token");
        return new VitWeights
        {
            PatchWeight = ReadPatchWeight(e + "patch_embeddings.projection.weight", "num_channels"),
            PatchBias = Read(e + "patch_embeddings.projection.bias", Hidden),
            ClassToken = Read(e + "cls_token", One, One, Hidden),
            RegisterTokens = registers ? Read(e + "register_tokens", One, new Dim(config.RegisterTokens, "num_register_tokens"), Hidden) : null,
            PositionEmbedding = ReadPositions(e + "position_embeddings", batched: true),
            Layers = layers,
            FinalNormWeight = Read(p + "layernorm.weight", Hidden),
            FinalNormBias = Read(p + "layernorm.bias", Hidden),
            HeadWeight = head ? Read("classifier.weight", Classes, new Dim(2 * config.HiddenSize, "2 × hidden_size ([CLS, mean of patches])")) : null,
            HeadBias = head ? Read("classifier.bias", Classes) : null,
        };
    }

    /// <summary>
    /// transformers CLIP's vision tower, from <c>CLIPModel</c> (the text tower and projections are read past) or
    /// <c>CLIPVisionModel[WithProjection]</c>: names under <c>vision_model.</c>.
    /// </summary>
    public VitWeights LoadClip()
    {
        string p = PrefixOf("embeddings.class_embedding", ["vision_model.", string.Empty], "CLIP vision");
        var layers = new VitLayerWeights[config.NumLayers];
        for (int l = 0; l < layers.Length; l++)
        {
            string b = $"{p}encoder.layers.{l}.";
            string a = b + "self_attn.";
            layers[l] = new VitLayerWeights
            {
                Norm1Weight = Read(b + "layer_norm1.weight", Hidden),
                Norm1Bias = Read(b + "layer_norm1.bias", Hidden),
                QkvWeight = Fuse(Read(a + "q_proj.weight", Hidden, Hidden), Read(a + "k_proj.weight", Hidden, Hidden), Read(a + "v_proj.weight", Hidden, Hidden)),
                QkvBias = Fuse(Read(a + "q_proj.bias", Hidden), Read(a + "k_proj.bias", Hidden), Read(a + "v_proj.bias", Hidden)),
                ProjWeight = Read(a + "out_proj.weight", Hidden, Hidden),
                ProjBias = Read(a + "out_proj.bias", Hidden),
                Norm2Weight = Read(b + "layer_norm2.weight", Hidden),
                Norm2Bias = Read(b + "layer_norm2.bias", Hidden),
                Fc1Weight = Read(b + "mlp.fc1.weight", Mlp, Hidden),
                Fc1Bias = Read(b + "mlp.fc1.bias", Mlp),
                Fc2Weight = Read(b + "mlp.fc2.weight", Hidden, Mlp),
                Fc2Bias = Read(b + "mlp.fc2.bias", Hidden),
            };
        }

        RejectExtraLayer($"{p}encoder.layers.");
        string e = p + "embeddings.";
        CheckPositionIds(e + "position_ids");
        MarkIgnorable(n => n.StartsWith("text_model.", StringComparison.Ordinal)
            || n is "text_projection.weight" or "visual_projection.weight" or "logit_scale");
        return new VitWeights
        {
            PatchWeight = ReadPatchWeight(e + "patch_embedding.weight", "num_channels"),
            ClassToken = Read(e + "class_embedding", Hidden),
            PositionEmbedding = ReadPositions(e + "position_embedding.weight", batched: false),
            PreNormWeight = Read(p + "pre_layrnorm.weight", Hidden),
            PreNormBias = Read(p + "pre_layrnorm.bias", Hidden),
            Layers = layers,
            FinalNormWeight = Read(p + "post_layernorm.weight", Hidden),
            FinalNormBias = Read(p + "post_layernorm.bias", Hidden),
        };
    }

    /// <summary>transformers BEiT (<c>beit.</c>) and data2vec-vision (<c>data2vec_vision.</c>).</summary>
    public VitWeights LoadBeit()
    {
        bool data2vec = config.Checkpoint == CheckpointLayout.HfData2VecVision;
        string p = PrefixOf("embeddings.cls_token", [data2vec ? "data2vec_vision." : "beit.", string.Empty], data2vec ? "data2vec-vision" : "BEiT");
        var table = new Dim(config.RelativePositionTableRows, "(2·image_size/patch_size − 1)² + 3");
        var heads = new Dim(config.NumHeads, "num_attention_heads");
        var zeros = new float[config.HiddenSize];
        var layers = new VitLayerWeights[config.NumLayers];
        for (int l = 0; l < layers.Length; l++)
        {
            string b = $"{p}encoder.layer.{l}.";
            string a = b + "attention.attention.";
            string rel = a + "relative_position_bias.";
            float[]? relTable = null;
            if (config.RelativePositionBias == RelativePositionBiasKind.PerLayer)
            {
                relTable = Read(rel + "relative_position_bias_table", table, heads);
                CheckRelativeIndex(rel + "relative_position_index");
            }

            layers[l] = new VitLayerWeights
            {
                Norm1Weight = Read(b + "layernorm_before.weight", Hidden),
                Norm1Bias = Read(b + "layernorm_before.bias", Hidden),
                QkvWeight = Fuse(Read(a + "query.weight", Hidden, Hidden), Read(a + "key.weight", Hidden, Hidden), Read(a + "value.weight", Hidden, Hidden)),
                QkvBias = Fuse(Read(a + "query.bias", Hidden), zeros, Read(a + "value.bias", Hidden)), // BEiT's key has no bias
                ProjWeight = Read(b + "attention.output.dense.weight", Hidden, Hidden),
                ProjBias = Read(b + "attention.output.dense.bias", Hidden),
                LayerScale1 = config.LayerScale ? Read(b + "lambda_1", Hidden) : null,
                Norm2Weight = Read(b + "layernorm_after.weight", Hidden),
                Norm2Bias = Read(b + "layernorm_after.bias", Hidden),
                Fc1Weight = Read(b + "intermediate.dense.weight", Mlp, Hidden),
                Fc1Bias = Read(b + "intermediate.dense.bias", Mlp),
                Fc2Weight = Read(b + "output.dense.weight", Hidden, Mlp),
                Fc2Bias = Read(b + "output.dense.bias", Hidden),
                LayerScale2 = config.LayerScale ? Read(b + "lambda_2", Hidden) : null,
                RelativePositionBiasTable = relTable,
            };
        }

        RejectExtraLayer($"{p}encoder.layer.");
        float[]? shared = null;
        if (config.RelativePositionBias == RelativePositionBiasKind.Shared)
        {
            shared = Read(p + "encoder.relative_position_bias.relative_position_bias_table", table, heads);
            CheckRelativeIndex(p + "encoder.relative_position_bias.relative_position_index");
        }

        string e = p + "embeddings.";
        bool head = config.NumClasses > 0;
        RejectUnexpectedClassifier("classifier.weight");
        // Mean pooling: the final norm is the pooler's, applied to the patches' mean (beit.layernorm is an Identity).
        string norm = config.NormAfterPooling ? p + "pooler.layernorm." : p + "layernorm.";
        MarkIgnorable(n => n == e + "mask_token");
        return new VitWeights
        {
            PatchWeight = ReadPatchWeight(e + "patch_embeddings.projection.weight", "num_channels"),
            PatchBias = Read(e + "patch_embeddings.projection.bias", Hidden),
            ClassToken = Read(e + "cls_token", One, One, Hidden),
            PositionEmbedding = config.HasPositionEmbedding ? ReadPositions(e + "position_embeddings", batched: true) : null,
            SharedRelativePositionBiasTable = shared,
            Layers = layers,
            FinalNormWeight = Read(norm + "weight", Hidden),
            FinalNormBias = Read(norm + "bias", Hidden),
            HeadWeight = head ? Read("classifier.weight", Classes, Hidden) : null,
            HeadBias = head ? Read("classifier.bias", Classes) : null,
        };
    }

    public VitWeights LoadTimm()
    {
        var qkv = new Dim(3L * config.HiddenSize, "3 × embed_dim");
        var layers = new VitLayerWeights[config.NumLayers];
        for (int l = 0; l < layers.Length; l++)
        {
            string b = $"blocks.{l}.";
            layers[l] = new VitLayerWeights
            {
                Norm1Weight = Read(b + "norm1.weight", Hidden),
                Norm1Bias = Read(b + "norm1.bias", Hidden),
                QkvWeight = Read(b + "attn.qkv.weight", qkv, Hidden),
                QkvBias = config.QkvBias ? Read(b + "attn.qkv.bias", qkv) : null,
                ProjWeight = Read(b + "attn.proj.weight", Hidden, Hidden),
                ProjBias = Read(b + "attn.proj.bias", Hidden),
                LayerScale1 = config.LayerScale ? Read(b + "ls1.gamma", Hidden) : null,
                Norm2Weight = Read(b + "norm2.weight", Hidden),
                Norm2Bias = Read(b + "norm2.bias", Hidden),
                Fc1Weight = Read(b + "mlp.fc1.weight", Mlp, Hidden),
                Fc1Bias = Read(b + "mlp.fc1.bias", Mlp),
                Fc2Weight = Read(b + "mlp.fc2.weight", Hidden, Mlp),
                Fc2Bias = Read(b + "mlp.fc2.bias", Hidden),
                LayerScale2 = config.LayerScale ? Read(b + "ls2.gamma", Hidden) : null,
            };
        }

        RejectExtraLayer("blocks.");
        bool head = config.NumClasses > 0;
        bool distHead = head && config.Pooling == VitPooling.ClassAndDistillationMean;
        string norm = config.NormAfterPooling ? "fc_norm" : "norm";
        if (config.HeadIsProjection)
        {
            MarkIgnorable(n => n is "head.weight" or "head.bias");
        }

        return new VitWeights
        {
            PatchWeight = ReadPatchWeight("patch_embed.proj.weight", "in_chans"),
            PatchBias = config.PatchEmbeddingBias ? Read("patch_embed.proj.bias", Hidden) : null,
            ClassToken = config.HasClassToken ? Read("cls_token", One, One, Hidden) : null,
            DistillationToken = config.HasDistillationToken ? Read("dist_token", One, One, Hidden) : null,
            RegisterTokens = config.RegisterTokens > 0 ? Read("reg_token", One, new Dim(config.RegisterTokens, "reg_tokens"), Hidden) : null,
            PositionEmbedding = ReadPositions("pos_embed", batched: true),
            PreNormWeight = config.PreNorm ? Read("norm_pre.weight", Hidden) : null,
            PreNormBias = config.PreNorm ? Read("norm_pre.bias", Hidden) : null,
            Layers = layers,
            FinalNormWeight = Read(norm + ".weight", Hidden),
            FinalNormBias = Read(norm + ".bias", Hidden),
            HeadWeight = head ? Read("head.weight", Classes, Hidden) : null,
            HeadBias = head ? Read("head.bias", Classes) : null,
            DistillationHeadWeight = distHead ? Read("head_dist.weight", Classes, Hidden) : null,
            DistillationHeadBias = distHead ? Read("head_dist.bias", Classes) : null,
        };
    }

    /// <summary>Throws when the file holds tensors that the mapping did not use (parts the graph would silently lack).</summary>
    public void RejectUnused()
    {
        var unused = file.Tensors.Keys.Where(n => !_used.Contains(n)).Order(StringComparer.Ordinal).ToList();
        if (unused.Count > 0)
        {
            throw new ModelFormatException(
                $"{file.Source}: {unused.Count} tensor(s) are not part of the ViT layout that {configPath} describes: {string.Join(", ", unused.Take(6))}{(unused.Count > 6 ? ", …" : string.Empty)}. " +
                "The checkpoint has parts VitAttention does not build (a different head or block) or the config is from another model.");
        }
    }

    private static Dim One => new(1, null);

    /// <summary>Which of <paramref name="prefixes"/> the checkpoint's names use, found by <paramref name="probe"/>.</summary>
    private string PrefixOf(string probe, string[] prefixes, string family) =>
        prefixes.FirstOrDefault(p => file.Contains(p + probe))
        ?? throw new ModelFormatException(
            $"{file.Source}: no '{prefixes[0]}{probe}' (nor under the other prefixes {string.Join(", ", prefixes.Skip(1).Select(p => $"'{p}'"))}); this is not a Hugging Face {family} checkpoint, or not the one {configPath} describes ({Sample()}).");

    private void MarkIgnorable(Func<string, bool> ignorable)
    {
        // Parts of checkpoints that do not affect the attention or the classifier's output.
        foreach (string name in file.Tensors.Keys)
        {
            if (ignorable(name))
            {
                _used.Add(name);
            }
        }
    }

    private void RejectUnexpectedClassifier(string name)
    {
        if (config.NumClasses == 0 && file.Contains(name))
        {
            throw new ModelFormatException(
                $"{file.Source}: has a classifier ('{name}', shape [{string.Join(", ", file.Info(name).Shape)}]) but {configPath} describes a model without one (architectures is not …ForImageClassification); use the config from the same checkpoint.");
        }
    }

    /// <summary>A CLIP <c>position_ids</c> buffer, when the checkpoint kept one, must be 0, 1, …, positions − 1.</summary>
    private void CheckPositionIds(string name)
    {
        if (!file.Contains(name))
        {
            return;
        }

        long[] ids = file.ReadInt64(name);
        if (ids.Length != config.PositionEmbeddingRows || ids.Where((v, i) => v != i).Any())
        {
            throw new ModelFormatException($"{file.Source}: '{name}' is not 0 … {config.PositionEmbeddingRows - 1}; VitAttention adds the position rows in order.");
        }

        _used.Add(name);
    }

    /// <summary>
    /// A <c>relative_position_index</c> buffer, when an older checkpoint kept one, must equal the index transformers
    /// computes for the trained grid (current transformers no longer saves it).
    /// </summary>
    private void CheckRelativeIndex(string name)
    {
        if (!file.Contains(name))
        {
            return;
        }

        long[] stored = file.ReadInt64(name);
        long[] computed = EmbeddingTables.RelativeIndex(config.TrainedGridHeight, config.TrainedGridWidth);
        if (!stored.AsSpan().SequenceEqual(computed))
        {
            throw new ModelFormatException(
                $"{file.Source}: '{name}' differs from BEiT's relative position index for a {config.TrainedGridHeight}×{config.TrainedGridWidth} grid; the checkpoint is not a standard BEiT.");
        }

        _used.Add(name);
    }

    private void RejectExtraLayer(string layerPrefix)
    {
        string extra = layerPrefix + config.NumLayers.ToString(CultureInfo.InvariantCulture) + ".";
        if (file.Tensors.Keys.Any(n => n.StartsWith(extra, StringComparison.Ordinal)))
        {
            throw new ModelFormatException(
                $"{file.Source}: has tensors of layer {config.NumLayers} ('{extra}…') but {configPath} says {config.NumLayers} layers ({(config.Family == ModelFamily.Timm ? "depth" : "num_hidden_layers")}); use the config from the same checkpoint.");
        }
    }

    private float[] ReadPatchWeight(string name, string channelsKey) =>
        Read(name, Hidden, new Dim(config.Channels, channelsKey), Patch, Patch);

    /// <summary>The position embedding, <c>[1, rows, hidden]</c> (<paramref name="batched"/>) or <c>[rows, hidden]</c> (CLIP's nn.Embedding).</summary>
    private float[] ReadPositions(string name, bool batched)
    {
        var info = Require(name);
        long rows = config.PositionEmbeddingRows;
        int rowAxis = batched ? 1 : 0;
        bool layoutOk = batched ? info.Shape.Count == 3 && info.Shape[0] == 1 : info.Shape.Count == 2;
        if (layoutOk && info.Shape[^1] == config.HiddenSize && info.Shape[rowAxis] != rows)
        {
            throw new ModelFormatException(
                $"{file.Source}: tensor '{name}' has shape [{string.Join(", ", info.Shape)}], {info.Shape[rowAxis]} positions, but {configPath} gives {rows}: " +
                $"a {config.TrainedGridHeight * config.PatchSize}×{config.TrainedGridWidth * config.PatchSize} image in {config.PatchSize}-pixel patches is {config.TrainedGridHeight}×{config.TrainedGridWidth} = {config.TrainedGridHeight * config.TrainedGridWidth} patches" +
                (config.PositionEmbeddingPrefixRows > 0 ? $" + {config.PositionEmbeddingPrefixRows} prefix token(s)" : string.Empty) +
                ". The config's image size (image_size, or timm's pretrained_cfg input_size) must be the one the checkpoint was trained at; ask for another size with the image-size option instead.");
        }

        var positions = new Dim(rows, "image_size / patch_size");
        return batched ? Read(name, One, positions, Hidden) : Read(name, positions, Hidden);
    }

    private SafeTensorInfo Require(string name)
    {
        if (!file.Contains(name))
        {
            throw new ModelFormatException(
                $"{file.Source}: tensor '{name}' is missing. {configPath} describes a {config.Family} ViT with {config.NumLayers} layers that needs it; the weights are from a different architecture or incomplete ({Sample()}).");
        }

        return file.Info(name);
    }

    private float[] Read(string name, params Dim[] dims)
    {
        var info = Require(name);
        bool match = info.Shape.Count == dims.Length;
        for (int i = 0; match && i < dims.Length; i++)
        {
            match = info.Shape[i] == dims[i].Value;
        }

        if (!match)
        {
            string expected = string.Join(", ", dims.Select(x => x.Value));
            var why = new List<string>();
            if (info.Shape.Count == dims.Length)
            {
                for (int i = 0; i < dims.Length; i++)
                {
                    if (info.Shape[i] != dims[i].Value && dims[i].Key is { } key)
                    {
                        why.Add($"{key} = {dims[i].Value}");
                    }
                }
            }

            throw new ModelFormatException(
                $"{file.Source}: tensor '{name}' has shape [{string.Join(", ", info.Shape)}] but {configPath} needs [{expected}]" +
                (why.Count > 0 ? $" ({string.Join(", ", why.Distinct())})" : string.Empty) +
                "; the config and the weights are from different models.");
        }

        _used.Add(name);
        return file.ReadFloat32(name);
    }

    private static float[] Fuse(float[] q, float[] k, float[] v)
    {
        var fused = new float[q.Length + k.Length + v.Length];
        q.CopyTo(fused, 0);
        k.CopyTo(fused, q.Length);
        v.CopyTo(fused, q.Length + k.Length);
        return fused;
    }

    private string Sample() =>
        $"the file has {file.Tensors.Count} tensors, e.g. {string.Join(", ", file.Tensors.Keys.Order(StringComparer.Ordinal).Take(3))}";
}
