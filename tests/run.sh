#!/usr/bin/env bash
# Runs every unit test binary ($BUILD/tests/test_*) and CLI test script
# (tests/cli/*.sh), counts their PASS / FAIL / SKIP lines and closes with
# "N passed, N failed, N skipped". Exit status 1 when anything failed
# (including a test program that crashed or exited non-zero).
set -u
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
export BUILD SHARED
[ -d "$SHARED/models" ] || echo "SKIP NOTICE: $SHARED not found: tests on the shared model will SKIP"

pass=0 fail=0 skip=0
log=$(mktemp)

times=$(mktemp)
trap 'rm -f "$log" "$times"' EXIT
run_one() { # name, command...
  local name=$1; shift
  local t0=$SECONDS
  "$@" >"$log" 2>&1
  local rc=$?
  echo "$((SECONDS - t0)) $name" >>"$times"
  cat "$log"
  local p f s
  p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $name: exited with status $rc"
    fail=$((fail + 1))
  fi
}

for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  echo "== $(basename "$t")"
  run_one "$(basename "$t")" "$t"
done
for s in tests/cli/test_*.sh; do
  [ -f "$s" ] || continue
  echo "== $(basename "$s")"
  run_one "$(basename "$s")" bash "$s"
done

echo "== slowest suites (seconds): $(sort -rn "$times" | head -n 6 | awk '{ printf "%s %s  ", $2, $1 }')"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
