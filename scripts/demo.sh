#!/usr/bin/env bash
# make demo: the qz pipeline on the shared stories260K model - quantize it to
# 4 bits (group 32) with round-to-nearest, GPTQ and AWQ, prune it 2:4 with
# Wanda, calibrating on the first half of TinyStories validation, then
# compare the perplexities of base and compressed models on the second half,
# and gate the GPTQ model against the base (KL, top-1) as a CI job would.
# (AWQ and Wanda use 32 calibration windows here instead of 128 to keep the
# demo short.)
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
"$BUILD"/bin/qz-awq "$M" "$W/awq-w4g32" --calib "$W/calib.txt" --group-size 32 --allow-partial-groups --nsamples 32 --json
echo "== qz-prune: Wanda 2:4 (2 of every 4 input weights pruned), 32 x 512-token calibration windows"
"$BUILD"/bin/qz-prune "$M" "$W/wanda-2of4" --method wanda --pattern 2:4 --calib "$W/calib.txt" --nsamples 32 --seqlen 512 --quiet
for m in "$M" "$W/rtn-w4g32" "$W/gptq-w4g32" "$W/awq-w4g32" "$W/wanda-2of4"; do
  echo "== qz-eval $(basename "$m") on the held-out half (seqlen 512)"
  "$BUILD"/bin/qz-eval "$m" --text "$W/eval.txt" --seqlen 512 | grep -E 'perplexity|mean NLL|tokens/s'
done
echo "== qz-eval --base: the GPTQ model against FP16 on 32 held-out windows, gated (exit 1 if a threshold fails)"
"$BUILD"/bin/qz-eval "$W/gptq-w4g32" --base "$M" --text "$W/eval.txt" --seqlen 512 --max-windows 32 \
  --max-ppl-ratio 1.05 --max-kld 0.05 --min-top1 0.85 --markdown
