#!/usr/bin/env bash
# The README's quantization table: perplexity of stories260K-f16 as FP16 and
# after RTN, GPTQ, AWQ and AWQ-scales + GPTQ rounding, at 8/4/3 bits with
# group sizes -1 and 32.
#
# Calibration: the first half of tinystories-valid.txt (split at the blank
# line nearest the middle); evaluation: the second half, and
# wikitext2-test.txt; seqlen 512 (the model's context), every full window.
# GPTQ: 128 samples x 512 tokens, seed 0, damp 0.01, symmetric grid.
# AWQ: 128 samples x 512 tokens, seed 0, zero point, duo scaling, clip;
# 3-bit AWQ is written in the GPTQ layout (the AWQ GEMM layout is 4-bit).
# AWQ+GPTQ: qz-awq --scale-only, then qz-gptq on the scaled model.
# AWQ --sequential (4 bits): each layer calibrated on the quantized previous
# layer's outputs instead of the FP ones.
# Group 64 equals per-channel here (in_features 64 for every quantized
# linear), so it is not repeated.
#
# usage: scripts/quant_table.sh [WORKDIR]   (prints a Markdown table on stdout)
set -euo pipefail
. "$(dirname "$0")/split.sh"
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
W=${1:-/tmp/qz-quant-table}
M=$SHARED/models/stories260K-f16
D=$SHARED/data/tinystories-valid.txt
rm -rf "$W"; mkdir -p "$W"
split_half "$D" "$W/calib.txt" "$W/heldout.txt"
CAL=(--calib "$W/calib.txt" --nsamples 128 --seqlen 512 --seed 0 --quiet)

q() { echo "quantizing $1" >&2; shift; "$@" >/dev/null; }
models=(fp16)
ln -s "$(cd "$M" && pwd)" "$W/fp16"
for bits in 8 4 3; do
  for gs in -1 32; do
    tag=w$bits-g$gs
    q rtn-$tag "$BUILD"/bin/qz-gptq "$M" "$W/rtn-$tag" --method rtn --bits "$bits" --group-size "$gs" --quiet
    q gptq-$tag "$BUILD"/bin/qz-gptq "$M" "$W/gptq-$tag" --bits "$bits" --group-size "$gs" "${CAL[@]}"
    models+=("rtn-$tag" "gptq-$tag")
    [ "$bits" = 8 ] && continue
    q rtnasym-$tag "$BUILD"/bin/qz-gptq "$M" "$W/rtnasym-$tag" --method rtn --asym --bits "$bits" --group-size "$gs" --quiet
    fmt=awq; [ "$bits" = 4 ] || fmt=gptq
    q awq-$tag "$BUILD"/bin/qz-awq "$M" "$W/awq-$tag" --bits "$bits" --group-size "$gs" --format $fmt "${CAL[@]}"
    q awqscale-$tag "$BUILD"/bin/qz-awq "$M" "$W/awqscale-$tag" --bits "$bits" --group-size "$gs" --scale-only "${CAL[@]}"
    q awqgptq-$tag "$BUILD"/bin/qz-gptq "$W/awqscale-$tag" "$W/awqgptq-$tag" --bits "$bits" --group-size "$gs" "${CAL[@]}"
    models+=("rtnasym-$tag" "awq-$tag" "awqgptq-$tag")
    if [ "$bits" = 4 ]; then # AWQ feeding each layer the quantized previous layer's outputs
      q awqseq-$tag "$BUILD"/bin/qz-awq "$M" "$W/awqseq-$tag" --bits "$bits" --group-size "$gs" --sequential "${CAL[@]}"
      models+=("awqseq-$tag")
    fi
  done
done

# evaluations, two at a time with single-threaded BLAS (the model is tiny)
for m in "${models[@]}"; do for t in heldout wikitext; do echo "$m $t"; done; done |
  OPENBLAS_NUM_THREADS=1 xargs -P 2 -n 2 sh -c '
    text=$1; [ "$text" = heldout ] && f='"$W"'/heldout.txt || f='"$SHARED"'/data/wikitext2-test.txt
    '"$BUILD"'/bin/qz-eval '"$W"'/$0 --text "$f" --seqlen 512 --json --quiet >'"$W"'/$0.$text.json'

ppl() { sed -n 's/.*"ppl":\([0-9.e+-]*\).*/\1/p' "$W/$1.$2.json"; }
label() {
  case $1 in
    fp16) echo "FP16 | 16 | -" ; return ;;
    rtn-*) m="RTN (sym)" ;; rtnasym-*) m="RTN (asym)" ;; gptq-*) m="GPTQ" ;; awq-*) m="AWQ" ;; awqseq-*) m="AWQ --sequential" ;; awqgptq-*) m="AWQ scales + GPTQ" ;;
  esac
  local rest=${1#*-w} bits gs
  bits=${rest%%-g*}; gs=${rest#*-g}
  echo "$m | $bits | $gs"
}
echo "| method | bits | group | TinyStories (2nd half) | WikiText-2 |"
echo "|---|---|---|---|---|"
for m in "${models[@]}"; do
  printf '| %s | %.4f | %.3f |\n' "$(label "$m")" "$(ppl "$m" heldout)" "$(ppl "$m" wikitext)"
done
