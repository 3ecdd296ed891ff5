"""Fashion-MNIST's idx files (gzip-compressed) as numpy arrays.

Shared by models/train_demo_model.py and benchmarks/faithfulness/export_fashion_mnist.py. The Debian package
dataset-fashion-mnist installs the four files under DEFAULT_DATA.
"""
import gzip
import os
import struct

import numpy as np

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path, missing_hint="apt-get install dataset-fashion-mnist, or set FASHION_MNIST_DIR"):
    """An idx file (big-endian magic, dims, then uint8 data), gzip-compressed, as a numpy uint8 array."""
    if not os.path.exists(path):
        raise SystemExit(f"{path} not found: {missing_hint}")
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic >> 8 != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte idx file (magic {magic:#x})")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise SystemExit(f"{path}: {array.size} bytes of data for dims {dims}")
    return array.reshape(dims)


def load(data_dir, split, missing_hint="apt-get install dataset-fashion-mnist, or set FASHION_MNIST_DIR"):
    """The images [N, 28, 28] uint8 and labels [N] int64 of a split ("train" or "t10k")."""
    images = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"), missing_hint)
    labels = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"), missing_hint)
    return images, labels.astype(np.int64)
