using System.Globalization;

namespace VitAttention.Models;

/// <summary>
/// Maps a checkpoint's tensor names (Hugging Face or timm) to <see cref="VitWeights"/>, checking each shape against
/// the config and remembering which tensors were used so that unknown ones (parts the builder would silently drop) are
/// reported.
/// </summary>
internal sealed class CheckpointReader(SafeTensorsFile file, VitConfig config, string configPath)
{
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly string _hidden = config.Family == ModelFamily.Timm ? "embed_dim" : "hidden_size";
    private readonly string _mlp = config.Family == ModelFamily.Timm ? "embed_dim × mlp_ratio" : "intermediate_size";
    private readonly string _classes = config.Family == ModelFamily.Timm ? "num_classes" : "id2label / num_labels";

    /// <summary>A dimension the config expects: its value and the config key it comes from (null for a constant).</summary>
    private readonly record struct Dim(long Value, string? Key);

    public VitWeights LoadHuggingFace()
    {
        string p = config.HasDistillationToken && file.Contains("deit.embeddings.cls_token") ? "deit."
            : file.Contains("vit.embeddings.cls_token") ? "vit."
            : file.Contains("deit.embeddings.cls_token") ? "deit."
            : file.Contains("embeddings.cls_token") ? string.Empty
            : throw new ModelFormatException(
                $"{file.Source}: no class token under 'vit.', 'deit.' or the bare 'embeddings.' prefix (looked for 'vit.embeddings.cls_token'); this is not a Hugging Face ViT/DeiT checkpoint ({Sample()}).");

        long d = config.HiddenSize;
        var hidden = new Dim(d, _hidden);
        var layers = new VitLayerWeights[config.NumLayers];
        for (int l = 0; l < layers.Length; l++)
        {
            string b = $"{p}encoder.layer.{l}.";
            string a = b + "attention.attention.";
            var qkvW = Fuse(Read(a + "query.weight", hidden, hidden), Read(a + "key.weight", hidden, hidden), Read(a + "value.weight", hidden, hidden));
            float[]? qkvB = config.QkvBias
                ? Fuse(Read(a + "query.bias", hidden), Read(a + "key.bias", hidden), Read(a + "value.bias", hidden))
                : null;
            layers[l] = new VitLayerWeights
            {
                Norm1Weight = Read(b + "layernorm_before.weight", hidden),
                Norm1Bias = Read(b + "layernorm_before.bias", hidden),
                QkvWeight = qkvW,
                QkvBias = qkvB,
                ProjWeight = Read(b + "attention.output.dense.weight", hidden, hidden),
                ProjBias = Read(b + "attention.output.dense.bias", hidden),
                Norm2Weight = Read(b + "layernorm_after.weight", hidden),
                Norm2Bias = Read(b + "layernorm_after.bias", hidden),
                Fc1Weight = Read(b + "intermediate.dense.weight", new Dim(config.IntermediateSize, _mlp), hidden),
                Fc1Bias = Read(b + "intermediate.dense.bias", new Dim(config.IntermediateSize, _mlp)),
                Fc2Weight = Read(b + "output.dense.weight", hidden, new Dim(config.IntermediateSize, _mlp)),
                Fc2Bias = Read(b + "output.dense.bias", hidden),
            };
        }

        RejectExtraLayer($"{p}encoder.layer.");
        string e = p + "embeddings.";
        bool head = config.NumClasses > 0;
        bool teacher = config.Pooling == VitPooling.ClassAndDistillationMean;
        string headName = teacher ? "cls_classifier" : "classifier";
        if (!head && file.Contains("classifier.weight"))
        {
            throw new ModelFormatException(
                $"{file.Source}: has a classifier ('classifier.weight', shape [{string.Join(", ", file.Info("classifier.weight").Shape)}]) but {configPath} describes a model without one (architectures is not ...ForImageClassification); use the config from the same checkpoint.");
        }

        var classes = new Dim(config.NumClasses, _classes);
        MarkIgnorable(p);
        return new VitWeights
        {
            PatchWeight = Read(e + "patch_embeddings.projection.weight", hidden, new Dim(config.Channels, "num_channels"), new Dim(config.PatchSize, "patch_size"), new Dim(config.PatchSize, "patch_size")),
            PatchBias = Read(e + "patch_embeddings.projection.bias", hidden),
            ClassToken = Read(e + "cls_token", new Dim(1, null), new Dim(1, null), hidden),
            DistillationToken = config.HasDistillationToken ? Read(e + "distillation_token", new Dim(1, null), new Dim(1, null), hidden) : null,
            PositionEmbedding = ReadPositions(e + "position_embeddings"),
            Layers = layers,
            FinalNormWeight = Read(p + "layernorm.weight", hidden),
            FinalNormBias = Read(p + "layernorm.bias", hidden),
            HeadWeight = head ? Read(headName + ".weight", classes, hidden) : null,
            HeadBias = head ? Read(headName + ".bias", classes) : null,
            DistillationHeadWeight = head && teacher ? Read("distillation_classifier.weight", classes, hidden) : null,
            DistillationHeadBias = head && teacher ? Read("distillation_classifier.bias", classes) : null,
        };
    }

    public VitWeights LoadTimm()
    {
        long d = config.HiddenSize;
        var hidden = new Dim(d, _hidden);
        var qkv = new Dim(3 * d, "3 × embed_dim");
        var mlp = new Dim(config.IntermediateSize, _mlp);
        var layers = new VitLayerWeights[config.NumLayers];
        for (int l = 0; l < layers.Length; l++)
        {
            string b = $"blocks.{l}.";
            layers[l] = new VitLayerWeights
            {
                Norm1Weight = Read(b + "norm1.weight", hidden),
                Norm1Bias = Read(b + "norm1.bias", hidden),
                QkvWeight = Read(b + "attn.qkv.weight", qkv, hidden),
                QkvBias = config.QkvBias ? Read(b + "attn.qkv.bias", qkv) : null,
                ProjWeight = Read(b + "attn.proj.weight", hidden, hidden),
                ProjBias = Read(b + "attn.proj.bias", hidden),
                Norm2Weight = Read(b + "norm2.weight", hidden),
                Norm2Bias = Read(b + "norm2.bias", hidden),
                Fc1Weight = Read(b + "mlp.fc1.weight", mlp, hidden),
                Fc1Bias = Read(b + "mlp.fc1.bias", mlp),
                Fc2Weight = Read(b + "mlp.fc2.weight", hidden, mlp),
                Fc2Bias = Read(b + "mlp.fc2.bias", hidden),
            };
        }

        RejectExtraLayer("blocks.");
        bool head = config.NumClasses > 0;
        bool distHead = head && config.Pooling == VitPooling.ClassAndDistillationMean;
        var classes = new Dim(config.NumClasses, _classes);
        var one = new Dim(1, null);
        string norm = config.NormAfterPooling ? "fc_norm" : "norm";
        return new VitWeights
        {
            PatchWeight = Read("patch_embed.proj.weight", hidden, new Dim(config.Channels, "in_chans"), new Dim(config.PatchSize, "patch_size"), new Dim(config.PatchSize, "patch_size")),
            PatchBias = Read("patch_embed.proj.bias", hidden),
            ClassToken = config.HasClassToken ? Read("cls_token", one, one, hidden) : null,
            DistillationToken = config.HasDistillationToken ? Read("dist_token", one, one, hidden) : null,
            RegisterTokens = config.RegisterTokens > 0 ? Read("reg_token", one, new Dim(config.RegisterTokens, "reg_tokens"), hidden) : null,
            PositionEmbedding = ReadPositions("pos_embed"),
            Layers = layers,
            FinalNormWeight = Read(norm + ".weight", hidden),
            FinalNormBias = Read(norm + ".bias", hidden),
            HeadWeight = head ? Read("head.weight", classes, hidden) : null,
            HeadBias = head ? Read("head.bias", classes) : null,
            DistillationHeadWeight = distHead ? Read("head_dist.weight", classes, hidden) : null,
            DistillationHeadBias = distHead ? Read("head_dist.bias", classes) : null,
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
                "The checkpoint has parts VitAttention does not build (e.g. LayerScale, a different head) or the config is from another model.");
        }
    }

    private void MarkIgnorable(string prefix)
    {
        // Parts of HF checkpoints that do not affect the classifier's output.
        foreach (string name in file.Tensors.Keys)
        {
            if (name.StartsWith(prefix + "pooler.", StringComparison.Ordinal) || name == prefix + "embeddings.mask_token")
            {
                _used.Add(name);
            }
        }
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

    private float[] ReadPositions(string name)
    {
        var info = Require(name);
        long rows = config.PositionEmbeddingRows;
        if (info.Shape.Count == 3 && info.Shape[0] == 1 && info.Shape[2] == config.HiddenSize && info.Shape[1] != rows)
        {
            throw new ModelFormatException(
                $"{file.Source}: tensor '{name}' has shape [{string.Join(", ", info.Shape)}], {info.Shape[1]} positions, but {configPath} gives {rows}: " +
                $"a {config.ImageHeight}×{config.ImageWidth} image in {config.PatchSize}-pixel patches is {config.GridHeight}×{config.GridWidth} = {config.Patches} patches" +
                (config.PositionEmbeddingCoversPrefix ? $" + {config.PrefixTokens} prefix token(s)" : string.Empty) +
                ". Position embedding interpolation is not supported: use the image size the checkpoint was trained at.");
        }

        return Read(name, new Dim(1, null), new Dim(rows, "image_size / patch_size"), new Dim(config.HiddenSize, _hidden));
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
