#!/usr/bin/env bash
# distill_table.sh - the recovery table of docs/qz-distill.md: stories260K
# structurally pruned (--heads 4 --ffn-keep 0.5, calibrated on the first half
# of tinystories-valid.txt), then distilled from the unpruned teacher on that
# first half with three losses (kl, ce, kl --alpha 0.5) at the same budget,
# each evaluated by qz-eval on the second half. Prints a Markdown table (and
# the KL run's held-out curve) on stdout; work files go to OUT_DIR.
#
#   BUILD=build SHARED=../shared bash scripts/distill_table.sh [OUT_DIR]
#   STEPS=200 BATCH=8 SEQLEN=256 LR=3e-3 THREADS=2 override the budget.
set -eu
BUILD=${BUILD:-build} SHARED=${SHARED:-../shared}
STEPS=${STEPS:-200} BATCH=${BATCH:-8} SEQLEN=${SEQLEN:-256} LR=${LR:-3e-3} THREADS=${THREADS:-2}
BIN=$BUILD/bin T=$SHARED/models/stories260K
W=${1:-$(mktemp -d /tmp/qz-distill.XXXXXX)}
mkdir -p "$W"
. "$(dirname "$0")/split.sh"
split_half "$SHARED/data/tinystories-valid.txt" "$W/train.txt" "$W/test.txt"

num() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" "$1"; }
ev() { "$BIN"/qz-eval "$1" --text "$W/test.txt" --seqlen "$SEQLEN" --json >"$W/ev.json" && num "$W/ev.json" ppl; }

[ -d "$W/pruned" ] || "$BIN"/qz-prune "$T" "$W/pruned" --method structured --heads 4 --ffn-keep 0.5 \
  --calib "$W/train.txt" --nsamples 128 --seqlen "$SEQLEN" --quiet
p_teacher=$(ev "$T") p_pruned=$(ev "$W/pruned")
echo "| model | loss | steps x batch x seqlen | seconds | held-out ppl | gap recovered |"
echo "|---|---|---|---|---|---|"
echo "| teacher stories260K | - | - | - | $p_teacher | - |"
echo "| pruned (4 of 8 heads, 86 of 172 FFN channels) | - | - | - | $p_pruned | 0 |"
for run in "kl:--loss kl" "ce:--loss ce" "kl-alpha0.5:--loss kl --alpha 0.5"; do
  name=${run%%:*} flags=${run#*:}
  # shellcheck disable=SC2086
  "$BIN"/qz-distill "$T" "$W/pruned" "$W/$name" --data "$W/train.txt" --steps "$STEPS" --batch "$BATCH" --seqlen "$SEQLEN" \
    --lr "$LR" --threads "$THREADS" --eval-text "$W/test.txt" --eval-every 50 --eval-windows 64 --json --force --quiet $flags >"$W/$name.json"
  p=$(ev "$W/$name") s=$(num "$W/$name.json" seconds)
  rec=$(awk -v a="$p_pruned" -v b="$p" -v t="$p_teacher" 'BEGIN { printf "%.3f", (a - b) / (a - t) }')
  echo "| distilled | $flags | $STEPS x $BATCH x $SEQLEN | $s | $p | $rec |"
done
echo
echo "KL run, held-out ppl on the first 64 windows by step:"
echo "  step 0: $(num "$W/kl.json" initial_ppl)"
grep eval_ppl "$W/kl/qz-log.jsonl" | sed 's/.*"step":\([0-9]*\).*"eval_ppl":\([0-9.]*\).*/  step \1: \2/'
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg))"
