#!/usr/bin/env bash
# make bench: every benchmark in $BUILD/bench, each printing one JSON object
# (its baseline measured in the same run: the sgemm peak with the core used
# and with the best core this OpenBLAS has), gathered into one JSON array on
# stdout. Timings are CPU timings on this machine; nothing here asserts speed.
#
# With LLAMA_PERPLEXITY=/path/to/llama-perplexity (scripts/build-llama.sh
# builds one) a last object puts qz-eval and llama.cpp side by side on the
# same model and text: 16 windows of 512 tokens, $BENCH_THREADS threads;
# qz-eval twice, scoring every token (its default) and --score second-half
# (llama-perplexity's protocol: the same work, the lm_head on half the
# positions, and the same perplexity); BENCH_LLAMA_ROUNDS rounds (default
# 3) of the three, medians reported beside every round's figure.
#   LLAMA_MODEL  GGUF for llama.cpp (default: the shared SmolLM2-135M Q4_1)
#   QZ_MODEL     what qz-eval reads (default: LLAMA_MODEL; a GGUF needs the
#                GGUF reader, else give the same model as a HF directory)
#   BENCH_TEXT   default $SHARED/data/wikitext2-test.txt
#   LLAMA_QUANTIZE  llama-quantize: llama.cpp then runs an F32 copy (as qz
#                computes in F32), and its Q4_K_M wall time is reported
#                beside qz-gptq's end to end (4 bits, g128, 128 x 512
#                calibration tokens of BENCH_TEXT), one-stage (the default)
#                and --true-sequential; BENCH_GPTQ=0 skips both)
# BENCH_ONLY=vs_llama skips the qz benchmarks.
set -euo pipefail
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
THREADS=${BENCH_THREADS:-2}
first=1
echo "["
if [ "${BENCH_ONLY:-}" != vs_llama ]; then
  for b in "$BUILD"/bench/bench_*; do
    [ -x "$b" ] || continue
    echo "bench: running $(basename "$b")" >&2
    [ $first -eq 1 ] || echo ","
    first=0
    "$b"
  done
fi

# json_str S: S as a JSON string literal.
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

# log_clock LOG PATTERN: seconds on llama.cpp's log clock ("M.SS.mmm.uuu"
# in front of each line) of the last line matching PATTERN.
log_clock() {
  grep -- "$2" "$1" | tail -n 1 | awk '{ split($1, t, "."); printf "%.3f", t[1] * 60 + t[2] + t[3] / 1e3 + t[4] / 1e6 }'
}

# llama_run GGUF LOG: llama-perplexity on 16 chunks of 512; prints
# "wall_seconds tokens_per_second ppl", tokens per second over the chunks'
# evaluation (from "calculating perplexity" to "Final estimate" on its log
# clock: no load, no tokenization, as qz-eval counts its own).
llama_run() {
  local t0 t1
  t0=$(date +%s.%N)
  "$LLAMA_PERPLEXITY" -m "$1" -f "$TEXT" -c 512 -b 512 --chunks 16 -t "$THREADS" >"$2" 2>&1 || return 1
  t1=$(date +%s.%N)
  local a b ppl tps=null
  a=$(log_clock "$2" "calculating perplexity")
  b=$(log_clock "$2" "Final estimate")
  ppl=$(sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p' "$2" | tail -n 1)
  [ -n "$a" ] && [ -n "$b" ] && tps=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", 16 * 512 / (b - a) }')
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') $tps ${ppl:-null}"
}

# gptq_run QUANT_S [FLAGS]: qz-gptq 4-bit g128 on 128 x 512 tokens of TEXT;
# prints "wall_seconds ratio_to_QUANT_S error" (error a one-word JSON null
# or a string with its spaces kept by read's last field).
gptq_run() {
  local quant_s=$1 t0 t1 s; shift
  t0=$(date +%s.%N)
  if OPENBLAS_NUM_THREADS=$THREADS "$BUILD"/bin/qz-gptq "$QZ_MODEL" "$work/gptq" --calib "$TEXT" --bits 4 \
       --group-size 128 --allow-partial-groups --nsamples 128 --seqlen 512 --force --quiet "$@" >"$work/gptq.log" 2>&1; then
    t1=$(date +%s.%N)
    s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    echo "$s $(awk -v a="$s" -v b="$quant_s" 'BEGIN { printf "%.1f", a / b }') null"
  else echo "null null $(json_str "$(tail -n 1 "$work/gptq.log")")"; fi
}

# ratio A B: A / B to 3 decimals, null when either is null.
ratio() {
  if [ "$1" = null ] || [ "$2" = null ]; then echo null
  else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; fi
}

# median V...: of the values that are not null; null when none is.
median() {
  printf '%s\n' "$@" | grep -v '^null$' | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "null"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# json_list V...: [V, V, ...]
json_list() { local IFS=,; echo "[$*]" | sed 's/,/, /g'; }

# qz_eval_run SCORE: qz-eval --score SCORE on 16 windows of 512 of TEXT;
# prints "wall_seconds tokens_per_second ppl blas_core error" (JSON values,
# the error last as gptq_run's).
qz_eval_run() {
  local t0 t1 s tps ppl core
  t0=$(date +%s.%N)
  if OPENBLAS_NUM_THREADS=$THREADS "$BUILD"/bin/qz-eval "$QZ_MODEL" --text "$TEXT" --seqlen 512 --max-windows 16 --score "$1" \
       --json >"$work/qz.json" 2>"$work/qz.err"; then
    t1=$(date +%s.%N)
    s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    tps=$(sed -n 's/.*"tokens_per_second":\([0-9.]*\).*/\1/p' "$work/qz.json")
    ppl=$(sed -n 's/.*"ppl":\([0-9.eE+-]*\).*/\1/p' "$work/qz.json")
    core=$(sed -n 's/.*"blas":{[^}]*"core":"\([^"]*\)".*/\1/p' "$work/qz.json")
    echo "$s ${tps:-null} ${ppl:-null} $(json_str "$core") null"
  else echo "null null null null $(json_str "$(head -n 1 "$work/qz.err")")"; fi
}

vs_llama() {
  LLAMA_MODEL=${LLAMA_MODEL:-$SHARED/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf}
  QZ_MODEL=${QZ_MODEL:-$LLAMA_MODEL}
  TEXT=${BENCH_TEXT:-$SHARED/data/wikitext2-test.txt}
  local llama_in=$LLAMA_MODEL llama_type=as-is quant_s=null
  if [ -n "${LLAMA_QUANTIZE:-}" ]; then
    echo "bench: llama-quantize to F32 and Q4_K_M" >&2
    if "$LLAMA_QUANTIZE" --allow-requantize "$LLAMA_MODEL" "$work/f32.gguf" F32 "$THREADS" >"$work/q.log" 2>&1; then
      llama_in=$work/f32.gguf llama_type=F32
      local t0 t1
      t0=$(date +%s.%N)
      if "$LLAMA_QUANTIZE" "$work/f32.gguf" "$work/q4km.gguf" Q4_K_M "$THREADS" >>"$work/q.log" 2>&1; then
        t1=$(date +%s.%N)
        quant_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
      fi
    fi
  fi
  # Rounds, each llama-perplexity then qz-eval both ways, A B A B: the machine's
  # speed drifts, so each wall time and tokens/s is the median over the rounds
  # and each ratio the median of the rounds' ratios.
  local rounds=${BENCH_LLAMA_ROUNDS:-3} r l_s=null l_tps=null l_ppl=null l_err=null
  local q_s q_tps q_ppl q_err q_blas h_s h_tps h_ppl h_err h_blas
  local l_all="" q_all="" h_all="" l_walls="" q_walls="" h_walls="" ratios="" h_ratios=""
  for ((r = 1; r <= rounds; r++)); do
    echo "bench: round $r of $rounds: llama-perplexity ($llama_type), qz-eval scoring every token and the second halves" >&2
    if out=$(llama_run "$llama_in" "$work/llama.log"); then
      read -r l_s l_tps l_ppl <<<"$out"
    else l_err=$(json_str "$(tail -n 1 "$work/llama.log")") l_s=null l_tps=null; fi
    read -r q_s q_tps q_ppl q_blas q_err <<<"$(qz_eval_run all)"
    read -r h_s h_tps h_ppl h_blas h_err <<<"$(qz_eval_run second-half)"
    l_all="$l_all $l_tps" q_all="$q_all $q_tps" h_all="$h_all $h_tps"
    l_walls="$l_walls $l_s" q_walls="$q_walls $q_s" h_walls="$h_walls $h_s"
    ratios="$ratios $(ratio "$q_tps" "$l_tps")" h_ratios="$h_ratios $(ratio "$h_tps" "$l_tps")"
  done
  local g_s=null g_err=null g_ratio=null t_s=null t_err=null t_ratio=null
  if [ "$quant_s" != null ] && [ "${BENCH_GPTQ:-1}" != 0 ]; then
    echo "bench: qz-gptq --bits 4 --group-size 128 --nsamples 128 --seqlen 512 (minutes)" >&2
    read -r g_s g_ratio g_err <<<"$(gptq_run "$quant_s")"
    echo "bench: the same with --true-sequential" >&2
    read -r t_s t_ratio t_err <<<"$(gptq_run "$quant_s" --true-sequential)"
  fi
  printf '{\n  "benchmark": "vs_llama_cpp",\n  "text": %s,\n  "windows": 16,\n  "ctx": 512,\n  "threads": %s,\n' \
    "$(json_str "$TEXT")" "$THREADS"
  printf '  "rounds": %s,\n' "$rounds"
  printf '  "qz": {"model": %s, "wall_seconds": %s, "tokens_per_second": %s, "tokens_per_second_rounds": %s, "ppl_all_tokens": %s, "blas_core": %s, "error": %s},\n' \
    "$(json_str "$QZ_MODEL")" "$(median $q_walls)" "$(median $q_all)" "$(json_list $q_all)" "$q_ppl" "$q_blas" "$q_err"
  printf '  "qz_second_half": {"wall_seconds": %s, "tokens_per_second": %s, "tokens_per_second_rounds": %s, "ppl_second_half": %s, "error": %s},\n' \
    "$(median $h_walls)" "$(median $h_all)" "$(json_list $h_all)" "$h_ppl" "$h_err"
  printf '  "llama_cpp": {"binary": %s, "model": %s, "weights": "%s", "wall_seconds": %s, "tokens_per_second": %s, "tokens_per_second_rounds": %s, "ppl_second_half": %s, "error": %s},\n' \
    "$(json_str "$LLAMA_PERPLEXITY")" "$(json_str "$LLAMA_MODEL")" "$llama_type" "$(median $l_walls)" "$(median $l_all)" "$(json_list $l_all)" "$l_ppl" "$l_err"
  printf '  "qz_over_llama_tokens_per_second": %s,\n  "qz_over_llama_rounds": %s,\n' "$(median $ratios)" "$(json_list $ratios)"
  printf '  "qz_second_half_over_llama_tokens_per_second": %s,\n  "qz_second_half_over_llama_rounds": %s,\n' \
    "$(median $h_ratios)" "$(json_list $h_ratios)"
  printf '  "llama_quantize_q4_k_m_seconds": %s,\n' "$quant_s"
  printf '  "qz_gptq_w4g128_128x512": {"wall_seconds": %s, "over_llama_quantize_q4_k_m": %s, "error": %s},\n' \
    "$g_s" "$g_ratio" "$g_err"
  printf '  "qz_gptq_w4g128_128x512_true_sequential": {"wall_seconds": %s, "over_llama_quantize_q4_k_m": %s, "error": %s}\n}\n' \
    "$t_s" "$t_ratio" "$t_err"
}

if [ -n "${LLAMA_PERPLEXITY:-}" ]; then
  work=$(mktemp -d /tmp/qz-bench-llama.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  [ $first -eq 1 ] || echo ","
  first=0
  vs_llama
fi
echo "]"
