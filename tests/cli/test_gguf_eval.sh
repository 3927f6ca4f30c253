#!/usr/bin/env bash
# qz-eval on the shared SmolLM2 GGUF (dequantized as read, tokenizer from
# its metadata) against the independent float64 reference
# scripts/ref_ppl_gguf.py (tests/fixtures/ppl_reference_gguf.txt): token
# count exact, mean NLL to 1e-4 relative, on a few windows of each text's
# held-out half (scripts/split.sh). SKIPs loudly without the shared GGUF.
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
