#!/usr/bin/env bash
# make bench: every benchmark in $BUILD/bench, each printing one JSON object
# (its baseline measured in the same run), gathered into one JSON array on
# stdout. Timings are CPU timings on this machine; nothing here asserts speed.
set -euo pipefail
BUILD=${BUILD:-build}
first=1
echo "["
for b in "$BUILD"/bench/bench_*; do
  [ -x "$b" ] || continue
  echo "bench: running $(basename "$b")" >&2
  [ $first -eq 1 ] || echo ","
  first=0
  "$b"
done
echo "]"
