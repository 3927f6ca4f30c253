#!/usr/bin/env bash
# Hostile inputs through the tools (issue 15's defects 1-9, 13, 14): configs
# with null / fractional / huge fields, a tokenizer with non-UTF-8 strings, an
# ignore-list regex that backtracks, NaN/Inf tensors, outputs that are the
# input's ancestor or a file, stale temporaries of killed runs, durability
# (fsync). Each case: exit 2 with one error line naming the problem, nothing
# written, the input unchanged. The models are copies of the shared
# stories260K (F32) edited with sed and dd.
. "$(dirname "$0")/lib.sh"

if ! have_shared; then skip harden_shared "$SHARED not found"; exit 0; fi
M32=$SHARED/models/stories260K
M16=$SHARED/models/stories260K-f16
TXT=$TMP/text.txt
head -c 20000 "$SHARED/data/tinystories-valid.txt" >"$TXT"
EV=(--text "$TXT" --seqlen 64 --max-windows 2)

# model NAME [SRC]: a writable copy of SRC (default the F32 model) in $TMP/NAME
model() { rm -rf "${TMP:?}/$1"; cp -r "${2:-$M32}" "$TMP/$1"; chmod -R u+w "$TMP/$1"; echo "$TMP/$1"; }
# cfg DIR SED-EXPR: edits DIR/config.json
cfg() { sed -i "$2" "$1/config.json"; }
# poke DIR TENSOR HEX: overwrites the first element of TENSOR (F32) in DIR/model.safetensors with
# the 4 bytes HEX (little-endian, e.g. 0000c07f for NaN)
poke() {
  local f=$1/model.safetensors hlen begin
  hlen=$(od -An -tu8 -N8 "$f" | tr -d ' ')
  begin=$(head -c $((8 + hlen)) "$f" | grep -a -o "\"$2\":{[^}]*}" | sed 's/.*"data_offsets":\[\([0-9]*\),.*/\1/')
  printf "$(echo "$3" | sed 's/../\\x&/g')" | dd of="$f" bs=1 seek=$((8 + hlen + begin)) conv=notrunc status=none
}
# same_tree A B: identical file lists and bytes
same_tree() { diff -r "$1" "$2" >/dev/null 2>&1; }
dead_pid() { sh -c 'echo $$'; }

# -- defect 1: a required field null is an error, not 0 (SIGFPE, 0 layers, vocab 0)
for f in num_attention_heads num_hidden_layers vocab_size; do
  d=$(model null_$f); cfg "$d" "s/\"$f\": [0-9]*/\"$f\": null/"
  expect_exit "cfg_null_$f" 2 "required field '$f' is null" "$BIN"/qz-eval "$d" "${EV[@]}"
done
d=$(model frac); cfg "$d" 's/"num_hidden_layers": 5/"num_hidden_layers": 4.5/'
expect_exit cfg_fractional_layers 2 "'num_hidden_layers' must be an integer in \[1, 1024\]" "$BIN"/qz-eval "$d" "${EV[@]}"

# -- defect 4: rope_scaling original_max_position_embeddings 1e300 (undefined float->int cast)
d=$(model rope); cfg "$d" 's/"rope_theta": 10000.0,/"rope_theta": 10000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "original_max_position_embeddings": 1e300},/'
expect_exit cfg_rope_1e300 2 "'original_max_position_embeddings' must be an integer" "$BIN"/qz-eval "$d" "${EV[@]}"

# -- defects 5 and 6: sizes beyond the documented limits, refused before any product or allocation
d=$(model huge); cfg "$d" 's/"hidden_size": 64/"hidden_size": 1e15/'
expect_exit cfg_hidden_1e15_info 2 "'hidden_size' must be an integer in \[1, 1048576\]" "$BIN"/qz-eval "$d" --info
d=$(model layers); cfg "$d" 's/"num_hidden_layers": 5/"num_hidden_layers": 1000000000000000/'
expect_exit cfg_layers_1e15_info 2 "'num_hidden_layers' must be an integer in \[1, 1024\]" "$BIN"/qz-eval "$d" --info
# within the limits but not what the tensors hold: the shape is compared before the 1 GB buffer
# for a 4M-entry vocabulary is allocated (under a 0.9 GB address-space limit, main said "out of memory", exit 3)
d=$(model vocab); cfg "$d" 's/"vocab_size": 512/"vocab_size": 4000000/'
if ldd "$BIN"/qz-eval 2>/dev/null | grep -q libasan; then # ASan reserves terabytes of address space
  skip cfg_vocab_shape_before_alloc "an address-space limit cannot work under AddressSanitizer"
else
  (ulimit -v 900000; expect_exit cfg_vocab_shape_before_alloc 2 "shape \[512,64\], config.json implies \[4000000,64\]" \
    "$BIN"/qz-eval "$d" "${EV[@]}")
fi
# calibration windows: the text is checked before nsamples x seqlen tokens are allocated
expect_exit calib_checked_before_alloc 2 "calibration text has" \
  "$BIN"/qz-gptq "$M16" "$TMP/never" --calib "$TXT" --nsamples 1048576 --seqlen 1048576 --group-size 32 --quiet
[ ! -e "$TMP/never" ] && pass calib_nothing_written || fail calib_nothing_written "output left"

# -- defect 2: tokenizer strings that are not UTF-8 (an invalid byte reached NFC's assertion / PCRE2)
d=$(model tok); sed -i 's/"prepend": "\xe2\x96\x81"/"prepend": "\xff"/' "$d/tokenizer.json"
expect_exit tok_prepend_not_utf8 2 'Prepend has no "prepend" UTF-8 string' "$BIN"/qz-eval "$d" "${EV[@]}"
d=$(model tok2); sed -i '0,/"content": "\xe2\x96\x81"/s//"content": "\xe2\x96"/' "$d/tokenizer.json"
expect_exit tok_replace_not_utf8 2 'Replace has no "content" UTF-8 string' "$BIN"/qz-eval "$d" "${EV[@]}"

# -- defect 9: NaN/Inf outside the decoder linears is bad input, and JSON never carries NaN
d=$(model nan_emb); poke "$d" model.embed_tokens.weight 0000c07f
expect_exit nan_embedding_eval 2 "tensor 'model.embed_tokens.weight': element 0 is nan" "$BIN"/qz-eval "$d" "${EV[@]}" --json
d=$(model nan_norm); poke "$d" model.layers.2.post_attention_layernorm.weight 0000807f
expect_exit inf_norm_prune 2 "post_attention_layernorm.weight': element 0 is inf" \
  "$BIN"/qz-prune "$d" "$TMP/nan_out" --method magnitude --sparsity 0.5 --quiet
expect_exit inf_norm_smooth 2 "post_attention_layernorm.weight': element 0 is inf" \
  "$BIN"/qz-smooth "$d" "$TMP/nan_out" --calib "$TXT" --nsamples 2 --seqlen 64 --quiet
[ ! -e "$TMP/nan_out" ] && pass nan_nothing_written || fail nan_nothing_written "output left"
# finite weights that overflow FP32 in the forward: a final norm of 3.4e38 makes the logits Inf
d=$(model big_norm); poke "$d" model.norm.weight ffff7f7f
expect_exit overflow_not_nan_json 2 "non-finite" "$BIN"/qz-eval "$d" "${EV[@]}" --json

# -- defect 13: quantization_config bits / group_size must be integers in range (4.7 read as 4, 1e20 as INT_MAX)
"$BIN"/qz-gptq "$M16" "$TMP/rtn" --method rtn --bits 4 --group-size 32 --quiet >/dev/null 2>&1
d=$(model q47 "$TMP/rtn"); cfg "$d" 's/"bits":[[:space:]]*4,/"bits": 4.7,/'
expect_exit qc_bits_fractional 2 "quantization_config.bits must be 2, 3, 4 or 8" "$BIN"/qz-eval "$d" --info
d=$(model q1e20 "$TMP/rtn"); cfg "$d" 's/"group_size":[[:space:]]*32,/"group_size": 1e20,/'
expect_exit qc_group_1e20 2 "quantization_config.group_size must be -1 or an integer in \[1, 1048576\]" "$BIN"/qz-eval "$d" "${EV[@]}"

# -- defect 3: ignore-list regexes are bounded (main ran this 24-character pattern for > 10 minutes)
d=$(model re1 "$TMP/rtn"); cfg "$d" 's/"quant_method":[[:space:]]*"gptq"/"quant_method": "gptq", "modules_to_not_convert": ["re:(x{1,1000}){1,1000}"]/'
timeout 20 "$BIN"/qz-eval "$d" --info >/dev/null 2>"$TMP/re1.err"; rc=$?
[ $rc -eq 0 ] || [ $rc -eq 2 ] && pass regex_nested_repeat_bounded || fail regex_nested_repeat_bounded "exit $rc: $(head -c 200 "$TMP/re1.err")"
d=$(model re2 "$TMP/rtn"); cfg "$d" 's/"quant_method":[[:space:]]*"gptq"/"quant_method": "gptq", "modules_to_not_convert": ["re:(.*)*(.*)*(.*)*(.*)*(.*)*(.*)*[^\\\\w.]"]/'
expect_exit regex_backtracking_limit 2 "exceeds the match limits" timeout 20 "$BIN"/qz-eval "$d" --info
long=$(printf 'a%.0s' $(seq 300))
d=$(model re3 "$TMP/rtn"); cfg "$d" "s/\"quant_method\":[[:space:]]*\"gptq\"/\"quant_method\": \"gptq\", \"ignore\": [\"re:$long\"]/"
expect_exit regex_length_limit 2 "300 bytes, more than the limit of 256" "$BIN"/qz-eval "$d" --info

# -- defect 7: output paths validated before any work; never the input or its ancestor
d=$(model anc); mkdir -p "$TMP/parent"; mv "$d" "$TMP/parent/m"; cp -r "$TMP/parent/m" "$TMP/anc_ref"
expect_exit force_out_ancestor_of_in 2 "contains it" "$BIN"/qz-gptq "$TMP/parent/m" "$TMP/parent" --method rtn --group-size 32 --force --quiet
same_tree "$TMP/parent/m" "$TMP/anc_ref" && [ -z "$(ls -d "$TMP"/parent.qz-* 2>/dev/null)" ] && pass force_ancestor_input_intact ||
  fail force_ancestor_input_intact "input moved or changed"
echo "not a directory" >"$TMP/plain"
# the calibration text is too short for the windows: main did that work first and failed on it
expect_exit force_out_plain_file_first 2 "exists and is not a directory" \
  "$BIN"/qz-gptq "$M16" "$TMP/plain" --calib "$TXT" --nsamples 100000 --seqlen 64 --group-size 32 --force --quiet
[ "$(cat "$TMP/plain")" = "not a directory" ] && pass force_plain_file_untouched || fail force_plain_file_untouched "file changed"

# -- defect 8: stale temporaries of killed runs are reclaimed, with a note on stderr
pid=$(dead_pid)
mkdir "$TMP/st.qz-tmp-$pid"; echo x >"$TMP/st.qz-tmp-$pid/model.safetensors"
mkdir "$TMP/st.qz-tmp-1"  # pid 1 is alive: never touched
"$BIN"/qz-gptq "$M16" "$TMP/st" --method rtn --group-size 32 --quiet >/dev/null 2>"$TMP/st.err"
[ ! -e "$TMP/st.qz-tmp-$pid" ] && grep -q "qz-gptq: note: removed $TMP/st.qz-tmp-$pid, left by a killed run" "$TMP/st.err" &&
  [ -d "$TMP/st.qz-tmp-1" ] && [ -f "$TMP/st/config.json" ] && pass stale_tmp_reclaimed ||
  fail stale_tmp_reclaimed "$(ls -d "$TMP"/st* | tr '\n' ' ') $(head -c 300 "$TMP/st.err")"
mkdir "$TMP/st.qz-old-$pid"  # OUT exists: a stale old copy is garbage
"$BIN"/qz-gptq "$M16" "$TMP/st" --method rtn --group-size 32 --force --quiet >/dev/null 2>"$TMP/st.err"
[ ! -e "$TMP/st.qz-old-$pid" ] && grep -q "note: removed $TMP/st.qz-old-$pid" "$TMP/st.err" && pass stale_old_reclaimed ||
  fail stale_old_reclaimed "$(head -c 300 "$TMP/st.err")"

# -- defect 14: every file of the artifact and both directories are fsynced
if command -v strace >/dev/null 2>&1; then
  strace -f -y -e trace=fsync,fdatasync -o "$TMP/sync.log" "$BIN"/qz-gptq "$M16" "$TMP/sync" --method rtn --group-size 32 --quiet >/dev/null 2>&1
  missing=""
  for f in model.safetensors config.json quantize_config.json tokenizer.json tokenizer_config.json qz-log.jsonl; do
    grep -q "fsync([0-9]*<$TMP/sync.qz-tmp-[0-9]*/$f" "$TMP/sync.log" || missing="$missing $f"
  done
  grep -q "fsync([0-9]*<$TMP/sync.qz-tmp-[0-9]*>" "$TMP/sync.log" || missing="$missing tmp-dir"
  grep -q "fsync([0-9]*<$TMP>" "$TMP/sync.log" || missing="$missing parent-dir"
  [ -z "$missing" ] && pass artifact_fsync_all || fail artifact_fsync_all "not fsynced:$missing"
else
  skip artifact_fsync_all "strace not installed"
fi
