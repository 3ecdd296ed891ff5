#!/usr/bin/env bash
# Throughput per CPU core of `vit-attention explain` (data-set mode: four figures and a JSON per image) and
# `vit-attention evaluate --steps 10` (rollout and the random baseline, all four tests: 75 forward passes per image),
# for the demo model shipped in models/, a seeded random ViT-B/16-sized model and, when it is there, the trained
# Fashion-MNIST model (FASHION_MODEL, default models/fashion-vit) on Fashion-MNIST test images. Used for docs/scale.md.
#
#   benchmarks/scale/run-throughput.sh [WORK_DIR]        (from the repository root; WORK_DIR default: a fresh temp folder)
#
# Method: each case runs with ONNX Runtime on one thread, twice, on N1 and N2 images; the process's CPU time (user +
# system, GNU time) of the two runs is subtracted, so model loading, JIT and start-up cancel out, and
#     images per core-second = (N2 − N1) / (CPU(N2) − CPU(N1)).
# CPU time, unlike wall time, barely depends on what else the machine runs, so this holds on a shared machine; the
# wall-clock rate of the N2 run (the command's own progress line) is printed beside it with the load average.
# Environment: DEMO_N1/DEMO_N2 (default 8/40), VITB_EXPLAIN_N1/N2 (2/12), VITB_EVAL_N1/N2 (2/6) and FASHION_N1/N2
# (40/200) images; ONLY, a
# grep pattern, keeps the cases whose label matches. The images are copies of the test photos under distinct names
# (decoding and resizing them is part of the measured work). Each model is loaded once before its cases, so that the
# one-off build of its ONNX graph (cached beside the weights) is not counted.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$(mktemp -d)}
dotnet build "$root/src/VitAttention.Cli" -c Release -v quiet -nologo >/dev/null
cli="$root/src/VitAttention.Cli/bin/Release/net10.0/linux-x64/vit-attention"
wants() { [ -z "${ONLY:-}" ] || grep -q -- "$ONLY" <<<"$1"; } # $1 a case label: does ONLY keep it?
if wants "ViT-B/16 explain" || wants "ViT-B/16 evaluate"; then
  [ -f "$work/vitb/model.safetensors" ] || /usr/bin/python3 "$root/benchmarks/scale/make_random_vit.py" "$work/vitb" >/dev/null
fi

images() { # $1 count: a folder with that many photos (Fashion-MNIST test images when IMAGES=fashion)
  local dir="$work/images-${IMAGES:-photos}-$1"
  if [ "${IMAGES:-}" = fashion ] && [ ! -d "$dir" ]; then
    /usr/bin/python3 "$root/benchmarks/faithfulness/export_fashion_mnist.py" "$work/fashion-$1" --count "$1" >/dev/null
    mv "$work/fashion-$1/images" "$dir"
  elif [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    local photos=("$root"/tests/VitAttention.Tests/Images/*.png)
    for i in $(seq 0 $(($1 - 1))); do cp "${photos[$((i % ${#photos[@]}))]}" "$dir/$(printf '%05d' "$i").png"; done
  fi
  echo "$dir"
}

cpu_of() { # $1 count, rest: command; prints "cpu_seconds wall_rate"
  local n=$1; shift
  local out="$work/out-$RANDOM$RANDOM"
  /usr/bin/time -f '%U %S' -o "$out.time" "$@" "$(images "$n")" --threads 1 --out "$out" >/dev/null 2>"$out.err" || { cat "$out.err"; exit 1; }
  local rate; rate=$(grep -o '[0-9.]* images/s' "$out.err" | tail -1 | cut -d' ' -f1)
  echo "$(awk '{print $1 + $2}' "$out.time") ${rate:-?}"
}

case_row() { # $1 label, $2 n1, $3 n2, rest: command without the image folder
  local label=$1 n1=$2 n2=$3; shift 3
  if ! wants "$label"; then return; fi
  read -r c1 _ <<<"$(cpu_of "$n1" "$@")"
  read -r c2 w2 <<<"$(cpu_of "$n2" "$@")"
  printf '| %s | %d / %d | %.1f / %.1f | %.3f | %.3f | %s |\n' "$label" "$n1" "$n2" "$c1" "$c2" \
    "$(echo "($c2 - $c1) / ($n2 - $n1)" | bc -l)" "$(echo "($n2 - $n1) / ($c2 - $c1)" | bc -l)" "$w2"
}

echo "date $(date -u +%FT%TZ); before: $(uptime | sed 's/.*load/load/'); $(nproc) cores;$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo
echo "| case | images N1 / N2 | CPU s N1 / N2 | CPU s per image | images per core-second | wall images/s (N2, shared machine) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
d1=${DEMO_N1:-8}; d2=${DEMO_N2:-40}
fashion=${FASHION_MODEL:-$root/models/fashion-vit}
for m in "$root/models/demo-vit-tiny" "$work/vitb" "$fashion"; do # warm-up: builds and caches each model's graph
  if [ -f "$m/config.json" ]; then "$cli" classify "$root/tests/VitAttention.Tests/Images/chelsea.png" --model "$m" >/dev/null; fi
done
case_row "demo explain" "$d1" "$d2" "$cli" explain --model "$root/models/demo-vit-tiny" --batch 8 --shard 0/1
case_row "demo evaluate --steps 10" "$d1" "$d2" "$cli" evaluate --model "$root/models/demo-vit-tiny" --steps 10
case_row "ViT-B/16 explain" "${VITB_EXPLAIN_N1:-2}" "${VITB_EXPLAIN_N2:-12}" "$cli" explain --model "$work/vitb" --batch 8 --shard 0/1
case_row "ViT-B/16 evaluate --steps 10" "${VITB_EVAL_N1:-2}" "${VITB_EVAL_N2:-6}" "$cli" evaluate --model "$work/vitb" --steps 10
if [ -f "$fashion/config.json" ]; then # the trained Fashion-MNIST model (28 px, 49 patches) on its own test images
  f1=${FASHION_N1:-40}; f2=${FASHION_N2:-200}
  IMAGES=fashion case_row "fashion explain" "$f1" "$f2" "$cli" explain --model "$fashion" --batch 8 --shard 0/1
  IMAGES=fashion case_row "fashion evaluate --steps 10" "$f1" "$f2" "$cli" evaluate --model "$fashion" --steps 10
  IMAGES=fashion case_row "fashion evaluate rollout,attention, 1 patch per step" "$f1" "$f2" "$cli" evaluate --model "$fashion" --methods rollout,attention
fi
echo
echo "after: $(uptime | sed 's/.*load/load/')"
