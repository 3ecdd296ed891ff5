#!/usr/bin/env bash
# Memory of long explain runs: `vit-attention explain` over 10 and over 1000 photos (the four sample photos in turn,
# 451×300 to 512×512), writing every figure and JSON; peak resident set (GNU time's %M) and wall time of each run.
# Goal (issue 10): the 1000-image run's peak within 1.2× of the 10-image run's.
# From the repository root: bash benchmarks/run-memory-long-run.sh [vit-attention.dll] [model] [counts…]
# REPEAT=N runs the whole list N times in turn (the 10-image peak moves by a few MiB from run to run).
set -euo pipefail
cd "$(dirname "$0")/.."
cli=${1:-src/VitAttention.Cli/bin/Release/net10.0/linux-x64/vit-attention.dll}
model=${2:-models/demo-vit-tiny}
shift $(( $# > 2 ? 2 : $# ))
counts=("${@:-10 1000}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
photos=(tests/VitAttention.Tests/Images/chelsea.png tests/VitAttention.Tests/Images/coffee.png
        tests/VitAttention.Tests/Images/astronaut.png tests/VitAttention.Tests/Images/chelsea.jpg)
mkdir -p "$work/in"
inputs=()
for i in $(seq 1 1000); do
  p=${photos[$(( (i - 1) % 4 ))]}
  inputs+=("$work/in/img$(printf %04d "$i").${p##*.}")
  ln -s "$PWD/$p" "${inputs[-1]}"
done
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPU(s), $cli, model $model"
for n in $(for _ in $(seq "${REPEAT:-1}"); do echo ${counts[*]}; done); do
  /usr/bin/time -f "images $n: peak RSS %M KiB, %e s" -o "$work/time" \
    dotnet "$cli" explain "${inputs[@]:0:$n}" --model "$model" --out "$work/out$n" > /dev/null 2> "$work/err" || { tail -3 "$work/err"; exit 1; }
  cat "$work/time"
  echo "  written: $(ls "$work/out$n" | grep -c '\.json$') JSON files"
  rm -rf "$work/out$n"
done
