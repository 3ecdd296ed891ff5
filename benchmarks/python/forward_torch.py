"""PyTorch eager ViT-B/16 forward with every layer's attention probabilities, random weights, CPU.

The counterpart of benchmarks/VitAttention.Benchmarks/Forward/ForwardBenchmarks.cs: same architecture (pre-LayerNorm
blocks, fused qkv, exact GELU, 197 tokens, 1000 classes), two intra-op threads, batch 1 and 8. Prints the median
of several timed runs after warm-up. Run with an interpreter that has torch (Debian: /usr/bin/python3).
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

    def forward(self, x):
        b, t, d = x.shape
        hd = d // self.heads
        qkv = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = torch.softmax(q @ k.transpose(-2, -1) / hd ** 0.5, dim=-1)  # [b, heads, t, t]
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

    def forward(self, pixels):
        x = self.patch(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        attentions = []
        for block in self.blocks:
            x, a = block(x)
            attentions.append(a)
        return self.head(self.norm(x)[:, 0]), attentions


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = Vit().eval()
    print(f"torch {torch.__version__}, {args.threads} threads, "
          f"{sum(p.numel() for p in model.parameters())} parameters")
    with torch.no_grad():
        for batch in args.batches:
            pixels = torch.rand(batch, 3, 224, 224) * 2 - 1
            for _ in range(2):
                model(pixels)
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                logits, attentions = model(pixels)
                times.append((time.perf_counter() - start) * 1000)
            assert len(attentions) == 12 and tuple(attentions[0].shape) == (batch, 12, 197, 197)
            median = statistics.median(times)
            print(f"batch {batch}: median {median:.1f} ms ({median / batch:.1f} ms/image), "
                  f"min {min(times):.1f} ms, max {max(times):.1f} ms over {args.repeats} runs")


if __name__ == "__main__":
    main()
