#!/usr/bin/env bash
# make demo: the qz pipeline on the shared stories260K model - quantize it to
# 4 bits (group 32) with round-to-nearest, GPTQ and AWQ, calibrating on the
# first half of TinyStories validation, then compare the perplexities of base
# and quantized models on the second half. (AWQ uses 32 calibration windows
# here instead of its default 128 to keep the demo short.)
set -euo pipefail
. "$(dirname "$0")/split.sh"
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
M=$SHARED/models/stories260K-f16
D=$SHARED/data/tinystories-valid.txt
if [ ! -d "$M" ]; then
  echo "demo: $SHARED/models not found: put the shared directory beside this repo" >&2
  exit 2
fi
W=$(mktemp -d /tmp/qz-demo.XXXXXX)
trap 'rm -rf "$W"' EXIT
split_half "$D" "$W/calib.txt" "$W/eval.txt"

echo "== qz-gptq: 4-bit, group 32, 128 x 512-token calibration windows"
"$BUILD"/bin/qz-gptq "$M" "$W/gptq-w4g32" --calib "$W/calib.txt" --bits 4 --group-size 32 --seqlen 512 --json
echo "== qz-gptq --method rtn: the round-to-nearest baseline on the same grid"
"$BUILD"/bin/qz-gptq "$M" "$W/rtn-w4g32" --method rtn --bits 4 --group-size 32 --quiet
echo "== qz-awq: 4-bit, group 32, AutoAWQ GEMM layout, 32 x 512-token calibration windows"
"$BUILD"/bin/qz-awq "$M" "$W/awq-w4g32" --calib "$W/calib.txt" --group-size 32 --nsamples 32 --json
for m in "$M" "$W/rtn-w4g32" "$W/gptq-w4g32" "$W/awq-w4g32"; do
  echo "== qz-eval $(basename "$m") on the held-out half (seqlen 512)"
  "$BUILD"/bin/qz-eval "$m" --text "$W/eval.txt" --seqlen 512 | grep -E 'perplexity|mean NLL|tokens/s'
done
