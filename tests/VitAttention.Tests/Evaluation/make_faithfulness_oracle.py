#!/usr/bin/python3
"""Writes Fixtures/faithfulness/oracle.json: float64 references for the faithfulness protocols' building blocks.

Run with Debian's Python (python3-torch 1.13, numpy, scipy) from this folder:  /usr/bin/python3 make_faithfulness_oracle.py

Every reference is computed the way the papers' own code computes it, in float64:
  - upsampling: torch.nn.functional.interpolate(map, scale_factor=patch, mode='bilinear') with align_corners left at
    its default (False), as Chefer et al.'s generate_visualizations.py calls it; checked here against an independent
    numpy implementation of the half-pixel formula; then min-max as they normalise;
  - pixel orders: numpy's stable argsort (ties to the lower index), descending for the positive test, ascending for
    the negative one; pixel counts int(H*W*f) for f = 0.1 .. 0.9 as their perturbation loop;
  - blur: RISE's gkern(11, 5) (scipy.ndimage.gaussian_filter over a centred delta, cast to float32) applied with
    torch.nn.functional.conv2d(x, kern, padding=5) on a 3-channel image, as RISE's Evaluation notebook blurs;
  - AUCs: np.trapz over Chefer's x = 0, 0.1, .., 0.9 times 100, and RISE's auc() for evenly spaced curves.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

rng = np.random.default_rng(20261203)
here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "Fixtures", "faithfulness", "oracle.json")
STEPS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def numpy_bilinear(m, scale):
    """Half-pixel bilinear upsampling written from the formula (align_corners=False), float64."""
    gh, gw = m.shape
    h, w = gh * scale, gw * scale

    def taps(n_in, n_out):
        s = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
        i0 = np.floor(s).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, s - i0

    r0, r1, rl = taps(gh, h)
    c0, c1, cl = taps(gw, w)
    top = m[r0][:, c0] * (1 - cl) + m[r0][:, c1] * cl
    bottom = m[r1][:, c0] * (1 - cl) + m[r1][:, c1] * cl
    return top * (1 - rl)[:, None] + bottom * rl[:, None]


def upsample_case(m, patch, name):
    t = torch.tensor(m, dtype=torch.float64)[None, None]
    up = F.interpolate(t, scale_factor=patch, mode="bilinear").numpy()[0, 0]
    mine = numpy_bilinear(m, patch)
    assert np.abs(up - mine).max() < 1e-14, (name, np.abs(up - mine).max())
    up = (up - up.min()) / (up.max() - up.min())
    flat = up.reshape(-1)
    n = flat.size
    return {
        "name": name,
        "gridHeight": m.shape[0], "gridWidth": m.shape[1], "patch": patch,
        "map": [float(np.float32(v)) for v in m.reshape(-1)],
        "upsampled": flat.tolist(),
        "positive": np.argsort(-flat, kind="stable").tolist(),
        "negative": np.argsort(flat, kind="stable").tolist(),
        "counts": [int(n * f) for f in STEPS],
        "patchOrder": np.argsort(-m.reshape(-1), kind="stable").tolist(),
    }


def f32(a):
    return a.astype(np.float32).astype(np.float64)


cases = [
    upsample_case(f32(rng.random((7, 7))), 4, "7x7 patch 4 (Fashion-MNIST ViT)"),
    upsample_case(f32(rng.random((4, 6))), 16, "4x6 patch 16"),
    # Ties: three levels only, so the tie rule decides most of the order.
    upsample_case(f32(rng.integers(0, 3, (5, 5)) / 2.0), 2, "5x5 patch 2, three levels (ties)"),
]

# RISE's blur.
klen, ksig = 11, 5
delta = np.zeros((klen, klen))
delta[klen // 2, klen // 2] = 1
k2 = gaussian_filter(delta, ksig)
kern = np.zeros((3, 3, klen, klen))
for c in range(3):
    kern[c, c] = k2
kern = torch.from_numpy(kern.astype("float32")).to(torch.float64)
image = f32(rng.uniform(-2, 2, (3, 20, 24)))
blurred = F.conv2d(torch.from_numpy(image)[None], kern, padding=klen // 2).numpy()[0]
k1 = gaussian_filter(np.eye(1, klen, klen // 2)[0], ksig)  # the same filter along one axis

# AUCs.
chefer_x = np.array([0.0] + STEPS)
auc_cases = []
for _ in range(3):
    y = rng.random(10)
    auc_cases.append({"x": chefer_x.tolist(), "y": y.tolist(), "trapz": float(np.trapz(y, chefer_x)), "chefer": float(np.trapz(y, chefer_x) * 100)})
for n in (17, 50):
    y = rng.random(n)
    x = np.arange(n) / (n - 1)
    rise = (y.sum() - y[0] / 2 - y[-1] / 2) / (y.shape[0] - 1)
    auc_cases.append({"x": x.tolist(), "y": y.tolist(), "trapz": float(np.trapz(y, x)), "rise": float(rise)})
counts = [min(k * 20, 196) for k in range(0, 11)]  # 196 patches, 20 per step: the last step is shorter
y = rng.random(len(counts))
x = np.array(counts) / 196
auc_cases.append({"x": x.tolist(), "y": y.tolist(), "trapz": float(np.trapz(y, x))})

os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    json.dump({
        "upsampling": cases,
        "blur": {"channels": 3, "height": 20, "width": 24, "image": image.reshape(-1).tolist(), "blurred": blurred.reshape(-1).tolist(),
                 "kernel1d": k1.tolist(), "kernel2d": k2.reshape(-1).tolist()},
        "auc": auc_cases,
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
    }, f)
print("wrote", out)
