#!/usr/bin/env bash
# interop-check.sh - proves that the Python loaders people use load what qz
# writes and compute the model qz-eval measured (issue 14; docs/interop.md).
#
#   scripts/interop-check.sh [--setup] [--vllm] [--real] [--windows N]
#
# Not part of `make test`: it needs a Python stack. It creates a virtualenv
# (outside the repo: $QZ_INTEROP_VENV, default ~/.cache/qz-interop), installs
# the pinned consumers from PyPI, makes one artifact of every layout and
# option qz writes from ../shared/models/stories260K-f16, loads each in every
# consumer that claims its format, computes the mean NLL with qz-eval's
# protocol in Python (scripts/interop_nll.py) and compares it with
# `qz-eval --json`. Exit 0 when every cell passes, 1 when one fails (the
# table names consumer, artifact and cause), 2 on bad usage.
#   --setup     only create/update the virtualenv, then exit
#   --vllm      also load every artifact in vLLM (needs an NVIDIA GPU)
#   --real      also the real-size model (../shared/models/smollm2-135m-instruct-q4_1)
#   --windows N evaluation windows of 256 tokens (default 4)
#
# torch: PyPI's Linux torch wheel depends on ~3 GB of nvidia-* CUDA wheels
# that a CPU run never loads. Every package is therefore installed with
# --no-deps, and the requirements `pip check` then reports missing are
# installed the same way, round after round, except nvidia-*, triton and
# cuda-* (the CUDA runtime wheels). torch imports and runs on the CPU
# without them.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
VENV=${QZ_INTEROP_VENV:-$HOME/.cache/qz-interop}
SHARED=${SHARED:-$here/../shared}
BUILD=${BUILD:-$here/build}
WORK=${QZ_INTEROP_WORK:-${TMPDIR:-/tmp}/qz-interop.$$}
PINS="torch==2.15.0 transformers==5.24.0 optimum==2.3.0 gptqmodel==7.7.0 compressed-tensors==0.20.1"
setup_only=0 vllm=0 real=0 windows=4
while [ $# -gt 0 ]; do
    case $1 in
    --setup) setup_only=1 ;;
    --vllm) vllm=1 ;;
    --real) real=1 ;;
    --windows) shift; windows=${1:-}; case $windows in ''|*[!0-9]*) echo "interop-check: --windows needs a number" >&2; exit 2 ;; esac ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
    $pip check 2>/dev/null | grep -Eiv 'nvidia-|triton|cuda-' >&2
    [ -z "$failed" ] || log "not installed:$failed"
    return 0
}

setup_venv || exit 1
[ "$setup_only" = 1 ] && exit 0
