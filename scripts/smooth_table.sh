#!/usr/bin/env bash
# The README's SmoothQuant table: perplexity of stories260K-f16 as FP16, with
# naive W8A8 (weights per output channel, activations dynamic per token, or
# per tensor), with SmoothQuant at alpha 0.5 and auto then W8A8, and the W8A8
# compressed-tensors artifact read back (must equal the simulated figure).
# Same split as scripts/quant_table.sh: calibrate on the first half of
# tinystories-valid.txt, evaluate on the second half and on wikitext2-test.txt,
# seqlen 512. SmoothQuant: 384 calibration windows of 512 tokens, seed 0 (the
# reference's 512 need 262,144 tokens; the calibration half has 197,375);
# alpha auto measures on 32 of them.
#
# usage: scripts/smooth_table.sh [WORKDIR]   (prints a Markdown table on stdout)
set -euo pipefail
. "$(dirname "$0")/split.sh"
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
W=${1:-/tmp/qz-smooth-table}
M=$SHARED/models/stories260K-f16
D=$SHARED/data/tinystories-valid.txt
rm -rf "$W"; mkdir -p "$W"
split_half "$D" "$W/calib.txt" "$W/heldout.txt"
CAL=(--calib "$W/calib.txt" --nsamples 384 --seqlen 512 --seed 0 --quiet)
ln -s "$(cd "$M" && pwd)" "$W/fp16"
for a in 0.5 auto; do
  echo "smoothing, alpha $a" >&2
  "$BUILD"/bin/qz-smooth "$M" "$W/sq-$a" --alpha "$a" "${CAL[@]}" >/dev/null
  "$BUILD"/bin/qz-smooth "$M" "$W/sqw-$a" --alpha "$a" --w8a8 "${CAL[@]}" >/dev/null
done
grep -o '"alpha":[0-9.]*' "$W/sq-auto/qz-log.jsonl" | awk 'NR % 5 == 1' | tr '\n' ' ' >"$W/auto-alphas.txt"

W8A8=(--act-bits 8 --weight-bits 8)
rows=(
  "FP16|fp16|"
  "naive W8A8 (per-token activations)|fp16|${W8A8[*]}"
  "naive W8A8 (per-tensor activations)|fp16|${W8A8[*]} --act-granularity tensor"
  "SmoothQuant 0.5, W8A8 (per-token)|sq-0.5|${W8A8[*]}"
  "SmoothQuant 0.5, W8A8 (per-tensor)|sq-0.5|${W8A8[*]} --act-granularity tensor"
  "SmoothQuant auto, W8A8 (per-token)|sq-auto|${W8A8[*]}"
  "SmoothQuant auto, W8A8 (per-tensor)|sq-auto|${W8A8[*]} --act-granularity tensor"
  "W8A8 artifact read back (0.5)|sqw-0.5|"
  "W8A8 artifact read back (auto)|sqw-auto|"
)
i=0
for r in "${rows[@]}"; do
  IFS='|' read -r _ model flags <<<"$r"
  for t in heldout wikitext; do
    f=$W/heldout.txt; [ $t = heldout ] || f=$SHARED/data/wikitext2-test.txt
    echo "$i $t $model $f${flags:+ $flags}" # no trailing blank: xargs -L would join the next line
  done
  i=$((i + 1))
done | OPENBLAS_NUM_THREADS=1 xargs -P 2 -L 1 sh -c \
  "$BUILD"'/bin/qz-eval '"$W"'/$2 --text $3 --seqlen 512 --json --quiet $(shift 3; echo "$@") >'"$W"'/row$0.$1.json'

ppl() { sed -n 's/.*"ppl":\([0-9.e+-]*\).*/\1/p' "$W/row$1.$2.json"; }
echo "| model | TinyStories (2nd half) | WikiText-2 |"
echo "|---|---|---|"
i=0
for r in "${rows[@]}"; do
  printf '| %s | %.4f | %.3f |\n' "${r%%|*}" "$(ppl $i heldout)" "$(ppl $i wikitext)"
  i=$((i + 1))
done
echo
echo "alpha auto chose, layers 0-4: $(cat "$W/auto-alphas.txt")"
