#!/usr/bin/env bash
# qz-eval --device / --check-cpu / --devices (docs/cuda.md). On a build
# without CUDA every GPU flag exits 2 saying how to get CUDA; on a CUDA build
# on a machine without a GPU (this one, CI) they exit 2 with one line "no
# CUDA device"; on a machine with a GPU, --check-cpu on the shared model must
# pass. Bad flag combinations exit 2 in every build.
# Then, in every build, $BUILD/cuda/qz-eval-host (qz-eval over
# tests/cuda/qz_cuda_host.c, a "device" made of the kernels' CPU twins) runs
# libquant/cuda/cuda_model.c on an artifact of every packed format: its
# perplexity must equal the CPU path's and --check-cpu must pass; with a
# planted packing bug (QZ_CUDA_HOST_FAULT) --check-cpu must exit 1.
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

device_checks() {
  if "$EVAL" --version | grep -q 'cuda=no'; then
    local why="built without CUDA: install the CUDA toolkit"
    expect_exit cuda_devices_unbuilt 2 "$why" "$EVAL" --devices
    expect_exit cuda_device_unbuilt 2 "$why" "$EVAL" "$M" --text "$TEXT" --device cuda
    return
  fi
  "$EVAL" --version | grep -q 'cuda=yes' && pass cuda_version || fail cuda_version "--version names no cuda feature"
  if "$EVAL" --devices >"$TMP/dev" 2>"$TMP/deverr"; then
    grep -q '^cuda:0 ' "$TMP/dev" && pass cuda_devices_list || fail cuda_devices_list "$(head -c 300 "$TMP/dev")"
    if ! have_shared; then skip cuda_check_cpu "$SHARED not found"; return; fi
    "$EVAL" "$M" --text "$TEXT" --seqlen 128 --max-windows 4 --device cuda --check-cpu --json >"$TMP/chk.json" 2>"$TMP/err"
    local rc=$?
    [ $rc -eq 0 ] && grep -q '"passed":true' "$TMP/chk.json" && pass cuda_check_cpu ||
      fail cuda_check_cpu "exit $rc: $(head -c 300 "$TMP/chk.json") $(head -c 300 "$TMP/err")"
    return
  fi
  # A CUDA build on a machine without a GPU: one line, exit 2, before any model is read.
  expect_exit cuda_devices_none 2 "error: no CUDA device" "$EVAL" --devices
  expect_exit cuda_device_none 2 "error: no CUDA device" "$EVAL" "$M" --text "$TEXT" --device cuda
  expect_exit cuda_device_n_none 2 "error: no CUDA device" "$EVAL" "$M" --text "$TEXT" --device cuda:3 --check-cpu --json
  expect_exit cuda_device_none_nomodel 2 "error: no CUDA device" "$EVAL" /nonexistent --text "$TEXT" --device cuda
}
device_checks

# ------------------------------------------- cuda_model.c on the host double
HOST=$BUILD/cuda/qz-eval-host
if [ ! -x "$HOST" ]; then skip cuda_host "$HOST not built (make tests builds it)"; exit 0; fi
if ! have_shared; then skip cuda_host "$SHARED not found"; exit 0; fi
F16=$SHARED/models/stories260K-f16
. "$(dirname "$0")/../../scripts/split.sh"
split_half "$TEXT" "$TMP/calib.txt" "$TMP/heldout.txt"
CAL=(--calib "$TMP/calib.txt" --nsamples 4 --seqlen 128 --quiet)
A=$TMP/art
mkdir "$A"
ln -s "$(cd "$F16" && pwd)" "$A/f16"
"$BIN"/qz-gptq "$F16" "$A/rtn4_v1" --method rtn --bits 4 --group-size 32 --quiet >/dev/null 2>&1
"$BIN"/qz-gptq "$F16" "$A/gptq3_v2_act" "${CAL[@]}" --bits 3 --group-size -1 --asym --act-order >/dev/null 2>&1
"$BIN"/qz-gptq "$F16" "$A/gptq4_v2_act_g32" "${CAL[@]}" --bits 4 --group-size 32 --asym --act-order >/dev/null 2>&1
"$BIN"/qz-gptq "$F16" "$A/gptq8_v1" --method rtn --bits 8 --group-size -1 --quiet >/dev/null 2>&1
"$BIN"/qz-awq "$F16" "$A/awq4" "${CAL[@]}" --bits 4 --group-size 32 --allow-partial-groups >/dev/null 2>&1
"$BIN"/qz-smooth "$F16" "$A/w8a8" "${CAL[@]}" --w8a8 >/dev/null 2>&1
"$BIN"/qz-prune "$F16" "$A/sparse24" --method magnitude --pattern 2:4 --format sparse-24-bitmask --quiet >/dev/null 2>&1
EV=(--text "$TMP/heldout.txt" --seqlen 128 --max-windows 4)
for name in f16 rtn4_v1 gptq3_v2_act gptq4_v2_act_g32 gptq8_v1 awq4 w8a8 sparse24; do
  tol=1e-4; [ $name = w8a8 ] && tol=5e-3 # cuda_model.h: W8A8's activation codes flip at rounding boundaries
  if [ ! -d "$A/$name" ]; then fail "cuda_host_$name" "artifact not made"; continue; fi
  "$BIN"/qz-eval "$A/$name" "${EV[@]}" --json >"$TMP/cpu.json" 2>"$TMP/err"
  "$HOST" "$A/$name" "${EV[@]}" --device cuda --check-cpu --json >"$TMP/host.json" 2>>"$TMP/err"
  rc=$?
  cpu=$(json_num "$TMP/cpu.json" ppl); dev=$(json_num "$TMP/host.json" ppl)
  if [ $rc -ne 0 ] || ! grep -q '"passed":true' "$TMP/host.json"; then
    fail "cuda_host_$name" "exit $rc: $(head -c 400 "$TMP/host.json") $(head -c 300 "$TMP/err")"
  elif [ -z "$cpu" ] || ! close_rel "$dev" "$cpu" $tol; then
    fail "cuda_host_$name" "device-path ppl $dev, CPU ppl $cpu"
  else
    pass "cuda_host_$name"
  fi
done
# Each planted packing bug must fail the check loudly: exit 1, "FAIL".
for case in zero:rtn4_v1 gidx:gptq4_v2_act_g32 nibble:awq4; do
  QZ_CUDA_HOST_FAULT=${case%%:*} "$HOST" "$A/${case#*:}" "${EV[@]}" --device cuda --check-cpu >"$TMP/out" 2>&1
  rc=$?
  [ $rc -eq 1 ] && grep -q ': FAIL$' "$TMP/out" && pass "cuda_host_fault_${case%%:*}" ||
    fail "cuda_host_fault_${case%%:*}" "exit $rc: $(tail -c 300 "$TMP/out")"
done
