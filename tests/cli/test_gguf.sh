#!/usr/bin/env bash
# GGUF input through the tools: crafted bad files (exit 2, one error line),
# the directory forms, qz-eval --info on the shared SmolLM2 GGUF (ggml types,
# bits per weight by formula), and the shared stories260K GGUF against its
# Hugging Face twin: the same perplexity from qz-eval, and the same after
# qz-gptq --method rtn (which also proves export writes a loadable HF dir).
. "$(dirname "$0")/lib.sh"

# le32 N / le64 N: N as little-endian bytes (printf escapes).
le32() { printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"; }
le64() { le32 $(($1 & 0xffffffff)); le32 $(($1 >> 32 & 0xffffffff)); }
header() { printf 'GGUF'; le32 "$1"; le64 "$2"; le64 "$3"; } # version n_tensors n_kv

{ printf 'GGUX'; le32 3; le64 0; le64 0; } >"$TMP/magic.gguf"
expect_exit gguf_bad_magic 2 "magic.gguf: not a GGUF file" "$BIN"/qz-eval "$TMP/magic.gguf" --info
{ header 4 0 0; } >"$TMP/v4.gguf"
expect_exit gguf_bad_version 2 "GGUF version 4 is not supported (supported: 2, 3)" "$BIN"/qz-eval "$TMP/v4.gguf" --info
{ header 3 0 1152921504606846976; } >"$TMP/nkv.gguf"
expect_exit gguf_huge_nkv 2 "n_kv: 1152921504606846976 key/value pairs cannot fit" "$BIN"/qz-eval "$TMP/nkv.gguf" --info
{ header 3 0 1; le64 4611686018427387904; le64 0; le64 0; } >"$TMP/key.gguf"
expect_exit gguf_huge_key 2 "string length 4611686018427387904 at offset 24 runs past the end" "$BIN"/qz-eval "$TMP/key.gguf" --info
{ header 3 0 1; le64 1; printf 'k'; le32 9; le32 9; le64 1; } >"$TMP/nested.gguf"
expect_exit gguf_nested_array 2 "key 'k': array element type 9" "$BIN"/qz-eval "$TMP/nested.gguf" --info
{ header 3 0 0; } >"$TMP/noarch.gguf"
expect_exit gguf_no_arch 2 "required key 'general.architecture' is missing" "$BIN"/qz-gptq "$TMP/noarch.gguf" "$TMP/o1" --method rtn
[ ! -e "$TMP/o1" ] && pass gguf_no_partial_output || fail gguf_no_partial_output "$TMP/o1 exists"
mkdir "$TMP/empty"
expect_exit gguf_empty_dir 2 "no .gguf file there: qz reads a Hugging Face directory (config.json + model.safetensors) or a GGUF file" \
  "$BIN"/qz-eval "$TMP/empty" --info
mkdir "$TMP/two"; cp "$TMP/v4.gguf" "$TMP/two/a.gguf"; cp "$TMP/v4.gguf" "$TMP/two/b.gguf"
expect_exit gguf_two_files 2 "2 .gguf files: name the .gguf file" "$BIN"/qz-eval "$TMP/two" --info

G=$SHARED/models/stories260K-llama2c/stories260K.gguf
if [ ! -f "$G" ]; then skip gguf_stories "$G not found (set SHARED)"; else
  expect_exit gguf_llama2c_bin 2 "stories260K.bin: not a GGUF file" "$BIN"/qz-eval "$SHARED/models/stories260K-llama2c/stories260K.bin" --info
  head -c 100000 "$G" >"$TMP/trunc.gguf"
  expect_exit gguf_truncated 2 "lie outside its" "$BIN"/qz-eval "$TMP/trunc.gguf" --info
  # general.architecture is the first key: overwrite its value "llama"
  cp "$G" "$TMP/arch.gguf"; chmod u+w "$TMP/arch.gguf"
  off=$(grep -obUa 'general.architecture' "$TMP/arch.gguf" | head -1 | cut -d: -f1)
  printf 'qwen2' | dd of="$TMP/arch.gguf" bs=1 seek=$((off + 20 + 4 + 8)) conv=notrunc status=none
  expect_exit gguf_arch 2 "general.architecture 'qwen2' is not supported (supported: llama)" "$BIN"/qz-eval "$TMP/arch.gguf" --info

  # The GGUF beside the HF tokenizer: same perplexity as the HF directory, to the printed digit.
  mkdir "$TMP/sg"; ln -s "$(cd "$(dirname "$G")" && pwd)/$(basename "$G")" "$TMP/sg/stories260K.gguf"
  cp "$SHARED"/models/stories260K/tokenizer*.json "$TMP/sg/"
  E=(--text "$SHARED/data/tinystories-valid.txt" --seqlen 256 --max-windows 4 --json)
  "$BIN"/qz-eval "$SHARED/models/stories260K" "${E[@]}" >"$TMP/hf.json" 2>"$TMP/err"
  "$BIN"/qz-eval "$TMP/sg" "${E[@]}" >"$TMP/gg.json" 2>>"$TMP/err"
  a=$(json_num "$TMP/hf.json" mean_nll); b=$(json_num "$TMP/gg.json" mean_nll)
  [ -n "$a" ] && [ "$a" = "$b" ] && pass gguf_stories_ppl_equals_hf || fail gguf_stories_ppl_equals_hf "HF $a GGUF $b: $(head -c 300 "$TMP/err")"

  # RTN from the GGUF and from the HF directory: the same quantized model.
  "$BIN"/qz-gptq "$G" "$TMP/rg" --method rtn --group-size 32 --quiet 2>"$TMP/err" &&
    "$BIN"/qz-gptq "$SHARED/models/stories260K" "$TMP/rh" --method rtn --group-size 32 --quiet 2>>"$TMP/err"
  cp "$SHARED"/models/stories260K/tokenizer*.json "$TMP/rg/" 2>/dev/null
  "$BIN"/qz-eval "$TMP/rg" "${E[@]}" >"$TMP/rg.json" 2>>"$TMP/err"
  "$BIN"/qz-eval "$TMP/rh" "${E[@]}" >"$TMP/rh.json" 2>>"$TMP/err"
  a=$(json_num "$TMP/rh.json" mean_nll); b=$(json_num "$TMP/rg.json" mean_nll)
  [ -n "$a" ] && [ "$a" = "$b" ] && pass gguf_stories_rtn_equals_hf || fail gguf_stories_rtn_equals_hf "HF $a GGUF $b: $(head -c 300 "$TMP/err")"
  grep -q '"rms_norm_eps":[[:space:]]*1e-05' "$TMP/rg/config.json" && grep -q '"model_type":[[:space:]]*"llama"' "$TMP/rg/config.json" &&
    pass gguf_export_config || fail gguf_export_config "$(cat "$TMP/rg/config.json")"
fi

S=$SHARED/models/smollm2-135m-instruct-q4_1
if [ ! -d "$S" ]; then skip gguf_smollm "$S not found (set SHARED): the real-size GGUF checks did not run"; exit 0; fi
if "$BIN"/qz-eval "$S" --info --json >"$TMP/info.json" 2>"$TMP/err"; then
  # Q4_1 stores 32 weights in 20 bytes: 5 bits per weight exactly; 30 layers x 7 linears.
  if grep -q '"format":"gguf"' "$TMP/info.json" && [ "$(json_num "$TMP/info.json" bpw_decoder)" = 5 ] &&
     grep -q '"type":"Q4_1","tensors":210,' "$TMP/info.json" && grep -q '"type":"Q8_0","tensors":1,' "$TMP/info.json" &&
     [ "$(grep -o '"stored_type":"Q4_1"' "$TMP/info.json" | wc -l)" -eq 7 ] && grep -q '"fp_modules":\[\]' "$TMP/info.json"; then
    pass gguf_smollm_info
  else fail gguf_smollm_info "$(head -c 600 "$TMP/info.json")"; fi
else fail gguf_smollm_info "exit $?: $(cat "$TMP/err")"; fi
"$BIN"/qz-eval "$S/SmolLM2-135M-Instruct.Q4_1.gguf" --info >"$TMP/info.txt" 2>&1 &&
  grep -q 'mlp.down_proj       576 x 1536  ggml     Q4_1' "$TMP/info.txt" && grep -q 'tied embeddings' "$TMP/info.txt" &&
  pass gguf_smollm_info_text || fail gguf_smollm_info_text "$(head -c 600 "$TMP/info.txt")"

# RTN on the real model writes an HF GPTQ directory qz reads back.
if "$BIN"/qz-gptq "$S" "$TMP/sr" --method rtn --group-size 64 --quiet 2>"$TMP/err" &&
   "$BIN"/qz-eval "$TMP/sr" --info --json >"$TMP/sr.json" 2>>"$TMP/err" && grep -q '"format":"gptq"' "$TMP/sr.json" &&
   grep -q '"num_key_value_heads":[[:space:]]*3' "$TMP/sr/config.json" && grep -q '"tie_word_embeddings":[[:space:]]*true' "$TMP/sr/config.json"; then
  pass gguf_smollm_rtn
else fail gguf_smollm_rtn "$(head -c 400 "$TMP/err")"; fi
if [ -f "$TMP/sr/tokenizer.json" ]; then
  "$BIN"/qz-eval "$TMP/sr" --text "$SHARED/data/wikitext2-test.txt" --seqlen 256 --max-windows 2 --json >"$TMP/sr-ppl.json" 2>"$TMP/err"
  p=$(json_num "$TMP/sr-ppl.json" ppl)
  [ -n "$p" ] && awk -v p="$p" 'BEGIN { exit !(p > 1 && p < 200) }' && pass gguf_smollm_rtn_eval || fail gguf_smollm_rtn_eval "ppl '$p': $(head -c 300 "$TMP/err")"
else
  skip gguf_smollm_rtn_eval "the export wrote no tokenizer.json (GGUF tokenizer export is branch gguf-tok's)"
fi
