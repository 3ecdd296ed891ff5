#!/usr/bin/env python3
"""Writes the independent golden images for the heat-map and overlay tests, computed in float64 numpy.

Nothing here calls VitAttention: the maps are drawn from a seeded generator, the colours come from
matplotlib's own colormaps, and min-max scaling, percentile clipping, upsampling (half-pixel centres,
edges clamped) and alpha blending are written out below from their definitions. Run once, from this
folder, with a Python that has numpy, PIL and matplotlib (Debian: python3-numpy python3-pil
python3-matplotlib):
    python3 make_golden.py
It writes Golden/maps.json (the input maps, float32) and Golden/*.png. Never re-run it to make a failing
test pass: fix the code.
"""
import json
import os
import numpy as np
from PIL import Image
from matplotlib import colormaps

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "Golden")
IMAGES = os.path.join(HERE, "..", "Images")
rng = np.random.default_rng(20260429)


def make_map(h, w):
    """A smooth random map: a few Gaussian blobs plus noise, non-negative, float32."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    m = np.zeros((h, w))
    for _ in range(3):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        s = rng.uniform(1.0, 3.0)
        m += rng.uniform(0.5, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    m += 0.05 * rng.random((h, w))
    m /= m.sum()
    return m.astype(np.float32)


def normalise(m, eps=1e-12, clip=None):
    v = m.astype(np.float64)
    hi = v.max() if clip is None else np.percentile(v, clip)   # numpy's default: linear between ranks
    v = np.minimum(v, hi)
    lo = v.min()
    return np.clip((v - lo) / max(hi - lo, eps), 0.0, 1.0)


def keys(x, a=-0.5):
    x = np.abs(x)
    return np.where(x <= 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a, 0.0))


def axis_matrix(n_grid, first, count, offset, extent, method):
    """Matrix [count, n_grid] taking grid samples to output samples along one axis."""
    u = (np.arange(first, first + count) + 0.5 - offset) * n_grid / extent - 0.5
    mat = np.zeros((count, n_grid))
    rows = np.arange(count)
    if method == "nearest":
        np.add.at(mat, (rows, np.clip(np.floor(u + 0.5).astype(int), 0, n_grid - 1)), 1.0)
    elif method == "bilinear":
        i0 = np.floor(u)
        f = u - i0
        i0 = i0.astype(int)
        np.add.at(mat, (rows, np.clip(i0, 0, n_grid - 1)), 1 - f)
        np.add.at(mat, (rows, np.clip(i0 + 1, 0, n_grid - 1)), f)
    else:
        i0 = np.floor(u)
        f = u - i0
        i0 = i0.astype(int)
        for k in range(4):
            np.add.at(mat, (rows, np.clip(i0 - 1 + k, 0, n_grid - 1)), keys(f - (k - 1)))
    return mat


def upsample(v, width, height, method, x_span=None, y_span=None):
    x_first, x_count, x_off, x_ext = x_span or (0, width, 0.0, float(width))
    y_first, y_count, y_off, y_ext = y_span or (0, height, 0.0, float(height))
    mx = axis_matrix(v.shape[1], x_first, x_count, x_off, x_ext, method)
    my = axis_matrix(v.shape[0], y_first, y_count, y_off, y_ext, method)
    return my @ v @ mx.T


def colour(t, name):
    """matplotlib's colour of t (its own indexing: min(floor(256 t), 255)), rounded to bytes, ties up."""
    rgba = colormaps[name].resampled(256)(np.clip(t, 0.0, 1.0))
    return np.floor(rgba[..., :3] * 255.0 + 0.5 + 1e-9).astype(np.float64)


def save(name, rgb):
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB").save(os.path.join(GOLDEN, name))
    print("wrote", name)


def heat(m, width, height, cmap="jet", method="bilinear", clip=None):
    return colour(upsample(normalise(m, clip=clip), width, height, method), cmap)


def overlay(photo, seen, m, cmap, alpha, dim, method="bilinear"):
    """photo: uint8 HxWx3; seen: (left, top, right, bottom) in photo pixels; output at the photo's size."""
    h, w = photo.shape[:2]
    out = photo.astype(np.float64)
    left, top, right, bottom = seen
    # Pixels whose centres fall inside the seen region get the heat map; the rest are dimmed.
    x0, x1 = int(np.ceil(left - 0.5)), int(np.ceil(right - 0.5))
    y0, y1 = int(np.ceil(top - 0.5)), int(np.ceil(bottom - 0.5))
    inside = np.zeros((h, w), bool)
    inside[y0:y1, x0:x1] = True
    out[~inside] = np.floor(out[~inside] * (1 - dim) + 0.5)
    t = upsample(normalise(m), None, None, method,
                 (x0, x1 - x0, float(left), float(right - left)), (y0, y1 - y0, float(top), float(bottom - top)))
    c = colour(t, cmap)
    p = out[y0:y1, x0:x1]
    out[y0:y1, x0:x1] = np.floor(p + alpha * (c - p) + 0.5)
    return out


def main():
    os.makedirs(GOLDEN, exist_ok=True)
    a = make_map(14, 14)
    b = make_map(14, 14)
    c = make_map(7, 10)       # not square: catches a transposed grid
    with open(os.path.join(GOLDEN, "maps.json"), "w") as f:
        json.dump({k: {"height": int(v.shape[0]), "width": int(v.shape[1]),
                       "values": [float(x) for x in v.ravel()]} for k, v in {"a": a, "b": b, "c": c}.items()}, f)

    for cmap in ["jet", "viridis", "inferno", "turbo", "grey"]:
        save(f"heat_{cmap}_bilinear.png", heat(a, 160, 120, "gray" if cmap == "grey" else cmap))
    save("heat_jet_nearest.png", heat(a, 160, 120, method="nearest"))
    save("heat_jet_bicubic.png", heat(a, 160, 120, method="bicubic"))
    save("heat_jet_clip90.png", heat(a, 160, 120, clip=90.0))
    save("heat_turbo_grid7x10.png", heat(c, 150, 90, "turbo"))

    chelsea = np.asarray(Image.open(os.path.join(IMAGES, "chelsea.png")).convert("RGB"))
    hh, ww = chelsea.shape[:2]
    save("overlay_chelsea_whole_jet.png", overlay(chelsea, (0, 0, ww, hh), a, "jet", 0.6, 0.5))
    save("overlay_chelsea_crop_viridis.png", overlay(chelsea, (75, 0, 375, 300), b, "viridis", 0.5, 0.5))


if __name__ == "__main__":
    main()
