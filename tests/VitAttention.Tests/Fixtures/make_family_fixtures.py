#!/usr/bin/python3
"""Independent float64 PyTorch oracle for the ViT families (DINOv2, DeiT-III, CLIP, BEiT, data2vec-vision, timm gap).

Writes one tiny checkpoint per family into families/<name>/ in the layout the hub ships: config.json exactly as that
family's config (timm: architecture + pretrained_cfg, no model_args; transformers: its config class's keys),
preprocessor_config.json for transformers, model.safetensors (float32, tensor names exactly as the real state_dict,
index buffers as I64 where checkpoints keep them), input.png (the photo behind batch item 0), and expected.safetensors:

  pixel_values [2,3,H,W] float32   item 0: input.png through the family's own preprocessing, written out below from
                                   torchvision / timm / transformers sources (PIL resampling); item 1: seeded noise
  logits [2,C] float64             when the checkpoint has a classifier
  attentions.{l} [2,heads,T,T]     float64 softmax probabilities, registers included, as the model computes them
  at{N}.pixel_values / .logits / .attentions.{l}
                                   the same at an input size N the checkpoint was not trained at (the position
                                   embedding interpolated as the family's code does: timm at load, transformers on
                                   each call), one noise image

and interp.safetensors: random [1, C, h, w] grids through torch.nn.functional.interpolate (bicubic, bicubic with
antialias, bilinear; align_corners False; float32) at several output sizes, against which the library's own resampler
is checked.

The forward passes are re-implementations from the real sources (timm vision_transformer.py VisionTransformer /
Block / Attention / LayerScale / resample_abs_pos_embed; transformers modeling_dinov2.py,
modeling_dinov2_with_registers.py, modeling_clip.py, modeling_beit.py, modeling_data2vec_vision.py), in float64 from the
float32 weights. Tiny sizes: the timm checkpoints keep their architecture's head count, patch size and flags (what the
name decides) and shrink width, depth and MLP, which the library reads from the weights' shapes.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-numpy, python3-pil) from this folder.
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "families")
PHOTOS = os.path.join(HERE, "..", "Images")
DT = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64"}
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
CLIP = ([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711])
HALF = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
LABELS = ["tabby cat", "coffee mug", "golden retriever", "space shuttle", "espresso"]
torch.set_grad_enabled(False)


def write_safetensors(path, tensors, meta=None):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        b = a.tobytes()
        header[name] = {"dtype": DT[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------- preprocessing (PIL + each library's arithmetic)

def normalise(im, mean, std):
    a = np.asarray(im.convert("RGB")).astype(np.float64) / 255.0
    return ((a - np.array(mean)) / np.array(std)).transpose(2, 0, 1)


def short_side(im, edge, flt):
    """torchvision Resize(int) / transformers get_resize_output_image_size(default_to_square=False)."""
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = edge, int(edge * long / short)
    nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    return im.resize((nw, nh), flt)


def crop(im, size, rounding):
    w, h = im.size
    if rounding == "round":  # torchvision CenterCrop
        top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    else:  # transformers center_crop
        top, left = (h - size) // 2, (w - size) // 2
    return im.crop((left, top, left + size, top + size))


def timm_eval(im, size, pct, mean, std):
    """timm transforms_imagenet_eval, crop_mode 'center', square input: crop_pct 1.0 included."""
    return normalise(crop(short_side(im, math.floor(size / pct), Image.BICUBIC), size, "round"), mean, std)


def hf_shortest_crop(im, edge, size, flt, mean, std):
    """transformers BitImageProcessor / CLIPImageProcessor: shortest_edge resize, floored centre crop."""
    return normalise(crop(short_side(im, edge, flt), size, "floor"), mean, std)


def hf_squash(im, size, flt, mean, std):
    """transformers ViTImageProcessor / BeitImageProcessor without a crop: resize to (size, size)."""
    return normalise(im.resize((size, size), flt), mean, std)


# ---------------------------------------------------------------- shared pieces

def ln(x, sd, name, eps):
    return F.layer_norm(x, (x.shape[-1],), sd[name + ".weight"], sd[name + ".bias"], eps)


def lin(x, sd, name, bias=True):
    return F.linear(x, sd[name + ".weight"], sd[name + ".bias"] if bias else None)


def act(x, kind):
    if kind == "gelu":
        return F.gelu(x)
    if kind == "quick_gelu":
        return x * torch.sigmoid(1.702 * x)
    raise ValueError(kind)


def heads_split(t, heads):
    B, N, D = t.shape
    return t.reshape(B, N, heads, D // heads).permute(0, 2, 1, 3)


def heads_merge(t):
    B, H, N, hd = t.shape
    return t.permute(0, 2, 1, 3).reshape(B, N, H * hd)


def interp32(grid, size, mode, antialias=False):
    """F.interpolate in float32 as the reference code does, returned as float64. grid: [1, C, h, w]."""
    kw = {"align_corners": False}
    if antialias:
        kw["antialias"] = True
    return F.interpolate(grid.float(), size=size, mode=mode, **kw).double()


# ---------------------------------------------------------------- timm VisionTransformer

def timm_resample_pos(pos, new_grid, prefix):
    """timm resample_abs_pos_embed(posemb, new_size, num_prefix_tokens): bicubic, antialias=True, float32."""
    n = pos.shape[1] - prefix
    old = int(math.sqrt(n))
    if old * old == n and (old, old) == tuple(new_grid):
        return pos
    pre, grid = pos[:, :prefix], pos[:, prefix:]
    D = pos.shape[-1]
    g = grid.reshape(1, old, old, D).permute(0, 3, 1, 2)
    g = interp32(g, new_grid, "bicubic", antialias=True)
    g = g.permute(0, 2, 3, 1).reshape(1, -1, D)
    return torch.cat([pre, g], 1)


def timm_forward(sd, c, px, grid=None):
    p = c["patch"]
    x = F.conv2d(px, sd["patch_embed.proj.weight"], sd.get("patch_embed.proj.bias"), stride=p)
    gh, gw = x.shape[-2:]
    x = x.flatten(2).transpose(1, 2)
    B = x.shape[0]
    prefix_tokens = []
    if c["class_token"]:
        prefix_tokens.append(sd["cls_token"].expand(B, -1, -1))
    if c["reg"]:
        prefix_tokens.append(sd["reg_token"].expand(B, -1, -1))
    n_prefix = int(c["class_token"]) + c["reg"]
    # checkpoint_filter_fn resamples pos_embed at load when the model is built at another img_size
    pos = timm_resample_pos(sd["pos_embed"], (gh, gw), 0 if c["no_embed_class"] else n_prefix)
    if c["no_embed_class"]:
        x = x + pos
        x = torch.cat(prefix_tokens + [x], 1)
    else:
        x = torch.cat(prefix_tokens + [x], 1)
        x = x + pos
    if c["pre_norm"]:
        x = ln(x, sd, "norm_pre", c["eps"])
    atts = []
    H = c["heads"]
    for i in range(c["depth"]):
        b = f"blocks.{i}."
        h = ln(x, sd, b + "norm1", c["eps"])
        Bn, N, D = h.shape
        qkv = lin(h, sd, b + "attn.qkv", c["qkv_bias"]).reshape(Bn, N, 3, H, D // H).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = q * (D // H) ** -0.5
        a = torch.softmax(q @ k.transpose(-2, -1), -1)
        atts.append(a)
        o = lin(heads_merge(a @ v), sd, b + "attn.proj")
        if c["init_values"]:
            o = o * sd[b + "ls1.gamma"]
        x = x + o
        m = lin(act(lin(ln(x, sd, b + "norm2", c["eps"]), sd, b + "mlp.fc1"), c["act"]), sd, b + "mlp.fc2")
        if c["init_values"]:
            m = m * sd[b + "ls2.gamma"]
        x = x + m
    fc_norm = c["fc_norm"] if c["fc_norm"] is not None else c["global_pool"] == "avg"
    if not fc_norm:
        x = ln(x, sd, "norm", c["eps"])
    if c["num_classes"] == 0:
        return None, atts
    pooled = x[:, 0] if c["global_pool"] == "token" else x[:, n_prefix:].mean(1)
    if fc_norm:
        pooled = ln(pooled, sd, "fc_norm", c["eps"])
    return lin(pooled, sd, "head"), atts


def timm_state(c, g):
    D, mlp, p = c["embed"], c["mlp"], c["patch"]
    n = (c["image"] // p) ** 2
    prefix = int(c["class_token"]) + c["reg"]
    sd = {"patch_embed.proj.weight": (D, 3, p, p)}
    if not c["pre_norm"]:
        sd["patch_embed.proj.bias"] = (D,)
    if c["class_token"]:
        sd["cls_token"] = (1, 1, D)
    if c["reg"]:
        sd["reg_token"] = (1, c["reg"], D)
    sd["pos_embed"] = (1, n if c["no_embed_class"] else n + prefix, D)
    if c["pre_norm"]:
        sd["norm_pre.weight"] = sd["norm_pre.bias"] = (D,)
    for i in range(c["depth"]):
        b = f"blocks.{i}."
        sd[b + "norm1.weight"] = sd[b + "norm1.bias"] = (D,)
        sd[b + "attn.qkv.weight"] = (3 * D, D)
        if c["qkv_bias"]:
            sd[b + "attn.qkv.bias"] = (3 * D,)
        sd[b + "attn.proj.weight"] = (D, D)
        sd[b + "attn.proj.bias"] = (D,)
        if c["init_values"]:
            sd[b + "ls1.gamma"] = sd[b + "ls2.gamma"] = (D,)
        sd[b + "norm2.weight"] = sd[b + "norm2.bias"] = (D,)
        sd[b + "mlp.fc1.weight"] = (mlp, D)
        sd[b + "mlp.fc1.bias"] = (mlp,)
        sd[b + "mlp.fc2.weight"] = (D, mlp)
        sd[b + "mlp.fc2.bias"] = (D,)
    fc_norm = c["fc_norm"] if c["fc_norm"] is not None else c["global_pool"] == "avg"
    norm = "fc_norm" if fc_norm else "norm"
    sd[norm + ".weight"] = sd[norm + ".bias"] = (D,)
    if c["num_classes"]:
        sd["head.weight"] = (c["num_classes"], D)
        sd["head.bias"] = (c["num_classes"],)
    return randomise(sd, g)


def timm_config(c):
    cfg = {
        "architecture": c["arch"],
        "num_classes": c["num_classes"],
        "num_features": c["embed"],
        "global_pool": c["global_pool"],
        "pretrained_cfg": {
            "tag": c["tag"],
            "custom_load": False,
            "input_size": [3, c["image"], c["image"]],
            "fixed_input_size": True,
            "interpolation": "bicubic",
            "crop_pct": c["crop_pct"],
            "crop_mode": "center",
            "mean": c["mean"],
            "std": c["std"],
            "num_classes": c["num_classes"],
            "pool_size": None,
            "first_conv": "patch_embed.proj",
            "classifier": "head",
        },
    }
    if c["num_classes"]:
        cfg["label_names"] = LABELS[: c["num_classes"]]
    return cfg


# ---------------------------------------------------------------- transformers DINOv2 (with and without registers)

def dinov2_forward(sd, c, px):
    pre = c["prefix"]
    e = pre + "embeddings."
    p = c["patch"]
    x = F.conv2d(px, sd[e + "patch_embeddings.projection.weight"], sd[e + "patch_embeddings.projection.bias"], stride=p)
    x = x.flatten(2).transpose(1, 2)
    B, n, D = x.shape
    height, width = px.shape[-2:]
    x = torch.cat([sd[e + "cls_token"].expand(B, -1, -1), x], 1)
    pos = sd[e + "position_embeddings"]
    num_positions = pos.shape[1] - 1
    if not (n == num_positions and height == width):  # Dinov2Embeddings.interpolate_pos_encoding
        s = int(num_positions ** 0.5)
        g = pos[:, 1:].reshape(1, s, s, D).permute(0, 3, 1, 2)
        g = interp32(g, (height // p, width // p), "bicubic", antialias=c["registers"] > 0)
        pos = torch.cat([pos[:, :1], g.permute(0, 2, 3, 1).reshape(1, -1, D)], 1)
    x = x + pos
    if c["registers"]:
        x = torch.cat([x[:, :1], sd[e + "register_tokens"].expand(B, -1, -1), x[:, 1:]], 1)
    atts = []
    for i in range(c["layers"]):
        b = f"{pre}encoder.layer.{i}."
        h = ln(x, sd, b + "norm1", c["eps"])
        a = b + "attention.attention."
        q, k, v = (heads_split(lin(h, sd, a + t), c["heads"]) for t in ("query", "key", "value"))
        w = torch.softmax((q @ k.transpose(-1, -2)) * (D // c["heads"]) ** -0.5, -1)
        atts.append(w)
        o = lin(heads_merge(w @ v), sd, b + "attention.output.dense") * sd[b + "layer_scale1.lambda1"]
        x = o + x
        m = lin(act(lin(ln(x, sd, b + "norm2", c["eps"]), sd, b + "mlp.fc1"), "gelu"), sd, b + "mlp.fc2")
        x = m * sd[b + "layer_scale2.lambda1"] + x
    x = ln(x, sd, pre + "layernorm", c["eps"])
    if not c["classes"]:
        return None, atts
    patches = x[:, 1 + c["registers"]:]
    return lin(torch.cat([x[:, 0], patches.mean(1)], 1), sd, "classifier"), atts


def dinov2_state(c, g):
    pre, D, p, mlp = c["prefix"], c["hidden"], c["patch"], c["mlp"]
    e = pre + "embeddings."
    n = (c["image_size"] // p) ** 2
    sd = {e + "cls_token": (1, 1, D), e + "mask_token": (1, D), e + "position_embeddings": (1, n + 1, D),
          e + "patch_embeddings.projection.weight": (D, 3, p, p), e + "patch_embeddings.projection.bias": (D,)}
    if c["registers"]:
        sd[e + "register_tokens"] = (1, c["registers"], D)
    for i in range(c["layers"]):
        b = f"{pre}encoder.layer.{i}."
        for t in ("query", "key", "value"):
            sd[b + f"attention.attention.{t}.weight"] = (D, D)
            sd[b + f"attention.attention.{t}.bias"] = (D,)
        sd[b + "attention.output.dense.weight"] = (D, D)
        sd[b + "attention.output.dense.bias"] = (D,)
        sd[b + "layer_scale1.lambda1"] = sd[b + "layer_scale2.lambda1"] = (D,)
        sd[b + "norm1.weight"] = sd[b + "norm1.bias"] = sd[b + "norm2.weight"] = sd[b + "norm2.bias"] = (D,)
        sd[b + "mlp.fc1.weight"] = (mlp, D)
        sd[b + "mlp.fc1.bias"] = (mlp,)
        sd[b + "mlp.fc2.weight"] = (D, mlp)
        sd[b + "mlp.fc2.bias"] = (D,)
    sd[pre + "layernorm.weight"] = sd[pre + "layernorm.bias"] = (D,)
    if c["classes"]:
        sd["classifier.weight"] = (c["classes"], 2 * D)
        sd["classifier.bias"] = (c["classes"],)
    return randomise(sd, g)


def dinov2_config(c):
    model_type = "dinov2_with_registers" if c["registers"] else "dinov2"
    arch = ("Dinov2WithRegisters" if c["registers"] else "Dinov2") + ("ForImageClassification" if c["classes"] else "Model")
    cfg = {"architectures": [arch], "model_type": model_type, "hidden_size": c["hidden"], "num_hidden_layers": c["layers"],
           "num_attention_heads": c["heads"], "mlp_ratio": c["mlp"] / c["hidden"], "hidden_act": "gelu",
           "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02,
           "layer_norm_eps": c["eps"], "image_size": c["image_size"], "patch_size": c["patch"], "num_channels": 3,
           "qkv_bias": True, "layerscale_value": 1.0, "drop_path_rate": 0.0, "use_swiglu_ffn": False,
           "torch_dtype": "float32"}
    if c["registers"]:
        cfg["num_register_tokens"] = c["registers"]
    else:
        cfg["use_mask_token"] = True
    if c["classes"]:
        cfg["id2label"] = {str(i): n for i, n in enumerate(LABELS[: c["classes"]])}
        cfg["label2id"] = {n: i for i, n in enumerate(LABELS[: c["classes"]])}
    return cfg


def bit_processor(edge, size):
    return {"image_processor_type": "BitImageProcessor", "do_resize": True, "size": {"shortest_edge": edge},
            "resample": 3, "do_center_crop": True, "crop_size": {"height": size, "width": size}, "do_rescale": True,
            "rescale_factor": 0.00392156862745098, "do_normalize": True, "image_mean": IMAGENET[0],
            "image_std": IMAGENET[1], "do_convert_rgb": True}


# ---------------------------------------------------------------- transformers CLIP vision tower

def clip_forward(sd, c, px):
    v = "vision_model."
    e = v + "embeddings."
    p = c["patch"]
    x = F.conv2d(px, sd[e + "patch_embedding.weight"], None, stride=p).flatten(2).transpose(1, 2)
    B, n, D = x.shape
    x = torch.cat([sd[e + "class_embedding"].expand(B, 1, -1), x], 1)
    pos = sd[e + "position_embedding.weight"].unsqueeze(0)
    num_positions = pos.shape[1] - 1
    height, width = px.shape[-2:]
    if not (n == num_positions and height == width):  # interpolate_pos_encoding=True (any other size needs it)
        s = int(num_positions ** 0.5)
        g = pos[:, 1:].reshape(1, s, s, D).permute(0, 3, 1, 2)
        g = F.interpolate(g, size=(height // p, width // p), mode="bicubic", align_corners=False)  # model dtype
        pos = torch.cat([pos[:, :1], g.permute(0, 2, 3, 1).reshape(1, -1, D)], 1)
    x = x + pos
    x = ln(x, sd, v + "pre_layrnorm", c["eps"])
    atts = []
    for i in range(c["layers"]):
        b = f"{v}encoder.layers.{i}."
        r = x
        h = ln(x, sd, b + "layer_norm1", c["eps"])
        q, k, vv = (heads_split(lin(h, sd, b + f"self_attn.{t}_proj"), c["heads"]) for t in ("q", "k", "v"))
        w = torch.softmax((q @ k.transpose(-1, -2)) * (D // c["heads"]) ** -0.5, -1)
        atts.append(w)
        x = r + lin(heads_merge(w @ vv), sd, b + "self_attn.out_proj")
        r = x
        x = r + lin(act(lin(ln(x, sd, b + "layer_norm2", c["eps"]), sd, b + "mlp.fc1"), c["act"]), sd, b + "mlp.fc2")
    return None, atts


def clip_state(c, g):
    v = "vision_model."
    e = v + "embeddings."
    D, p, mlp = c["hidden"], c["patch"], c["mlp"]
    n = (c["image"] // p) ** 2
    sd = {e + "class_embedding": (D,), e + "patch_embedding.weight": (D, 3, p, p), e + "position_embedding.weight": (n + 1, D),
          v + "pre_layrnorm.weight": (D,), v + "pre_layrnorm.bias": (D,), v + "post_layernorm.weight": (D,),
          v + "post_layernorm.bias": (D,)}
    for i in range(c["layers"]):
        b = f"{v}encoder.layers.{i}."
        for t in ("q", "k", "v", "out"):
            sd[b + f"self_attn.{t}_proj.weight"] = (D, D)
            sd[b + f"self_attn.{t}_proj.bias"] = (D,)
        sd[b + "layer_norm1.weight"] = sd[b + "layer_norm1.bias"] = sd[b + "layer_norm2.weight"] = sd[b + "layer_norm2.bias"] = (D,)
        sd[b + "mlp.fc1.weight"] = (mlp, D)
        sd[b + "mlp.fc1.bias"] = (mlp,)
        sd[b + "mlp.fc2.weight"] = (D, mlp)
        sd[b + "mlp.fc2.bias"] = (D,)
    if c["projection"]:
        sd["visual_projection.weight"] = (c["projection"], D)
    sd = randomise(sd, g)
    if c["position_ids"]:  # older transformers saved this buffer; the hub's openai/clip-* checkpoints still have it
        sd[e + "position_ids"] = torch.arange(n + 1, dtype=torch.int64).unsqueeze(0)
    return sd


def clip_config(c):
    arch = "CLIPVisionModelWithProjection" if c["projection"] else "CLIPVisionModel"
    cfg = {"architectures": [arch], "model_type": "clip_vision_model", "hidden_size": c["hidden"],
           "intermediate_size": c["mlp"], "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"],
           "num_channels": 3, "image_size": c["image"], "patch_size": c["patch"], "hidden_act": c["act"],
           "layer_norm_eps": c["eps"], "attention_dropout": 0.0, "initializer_range": 0.02, "initializer_factor": 1.0,
           "torch_dtype": "float32"}
    if c["projection"]:
        cfg["projection_dim"] = c["projection"]
    return cfg


def clip_processor(size):
    # The openai/clip-* repos' own file: bare numbers (shortest_edge for the CLIP processor), the feature extractor name.
    return {"crop_size": size, "do_center_crop": True, "do_normalize": True, "do_resize": True,
            "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": CLIP[0], "image_std": CLIP[1],
            "resample": 3, "size": size}


# ---------------------------------------------------------------- transformers BEiT / data2vec-vision

def beit_index(wh, ww):
    """BeitRelativePositionBias.generate_relative_position_index."""
    num = (2 * wh - 1) * (2 * ww - 1) + 3
    coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += wh - 1
    rel[:, :, 1] += ww - 1
    rel[:, :, 0] *= 2 * ww - 1
    idx = torch.zeros((wh * ww + 1,) * 2, dtype=rel.dtype)
    idx[1:, 1:] = rel.sum(-1)
    idx[0, 0:] = num - 3
    idx[0:, 0] = num - 2
    idx[0, 0] = num - 1
    return idx


def beit_bias(table, trained, window, heads):
    """BeitRelativePositionBias.forward: the table's grid bilinearly resized to the window, then gathered."""
    old_h, old_w = 2 * trained[0] - 1, 2 * trained[1] - 1
    new_h, new_w = 2 * window[0] - 1, 2 * window[1] - 1
    old_num = old_h * old_w + 3
    sub = table[: old_num - 3].reshape(1, old_w, old_h, -1).permute(0, 3, 1, 2)
    sub = F.interpolate(sub, size=(new_h, new_w), mode="bilinear")
    sub = sub.permute(0, 2, 3, 1).reshape(new_h * new_w, -1)
    new_table = torch.cat([sub, table[old_num - 3:]])
    idx = beit_index(*window)
    n = window[0] * window[1] + 1
    return new_table[idx.view(-1)].view(n, n, -1).permute(2, 0, 1).unsqueeze(0)


def beit_forward(sd, c, px):
    pre = c["prefix"]
    e = pre + "embeddings."
    p = c["patch"]
    x = F.conv2d(px, sd[e + "patch_embeddings.projection.weight"], sd[e + "patch_embeddings.projection.bias"], stride=p)
    gh, gw = x.shape[-2:]
    x = x.flatten(2).transpose(1, 2)
    B, n, D = x.shape
    x = torch.cat([sd[e + "cls_token"].expand(B, -1, -1), x], 1)
    trained = (c["image"] // p, c["image"] // p)
    H = c["heads"]
    shared = beit_bias(sd[pre + "encoder.relative_position_bias.relative_position_bias_table"], trained, (gh, gw), H) if c["shared"] else None
    atts = []
    for i in range(c["layers"]):
        b = f"{pre}encoder.layer.{i}."
        a = b + "attention.attention."
        h = ln(x, sd, b + "layernorm_before", c["eps"])
        q = heads_split(lin(h, sd, a + "query"), H)
        k = heads_split(lin(h, sd, a + "key", bias=False), H)
        v = heads_split(lin(h, sd, a + "value"), H)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D // H)
        if not c["shared"]:
            s = s + beit_bias(sd[a + "relative_position_bias.relative_position_bias_table"], trained, (gh, gw), H)
        else:
            s = s + shared
        w = torch.softmax(s, -1)
        atts.append(w)
        o = lin(heads_merge(w @ v), sd, b + "attention.output.dense") * sd[b + "lambda_1"]
        x = o + x
        m = lin(act(lin(ln(x, sd, b + "layernorm_after", c["eps"]), sd, b + "intermediate.dense"), "gelu"), sd, b + "output.dense")
        x = m * sd[b + "lambda_2"] + x
    if c["mean_pooling"]:
        pooled = ln(x[:, 1:].mean(1), sd, pre + "pooler.layernorm", c["eps"])
    else:
        pooled = ln(x, sd, pre + "layernorm", c["eps"])[:, 0]
    return lin(pooled, sd, "classifier"), atts


def beit_state(c, g):
    pre, D, p, mlp, H = c["prefix"], c["hidden"], c["patch"], c["mlp"], c["heads"]
    e = pre + "embeddings."
    w = c["image"] // p
    rows = (2 * w - 1) ** 2 + 3
    sd = {e + "cls_token": (1, 1, D), e + "patch_embeddings.projection.weight": (D, 3, p, p),
          e + "patch_embeddings.projection.bias": (D,)}
    if c["mask_token"]:
        sd[e + "mask_token"] = (1, 1, D)
    if c["shared"]:
        sd[pre + "encoder.relative_position_bias.relative_position_bias_table"] = (rows, H)
    for i in range(c["layers"]):
        b = f"{pre}encoder.layer.{i}."
        a = b + "attention.attention."
        sd[a + "query.weight"] = sd[a + "key.weight"] = sd[a + "value.weight"] = (D, D)
        sd[a + "query.bias"] = sd[a + "value.bias"] = (D,)
        if not c["shared"]:
            sd[a + "relative_position_bias.relative_position_bias_table"] = (rows, H)
        sd[b + "attention.output.dense.weight"] = (D, D)
        sd[b + "attention.output.dense.bias"] = (D,)
        sd[b + "layernorm_before.weight"] = sd[b + "layernorm_before.bias"] = (D,)
        sd[b + "layernorm_after.weight"] = sd[b + "layernorm_after.bias"] = (D,)
        sd[b + "intermediate.dense.weight"] = (mlp, D)
        sd[b + "intermediate.dense.bias"] = (mlp,)
        sd[b + "output.dense.weight"] = (D, mlp)
        sd[b + "output.dense.bias"] = (D,)
        sd[b + "lambda_1"] = sd[b + "lambda_2"] = (D,)
    norm = pre + ("pooler.layernorm" if c["mean_pooling"] else "layernorm")
    sd[norm + ".weight"] = sd[norm + ".bias"] = (D,)
    sd["classifier.weight"] = (c["classes"], D)
    sd["classifier.bias"] = (c["classes"],)
    sd = randomise(sd, g, table_std=1.0)
    if c["index_buffers"]:  # checkpoints saved before transformers stopped persisting the buffer
        idx = beit_index(w, w)
        for i in range(c["layers"]):
            sd[f"{pre}encoder.layer.{i}.attention.attention.relative_position_bias.relative_position_index"] = idx.clone()
    return sd


def beit_config(c):
    data2vec = c["prefix"].startswith("data2vec")
    cfg = {"architectures": ["Data2VecVisionForImageClassification" if data2vec else "BeitForImageClassification"],
           "model_type": "data2vec-vision" if data2vec else "beit", "hidden_size": c["hidden"],
           "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"], "intermediate_size": c["mlp"],
           "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
           "initializer_range": 0.02, "layer_norm_eps": c["eps"], "image_size": c["image"], "patch_size": c["patch"],
           "num_channels": 3, "use_mask_token": c["mask_token"], "use_absolute_position_embeddings": False,
           "use_relative_position_bias": not c["shared"], "use_shared_relative_position_bias": c["shared"],
           "layer_scale_init_value": 0.1, "drop_path_rate": 0.1, "use_mean_pooling": c["mean_pooling"],
           "id2label": {str(i): n for i, n in enumerate(LABELS[: c["classes"]])},
           "label2id": {n: i for i, n in enumerate(LABELS[: c["classes"]])}, "torch_dtype": "float32"}
    return cfg


def beit_processor(size):
    return {"image_processor_type": "BeitImageProcessor", "do_resize": True, "size": {"height": size, "width": size},
            "resample": 2, "do_center_crop": False, "crop_size": {"height": size, "width": size}, "do_rescale": True,
            "rescale_factor": 0.00392156862745098, "do_normalize": True, "image_mean": HALF[0], "image_std": HALF[1],
            "do_reduce_labels": False}


# ---------------------------------------------------------------- weights and outputs

def randomise(shapes, g, table_std=0.5):
    """Seeded weights: norms and LayerScales around 1 (so a swapped or missing one shows), the rest N(0, σ)."""
    sd = {}
    for name, shape in shapes.items():
        if name.endswith((".gamma", "lambda1", "lambda_1", "lambda_2")) or (("norm" in name) and name.endswith("weight")):
            t = 1 + 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif "relative_position_bias_table" in name:
            t = table_std * torch.randn(shape, generator=g, dtype=torch.float64)
        elif name.endswith("bias"):
            t = 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif any(k in name for k in ("cls_token", "reg_token", "register_tokens", "pos", "class_embedding", "mask_token")):
            t = 0.5 * torch.randn(shape, generator=g, dtype=torch.float64)
        else:
            t = 0.15 * torch.randn(shape, generator=g, dtype=torch.float64)
        sd[name] = t.float().double()  # the float32 checkpoint is the model; the oracle runs it in float64
    return sd


def save_checkpoint(folder, sd):
    tensors = {k: (v.numpy().astype(np.int64) if v.dtype == torch.int64 else v.float().numpy()) for k, v in sd.items()}
    write_safetensors(os.path.join(folder, "model.safetensors"), tensors, {"format": "pt"})


def batch(px0, seed):
    rng = np.random.default_rng(seed)
    px1 = rng.uniform(-1, 1, size=px0.shape)
    return np.stack([px0, px1]).astype(np.float32)


def noise(size, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.5, 1.5, size=(1, 3, size, size)).astype(np.float32)


def run(forward, sd, c, px32, exp, key=""):
    logits, atts = forward(sd, c, torch.from_numpy(px32).double())
    exp[key + "pixel_values"] = px32
    if logits is not None:
        exp[key + "logits"] = logits.numpy()
    for i, a in enumerate(atts):
        exp[key + f"attentions.{i}"] = a.numpy()
        assert abs(a.sum(-1) - 1).max() < 1e-9
    return atts


def make(name, forward, sd, c, config, processor, photo, px0, extra_sizes=(), seed=0):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    save_checkpoint(folder, sd)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    if processor is not None:
        with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
            json.dump(processor, f, indent=2)
    photo.save(os.path.join(folder, "input.png"))
    exp = {}
    atts = run(forward, sd, c, batch(px0, seed), exp)
    for size in extra_sizes:
        run(forward, sd, c, noise(size, seed + size), exp, f"at{size}.")
    write_safetensors(os.path.join(folder, "expected.safetensors"), exp, {"oracle": "pytorch float64", "seed": str(seed)})
    peak = max(float(a.max()) for a in atts)
    print(f"{name}: tokens {atts[0].shape[-1]}, heads {atts[0].shape[1]}, layers {len(atts)}, max attention {peak:.3f},",
          f"{os.path.getsize(os.path.join(folder, 'model.safetensors'))} bytes")


def interp_fixture():
    g = torch.Generator().manual_seed(7)
    exp = {}
    for (h, w), sizes in (((4, 4), [(6, 6), (3, 3), (4, 4), (5, 7), (16, 16)]), ((5, 3), [(8, 6), (2, 2)])):
        grid = torch.randn((1, 6, h, w), generator=g, dtype=torch.float64).float()
        exp[f"grid_{h}x{w}"] = grid.numpy()
        for oh, ow in sizes:
            for mode, aa, tag in (("bicubic", False, "bicubic"), ("bicubic", True, "bicubic_aa"), ("bilinear", False, "bilinear")):
                kw = {"antialias": True} if aa else {}
                out = F.interpolate(grid, size=(oh, ow), mode=mode, align_corners=False, **kw)
                exp[f"{tag}_{h}x{w}_to_{oh}x{ow}"] = out.numpy()
    write_safetensors(os.path.join(OUT, "interp.safetensors"), exp, {"oracle": "torch.nn.functional.interpolate float32"})


def main():
    os.makedirs(OUT, exist_ok=True)
    chelsea = Image.open(os.path.join(PHOTOS, "chelsea.png")).convert("RGB")
    coffee = Image.open(os.path.join(PHOTOS, "coffee.png")).convert("RGB")
    wide = chelsea.crop((100, 20, 190, 80))      # 90 x 60: landscape, so centre crops cut the sides
    tall = coffee.crop((250, 100, 300, 180))     # 50 x 80: portrait
    g = torch.Generator().manual_seed(20261201)

    # timm: real architecture names (the head count, patch size and flags they decide), width/depth/MLP shrunk.
    base = dict(class_token=True, reg=0, no_embed_class=False, pre_norm=False, init_values=None, qkv_bias=True,
                global_pool="token", fc_norm=None, act="gelu", eps=1e-6, tag="test", mean=IMAGENET[0], std=IMAGENET[1])
    deit3 = dict(base, arch="deit3_small_patch16_224", heads=6, embed=24, depth=2, mlp=96, patch=16, image=48,
                 crop_pct=1.0, no_embed_class=True, init_values=1e-6, num_classes=5, tag="fb_in22k_ft_in1k")
    sd = timm_state(deit3, g)
    make("timm-deit3", timm_forward, sd, deit3, timm_config(deit3), None, wide,
         timm_eval(wide, 48, 1.0, *IMAGENET), extra_sizes=(64,), seed=11)

    dino = dict(base, arch="vit_small_patch14_dinov2", heads=6, embed=24, depth=2, mlp=96, patch=14, image=56,
                crop_pct=1.0, init_values=1e-5, num_classes=0, tag="lvd142m")
    make("timm-dinov2", timm_forward, timm_state(dino, g), dino, timm_config(dino), None, tall,
         timm_eval(tall, 56, 1.0, *IMAGENET), extra_sizes=(70, 42), seed=12)

    reg = dict(dino, arch="vit_small_patch14_reg4_dinov2", reg=4, no_embed_class=True)
    make("timm-dinov2-reg4", timm_forward, timm_state(reg, g), reg, timm_config(reg), None, wide,
         timm_eval(wide, 56, 1.0, *IMAGENET), extra_sizes=(70,), seed=13)

    clip = dict(base, arch="vit_base_patch16_clip_quickgelu_224", heads=12, embed=48, depth=2, mlp=96, patch=16,
                image=48, crop_pct=1.0, pre_norm=True, act="quick_gelu", eps=1e-5, num_classes=5,
                tag="openai_ft_in1k", mean=CLIP[0], std=CLIP[1])
    make("timm-clip", timm_forward, timm_state(clip, g), clip, timm_config(clip), None, tall,
         timm_eval(tall, 48, 1.0, *CLIP), extra_sizes=(64,), seed=14)

    gap = dict(base, arch="vit_medium_patch16_gap_256", heads=8, embed=32, depth=2, mlp=128, patch=16, image=48,
               crop_pct=0.95, class_token=False, global_pool="avg", qkv_bias=False, init_values=1e-6, fc_norm=False,
               num_classes=5, tag="sw_in12k_ft_in1k", mean=HALF[0], std=HALF[1])
    make("timm-gap", timm_forward, timm_state(gap, g), gap, timm_config(gap), None, wide,
         timm_eval(wide, 48, 0.95, *HALF), seed=15)

    # transformers DINOv2: image_size 40 (a 5 x 5 trained grid) but the processor crops 32 (4 x 4), as the real
    # checkpoints train at 518 and process at 224: the position embedding is interpolated on every call.
    dv = dict(prefix="", hidden=32, heads=4, layers=2, mlp=128, patch=8, image_size=40, eps=1e-6, registers=0, classes=0)
    make("hf-dinov2", dinov2_forward, dinov2_state(dv, g), dv, dinov2_config(dv), bit_processor(36, 32), wide,
         hf_shortest_crop(wide, 36, 32, Image.BICUBIC, *IMAGENET), extra_sizes=(48,), seed=21)
    dvc = dict(dv, prefix="dinov2.", classes=5)
    make("hf-dinov2-classifier", dinov2_forward, dinov2_state(dvc, g), dvc, dinov2_config(dvc), bit_processor(36, 32), tall,
         hf_shortest_crop(tall, 36, 32, Image.BICUBIC, *IMAGENET), seed=22)
    dvr = dict(dv, registers=4)
    make("hf-dinov2-registers", dinov2_forward, dinov2_state(dvr, g), dvr, dinov2_config(dvr), bit_processor(36, 32), wide,
         hf_shortest_crop(wide, 36, 32, Image.BICUBIC, *IMAGENET), extra_sizes=(48,), seed=23)

    cv = dict(hidden=32, heads=4, layers=2, mlp=64, patch=8, image=32, eps=1e-5, act="quick_gelu", projection=0,
              position_ids=True)
    make("hf-clip-vision", clip_forward, clip_state(cv, g), cv, clip_config(cv), clip_processor(32), tall,
         hf_shortest_crop(tall, 32, 32, Image.BICUBIC, *CLIP), extra_sizes=(48,), seed=31)
    cvp = dict(cv, act="gelu", projection=24, position_ids=False)
    make("hf-clip-vision-projection", clip_forward, clip_state(cvp, g), cvp, clip_config(cvp), clip_processor(32), wide,
         hf_shortest_crop(wide, 32, 32, Image.BICUBIC, *CLIP), seed=32)

    bt = dict(prefix="beit.", hidden=32, heads=4, layers=2, mlp=64, patch=8, image=32, eps=1e-12, classes=5,
              shared=False, mean_pooling=True, mask_token=False, index_buffers=True)
    make("hf-beit", beit_forward, beit_state(bt, g), bt, beit_config(bt), beit_processor(32), wide,
         hf_squash(wide, 32, Image.BILINEAR, *HALF), extra_sizes=(48,), seed=41)
    d2v = dict(bt, prefix="data2vec_vision.", shared=True, mean_pooling=False, mask_token=True, index_buffers=False)
    make("hf-data2vec-vision", beit_forward, beit_state(d2v, g), d2v, beit_config(d2v), beit_processor(32), tall,
         hf_squash(tall, 32, Image.BILINEAR, *HALF), seed=42)

    interp_fixture()


if __name__ == "__main__":
    main()
