#!/usr/bin/python3
"""Oracle for attention flow (Abnar & Zuidema 2020): max-flow values computed by networkx in float64.

Run from this folder with Debian's interpreter (python3-networkx, python3-numpy):

    /usr/bin/python3 make_flow_oracle.py

It writes flow-oracle.safetensors. For each case `caseN`:
  caseN.attention  float32 [layers, 1, heads, tokens, tokens]  softmax rows (batch 1)
  caseN.flow       float64 [tokens]  max-flow value from the query token at the top node layer to each input token
  caseN.relevance  float64 [tokens]  caseN.flow divided by its sum (what the authors' compute_node_flow reports)
and the file's metadata maps `caseN` to its settings, `key=value` pairs separated by `;`:
  query, fusion (mean|max|min), alpha, discard, start, end (zero-based, inclusive), prefix, source.

How the graph is built (written here from the authors' description and code, samiraabnar/attention_flow:
get_adjmat, compute_node_flow, and run_bert_sv.py's get_flow_relevance):
  * Ã_l = fuse_h(A_l) with the residual added and rows normalised. The authors' own path (fusion mean, alpha 0.5,
    no discard, all layers) is reproduced step by step: att.sum(heads)/heads, + I, / row sums.
    Other settings follow the library's rollout options: rownorm(alpha·fuse + (1 − alpha)·I) after the discard of
    the lowest floor(ratio·(tokens − prefix)²) entries of the patch block, chosen on the fused values rounded to
    float32 with ties broken in row-major order (a zero total row becomes the identity row).
  * Nodes (n + 1)·tokens for n layers used, node index r·tokens + token for node layer r; the adjacency matrix has
    adj[r·T + a, (r − 1)·T + b] = Ã_{start + r − 1}[a, b]; networkx builds a DiGraph from it (one edge per non-zero
    entry) and every edge gets that entry as its 'capacity'.
  * flow[j] = nx.maximum_flow_value(G, n·T + query, j) with Edmonds–Karp (the authors' choice), checked against
    preflow-push to 1e-12; relevance = flow / flow.sum().
Cases 6 and 7 take their attention from the tiny-vit-hf fixture (a real forward pass of a small random-weight ViT).
"""
import json
import os
import struct

import networkx as nx
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def softmax_stack(rng, layers, heads, tokens, scale):
    logits = scale * rng.standard_normal((layers, 1, heads, tokens, tokens))
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def authors_matrices(att):
    """The authors' res_att_mat for one image: [layers, tokens, tokens] float64."""
    a = att[:, 0].astype(np.float64)               # [layers, heads, tokens, tokens]
    mat = a.sum(axis=1) / a.shape[1]               # mean over heads
    mat = mat + np.eye(mat.shape[1])[None, ...]    # residual
    return mat / mat.sum(axis=-1)[..., None]       # row-normalise


def option_matrices(att, fusion, alpha, discard, prefix):
    a = att[:, 0].astype(np.float64)
    if fusion == "mean":
        fused = a.sum(axis=1) / a.shape[1]
    elif fusion == "max":
        fused = a.max(axis=1)
    else:
        fused = a.min(axis=1)
    tokens = fused.shape[-1]
    out = np.empty_like(fused)
    for l in range(fused.shape[0]):
        f = fused[l].copy()
        if discard > 0:
            block = f[prefix:, prefix:].astype(np.float32).ravel()
            k = int(np.floor(np.float64(np.float32(discard)) * block.size))
            order = np.argsort(block, kind="stable")  # by value, ties by row-major position
            flat = f[prefix:, prefix:].copy().ravel()
            flat[order[:k]] = 0.0
            f[prefix:, prefix:] = flat.reshape(tokens - prefix, tokens - prefix)
        f = alpha * f + (1.0 - alpha) * np.eye(tokens)
        totals = f.sum(axis=-1)
        for i in range(tokens):
            f[i] = f[i] / totals[i] if totals[i] > 0 else np.eye(tokens)[i]
        out[l] = f
    return out


def flows(mats, query):
    """Max-flow from (n, query) to every (0, j) in the layered graph of mats [n, T, T]."""
    n, tokens, _ = mats.shape
    size = (n + 1) * tokens
    adj = np.zeros((size, size))
    for r in range(1, n + 1):
        adj[r * tokens:(r + 1) * tokens, (r - 1) * tokens:r * tokens] = mats[r - 1]
    graph = nx.from_numpy_array(adj, create_using=nx.DiGraph())
    nx.set_edge_attributes(graph, {(u, v): adj[u, v] for u, v in graph.edges()}, "capacity")
    source = n * tokens + query
    ek = np.array([nx.maximum_flow_value(graph, source, j, flow_func=nx.algorithms.flow.edmonds_karp) for j in range(tokens)])
    pp = np.array([nx.maximum_flow_value(graph, source, j, flow_func=nx.algorithms.flow.preflow_push) for j in range(tokens)])
    assert np.abs(ek - pp).max() < 1e-12, (ek, pp)
    return ek


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    base = 8 + length
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = {"F32": "<f4", "F64": "<f8"}[info["dtype"]]
        out[name] = np.frombuffer(data[base + begin:base + end], dtype=dtype).reshape(info["shape"])
    return out


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name, array in tensors:
        blob = array.tobytes()
        dtype = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64"}[array.dtype]
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    rng = np.random.default_rng(2020)
    hf = read_safetensors(os.path.join(HERE, "..", "tiny-vit-hf", "expected.safetensors"))
    hf_att = np.stack([hf[f"attentions.{l}"] for l in range(3)])  # [layers, batch 2, heads, 17, 17]

    # (source, attention, query, fusion, alpha, discard, start, end, prefix)
    cases = [
        ("random", softmax_stack(rng, 2, 3, 5, 1.0), 0, "mean", 0.5, 0.0, 0, 1, 1),
        ("random", softmax_stack(rng, 3, 2, 9, 2.0), 4, "mean", 0.5, 0.0, 0, 2, 1),
        ("random", softmax_stack(rng, 4, 3, 17, 1.5), 0, "mean", 0.5, 0.0, 0, 3, 1),
        ("peaked", softmax_stack(rng, 3, 1, 12, 6.0), 0, "mean", 0.5, 0.0, 0, 2, 1),
        ("peaked", softmax_stack(rng, 4, 2, 10, 12.0), 3, "mean", 0.5, 0.0, 0, 3, 1),
        ("random", softmax_stack(rng, 1, 2, 6, 1.0), 2, "mean", 0.5, 0.0, 0, 0, 1),
        ("tiny-vit-hf item 0", np.ascontiguousarray(hf_att[:, 0:1]), 0, "mean", 0.5, 0.0, 0, 2, 1),
        ("tiny-vit-hf item 1", np.ascontiguousarray(hf_att[:, 1:2]), 0, "mean", 0.5, 0.0, 0, 2, 1),
        ("peaked", softmax_stack(rng, 3, 3, 10, 5.0), 0, "max", 0.5, 0.0, 0, 2, 1),
        ("peaked", softmax_stack(rng, 3, 3, 10, 5.0), 1, "min", 0.8, 0.0, 0, 2, 1),
        ("peaked", softmax_stack(rng, 3, 2, 10, 4.0), 0, "mean", 0.5, 0.5, 0, 2, 1),
        ("random", softmax_stack(rng, 4, 2, 9, 2.0), 0, "mean", 0.5, 0.0, 1, 2, 1),
        ("peaked", softmax_stack(rng, 3, 2, 11, 4.0), 1, "mean", 0.6, 0.3, 0, 2, 2),
    ]

    tensors, metadata = [], {}
    for index, (source, att, query, fusion, alpha, discard, start, end, prefix) in enumerate(cases):
        att = att.astype(np.float32)
        used = att[start:end + 1]
        if (fusion, alpha, discard) == ("mean", 0.5, 0.0):
            mats = authors_matrices(used)
        else:
            # The library's options are float32: alpha 0.8 is 0.800000011920929 there.
            mats = option_matrices(used, fusion, np.float64(np.float32(alpha)), discard, prefix)
        flow = flows(mats, query)
        relevance = flow / flow.sum()
        bound = np.minimum(mats[-1][query].sum(), mats[0].sum(axis=0)) if len(mats) > 1 else mats[0][query]
        name = f"case{index}"
        metadata[name] = (f"query={query};fusion={fusion};alpha={alpha};discard={discard};start={start};end={end};"
                          f"prefix={prefix};source={source}")
        tensors += [(f"{name}.attention", att), (f"{name}.flow", flow), (f"{name}.relevance", relevance)]
        print(f"{name}: {att.shape} {metadata[name]}  max(bound - flow) = {np.max(bound - flow):.3g}")

    write_safetensors(os.path.join(HERE, "flow-oracle.safetensors"), tensors, metadata)


if __name__ == "__main__":
    main()
