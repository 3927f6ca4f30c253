#!/usr/bin/env bash
# Crash safety of the compressing tools (issue 15): qz-gptq and qz-prune
# killed with SIGKILL at every commit point of formats/artifact.c
# (QZ_CRASH_AT, docs/hardening.md) and at a few times into the run leave
# either no OUT or a complete one, never a changed input; the next run
# reclaims the stale temporaries; --force killed between its two renames
# leaves the previous OUT recoverable, and the next run restores it. A full
# disk (a small tmpfs, when root may mount one) is exit 3 with one line and
# leaves nothing.
. "$(dirname "$0")/lib.sh"

if ! have_shared; then skip crash_shared "$SHARED not found"; exit 0; fi
cp -r "$SHARED/models/stories260K-f16" "$TMP/in"
chmod -R u+w "$TMP/in"
IN=$TMP/in
head -c 40000 "$SHARED/data/tinystories-valid.txt" >"$TMP/cal.txt"
in_sum=$(cat "$IN"/* | cksum)
GPTQ=("$BIN"/qz-gptq "$IN" --calib "$TMP/cal.txt" --nsamples 4 --seqlen 64 --bits 4 --group-size 32 --quiet)
PRUNE=("$BIN"/qz-prune "$IN" --method wanda --sparsity 0.5 --calib "$TMP/cal.txt" --nsamples 4 --seqlen 64 --quiet)

# complete DIR: an artifact qz-eval reads, with every file of a finished one
complete() {
  local f
  for f in config.json model.safetensors tokenizer.json tokenizer_config.json qz-log.jsonl; do [ -s "$1/$f" ] || return 1; done
  "$BIN"/qz-eval "$1" --info >/dev/null 2>&1
}
# check_after NAME OUT: OUT absent or complete, input unchanged
check_after() {
  if [ -e "$2" ] && ! complete "$2"; then fail "$1" "$2 exists but is not a complete artifact"; return 1; fi
  [ "$(cat "$IN"/* | cksum)" = "$in_sum" ] || { fail "$1" "the input changed"; return 1; }
  return 0
}
# rerun NAME OUT CMD...: the next run reclaims every stale temporary of OUT and completes
rerun() {
  local name=$1 out=$2; shift 2
  "$@" "$out" --force >/dev/null 2>"$TMP/rerun.err" || { fail "$name" "rerun failed: $(head -c 300 "$TMP/rerun.err")"; return; }
  if ls -d "$out".qz-* >/dev/null 2>&1; then fail "$name" "stale left: $(ls -d "$out".qz-*)"; return; fi
  complete "$out" || { fail "$name" "rerun output incomplete"; return; }
  pass "$name"
}

for tool in gptq prune; do
  if [ $tool = gptq ]; then CMD=("${GPTQ[@]}"); else CMD=("${PRUNE[@]}"); fi
  # -- at each commit point, into a fresh OUT
  for point in tmp-created before-commit renamed; do
    out=$TMP/$tool-$point
    (QZ_CRASH_AT=$point "${CMD[@]}" "$out" >/dev/null 2>&1 & wait $!) 2>/dev/null
    rc=$?
    [ $rc -eq 137 ] || { fail "crash_${tool}_$point" "exit $rc, want 137 (SIGKILL)"; continue; }
    check_after "crash_${tool}_$point" "$out" || continue
    case $point in
    renamed) complete "$out" || { fail "crash_${tool}_$point" "killed after the rename: OUT incomplete"; continue; } ;;
    *) [ ! -e "$out" ] && ls -d "$out".qz-tmp-* >/dev/null 2>&1 ||
         { fail "crash_${tool}_$point" "expected no OUT and a stale temporary"; continue; } ;;
    esac
    pass "crash_${tool}_$point"
    rerun "crash_${tool}_${point}_reclaimed" "$out" "${CMD[@]}"
  done
  # -- at a few times into the run (timing decides the point; the invariant holds at any)
  for delay in 0.002 0.01 0.02 0.04; do
    out=$TMP/$tool-t$delay
    "${CMD[@]}" "$out" >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    check_after "crash_${tool}_after_${delay}s" "$out" && pass "crash_${tool}_after_${delay}s"
    rerun "crash_${tool}_after_${delay}s_reclaimed" "$out" "${CMD[@]}"
  done
  # -- --force killed between moving the previous OUT aside and renaming the new one in
  out=$TMP/$tool-force
  "${CMD[@]}" "$out" >/dev/null 2>&1
  cp -r "$out" "$TMP/$tool-force.ref"
  (QZ_CRASH_AT=old-moved "${CMD[@]}" "$out" --force >/dev/null 2>&1 & wait $!) 2>/dev/null
  old=$(ls -d "$out".qz-old-* 2>/dev/null)
  if [ ! -e "$out" ] && [ -n "$old" ] && diff -r "$old" "$TMP/$tool-force.ref" >/dev/null; then
    pass "crash_${tool}_force_previous_recoverable"
  else
    fail "crash_${tool}_force_previous_recoverable" "OUT $(ls -d "$out" 2>&1), old '$old'"
  fi
  # the next run (without --force: it refuses once OUT is back) restores it, and says so
  "${CMD[@]}" "$out" >/dev/null 2>"$TMP/restore.err"
  if diff -r "$out" "$TMP/$tool-force.ref" >/dev/null && grep -q "note: restored $out from $old" "$TMP/restore.err" &&
    grep -q "output exists" "$TMP/restore.err" && ! ls -d "$out".qz-* >/dev/null 2>&1; then
    pass "crash_${tool}_force_restored_by_next_run"
  else
    fail "crash_${tool}_force_restored_by_next_run" "$(head -c 300 "$TMP/restore.err")"
  fi
done

# -- full disk: exit 3, one error line, nothing left on the small filesystem
mkdir "$TMP/full"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=256k qz-full "$TMP/full" 2>/dev/null; then
  expect_exit disk_full_exit3 3 "error:" "${GPTQ[@]}" "$TMP/full/out"
  [ -z "$(ls -A "$TMP/full")" ] && pass disk_full_leaves_nothing || fail disk_full_leaves_nothing "left: $(ls -A "$TMP/full")"
  umount "$TMP/full"
else
  skip disk_full_exit3 "needs root and a mountable tmpfs"
fi
