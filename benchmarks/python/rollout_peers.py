#!/usr/bin/python3
"""Peers of the C# rollout benchmark: numpy (on OpenBLAS) and PyTorch, same shapes, same kind of data.

Run with Debian's interpreter (python3-numpy, libopenblas0-pthread, python3-torch):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 benchmarks/python/rollout_peers.py

It prints the BLAS build (and OpenBLAS's own core name, read from the loaded library), then one JSON line per
shape and implementation with the median and minimum time in ms (the minimum is the least disturbed run on
a shared machine). Data: random row-stochastic float32 stacks
[layer, head, tokens, tokens], batch 1, as in benchmarks/VitAttention.Benchmarks/Rollout.

Implementations (the way Python users write rollout; the first product is Ã_1 itself, not I·Ã_1):
  numpy_full   R = Ã_L ⋯ Ã_1 with Ã = rownorm(0.5·mean_h(A) + 0.5·I), `@` for the products (OpenBLAS's
               default threads: one per core)
  numpy_full_1thread  the same with OpenBLAS set to one thread (openblas_set_num_threads), when it had more
  numpy_row    r = e_0·Ã_L ⋯ Ã_1 as vector × matrix products (each Ã still formed from the heads)
  numpy_floor  np.sum over the whole stack (reads every attention once)
  torch_full   the numpy_full algorithm on torch tensors (CPU)
"""
import argparse
import ctypes
import json
import os
import platform
import sys
import time

import numpy as np

SHAPES = [(12, 12, 197), (24, 16, 197), (12, 12, 577)]


def openblas_library():
    """(path, ctypes library) of the OpenBLAS numpy loaded, or None when numpy does not run on OpenBLAS."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line and ".so" in line})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_num_threads  # raises AttributeError when it is not OpenBLAS
            return path, lib
        except (OSError, AttributeError):
            continue
    return None


def openblas_info():
    """Core name, config and threads of the OpenBLAS that numpy loaded, or None when it is not OpenBLAS."""
    found = openblas_library()
    if found is None:
        return None
    path, lib = found
    try:
        lib.openblas_get_corename.restype = ctypes.c_char_p
        lib.openblas_get_config.restype = ctypes.c_char_p
        return {
            "library": os.path.basename(path),
            "core": lib.openblas_get_corename().decode(),
            "config": lib.openblas_get_config().decode(),
            "threads": lib.openblas_get_num_threads(),
        }
    except AttributeError:
        return None


def set_openblas_threads(count):
    """Sets the thread count of the OpenBLAS numpy loaded (at run time, like OPENBLAS_NUM_THREADS at start);
    returns False when numpy does not run on OpenBLAS."""
    found = openblas_library()
    if found is None:
        return False
    found[1].openblas_set_num_threads(count)
    return True


def make_stack(layers, heads, tokens, seed=42):
    rng = np.random.default_rng(seed)
    x = np.exp(4.0 * rng.random((layers, heads, tokens, tokens), dtype=np.float32))
    x /= x.sum(axis=-1, keepdims=True)
    return x


def layer_matrix(att_l, eye):
    a = 0.5 * att_l.mean(axis=0) + 0.5 * eye
    return a / a.sum(axis=-1, keepdims=True)


def numpy_full(att, eye):
    r = layer_matrix(att[0], eye)
    for l in range(1, att.shape[0]):
        r = layer_matrix(att[l], eye) @ r
    return r


def numpy_row(att, eye):
    r = eye[0].copy()
    for l in range(att.shape[0] - 1, -1, -1):
        r = r @ layer_matrix(att[l], eye)
    return r


def torch_full(torch, att, eye):
    def layer(a):
        a = 0.5 * a.mean(dim=0) + 0.5 * eye
        return a / a.sum(dim=-1, keepdim=True)

    r = layer(att[0])
    for l in range(1, att.shape[0]):
        r = layer(att[l]) @ r
    return r


def median_ms(fn, target_s=1.0, min_runs=7, max_runs=400):
    fn()
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < target_s):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2], times[0], len(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    parser.add_argument("--target-seconds", type=float, default=1.0, help="time budget per measurement")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP", "MKL"))}
    header = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "blas_env": env,
        "openblas": openblas_info(),
    }
    torch = None
    if not args.no_torch:
        try:
            import torch as torch_module

            torch = torch_module
            header["torch"] = torch.__version__
            header["torch_threads"] = torch.get_num_threads()
        except ImportError:
            header["torch"] = None
    print(json.dumps(header), flush=True)

    for layers, heads, tokens in SHAPES:
        att = make_stack(layers, heads, tokens)
        eye = np.eye(tokens, dtype=np.float32)
        shape = {"layers": layers, "heads": heads, "tokens": tokens}
        results = {
            "numpy_full": median_ms(lambda: numpy_full(att, eye), args.target_seconds),
            "numpy_row": median_ms(lambda: numpy_row(att, eye), args.target_seconds),
            "numpy_floor": median_ms(lambda: att.sum(), args.target_seconds),
        }
        blas = header["openblas"]
        if blas is not None and blas["threads"] > 1 and set_openblas_threads(1):
            # The same rollout with OpenBLAS on one thread: the peer of a one-thread C# call.
            results["numpy_full_1thread"] = median_ms(lambda: numpy_full(att, eye), args.target_seconds)
            set_openblas_threads(blas["threads"])
        if torch is not None:
            t_att = torch.from_numpy(att)
            t_eye = torch.eye(tokens, dtype=torch.float32)
            with torch.no_grad():
                results["torch_full"] = median_ms(lambda: torch_full(torch, t_att, t_eye), args.target_seconds)
        for name, (ms, best, runs) in results.items():
            print(json.dumps({**shape, "impl": name, "medianMs": round(ms, 4), "minMs": round(best, 4), "runs": runs}), flush=True)


if __name__ == "__main__":
    main()
