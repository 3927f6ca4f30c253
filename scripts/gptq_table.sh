#!/usr/bin/env bash
# The README's quantization table: perplexity of stories260K-f16 as FP16 and
# after RTN and GPTQ at 8/4/3 bits with group sizes -1 and 32.
#
# Calibration: the first half of tinystories-valid.txt (split at the blank
# line nearest the middle); evaluation: the second half, and
# wikitext2-test.txt; seqlen 512 (the model's context), every full window.
# GPTQ: 128 samples x 512 tokens, seed 0, damp 0.01, symmetric grid.
#
# usage: scripts/gptq_table.sh [WORKDIR]   (prints a Markdown table on stdout)
set -euo pipefail
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
W=${1:-/tmp/qz-gptq-table}
M=$SHARED/models/stories260K-f16
D=$SHARED/data/tinystories-valid.txt
rm -rf "$W"; mkdir -p "$W"

# split at the blank line nearest the middle of the file
mid=$(( $(wc -l <"$D") / 2 ))
cut=$(awk -v m="$mid" 'NF == 0 && NR >= m { print NR; exit }' "$D")
head -n "$cut" "$D" >"$W/calib.txt"
tail -n +"$((cut + 1))" "$D" >"$W/heldout.txt"

models=(fp16)
for bits in 8 4 3; do
  for gs in -1 32; do
    for method in rtn gptq; do
      name=$method-w$bits-g$gs
      echo "quantizing $name" >&2
      "$BUILD"/bin/qz-gptq "$M" "$W/$name" --method "$method" --bits "$bits" --group-size "$gs" \
        --calib "$W/calib.txt" --nsamples 128 --seqlen 512 --seed 0 --quiet >/dev/null
      models+=("$name")
    done
  done
done
ln -s "$(cd "$M" && pwd)" "$W/fp16"

# evaluations, two at a time with single-threaded BLAS (the model is tiny)
for m in "${models[@]}"; do for t in heldout wikitext; do echo "$m $t"; done; done |
  OPENBLAS_NUM_THREADS=1 xargs -P 2 -n 2 sh -c '
    text=$1; [ "$text" = heldout ] && f='"$W"'/heldout.txt || f='"$SHARED"'/data/wikitext2-test.txt
    '"$BUILD"'/bin/qz-eval '"$W"'/$0 --text "$f" --seqlen 512 --json --quiet >'"$W"'/$0.$text.json'

ppl() { sed -n 's/.*"ppl":\([0-9.e+-]*\).*/\1/p' "$W/$1.$2.json"; }
echo "| method | bits | group | TinyStories (2nd half) | WikiText-2 |"
echo "|---|---|---|---|---|"
for m in "${models[@]}"; do
  if [ "$m" = fp16 ]; then label="FP16 | 16 | -"; else
    IFS=- read -r meth wb g <<<"${m/-g-1/-g_1}"
    label="$(echo "$meth" | tr a-z A-Z) | ${wb#w} | ${g#g}"; label=${label/_1/-1}
  fi
  printf '| %s | %.4f | %.3f |\n' "$label" "$(ppl "$m" heldout)" "$(ppl "$m" wikitext)"
done
