#!/usr/bin/env bash
# GGUF output (docs/gguf-out.md): qz-gptq / qz-awq --format gguf on the shared
# stories260K GGUF (hidden 64: two 32-blocks, so K-quants fall back; the
# intermediate 172 is not a multiple of 32, so down_proj stays F16) and on the
# shared SmolLM2 GGUF (RTN + two evaluation windows: runtime). Checks: the
# written file loads in qz-eval, --info types and bits per weight by formula,
# Q8_0 is near-lossless against the source, GPTQ and AWQ on the grid beat RTN,
# GPTQ on importance-weighted block parameters beats the reference ones
# on held-out text, presets and maps, determinism, bad flags (exit 2, nothing
# left behind).
. "$(dirname "$0")/lib.sh"

G=$SHARED/models/stories260K-llama2c/stories260K.gguf
if [ ! -f "$G" ] || [ ! -f "$SHARED/data/tinystories-valid.txt" ]; then skip gguf_out "$G or the shared data not found (set SHARED)"; exit 0; fi
head -c 40000 "$SHARED/data/tinystories-valid.txt" >"$TMP/cal.txt"
head -c 80000 "$SHARED/data/tinystories-valid.txt" | tail -c 30000 >"$TMP/eval.txt"
ppl() { "$BIN"/qz-eval "$1" --text "$TMP/eval.txt" --seqlen 256 --json 2>/dev/null >"$TMP/ppl.json" && json_num "$TMP/ppl.json" ppl; }
CAL=(--calib "$TMP/cal.txt" --nsamples 16 --seqlen 256)

# --- bad flags: exit 2, one line, no output left
expect_exit gguf_out_bad_type 2 "--gguf-type 'Q2_K': expected Q4_0" "$BIN"/qz-gptq "$G" "$TMP/bad1" --method rtn --format gguf --gguf-type Q2_K
expect_exit gguf_out_bad_map_type 2 "type 'Q9_0' is not one qz writes" "$BIN"/qz-gptq "$G" "$TMP/bad2" --method rtn --format gguf --gguf-type-map 'attn_v=Q9_0'
expect_exit gguf_out_bad_regex 2 "regex '(attn': missing closing parenthesis" "$BIN"/qz-gptq "$G" "$TMP/bad3" --method rtn --format gguf --gguf-type-map '(attn=Q8_0'
expect_exit gguf_out_map_syntax 2 "'attn_v' is not regex=TYPE" "$BIN"/qz-gptq "$G" "$TMP/bad4" --method rtn --format gguf --gguf-type-map 'attn_v'
expect_exit gguf_out_type_without_format 2 "need --format gguf" "$BIN"/qz-gptq "$G" "$TMP/bad5" --method rtn --gguf-type Q4_0
expect_exit gguf_out_keep_sparsity 2 "cannot keep exact zeros" "$BIN"/qz-gptq "$G" "$TMP/bad6" --method rtn --format gguf --keep-sparsity
expect_exit gguf_out_params_bad 2 "expected weighted or ref" "$BIN"/qz-gptq "$G" "$TMP/bad10" --method rtn --format gguf --gguf-params imatrix
expect_exit gguf_out_params_without_format 2 "need --format gguf" "$BIN"/qz-gptq "$G" "$TMP/bad11" --method rtn --gguf-params ref
expect_exit gguf_out_params_rtn_no_calib 2 "needs --calib" "$BIN"/qz-gptq "$G" "$TMP/bad12" --method rtn --format gguf --gguf-params weighted
"$BIN"/qz-gptq --help | grep -q -- '--gguf-params P' && pass gguf_out_params_help || fail gguf_out_params_help "--gguf-params not in --help"
mkdir "$TMP/hfbad"; cp "$SHARED/models/stories260K/config.json" "$SHARED/models/stories260K/model.safetensors" "$TMP/hfbad/"
sed 's/"byte_fallback": *true/"byte_fallback": false/' "$SHARED/models/stories260K/tokenizer.json" >"$TMP/hfbad/tokenizer.json"
expect_exit gguf_out_hf_unknown_pre 2 "pre-tokenizer is none that llama.cpp names" "$BIN"/qz-gptq "$TMP/hfbad" "$TMP/bad7" --method rtn --format gguf
expect_exit gguf_out_awq_params_without_format 2 "need --format gguf" "$BIN"/qz-awq "$G" "$TMP/bad13" --calib "$TMP/cal.txt" --gguf-params ref
# the group rule (docs/qz-gptq.md) refuses g128 on hidden 64 for GPTQ checkpoints, not for GGUF (the type fixes the block)
expect_exit gguf_out_group_rule_hf 2 "does not divide" "$BIN"/qz-gptq "$G" "$TMP/bad9" --method rtn --group-size 128
for gs in 128 auto; do
  if "$BIN"/qz-gptq "$G" "$TMP/grp$gs" --method rtn --format gguf --gguf-type Q8_0 --group-size $gs --quiet 2>"$TMP/grp.err" &&
     [ -f "$TMP/grp$gs/model.gguf" ]; then pass gguf_out_group_rule_skipped_$gs; else fail gguf_out_group_rule_skipped_$gs "$(head -c 300 "$TMP/grp.err")"; fi
done
left=$(ls -d "$TMP"/bad* 2>/dev/null | wc -l)
[ "$left" -eq 0 ] && pass gguf_out_no_partial_output || fail gguf_out_no_partial_output "$left output(s) left behind"

# --- RTN Q8_0: layout, types, bpw, near-lossless
"$BIN"/qz-gptq "$G" "$TMP/q8" --method rtn --format gguf --gguf-type Q8_0 2>"$TMP/q8.err"
rc=$?
if [ $rc -ne 0 ] || [ ! -f "$TMP/q8/model.gguf" ]; then fail gguf_out_q8_0 "exit $rc: $(head -c 300 "$TMP/q8.err")"; else
  pass gguf_out_q8_0
  [ "$(ls "$TMP/q8")" = "$(printf 'model.gguf\nqz-log.jsonl')" ] && pass gguf_out_dir_contents || fail gguf_out_dir_contents "$(ls "$TMP/q8" | tr '\n' ' ')"
  grep -q "mlp.down_proj (in_features 172): Q8_0 blocks of 32 do not fit, written as F16" "$TMP/q8.err" &&
    pass gguf_out_fallback_warning || fail gguf_out_fallback_warning "$(head -c 300 "$TMP/q8.err")"
  "$BIN"/qz-eval "$TMP/q8" --info >"$TMP/q8.info" 2>&1
  grep -q "^self_attn.q_proj .* Q8_0 .* 8.5000" "$TMP/q8.info" && grep -q "^mlp.down_proj .* F16 .*16.0000" "$TMP/q8.info" &&
    pass gguf_out_info_types || fail gguf_out_info_types "$(head -c 600 "$TMP/q8.info")"
  # linears: q,o 64x64, k,v 32x64, gate,up 172x64 in Q8_0 (34 bytes / 32); down 64x172 F16; 5 layers
  want=$(( 5 * ((64*64*2 + 32*64*2 + 172*64*2) / 32 * 34 + 64*172*2) ))
  grep -q "bits per weight, decoder linears: .* = 8 x $want bytes / 226560 weights" "$TMP/q8.info" &&
    pass gguf_out_info_bpw || fail gguf_out_info_bpw "want $want bytes: $(grep 'decoder linears' "$TMP/q8.info")"
  p0=$(ppl "$G"); p8=$(ppl "$TMP/q8")
  close_rel "$p8" "$p0" 0.005 && pass gguf_out_q8_0_ppl || fail gguf_out_q8_0_ppl "ppl $p8 vs source $p0"
fi

# --- a Hugging Face input: llama.* keys from config.json, tokenizer from tokenizer.json; the
# GGUF's own tokenizer (rebuilt by the reader) must give the HF tokenizer's ids, and the file
# must equal the one made from the GGUF twin in perplexity
H=$SHARED/models/stories260K
"$BIN"/qz-gptq "$H" "$TMP/hf8" --method rtn --format gguf --gguf-type Q8_0 --quiet
"$BIN"/qz-eval "$H" --tokenize "$TMP/eval.txt" >"$TMP/ids.hf" 2>/dev/null
"$BIN"/qz-eval "$TMP/hf8" --tokenize "$TMP/eval.txt" >"$TMP/ids.gguf" 2>/dev/null
[ -s "$TMP/ids.hf" ] && cmp -s "$TMP/ids.hf" "$TMP/ids.gguf" && pass gguf_out_hf_tokenizer || fail gguf_out_hf_tokenizer "token ids differ"
[ -n "${p8:-}" ] && [ "$(ppl "$TMP/hf8")" = "$p8" ] && pass gguf_out_hf_equals_gguf || fail gguf_out_hf_equals_gguf "ppl $(ppl "$TMP/hf8") vs ${p8:-none}"

# --- Q4_0: GPTQ (with and without act-order) and AWQ on the grid against RTN
"$BIN"/qz-gptq "$G" "$TMP/rtn4" --method rtn --format gguf --gguf-type Q4_0 --quiet
"$BIN"/qz-gptq "$G" "$TMP/gptq4" --format gguf --gguf-type Q4_0 "${CAL[@]}" --quiet
"$BIN"/qz-gptq "$G" "$TMP/gptq4a" --format gguf --gguf-type Q4_0 --act-order "${CAL[@]}" --quiet
pr=$(ppl "$TMP/rtn4"); pg=$(ppl "$TMP/gptq4"); pa=$(ppl "$TMP/gptq4a")
awk -v g="$pg" -v r="$pr" 'BEGIN { exit !(g < r) }' && pass gguf_out_gptq_beats_rtn || fail gguf_out_gptq_beats_rtn "gptq $pg, rtn $pr"
awk -v g="$pa" -v r="$pr" 'BEGIN { exit !(g < r) }' && pass gguf_out_gptq_act_order || fail gguf_out_gptq_act_order "gptq act-order $pa, rtn $pr"
[ "$(stat -c %s "$TMP/gptq4/model.gguf")" = "$(stat -c %s "$TMP/rtn4/model.gguf")" ] && pass gguf_out_same_size ||
  fail gguf_out_same_size "GPTQ and RTN files differ in size"
"$BIN"/qz-gptq "$G" "$TMP/gptq4b" --format gguf --gguf-type Q4_0 "${CAL[@]}" --quiet
cmp -s "$TMP/gptq4/model.gguf" "$TMP/gptq4b/model.gguf" && pass gguf_out_deterministic || fail gguf_out_deterministic "two runs differ"

# --- block parameters weighted by diag(H) (the default with calibration) against llama.cpp's reference rule
"$BIN"/qz-gptq "$G" "$TMP/gptq4r" --format gguf --gguf-type Q4_0 --gguf-params ref "${CAL[@]}" --quiet
pgr=$(ppl "$TMP/gptq4r")
awk -v w="$pg" -v r="$pgr" 'BEGIN { exit !(w < r) }' && pass gguf_out_gptq_weighted_beats_ref ||
  fail gguf_out_gptq_weighted_beats_ref "weighted $pg, ref $pgr"
"$BIN"/qz-gptq "$G" "$TMP/rtn4i" --method rtn --format gguf --gguf-type Q4_0 "${CAL[@]}" --json --quiet >"$TMP/rtn4i.json"
grep -q '"gguf_params":"weighted"' "$TMP/rtn4i.json" && grep -q '"nsamples":16,' "$TMP/rtn4i.json" &&
  [ "$(stat -c %s "$TMP/rtn4i/model.gguf")" = "$(stat -c %s "$TMP/rtn4/model.gguf")" ] && ! cmp -s "$TMP/rtn4i/model.gguf" "$TMP/rtn4/model.gguf" &&
  pass gguf_out_rtn_imatrix || fail gguf_out_rtn_imatrix "$(head -c 300 "$TMP/rtn4i.json")"
"$BIN"/qz-gptq "$G" "$TMP/rtn4r" --method rtn --format gguf --gguf-type Q4_0 --gguf-params ref "${CAL[@]}" --quiet
cmp -s "$TMP/rtn4r/model.gguf" "$TMP/rtn4/model.gguf" && pass gguf_out_rtn_ref_ignores_calib ||
  fail gguf_out_rtn_ref_ignores_calib "RTN with --gguf-params ref and --calib differs from RTN without calibration"

# --- presets and maps
"$BIN"/qz-gptq "$G" "$TMP/km" --method rtn --format gguf --gguf-type Q4_K_M --quiet
"$BIN"/qz-eval "$TMP/km" --info >"$TMP/km.info" 2>&1
# 64 columns: Q4_K -> Q5_0, Q6_K -> Q8_0 (the use_more_bits layers' attn_v); output Q6_K needs 256 -> Q8_0
grep -q "^self_attn.q_proj .* Q5_0 " "$TMP/km.info" && grep -q "^self_attn.v_proj .* mixed " "$TMP/km.info" &&
  grep -q "tensors by stored type: .*Q8_0 x 3 " "$TMP/km.info" && pass gguf_out_q4_k_m || fail gguf_out_q4_k_m "$(head -c 800 "$TMP/km.info")"
"$BIN"/qz-gptq "$G" "$TMP/map" --method rtn --format gguf --gguf-type Q4_0 --gguf-type-map 'attn_v=Q8_0,^token_embd=Q4_1' --quiet
"$BIN"/qz-eval "$TMP/map" --info >"$TMP/map.info" 2>&1
grep -q "^self_attn.v_proj .* Q8_0 " "$TMP/map.info" && grep -q "^self_attn.q_proj .* Q4_0 " "$TMP/map.info" &&
  grep -q "Q4_1 x 1 " "$TMP/map.info" && pass gguf_out_type_map || fail gguf_out_type_map "$(head -c 800 "$TMP/map.info")"

# --- AWQ on the grid
"$BIN"/qz-awq "$G" "$TMP/awq" --format gguf --gguf-type Q4_K_M --calib "$TMP/cal.txt" --nsamples 8 --seqlen 256 --quiet
pw=$(ppl "$TMP/awq"); pk=$(ppl "$TMP/km")
awk -v a="$pw" -v r="$pk" 'BEGIN { exit !(a < r) }' && pass gguf_out_awq_beats_rtn || fail gguf_out_awq_beats_rtn "awq $pw, rtn $pk (Q4_K_M)"
"$BIN"/qz-awq "$G" "$TMP/awqr" --format gguf --gguf-type Q4_K_M --gguf-params ref --calib "$TMP/cal.txt" --nsamples 8 --seqlen 256 \
  --quiet --json >"$TMP/awqr.json"
grep -q '"gguf_params":"ref"' "$TMP/awqr.json" && [ "$(stat -c %s "$TMP/awqr/model.gguf")" = "$(stat -c %s "$TMP/awq/model.gguf")" ] &&
  ! cmp -s "$TMP/awqr/model.gguf" "$TMP/awq/model.gguf" && pass gguf_out_awq_params_ref || fail gguf_out_awq_params_ref "$(head -c 300 "$TMP/awqr.json")"
# AWQ then GPTQ: scales searched on the GGUF grid, written in floating point
# (an equivalent model, F16 rounding aside), then GPTQ's rounding onto the same grid
"$BIN"/qz-awq "$G" "$TMP/awqs" --format gguf --gguf-type Q4_K_M --scale-only --calib "$TMP/cal.txt" --nsamples 8 --seqlen 256 --quiet &&
  [ -f "$TMP/awqs/config.json" ] && ! grep -q quantization_config "$TMP/awqs/config.json" && [ ! -e "$TMP/awqs/model.gguf" ] &&
  close_rel "$(ppl "$TMP/awqs")" "$(ppl "$G")" 0.01 && pass gguf_out_awq_scale_only || fail gguf_out_awq_scale_only "scale-only on the GGUF grid"
"$BIN"/qz-gptq "$TMP/awqs" "$TMP/awqg" --format gguf --gguf-type Q4_K_M "${CAL[@]}" --quiet
pa=$(ppl "$TMP/awqg")
awk -v a="$pa" -v r="$pk" 'BEGIN { exit !(a < r) }' && pass gguf_out_awq_gptq_beats_rtn || fail gguf_out_awq_gptq_beats_rtn "awq+gptq $pa, rtn $pk (Q4_K_M)"

# --- the real-size model: RTN, two windows
S=$SHARED/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -f "$S" ]; then skip gguf_out_smollm2 "$S not found"; else
  "$BIN"/qz-gptq "$S" "$TMP/sm" --method rtn --format gguf --gguf-type Q8_0 --quiet
  "$BIN"/qz-eval "$TMP/sm" --info >"$TMP/sm.info" 2>&1
  grep -q "^self_attn.q_proj .* 576 x 576 .* Q8_0 " "$TMP/sm.info" && grep -q "left in floating point: none" "$TMP/sm.info" &&
    pass gguf_out_smollm2_info || fail gguf_out_smollm2_info "$(head -c 600 "$TMP/sm.info")"
  for m in "$S" "$TMP/sm"; do
    "$BIN"/qz-eval "$m" --text "$TMP/eval.txt" --seqlen 128 --max-windows 2 --json 2>/dev/null | sed -n 's/.*"ppl":\([0-9.]*\).*/\1/p'
  done >"$TMP/sm.ppl"
  close_rel "$(tail -1 "$TMP/sm.ppl")" "$(head -1 "$TMP/sm.ppl")" 0.02 && pass gguf_out_smollm2_q8_0_ppl ||
    fail gguf_out_smollm2_q8_0_ppl "$(tr '\n' ' ' <"$TMP/sm.ppl")"
fi
