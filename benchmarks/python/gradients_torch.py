"""PyTorch eager ViT-B/16 forward + backward producing what the library's gradient graph returns, random weights, CPU.

The peer of benchmarks/VitAttention.Benchmarks/Gradients/GradientBenchmarks.cs: the same architecture (pre-LayerNorm
blocks, fused qkv, exact GELU, 197 tokens, 1000 classes), two intra-op threads, batch 1 and 8. One timed step is what
one ORT run of the gradient graph gives: logits, every layer's attention probabilities, d logit[target] / d attention
for every layer (retain_grad), and the last block's norm1 input and output with their gradients. Parameters do not
require gradients (the gradient graph computes none for weights either). Also times the forward pass with attentions
under no_grad (the attention session's peer). Prints medians of several timed runs after warm-up.
Run with an interpreter that has torch (Debian: /usr/bin/python3).
"""
import argparse
import statistics
import time

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, dim, heads, mlp, eps):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, mlp)
        self.fc2 = nn.Linear(mlp, dim)

    def forward(self, x, keep):
        b, t, d = x.shape
        hd = d // self.heads
        h = self.norm1(x)
        if keep is not None:
            x.retain_grad(); h.retain_grad(); keep.extend([x, h])
        qkv = self.qkv(h).reshape(b, t, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = torch.softmax(q @ k.transpose(-2, -1) / hd ** 0.5, dim=-1)  # [b, heads, t, t]
        if attn.requires_grad:
            attn.retain_grad()
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, t, d))
        x = x + self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))
        return x, attn


class Vit(nn.Module):
    def __init__(self, image=224, patch=16, dim=768, depth=12, heads=12, mlp=3072, classes=1000, eps=1e-12):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        tokens = (image // patch) ** 2 + 1
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp, eps) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.head = nn.Linear(dim, classes)

    def forward(self, pixels, keep=None):
        x = self.patch(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        attentions = []
        for i, block in enumerate(self.blocks):
            x, a = block(x, keep if i == len(self.blocks) - 1 else None)
            attentions.append(a)
        return self.head(self.norm(x)[:, 0]), attentions


def step(model, pixels, target):
    """Forward with graph, backward of the target logits; returns the tensors the gradient graph outputs."""
    keep = []
    # The attention gradients must reach the first layer, so the graph starts at the embeddings.
    logits, attentions = model(pixels.requires_grad_(False), keep)
    logits.gather(1, target[:, None]).sum().backward()
    grads = [a.grad for a in attentions]
    return logits, attentions, grads, keep[0], keep[0].grad, keep[1], keep[1].grad


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--weight-grads", action="store_true",
                        help="leave every parameter's requires_grad on, as the explainability repos' code does (the "
                             "backward then also computes every weight gradient)")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = Vit().eval()
    # Weights need no gradients, but the tokens must carry a graph so the attentions get theirs: only the position
    # embedding keeps requires_grad (a leaf with requires_grad is how eager PyTorch starts a graph; its gradient is one
    # small sum), everything else is frozen. --weight-grads keeps them all.
    if not args.weight_grads:
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("pos"))
    print(f"torch {torch.__version__}, {args.threads} threads, {sum(p.numel() for p in model.parameters())} parameters, "
          f"weight gradients {'on' if args.weight_grads else 'off'}")
    for batch in args.batches:
        pixels = torch.rand(batch, 3, 224, 224) * 2 - 1
        target = torch.tensor([(i * 137) % 1000 for i in range(batch)])
        for _ in range(2):
            step(model, pixels, target)
            with torch.no_grad():
                model(pixels)
        fwd, both = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            with torch.no_grad():
                logits, attentions = model(pixels)
            fwd.append((time.perf_counter() - start) * 1000)
            model.zero_grad(set_to_none=True)
            start = time.perf_counter()
            out = step(model, pixels, target)
            both.append((time.perf_counter() - start) * 1000)
        assert len(out[2]) == 12 and tuple(out[2][0].shape) == (batch, 12, 197, 197) and out[4] is not None
        f, b = statistics.median(fwd), statistics.median(both)
        print(f"batch {batch}: forward+attentions (no_grad) median {f:.1f} ms; forward+backward with every attention "
              f"gradient and norm1 tensors median {b:.1f} ms ({b / batch:.1f} ms per image); ratio {b / f:.2f}")


if __name__ == "__main__":
    main()
