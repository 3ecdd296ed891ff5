#!/usr/bin/python3
"""Trains models/fashion-vit: a small ViT on Fashion-MNIST, saved in the Hugging Face ViTForImageClassification layout.

Run from the repository root with Debian's Python (python3-torch 1.13, numpy, PIL) and the Debian data set package
dataset-fashion-mnist (or FASHION_MNIST_DIR pointing at the four idx .gz files):

    /usr/bin/python3 models/train_demo_model.py --threads 2   # the shipped model (times in models/fashion-vit/README.md)

Writes into models/fashion-vit/:
    config.json, preprocessor_config.json, model.safetensors    the checkpoint (float32, HF names)
    images/<index>-<class>.png                                  the first test image of each class, 28x28 grey
    reference/test-top1.u8                                      PyTorch's top-1 class of each of the 10,000 test images
    reference/test-logits-first1000.f32                         PyTorch's logits of the first 1,000, [1000, 10] float32 LE
    training.json                                               recipe, per-epoch loss, accuracy, wall time, load

The model is a standard pre-LayerNorm ViT (CLS token, learned position embeddings, exact-erf GELU) on 28x28 input
with 4x4 patches (a 7x7 grid, 50 tokens). The images are grey; the model takes 3 channels because the library (like
PIL's convert("RGB") in the Hugging Face pipeline) decodes every image to RGB, so the grey value is repeated in each
channel, exactly as at inference. Preprocessing is the one in preprocessor_config.json: no resize (size 28 is the
image size), x/255, then (x - mean) / std. Training adds a random horizontal flip (and, with --crop-pad N, a random
28x28 crop of the image padded by N black pixels; the shipped model was trained without it).

The linear layers multiply through numpy (OpenBLAS): Debian's torch 1.13 is built without an optimised BLAS and its
own matrix products are 3-10x slower here. The attention runs in numpy too, on two threads (each half of the batch
on one; numpy's element-wise kernels are single-threaded). Autograd, the optimiser and everything else is plain torch. The run is
deterministic for a given machine and thread count (fixed seeds, fixed threads, no data-loader workers).

After training the script reloads model.safetensors into an independent float64 forward written from the HF layout
(separate query/key/value, a Conv2d patch embedding) and checks that it agrees with the trained model on the whole
test set, so the exported names, shapes and the q/k/v split are verified, not assumed.
"""
import argparse
import concurrent.futures
import json
import math
import os
import struct
import sys
import time


def _threads_from_argv(default=1):
    """--threads, read before numpy and torch start their thread pools (OpenBLAS fixes its count when loaded)."""
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return default


THREADS = _threads_from_argv()
os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(THREADS)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # no spinning threads on a shared machine
# OpenBLAS's idle workers otherwise spin on sched_yield for ~2^28 cycles after each product, taking the core from
# torch's element-wise threads (a third of the CPU time went to the kernel): park them at once instead.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402  (after the thread settings)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from fashion_mnist import DEFAULT_DATA, load  # noqa: E402  (models/fashion_mnist.py, beside this script; imports numpy)

LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
IMAGE, PATCH, CHANNELS = 28, 4, 3
GRID = IMAGE // PATCH
TOKENS = 1 + GRID * GRID
EPS = 1e-6


def parse_args():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.environ.get("FASHION_MNIST_DIR", DEFAULT_DATA),
                   help="folder with the four idx .gz files (default: $FASHION_MNIST_DIR or the Debian package's)")
    p.add_argument("--out", default=os.path.join(here, "fashion-vit"))
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--eval-every", type=int, default=3,
                   help="test accuracy after every Nth epoch, for the record (and always after the last); 0: last only")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--pos-init", choices=["sincos", "random"], default="random",
                   help="position embeddings start as 2-D sine-cosine (MAE's) or truncated-normal; learned either way")
    p.add_argument("--crop-pad", type=int, default=0, help="random-crop padding in pixels; 0 for no crop")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--mlp", type=int, default=128)
    p.add_argument("--threads", type=int, default=THREADS,
                   help="threads for numpy/OpenBLAS and torch (default 1: the run is then the same on any machine load)")
    p.add_argument("--seed", type=int, default=20261201)
    p.add_argument("--limit-train", type=int, default=0, help="train on the first N images only (for smoke runs)")
    return p.parse_args()


# ---------------------------------------------------------------------------------------------------- data

def normalise(u8, mean, std):
    """uint8 [B, 28, 28] -> float32 [B, 3, 28, 28]: x/255, (x - mean)/std, grey repeated in 3 channels."""
    x = (u8.to(torch.float32) * (1.0 / 255.0) - mean) / std
    return x.unsqueeze(1).expand(-1, CHANNELS, -1, -1)


def augment(u8, generator, pad):
    """Random 28x28 crop of the image padded with `pad` black (0) pixels and a random horizontal flip, per image."""
    b = u8.shape[0]
    padded = F.pad(u8, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    ar = torch.arange(IMAGE)
    rows = (oy[:, None] + ar)[:, :, None]                                    # [B, 28, 1]
    cols = ox[:, None] + torch.where(flip[:, None], IMAGE - 1 - ar, ar)       # [B, 28]
    return padded[torch.arange(b)[:, None, None], rows, cols[:, None, :]]


# ---------------------------------------------------------------------------------------------------- model

class NumpyLinearFunction(torch.autograd.Function):
    """y = x·Wᵀ + b with the products done by numpy (OpenBLAS); gradients dx = g·W, dW = gᵀ·x, db = Σ g."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        x2 = x.reshape(-1, x.shape[-1]).contiguous()
        ctx.save_for_backward(x2, weight)
        ctx.in_shape = x.shape
        y = torch.from_numpy(x2.numpy() @ weight.detach().numpy().T)
        y += bias.detach()
        return y.reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad):
        x2, weight = ctx.saved_tensors
        g2 = grad.reshape(-1, grad.shape[-1]).contiguous().numpy()
        dx = torch.from_numpy(g2 @ weight.detach().numpy()).reshape(ctx.in_shape)
        dw = torch.from_numpy(g2.T @ x2.numpy())
        db = torch.from_numpy(g2.sum(axis=0, dtype=np.float32))
        return dx, dw, db


class Linear(nn.Linear):
    def forward(self, x):
        return NumpyLinearFunction.apply(x, self.weight, self.bias)


_POOL = None


def in_halves(work, b):
    """work(lo, hi) over [0, b): with two or more threads, the two halves at once (numpy frees the GIL in its kernels)."""
    global _POOL
    if THREADS < 2 or b < 2:
        work(0, b)
        return
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(1)
    other = _POOL.submit(work, b // 2, b)
    work(0, b // 2)
    other.result()


class AttentionFunction(torch.autograd.Function):
    """softmax(Q·Kᵀ/√dh)·V for every head, in numpy, from the fused q/k/v projection [B, N, 3·d] to [B, N, d].

    numpy's element-wise kernels and its stacked small products run on one thread, so the batch is cut in halves that
    run on two threads at once (numpy releases the GIL inside them). The scores are held transposed, St = K·Qsᵀ
    [B·heads, key, query] with Qs = Q/√dh, so that the softmax reduces over axis -2, which numpy vectorises across
    queries (a reduction along a short last axis is 3x slower). Backward, with P the probabilities: dV = Pᵀ·dO,
    dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)), dQ = dS·K/√dh, dK = dSᵀ·Qs.
    """

    @staticmethod
    def forward(ctx, qkv, heads):
        b, n, three_d = qkv.shape
        d = three_d // 3
        dh = d // heads
        x = qkv.detach().numpy()
        parts = np.empty((3, b, heads, n, dh), dtype=np.float32)  # q (scaled), k, v per head
        pt = np.empty((b, heads, n, n), dtype=np.float32)         # Pᵀ per head: [key, query]
        out = np.empty((b, n, d), dtype=np.float32)

        def work(lo, hi):
            m = hi - lo
            np.copyto(parts[:, lo:hi], x[lo:hi].reshape(m, n, 3, heads, dh).transpose(2, 0, 3, 1, 4))
            q, k, v = (parts[i, lo:hi].reshape(m * heads, n, dh) for i in range(3))
            q *= np.float32(1.0 / math.sqrt(dh))
            st = pt[lo:hi].reshape(m * heads, n, n)
            np.matmul(k, q.transpose(0, 2, 1), out=st)
            st -= st.max(axis=-2, keepdims=True)
            np.exp(st, out=st)
            st /= st.sum(axis=-2, keepdims=True)                   # each column sums to 1
            o = np.matmul(st.transpose(0, 2, 1), v)               # [m·heads, query, dh]
            np.copyto(out[lo:hi].reshape(m, n, heads, dh), o.reshape(m, heads, n, dh).transpose(0, 2, 1, 3))

        in_halves(work, b)
        ctx.parts, ctx.pt = parts, pt
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad):
        parts, pt = ctx.parts, ctx.pt
        _, b, heads, n, dh = parts.shape
        g = grad.contiguous().numpy()
        dqkv = np.empty((b, n, 3, heads, dh), dtype=np.float32)

        def work(lo, hi):
            m = hi - lo
            do = np.ascontiguousarray(g[lo:hi].reshape(m, n, heads, dh).transpose(0, 2, 1, 3)).reshape(m * heads, n, dh)
            q, k, v = (parts[i, lo:hi].reshape(m * heads, n, dh) for i in range(3))
            p = pt[lo:hi].reshape(m * heads, n, n)
            dv = np.matmul(p, do)                                  # dV = Pᵀ·dO
            dst = np.matmul(v, do.transpose(0, 2, 1))              # dPᵀ = V·dOᵀ  [m·heads, key, query]
            dst -= (p * dst).sum(axis=-2, keepdims=True)
            dst *= p                                               # dSᵀ w.r.t. the scaled scores K·Qsᵀ
            dq = np.matmul(dst.transpose(0, 2, 1), k)              # dQs = dS·K
            dq *= np.float32(1.0 / math.sqrt(dh))                  # dQ = dQs/√dh
            dk = np.matmul(dst, q)                                 # dK = dSᵀ·Qs
            for i, t in enumerate((dq, dk, dv)):
                np.copyto(dqkv[lo:hi, :, i], t.reshape(m, heads, n, dh).transpose(0, 2, 1, 3))

        in_halves(work, b)
        ctx.parts = ctx.pt = None
        return torch.from_numpy(dqkv.reshape(b, n, 3 * heads * dh)), None


def self_check():
    """The numpy attention and linear layers against torch autograd in float64, forward and gradients, on random
    inputs from their own generator (the training's random stream is not touched)."""
    g = torch.Generator().manual_seed(7)
    b, n, heads, dh = 3, 11, 2, 5
    d = heads * dh
    qkv = torch.randn(b, n, 3 * d, generator=g, requires_grad=True)
    grad = torch.randn(b, n, d, generator=g)
    AttentionFunction.apply(qkv, heads).backward(grad)
    ours, qkv.grad = qkv.grad.clone(), None
    x = qkv.double()
    q, k, v = x.view(b, n, 3, heads, dh).permute(2, 0, 3, 1, 4)
    reference = (torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), -1) @ v).transpose(1, 2).reshape(b, n, d)
    reference.backward(grad.double())
    forward = (AttentionFunction.apply(qkv, heads).double() - reference).abs().max()
    assert forward < 1e-5 and (ours.double() - qkv.grad).abs().max() < 1e-5, "numpy attention disagrees with autograd"

    x = torch.randn(4, 3, 6, generator=g, requires_grad=True)
    w = torch.randn(5, 6, generator=g, requires_grad=True)
    bias = torch.randn(5, generator=g, requires_grad=True)
    grad = torch.randn(4, 3, 5, generator=g)
    NumpyLinearFunction.apply(x, w, bias).backward(grad)
    ours = [t.grad.clone() for t in (x, w, bias)]
    for t in (x, w, bias):
        t.grad = None
    F.linear(x.double(), w.double(), bias.double()).backward(grad.double())
    for a, t in zip(ours, (x, w, bias)):
        assert (a.double() - t.grad).abs().max() < 1e-5, "numpy linear disagrees with autograd"


class Block(nn.Module):
    """Pre-LN encoder block: x + Attn(LN1(x)), then + MLP(LN2(x)); q, k, v fused in one projection while training."""

    def __init__(self, d, heads, mlp):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d, eps=EPS)
        self.qkv = Linear(d, 3 * d)
        self.proj = Linear(d, d)
        self.norm2 = nn.LayerNorm(d, eps=EPS)
        self.fc1 = Linear(d, mlp)
        self.fc2 = Linear(mlp, d)

    def forward(self, x):
        x = x + self.proj(AttentionFunction.apply(self.qkv(self.norm1(x)), self.heads))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


def sincos_position_embedding(d, grid):
    """2-D sine-cosine position embeddings (as MAE initialises them), [1, 1 + grid², d], zeros for the CLS token:
    half the channels encode the row, half the column, each as sin/cos at frequencies 1/10000^(2i/(d/2))."""
    quarter = d // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    rows, cols = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64), indexing="ij")

    def encode(pos):
        angles = pos.reshape(-1, 1) * omega
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)

    table = torch.cat([encode(rows), encode(cols)], dim=1)             # [grid², d]
    return torch.cat([torch.zeros(1, d, dtype=torch.float64), table]).unsqueeze(0).float()


class FashionViT(nn.Module):
    def __init__(self, d, layers, heads, mlp, classes, pos_init="sincos"):
        super().__init__()
        self.patch = Linear(CHANNELS * PATCH * PATCH, d)    # the stride-4 4x4 conv, on unfolded patches
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.zeros(1, TOKENS, d))
        self.blocks = nn.ModuleList(Block(d, heads, mlp) for _ in range(layers))
        self.norm = nn.LayerNorm(d, eps=EPS)
        self.head = Linear(d, classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.cls, std=0.02)
        if pos_init == "sincos":
            with torch.no_grad():
                self.pos.copy_(sincos_position_embedding(d, GRID))
        else:
            nn.init.trunc_normal_(self.pos, std=0.02)

    def forward(self, x):
        b = x.shape[0]
        # [B, C, 28, 28] -> [B, 49, C·4·4], patches row-major, features in the conv weight's (c, ky, kx) order
        x = x.reshape(b, CHANNELS, GRID, PATCH, GRID, PATCH).permute(0, 2, 4, 1, 3, 5).reshape(b, GRID * GRID, -1)
        x = torch.cat([self.cls.expand(b, -1, -1), self.patch(x)], dim=1) + self.pos
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


def hf_state_dict(model, d):
    """The trained weights under Hugging Face ViTForImageClassification names, float32 numpy arrays."""
    t = {}

    def put(name, tensor):
        t[name] = np.ascontiguousarray(tensor.detach().numpy().astype(np.float32))

    put("vit.embeddings.cls_token", model.cls)
    put("vit.embeddings.position_embeddings", model.pos)
    put("vit.embeddings.patch_embeddings.projection.weight", model.patch.weight.reshape(d, CHANNELS, PATCH, PATCH))
    put("vit.embeddings.patch_embeddings.projection.bias", model.patch.bias)
    for i, blk in enumerate(model.blocks):
        p = f"vit.encoder.layer.{i}."
        for j, part in enumerate(("query", "key", "value")):
            put(p + f"attention.attention.{part}.weight", blk.qkv.weight[j * d:(j + 1) * d])
            put(p + f"attention.attention.{part}.bias", blk.qkv.bias[j * d:(j + 1) * d])
        put(p + "attention.output.dense.weight", blk.proj.weight)
        put(p + "attention.output.dense.bias", blk.proj.bias)
        put(p + "intermediate.dense.weight", blk.fc1.weight)
        put(p + "intermediate.dense.bias", blk.fc1.bias)
        put(p + "output.dense.weight", blk.fc2.weight)
        put(p + "output.dense.bias", blk.fc2.bias)
        put(p + "layernorm_before.weight", blk.norm1.weight)
        put(p + "layernorm_before.bias", blk.norm1.bias)
        put(p + "layernorm_after.weight", blk.norm2.weight)
        put(p + "layernorm_after.bias", blk.norm2.bias)
    put("vit.layernorm.weight", model.norm.weight)
    put("vit.layernorm.bias", model.norm.bias)
    put("classifier.weight", model.head.weight)
    put("classifier.bias", model.head.bias)
    return t


def write_safetensors(path, tensors, metadata):
    header, offset = {}, 0
    for name, array in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    header["__metadata__"] = metadata
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for array in tensors.values():
            f.write(array.tobytes())


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", name
        begin, end = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[begin:end], dtype=np.float32).reshape(info["shape"]).copy())
    return out


def hf_forward_float64(w, config, pixels):
    """Independent float64 forward of an HF ViTForImageClassification checkpoint (names as saved), [B,3,H,W] -> logits."""
    w = {k: v.double() for k, v in w.items()}
    d, heads, eps = config["hidden_size"], config["num_attention_heads"], config["layer_norm_eps"]
    dh = d // heads
    x = F.conv2d(pixels.double(), w["vit.embeddings.patch_embeddings.projection.weight"],
                 w["vit.embeddings.patch_embeddings.projection.bias"], stride=config["patch_size"])
    x = x.flatten(2).transpose(1, 2)
    b = x.shape[0]
    x = torch.cat([w["vit.embeddings.cls_token"].expand(b, -1, -1), x], 1) + w["vit.embeddings.position_embeddings"]
    n = x.shape[1]
    for i in range(config["num_hidden_layers"]):
        p = f"vit.encoder.layer.{i}."
        h = F.layer_norm(x, (d,), w[p + "layernorm_before.weight"], w[p + "layernorm_before.bias"], eps)

        def split(part):
            y = F.linear(h, w[p + f"attention.attention.{part}.weight"], w[p + f"attention.attention.{part}.bias"])
            return y.view(b, n, heads, dh).transpose(1, 2)

        q, k, v = split("query"), split("key"), split("value")
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(b, n, d)
        x = x + F.linear(ctx, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"])
        h = F.layer_norm(x, (d,), w[p + "layernorm_after.weight"], w[p + "layernorm_after.bias"], eps)
        h = F.linear(h, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"])
        h = 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))
        x = x + F.linear(h, w[p + "output.dense.weight"], w[p + "output.dense.bias"])
    x = F.layer_norm(x, (d,), w["vit.layernorm.weight"], w["vit.layernorm.bias"], eps)
    return F.linear(x[:, 0], w["classifier.weight"], w["classifier.bias"])


# ---------------------------------------------------------------------------------------------------- main

def evaluate(model, u8, mean, std, batch=500):
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(u8), batch):
            out.append(model(normalise(u8[s:s + batch], mean, std)))
    model.train()
    return torch.cat(out)


def loadavg():
    return [round(v, 2) for v in os.getloadavg()]


def main():
    args = parse_args()
    start_wall, start_cpu, start_load = time.time(), time.process_time(), loadavg()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    generator = torch.Generator().manual_seed(args.seed + 1)
    self_check()

    train_u8, train_y = load(args.data, "train")
    test_u8, test_y = load(args.data, "t10k")
    if args.limit_train:
        train_u8, train_y = train_u8[:args.limit_train], train_y[:args.limit_train]
    # Mean and std of the training pixels after x/255, rounded: the normalisation stored in preprocessor_config.json.
    mean = round(float(train_u8.mean() / 255.0), 4)
    std = round(float((train_u8 / 255.0).std()), 4)
    train_u8, train_y = torch.from_numpy(train_u8.copy()), torch.from_numpy(train_y)
    test_u8, test_y = torch.from_numpy(test_u8.copy()), torch.from_numpy(test_y)
    print(f"train {tuple(train_u8.shape)}, test {tuple(test_u8.shape)}, mean {mean}, std {std}, load {start_load}", flush=True)

    model = FashionViT(args.hidden, args.layers, args.heads, args.mlp, len(LABELS), args.pos_init)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and n not in ("cls", "pos")]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and n not in ("cls", "pos"))]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, foreach=True)
    steps_per_epoch = len(train_u8) // args.batch     # the last partial batch is dropped
    total = steps_per_epoch * args.epochs
    warmup = int(args.warmup_epochs * steps_per_epoch)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        return 0.5 * args.lr * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    history, step = [], 0
    for epoch in range(args.epochs):
        t0, c0 = time.time(), time.process_time()
        order = torch.randperm(len(train_u8), generator=generator)
        loss_sum, correct = 0.0, 0
        for s in range(steps_per_epoch):
            idx = order[s * args.batch:(s + 1) * args.batch]
            x = normalise(augment(train_u8[idx], generator, args.crop_pad), mean, std)
            y = train_y[idx]
            for group in optimiser.param_groups:
                group["lr"] = lr_at(step)
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            loss_sum += loss.item()
            correct += int((logits.argmax(1) == y).sum())
        entry = {"epoch": epoch + 1, "loss": round(loss_sum / steps_per_epoch, 4),
                 "train_accuracy": round(correct / (steps_per_epoch * args.batch), 4)}
        if epoch + 1 == args.epochs or (args.eval_every and (epoch + 1) % args.eval_every == 0):
            entry["test_accuracy"] = round(float((evaluate(model, test_u8, mean, std).argmax(1) == test_y).double().mean()), 4)
        entry |= {"seconds": round(time.time() - t0, 1),
                 "cpu_seconds": round(time.process_time() - c0, 1), "load": loadavg()}
        history.append(entry)
        print(json.dumps(entry), flush=True)

    train_seconds, train_cpu = time.time() - start_wall, time.process_time() - start_cpu
    logits = evaluate(model, test_u8, mean, std)
    top1 = logits.argmax(1)
    accuracy = float((top1 == test_y).double().mean())
    print(f"test accuracy {accuracy:.4f} ({int((top1 == test_y).sum())}/10000), training wall time {train_seconds:.0f} s, CPU time {train_cpu:.0f} s", flush=True)

    # ------------------------------------------------------------------ export
    out = args.out
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    os.makedirs(os.path.join(out, "reference"), exist_ok=True)
    d = args.hidden
    config = {
        "architectures": ["ViTForImageClassification"], "model_type": "vit",
        "hidden_size": d, "num_hidden_layers": args.layers, "num_attention_heads": args.heads,
        "intermediate_size": args.mlp, "hidden_act": "gelu", "layer_norm_eps": EPS,
        "image_size": IMAGE, "patch_size": PATCH, "num_channels": CHANNELS, "qkv_bias": True,
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02,
        "id2label": {str(i): n for i, n in enumerate(LABELS)}, "label2id": {n: i for i, n in enumerate(LABELS)},
        "torch_dtype": "float32",
    }
    preprocessor = {
        "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": [mean] * 3, "image_std": [std] * 3,
        "image_processor_type": "ViTImageProcessor", "resample": 2, "rescale_factor": 1 / 255,
        "size": {"height": IMAGE, "width": IMAGE},
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
        json.dump(preprocessor, f, indent=2)
        f.write("\n")
    weights = hf_state_dict(model, d)
    write_safetensors(os.path.join(out, "model.safetensors"), weights,
                      {"format": "pt", "note": f"VitAttention fashion-vit: Fashion-MNIST, test accuracy {accuracy:.4f}"})
    top1.to(torch.uint8).numpy().tofile(os.path.join(out, "reference", "test-top1.u8"))
    logits[:1000].numpy().astype("<f4").tofile(os.path.join(out, "reference", "test-logits-first1000.f32"))

    # The first test image of each class, as 8-bit grey PNGs (the library decodes them to RGB with equal channels).
    images = []
    for c, name in enumerate(LABELS):
        i = int((test_y == c).nonzero()[0])
        slug = name.lower().replace("/", "-").replace(" ", "-")
        file = f"{i:04d}-{slug}.png"
        Image.fromarray(test_u8[i].numpy(), mode="L").save(os.path.join(out, "images", file))
        p = torch.softmax(logits[i], 0)
        images.append({"file": file, "index": i, "label": name, "predicted": LABELS[int(top1[i])],
                       "probability": round(float(p[top1[i]]), 4)})
        print(f"  {file}: predicted {LABELS[int(top1[i])]} ({float(p[top1[i]]):.3f})", flush=True)

    # ------------------------------------------------------------------ check the export against an independent forward
    reloaded = read_safetensors(os.path.join(out, "model.safetensors"))
    checked = 2000
    ref = torch.cat([hf_forward_float64(reloaded, config, normalise(test_u8[s:s + 500], mean, std))
                     for s in range(0, checked, 500)])
    max_diff = float((ref - logits[:checked].double()).abs().max())
    agree = float((ref.argmax(1) == top1[:checked]).double().mean())
    print(f"float64 HF-layout forward from model.safetensors, first {checked} test images: max |logit diff| {max_diff:.2e}, top-1 agreement {agree:.4f}", flush=True)
    if max_diff > 1e-3 or agree < 0.999:
        raise SystemExit("the exported checkpoint does not reproduce the trained model")

    summary = {
        "data": "Fashion-MNIST (Zalando), 60,000 train / 10,000 test, from the Debian package dataset-fashion-mnist",
        "architecture": {k: config[k] for k in ("image_size", "patch_size", "num_channels", "hidden_size",
                                               "num_hidden_layers", "num_attention_heads", "intermediate_size",
                                               "layer_norm_eps")},
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "recipe": {"epochs": args.epochs, "batch": args.batch, "optimiser": "AdamW", "lr": args.lr,
                   "weight_decay": args.weight_decay, "warmup_epochs": args.warmup_epochs, "schedule": "cosine to 0",
                   "label_smoothing": args.label_smoothing, "position_embedding_init": args.pos_init, "augmentation": f"random crop (pad {args.crop_pad}, black) + horizontal flip" if args.crop_pad else "horizontal flip",
                   "seed": args.seed, "threads": args.threads, "normalisation": {"mean": mean, "std": std}},
        "test_accuracy": round(accuracy, 4), "test_correct": int((top1 == test_y).sum()),
        "export_check": {"images": checked, "max_abs_logit_diff_float64": max_diff, "top1_agreement": agree},
        "wall_seconds_training": round(train_seconds, 1), "cpu_seconds_training": round(train_cpu, 1), "load_at_start": start_load, "load_at_end": loadavg(),
        "torch": torch.__version__, "numpy": np.__version__, "history": history, "images": images,
    }
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
