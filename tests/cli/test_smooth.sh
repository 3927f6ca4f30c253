#!/usr/bin/env bash
# qz-smooth and qz-eval's activation quantization end to end: the smoothed
# model is equivalent, the W8A8 artifact reads back to exactly the simulated
# figure, alpha auto logs a per-layer alpha, bad input.
. "$(dirname "$0")/lib.sh"

"$BIN"/qz-smooth --help | grep -q -- '--w8a8' && pass smooth_help || fail smooth_help "no usage"
expect_exit smooth_needs_calib 2 "--calib FILE is required" "$BIN"/qz-smooth a b
expect_exit smooth_bad_alpha 2 "expected a number in \[0, 1\]" "$BIN"/qz-smooth a b --calib x --alpha 1.5
expect_exit eval_act_bits_one 2 "expected 0 (off)" "$BIN"/qz-eval a --text b --act-bits 1
expect_exit eval_bad_act_gran 2 "expected token or tensor" "$BIN"/qz-eval a --text b --act-bits 8 --act-granularity row

if ! have_shared; then skip smooth_shared "$SHARED not found"; exit 0; fi
M=$SHARED/models/stories260K-f16
D=$SHARED/data/tinystories-valid.txt
tail -c 60000 "$D" >"$TMP/heldout.txt"
CAL=(--calib "$D" --nsamples 16 --seqlen 256 --quiet)
ev() { local m=$1; shift; "$BIN"/qz-eval "$m" --text "$TMP/heldout.txt" --seqlen 256 --json "$@" | json_num /dev/stdin mean_nll; }
base=$(ev "$M")

"$BIN"/qz-smooth "$M" "$TMP/s" "${CAL[@]}" --json >"$TMP/s.json" && pass smooth_runs || fail smooth_runs "exit $?"
for f in input output method alpha w8a8 format nsamples seqlen seed seconds peak_rss_mib; do
  grep -q "\"$f\":" "$TMP/s.json" || { fail smooth_json "missing $f"; break; }
done && pass smooth_json
grep -q '"act_max_before":' "$TMP/s/qz-log.jsonl" && grep -q '"weight_max_after":' "$TMP/s/qz-log.jsonl" && pass smooth_log || fail smooth_log "log"
close_rel "$(ev "$TMP/s")" "$base" 0.001 && pass smooth_equivalent || fail smooth_equivalent "smoothing changed the FP model beyond F16 rounding"

# W8A8: the artifact read back equals qz-eval's simulation on the smoothed checkpoint, exactly
"$BIN"/qz-smooth "$M" "$TMP/w" "${CAL[@]}" --w8a8 >/dev/null
grep -q '"quant_method":[[:space:]]*"compressed-tensors"' "$TMP/w/config.json" && grep -q '"format":[[:space:]]*"int-quantized"' "$TMP/w/config.json" &&
  grep -q '"strategy":[[:space:]]*"token"' "$TMP/w/config.json" && grep -q '"dynamic":[[:space:]]*true' "$TMP/w/config.json" &&
  pass smooth_w8a8_config || fail smooth_w8a8_config "compressed-tensors config"
sim=$(ev "$TMP/s" --act-bits 8 --weight-bits 8); art=$(ev "$TMP/w")
[ -n "$sim" ] && [ "$sim" = "$art" ] && pass smooth_w8a8_readback_equals_simulation || fail smooth_w8a8_readback_equals_simulation "sim $sim artifact $art"
# --act-bits 0 turns the declared activation scheme off: the int8 weights alone, as --weight-bits 8 simulates them
[ "$(ev "$TMP/w" --act-bits 0)" = "$(ev "$TMP/s" --weight-bits 8)" ] && [ "$(ev "$TMP/w" --act-bits 0)" != "$art" ] &&
  pass eval_act_bits_off || fail eval_act_bits_off "--act-bits 0 on the W8A8 artifact"
naive=$(ev "$M" --act-bits 8 --weight-bits 8 --act-granularity tensor)
awk -v n="$naive" -v b="$base" 'BEGIN { exit !(n > b) }' && pass eval_act_quant_costs || fail eval_act_quant_costs "W8A8 $naive not above FP $base"

"$BIN"/qz-smooth "$M" "$TMP/a" "${CAL[@]}" --alpha auto --auto-samples 4 >/dev/null &&
  [ "$(grep -c '"alpha":' "$TMP/a/qz-log.jsonl")" -ge 25 ] && pass smooth_auto || fail smooth_auto "alpha auto"
"$BIN"/qz-gptq "$TMP/s" "$TMP/sg" "${CAL[@]}" --bits 8 --group-size -1 >/dev/null && [ -n "$(ev "$TMP/sg")" ] &&
  pass smooth_then_gptq || fail smooth_then_gptq "qz-smooth | qz-gptq"
expect_exit smooth_requantize 2 "already a quantized checkpoint" "$BIN"/qz-smooth "$TMP/w" "$TMP/x" "${CAL[@]}"
