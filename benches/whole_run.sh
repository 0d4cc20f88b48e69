#!/usr/bin/env bash
# airbench94's whole run on the CPU, kindling against PyTorch: kindling's `train --recipe airbench94`
# (10 epochs, six-view test) and benches/airbench94_torch.py (the paper's 9.9 epochs, the same test),
# each from start to exit under /usr/bin/time, alternating on the same machine, on all cores.
#   benches/whole_run.sh [ROUNDS]
# Round r (default 1 round) runs kindling, then PyTorch, both with seed SEED+r-1. Prints the CPU and
# its vector flags, then per round each side's wall time (start to exit: data loading, training and
# the test pass), its training time (kindling's summary line; PyTorch's whitening fit and steps), its
# test accuracy and peak memory, and the ratio of wall times kindling / PyTorch (under 1: kindling is
# faster); with several rounds, the median ratio. A whole run takes about half an hour a side on
# these 2-core machines.
#
#   PYTHON         the interpreter that has torch and numpy (default python3)
#   KINDLING_DATA  the folder holding cifar-10-batches-bin/ (default ../shared/data)
#   RECIPE         kindling's recipe: airbench94 (default) or airbench94-muon (8 epochs, Muon on the
#                  filters; PyTorch still runs airbench94, the recipe issue #34 measures against)
#   SEED           the first round's seed (0)
#   OUT            checkpoints, logs and outputs of every run (runs/whole-run)
#   PT_LAYOUT      channels_last (default: PyTorch's faster layout for this network in every
#                  compare.sh run so far) or nchw
#   PT_EPOCHS      PyTorch's epochs (9.9, the paper's; 10 is kindling's step count, 480)
#   SMOKE=1        two steps a side, scored on 512 images: checks the script in under a minute
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-1}
py=${PYTHON:-python3}
threads=$(nproc)
export KINDLING_DATA=${KINDLING_DATA:-$(cd .. && pwd)/shared/data}
out=${OUT:-runs/whole-run}
seed0=${SEED:-0}
recipe=${RECIPE:-airbench94}
layout=${PT_LAYOUT:-channels_last}
kargs=()
pargs=(--epochs "${PT_EPOCHS:-9.9}")
if [ "${SMOKE:-0}" = 1 ]; then
  # `train` has no flag that shortens the test set: kindling scores 512 held-out training images
  # instead (with the recipe's six views), PyTorch the first 512 test images.
  kargs=(--train-size 2048 --epochs 1 --val-size 512)
  pargs=(--train-size 2048 --epochs 1 --test-size 512)
fi
case $layout in
  channels_last) pargs+=(--channels-last) ;;
  nchw) ;;
  *) echo "whole_run.sh: PT_LAYOUT is channels_last or nchw, not '$layout'" >&2; exit 2 ;;
esac
if ! torch=$($py -c 'import numpy, torch; print(torch.__version__)' 2>/dev/null); then
  echo "whole_run.sh: $py has no torch or numpy: set PYTHON to an interpreter that has both" >&2; exit 2
fi
[ -f "$KINDLING_DATA/cifar-10-batches-bin/test_batch.bin" ] \
  || { echo "whole_run.sh: no CIFAR-10 in $KINDLING_DATA/cifar-10-batches-bin: set KINDLING_DATA" >&2; exit 2; }
mkdir -p "$out"
cargo build --release --quiet --example train
benches/machine.sh
echo "pytorch: $torch, $layout, ${pargs[*]}; kindling: $(git rev-parse --short HEAD), --recipe $recipe${kargs[*]:+, ${kargs[*]}}"

# Runs "$@" under /usr/bin/time with its stdout in $1.out, stderr in $1.log, and "wall_s max_rss_kb"
# in $1.time; on failure prints the end of the log and stops.
timed() {
  local name=$1; shift
  if ! /usr/bin/time -o "$name.time" -f '%e %M' "$@" >"$name.out" 2>"$name.log"; then
    echo "whole_run.sh: failed: $*" >&2; tail -n 20 "$name.log" >&2; exit 1
  fi
}
names=()
for r in $(seq "$rounds"); do
  s=$((seed0 + r - 1))
  timed "$out/kindling-s$s" env RAYON_NUM_THREADS="$threads" ./target/release/examples/train --dataset cifar10 \
    --recipe "$recipe" --seed "$s" --save "$out/kindling-s$s.safetensors" --offline --no-plots "${kargs[@]}"
  timed "$out/pytorch-s$s" "$py" benches/airbench94_torch.py --threads "$threads" --seed "$s" "${pargs[@]}"
  names+=("$out/kindling-s$s" "$out/pytorch-s$s")
done

python3 - "${names[@]}" <<'PY'
import json, re, statistics, sys

def timing(name):  # the last line: a failed command's status line comes before it
    wall, kb = open(name + ".time").read().split("\n")[-2].split()
    return float(wall), float(kb) / 1024

def kindling(name):
    text = open(name + ".out").read()
    m = re.search(r"test accuracy ([\d.]+)%", text) or re.search(r"held-out accuracy with --tta \S+: ([\d.]+)%", text)
    t = re.search(r"epochs? in ([\d.]+)s", text)
    return (float(m.group(1)) if m else float("nan")), (float(t.group(1)) if t else float("nan"))

print(f"{'seed':>4} {'kindling s':>10} {'train s':>8} {'acc %':>6} {'MB':>6}   "
      f"{'pytorch s':>10} {'train s':>8} {'acc %':>6} {'MB':>6}   {'ratio':>6}")
ratios = []
for kname, pname in zip(sys.argv[1::2], sys.argv[2::2]):
    (kwall, kmb), (pwall, pmb) = timing(kname), timing(pname)
    kacc, ktrain = kindling(kname)
    p = json.loads(open(pname + ".out").read().splitlines()[-1])
    ratios.append(kwall / pwall)
    seed = kname.rsplit("-s", 1)[1]
    print(f"{seed:>4} {kwall:10.1f} {ktrain:8.1f} {kacc:6.2f} {kmb:6.0f}   "
          f"{pwall:10.1f} {p['seconds_train']:8.1f} {100 * p['test_accuracy']:6.2f} {pmb:6.0f}   {ratios[-1]:6.3f}")
print(f"wall time kindling / PyTorch: {', '.join(f'{r:.3f}' for r in ratios)}"
      + (f"; median {statistics.median(ratios):.3f}" if len(ratios) > 1 else ""))
PY
