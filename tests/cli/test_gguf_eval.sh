#!/usr/bin/env bash
# qz-eval on the shared SmolLM2 GGUF (dequantized as read, tokenizer from
# its metadata) against the independent float64 reference
# scripts/ref_ppl_gguf.py (tests/fixtures/ppl_reference_gguf.txt): token
# count exact, mean NLL to 1e-4 relative, on a few windows of each text's
# held-out half (scripts/split.sh); and --score second-half against
# llama.cpp's own llama-perplexity (tests/fixtures/ppl_llama_cpp.txt), ppl
# to 1e-4 relative (llama prints 4 decimals; ggml and OpenBLAS sum in other
# orders). SKIPs loudly without the shared GGUF.
source "$(dirname "$0")/lib.sh"
source scripts/split.sh
ref=tests/fixtures/ppl_reference_gguf.txt

while read -r model text half seqlen maxw tokens scored nll; do
  case $model in \#*|"") continue ;; esac
  name="eval_gguf_${model%%-*}_${text%%.*}_$half"
  if ! ls "$SHARED/models/$model"/*.gguf >/dev/null 2>&1 || [ ! -f "$SHARED/data/$text" ]; then
    skip "$name" "SHARED GGUF $SHARED/models/$model or $SHARED/data/$text ABSENT: GGUF perplexity is UNTESTED"; continue
  fi
  split_half "$SHARED/data/$text" "$TMP/calib" "$TMP/heldout"
  if ! "$BIN"/qz-eval "$SHARED/models/$model" --text "$TMP/$half" --seqlen "$seqlen" --max-windows "$maxw" --json \
       >"$TMP/j" 2>"$TMP/e"; then
    fail "$name" "exit $?: $(head -c 300 "$TMP/e")"; continue
  fi
  got_nll=$(json_num "$TMP/j" mean_nll); got_sc=$(json_num "$TMP/j" scored_tokens); got_tok=$(json_num "$TMP/j" tokens)
  if [ "$got_sc" = "$scored" ] && [ "$got_tok" = "$tokens" ] && close_rel "$got_nll" "$nll" 1e-4; then pass "$name"
  else fail "$name" "tokens $got_tok scored $got_sc nll $got_nll; want $tokens $scored $nll"; fi
done <"$ref"

while read -r model text ctx chunks scored ppl; do
  case $model in \#*|"") continue ;; esac
  name="eval_gguf_${model%%-*}_${text%%.*}_llama_second_half"
  if ! ls "$SHARED/models/$model"/*.gguf >/dev/null 2>&1 || [ ! -f "$SHARED/data/$text" ]; then
    skip "$name" "SHARED GGUF $SHARED/models/$model or $SHARED/data/$text ABSENT: llama.cpp parity is UNTESTED"; continue
  fi
  if ! "$BIN"/qz-eval "$SHARED/models/$model" --text "$SHARED/data/$text" --seqlen "$ctx" --max-windows "$chunks" \
       --score second-half --json >"$TMP/j" 2>"$TMP/e"; then
    fail "$name" "exit $?: $(head -c 300 "$TMP/e")"; continue
  fi
  got_ppl=$(json_num "$TMP/j" ppl); got_sc=$(json_num "$TMP/j" scored_tokens)
  if [ "$got_sc" = "$scored" ] && grep -q '"score":"second-half"' "$TMP/j" && close_rel "$got_ppl" "$ppl" 1e-4; then pass "$name"
  else fail "$name" "scored $got_sc ppl $got_ppl; want $scored $ppl (llama-perplexity)"; fi
done <tests/fixtures/ppl_llama_cpp.txt
