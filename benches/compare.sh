#!/usr/bin/env bash
# Runs kindling's bench and the PyTorch reference in turn, in one run, and prints the throughput
# ratio kindling / PyTorch per model. PYTHON picks the interpreter that has torch.
#   benches/compare.sh [STEPS] [ROUNDS]
# Each model is measured ROUNDS times (default 3), kindling and PyTorch alternating, so that both
# see the same noise of a shared machine; the line per model gives the median images/s of each, the
# ratio per round, and the median of those ratios. MODELS="cnn-train cnn-infer" picks a subset.
# PyTorch runs in both layouts each round, NCHW and channels_last, and the ratio is taken against
# the faster of the two (the layout column says which won, per round).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-10}
rounds=${2:-3}
py=${PYTHON:-python3}
threads=$(nproc)
models=${MODELS:-linear-train mlp-train cnn-train cnn-infer kindling-cnn-train airbench94-train}
cargo build --release --example bench >/dev/null 2>&1
# What every figure below is a fraction of: the CPU, its vector extensions, and its GEMM rate.
benches/machine.sh
echo "peak: $(RAYON_NUM_THREADS=$threads ./target/release/examples/bench --gemm-peak)"
printf "%-20s %10s %8s %10s %-24s %7s %10s %10s  %s\n" step kindling/s "k GFLOP/s" pytorch/s "ratio per round" median "k MB" "pt MB" "pt layout"
for spec in $models; do
  model=${spec%-*}; mode=${spec##*-}
  flag=""; bs=128
  # A linear or MLP step takes well under a millisecond to a few: more steps for a steady median.
  n=$steps
  # The airbench94 step (batch 1,024) takes seconds: a fifth of the steps.
  case $model in linear) n=$((steps * 20));; mlp) n=$((steps * 3));; airbench94) n=$(( (steps + 4) / 5 )); bs=1024;; esac
  if [ "$mode" = infer ]; then flag="--infer"; [ "$model" = airbench94 ] || bs=256; fi
  results=()
  for _ in $(seq "$rounds"); do
    k=$(RAYON_NUM_THREADS=$threads ./target/release/examples/bench --model "$model" --batch-size $bs --steps $n $flag --json --device cpu 2>/dev/null)
    p1=$($py benches/pytorch_reference.py --model "$model" --batch-size $bs --steps $n $flag --threads $threads --layout nchw)
    p2=$($py benches/pytorch_reference.py --model "$model" --batch-size $bs --steps $n $flag --threads $threads --layout channels_last)
    results+=("$k" "$p1" "$p2")
  done
  python3 - "$spec" "${results[@]}" <<'PY'
import json, statistics, sys
spec, rest = sys.argv[1], [json.loads(a) for a in sys.argv[2:]]
ks = rest[0::3]
# Per round, PyTorch's faster layout.
ps = [max(a, b, key=lambda p: p["images_per_s"]) for a, b in zip(rest[1::3], rest[2::3])]
ratios = [k["images_per_s"] / p["images_per_s"] for k, p in zip(ks, ps)]
med = lambda xs: statistics.median(xs)
print(f"{spec:<20} {med([k['images_per_s'] for k in ks]):10.0f} {med([k['gflops'] for k in ks]):8.1f} "
      f"{med([p['images_per_s'] for p in ps]):10.0f} "
      f"{', '.join(f'{r:.2f}' for r in ratios):<24} {med(ratios):7.2f} "
      f"{max(k['peak_rss_mb'] for k in ks):10.0f} {max(p['peak_rss_mb'] for p in ps):10.0f}  "
      f"{','.join(p['layout'] for p in ps)}")
PY
done
