#!/usr/bin/env bash
# make demo: the qz pipeline on the shared stories260K model.
set -euo pipefail
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
M=$SHARED/models/stories260K-f16
T=$SHARED/data/tinystories-valid.txt
if [ ! -d "$M" ]; then
  echo "demo: $SHARED/models not found: put the shared directory beside this repo" >&2
  exit 2
fi
echo "== qz-eval: FP16 stories260K on TinyStories validation (seqlen 512, first 20 windows)"
"$BUILD"/bin/qz-eval "$M" --text "$T" --seqlen 512 --max-windows 20
