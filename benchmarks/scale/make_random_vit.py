#!/usr/bin/python3
"""Writes a ViT checkpoint folder with seeded random weights (Hugging Face layout), ViT-B/16 sized by default.

For throughput measurements only (docs/scale.md): the weights mean nothing, the cost of a forward pass is that of the
real architecture. Needs numpy; run with Debian's /usr/bin/python3.

    /usr/bin/python3 benchmarks/scale/make_random_vit.py OUT_DIR [--hidden 768 --layers 12 --heads 12 --mlp 3072 --classes 1000]
"""
import argparse
import json
import os
import struct

import numpy as np

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("out")
p.add_argument("--image", type=int, default=224)
p.add_argument("--patch", type=int, default=16)
p.add_argument("--hidden", type=int, default=768)
p.add_argument("--layers", type=int, default=12)
p.add_argument("--heads", type=int, default=12)
p.add_argument("--mlp", type=int, default=3072)
p.add_argument("--classes", type=int, default=1000)
args = p.parse_args()

rng = np.random.default_rng(20261204)
tokens = 1 + (args.image // args.patch) ** 2
h = args.hidden
shapes = {
    "vit.embeddings.cls_token": (1, 1, h),
    "vit.embeddings.position_embeddings": (1, tokens, h),
    "vit.embeddings.patch_embeddings.projection.weight": (h, 3, args.patch, args.patch),
    "vit.embeddings.patch_embeddings.projection.bias": (h,),
}
for i in range(args.layers):
    q = f"vit.encoder.layer.{i}."
    for part in ("query", "key", "value"):
        shapes[q + f"attention.attention.{part}.weight"] = (h, h)
        shapes[q + f"attention.attention.{part}.bias"] = (h,)
    shapes.update({
        q + "attention.output.dense.weight": (h, h), q + "attention.output.dense.bias": (h,),
        q + "intermediate.dense.weight": (args.mlp, h), q + "intermediate.dense.bias": (args.mlp,),
        q + "output.dense.weight": (h, args.mlp), q + "output.dense.bias": (h,),
        q + "layernorm_before.weight": (h,), q + "layernorm_before.bias": (h,),
        q + "layernorm_after.weight": (h,), q + "layernorm_after.bias": (h,),
    })
shapes.update({"vit.layernorm.weight": (h,), "vit.layernorm.bias": (h,),
               "classifier.weight": (args.classes, h), "classifier.bias": (args.classes,)})

header, offset = {}, 0
for name, shape in shapes.items():
    n = int(np.prod(shape)) * 4
    header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + n]}
    offset += n
blob = json.dumps(header, separators=(",", ":")).encode()
blob += b" " * (-len(blob) % 8)
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(blob)))
    f.write(blob)
    for name, shape in shapes.items():
        if name.endswith("layernorm_before.weight") or name.endswith("layernorm_after.weight") or name == "vit.layernorm.weight":
            a = np.ones(shape)
        else:
            a = rng.normal(0.0, 0.02, size=shape)
        f.write(a.astype("<f4").tobytes())

labels = [f"class {i}" for i in range(args.classes)]
config = {
    "architectures": ["ViTForImageClassification"], "model_type": "vit", "hidden_size": h,
    "num_hidden_layers": args.layers, "num_attention_heads": args.heads, "intermediate_size": args.mlp,
    "hidden_act": "gelu", "layer_norm_eps": 1e-12, "image_size": args.image, "patch_size": args.patch, "num_channels": 3,
    "qkv_bias": True, "id2label": {str(i): n for i, n in enumerate(labels)}, "label2id": {n: i for i, n in enumerate(labels)},
}
with open(os.path.join(args.out, "config.json"), "w") as f:
    json.dump(config, f)
with open(os.path.join(args.out, "preprocessor_config.json"), "w") as f:
    json.dump({"do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5] * 3, "image_std": [0.5] * 3,
               "resample": 2, "rescale_factor": 1 / 255, "size": {"height": args.image, "width": args.image}}, f)
print(f"wrote {args.out}: {sum(int(np.prod(s)) for s in shapes.values())} parameters, {tokens} tokens")
