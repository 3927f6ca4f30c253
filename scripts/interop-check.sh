#!/usr/bin/env bash
# interop-check.sh - proves that the Python loaders people use load what qz
# writes and compute the model qz-eval measured (issue 14; docs/interop.md).
#
#   scripts/interop-check.sh [--setup] [--vllm] [--no-real] [--windows N]
#
# Not part of `make test`: it needs a Python stack. It creates a virtualenv
# (outside the repo: $QZ_INTEROP_VENV, default ~/.cache/qz-interop), installs
# the pinned consumers from PyPI, makes one artifact of every layout and
# option qz writes from ../shared/models/stories260K-f16 (and the main
# layouts from the real-size SmolLM2-135M GGUF when it is present), loads
# each in every consumer that claims its format, computes the mean NLL with qz-eval's
# protocol in Python (scripts/interop_nll.py) and compares it with
# `qz-eval --json`. Exit 0 when every cell passes, 1 when one fails (the
# table names consumer, artifact and cause), 2 on bad usage.
#   --setup     only create/update the virtualenv, then exit
#   --vllm      also load every artifact in vLLM $VLLM_PIN, from its own
#               virtualenv ${QZ_INTEROP_VENV}-vllm (vLLM pins its own torch);
#               needs an NVIDIA GPU, else it says so and skips vLLM
#   --no-real   skip the real-size artifacts (real-*: calibrated on the
#               first half of wikitext2-test.txt, evaluated on the second)
#   --windows N evaluation windows of 256 tokens (default 4)
# Environment: SHARED, BUILD, QZ_INTEROP_VENV, QZ_INTEROP_WORK (scratch),
# QZ_INTEROP_KEEP=1 (keep it), QZ_INTEROP_ONLY="name ..." (those artifacts
# only), QZ_INTEROP_DTYPES, QZ_INTEROP_W8A8_TOL, QZ_INTEROP_W8A8_REAL_TOL.
#
# torch: PyPI's Linux torch wheel depends on ~3 GB of nvidia-* CUDA wheels
# that a CPU run never calls. Every package is therefore installed with
# --no-deps, and the requirements `pip check` then reports missing are
# installed the same way, round after round, except nvidia-*, triton and
# cuda-* (the CUDA runtime wheels). If torch then does not import (its
# libtorch links a few CUDA libraries at load time: on a machine without a
# matching CUDA toolkit it needs them), the script says so and installs
# torch with its CUDA wheels after all (docs/interop.md).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
VENV=${QZ_INTEROP_VENV:-$HOME/.cache/qz-interop}
SHARED=${SHARED:-$here/../shared}
BUILD=${BUILD:-$here/build}
WORK=${QZ_INTEROP_WORK:-${TMPDIR:-/tmp}/qz-interop.$$}
VLLM_PIN=vllm==0.33.0
PINS="torch==2.15.0 transformers==5.24.0 optimum==2.3.0 gptqmodel==7.7.0 compressed-tensors==0.20.1"
setup_only=0 vllm=0 real=1 windows=4
while [ $# -gt 0 ]; do
    case $1 in
    --setup) setup_only=1 ;;
    --vllm) vllm=1 ;;
    --no-real) real=0 ;;
    --windows) shift; windows=${1:-}; case $windows in ''|*[!0-9]*) echo "interop-check: --windows needs a number" >&2; exit 2 ;; esac ;;
    -h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "interop-check: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done

log() { echo "interop-check: $*" >&2; }

# Installs $PINS and then, round by round, what `pip check` says is missing
# or too old - all with --no-deps, skipping the CUDA runtime wheels.
setup_venv() {
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || { log "cannot create a virtualenv at $VENV"; return 1; }
    local pip="$VENV/bin/python -m pip" round missing failed=""
    $pip install -q --upgrade pip >&2
    for p in $PINS; do
        $pip install -q --no-deps "$p" >&2 || { log "cannot install $p from PyPI (see above)"; failed="$failed $p"; }
    done
    for round in 1 2 3 4 5 6 7 8 9 10; do
        missing=$($pip check 2>/dev/null | sed -n -e 's/.* requires \([^,]*\), which is not installed\./\1/p' \
                  -e 's/.* has requirement \([^,]*\), but you have .*/\1/p' |
                  grep -Eiv '^(nvidia-|triton|cuda-)' | sort -u)
        [ -z "$missing" ] && break
        log "round $round: installing requirements: $(echo $missing)"
        echo "$missing" | tr '\n' '\0' | xargs -0 $pip install -q --no-deps >&2 || log "some requirements failed to install"
    done
    # PyPI's torch is a CUDA build whose libtorch links cuFile, cuSPARSELt,
    # NVSHMEM and a recent NCCL: where the system's CUDA libraries do not
    # provide them, it cannot import without the CUDA wheels it pins.
    if ! err=$("$VENV/bin/python" -c 'import torch' 2>&1); then
        log "torch --no-deps does not import here ($(echo "$err" | tail -1)); installing the CUDA runtime wheels it pins (~3 GB)"
        $pip install -q "$(echo $PINS | tr ' ' '\n' | grep '^torch==')" >&2 || failed="$failed torch"
    fi
    $pip check 2>/dev/null | grep -Eiv 'nvidia-|triton|cuda-' >&2
    [ -z "$failed" ] || log "not installed:$failed"
    return 0
}

# The stamp records the pins of the last complete setup: a later run with
# the same pins reuses the virtualenv as it is (--setup redoes it).
if [ "$setup_only" = 1 ] || [ "$(cat "$VENV/.qz-interop-pins" 2>/dev/null)" != "$PINS" ]; then
    setup_venv || exit 1
    echo "$PINS" >"$VENV/.qz-interop-pins"
fi
[ "$setup_only" = 1 ] && exit 0

# ------------------------------------------------------------- artifacts
BIN=$BUILD/bin
M=$SHARED/models/stories260K-f16
for f in "$BIN/qz-eval" "$M/config.json" "$SHARED/data/tinystories-valid.txt"; do
    [ -e "$f" ] || { log "$f not found (build with make; SHARED=$SHARED)"; exit 2; }
done
mkdir -p "$WORK"
. "$here/scripts/split.sh"
split_half "$SHARED/data/tinystories-valid.txt" "$WORK/calib.txt" "$WORK/rest.txt"
SEQLEN=256
head -c $((windows * SEQLEN * 6 + 4096)) "$WORK/rest.txt" >"$WORK/heldout.txt" # ~4.5 chars a token here: enough windows
CAL=(--calib "$WORK/calib.txt" --nsamples 16 --seqlen "$SEQLEN" --quiet)

# The real-size model: its linears are 576 and 1536 wide, so group 64 (the
# largest power of two dividing both) instead of 32; its own held-out text.
R=$SHARED/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf
if [ "$real" = 1 ] && [ ! -e "$R" ]; then log "$R not found: no real-size artifacts"; real=0; fi
if [ "$real" = 1 ]; then
    split_half "$SHARED/data/wikitext2-test.txt" "$WORK/real-calib.txt" "$WORK/real-rest.txt"
    head -c $((windows * SEQLEN * 6 + 4096)) "$WORK/real-rest.txt" >"$WORK/real-heldout.txt"
fi
RCAL=(--calib "$WORK/real-calib.txt" --nsamples 16 --seqlen "$SEQLEN" --quiet)

# name|consumers|tolerance|command (%OUT% is the artifact directory); a name
# starting with real- is evaluated on real-heldout.txt. A consumer may say
# NAME/DTYPES (instead of float16:float32), NAME=TOLERANCE or NAME:refuses.
# - The real model's unquantized tensors are F32 (dequantized from its GGUF):
#   loading them in float16 rounds embeddings and norms, which moves the NLL
#   by up to ~1e-4 relative, so the real W8A8 and 2:4 artifacts load in
#   float32; GPTQ and AWQ cannot (GPTQModel's CPU kernels take float16 or
#   bfloat16 only) and keep float16:float32 under the 1e-4 tolerance.
# - compressed-tensors decompresses int8 weights into the load dtype: a
#   float16 load rounds int8 x scale to FP16 (5.6e-5 on stories260K's W8A8
#   weights alone), so both W8A8 artifacts load in float32.
# - GPTQModel 7.7's torch AWQ kernel casts activations to float16 whatever
#   the model's dtype (qlinear/torch_awq.py, forward), and float16 rounds
#   each activation by up to 2^-11 = 4.9e-4 relative: its AWQ cells get
#   FP16_COMPUTE_TOL, 5e-4.
# - Per-channel AWQ (group -1): transformers' default AWQ backend on the CPU
#   is torch's int4 matmul, which takes group sizes 32, 64, 128 or 256 only;
#   a CPU user must ask for the torch_awq backend (transformers@torch_awq).
FP16_COMPUTE_TOL=5e-4
# W8A8: a dynamic int8 activation code flips where a one-ulp difference in
# the input crosses a rounding boundary, so two float32 implementations of
# the same W8A8 model give NLLs that differ by rounding noise alone. Its size,
# measured by scripts/w8a8_noise.py (float32 vs float64, 32 windows; the sd of
# a 4-window mean of one float32 implementation, relative): 3.7e-4 on
# stories260K, 1.3e-3 on SmolLM2. Two implementations differ by sqrt(2) times
# that; the tolerance is 3 such sd, rounded up: 2e-3 and 6e-3. The int8
# weights themselves are checked exactly (1e-4) by transformers@weights
# against qz-eval --act-bits 0. qz-eval divides by 127, compressed-tensors by
# 127.5 (transformers), or by 127 when switched (transformers@127).
W8A8_TOL=${QZ_INTEROP_W8A8_TOL:-2e-3}
W8A8_REAL_TOL=${QZ_INTEROP_W8A8_REAL_TOL:-6e-3}
ARTIFACTS=(
    "fp16|transformers|1e-4|cp -r $M"
    "gptq-v1-sym4-g32|transformers gptqmodel|1e-4|$BIN/qz-gptq $M %OUT% ${CAL[*]} --bits 4 --group-size 32"
    "gptq-v1-sym8-pc|transformers gptqmodel|1e-4|$BIN/qz-gptq $M %OUT% ${CAL[*]} --bits 8 --group-size -1"
    "gptq-v2-asym4-g32|transformers gptqmodel|1e-4|$BIN/qz-gptq $M %OUT% ${CAL[*]} --bits 4 --group-size 32 --asym"
    "gptq-v1-sym4-g32-act|transformers gptqmodel|1e-4|$BIN/qz-gptq $M %OUT% ${CAL[*]} --bits 4 --group-size 32 --act-order"
    "gptq-v2-asym3-g32|transformers gptqmodel|1e-4|$BIN/qz-gptq $M %OUT% ${CAL[*]} --bits 3 --group-size 32 --asym"
    "awq-gemm-g32|transformers gptqmodel=$FP16_COMPUTE_TOL|1e-4|$BIN/qz-awq $M %OUT% ${CAL[*]} --bits 4 --group-size 32 --allow-partial-groups"
    "awq-gemm-pc|transformers:refuses transformers@torch_awq gptqmodel=$FP16_COMPUTE_TOL|1e-4|$BIN/qz-awq $M %OUT% ${CAL[*]} --bits 4 --group-size -1"
    "w8a8|transformers@weights/float32=1e-4 transformers@127/float32 transformers/float32|$W8A8_TOL|$BIN/qz-smooth $M %OUT% ${CAL[*]} --w8a8"
    "prune24-ct-dense|transformers|1e-4|$BIN/qz-prune $M %OUT% ${CAL[*]} --method wanda --pattern 2:4 --format compressed-tensors"
    "prune24-bitmask-legacy|transformers:refuses|0|$BIN/qz-prune $M %OUT% ${CAL[*]} --method wanda --pattern 2:4 --format sparse-24-bitmask"
)
[ "$real" = 1 ] && ARTIFACTS+=(
    "real-gptq-v1-sym4-g64|transformers gptqmodel|1e-4|$BIN/qz-gptq $R %OUT% ${RCAL[*]} --bits 4 --group-size 64"
    "real-gptq-v2-asym4-g64-act|transformers gptqmodel|1e-4|$BIN/qz-gptq $R %OUT% ${RCAL[*]} --bits 4 --group-size 64 --asym --act-order"
    "real-awq-gemm-g64|transformers gptqmodel=$FP16_COMPUTE_TOL|1e-4|$BIN/qz-awq $R %OUT% ${RCAL[*]} --bits 4 --group-size 64"
    "real-w8a8|transformers@weights/float32=1e-4 transformers@127/float32 transformers/float32|$W8A8_REAL_TOL|$BIN/qz-smooth $R %OUT% ${RCAL[*]} --w8a8"
    "real-prune24-ct-dense|transformers/float32|1e-4|$BIN/qz-prune $R %OUT% ${RCAL[*]} --method wanda --pattern 2:4 --format compressed-tensors"
)

# vLLM: FP16 activations on the GPU against qz-eval's FP32, hence its own
# tolerance (5e-3 relative, the size of FP16 rounding over a forward pass).
run_vllm=0
if [ "$vllm" = 1 ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        [ -x "$VENV-vllm/bin/python" ] || python3 -m venv "$VENV-vllm"
        "$VENV-vllm/bin/python" -m pip install -q "$VLLM_PIN" tokenizers >&2 && run_vllm=1 ||
            log "--vllm: cannot install $VLLM_PIN: vLLM stays unchecked"
    else
        log "--vllm: skipped: no NVIDIA GPU here (vLLM's CPU build is not on PyPI): vLLM stays unchecked"
    fi
fi
python_for() { [ "$1" = vllm ] && echo "$VENV-vllm/bin/python" || echo "$VENV/bin/python"; }


qz_nll() { "$BIN/qz-eval" "$1" --text "$2" --seqlen "$SEQLEN" --max-windows "$windows" --json "${@:3}" | sed -n 's/.*"mean_nll":\([^,}]*\).*/\1/p'; }
py_field() { "$VENV/bin/python" -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("; ".join(v) if isinstance(v,list) else v)' "$@"; }

versions=$("$VENV/bin/python" -c '
import importlib.metadata as md
print(", ".join(f"{p} {md.version(p)}" for p in ["torch", "transformers", "optimum", "gptqmodel", "compressed-tensors"]))' 2>/dev/null)
rows=() failures=0
row() { rows+=("| $1 | $2 | $3 | $4 | $5 | $6 | $7 |"); }
for spec in "${ARTIFACTS[@]}"; do
    IFS='|' read -r name consumers tol cmd <<<"$spec"
    [ -z "${QZ_INTEROP_ONLY:-}" ] || [[ " $QZ_INTEROP_ONLY " == *" $name "* ]] || continue # a subset, by artifact name
    out="$WORK/$name" heldout="$WORK/heldout.txt"
    [[ $name == real-* ]] && heldout="$WORK/real-heldout.txt"
    rm -rf "$out"
    if [[ $cmd == cp* ]]; then $cmd "$out"; else ${cmd//%OUT%/$out} >/dev/null 2>"$WORK/$name.qz.log"; fi ||
        { row "$name" qz no - - - "FAIL: qz could not write it: $(tail -1 "$WORK/$name.qz.log")"; failures=$((failures + 1)); continue; }
    want=$(qz_nll "$out" "$heldout")
    "$BIN/qz-eval" "$out" --tokenize "$heldout" --json >"$WORK/$name.tokens.json"
    [ $run_vllm = 1 ] && consumers="$consumers vllm"
    for consumer in $consumers; do
        # NAME[/DTYPES][=TOLERANCE][:refuses]: what the artifact's line may say of one consumer
        expect=loads dtypes=${QZ_INTEROP_DTYPES:-float16:float32} ctol=$tol
        [[ $consumer == *:* ]] && { expect=${consumer##*:}; consumer=${consumer%:*}; }
        [[ $consumer == *=* ]] && { ctol=${consumer##*=}; consumer=${consumer%=*}; }
        [[ $consumer == */* ]] && { dtypes=${consumer##*/}; consumer=${consumer%/*}; }
        [ "$consumer" = vllm ] && { dtypes=float16; ctol=$(awk -v t="$tol" 'BEGIN { print (t > 5e-3 ? t : 5e-3) }'); }
        ref=$want # what qz-eval computes for this consumer; @weights: the int8 weights without activation quantization
        [ "$consumer" = transformers@weights ] && ref=$(qz_nll "$out" "$heldout" --act-bits 0)
        for dtype in $dtypes; do
            res="$WORK/$name.$consumer.$dtype.json"
            "$(python_for "$consumer")" "$here/scripts/interop_nll.py" "$consumer" "$out" "$heldout" "$SEQLEN" "$windows" \
                "$WORK/$name.tokens.json" "$dtype" >"$res" 2>"$res.stderr" || echo '{"loads":false,"problems":["the Python side crashed"]}' >"$res"
            loads=$(py_field "$res" loads) got=$(py_field "$res" nll) problems=$(py_field "$res" problems) match=$(py_field "$res" tokens_match)
            rel=$(awk -v a="$got" -v b="$ref" 'BEGIN { if (a == "None" || a == "") print "-"; else { d = (a - b) / b; printf "%.2e", d < 0 ? -d : d } }')
            verdict=PASS cause=""
            if [ "$expect" = refuses ]; then
                [ -n "$problems" ] && cause="refuses as expected: ${problems:0:160}" || { verdict=FAIL; cause="expected a refusal, loaded cleanly"; }
            elif [ "$loads" != True ]; then verdict=FAIL cause="does not load: ${problems:0:200}"
            elif [ "$match" != True ]; then verdict=FAIL cause="token ids differ from qz-eval's"
            elif [ -n "$problems" ]; then verdict=FAIL cause="load not clean: ${problems:0:200}"
            elif ! awk -v r="$rel" -v t="$ctol" 'BEGIN { exit !(r <= t) }'; then verdict=FAIL cause="NLL differs by $rel (tolerance $ctol)"
            fi
            [ $verdict = FAIL ] && failures=$((failures + 1))
            row "$name" "$consumer ($dtype)" "$loads" "$ref" "$got" "$rel" "$verdict${cause:+: $cause}"
            log "$name / $consumer ($dtype): $verdict $cause"
        done
    done
done

echo "interop-check $(date -u +%Y-%m-%d), $versions; $windows windows of $SEQLEN tokens: stories260K-f16 on the second half of tinystories-valid.txt$([ "$real" = 1 ] && echo ", real-* (SmolLM2-135M) on the second half of wikitext2-test.txt")"
echo
echo "| artifact | consumer | loads | NLL qz-eval | NLL consumer | rel diff | verdict |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
[ -n "${QZ_INTEROP_KEEP:-}" ] || rm -rf "$WORK"
[ $failures -eq 0 ]
