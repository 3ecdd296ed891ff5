#!/usr/bin/env bash
# The rollout benchmarks and their peers in one run, one after the other, so the ratios compare like with like:
# BenchmarkDotNet (C# kernels, scalar baselines, memory floor), then numpy + OpenBLAS and PyTorch on the same shapes.
# From the repository root: bash benchmarks/run-rollout-comparison.sh
#
# BenchmarkDotNet runs each benchmark in a process of its own. On a small virtual machine the cores can differ
# (here one vCPU was up to 25% slower than the other on memory-bound work, and which one changed over the
# afternoon), so a kernel and the memory floor it is compared with are pinned to the same core: every one-thread
# benchmark runs with --affinity 1 (the first core). `Full`, which may use two threads, runs unpinned afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
date -u
project=benchmarks/VitAttention.Benchmarks
dotnet run -c Release --project "$project" -- --job short --exporters github --affinity 1 \
  --artifacts BenchmarkDotNet.Artifacts/one-core \
  --filter '*RolloutBenchmarks.FullScalar' '*RolloutBenchmarks.FullOneThread' '*RolloutBenchmarks.Row*' \
           '*RolloutBenchmarks.MemoryFloor' '*RolloutBenchmarks.LayerMaps*'
dotnet run -c Release --project "$project" -- --job short --exporters github \
  --artifacts BenchmarkDotNet.Artifacts/all-cores --filter '*RolloutBenchmarks.Full'
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE may be set on some machines for old OpenBLAS builds; they slow a current numpy.
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 benchmarks/python/rollout_peers.py
date -u
