#!/usr/bin/env bash
# qz-eval --tokenize on the shared GGUF models (tokenizer from GGUF metadata,
# formats/gguf_tokenizer.c) against ids from Hugging Face `tokenizers`
# (tests/fixtures/tokenizer/gguf/*.txt, scripts/gen_gguf_tokenizer_fixture.py):
# hard non-ASCII cases exactly, slices of the shared texts exactly, each
# whole text by count and MD5. Also --tokenize on a tokenizer.json
# directory, --json, the tokenizer files written from a GGUF, bad metadata.
source "$(dirname "$0")/lib.sh"
FIX=tests/fixtures/tokenizer/gguf

# check_fixture NAME MODEL FIXTURE: every case of FIXTURE through MODEL.
check_fixture() {
  local name=$1 model=$2 fx=$3 n=0 bad=0 kind a b c d
  while IFS=$'\t' read -r kind a b c d; do
    case $kind in
      text) printf '%b' "$(printf '%s' "$a" | sed 's/../\\x&/g')" >"$TMP/case"; want=$b ;;
      slice) tail -c +$((b + 1)) "$SHARED/$a" | head -c "$c" >"$TMP/case"; want=$d ;;
      whole) cp "$SHARED/$a" "$TMP/case"; want="$b $c" ;;
      *) continue ;;
    esac
    n=$((n + 1))
    if ! "$BIN"/qz-eval "$model" --tokenize "$TMP/case" >"$TMP/ids" 2>"$TMP/err"; then
      fail "$name" "case $n ($kind): $(head -c 300 "$TMP/err")"; return
    fi
    if [ "$kind" = whole ]; then got="$(wc -l <"$TMP/ids") $(md5sum <"$TMP/ids" | cut -d' ' -f1)"
    else got=$(tr '\n' ' ' <"$TMP/ids" | sed 's/ $//'); fi
    if [ "$got" != "$want" ]; then
      bad=$((bad + 1))
      [ $bad -le 3 ] && echo "  case $n ($kind ${a:0:40}): want '${want:0:200}' got '${got:0:200}'"
    fi
  done <"$fx"
  if [ $bad -eq 0 ] && [ $n -gt 0 ]; then pass "$name ($n cases)"; else fail "$name" "$bad of $n cases differ"; fi
}

SMOL_DIR="$SHARED/models/smollm2-135m-instruct-q4_1"
SMOL=$(ls "$SMOL_DIR"/*.gguf 2>/dev/null | head -1)
STORIES="$SHARED/models/stories260K-llama2c/stories260K.gguf"

if [ -n "$SMOL" ] && [ -d "$SHARED/data" ]; then
  check_fixture gguf_tokenize_smollm2 "$SMOL" $FIX/smollm2.txt
  # a directory holding one GGUF is the same model; --json carries the same ids
  IFS=$'\t' read -r _ hex want < <(grep -A1 '^# specials$' $FIX/smollm2.txt | tail -1)
  printf '%b' "$(printf '%s' "$hex" | sed 's/../\\x&/g')" >"$TMP/t.txt"
  n=$(echo "$want" | wc -w)
  if "$BIN"/qz-eval "$SMOL_DIR" --tokenize "$TMP/t.txt" --json >"$TMP/j" 2>"$TMP/err" &&
     grep -qF "\"n_tokens\":$n,\"ids\":[${want// /,}]}" "$TMP/j"; then pass gguf_tokenize_dir_json
  else fail gguf_tokenize_dir_json "$(cat "$TMP/j" "$TMP/err" | head -c 300)"; fi
else
  skip gguf_tokenize_smollm2 "SHARED GGUF $SMOL_DIR/*.gguf or $SHARED/data ABSENT: the real-model tokenizer is UNTESTED"
fi

if [ -f "$STORIES" ] && [ -d "$SHARED/data" ]; then
  check_fixture gguf_tokenize_stories260K "$STORIES" $FIX/stories260K.txt
  # the same fixture through the Hugging Face directory's tokenizer.json
  check_fixture hf_tokenize_stories260K "$SHARED/models/stories260K" $FIX/stories260K.txt
  # a tool's output from the GGUF carries tokenizer files written from its metadata
  if "$BIN"/qz-prune "$STORIES" "$TMP/pruned" --method magnitude --quiet 2>"$TMP/err" &&
     [ -s "$TMP/pruned/tokenizer.json" ] && [ -s "$TMP/pruned/tokenizer_config.json" ] &&
     grep -q '"add_bos_token":[[:space:]]*true' "$TMP/pruned/tokenizer_config.json"; then
    check_fixture gguf_export_tokenizer_stories260K "$TMP/pruned" $FIX/stories260K.txt
  else fail gguf_export_tokenizer_stories260K "$(head -c 300 "$TMP/err")"; fi
else
  skip gguf_tokenize_stories260K "$STORIES ABSENT: the SentencePiece GGUF tokenizer is UNTESTED"
fi

# --tokenize misuse and a GGUF whose tokenizer qz does not support
printf 'x' >"$TMP/t.txt"
expect_exit tokenize_with_text 2 "excludes" "$BIN"/qz-eval "$SHARED/models/stories260K" --tokenize "$TMP/t.txt" --text "$TMP/t.txt"
mkdir "$TMP/empty"
expect_exit tokenize_no_model 2 "config.json: cannot open, and no .gguf file there" "$BIN"/qz-eval "$TMP/empty" --tokenize "$TMP/t.txt"
touch "$TMP/empty/config.json"
expect_exit tokenize_no_tokenizer 2 "tokenizer.json" "$BIN"/qz-eval "$TMP/empty" --tokenize "$TMP/t.txt"
# GGUF files (tests/fixtures) whose tokenizer qz does not support: exit 2, naming the value and what is supported
expect_exit gguf_tokenizer_bad_model 2 'tokenizer.ggml.model "bert" is not supported (supported: gpt2, llama)' \
  "$BIN"/qz-eval $FIX/bad_model.gguf --tokenize "$TMP/t.txt"
expect_exit gguf_tokenizer_bad_pre 2 'tokenizer.ggml.pre "deepseek-llm" is not supported (supported: gpt2, smollm' \
  "$BIN"/qz-eval $FIX/bad_pre.gguf --tokenize "$TMP/t.txt"
