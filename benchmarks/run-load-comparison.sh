#!/usr/bin/env bash
# Load path of a ViT-B/16-sized checkpoint (seeded random weights, 346 MB of safetensors), one process per
# measurement, interleaved so that the machine's noise falls on every kind alike:
#   cold  VitExplainer.Load with an empty prepared-model cache (read weights, build the graph, stream it to the
#         cache, open the session from the file)
#   warm  VitExplainer.Load with the cache filled (config, key check, session from the file)
#   bare  new InferenceSession(path) on the cached graph with default options: ONNX Runtime's own cost, the floor
# Each prints wall time, peak resident set (VmHWM), final resident set and managed heap.
# From the repository root: bash benchmarks/run-load-comparison.sh [runs]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dotnet build -c Release benchmarks/VitAttention.Benchmarks > /dev/null
probe="dotnet benchmarks/VitAttention.Benchmarks/bin/Release/net10.0/linux-x64/VitAttention.Benchmarks.dll load-probe"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPU(s): $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
$probe checkpoint "$work/ckpt"
echo "# weights file: $(stat -c %s "$work/ckpt/model.safetensors") bytes"
for i in $(seq "$runs"); do
  rm -rf "$work/cache"
  VITATTENTION_CACHE="$work/cache" $probe load "$work/ckpt" | sed 's/"load"/"cold"/'
  onnx=$(find "$work/cache" -name model.attn.onnx)
  VITATTENTION_CACHE="$work/cache" $probe load "$work/ckpt" | sed 's/"load"/"warm"/'
  $probe bare "$onnx"
done
echo "# built graph: $(stat -c %s "$onnx") bytes"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
