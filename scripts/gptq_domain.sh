#!/usr/bin/env bash
# Issue 11's question on the shared SmolLM2 GGUF: is GPTQ 4-bit g128 worse
# than RTN out of domain because of calibration-domain overfitting or
# because of a defect at real shapes (576 = 4.5 groups of 128, 9 heads,
# GQA 3:1, tied lm_head)? Runs RTN and GPTQ variants on the same grids
# (g128 with a partial last group, g64 exact, per channel; act-order;
# damp 0.1; true-sequential; asymmetric), GPTQ calibrated on the first half
# of TinyStories and of WikiText-2 (scripts/split.sh), and evaluates every
# artifact on both second halves against the base (KL through a top-k cache
# per text). Prints one CSV line per (artifact, text); docs/real-model.md
# holds a run.
#
# usage: scripts/gptq_domain.sh [OUT_DIR]   (default a fresh /tmp/qz-gptq-domain.XXXXXX)
# environment: BUILD (build), SHARED (../shared), GD_NSAMPLES (16 windows),
#   GD_SEQLEN (512), GD_EVAL_WINDOWS (4), GD_RUNS (the run list below, one
#   "name|calib|qz-gptq flags" per line, calib tiny, wiki or - for none),
#   THREADS (2 BLAS threads). An existing OUT_DIR is resumed: finished
#   artifacts and evaluations are kept (the base caches hold GD_EVAL_WINDOWS
#   windows: use a new OUT_DIR when changing it or GD_SEQLEN).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/split.sh"
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
M=$SHARED/models/smollm2-135m-instruct-q4_1
NS=${GD_NSAMPLES:-16}
SEQ=${GD_SEQLEN:-512}
EW=${GD_EVAL_WINDOWS:-4}
export OPENBLAS_NUM_THREADS=${THREADS:-2}
RUNS=${GD_RUNS:-"rtn-g128|-|--method rtn --group-size 128 --allow-partial-groups
gptq-g128|tiny|--group-size 128 --allow-partial-groups
gptq-g128|wiki|--group-size 128 --allow-partial-groups
rtn-g64|-|--method rtn --group-size 64
gptq-g64|tiny|--group-size 64
gptq-g64|wiki|--group-size 64
rtn-pc|-|--method rtn --group-size -1
gptq-pc|tiny|--group-size -1
gptq-g128-damp0.1|tiny|--group-size 128 --allow-partial-groups --damp 0.1
gptq-g128-actorder|tiny|--group-size 128 --allow-partial-groups --act-order
gptq-g128-trueseq|tiny|--group-size 128 --allow-partial-groups --true-sequential
rtn-g128-asym|-|--method rtn --group-size 128 --allow-partial-groups --asym
gptq-g128-asym|tiny|--group-size 128 --allow-partial-groups --asym"}
[ -d "$M" ] || { echo "gptq_domain: $M not found (set SHARED)" >&2; exit 2; }
OUT=${1:-$(mktemp -d /tmp/qz-gptq-domain.XXXXXX)}
mkdir -p "$OUT"
split_half "$SHARED/data/tinystories-valid.txt" "$OUT/tiny.calib" "$OUT/tiny.held"
split_half "$SHARED/data/wikitext2-test.txt" "$OUT/wiki.calib" "$OUT/wiki.held"
json_num() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" "$1"; }
ev() { # ev MODEL TEXT OUTJSON [--base M --top-k 64]; OUTJSON appears only when complete (reruns resume)
  local m=$1 t=$2 j=$3; shift 3
  "$BUILD"/bin/qz-eval "$m" --text "$OUT/$t.held" --seqlen "$SEQ" --max-windows "$EW" \
    --top-k-cache "$OUT/base.$t.topk" --json --quiet "$@" >"$j.tmp" && mv "$j.tmp" "$j"
}
for t in tiny wiki; do [ -f "$OUT/base.$t.json" ] || ev "$M" $t "$OUT/base.$t.json" --base "$M" --top-k 64; done
echo "run,calib,eval,ppl,base_ppl,kld_mean,top1,quant_seconds"
while IFS='|' read -r name cal flags; do
  [ -n "$name" ] || continue
  tag=$name-$cal d=$OUT/$tag
  if [ ! -f "$d.q.json" ]; then
    c=(); [ "$cal" = - ] || c=(--calib "$OUT/$cal.calib" --nsamples "$NS" --seqlen "$SEQ" --seed 0)
    # shellcheck disable=SC2086 # flags is a word list
    "$BUILD"/bin/qz-gptq "$M" "$d" $flags "${c[@]}" --bits 4 --json --quiet --force >"$d.q.json.tmp" 2>"$d.err" ||
      { echo "gptq_domain: $tag failed: $(tail -n 1 "$d.err")" >&2; continue; }
    mv "$d.q.json.tmp" "$d.q.json"
  fi
  for t in tiny wiki; do
    [ -f "$d.$t.json" ] || ev "$d" $t "$d.$t.json"
    echo "$name,$cal,$t,$(json_num "$d.$t.json" ppl),$(json_num "$OUT/base.$t.json" ppl),$(json_num "$d.$t.json" kld_mean),$(json_num "$d.$t.json" top1_agreement),$(json_num "$d.q.json" seconds)"
  done
done <<<"$RUNS"
