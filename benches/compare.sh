#!/usr/bin/env bash
# Runs kindling's bench and the PyTorch reference in turn, in one run, and prints the throughput
# ratio kindling / PyTorch per model. PYTHON picks the interpreter that has torch.
#   benches/compare.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-10}
py=${PYTHON:-python3}
threads=$(nproc)
cargo build --release --example bench >/dev/null 2>&1
printf "%-14s %-10s %12s %12s %8s %10s %10s\n" model mode kindling/s pytorch/s ratio "k MB" "pt MB"
for spec in "linear train" "mlp train" "cnn train" "cnn infer" "kindling-cnn train"; do
  set -- $spec
  flag=""; bs=128
  # A linear or MLP step takes well under a millisecond to a few: more steps for a steady median.
  n=$steps
  case $1 in linear) n=$((steps * 20));; mlp) n=$((steps * 3));; esac
  if [ "$2" = infer ]; then flag="--infer"; bs=256; fi
  k=$(RAYON_NUM_THREADS=$threads ./target/release/examples/bench --model $1 --batch-size $bs --steps $n $flag --json --device cpu 2>/dev/null)
  p=$($py benches/pytorch_reference.py --model $1 --batch-size $bs --steps $n $flag --threads $threads)
  python3 - "$k" "$p" <<'PY'
import json, sys
k, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{k['model']:<14} {k['mode']:<10} {k['images_per_s']:12.0f} {p['images_per_s']:12.0f} {k['images_per_s']/p['images_per_s']:8.2f} {k['peak_rss_mb']:10.0f} {p['peak_rss_mb']:10.0f}")
PY
done
