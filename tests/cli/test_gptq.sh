#!/usr/bin/env bash
# qz-gptq end to end on the shared model: artifacts that qz-eval reads, GPTQ
# beating RTN on held-out text, v1/v2 zero formats, act-order, determinism,
# atomic output, and bad input (exit 2, nothing written).
. "$(dirname "$0")/lib.sh"

"$BIN"/qz-gptq --help | grep -q -- '--true-sequential' && pass gptq_help || fail gptq_help "no usage"
expect_exit gptq_no_args 2 "expected IN_DIR and OUT_DIR" "$BIN"/qz-gptq
expect_exit gptq_bad_bits 2 "expected 2, 3, 4 or 8" "$BIN"/qz-gptq a b --bits 5 --calib x
expect_exit gptq_needs_calib 2 "--calib FILE is required" "$BIN"/qz-gptq a b
expect_exit gptq_bad_method 2 "expected gptq or rtn" "$BIN"/qz-gptq a b --method awq

if ! have_shared; then skip gptq_shared "$SHARED not found"; exit 0; fi
M=$SHARED/models/stories260K-f16
D=$SHARED/data/tinystories-valid.txt
# held-out evaluation text: the last 60 KB of the validation file (calibration samples the whole file)
tail -c 60000 "$D" >"$TMP/heldout.txt"
CAL=(--calib "$D" --nsamples 16 --seqlen 256)
ev() { "$BIN"/qz-eval "$1" --text "$TMP/heldout.txt" --seqlen 256 --json | json_num /dev/stdin mean_nll; }

base=$(ev "$M")
"$BIN"/qz-gptq "$M" "$TMP/rtn8" --method rtn --bits 8 --group-size -1 --quiet >/dev/null &&
  close_rel "$(ev "$TMP/rtn8")" "$base" 0.002 && pass gptq_rtn8_close_to_fp16 || fail gptq_rtn8_close_to_fp16 "8-bit RTN moved NLL by >0.2%"

"$BIN"/qz-gptq "$M" "$TMP/g4" "${CAL[@]}" --bits 4 --group-size 32 --json --quiet >"$TMP/g4.json" 2>"$TMP/g4.err"
rc=$?
[ $rc -eq 0 ] && pass gptq_runs || fail gptq_runs "exit $rc: $(cat "$TMP/g4.err")"
for f in input output method bits group_size sym act_order checkpoint_format modules_not_quantized seconds peak_rss_mib; do
  grep -q "\"$f\":" "$TMP/g4.json" || { fail gptq_json "missing $f"; break; }
done && pass gptq_json
grep -q '"quant_method":[[:space:]]*"gptq"' "$TMP/g4/config.json" && grep -q '"checkpoint_format":[[:space:]]*"gptq"' "$TMP/g4/config.json" &&
  [ -f "$TMP/g4/quantize_config.json" ] && [ -f "$TMP/g4/tokenizer.json" ] && pass gptq_config || fail gptq_config "config.json lacks quantization_config"
[ "$(wc -l <"$TMP/g4/qz-log.jsonl")" -eq 35 ] && grep -q '"damp":' "$TMP/g4/qz-log.jsonl" && pass gptq_log || fail gptq_log "want 35 module lines"
grep -q 'mlp.down_proj' "$TMP/g4/quantize_config.json" && pass gptq_fp_modules_listed || fail gptq_fp_modules_listed "down_proj not listed"
# GPTQModel skips only what a negative "dynamic" rule names (FORMAT.md)
rule='"-:^model\\.layers\\.\\d+\\.mlp\\.down_proj$"'
grep -qF "$rule" "$TMP/g4/quantize_config.json" && grep -qF "$rule" "$TMP/g4/config.json" && pass gptq_dynamic_rules ||
  fail gptq_dynamic_rules "no GPTQModel dynamic rule for down_proj in config.json and quantize_config.json"

"$BIN"/qz-gptq "$M" "$TMP/r4" --method rtn --bits 4 --group-size 32 --quiet >/dev/null
g4=$(ev "$TMP/g4"); r4=$(ev "$TMP/r4")
awk -v g="$g4" -v r="$r4" -v b="$base" 'BEGIN { exit !(g < r && g > b) }' && pass gptq_beats_rtn_4bit ||
  fail gptq_beats_rtn_4bit "nll fp16 $base gptq $g4 rtn $r4"

"$BIN"/qz-gptq "$M" "$TMP/g4b" "${CAL[@]}" --bits 4 --group-size 32 --quiet >/dev/null
cmp -s "$TMP/g4/model.safetensors" "$TMP/g4b/model.safetensors" && cmp -s "$TMP/g4/config.json" "$TMP/g4b/config.json" &&
  pass gptq_deterministic || fail gptq_deterministic "two runs differ"

"$BIN"/qz-gptq "$M" "$TMP/a3" "${CAL[@]}" --bits 3 --group-size 32 --asym --act-order --true-sequential --quiet >/dev/null &&
  grep -q '"checkpoint_format":[[:space:]]*"gptq_v2"' "$TMP/a3/config.json" && grep -q '"desc_act":[[:space:]]*true' "$TMP/a3/config.json" &&
  [ -n "$(ev "$TMP/a3")" ] && pass gptq_asym_actorder_v2 || fail gptq_asym_actorder_v2 "asym act-order artifact"
"$BIN"/qz-gptq "$M" "$TMP/s8" "${CAL[@]}" --bits 8 --group-size 16 --allow-partial-groups --act-order --static-groups --quiet >/dev/null &&
  close_rel "$(ev "$TMP/s8")" "$base" 0.005 && pass gptq_8bit_static_groups || fail gptq_8bit_static_groups "8-bit static groups"

# atomic output: an existing directory is refused, --force replaces it
expect_exit gptq_refuses_existing 2 "use --force" "$BIN"/qz-gptq "$M" "$TMP/g4" --method rtn --group-size 32
"$BIN"/qz-gptq "$M" "$TMP/g4" --method rtn --group-size 64 --force --quiet >/dev/null && grep -q '"group_size":[[:space:]]*64' "$TMP/g4/config.json" &&
  pass gptq_force || fail gptq_force "--force did not replace"
expect_exit gptq_output_is_input 2 "output directory is the input" "$BIN"/qz-gptq "$M" "$M" --method rtn --group-size 32 --force
expect_exit gptq_requantize 2 "already a quantized checkpoint" "$BIN"/qz-gptq "$TMP/g4" "$TMP/x" --method rtn --group-size 32
printf 'tiny' >"$TMP/tiny.txt"
expect_exit gptq_short_calib 2 "need at least" "$BIN"/qz-gptq "$M" "$TMP/x" --calib "$TMP/tiny.txt" --seqlen 256 --group-size 32
[ ! -e "$TMP/x" ] && [ -z "$(ls -d "$TMP"/x.qz-tmp-* 2>/dev/null)" ] && pass gptq_nothing_written || fail gptq_nothing_written "partial output left"

# NaN in a weight: exit 2 naming layer and module, nothing written
F=$SHARED/models/stories260K
rm -rf "$TMP/nan"; mkdir "$TMP/nan"; cp "$F"/* "$TMP/nan/"; chmod -R u+w "$TMP/nan"
hlen=$(od -An -t u8 -N8 "$TMP/nan/model.safetensors" | tr -d ' ')
begin=$(grep -ao '"model.layers.2.mlp.up_proj.weight":{[^}]*}' "$TMP/nan/model.safetensors" | sed 's/.*"data_offsets":\[\([0-9]*\),.*/\1/')
printf '\000\000\300\177' | dd of="$TMP/nan/model.safetensors" bs=1 seek=$((8 + hlen + begin + 400)) conv=notrunc status=none
expect_exit gptq_nan_weight 2 "tensor 'model.layers.2.mlp.up_proj.weight': element 100 is nan" "$BIN"/qz-gptq "$TMP/nan" "$TMP/y" --calib "$D" --nsamples 4 --seqlen 64 --group-size 32
[ ! -e "$TMP/y" ] && pass gptq_nan_nothing_written || fail gptq_nan_nothing_written "output left behind"

# A norm weight of 3e38 overflows the activations to Inf: exit 2 naming the
# layer and the linears whose input it is
rm -rf "$TMP/inf"; mkdir "$TMP/inf"; cp "$F"/* "$TMP/inf/"; chmod -R u+w "$TMP/inf"
begin=$(grep -ao '"model.layers.1.input_layernorm.weight":{[^}]*}' "$TMP/inf/model.safetensors" | sed 's/.*"data_offsets":\[\([0-9]*\),.*/\1/')
printf '\346\261\141\177' | dd of="$TMP/inf/model.safetensors" bs=1 seek=$((8 + hlen + begin + 8)) conv=notrunc status=none
expect_exit gptq_inf_activation 2 "layer 1 self_attn.q_proj/k_proj/v_proj: input activations" \
  "$BIN"/qz-gptq "$TMP/inf" "$TMP/z" --calib "$D" --nsamples 4 --seqlen 64 --group-size 32

# The group rule (issues 11, 13): a group that does not divide a packed linear's in_features is
# refused before any work, naming the largest that would; auto chooses it; a partial group only
# with --allow-partial-groups. stories260K: q/k/v/o/gate/up have in 64, down 172 (packed at 8 bits).
expect_exit gptq_group_too_large 2 "largest group size that divides every linear is 64" "$BIN"/qz-gptq "$M" "$TMP/gx" --method rtn --bits 4 --group-size 128
[ ! -e "$TMP/gx" ] && pass gptq_group_refusal_writes_nothing || fail gptq_group_refusal_writes_nothing "OUT exists"
expect_exit gptq_group_not_divisor 2 "does not divide the in_features of self_attn.q_proj (in_features 64)" "$BIN"/qz-gptq "$M" "$TMP/gx" --method rtn --bits 4 --group-size 48
expect_exit gptq_group_8bit_down 2 "mlp.down_proj (in_features 172).*is 4 " "$BIN"/qz-gptq "$M" "$TMP/gx" --method rtn --bits 8 --group-size 32
expect_exit gptq_group_bad 2 "expected -1, auto or a positive integer" "$BIN"/qz-gptq "$M" "$TMP/gx" --method rtn --group-size 0
"$BIN"/qz-gptq "$M" "$TMP/gauto" --method rtn --bits 4 --group-size auto --quiet --json >"$TMP/gauto.json" &&
  [ "$(json_num "$TMP/gauto.json" group_size)" = 64 ] && grep -q '"group_size":[[:space:]]*64' "$TMP/gauto/config.json" &&
  pass gptq_group_auto || fail gptq_group_auto "auto did not choose 64: $(cat "$TMP/gauto.json")"
# 8 bits: 64 and 172 share no power of two >= 32, so auto is per channel
"$BIN"/qz-gptq "$M" "$TMP/gauto8" --method rtn --bits 8 --group-size auto --quiet --json >"$TMP/gauto8.json" &&
  [ "$(json_num "$TMP/gauto8.json" group_size)" = -1 ] && pass gptq_group_auto_per_channel || fail gptq_group_auto_per_channel "$(cat "$TMP/gauto8.json")"
"$BIN"/qz-gptq "$M" "$TMP/gpart" --method rtn --bits 8 --group-size 32 --allow-partial-groups --quiet >/dev/null &&
  [ -n "$(ev "$TMP/gpart")" ] && pass gptq_group_partial_allowed || fail gptq_group_partial_allowed "--allow-partial-groups"
# RTN uses no calibration: its JSON says nsamples 0 and seqlen 0
[ "$(json_num "$TMP/gauto.json" nsamples)" = 0 ] && [ "$(json_num "$TMP/gauto.json" seqlen)" = 0 ] &&
  pass gptq_rtn_json_no_calib || fail gptq_rtn_json_no_calib "$(cat "$TMP/gauto.json")"
# missing parents of OUT_DIR are created (mkdir -p), as the README's pipeline assumes
"$BIN"/qz-gptq "$M" "$TMP/new/parents/w4" --method rtn --bits 4 --group-size 32 --quiet >/dev/null && [ -f "$TMP/new/parents/w4/config.json" ] &&
  pass gptq_creates_parents || fail gptq_creates_parents "OUT_DIR parents not created"
expect_exit gptq_parent_is_file 2 "cannot create the output directory: Not a directory" "$BIN"/qz-gptq "$M" "$TMP/new/parents/w4/config.json/x" --method rtn --group-size 32
