#!/usr/bin/python3
"""float64 PyTorch autograd oracle for the gradient graph and the class-specific explanation methods.

For each fixture folder it rebuilds the ViT in float64 from the folder's model.safetensors (HF or timm names),
runs the batch of expected.safetensors' pixel_values, takes d logit[target] / d(every tensor asked for) with
autograd, computes the explanation maps from those tensors with the published formulas (written here in float64
numpy, independently of the library), and writes <folder>/expected_gradients.safetensors. Targets: item 0 its top-1
class, item 1 its least likely class (a class the model did not pick).

It also makes two fixtures with seeded random weights in timm names and their config.json: tiny-deit-distilled/, a
DeiT-distilled-like ViT (CLS + distillation token, head and head_dist averaged) with two torch.onnx exports in float32
(opset 11, with opset < 13 Softmax/Unsqueeze forms and the LayerNorm decomposition, and opset 17, with
LayerNormalization), and tiny-vit-gap/, a ViT without a class token that classifies the mean of its patch tokens
(timm class_token=False, global_pool='avg', fc_norm), with an opset 14 export. For it the "CLS row" of every method
is the mean of the patch rows.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-numpy) from this folder:
    /usr/bin/python3 make_gradient_fixtures.py
The existing fixture files are only read.
"""
import json, math, os, struct
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DT = {np.dtype('float32'): 'F32', np.dtype('float64'): 'F64', np.dtype('int64'): 'I64'}
NP = {'F32': np.float32, 'F64': np.float64, 'I64': np.int64}


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        a, b = info['data_offsets']
        out[name] = np.frombuffer(data[a:b], dtype=NP[info['dtype']]).reshape(info['shape']).copy()
    return out


def write_safetensors(path, tensors, meta=None):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        b = a.tobytes()
        header[name] = {"dtype": DT[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    if meta: header["__metadata__"] = meta
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h))); f.write(h)
        for b in blobs: f.write(b)


def timm_from_hf(sd, layers):
    """HF ViTForImageClassification names -> timm names (q, k, v rows fused as q, then k, then v)."""
    out = {'cls_token': sd['vit.embeddings.cls_token'], 'pos_embed': sd['vit.embeddings.position_embeddings'],
           'patch_embed.proj.weight': sd['vit.embeddings.patch_embeddings.projection.weight'],
           'patch_embed.proj.bias': sd['vit.embeddings.patch_embeddings.projection.bias'],
           'norm.weight': sd['vit.layernorm.weight'], 'norm.bias': sd['vit.layernorm.bias'],
           'head.weight': sd['classifier.weight'], 'head.bias': sd['classifier.bias']}
    for i in range(layers):
        p, b = f'vit.encoder.layer.{i}.', f'blocks.{i}.'
        for t in ('weight', 'bias'):
            out[b + f'attn.qkv.{t}'] = np.concatenate([sd[p + f'attention.attention.{n}.{t}'] for n in ('query', 'key', 'value')], 0)
            out[b + f'attn.proj.{t}'] = sd[p + f'attention.output.dense.{t}']
            out[b + f'norm1.{t}'] = sd[p + f'layernorm_before.{t}']
            out[b + f'norm2.{t}'] = sd[p + f'layernorm_after.{t}']
            out[b + f'mlp.fc1.{t}'] = sd[p + f'intermediate.dense.{t}']
            out[b + f'mlp.fc2.{t}'] = sd[p + f'output.dense.{t}']
    return out


class Vit(nn.Module):
    """A plain pre-norm ViT with timm parameter names; records what the oracle differentiates."""

    def __init__(self, c):
        super().__init__()
        d, self.heads, self.eps, self.patch = c['hidden'], c['heads'], c['eps'], c['patch']
        self.distilled = c.get('distilled', False)
        self.pooled = c.get('pooled', False)  # timm class_token=False, global_pool='avg', fc_norm
        n = (c['image'] // c['patch']) ** 2 + (0 if self.pooled else 2 if self.distilled else 1)
        self.patch_embed = nn.Module(); self.patch_embed.proj = nn.Conv2d(3, d, c['patch'], c['patch'])
        if not self.pooled:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        if self.distilled:
            self.dist_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, n, d))
        self.blocks = nn.ModuleList()
        for _ in range(c['layers']):
            b = nn.Module()
            b.norm1 = nn.LayerNorm(d, eps=c['eps']); b.norm2 = nn.LayerNorm(d, eps=c['eps'])
            b.attn = nn.Module(); b.attn.qkv = nn.Linear(d, 3 * d); b.attn.proj = nn.Linear(d, d)
            b.mlp = nn.Module(); b.mlp.fc1 = nn.Linear(d, c['mlp']); b.mlp.fc2 = nn.Linear(c['mlp'], d)
            self.blocks.append(b)
        if self.pooled:
            self.fc_norm = nn.LayerNorm(d, eps=c['eps'])
        else:
            self.norm = nn.LayerNorm(d, eps=c['eps'])
        self.head = nn.Linear(d, c['labels'])
        if self.distilled:
            self.head_dist = nn.Linear(d, c['labels'])
        self.record = False

    def forward(self, pixels):
        x = self.patch_embed.proj(pixels).flatten(2).transpose(1, 2)
        B = x.shape[0]
        if self.pooled:
            x = x + self.pos_embed
        else:
            prefix = [self.cls_token.expand(B, -1, -1)] + ([self.dist_token.expand(B, -1, -1)] if self.distilled else [])
            x = torch.cat(prefix + [x], dim=1) + self.pos_embed
        self.attentions, L = [], len(self.blocks)
        for i, b in enumerate(self.blocks):
            h = b.norm1(x)
            if self.record and i == L - 1:
                x.retain_grad(); h.retain_grad(); self.norm1_input, self.norm1_output = x, h
            T, D = x.shape[1], x.shape[2]; H = self.heads; hd = D // H
            qkv = b.attn.qkv(h).reshape(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hd), dim=-1)
            if self.record:
                a.retain_grad()
            self.attentions.append(a)
            x = x + b.attn.proj((a @ v).transpose(1, 2).reshape(B, T, D))
            x = x + b.mlp.fc2(F.gelu(b.mlp.fc1(b.norm2(x))))
        if self.pooled:
            return self.head(self.fc_norm(x.mean(1)))
        x = self.norm(x)
        if self.distilled:
            return (self.head(x[:, 0]) + self.head_dist(x[:, 1])) / 2
        return self.head(x[:, 0])


def load(model, sd):
    model.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in sd.items()})


# ---- the methods, float64 numpy, from the papers' formulas ----

def rows(t, query):
    """The query row(s) of a [..., T, T] array: one token, or the mean over a range of tokens."""
    first, count = query
    return t[..., first:first + count, :].mean(-2)


def discard_lowest(f, ratio, prefix):
    """Zero the lowest floor(ratio * (T-P)^2) entries of the patch-to-patch block, ties in row-major order."""
    f = f.copy()
    block = f[prefix:, prefix:].reshape(-1)
    k = int(math.floor(ratio * block.size))
    if k > 0:
        order = np.argsort(block, kind='stable')
        block[order[:k]] = 0
        f[prefix:, prefix:] = block.reshape(f[prefix:, prefix:].shape)
    return f


def gradient_rollout(A, G, prefix, query, ratio):
    """vit-explain's grad_rollout without its bugs: layer l's gradient with layer l's attention, keepdim row sums."""
    T = A[0].shape[-1]
    R = np.eye(T)
    for a, g in zip(A, G):  # layer 1 first
        f = (a * g).mean(0)
        f[f < 0] = 0
        f = discard_lowest(f, ratio, prefix)
        t = (f + np.eye(T)) / 2
        t = t / t.sum(-1, keepdims=True)
        R = t @ R
    return rows(R, query)[prefix:]


def transformer_attribution(A, G, prefix, query, start):
    """Chefer et al. 2021b: R = I; R += mean_h((dA * A)^+) @ R per layer from `start`."""
    T = A[0].shape[-1]
    R = np.eye(T)
    for a, g in list(zip(A, G))[start:]:
        cam = np.clip(g * a, 0, None).mean(0)
        R = R + cam @ R
    return rows(R, query)[prefix:]


def gradcam(act, grad, prefix):
    """pytorch-grad-cam on a ViT: patch tokens, weights = mean gradient over tokens per channel, ReLU."""
    w = grad[prefix:].mean(0)
    return np.maximum(act[prefix:] @ w, 0)


def attention_gradcam(a, g, prefix, query):
    """Chefer et al.'s GradCAM row: mean_h(A_L[q, P:] * mean(dA_L[q, P:]))^+ on the last layer."""
    ar, gr = rows(a, query)[:, prefix:], rows(g, query)[:, prefix:]
    w = gr.mean(-1, keepdims=True)
    return np.clip((ar * w).mean(0), 0, None)


def oracle(folder, sd, c, pixels, meta):
    m = Vit(c).double(); load(m, sd); m = m.double(); m.eval(); m.record = True
    px = torch.from_numpy(pixels.astype(np.float64)).requires_grad_(False)
    logits = m(px)
    lg = logits.detach().numpy()
    target = np.array([int(lg[0].argmax()), int(lg[1].argmin())], dtype=np.int64)
    logits[torch.arange(2), torch.from_numpy(target)].sum().backward()
    A = [a.detach().numpy() for a in m.attentions]
    G = [a.grad.numpy() for a in m.attentions]
    P = 0 if c.get('pooled') else 2 if c.get('distilled') else 1
    T = A[0].shape[-1]
    out = {'pixel_values': pixels.astype(np.float32), 'logits': lg, 'target_class': target.astype(np.float64),  # the reader takes floats only
           'norm1_input': m.norm1_input.detach().numpy(), 'grad.norm1_input': m.norm1_input.grad.numpy(),
           'norm1_output': m.norm1_output.detach().numpy(), 'grad.norm1_output': m.norm1_output.grad.numpy()}
    for l in range(len(A)):
        out[f'attentions.{l}'] = A[l]
        out[f'grad.attentions.{l}'] = G[l]
    # the "CLS row" of a pooled model is the mean of the patch rows
    patches = (P, T - P)
    cls = (0, 1) if P > 0 else patches
    maps = {}
    for b in range(2):
        a_b, g_b = [a[b] for a in A], [g[b] for g in G]
        item = {
            'attention': rows(a_b[-1], cls)[:, P:].mean(0),
            'attention_heads': rows(a_b[-1], cls)[:, P:],
            'gradient_rollout': gradient_rollout(a_b, g_b, P, cls, 0.0),
            'gradient_rollout_discard90': gradient_rollout(a_b, g_b, P, cls, 0.9),
            'transformer_attribution': transformer_attribution(a_b, g_b, P, cls, 0),
            'transformer_attribution_start1': transformer_attribution(a_b, g_b, P, cls, 1),
            'gradcam': gradcam(out['norm1_output'][b], out['grad.norm1_output'][b], P),
            'gradcam_norm1_input': gradcam(out['norm1_input'][b], out['grad.norm1_input'][b], P),
            'attention_gradcam': attention_gradcam(a_b[-1], g_b[-1], P, cls),
            # the query rows of a pooled model: the mean over the patch tokens' rows
            'attention_patchrows': rows(a_b[-1], patches)[:, P:].mean(0),
            'gradient_rollout_patchrows': gradient_rollout(a_b, g_b, P, patches, 0.0),
            'transformer_attribution_patchrows': transformer_attribution(a_b, g_b, P, patches, 0),
            'attention_gradcam_patchrows': attention_gradcam(a_b[-1], g_b[-1], P, patches),
        }
        for k, v in item.items():
            maps.setdefault(k, []).append(v)
    for k, v in maps.items():
        out['map.' + k] = np.stack(v)
    write_safetensors(os.path.join(folder, 'expected_gradients.safetensors'), out,
                      dict(meta, oracle='pytorch 1.13 autograd, float64', targets='item 0: top-1; item 1: least likely'))
    print(folder, 'targets', target, 'max |dA| per layer', [float(np.abs(g).max()) for g in G])
    return m


def tiny(eps, distilled=False, pooled=False):
    return dict(image=32, patch=8, hidden=48, heads=4, layers=3, mlp=96, eps=eps, labels=5, distilled=distilled, pooled=pooled)


def synthetic(name, c, seed, architecture, model_args, classifier):
    """A new fixture: seeded random weights in timm names, config.json, the oracle, and torch.onnx exports."""
    names5 = ['tabby cat', 'coffee mug', 'golden retriever', 'space shuttle', 'espresso']
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    m = Vit(c).double()
    with torch.no_grad():
        for n, p in m.named_parameters():
            if 'norm' in n and n.endswith('weight'): p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            elif n.endswith('bias'): p.copy_(0.1 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            elif 'token' in n or 'pos' in n: p.copy_(0.5 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            else: p.copy_(0.2 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    sd = {k: v.detach().float().numpy() for k, v in m.state_dict().items()}
    write_safetensors(os.path.join(folder, 'model.safetensors'), sd)
    cfg = {"architecture": architecture, "num_classes": 5, "num_features": 48,
           "model_args": dict({"img_size": 32, "patch_size": 8, "embed_dim": 48, "depth": 3, "num_heads": 4, "mlp_ratio": 2.0}, **model_args),
           "pretrained_cfg": {"input_size": [3, 32, 32], "interpolation": "bicubic", "mean": [0.485, 0.456, 0.406],
                              "std": [0.229, 0.224, 0.225], "crop_pct": 0.9, "crop_mode": "center", "num_classes": 5,
                              "classifier": classifier},
           "label_names": names5}
    with open(os.path.join(folder, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)
    rng = np.random.default_rng(seed)
    pixels = rng.uniform(-1.5, 1.5, size=(2, 3, 32, 32)).astype(np.float32)
    oracle(folder, sd, c, pixels, {'fixture': name, 'seed': str(seed)})
    return folder, sd, pixels


def export(folder, c, sd, pixels, opsets):
    m32 = Vit(c).float(); load(m32, sd); m32.eval()
    for opset in opsets:
        torch.onnx.export(m32, torch.from_numpy(pixels), os.path.join(folder, f'model_opset{opset}.onnx'),
                          input_names=['pixel_values'], output_names=['logits'], opset_version=opset,
                          dynamic_axes={'pixel_values': {0: 'batch_size'}, 'logits': {0: 'batch_size'}})


def main():
    for name, eps, hf in (('tiny-vit-hf', 1e-12, True), ('tiny-vit-timm', 1e-6, False)):
        folder = os.path.join(HERE, name)
        sd = read_safetensors(os.path.join(folder, 'model.safetensors'))
        if hf:
            sd = timm_from_hf(sd, 3)
        pixels = read_safetensors(os.path.join(folder, 'expected.safetensors'))['pixel_values']
        oracle(folder, sd, tiny(eps), pixels, {'fixture': name})

    # A DeiT-distilled-like model: two prefix tokens, the two heads averaged.
    c = tiny(1e-6, distilled=True)
    folder, sd, pixels = synthetic('tiny-deit-distilled', c, 2718, 'deit_tiny_distilled_patch8_32', {}, ['head', 'head_dist'])
    export(folder, c, sd, pixels, (11, 17))
    # A model without a class token: the classifier reads the mean of the patch tokens (timm global_pool='avg').
    c = tiny(1e-6, pooled=True)
    folder, sd, pixels = synthetic('tiny-vit-gap', c, 3141, 'vit_tiny_patch8_32',
                                   {'class_token': False, 'global_pool': 'avg', 'fc_norm': True}, 'head')
    export(folder, c, sd, pixels, (14,))


if __name__ == '__main__':
    torch.manual_seed(0)
    main()
