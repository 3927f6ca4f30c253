#!/usr/bin/env bash
# GPTQ end to end on the shared SmolLM2-135M GGUF (hidden 576, 30 layers,
# GQA 3:1, tied embeddings) within the test-time budget: 2 calibration
# windows of 128 tokens, evaluation on 2 windows of 128 of WikiText-2's
# held-out half (scripts/split.sh). test_gguf.sh covers RTN on it; this
# covers the calibrated path (Hessians at real shapes, the group rule, the
# GPTQ packing of 576/1536-column linears). SKIPs loudly without the GGUF.
source "$(dirname "$0")/lib.sh"
source scripts/split.sh
S=$SHARED/models/smollm2-135m-instruct-q4_1
W=$SHARED/data/wikitext2-test.txt
if [ ! -d "$S" ] || [ ! -f "$W" ]; then
  skip real_gptq "SHARED GGUF $S or $W ABSENT: GPTQ on a real-size model is UNTESTED"; exit 0
fi
split_half "$W" "$TMP/calib.txt" "$TMP/heldout.txt"
CAL=(--calib "$TMP/calib.txt" --nsamples 2 --seqlen 128 --seed 0)

# 128 does not divide 576: refused before any work, naming 64 (576 = 9 x 64, 1536 = 24 x 64).
expect_exit real_gptq_g128_refused 2 "largest group size that divides every linear is 64" \
  "$BIN"/qz-gptq "$S" "$TMP/x" "${CAL[@]}" --group-size 128

if ! "$BIN"/qz-gptq "$S" "$TMP/g" "${CAL[@]}" --group-size auto --json --quiet >"$TMP/g.json" 2>"$TMP/err"; then
  fail real_gptq "exit $?: $(head -c 300 "$TMP/err")"; exit 0
fi
[ "$(json_num "$TMP/g.json" group_size)" = 64 ] && [ "$(json_num "$TMP/g.json" nsamples)" = 2 ] &&
  [ "$(json_num "$TMP/g.json" seqlen)" = 128 ] && pass real_gptq_auto_64 || fail real_gptq_auto_64 "$(head -c 300 "$TMP/g.json")"
# one log line per decoder linear (30 layers x 7), every GPTQ loss finite
n=$(grep -c '"loss"' "$TMP/g/qz-log.jsonl")
bad=$(grep -o '"loss":[^,}]*' "$TMP/g/qz-log.jsonl" | grep -vc '"loss":[0-9.eE+-]*$')
[ "$n" = 210 ] && [ "$bad" = 0 ] && pass real_gptq_log || fail real_gptq_log "$n loss lines, $bad not finite"

# Bits per weight, hand-derived from the shapes: per linear (out x in), 4-bit
# qweight, per 64-column group an FP16 scale and a 4-bit zero per row, an int32
# g_idx per column.
"$BIN"/qz-eval "$TMP/g" --info --json >"$TMP/info.json" 2>"$TMP/err"
want=$(awk 'BEGIN { split("576 576 192 576 192 576 576 576 1536 576 1536 576 576 1536", s, " ")
  for (i = 1; i < 14; i += 2) { o = s[i]; n = s[i + 1]; w += o * n; b += 4 * o * n + (n / 64) * o * 20 + 32 * n }
  printf "%.6f", b / w }')
got=$(json_num "$TMP/info.json" bpw_decoder)
[ -n "$got" ] && close_rel "$got" "$want" 1e-4 && pass real_gptq_bpw || fail real_gptq_bpw "bpw_decoder '$got', want $want"

# Against the base on held-out WikiText-2: a gate against defects, not a
# quality bound. 4-bit symmetric g64 from 2 x 128 calibration tokens on a model
# whose linears lie on an asymmetric 4-bit g32 grid costs a lot (measured
# here: ppl ratio 1.76, KL 0.50, top-1 0.57); a packing,
# un-permutation or Hessian defect gives a ratio above 10 and top-1 below 0.2.
if "$BIN"/qz-eval "$TMP/g" --text "$TMP/heldout.txt" --seqlen 128 --max-windows 2 --base "$S" --json --quiet \
     >"$TMP/e.json" 2>"$TMP/err"; then
  r=$(json_num "$TMP/e.json" ppl_ratio) kl=$(json_num "$TMP/e.json" kld_mean) t1=$(json_num "$TMP/e.json" top1_agreement)
  awk -v r="$r" -v k="$kl" -v t="$t1" 'BEGIN { exit !(r > 0.9 && r < 2.5 && k > 0 && k < 1.0 && t > 0.4) }' &&
    pass real_gptq_eval || fail real_gptq_eval "ppl ratio '$r' KL '$kl' top-1 '$t1'"
else fail real_gptq_eval "exit $?: $(head -c 300 "$TMP/err")"; fi

# True-sequential at real shapes (attention outputs 576 wide, SwiGLU 1536,
# GQA 3:1): the stages resuming from the kept outputs write the bytes the
# recomputing stages (QZ_PIPELINE_CACHE_MIB=0) write.
ts_run() { "$BIN"/qz-gptq "$S" "$1" "${CAL[@]}" --group-size 64 --true-sequential --quiet >/dev/null; }
if ts_run "$TMP/ts" 2>"$TMP/err" && QZ_PIPELINE_CACHE_MIB=0 ts_run "$TMP/ts0" 2>>"$TMP/err"; then
  cmp -s "$TMP/ts/model.safetensors" "$TMP/ts0/model.safetensors" && pass real_gptq_true_sequential_cache ||
    fail real_gptq_true_sequential_cache "model.safetensors differs with and without the cache"
else fail real_gptq_true_sequential_cache "exit $?: $(head -c 300 "$TMP/err")"; fi
