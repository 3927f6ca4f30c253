#!/usr/bin/env bash
# qz-eval end to end: perplexities of the shared model against the float64
# references in tests/fixtures/ppl_reference.txt (scripts/ref_ppl.py), the
# JSON schema, and every class of bad input (exit 2, one clear line, no stdout).
. "$(dirname "$0")/lib.sh"

"$BIN"/qz-eval --help >"$TMP/help" 2>&1 && grep -q -- '--max-windows' "$TMP/help" && pass eval_help || fail eval_help "no usage"
"$BIN"/qz-eval --version | grep -q 'qz-eval' && pass eval_version || fail eval_version "no version"
expect_exit eval_no_args 2 "expected exactly one MODEL_DIR" "$BIN"/qz-eval
expect_exit eval_bad_flag 2 "try 'qz-eval --help'" "$BIN"/qz-eval x --bogus
expect_exit eval_bad_seqlen 2 "expected an integer" "$BIN"/qz-eval x --text y --seqlen 1x
expect_exit eval_missing_dir 2 "not a model directory" "$BIN"/qz-eval "$TMP/nope" --text /dev/null
expect_exit eval_bad_score 2 "--score 'half': expected all or second-half" "$BIN"/qz-eval x --text y --score half
expect_exit eval_score_with_base 2 "--score second-half is for the CPU perplexity of one model" \
  "$BIN"/qz-eval x --text y --score second-half --base z

if ! have_shared; then skip eval_reference "$SHARED not found"; exit 0; fi
ref=tests/fixtures/ppl_reference.txt
while read -r model text seqlen maxw tokens scored nll; do
  case $model in \#*|"") continue ;; esac
  name="eval_${model}_${text%%.*}"
  if ! "$BIN"/qz-eval "$SHARED/models/$model" --text "$SHARED/data/$text" --seqlen "$seqlen" --max-windows "$maxw" --json >"$TMP/j" 2>"$TMP/e"; then
    fail "$name" "exit $?: $(cat "$TMP/e")"; continue
  fi
  got_nll=$(json_num "$TMP/j" mean_nll); got_sc=$(json_num "$TMP/j" scored_tokens); got_tok=$(json_num "$TMP/j" tokens)
  if [ "$got_sc" = "$scored" ] && [ "$got_tok" = "$tokens" ] && close_rel "$got_nll" "$nll" 1e-4; then
    pass "$name"
  else
    fail "$name" "tokens $got_tok scored $got_sc nll $got_nll; want $tokens $scored $nll"
  fi
done <"$ref"

# The JSON object carries every documented field, and nothing else is on stdout.
fields="model text tokens seqlen windows scored_tokens mean_nll ppl seconds tokens_per_second"
ok=1
for f in $fields; do grep -q "\"$f\":" "$TMP/j" || ok=0; done
[ "$(wc -l <"$TMP/j")" -eq 1 ] || ok=0
[ $ok -eq 1 ] && pass eval_json_schema || fail eval_json_schema "$(cat "$TMP/j")"

# ---- bad inputs: each exits 2 with one line naming the problem
M=$SHARED/models/stories260K
T=$SHARED/data/tinystories-valid.txt
mk() { rm -rf "$TMP/m"; mkdir "$TMP/m"; cp "$M"/* "$TMP/m/"; chmod -R u+w "$TMP/m"; }
mk; truncate -s 600000 "$TMP/m/model.safetensors"
expect_exit eval_truncated 2 "outside the data region" "$BIN"/qz-eval "$TMP/m" --text "$T" --max-windows 1
mk; printf '\377\377\377\377\377\377\000\000' | dd of="$TMP/m/model.safetensors" conv=notrunc status=none
expect_exit eval_header_past_end 2 "past the end" "$BIN"/qz-eval "$TMP/m" --text "$T" --max-windows 1
mk; sed -i 's/"F32"/"X32"/' "$TMP/m/model.safetensors"
expect_exit eval_unknown_dtype 2 "unknown dtype 'X32'" "$BIN"/qz-eval "$TMP/m" --text "$T" --max-windows 1
mk; sed -i 's/"shape":\[512,64\]/"shape":\[512,32\]/' "$TMP/m/model.safetensors"
expect_exit eval_shape_span 2 "data_offsets span" "$BIN"/qz-eval "$TMP/m" --text "$T" --max-windows 1
mk; sed -i 's/"data_offsets":\[0,131072\]/"data_offsets":\[8,131072\]/' "$TMP/m/model.safetensors"
expect_exit eval_offsets 2 "data_offsets span\|overlaps" "$BIN"/qz-eval "$TMP/m" --text "$T" --max-windows 1
mk; sed -i 's/model.norm.weight/model.norm.wXight/' "$TMP/m/model.safetensors"
expect_exit eval_missing_tensor 2 "'model.norm.weight' not found" "$BIN"/qz-eval "$TMP/m" --text "$T" --max-windows 1
mk; rm "$TMP/m/config.json"
expect_exit eval_missing_config 2 "config.json: cannot open" "$BIN"/qz-eval "$TMP/m" --text "$T"
mk; echo '{"model_type": "llama", ' >"$TMP/m/config.json"
expect_exit eval_malformed_config 2 "config.json: not valid JSON" "$BIN"/qz-eval "$TMP/m" --text "$T"
mk; sed -i 's/"llama"/"gpt_neox"/' "$TMP/m/config.json"
expect_exit eval_unsupported_arch 2 "supported: llama, mistral, qwen2" "$BIN"/qz-eval "$TMP/m" --text "$T"
mk; sed -i 's/"type": *"BPE"/"type": "Unigram"/' "$TMP/m/tokenizer.json"
expect_exit eval_unsupported_tokenizer 2 "Unigram" "$BIN"/qz-eval "$TMP/m" --text "$T"
: >"$TMP/empty.txt"
expect_exit eval_empty_text 2 "empty" "$BIN"/qz-eval "$M" --text "$TMP/empty.txt"
printf 'Once upon a time \377\376 there' >"$TMP/bad.txt"
expect_exit eval_non_utf8 2 "UTF-8" "$BIN"/qz-eval "$M" --text "$TMP/bad.txt"
printf 'Once upon a time there was a cat.' >"$TMP/short.txt"
expect_exit eval_short_text 2 "fewer than one window" "$BIN"/qz-eval "$M" --text "$TMP/short.txt" --seqlen 512
expect_exit eval_missing_text 2 "cannot open" "$BIN"/qz-eval "$M" --text "$TMP/none.txt"
