#!/usr/bin/env bash
# qz's GGUF output against llama.cpp's own quantizer, on the shared SmolLM2
# GGUF (docs/gguf-out.md "llama-check"). Quantizes the model with
# llama-quantize (Q4_0, Q4_K_M; with and without an imatrix from the
# calibration half) and with qz (RTN, GPTQ, AWQ, AWQ then GPTQ onto the same types),
# evaluates every file with llama-perplexity AND qz-eval on the same held-out
# half, and prints one table: file size, bits per weight, llama.cpp's ppl,
# qz-eval's ppl, and the KL divergence from the base by both. Every qz file
# going through llama-perplexity is also the proof that llama.cpp loads it.
#
# usage: scripts/llama-check.sh [OUT_DIR]      (default: a fresh /tmp/qz-llama-check.XXXXXX)
# env:   LLAMA_BIN   directory with llama-perplexity, llama-quantize, llama-imatrix
#                    (default: $QZ_LLAMA_DIR/build-*/bin; when absent, scripts/build-llama.sh
#                    builds them from the llama-cpp-python sdist when the script exists)
#        QZ_LLAMA_DIR (default $HOME/.cache/qz-llama)
#        SHARED (../shared), BUILD (build)
#        TEXT        text to split in halves near its middle line (default WikiText-2 test)
#        CTX         context of both evaluators and of calibration windows (default 512)
#        CHUNKS      evaluation chunks (default 40; 0 = the whole held-out half)
#        NSAMPLES    qz calibration windows of CTX tokens (default 64); llama-imatrix uses
#                    as many chunks of CTX
#        THREADS     threads for llama.cpp (default: nproc)
#        GPTQ_FLAGS  extra qz-gptq flags (default --act-order)
#        TYPES       the types compared (default "Q4_0 Q4_K_M")
#        METHODS     the qz methods (default "rtn gptq awq awq-gptq"; awq-gptq: qz-awq
#                    --scale-only on the GGUF grid, then qz-gptq onto it)
#        QZ_MAP      --gguf-type-map for qz (default '^token_embd\.weight$=Q6_K': with tied
#                    embeddings llama-quantize gives token_embd output's Q6_K, which
#                    SmolLM2's 576 columns turn into Q8_0; without it qz would keep F16
#                    embeddings and the files would not be the same size)
# Existing outputs in OUT_DIR are reused (rerun into the same OUT_DIR to resume).
# Protocols (FORMATS-AND-ALGORITHMS.md 6c): llama-perplexity puts BOS over each
# chunk's first token and scores the second half of every chunk; qz-eval
# (--seqlen CTX) scores every token after the first of each window. The two
# perplexities are therefore different numbers; what must agree is each
# file's ppl ratio to the base under either evaluator (columns ratio_llama,
# ratio_qz).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
BUILD=${BUILD:-build}
BIN=$BUILD/bin
CTX=${CTX:-512}
CHUNKS=${CHUNKS:-40}
NSAMPLES=${NSAMPLES:-64}
THREADS=${THREADS:-$(nproc)}
TEXT=${TEXT:-$SHARED/data/wikitext2-test.txt}
MODEL=$SHARED/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf
GPTQ_FLAGS=${GPTQ_FLAGS---act-order}
default_map='^token_embd\.weight$=Q6_K'
QZ_MAP=${QZ_MAP-$default_map}
OUT=${1:-$(mktemp -d /tmp/qz-llama-check.XXXXXX)}
mkdir -p "$OUT"

die() { echo "llama-check: error: $*" >&2; exit 2; }
[ -f "$MODEL" ] || die "$MODEL not found (set SHARED)"
[ -f "$TEXT" ] || die "$TEXT not found"
for t in qz-gptq qz-awq qz-eval; do [ -x "$BIN/$t" ] || die "$BIN/$t not built (run make)"; done

llama_dir=${QZ_LLAMA_DIR:-$HOME/.cache/qz-llama}
if [ -z "${LLAMA_BIN:-}" ]; then
  for d in "$llama_dir"/build-*/bin; do [ -x "$d/llama-perplexity" ] && LLAMA_BIN=$d; done
fi
if [ -z "${LLAMA_BIN:-}" ] && [ -f scripts/build-llama.sh ]; then LLAMA_BIN=$(bash scripts/build-llama.sh | tail -1); fi
[ -n "${LLAMA_BIN:-}" ] || die "no llama.cpp binaries: set LLAMA_BIN, or build them with scripts/build-llama.sh (branch blas-core)"
for t in llama-perplexity llama-quantize llama-imatrix; do [ -x "$LLAMA_BIN/$t" ] || die "$LLAMA_BIN/$t missing"; done

# calibration / held-out halves: cut at the first blank line at or after the
# middle line, or at the middle line when there is none (WikiText-2's shared
# copy has no blank lines)
mid=$(( $(wc -l <"$TEXT") / 2 ))
cut=$(awk -v m="$mid" 'NF == 0 && NR >= m { print NR; exit }' "$TEXT")
cut=${cut:-$mid}
head -n "$cut" "$TEXT" >"$OUT/calib.txt"
tail -n +"$((cut + 1))" "$TEXT" >"$OUT/eval.txt"
chunks=(); [ "$CHUNKS" -gt 0 ] && chunks=(--chunks "$CHUNKS")
qz_windows=(); [ "$CHUNKS" -gt 0 ] && qz_windows=(--max-windows "$CHUNKS")
log() { echo "llama-check: $*" >&2; }

# The base: the shared model dequantized, every tensor F32 (what qz-eval sees
# when it reads the Q4_1 file), as llama-quantize's input and the KL reference.
base=$OUT/base
[ -f "$base/model.gguf" ] || "$BIN"/qz-gptq "$MODEL" "$base" --method rtn --format gguf --gguf-type F32 \
  --gguf-type-map '^token_embd=F32' --quiet
B=$base/model.gguf

log "imatrix from the calibration half ($NSAMPLES chunks of $CTX)"
[ -f "$OUT/imatrix.dat" ] || "$LLAMA_BIN"/llama-imatrix -m "$B" -f "$OUT/calib.txt" -o "$OUT/imatrix.dat" -c "$CTX" \
  --chunks "$NSAMPLES" -t "$THREADS" >"$OUT/imatrix.log" 2>&1

files=()
for T in ${TYPES:-Q4_0 Q4_K_M}; do
  log "llama-quantize $T"
  [ -f "$OUT/llama-$T.gguf" ] || "$LLAMA_BIN"/llama-quantize "$B" "$OUT/llama-$T.gguf" "$T" "$THREADS" >"$OUT/q-$T.log" 2>&1
  [ -f "$OUT/llama-$T-imatrix.gguf" ] || "$LLAMA_BIN"/llama-quantize --imatrix "$OUT/imatrix.dat" "$B" "$OUT/llama-$T-imatrix.gguf" "$T" \
    "$THREADS" >"$OUT/qi-$T.log" 2>&1
  files+=("$OUT/llama-$T.gguf" "$OUT/llama-$T-imatrix.gguf")
  cal=(--calib "$OUT/calib.txt" --nsamples "$NSAMPLES" --seqlen "$CTX")
  for meth in ${METHODS:-rtn gptq awq awq-gptq}; do
    log "qz $meth $T"
    d=$OUT/qz-$meth-$T
    case $meth in
    rtn) [ -d "$d" ] || "$BIN"/qz-gptq "$MODEL" "$d" --method rtn --format gguf --gguf-type "$T" --gguf-type-map "$QZ_MAP" --quiet ;;
    gptq) [ -d "$d" ] || "$BIN"/qz-gptq "$MODEL" "$d" --format gguf --gguf-type "$T" --gguf-type-map "$QZ_MAP" $GPTQ_FLAGS "${cal[@]}" --quiet ;;
    awq) [ -d "$d" ] || "$BIN"/qz-awq "$MODEL" "$d" --format gguf --gguf-type "$T" --gguf-type-map "$QZ_MAP" "${cal[@]}" --quiet ;;
    awq-gptq) # AWQ's scales and clips searched on the GGUF grid, then GPTQ's rounding onto it
      [ -d "$d.scaled" ] || "$BIN"/qz-awq "$MODEL" "$d.scaled" --format gguf --gguf-type "$T" --gguf-type-map "$QZ_MAP" --scale-only \
        "${cal[@]}" --quiet
      [ -d "$d" ] || "$BIN"/qz-gptq "$d.scaled" "$d" --format gguf --gguf-type "$T" --gguf-type-map "$QZ_MAP" $GPTQ_FLAGS "${cal[@]}" --quiet ;;
    *) die "METHODS: '$meth' is not rtn, gptq, awq or awq-gptq" ;;
    esac
    files+=("$d/model.gguf")
  done
done

log "llama-perplexity base (KL reference)"
"$LLAMA_BIN"/llama-perplexity -m "$B" -f "$OUT/eval.txt" -c "$CTX" "${chunks[@]}" -t "$THREADS" \
  --kl-divergence-base "$OUT/base.kld" >"$OUT/ppl-base.log" 2>&1
base_llama=$(sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p' "$OUT/ppl-base.log")
base_qz=$("$BIN"/qz-eval "$B" --text "$OUT/eval.txt" --seqlen "$CTX" "${qz_windows[@]}" --json 2>/dev/null |
  sed -n 's/.*"ppl":\([0-9.]*\).*/\1/p')

bpw() { "$BIN"/qz-eval "$1" --info 2>/dev/null | sed -n 's/^bits per weight, whole file: *\([0-9.]*\).*/\1/p'; }
row() { # name file llama_ppl llama_kld qz_ppl qz_kld
  awk -v n="$1" -v s="$(stat -L -c %s "$2")" -v b="$(bpw "$2")" -v lp="$3" -v lk="$4" -v qp="$5" -v qk="$6" \
    -v bl="$base_llama" -v bq="$base_qz" 'BEGIN {
      printf "%-22s %8.2f %7s %10s %10s %9s %10s %10s %9s\n", n, s / 1048576, b, lp, qp, lk, qk,
             (bl > 0 && lp > 0) ? sprintf("%.4f", lp / bl) : "-", (bq > 0 && qp > 0) ? sprintf("%.4f", qp / bq) : "-" }'
}
{
  echo "# llama-check $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), ctx $CTX, chunks ${CHUNKS}, calibration $NSAMPLES x $CTX"
  printf "%-22s %8s %7s %10s %10s %9s %10s %10s %9s\n" file MiB bpw ppl_llama ppl_qz kl_llama kl_qz ratio_llama ratio_qz
  row base "$B" "$base_llama" 0 "$base_qz" 0
  for f in "${files[@]}"; do
    name=$(basename "$(dirname "$f")"); [ "$name" = "$(basename "$OUT")" ] && name=$(basename "$f" .gguf)
    "$LLAMA_BIN"/llama-perplexity -m "$f" -f "$OUT/eval.txt" -c "$CTX" "${chunks[@]}" -t "$THREADS" \
      --kl-divergence-base "$OUT/base.kld" --kl-divergence >"$OUT/ppl-$name.log" 2>&1 || { row "$name (llama.cpp failed)" "$f" - - - -; continue; }
    lp=$(sed -n 's/^Mean PPL(Q) *: *\([0-9.]*\).*/\1/p' "$OUT/ppl-$name.log")
    lk=$(sed -n 's/^Mean *KLD: *\([0-9.]*\).*/\1/p' "$OUT/ppl-$name.log")
    "$BIN"/qz-eval "$f" --text "$OUT/eval.txt" --seqlen "$CTX" "${qz_windows[@]}" --base "$B" --json >"$OUT/qz-$name.json" 2>/dev/null
    qp=$(sed -n 's/.*"ppl":\([0-9.]*\).*/\1/p' "$OUT/qz-$name.json")
    qk=$(sed -n 's/.*"kld_mean":\([0-9.e-]*\).*/\1/p' "$OUT/qz-$name.json")
    row "$name" "$f" "${lp:--}" "${lk:--}" "${qp:--}" "${qk:--}"
  done
} | tee "$OUT/table.txt"
log "table in $OUT/table.txt"
