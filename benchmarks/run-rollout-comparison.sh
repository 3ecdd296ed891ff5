#!/usr/bin/env bash
# The rollout benchmarks and their peers in one run, one after the other, so the ratios compare like with like:
# BenchmarkDotNet (C# kernels, scalar baselines, memory floor), then numpy + OpenBLAS and PyTorch on the same shapes.
# From the repository root: bash benchmarks/run-rollout-comparison.sh
set -euo pipefail
cd "$(dirname "$0")/.."
date -u
dotnet run -c Release --project benchmarks/VitAttention.Benchmarks -- --filter '*RolloutBenchmarks*' --job short --exporters github
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE may be set on some machines for old OpenBLAS builds; they slow a current numpy.
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 benchmarks/python/rollout_peers.py
date -u
