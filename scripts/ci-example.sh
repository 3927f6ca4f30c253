#!/usr/bin/env bash
# A complete CI quality-gate job on the shared model (README "qz-eval as a CI
# gate"): build, quantize stories260K-f16 with GPTQ (4-bit, group 32) on the
# first half of TinyStories, compare the artifact with the FP16 base on the
# held-out second half, gate it with scripts/ci-gate.json, write JUnit XML
# and a Markdown summary, and exit with the gate's code (0 passed, 1 a
# threshold failed, 2/3 an error). Runs in a few seconds.
#
#   bash scripts/ci-example.sh            # BUILD=build SHARED=../shared OUT=out/ci-example
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
OUT=${OUT:-out/ci-example}
. scripts/split.sh

make -s BUILD="$BUILD" tools || exit 3
M=$SHARED/models/stories260K-f16
rm -rf "$OUT" && mkdir -p "$OUT" || exit 3
split_half "$SHARED/data/tinystories-valid.txt" "$OUT/calib.txt" "$OUT/heldout.txt"

"$BUILD"/bin/qz-gptq "$M" "$OUT/w4g32" --calib "$OUT/calib.txt" --bits 4 --group-size 32 --nsamples 16 --seqlen 256 \
  --quiet >/dev/null || exit $?

# The gate: thresholds from the "w4g32" entry (the artifact directory's name).
"$BUILD"/bin/qz-eval "$OUT/w4g32" --base "$M" --text "$OUT/heldout.txt" --seqlen 256 --max-windows 16 \
  --gate scripts/ci-gate.json --junit "$OUT/junit.xml" --markdown >"$OUT/summary.md"
rc=$?
cat "$OUT/summary.md"   # e.g. post as a pull-request comment
echo "ci-example: gate exit code $rc; JUnit report $OUT/junit.xml" >&2
exit $rc
