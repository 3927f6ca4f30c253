#!/usr/bin/env bash
# make demo: the qz pipeline on the shared stories260K model - quantize it to
# 4 bits (group 32) with round-to-nearest, GPTQ and AWQ, prune it 2:4 with
# Wanda, calibrating on the first half of TinyStories validation, then
# compare base and compressed models on 64 windows of the second half, and
# gate the GPTQ model against the base (KL, top-1) as a CI job would.
# Each step prints [k/N] with the elapsed time and an ETA; a summary table
# closes the run. (AWQ and Wanda use 32 calibration windows instead of 128
# to keep the demo short.)
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

N=10 k=0 t0=$SECONDS
step() { # what: one numbered step, with elapsed time and an ETA from the mean step so far
  local el=$((SECONDS - t0)) eta=-
  [ "$k" -gt 0 ] && eta="$(( el * (N - k) / k ))s"
  k=$((k + 1))
  echo "== [$k/$N] $1   (elapsed ${el}s, ETA $eta)"
}
EV=(--text "$W/eval.txt" --seqlen 512 --max-windows 64)

step "qz-gptq: 4-bit, group 32, 128 x 512-token calibration windows"
"$BUILD"/bin/qz-gptq "$M" "$W/gptq-w4g32" --calib "$W/calib.txt" --bits 4 --group-size 32 --seqlen 512 --json
step "qz-gptq --method rtn: the round-to-nearest baseline on the same grid"
"$BUILD"/bin/qz-gptq "$M" "$W/rtn-w4g32" --method rtn --bits 4 --group-size 32 --quiet
step "qz-awq: 4-bit, group 32 (down_proj, 172 wide, stays FP16), AutoAWQ GEMM layout, 32 windows"
"$BUILD"/bin/qz-awq "$M" "$W/awq-w4g32" --calib "$W/calib.txt" --group-size 32 --allow-partial-groups --nsamples 32 --json
step "qz-prune: Wanda 2:4 (2 of every 4 input weights pruned), 32 windows"
"$BUILD"/bin/qz-prune "$M" "$W/wanda-2of4" --method wanda --pattern 2:4 --calib "$W/calib.txt" --nsamples 32 --seqlen 512 --quiet
printf '%-14s %10s %10s\n' model "mean NLL" perplexity >"$W/summary"
for m in "$M" "$W/rtn-w4g32" "$W/gptq-w4g32" "$W/awq-w4g32" "$W/wanda-2of4"; do
  step "qz-eval $(basename "$m") on 64 held-out windows of 512"
  "$BUILD"/bin/qz-eval "$m" "${EV[@]}" --json >"$W/eval.json"
  nll=$(sed -n 's/.*"mean_nll":\([-0-9.eE+]*\).*/\1/p' "$W/eval.json")
  ppl=$(sed -n 's/.*"ppl":\([-0-9.eE+]*\).*/\1/p' "$W/eval.json")
  printf '%-14s %10.5f %10.4f\n' "$(basename "$m")" "$nll" "$ppl" | tee -a "$W/summary"
done
step "qz-eval --base: the GPTQ model against FP16 on 32 held-out windows, gated (exit 1 if a threshold fails)"
gate=passed
"$BUILD"/bin/qz-eval "$W/gptq-w4g32" --base "$M" --text "$W/eval.txt" --seqlen 512 --max-windows 32 \
  --max-ppl-ratio 1.05 --max-kld 0.05 --min-top1 0.85 --markdown || gate="FAILED (exit $?)"
echo
echo "== summary ($((SECONDS - t0)) s)"
cat "$W/summary"
echo "gate on gptq-w4g32 (ppl ratio <= 1.05, KL <= 0.05, top-1 >= 0.85): $gate"
[ "$gate" = passed ]
