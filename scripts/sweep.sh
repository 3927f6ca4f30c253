#!/usr/bin/env bash
# Bits x group-size sweep: RTN (qz-gptq --method rtn), GPTQ (qz-gptq) and AWQ
# (qz-awq: AutoAWQ GEMM at 4 bits, the GPTQ layout at 8/3/2) over bits
# {8,4,3,2} x group sizes {-1,128,64,32}, only the combinations the model's
# shapes allow. Calibration on the first half of the text, evaluation on the
# second half (scripts/split.sh's split_half, as quant_table.sh). Writes
#   OUT_DIR/sweep.csv   one row per run (columns below), the FP baseline first
#   OUT_DIR/sweep.txt   the settings, the combinations skipped and why, timing
#   OUT_DIR/sweep.png   perplexity and KL against bits per weight (gnuplot)
# and keeps every artifact (OUT_DIR/<method>-w<bits>-g<group>) and its JSON.
#
# Bits per weight come from `qz-eval --info --json` (every stored byte of the
# decoder linears, scales, zeros, g_idx and FP16-kept modules included);
# perplexity, KL and top-1 agreement from `qz-eval CAND --base BASE`, the
# base's figures computed once and reused through --top-k-cache.
#
# Allowed combinations, per method and bit width, from the linears' shapes
# (qz-eval --info of the base model): the linears the layout packs (GPTQ
# layout: in and out multiples of 32/bits, 32 at 3 bits; AWQ GEMM: out a
# multiple of 8 and in of the group, the others stay FP16) must all have
# in_features >= group and divisible by it, or the combination is skipped
# (qz-gptq would write a partial last group, which vLLM refuses). A group
# equal to in_features of every packed linear, packing the same linears as
# group -1, is the same artifact as per-channel and is skipped; where it
# equals in_features of only some packed linears the row's note says so.
#
# usage: scripts/sweep.sh [MODEL_DIR] [OUT_DIR]
#   MODEL_DIR  default $SHARED/models/stories260K-f16 (SHARED default ../shared)
#   OUT_DIR    default a fresh /tmp/qz-sweep.XXXXXX; must not exist or be empty
# environment: BUILD (build), SWEEP_METHODS ("rtn gptq awq"), SWEEP_BITS
#   ("8 4 3 2"), SWEEP_GROUPS ("-1 128 64 32"), SWEEP_TEXT (tinystories-valid),
#   SWEEP_NSAMPLES (32), SWEEP_SEQLEN (512, at most max_position_embeddings),
#   SWEEP_EVAL_WINDOWS (128; 0 = every window of the held-out half),
#   SWEEP_TOPK (64: base log-probabilities kept per token in the cache),
#   SWEEP_JOBS (2 runs at once, each with one BLAS thread)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/split.sh"
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
M=${1:-$SHARED/models/stories260K-f16}
OUT=${2:-}
BIN=$BUILD/bin
METHODS=${SWEEP_METHODS:-rtn gptq awq}
BITS=${SWEEP_BITS:-8 4 3 2}
GROUP_SIZES=${SWEEP_GROUPS:--1 128 64 32}
TEXT=${SWEEP_TEXT:-$SHARED/data/tinystories-valid.txt}
NSAMPLES=${SWEEP_NSAMPLES:-32}
SEQLEN=${SWEEP_SEQLEN:-512}
EVAL_WINDOWS=${SWEEP_EVAL_WINDOWS:-128}
TOPK=${SWEEP_TOPK:-64}
JOBS=${SWEEP_JOBS:-2}

die() { echo "sweep: error: $*" >&2; exit 2; }
[ -x "$BIN/qz-eval" ] && [ -x "$BIN/qz-gptq" ] && [ -x "$BIN/qz-awq" ] || die "$BIN/qz-* not found: run 'make BUILD=$BUILD' first"
[ -f "$M/config.json" ] || die "$M: not a model directory"
[ -f "$TEXT" ] || die "$TEXT: no such text (set SWEEP_TEXT or SHARED)"
# (the whole help captured first: grep -q would close the pipe early, and pipefail would see qz-eval's SIGPIPE)
case "$("$BIN"/qz-eval --help)" in *--top-k-cache*) ;; *) die "$BIN/qz-eval has no --base/--top-k-cache: rebuild" ;; esac
for m in $METHODS; do case $m in rtn | gptq | awq) ;; *) die "SWEEP_METHODS: '$m' (expected rtn, gptq, awq)" ;; esac; done
for b in $BITS; do case $b in 2 | 3 | 4 | 8) ;; *) die "SWEEP_BITS: '$b' (expected 2, 3, 4, 8)" ;; esac; done
for g in $GROUP_SIZES; do [ "$g" = -1 ] || [ "$g" -gt 0 ] 2>/dev/null || die "SWEEP_GROUPS: '$g' (expected -1 or a positive size)"; done
if [ -z "$OUT" ]; then OUT=$(mktemp -d /tmp/qz-sweep.XXXXXX); fi
mkdir -p "$OUT"
[ -z "$(ls -A "$OUT")" ] || die "$OUT is not empty: give a new OUT_DIR"
OUT=$(cd "$OUT" && pwd)
mkdir -p "$OUT/rows" "$OUT/logs"
t_start=$(date +%s.%N)

# json_num FILE KEY / json_str FILE KEY: a field of a flat JSON object ("" when null or absent)
json_num() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" "$1"; }
json_str() { sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" "$1"; }
# short names of the info JSON's fp_modules: "gate up down"
fp_short() { sed -n 's/.*"fp_modules":\[\([^]]*\)\].*/\1/p' "$1" | tr -d '"' | sed 's/self_attn\.//g; s/mlp\.//g; s/_proj//g; s/,/ /g'; }

# ---------------------------------------------------------------- the base
split_half "$TEXT" "$OUT/calib.txt" "$OUT/heldout.txt"
"$BIN"/qz-eval "$M" --info --json >"$OUT/base.info.json"
maxpos=$(sed -n 's/.*"max_position_embeddings"[^0-9]*\([0-9]*\).*/\1/p' "$M/config.json" | head -n 1)
[ -n "$maxpos" ] && [ "$SEQLEN" -gt "$maxpos" ] && SEQLEN=$maxpos
CACHE=$OUT/base.topk
# evaluate CAND JSON: perplexity, KL and top-1 agreement of CAND against the
# base on the held-out half. The first call (CAND = the base) runs the base
# and writes its top-k log-probabilities to CACHE; every later call reads
# them instead of running the base again (KL then a lower bound from the top
# TOPK plus the rest of the mass; qz-eval README).
evaluate() {
  local ev=(--text "$OUT/heldout.txt" --seqlen "$SEQLEN" --json --quiet --top-k-cache "$CACHE")
  [ "$EVAL_WINDOWS" -gt 0 ] && ev+=(--max-windows "$EVAL_WINDOWS")
  [ "$1" = "$M" ] && ev+=(--base "$M" --top-k "$TOPK")
  OPENBLAS_NUM_THREADS=1 "$BIN"/qz-eval "$1" "${ev[@]}" >"$2"
}
echo "sweep: base $M: evaluating once, writing $CACHE" >&2
evaluate "$M" "$OUT/base.eval.json" 2>"$OUT/logs/base.err" || die "base evaluation failed: $(tail -n 1 "$OUT/logs/base.err")"

# ---------------------------------------------------------------- the plan
# stdin: "short_name out in" per decoder linear. stdout: one tab-separated
# line per run "method bits group layout fp_modules note"; skipped
# combinations go to fd 3 as "method bits group: reason".
plan() {
  awk -v methods="$METHODS" -v bitlist="$BITS" -v groups="$GROUP_SIZES" '
  function align(b) { return b == 3 ? 32 : 32 / b }
  function packs(layout, b, g, i) {
    if (layout == "gptq") return ins[i] % align(b) == 0 && outs[i] % align(b) == 0
    return outs[i] % 8 == 0 && (g == -1 || ins[i] % g == 0)
  }
  function packed(layout, b, g,   i, s) { s = ""; for (i = 1; i <= n; i++) if (packs(layout, b, g, i)) s = s " " name[i]; return s }
  function skip(m, b, g, why) { print m " " b " " g ": " why > "/dev/fd/3" }
  { n++; name[n] = $1; outs[n] = $2; ins[n] = $3 }
  END {
    nm = split(methods, Ms, " "); nb = split(bitlist, Bs, " "); ng = split(groups, Gs, " ")
    for (a = 1; a <= nm; a++) for (c = 1; c <= nb; c++) for (d = 1; d <= ng; d++) {
      m = Ms[a]; b = Bs[c] + 0; g = Gs[d] + 0
      layout = (m == "awq" && b == 4) ? "awq" : "gptq"
      P = packed(layout, b, g)
      if (P == "") { skip(m, b, g, "no linear can be packed (" (layout == "awq" ? "AWQ GEMM" : "GPTQ layout") ")"); continue }
      bad = ""; eq = ""; note = ""
      for (i = 1; g != -1 && i <= n; i++) {
        if (!packs(layout, b, g, i)) continue
        if (g > ins[i]) { bad = "group " g " is larger than in_features " ins[i] " of " name[i]; break }
        if (ins[i] % g) { bad = "group " g " does not divide in_features " ins[i] " of " name[i]; break }
        if (g == ins[i]) eq = eq " " name[i]
      }
      if (bad != "") { skip(m, b, g, bad); continue }
      if (g != -1 && eq == P && P == packed(layout, b, -1)) { skip(m, b, g, "same artifact as group -1 (the group is the whole row of every packed linear:" eq ")"); continue }
      if (eq != "") note = "group = in_features (per channel) for" eq
      fp = ""; for (i = 1; i <= n; i++) if (!packs(layout, b, g, i)) fp = fp " " name[i]
      sub(/^ /, "", fp)
      printf "%s\t%d\t%d\t%s\t%s\t%s\n", m, b, g, layout, fp, note
    }
  }'
}
grep -o '"name":"[^"]*","out":[0-9]*,"in":[0-9]*' "$OUT/base.info.json" |
  sed 's/"name":"\([^"]*\)","out":\([0-9]*\),"in":\([0-9]*\)/\1 \2 \3/; s/self_attn\.//; s/mlp\.//; s/_proj//' |
  plan >"$OUT/plan.tsv" 3>"$OUT/skipped.txt"
# the slow AWQ runs first, so that two workers finish together
{ grep "^awq" "$OUT/plan.tsv" || true; grep -v "^awq" "$OUT/plan.tsv" || true; } >"$OUT/plan.sorted.tsv"
mv "$OUT/plan.sorted.tsv" "$OUT/plan.tsv"
n_runs=$(wc -l <"$OUT/plan.tsv")
echo "sweep: $n_runs runs, $(wc -l <"$OUT/skipped.txt") combinations skipped (see $OUT/sweep.txt), $JOBS at a time" >&2

# ---------------------------------------------------------------- one run
# run_one IDX: quantize, inspect, evaluate plan line IDX; writes rows/IDX.csv.
run_one() {
  local idx=$1 m b g layout fp note
  IFS=$'\t' read -r m b g layout fp note < <(sed -n "${idx}p" "$OUT/plan.tsv")
  local tag=$m-w$b-g$g d=$OUT/$m-w$b-g$g log=$OUT/logs/$m-w$b-g$g.err
  local cal=(--calib "$OUT/calib.txt" --nsamples "$NSAMPLES" --seqlen "$SEQLEN" --seed 0)
  local t0 t1
  t0=$(date +%s.%N)
  case $m in
    rtn) "$BIN"/qz-gptq "$M" "$d" --method rtn --bits "$b" --group-size "$g" --quiet --json ;;
    gptq) "$BIN"/qz-gptq "$M" "$d" --bits "$b" --group-size "$g" "${cal[@]}" --quiet --json ;;
    awq) "$BIN"/qz-awq "$M" "$d" --bits "$b" --group-size "$g" --allow-partial-groups --format "$layout" "${cal[@]}" --quiet --json ;;
  esac >"$d.quant.json" 2>"$log" || { echo "sweep: $tag: quantization failed: $(tail -n 1 "$log")" >&2; return 0; }
  t1=$(date +%s.%N)
  "$BIN"/qz-eval "$d" --info --json >"$d.info.json" 2>>"$log" || { echo "sweep: $tag: --info failed" >&2; return 0; }
  evaluate "$d" "$d.eval.json" 2>>"$log" ||
    { echo "sweep: $tag: evaluation failed: $(tail -n 1 "$log")" >&2; return 0; }
  [ "$fp" = "$(fp_short "$d.info.json")" ] || note="${note:+$note; }expected FP modules '$fp' but --info reports '$(fp_short "$d.info.json")'"
  printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%.2f,%s,%s\n' "$m" "$b" "$g" "$(json_num "$d.info.json" bpw_decoder)" \
    "$(json_num "$d.info.json" bpw_file)" "$(json_num "$d.eval.json" ppl)" "$(json_num "$d.eval.json" base_ppl)" \
    "$(json_num "$d.eval.json" ppl_ratio)" "$(json_num "$d.eval.json" kld_mean)" "$(json_num "$d.eval.json" top1_agreement)" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$(fp_short "$d.info.json")" "$note" >"$OUT/rows/$(printf %03d "$idx").csv"
  progress_line "$tag done in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s"
}
# progress_line MSG: "sweep: [k/N] MSG (elapsed E s, ETA R s)", k the rows written so far.
progress_line() {
  local k el
  k=$(find "$OUT/rows" -name '*.csv' | wc -l)
  el=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
  echo "sweep: [$k/$n_runs] $1 (elapsed ${el} s, ETA $(( k > 0 ? (el - t_runs) * (n_runs - k) / k : 0 )) s)" >&2
}
t_runs=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
export -f run_one progress_line evaluate json_num fp_short
export OUT M BIN CACHE NSAMPLES SEQLEN EVAL_WINDOWS TOPK t_start t_runs n_runs
seq 1 "$n_runs" | OPENBLAS_NUM_THREADS=1 xargs -P "$JOBS" -I{} bash -c 'run_one {}'

# ---------------------------------------------------------------- outputs
CSV=$OUT/sweep.csv
B=$OUT/base.eval.json
{
  echo "method,bits,group_size,bpw_decoder,bpw_file,ppl,base_ppl,ppl_ratio,kld_mean,top1_agreement,seconds,fp_modules,note"
  echo "$(json_str "$OUT/base.info.json" format),$(json_num "$OUT/base.info.json" bits),,$(json_num "$OUT/base.info.json" bpw_decoder),$(json_num "$OUT/base.info.json" bpw_file),$(json_num "$B" ppl),$(json_num "$B" base_ppl),$(json_num "$B" ppl_ratio),$(json_num "$B" kld_mean),$(json_num "$B" top1_agreement),0,$(fp_short "$OUT/base.info.json"),baseline"
  cat "$OUT"/rows/*.csv 2>/dev/null || true
} >"$CSV"
n_done=$(($(wc -l <"$CSV") - 2))
t_total=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
{
  echo "qz sweep of $M ($(date -u +%Y-%m-%dT%H:%MZ), $("$BIN"/qz-eval --version | head -n 1))"
  echo "text: $TEXT split by split_half: calibration $(wc -l <"$OUT/calib.txt") lines, evaluation $(wc -l <"$OUT/heldout.txt") lines"
  echo "calibration (GPTQ, AWQ): $NSAMPLES windows x $SEQLEN tokens, seed 0; RTN: none"
  echo "GPTQ: symmetric (v1), damp 0.01, no act-order; RTN on the same grid; AWQ: zero point, duo scaling, clip, n_grid 20;"
  echo "  AWQ GEMM layout at 4 bits, the GPTQ layout (gptq_v2) at 8/3/2 bits"
  echo "evaluation: seqlen $SEQLEN, $([ "$EVAL_WINDOWS" -gt 0 ] && echo "the first $EVAL_WINDOWS windows" || echo "every window") of the held-out half; $(json_num "$B" scored_tokens) scored tokens;"
  echo "  KL(base || candidate) and top-1 agreement against the base, whose top-$TOPK log-probabilities were computed"
  echo "  once (base.topk) and read by every evaluation; kld_mean is then a lower bound (top-$TOPK entries plus the rest)"
  echo "bpw_decoder / bpw_file: qz-eval --info (8 x stored tensor bytes / logical weights; README)"
  echo "seconds: wall time of the quantization command (tokenizing the calibration half included; evaluation not)"
  echo "runs: $n_done of $n_runs written, $JOBS at a time with one BLAS thread each; total wall time ${t_total} s"
  echo "skipped combinations:"
  sed 's/^/  /' "$OUT/skipped.txt"
} >"$OUT/sweep.txt"
if command -v gnuplot >/dev/null 2>&1; then
  gnuplot -e "csv='$CSV'; png='$OUT/sweep.png'; model='$(basename "$M")'" "$here/plot_sweep.gp" && echo "sweep: plot $OUT/sweep.png" >&2
else
  echo "sweep: gnuplot not found: plot SKIPPED (install it with 'scripts/install-deps.sh --plot'); the CSV is complete" >&2
fi
echo "sweep: $CSV ($n_done runs, ${t_total} s); settings and skipped combinations in $OUT/sweep.txt" >&2
cat "$CSV"
[ "$n_done" -eq "$n_runs" ] || { echo "sweep: error: $((n_runs - n_done)) runs failed (logs in $OUT/logs)" >&2; exit 1; }
