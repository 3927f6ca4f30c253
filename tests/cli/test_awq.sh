#!/usr/bin/env bash
# qz-awq end to end on the shared model: AWQ GEMM artifacts that qz-eval
# reads, the GPTQ-layout and scale-only outputs, AWQ scales + GPTQ as a
# pipeline, determinism, bad input.
. "$(dirname "$0")/lib.sh"

"$BIN"/qz-awq --help | grep -q -- '--scale-only' && pass awq_help || fail awq_help "no usage"
expect_exit awq_needs_calib 2 "--calib FILE is required" "$BIN"/qz-awq a b
expect_exit awq_gemm_is_4bit 2 "holds 4-bit" "$BIN"/qz-awq a b --calib x --bits 3
expect_exit awq_bad_format 2 "expected awq, gptq or gguf" "$BIN"/qz-awq a b --calib x --format exl2

if ! have_shared; then skip awq_shared "$SHARED not found"; exit 0; fi
M=$SHARED/models/stories260K-f16
D=$SHARED/data/tinystories-valid.txt
tail -c 60000 "$D" >"$TMP/heldout.txt"
CAL=(--calib "$D" --nsamples 8 --seqlen 256 --quiet)
ev() { "$BIN"/qz-eval "$1" --text "$TMP/heldout.txt" --seqlen 256 --json | json_num /dev/stdin mean_nll; }
base=$(ev "$M")

"$BIN"/qz-awq "$M" "$TMP/a4" "${CAL[@]}" --group-size 32 --allow-partial-groups --json >"$TMP/a4.json" && pass awq_runs || fail awq_runs "exit $?"
for f in input output method bits group_size zero_point n_grid duo_scaling clip sequential format scale_only modules_not_quantized seconds peak_rss_mib; do
  grep -q "\"$f\":" "$TMP/a4.json" || { fail awq_json "missing $f"; break; }
done && pass awq_json
grep -q '"quant_method":[[:space:]]*"awq"' "$TMP/a4/config.json" && grep -q '"version":[[:space:]]*"gemm"' "$TMP/a4/config.json" &&
  grep -q 'mlp.down_proj' "$TMP/a4/config.json" && pass awq_config || fail awq_config "quantization_config"
grep -q '"scale_ratio":' "$TMP/a4/qz-log.jsonl" && grep -q '"clip_ratio":' "$TMP/a4/qz-log.jsonl" && grep -q '"loss_before":' "$TMP/a4/qz-log.jsonl" &&
  pass awq_log || fail awq_log "log lacks ratio/clip/loss"
a4=$(ev "$TMP/a4")
"$BIN"/qz-gptq "$M" "$TMP/r4" --method rtn --asym --bits 4 --group-size 32 --quiet >/dev/null
r4=$(ev "$TMP/r4")
awk -v a="$a4" -v r="$r4" -v b="$base" 'BEGIN { exit !(a < r && a > b) }' && pass awq_beats_rtn_4bit || fail awq_beats_rtn_4bit "nll fp16 $base awq $a4 rtn $r4"

"$BIN"/qz-awq "$M" "$TMP/a4b" "${CAL[@]}" --group-size 32 --allow-partial-groups >/dev/null
cmp -s "$TMP/a4/model.safetensors" "$TMP/a4b/model.safetensors" && pass awq_deterministic || fail awq_deterministic "two runs differ"

"$BIN"/qz-awq "$M" "$TMP/a3" "${CAL[@]}" --bits 3 --group-size 32 --format gptq >/dev/null &&
  grep -q '"checkpoint_format":[[:space:]]*"gptq_v2"' "$TMP/a3/config.json" && [ -n "$(ev "$TMP/a3")" ] &&
  pass awq_gptq_layout || fail awq_gptq_layout "3-bit AWQ in GPTQ layout"

# scale-only is a mathematically equivalent FP model; GPTQ on top is a pipeline
"$BIN"/qz-awq "$M" "$TMP/s" "${CAL[@]}" --group-size 32 --allow-partial-groups --scale-only --no-clip >/dev/null &&
  ! grep -q quantization_config "$TMP/s/config.json" && close_rel "$(ev "$TMP/s")" "$base" 0.002 &&
  pass awq_scale_only_equivalent || fail awq_scale_only_equivalent "scale-only changed the model (F16 rounding aside)"
"$BIN"/qz-awq "$M" "$TMP/sc" "${CAL[@]}" --group-size 32 --allow-partial-groups --scale-only >/dev/null &&
  "$BIN"/qz-gptq "$TMP/sc" "$TMP/sg" "${CAL[@]}" --bits 4 --group-size 32 >/dev/null && [ -n "$(ev "$TMP/sg")" ] &&
  pass awq_then_gptq || fail awq_then_gptq "qz-awq --scale-only | qz-gptq"

"$BIN"/qz-awq "$M" "$TMP/seq" "${CAL[@]}" --group-size 32 --allow-partial-groups --sequential >/dev/null && [ -n "$(ev "$TMP/seq")" ] &&
  pass awq_sequential || fail awq_sequential "--sequential"
expect_exit awq_refuses_existing 2 "use --force" "$BIN"/qz-awq "$M" "$TMP/a4" "${CAL[@]}" --group-size -1
expect_exit awq_requantize 2 "already a quantized checkpoint" "$BIN"/qz-awq "$TMP/a4" "$TMP/x" "${CAL[@]}" --group-size -1

# The group rule: AWQ refuses a group that does not divide a packed linear (the default 128 on in 64)
# before any work, and with --allow-partial-groups keeps such linears in FP16 as before.
expect_exit awq_group_refused 2 "largest group size that divides every linear is 4" "$BIN"/qz-awq "$M" "$TMP/ax" "${CAL[@]}"
[ ! -e "$TMP/ax" ] && pass awq_group_refusal_writes_nothing || fail awq_group_refusal_writes_nothing "OUT exists"
expect_exit awq_group_auto_refused_none_packable 2 "no decoder linear.*can be packed in the awq layout" \
  "$BIN"/qz-awq "$M" "$TMP/ax" "${CAL[@]}" --group-size 128 --allow-partial-groups
