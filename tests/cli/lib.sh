# Shared helpers for the CLI tests (sourced, not run). Each check prints one
# PASS/FAIL/SKIP line that tests/run.sh counts.
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
BIN=$BUILD/bin
TMP=$(mktemp -d /tmp/qz-cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }
have_shared() { [ -d "$SHARED/models/stories260K" ] && [ -d "$SHARED/data" ]; }

# expect_exit NAME CODE PATTERN CMD...: CMD exits with CODE, stderr has
# exactly one "error:" line and it matches PATTERN, stdout is empty, and no
# sanitizer spoke.
# With QZ_BAD_INPUT_LOG=FILE each case appends "CODE NAME" to FILE (the
# count of bad inputs in docs/hardening.md).
expect_exit() {
  local name=$1 code=$2 pat=$3; shift 3
  [ -n "${QZ_BAD_INPUT_LOG:-}" ] && echo "$code $name" >>"$QZ_BAD_INPUT_LOG"
  "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  if [ $rc -ne "$code" ]; then fail "$name" "exit $rc, want $code; stderr: $(head -c 300 "$TMP/err")"; return; fi
  if ! grep -q -- "$pat" "$TMP/err"; then fail "$name" "stderr lacks '$pat': $(head -c 300 "$TMP/err")"; return; fi
  if [ -s "$TMP/out" ]; then fail "$name" "unexpected stdout"; return; fi
  if [ "$(grep -c 'error:' "$TMP/err")" -ne 1 ]; then fail "$name" "want one error line: $(head -c 300 "$TMP/err")"; return; fi
  if grep -q 'runtime error\|AddressSanitizer' "$TMP/err"; then fail "$name" "sanitizer report"; return; fi
  pass "$name"
}

# json_num FILE KEY: a number field of a flat JSON object.
json_num() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" "$1"; }

# close_rel A B TOL: |A-B| <= TOL*|B|
close_rel() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(d <= t * m) }'; }
