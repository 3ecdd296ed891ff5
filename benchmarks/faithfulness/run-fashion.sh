#!/usr/bin/env bash
# The faithfulness table of docs/benchmarks/faithfulness.md: rollout and final-layer attention against the random
# baseline, all four tests, on the first 1,000 Fashion-MNIST test images with the trained model in models/fashion-vit.
#
#   benchmarks/faithfulness/run-fashion.sh [OUT_DIR] [COUNT]      (from the repository root)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/out/faithfulness-fashion}
count=${2:-1000}
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
/usr/bin/python3 "$root/benchmarks/faithfulness/export_fashion_mnist.py" "$data" --count "$count"
dotnet build "$root/src/VitAttention.Cli" -c Release -v quiet -nologo >/dev/null
echo "date $(date -u +%FT%TZ); $(uptime | sed 's/.*load/load/')"
"$root/src/VitAttention.Cli/bin/Release/net10.0/linux-x64/vit-attention" evaluate "$data/images" \
  --model "$root/models/fashion-vit" --labels "$data/labels.txt" --methods rollout,attention --metrics all \
  --out "$out"
echo "after: $(uptime | sed 's/.*load/load/')"
