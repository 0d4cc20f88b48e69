#!/usr/bin/env bash
# The transfer measurement of docs/own-images.md ("Fine-tuning"): a CNN pretrained on CIFAR-10's classes 0-4,
# then classes 5-9 learnt from only 100 training images per class, three ways (from scratch, linear probe, full
# fine-tune), each scored on classes 5-9 of held-out batch 5.
#
#   cargo build --release --examples && KINDLING_DATA=../shared/data scripts/transfer.sh [OUT]
#   CHANNELS=64,128,256 PRE_EPOCHS=10 LRS="1e-3 3e-3" scripts/transfer.sh runs/transfer-cnn   (the shipped CNN's size)
#   RECIPE=airbench94 scripts/transfer.sh runs/transfer-ab   (the airbench94 network, pretrained by its recipe)
#
# Protocol: the pretraining reads batches 1-4 only (classes 0-4); the 500 fine-tuning images are the first 100
# of each of classes 5-9 in batches 1-4, written as a folder by `export`; every setting (the learning rate of
# each method) is chosen on a stratified fifth of those 500 images (--val-size 0.2, seed 0); the chosen
# settings are then trained on all 500 with seeds 0, 1, 2 and scored once on the 5,000 images of classes 5-9 in
# batch 5 (the folder's test/). SMOKE=1 runs the same steps on a tiny scale (a check that they run, no figure).
set -euo pipefail
cd "$(dirname "$0")/.."
B=target/release/examples
OUT=${1:-runs/transfer}
mkdir -p "$OUT"
# CHANNELS: the network's stage widths (the shipped CIFAR-10 CNN's are 64,128,256); PRE_EPOCHS: its pretraining.
if [ "${SMOKE:-0}" = 1 ]; then PRE=(--epochs 1 --train-size 500 --batch-size 100) EPOCHS=2 LRS="1e-3" SEEDS="0"; else
  PRE=(--epochs "${PRE_EPOCHS:-8}") EPOCHS=30 LRS=${LRS:-"3e-4 1e-3 3e-3"} SEEDS="0 1 2"; fi
# Every layer given: a folder's own CNN defaults differ from CIFAR-10's (one convolution per stage, a hidden
# layer, dropout), and the network trained from scratch must be the pretrained one's architecture.
NET=(--model cnn --channels "${CHANNELS:-32,64,128}" --depth 2 --fc 0 --dropout 0)
# RECIPE: a named recipe instead, its network pretrained by its own training (its epochs unless PRE_EPOCHS is
# given) and trained from scratch by that training too (the one the network was designed with; its batch size,
# epochs and learning rate as below, its augmentation kept).
RECIPE=${RECIPE:-}
if [ -n "$RECIPE" ]; then
  NET=(--recipe "$RECIPE")
  [ -n "${PRE_EPOCHS:-}" ] || [ "${SMOKE:-0}" = 1 ] || PRE=()
fi
# METHODS: the methods (re)run; the others' rows of an earlier run are kept.
METHODS=${METHODS:-"scratch probe finetune"}
FIT=(--epochs "$EPOCHS" --batch-size 32 --hflip --crop-pad 4 --quiet --no-plots)
# A method's learning rates: LRS_<method> when given, else LRS.
lrs_of() { local v="LRS_$1"; echo "${!v:-$LRS}"; }
fit_of() { # the training flags of method $1
  if [ -n "$RECIPE" ] && [ "$1" = scratch ]; then echo "--epochs $EPOCHS --batch-size 32 --quiet --no-plots"
  else echo "${FIT[*]}"; fi
}
# Every score is taken without test-time augmentation (a recipe's checkpoint records its own).
TTA=none
F=$OUT/c59

# --classes keeps a subset first and --val-size N then holds out the subset's last N images: batch 5 holds 4,993
# images of classes 0-4 and 5,007 of classes 5-9 (counted from data_batch_5.bin), so these sizes hold out exactly
# batch 5's images of those classes.
V04=4993 V59=5007
# The data: 100 training images per class of classes 5-9 (batches 1-4), and classes 5-9 of batch 5.
if [ ! -d "$F/test" ]; then
  $B/export --dataset cifar10 --classes dog,frog,horse,ship,truck --split train --val-size $V59 --per-class 100 --out "$F/train"
  $B/export --dataset cifar10 --classes dog,frog,horse,ship,truck --split val --val-size $V59 --out "$F/test"
fi

# The pretrained network: classes 0-4 of batches 1-4 (their batch-5 images watched, nothing chosen on them).
if [ ! -f "$OUT/pre04.safetensors" ]; then
  t=$(date +%s.%N)
  $B/train --dataset cifar10 --classes airplane,automobile,bird,cat,deer --val-size $V04 "${NET[@]}" "${PRE[@]}" \
    --no-plots --save "$OUT/pre04.safetensors"
  echo "pretrain seconds $(echo "$(date +%s.%N) - $t" | bc)" | tee "$OUT/pretrain.txt"
fi

method_flags() {
  case $1 in
    scratch) echo "${NET[*]}" ;;
    probe) echo "--init-from $OUT/pre04.safetensors --freeze features" ;;
    finetune) echo "--init-from $OUT/pre04.safetensors" ;;
  esac
}

acc() { # accuracy of checkpoint $1 on split $2, in percent
  $B/evaluate --weights "$1" --split "$2" --tta $TTA --json | python3 -c 'import json,sys; print(100*json.load(sys.stdin)["accuracy"])'
}

forget() { # drops method $1's rows from file $2
  touch "$2"
  grep -v "^$1	" "$2" >"$2.tmp" || true
  mv "$2.tmp" "$2"
}

# Selection: each method's learning rate on a fifth of the 500 images (a tie goes to the first in LRS).
for m in $METHODS; do
  forget "$m" "$OUT/selection.tsv"
  forget "$m" "$OUT/results.tsv"
done
for m in $METHODS; do
  for lr in $(lrs_of "$m"); do
    ck=$OUT/sel-$m-$lr.safetensors
    # shellcheck disable=SC2046
    $B/train --data-dir "$F" $(method_flags $m) $(fit_of $m) --lr "$lr" --val-size 0.2 --seed 0 --save "$ck"
    printf '%s\t%s\t%s\n' "$m" "$lr" "$(acc "$ck" val)" | tee -a "$OUT/selection.tsv"
  done
done

# The chosen settings, seeds 0-2, all 500 images; scored once on classes 5-9 of batch 5.
for m in $METHODS; do
  lr=$(awk -v m=$m '$1 == m' "$OUT/selection.tsv" | sort -s -k3,3gr | head -1 | cut -f2)
  for s in $SEEDS; do
    ck=$OUT/$m-seed$s.safetensors
    # shellcheck disable=SC2046
    line=$($B/train --data-dir "$F" $(method_flags $m) $(fit_of $m) --lr "$lr" --seed "$s" --save "$ck" | tee /dev/stderr)
    # The training's own seconds (its last line's "after N epochs in S s"), not the test scoring after it.
    secs=$(echo "$line" | sed -n 's/.* epochs in \([0-9.]*\)s;.*/\1/p' | head -1)
    printf '%s\t%s\t%s\t%s\t%.1f\n' "$m" "$lr" "$s" "$(acc "$ck" test)" "$secs" | tee -a "$OUT/results.tsv"
  done
done

python3 - "$OUT/results.tsv" <<'EOF'
import statistics as st, sys
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n') if l]
print("method    lr      accuracy on classes 5-9 of batch 5 (mean ± sd over seeds)   training seconds per run")
for m in ["scratch", "probe", "finetune"]:
    r = [x for x in rows if x[0] == m]
    if not r:
        continue
    a = [float(x[3]) for x in r]
    t = [float(x[4]) for x in r]
    sd = st.stdev(a) if len(a) > 1 else 0.0
    print(f"{m:9} {r[0][1]:7} {st.mean(a):6.2f} ± {sd:4.2f}  ({', '.join(f'{v:.2f}' for v in a)})   {st.mean(t):6.1f}")
EOF
