#!/usr/bin/env bash
# The faithfulness table of docs/benchmarks/faithfulness.md: each map method against the random baseline, all four
# tests, labels given, on the first COUNT Fashion-MNIST test images with a trained Fashion-MNIST model.
#
#   benchmarks/faithfulness/run-fashion.sh [MODEL_DIR] [OUT_DIR] [COUNT]      (from anywhere)
#
# MODEL_DIR: the model's folder (default models/fashion-vit); OUT_DIR: default out/faithfulness-fashion; COUNT:
# default 1000. Environment: METHODS (default rollout,attention; add the class-specific methods once the library has
# them), EXTRA (more evaluate options, e.g. "--threads 1 --batch 64"), FASHION_MNIST_DIR (the idx .gz folder; default
# the Debian package dataset-fashion-mnist's). Prints the date, the load before and after, and the wall time; the
# table is OUT_DIR/faithfulness.md, the per-image results OUT_DIR/results.jsonl. A stopped run continues with the same
# command (--resume).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
model=${1:-$root/models/fashion-vit}
out=${2:-$root/out/faithfulness-fashion}
count=${3:-1000}
methods=${METHODS:-rollout,attention}
[ -f "$model/config.json" ] || { echo "no model in '$model' (config.json missing): pass the trained model's folder" >&2; exit 7; }
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
/usr/bin/python3 "$root/benchmarks/faithfulness/export_fashion_mnist.py" "$data" --count "$count"
dotnet build "$root/src/VitAttention.Cli" -c Release -v quiet -nologo >/dev/null
cli="$root/src/VitAttention.Cli/bin/Release/net10.0/linux-x64/vit-attention"
"$cli" classify "$data/images/00000.png" --model "$model" >/dev/null # builds and caches the graph before timing
echo "date $(date -u +%FT%TZ); before: $(uptime | sed 's/.*load/load/'); $(nproc) cores;$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
set -x
# shellcheck disable=SC2086 # EXTRA is a list of options
/usr/bin/time -f 'wall %e s, CPU %U s user + %S s system' "$cli" evaluate "$data/images" --model "$model" \
  --labels "$data/labels.txt" --methods "$methods" --metrics all --resume --out "$out" ${EXTRA:-}
set +x
echo "after: $(uptime | sed 's/.*load/load/')"
