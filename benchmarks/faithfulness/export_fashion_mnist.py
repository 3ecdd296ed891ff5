#!/usr/bin/python3
"""Writes the first N Fashion-MNIST test images as 28x28 grey PNGs and a labels file, for `vit-attention evaluate`.

    /usr/bin/python3 benchmarks/faithfulness/export_fashion_mnist.py OUT_DIR [--count 1000] [--data DIR]

OUT_DIR/images/00000.png … and OUT_DIR/labels.txt ("00000.png 9" per line). The data default is the Debian package
dataset-fashion-mnist's folder; --data or FASHION_MNIST_DIR overrides it. Needs numpy and PIL.
"""
import argparse
import os
import sys

from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models"))
from fashion_mnist import DEFAULT_DATA, load  # noqa: E402  (models/fashion_mnist.py)

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("out")
p.add_argument("--count", type=int, default=1000)
p.add_argument("--data", default=os.environ.get("FASHION_MNIST_DIR", DEFAULT_DATA))
args = p.parse_args()

images, labels = load(args.data, "t10k", missing_hint="apt-get install dataset-fashion-mnist, or pass --data")
n = min(args.count, len(images))
os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
with open(os.path.join(args.out, "labels.txt"), "w") as f:
    for i in range(n):
        name = f"{i:05d}.png"
        Image.fromarray(images[i], mode="L").save(os.path.join(args.out, "images", name))
        f.write(f"{name} {int(labels[i])}\n")
print(f"wrote {n} images and labels.txt to {args.out}")
