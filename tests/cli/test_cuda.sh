#!/usr/bin/env bash
# qz-eval --device / --check-cpu / --devices (docs/cuda.md). On a build
# without CUDA every GPU flag exits 2 saying how to get CUDA; on a CUDA build
# on a machine without a GPU (this one, CI) they exit 2 with one line "no
# CUDA device"; on a machine with a GPU, --check-cpu on the shared model must
# pass. Bad flag combinations exit 2 in every build.
. "$(dirname "$0")/lib.sh"

EVAL=$BIN/qz-eval
help=$("$EVAL" --help)
for f in --device --check-cpu --devices; do
  grep -q -- "$f" <<<"$help" && pass "cuda_help$f" || fail "cuda_help$f" "$f not in --help"
done

M=$SHARED/models/stories260K
TEXT=$SHARED/data/tinystories-valid.txt
expect_exit cuda_check_needs_device 2 "--check-cpu needs --device cuda" "$EVAL" "$M" --text "$TEXT" --check-cpu
expect_exit cuda_bad_device 2 "--device 'gpu': expected cpu, cuda or cuda:N" "$EVAL" "$M" --text "$TEXT" --device gpu
expect_exit cuda_bad_index 2 "cuda:N" "$EVAL" "$M" --text "$TEXT" --device cuda:x
expect_exit cuda_with_base 2 "--base, --top-k-cache and --info run on the CPU" "$EVAL" "$M" --text "$TEXT" --device cuda --base "$M"

if "$EVAL" --version | grep -q 'cuda=no'; then
  why="built without CUDA: install the CUDA toolkit"
  expect_exit cuda_devices_unbuilt 2 "$why" "$EVAL" --devices
  expect_exit cuda_device_unbuilt 2 "$why" "$EVAL" "$M" --text "$TEXT" --device cuda
  exit 0
fi
"$EVAL" --version | grep -q 'cuda=yes' && pass cuda_version || fail cuda_version "--version names no cuda feature"

if "$EVAL" --devices >"$TMP/dev" 2>"$TMP/deverr"; then
  grep -q '^cuda:0 ' "$TMP/dev" && pass cuda_devices_list || fail cuda_devices_list "$(head -c 300 "$TMP/dev")"
  if ! have_shared; then skip cuda_check_cpu "$SHARED not found"; exit 0; fi
  "$EVAL" "$M" --text "$TEXT" --seqlen 128 --max-windows 4 --device cuda --check-cpu --json >"$TMP/chk.json" 2>"$TMP/err"
  rc=$?
  [ $rc -eq 0 ] && grep -q '"passed":true' "$TMP/chk.json" && pass cuda_check_cpu ||
    fail cuda_check_cpu "exit $rc: $(head -c 300 "$TMP/chk.json") $(head -c 300 "$TMP/err")"
  exit 0
fi
# A CUDA build on a machine without a GPU: one line, exit 2, before any model is read.
expect_exit cuda_devices_none 2 "error: no CUDA device" "$EVAL" --devices
expect_exit cuda_device_none 2 "error: no CUDA device" "$EVAL" "$M" --text "$TEXT" --device cuda
expect_exit cuda_device_n_none 2 "error: no CUDA device" "$EVAL" "$M" --text "$TEXT" --device cuda:3 --check-cpu --json
expect_exit cuda_device_none_nomodel 2 "error: no CUDA device" "$EVAL" /nonexistent --text "$TEXT" --device cuda
