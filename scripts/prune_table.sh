#!/usr/bin/env bash
# The README's pruning table: perplexity of stories260K-f16 pruned with
# magnitude, Wanda and SparseGPT at 50% unstructured and 2:4, SparseGPT 2:4
# with 4-bit GPTQ (joint, and prune -> qz-gptq --keep-sparsity), and
# structured pruning (6 of 8 heads, 75% of the FFN, and both). Same split as
# scripts/quant_table.sh: calibrate on the first half of tinystories-valid.txt
# (128 windows of 512 tokens, seed 0), evaluate on the second half and on
# wikitext2-test.txt at seqlen 512, every full window. Also prints each
# artifact's measured sparsity (qz-prune --json actual_sparsity).
#
# usage: scripts/prune_table.sh [WORKDIR]   (prints a Markdown table on stdout)
set -euo pipefail
. "$(dirname "$0")/split.sh"
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
W=${1:-/tmp/qz-prune-table}
M=$SHARED/models/stories260K-f16
D=$SHARED/data/tinystories-valid.txt
rm -rf "$W"; mkdir -p "$W"
split_half "$D" "$W/calib.txt" "$W/heldout.txt"
CAL=(--calib "$W/calib.txt" --nsamples 128 --seqlen 512 --seed 0)
ln -s "$(cd "$M" && pwd)" "$W/fp16"

# name | qz-prune flags (empty: see below) | label
rows=(
  "fp16||FP16 (dense)"
  "mag50|--method magnitude|magnitude 50% (per matrix)"
  "magrow50|--method magnitude --scope row|magnitude 50% (per row)"
  "magglob50|--method magnitude --scope global|magnitude 50% (global)"
  "wanda50|--method wanda|Wanda 50%"
  "sgpt50|--method sparsegpt|SparseGPT 50%"
  "mag24|--method magnitude --pattern 2:4|magnitude 2:4"
  "wanda24|--method wanda --pattern 2:4|Wanda 2:4"
  "sgpt24|--method sparsegpt --pattern 2:4|SparseGPT 2:4"
  "sgpt24q4|--method sparsegpt --pattern 2:4 --bits 4 --group-size 32|SparseGPT 2:4 + GPTQ 4-bit g32 (joint)"
  "sgpt24g4||SparseGPT 2:4, then qz-gptq 4-bit g32 --keep-sparsity"
  "heads6|--method structured --heads 6|structured: 6 of 8 heads"
  "ffn75|--method structured --ffn-keep 0.75|structured: 75% of FFN channels"
  "struct|--method structured --heads 6 --ffn-keep 0.75|structured: 6 of 8 heads + 75% FFN"
)
for r in "${rows[@]}"; do
  IFS='|' read -r name flags _ <<<"$r"
  [ -n "$flags" ] || continue
  read -ra f <<<"$flags"
  [ "${f[1]}" = magnitude ] && cal=() || cal=("${CAL[@]}")
  echo "qz-prune $flags" >&2
  "$BUILD"/bin/qz-prune "$M" "$W/$name" "${f[@]}" "${cal[@]}" --json --quiet >"$W/$name.json"
done
echo "qz-gptq --keep-sparsity on SparseGPT 2:4" >&2
"$BUILD"/bin/qz-gptq "$W/sgpt24" "$W/sgpt24g4" "${CAL[@]}" --bits 4 --group-size 32 --keep-sparsity --quiet >/dev/null

i=0
for r in "${rows[@]}"; do
  name=${r%%|*}
  for t in heldout wikitext; do
    f=$W/heldout.txt; [ $t = heldout ] || f=$SHARED/data/wikitext2-test.txt
    echo "$name $t $f"
  done
done | OPENBLAS_NUM_THREADS=1 xargs -P 2 -L 1 sh -c \
  "$BUILD"'/bin/qz-eval '"$W"'/$0 --text $2 --seqlen 512 --json --quiet >'"$W"'/eval.$0.$1.json'

ppl() { sed -n 's/.*"ppl":\([0-9.e+-]*\).*/\1/p' "$W/eval.$1.$2.json"; }
sparsity() { [ -f "$W/$1.json" ] && sed -n 's/.*"actual_sparsity":\([0-9.e+-]*\).*/\1/p' "$W/$1.json" || echo -; }
echo "| model | decoder weights zero / removed | TinyStories (2nd half) | WikiText-2 |"
echo "|---|---|---|---|"
for r in "${rows[@]}"; do
  IFS='|' read -r name _ label <<<"$r"
  s=$(sparsity "$name")
  [ "$name" = fp16 ] && s=0
  [ "$name" = sgpt24g4 ] && s="(as SparseGPT 2:4)"
  printf '| %s | %s | %.4f | %.3f |\n' "$label" "$s" "$(ppl "$name" heldout)" "$(ppl "$name" wikitext)"
done
