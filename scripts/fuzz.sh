#!/usr/bin/env bash
# Runs each libFuzzer target of build-fuzz/fuzz/ (make fuzz) for SECONDS,
# one at a time and nice'd, from the checked-in seeds of
# tests/fuzz/corpus/<target>/ (read only: new inputs go to a scratch
# corpus), and prints one Markdown table row per target: seconds, executions,
# coverage (libFuzzer's edge "cov" and feature "ft" counts), corpus size and
# findings. A finding (crash, leak, timeout, sanitizer report) is kept as
# $OUT/<target>-crash-* ; copy it into tests/fuzz/corpus/<target>/ once fixed,
# so that the replay test keeps it fixed. Exit 1 when anything was found.
# FUZZ_NICE (default 10) is the niceness of the fuzzer processes.
# usage: scripts/fuzz.sh SECONDS TARGET...   (make fuzz-run FUZZ_SECONDS=N)
set -u
secs=${1:?usage: scripts/fuzz.sh SECONDS TARGET...}
shift
OUT=${OUT:-/tmp/qz-fuzz-findings}
mkdir -p "$OUT"
echo "| target | seconds | executions | exec/s | cov | ft | corpus | findings |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
found=0
for t in "$@"; do
  work=$(mktemp -d /tmp/qz-fuzz-corpus.XXXXXX)
  log=$OUT/$t.log
  nice -n "${FUZZ_NICE:-10}" build-fuzz/fuzz/"$t" "$work" tests/fuzz/corpus/"$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$OUT/$t-" >"$log" 2>&1
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  corp=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  n=$(ls "$OUT/$t"-* 2>/dev/null | grep -vc '\.log$')
  [ "$n" -gt 0 ] && found=1
  echo "| $t | $secs | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | $n |"
  rm -rf "$work"
done
exit $found
