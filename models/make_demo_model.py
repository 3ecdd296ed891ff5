#!/usr/bin/python3
"""Writes models/demo-vit-tiny: a small ViT in the Hugging Face layout with seeded random weights.

It is a 224-pixel photo model for the places that need one offline (the README quick-start test's fake hub, the
viewer's browser tests, the memory benchmark); the README's main job runs the trained models/fashion-vit instead.
Random weights mean its maps show the machinery (shapes, overlays, rollout), not meaning. The query/key weights and the position embedding are drawn with
larger scales than training would start from, so attention is peaked and position-dependent and the figures have
visible structure. Needs only numpy; run with Debian's /usr/bin/python3 from the repository root.
"""
import json
import os
import struct

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo-vit-tiny")
IMAGE, PATCH, HIDDEN, LAYERS, HEADS, MLP = 224, 16, 64, 4, 4, 128
LABELS = ["tabby cat", "coffee mug", "golden retriever", "space shuttle", "espresso"]
GRID = IMAGE // PATCH
TOKENS = 1 + GRID * GRID

rng = np.random.default_rng(20261129)
tensors = {}


def put(name, array):
    tensors[name] = np.ascontiguousarray(array, dtype=np.float32)


def normal(shape, std):
    return rng.normal(0.0, std, size=shape)


put("vit.embeddings.cls_token", normal((1, 1, HIDDEN), 1.0))
put("vit.embeddings.position_embeddings", normal((1, TOKENS, HIDDEN), 1.0))
put("vit.embeddings.patch_embeddings.projection.weight", normal((HIDDEN, 3, PATCH, PATCH), 0.05))
put("vit.embeddings.patch_embeddings.projection.bias", normal((HIDDEN,), 0.02))
for i in range(LAYERS):
    p = f"vit.encoder.layer.{i}."
    for part, std in (("query", 0.35), ("key", 0.35), ("value", 0.1)):
        put(p + f"attention.attention.{part}.weight", normal((HIDDEN, HIDDEN), std))
        put(p + f"attention.attention.{part}.bias", normal((HIDDEN,), 0.02))
    put(p + "attention.output.dense.weight", normal((HIDDEN, HIDDEN), 0.1))
    put(p + "attention.output.dense.bias", normal((HIDDEN,), 0.02))
    put(p + "intermediate.dense.weight", normal((MLP, HIDDEN), 0.1))
    put(p + "intermediate.dense.bias", normal((MLP,), 0.02))
    put(p + "output.dense.weight", normal((HIDDEN, MLP), 0.1))
    put(p + "output.dense.bias", normal((HIDDEN,), 0.02))
    put(p + "layernorm_before.weight", 1.0 + normal((HIDDEN,), 0.05))
    put(p + "layernorm_before.bias", normal((HIDDEN,), 0.02))
    put(p + "layernorm_after.weight", 1.0 + normal((HIDDEN,), 0.05))
    put(p + "layernorm_after.bias", normal((HIDDEN,), 0.02))
put("vit.layernorm.weight", 1.0 + normal((HIDDEN,), 0.05))
put("vit.layernorm.bias", normal((HIDDEN,), 0.02))
put("classifier.weight", normal((len(LABELS), HIDDEN), 0.3))
put("classifier.bias", normal((len(LABELS),), 0.02))

header, offset = {}, 0
for name, array in tensors.items():
    header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
    offset += array.nbytes
header["__metadata__"] = {"format": "pt", "note": "VitAttention demo model: seeded random weights"}
blob = json.dumps(header, separators=(",", ":")).encode()
blob += b" " * (-len(blob) % 8)
os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(blob)))
    f.write(blob)
    for array in tensors.values():
        f.write(array.tobytes())

config = {
    "architectures": ["ViTForImageClassification"], "model_type": "vit",
    "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "intermediate_size": MLP,
    "hidden_act": "gelu", "layer_norm_eps": 1e-12, "image_size": IMAGE, "patch_size": PATCH, "num_channels": 3,
    "qkv_bias": True, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
    "id2label": {str(i): n for i, n in enumerate(LABELS)}, "label2id": {n: i for i, n in enumerate(LABELS)},
    "torch_dtype": "float32",
}
with open(os.path.join(OUT, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
pre = {
    "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5], "image_processor_type": "ViTImageProcessor", "resample": 2,
    "rescale_factor": 1 / 255, "size": {"height": IMAGE, "width": IMAGE},
}
with open(os.path.join(OUT, "preprocessor_config.json"), "w") as f:
    json.dump(pre, f, indent=2)
print(f"wrote {OUT}: {sum(a.size for a in tensors.values())} parameters")
