#!/usr/bin/env bash
# scripts/gpu-check.sh - the GPU side of issue 18, on a machine with an
# NVIDIA GPU and nvcc (budget: under 5 minutes on one H200, build included):
#   1. builds qz with CUDA and runs the kernel unit tests (each kernel
#      against its CPU twin, every layout, odd shapes, act-order);
#   2. makes an artifact of every packed format from stories260K-f16
#      (GPTQ 2/3/4/8-bit, v1 and v2 zeros, act-order; AWQ GEMM; W8A8;
#      sparse-24-bitmask) and runs qz-eval --device cuda --check-cpu on each,
#      plus the FP16 model itself and $QZ_REAL_MODEL (a Hugging Face model
#      directory of real size) when given;
#   3. benchmarks the 4-bit matmul on LLaMA-7B shapes (GEMV as a fraction of
#      memory bandwidth, GEMM at 16 / 256 tokens against cuBLAS FP16) and
#      qz-eval's end-to-end tokens/s on the GPU.
# Prints one JSON object on stdout; progress on stderr. Exit 0 when every
# kernel test and every --check-cpu passed, 1 when one failed, 2 when there
# is no GPU or no nvcc, 3 when the build or a tool broke.
# Usage: scripts/gpu-check.sh   (env: SHARED=../shared BUILD=build-gpu JOBS=N QZ_REAL_MODEL=DIR)
set -u
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
BUILD=${BUILD:-build-gpu}
JOBS=${JOBS:-$(nproc)}
BIN=$BUILD/bin
TMP=$(mktemp -d /tmp/qz-gpu-check.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
T0=$(date +%s)
say() { echo "gpu-check: $*" >&2; }
die() { say "error: $2"; printf '{"error":"%s"}\n' "$2"; exit "$1"; }
elapsed() { echo $(( $(date +%s) - T0 )); }

# ------------------------------------------------------------------ build
say "building with CUDA (make -j$JOBS BUILD=$BUILD)"
make -j"$JOBS" BUILD="$BUILD" tools cuda-test >"$TMP/build.log" 2>&1 || { tail -n 30 "$TMP/build.log" >&2; die 3 "build failed"; }
grep -q '^nvcc found' "$TMP/build.log" || die 2 "nvcc not found: install the CUDA toolkit"
"$BIN"/qz-eval --devices >"$TMP/devices" 2>"$TMP/devices.err" || die 2 "$(tail -n 1 "$TMP/devices.err")"
DEVICE=$(head -n 1 "$TMP/devices")
say "$DEVICE; build took $(elapsed) s"

# ----------------------------------------------------- 1. kernel unit tests
"$BUILD"/cuda/test_cuda_kernels >"$TMP/kernels" 2>&1
KRC=$?
KPASS=$(grep -c '^PASS' "$TMP/kernels"); KFAIL=$(grep -c '^FAIL' "$TMP/kernels"); KSKIP=$(grep -c '^SKIP' "$TMP/kernels")
grep -v '^PASS' "$TMP/kernels" >&2
say "kernel tests: $KPASS passed, $KFAIL failed, $KSKIP skipped (exit $KRC)"
KOK=0; [ "$KRC" -eq 0 ] && [ "$KFAIL" -eq 0 ] && [ "$KSKIP" -eq 0 ] && KOK=1

# --------------------------------------------- 2. --check-cpu on every format
M=$SHARED/models/stories260K-f16
[ -d "$M" ] || die 2 "$M not found (set SHARED)"
. scripts/split.sh
split_half "$SHARED/data/tinystories-valid.txt" "$TMP/calib.txt" "$TMP/heldout.txt"
CAL=(--calib "$TMP/calib.txt" --nsamples 8 --seqlen 128 --quiet)
A=$TMP/art
mkdir -p "$A"
make_art() { # NAME CMD...: an artifact in $A/NAME
  local name=$1; shift
  "$@" >"$TMP/$name.log" 2>&1 || { say "making $name failed: $(tail -n 2 "$TMP/$name.log")"; return 1; }
}
make_art gptq4_v1_g32 "$BIN"/qz-gptq "$M" "$A/gptq4_v1_g32" "${CAL[@]}" --bits 4 --group-size 32
make_art gptq4_v2_act "$BIN"/qz-gptq "$M" "$A/gptq4_v2_act" "${CAL[@]}" --bits 4 --group-size 32 --asym --act-order
make_art gptq2_v1_g32 "$BIN"/qz-gptq "$M" "$A/gptq2_v1_g32" "${CAL[@]}" --bits 2 --group-size 32
make_art gptq3_v2_act "$BIN"/qz-gptq "$M" "$A/gptq3_v2_act" "${CAL[@]}" --bits 3 --group-size -1 --asym --act-order
make_art gptq8_v1_pc "$BIN"/qz-gptq "$M" "$A/gptq8_v1_pc" "${CAL[@]}" --bits 8 --group-size -1
make_art rtn4_v1_g32 "$BIN"/qz-gptq "$M" "$A/rtn4_v1_g32" --method rtn --bits 4 --group-size 32 --quiet
make_art awq4_g32 "$BIN"/qz-awq "$M" "$A/awq4_g32" "${CAL[@]}" --bits 4 --group-size 32 --allow-partial-groups
make_art w8a8 "$BIN"/qz-smooth "$M" "$A/w8a8" "${CAL[@]}" --w8a8
make_art sparse24 "$BIN"/qz-prune "$M" "$A/sparse24" --method magnitude --pattern 2:4 --format sparse-24-bitmask --quiet
ln -s "$(cd "$M" && pwd)" "$A/f16"
if [ -n "${QZ_REAL_MODEL:-}" ] && [ -f "$QZ_REAL_MODEL/config.json" ]; then
  ln -s "$(cd "$QZ_REAL_MODEL" && pwd)" "$A/real"
  make_art real_gptq4 "$BIN"/qz-gptq "$QZ_REAL_MODEL" "$A/real_gptq4" --method rtn --bits 4 --group-size 64 --quiet
fi

CHECKS=""; CFAIL=0; CN=0
for dir in "$A"/*; do
  name=$(basename "$dir")
  seqlen=256; case $name in real*) seqlen=512 ;; esac
  "$BIN"/qz-eval "$dir" --text "$TMP/heldout.txt" --seqlen "$seqlen" --max-windows 8 --device cuda --check-cpu --json \
    >"$TMP/chk.json" 2>"$TMP/chk.err"
  rc=$?
  CN=$((CN + 1))
  if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
    CFAIL=$((CFAIL + 1)); say "$name: exit $rc: $(tail -n 1 "$TMP/chk.err")"
    CHECKS="$CHECKS${CHECKS:+,}{\"artifact\":\"$name\",\"exit\":$rc}"
    continue
  fi
  [ $rc -eq 1 ] && CFAIL=$((CFAIL + 1))
  fields=$(sed -n 's/.*"mean_nll":\([^,]*\),"ppl":\([^,]*\),.*"tokens_per_second":\([^,]*\),.*"check_cpu":\({.*}\)}$/"gpu_mean_nll":\1,"gpu_ppl":\2,"gpu_tokens_per_second":\3,"check_cpu":\4/p' "$TMP/chk.json")
  say "$name: exit $rc $fields"
  CHECKS="$CHECKS${CHECKS:+,}{\"artifact\":\"$name\",\"exit\":$rc,$fields}"
done
say "check-cpu: $((CN - CFAIL)) of $CN passed; $(elapsed) s so far"

# ------------------------------------------------------------ 3. benchmarks
"$BUILD"/cuda/bench_cuda >"$TMP/bench.json" 2>"$TMP/bench.err" || say "bench failed: $(tail -n 1 "$TMP/bench.err")"
BENCH=$(cat "$TMP/bench.json"); [ -n "$BENCH" ] || BENCH=null
E2E_MODEL=$A/gptq4_v1_g32; [ -e "$A/real_gptq4" ] && E2E_MODEL=$A/real_gptq4
"$BIN"/qz-eval "$E2E_MODEL" --text "$SHARED/data/wikitext2-test.txt" --seqlen 512 --max-windows 32 --device cuda --json \
  >"$TMP/e2e.json" 2>"$TMP/e2e.err"
E2E_TPS=$(sed -n 's/.*"tokens_per_second":\([^,]*\),.*/\1/p' "$TMP/e2e.json"); [ -n "$E2E_TPS" ] || E2E_TPS=null
"$BIN"/qz-eval "$E2E_MODEL" --text "$SHARED/data/wikitext2-test.txt" --seqlen 512 --max-windows 32 --json \
  >"$TMP/e2e_cpu.json" 2>/dev/null
CPU_TPS=$(sed -n 's/.*"tokens_per_second":\([^,]*\),.*/\1/p' "$TMP/e2e_cpu.json"); [ -n "$CPU_TPS" ] || CPU_TPS=null

OK=$(( KOK == 1 && CFAIL == 0 ))
printf '{"date":"%s","device":"%s","seconds":%d,"passed":%s,' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$DEVICE" "$(elapsed)" \
  "$([ $OK -eq 1 ] && echo true || echo false)"
printf '"kernel_tests":{"passed":%d,"failed":%d,"skipped":%d},' "$KPASS" "$KFAIL" "$KSKIP"
printf '"check_cpu":[%s],"benchmark":%s,' "$CHECKS" "$BENCH"
printf '"e2e":{"model":"%s","seqlen":512,"windows":32,"gpu_tokens_per_second":%s,"cpu_tokens_per_second":%s}}\n' \
  "$(basename "$E2E_MODEL")" "$E2E_TPS" "$CPU_TPS"
say "done in $(elapsed) s"
[ $OK -eq 1 ] && exit 0 || exit 1
