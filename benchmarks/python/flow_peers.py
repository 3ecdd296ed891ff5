#!/usr/bin/python3
"""Peers of the C# attention-flow benchmark: scipy's Dinic and networkx, on the same graph.

Run with Debian's interpreter (python3-numpy, python3-scipy, python3-networkx):

    /usr/bin/python3 benchmarks/python/flow_peers.py [--data random hubs] [--networkx-tokens 2] [--edmonds-karp-tokens 0]

Data: the attention stack of benchmarks/VitAttention.Benchmarks/Flow/FlowBenchmarkData.cs, generated the same way
(splitmix64 uniforms in [layer, head, query, key] order, seed 42, weights exp(logit - row max) normalised in float64,
stored float32), 12 layers x 12 heads x 197 tokens, batch 1. The graph is the authors' (Abnar & Zuidema 2020):
Ã_l = rownorm(mean_h A_l + I), node layers 0..12 of 197 tokens, arcs (r, a) -> (r - 1, b) with capacity
Ã_{r-1}[a, b]: 2,561 nodes, 465,708 arcs. Source: token 0 (CLS) at node layer 12; sinks: every token at layer 0.

Implementations (one JSON line each, times in ms: median and minimum wall time of --repeats runs, and the least
CPU time of one run where the work stays in this process):
  scipy_dinic_x1e6     scipy.sparse.csgraph.maximum_flow(method="dinic") for all 197 sinks; it takes int32
                       capacities only, so Ã is multiplied by 1e6 and rounded (as in the issue's measurement)
  scipy_dinic_x1e9     the same with 1e9 (the largest power of ten that fits int32 with room for the flow)
  scipy_dinic_x1e6_2proc  scipy x1e6 with the sinks split over two processes (fork), for two cores
  networkx_preflow_push   nx.maximum_flow_value(flow_func=preflow_push), the first --networkx-tokens sinks, per token
  networkx_edmonds_karp   the authors' choice (Edmonds-Karp), the first --edmonds-karp-tokens sinks, per token
The checksum lines give the sum of the flows over all sinks (x1e9 run) and the largest gap to the trivial bound
min(1, column sum of Ã_1), to compare with the C# benchmark's own checksum line; and the integer-scaling error of
the x1e6 run against x1e9 and against the float64 networkx flows of the tokens it ran.
"""
import argparse
import json
import multiprocessing
import os
import platform
import sys
import time

import numpy as np

LAYERS, HEADS, TOKENS = 12, 12, 197
MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix_uniform(count, seed=42):
    """u_i for i = 1..count from splitmix64 started at `seed` (state_i = seed + i * gamma, mod 2^64)."""
    with np.errstate(over="ignore"):
        state = np.uint64(seed) + np.arange(1, count + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = state
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def make_stack(kind, layers=LAYERS, heads=HEADS, tokens=TOKENS, seed=42):
    u = splitmix_uniform(layers * heads * tokens * tokens, seed).reshape(layers, heads, tokens, tokens)
    logits = 4.0 * u
    if kind == "local":
        grid = int(round((tokens - 1) ** 0.5))
        idx = np.arange(tokens - 1)
        rows, cols = idx // grid, idx % grid
        d2 = (rows[:, None] - rows[None, :]) ** 2 + (cols[:, None] - cols[None, :]) ** 2
        for h in range(heads):
            sigma = 1.0 + h
            logits[:, h, 1:, 1:] -= d2 / (2 * sigma * sigma)
    elif kind == "hubs":
        logits[..., np.arange(tokens) % 37 == 0] += 6.0
    w = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (w / w.sum(axis=-1, keepdims=True)).astype(np.float32)


def authors_matrices(att):
    mat = att.astype(np.float64).sum(axis=1) / att.shape[1]
    mat = mat + np.eye(att.shape[-1])[None]
    return mat / mat.sum(axis=-1)[..., None]


def arcs(mats):
    layers, tokens, _ = mats.shape
    tails, heads, caps = [], [], []
    for r in range(1, layers + 1):
        tails.append(r * tokens + np.repeat(np.arange(tokens), tokens))
        heads.append((r - 1) * tokens + np.tile(np.arange(tokens), tokens))
        caps.append(mats[r - 1].ravel())
    return np.concatenate(tails), np.concatenate(heads), np.concatenate(caps)


def scipy_graph(mats, scale):
    import scipy.sparse as sp
    tails, heads, caps = arcs(mats)
    size = (mats.shape[0] + 1) * mats.shape[1]
    data = np.round(caps * scale).astype(np.int64)
    assert data.max() < 2**31
    return sp.csr_matrix((data.astype(np.int32), (tails, heads)), shape=(size, size))


_GRAPH = None


def _scipy_sinks(args):
    from scipy.sparse.csgraph import maximum_flow
    source, sinks = args
    return [maximum_flow(_GRAPH, source, j, method="dinic").flow_value for j in sinks]


def scipy_map(graph, source, tokens, processes=1):
    global _GRAPH
    _GRAPH = graph
    if processes == 1:
        return np.array(_scipy_sinks((source, range(tokens))), dtype=np.float64)
    chunks = [list(range(p, tokens, processes)) for p in range(processes)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        parts = pool.map(_scipy_sinks, [(source, c) for c in chunks])
    out = np.empty(tokens)
    for chunk, values in zip(chunks, parts):
        out[chunk] = values
    return out


def timed(fn, repeats):
    """Median and minimum wall time in ms over `repeats` runs after a warm-up, the least CPU time of this process
    (children excluded) in ms, and the last result."""
    fn()  # warm-up (and the values)
    times, cpu = [], []
    result = None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
    times.sort()
    return times[len(times) // 2], times[0], min(cpu), result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["random", "hubs"], choices=["random", "local", "hubs"])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each whole map (after one warm-up)")
    parser.add_argument("--networkx-tokens", type=int, default=2, help="sinks timed with networkx preflow-push")
    parser.add_argument("--edmonds-karp-tokens", type=int, default=0, help="sinks timed with networkx Edmonds-Karp (~10 min each)")
    args = parser.parse_args()

    import scipy
    import networkx as nx
    print(json.dumps({"python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__,
                      "networkx": nx.__version__, "machine": platform.machine(), "cpus": os.cpu_count(),
                      "loadavg": os.getloadavg()}))
    for kind in args.data:
        att = make_stack(kind)
        mats = authors_matrices(att)
        source = LAYERS * TOKENS  # CLS at the top node layer
        bound = np.minimum(mats[-1][0].sum(), mats[0].sum(axis=0))

        g6, g9 = scipy_graph(mats, 1e6), scipy_graph(mats, 1e9)
        med, low, cpu, f6 = timed(lambda: scipy_map(g6, source, TOKENS) / 1e6, args.repeats)
        print(json.dumps({"data": kind, "impl": "scipy_dinic_x1e6", "ms_per_map": round(med, 1), "min_ms": round(low, 1),
                          "min_cpu_ms": round(cpu, 1), "ms_per_token": round(med / TOKENS, 3)}))
        med, low, cpu, f9 = timed(lambda: scipy_map(g9, source, TOKENS) / 1e9, args.repeats)
        print(json.dumps({"data": kind, "impl": "scipy_dinic_x1e9", "ms_per_map": round(med, 1), "min_ms": round(low, 1),
                          "min_cpu_ms": round(cpu, 1), "ms_per_token": round(med / TOKENS, 3)}))
        med, low, _, f6p = timed(lambda: scipy_map(g6, source, TOKENS, processes=2) / 1e6, args.repeats)
        assert np.array_equal(f6p, f6)
        print(json.dumps({"data": kind, "impl": "scipy_dinic_x1e6_2proc", "ms_per_map": round(med, 1), "min_ms": round(low, 1),
                          "ms_per_token": round(med / TOKENS, 3)}))
        print(json.dumps({"data": kind, "checksum": {"sum_flow_x1e9": round(float(f9.sum()), 6),
                                                      "max_bound_minus_flow_x1e9": float((bound - f9).max()),
                                                      "max_abs_x1e6_minus_x1e9": float(np.abs(f6 - f9).max())}}))

        exact = {}
        for name, count, func in (("networkx_preflow_push", args.networkx_tokens, nx.algorithms.flow.preflow_push),
                                  ("networkx_edmonds_karp", args.edmonds_karp_tokens, nx.algorithms.flow.edmonds_karp)):
            if count <= 0:
                continue
            tails, heads, caps = arcs(mats)
            graph = nx.DiGraph()
            graph.add_weighted_edges_from(zip(tails.tolist(), heads.tolist(), caps.tolist()), weight="capacity")
            times = []
            for j in range(count):
                t = time.perf_counter()
                exact[j] = nx.maximum_flow_value(graph, source, j, flow_func=func)
                times.append((time.perf_counter() - t) * 1e3)
            print(json.dumps({"data": kind, "impl": name, "tokens": count, "ms_per_token": round(float(np.median(times)), 1),
                              "min_ms_per_token": round(min(times), 1),
                              "ms_per_map_estimate": round(float(np.median(times)) * TOKENS, 0)}))
        if exact:
            js = sorted(exact)
            ref = np.array([exact[j] for j in js])
            print(json.dumps({"data": kind, "float64_networkx_tokens": js,
                              "max_abs_x1e6_minus_networkx": float(np.abs(f6[js] - ref).max()),
                              "max_abs_x1e9_minus_networkx": float(np.abs(f9[js] - ref).max()),
                              "networkx_flows": [float(v) for v in ref]}))


if __name__ == "__main__":
    main()
