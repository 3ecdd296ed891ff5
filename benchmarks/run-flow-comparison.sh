#!/usr/bin/env bash
# Attention flow for a whole ViT-B/16 map, the C# engine and its peers in one run, one after the other, on the same
# data (both sides generate it identically), so the ratios compare like with like: BenchmarkDotNet (one thread, two
# threads, and one rollout row for scale), then scipy's Dinic (integer-scaled capacities, one and two processes)
# and networkx (a few tokens). Each side prints a checksum of the flows; they must agree.
# From the repository root: bash benchmarks/run-flow-comparison.sh [extra flow_peers.py arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
date -u
uptime
grep -m1 'model name' /proc/cpuinfo || true
nproc
dotnet run -c Release --project benchmarks/VitAttention.Benchmarks -- --job short --exporters github \
  --artifacts BenchmarkDotNet.Artifacts/flow --filter '*FlowBenchmarks*'
grep -h 'flow checksum' BenchmarkDotNet.Artifacts/flow/*.log | sort -u || true
uptime
/usr/bin/python3 benchmarks/python/flow_peers.py "$@"
uptime
date -u
