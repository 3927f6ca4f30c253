#!/usr/bin/env bash
# OpenBLAS core selection at tool start-up (libquant/blas_core.h): the
# "blas" object of every tool's --json, QZ_BLAS_CORETYPE=auto|keep|NAME, a
# user's own OPENBLAS_CORETYPE, and the re-exec path (forced to a core other
# than the one OpenBLAS picked, so that it runs on any x86_64 CPU): same
# arguments, same result, one re-exec, errors after it still one line; the
# OPENBLAS_THREAD_TIMEOUT that the same re-exec sets with more than one BLAS
# thread. Every run starts from an environment without OPENBLAS_CORETYPE,
# OPENBLAS_THREAD_TIMEOUT and QZ_BLAS_CORETYPE, whatever the machine sets.
. "$(dirname "$0")/lib.sh"

clean=(env -u OPENBLAS_CORETYPE -u OPENBLAS_THREAD_TIMEOUT -u QZ_BLAS_CORETYPE -u QZ_BLAS_REEXEC -u QZ_BLAS_PROBE)
# blas_field FILE KEY: a string or number field of the "blas" object.
blas_field() { grep -o '"blas":{[^}]*}' "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }

if [ "$(uname -m)" != x86_64 ]; then skip blas_all "core selection is only ranked on x86_64"; exit 0; fi
if ! have_shared; then skip blas_all "$SHARED not found"; exit 0; fi
M=$SHARED/models/stories260K
F16=$SHARED/models/stories260K-f16
TXT="$TMP/a b'c.txt" # a name the re-exec must pass on unchanged
head -c 20000 "$SHARED/data/tinystories-valid.txt" >"$TXT"
EVAL=("$BIN"/qz-eval "$M" --text "$TXT" --json --seqlen 128 --max-windows 2)

# Bad settings: exit 2, one line, before any work.
expect_exit blas_bad_name 2 "QZ_BLAS_CORETYPE='Skylake-X': not an OpenBLAS core name" \
  "${clean[@]}" QZ_BLAS_CORETYPE=Skylake-X "${EVAL[@]}"
expect_exit blas_empty 2 "QZ_BLAS_CORETYPE is empty" "${clean[@]}" QZ_BLAS_CORETYPE= "${EVAL[@]}"

# keep: what OpenBLAS picked by itself.
"${clean[@]}" QZ_BLAS_CORETYPE=keep "${EVAL[@]}" >"$TMP/keep.json" 2>"$TMP/keep.err"
picked=$(blas_field "$TMP/keep.json" core)
if [ -n "$picked" ] && [ "$(blas_field "$TMP/keep.json" library)" = OpenBLAS ] &&
   [ -n "$(blas_field "$TMP/keep.json" version)" ] && [ "$(blas_field "$TMP/keep.json" threads)" -ge 1 ] &&
   [ "$(blas_field "$TMP/keep.json" action)" = kept ] && [ "$(blas_field "$TMP/keep.json" detected)" = "$picked" ] &&
   [ "$(blas_field "$TMP/keep.json" thread_timeout)" = default ]; then
  pass blas_keep
else fail blas_keep "$(cat "$TMP/keep.json" "$TMP/keep.err" | head -c 600)"; fi
ppl_keep=$(json_num "$TMP/keep.json" ppl)

# Forced to another core: the tool re-executes itself once with it.
target=Prescott
[ "$picked" = Prescott ] && target=Nehalem
timeout 120 "${clean[@]}" QZ_BLAS_CORETYPE=$target "${EVAL[@]}" >"$TMP/force.json" 2>"$TMP/force.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(blas_field "$TMP/force.json" core)" = $target ] &&
   [ "$(blas_field "$TMP/force.json" action)" = switched ] && [ "$(blas_field "$TMP/force.json" detected)" = "$picked" ] &&
   [ "$(blas_field "$TMP/force.json" selection)" = force ]; then
  pass blas_force_reexec
else fail blas_force_reexec "exit $rc: $(cat "$TMP/force.json" "$TMP/force.err" | head -c 600)"; fi
# ... with the same arguments (the odd file name) and the same job done.
if grep -qF "\"text\":\"$TXT\"" "$TMP/force.json" && [ "$(wc -l <"$TMP/force.json")" -eq 1 ] && [ ! -s "$TMP/force.err" ] &&
   [ "$(json_num "$TMP/force.json" tokens)" = "$(json_num "$TMP/keep.json" tokens)" ] &&
   close_rel "$(json_num "$TMP/force.json" ppl)" "$ppl_keep" 1e-4; then
  pass blas_reexec_same_job
else fail blas_reexec_same_job "$(head -c 400 "$TMP/force.json") vs ppl $ppl_keep; stderr: $(head -c 200 "$TMP/force.err")"; fi
# An input error in the re-executed tool is still one line, exit 2.
expect_exit blas_reexec_error 2 "cannot open" "${clean[@]}" QZ_BLAS_CORETYPE=$target "$BIN"/qz-eval "$M" --text "$TMP/missing.txt" --json

# A core this OpenBLAS lacks or this CPU cannot run is refused, not used.
"${clean[@]}" QZ_BLAS_CORETYPE=SapphireRapids "${EVAL[@]}" >"$TMP/spr.json" 2>"$TMP/spr.err"
rc=$?
if { [ $rc -eq 2 ] && grep -q "QZ_BLAS_CORETYPE=SapphireRapids: " "$TMP/spr.err" && [ ! -s "$TMP/spr.json" ]; } ||
   { [ $rc -eq 0 ] && [ "$(blas_field "$TMP/spr.json" core)" = SapphireRapids ]; }; then
  pass blas_force_unavailable
else fail blas_force_unavailable "exit $rc: $(cat "$TMP/spr.json" "$TMP/spr.err" | head -c 400)"; fi

# The user's OPENBLAS_CORETYPE wins over auto.
"${clean[@]}" OPENBLAS_CORETYPE=$target "${EVAL[@]}" >"$TMP/user.json" 2>&1
if [ "$(blas_field "$TMP/user.json" core)" = $target ] && [ "$(blas_field "$TMP/user.json" action)" = kept ] &&
   grep -q 'OPENBLAS_CORETYPE set by the user' "$TMP/user.json"; then
  pass blas_user_coretype
else fail blas_user_coretype "$(head -c 400 "$TMP/user.json")"; fi

# auto (the default): a switch only away from what OpenBLAS picked, to a core
# that loads; kept only for a stated reason. Which one depends on the CPU.
"${clean[@]}" "${EVAL[@]}" >"$TMP/auto.json" 2>"$TMP/auto.err"
core=$(blas_field "$TMP/auto.json" core)
case "$(blas_field "$TMP/auto.json" action)" in
  switched) [ "$(blas_field "$TMP/auto.json" detected)" = "$picked" ] && [ "$core" != "$picked" ] &&
              [ "$(QZ_BLAS_PROBE=1 OPENBLAS_CORETYPE=$core "$BIN"/qz-eval | cut -d' ' -f1,2)" = "$core 1" ] ;;
  kept) [ "$core" = "$picked" ] &&
          grep -q '"reason":"\(running core is the best\|.*has no\|.*failed the\|no better core loaded\)' "$TMP/auto.json" ;;
  *) false ;;
esac && pass blas_auto || fail blas_auto "$(cat "$TMP/auto.json" "$TMP/auto.err" | head -c 600)"

# The thread timeout: with 2 BLAS threads auto re-executes once with
# OPENBLAS_THREAD_TIMEOUT=16 (the same job, the same result); never over the
# user's own value, with one thread or with keep.
"${clean[@]}" OPENBLAS_NUM_THREADS=2 "${EVAL[@]}" >"$TMP/to.json" 2>"$TMP/to.err"
if [ "$(blas_field "$TMP/to.json" thread_timeout)" = 16 ] && [ "$(blas_field "$TMP/to.json" threads)" = 2 ] &&
   grep -q '"reason":"[^"]*; re-executed with OPENBLAS_THREAD_TIMEOUT=16"' "$TMP/to.json" && [ ! -s "$TMP/to.err" ] &&
   [ "$(json_num "$TMP/to.json" tokens)" = "$(json_num "$TMP/keep.json" tokens)" ] &&
   close_rel "$(json_num "$TMP/to.json" ppl)" "$ppl_keep" 1e-4; then
  pass blas_thread_timeout_reexec
else fail blas_thread_timeout_reexec "$(cat "$TMP/to.json" "$TMP/to.err" | head -c 600)"; fi
"${clean[@]}" OPENBLAS_NUM_THREADS=2 OPENBLAS_THREAD_TIMEOUT=20 "${EVAL[@]}" >"$TMP/to_user.json" 2>&1
"${clean[@]}" OPENBLAS_NUM_THREADS=1 "${EVAL[@]}" >"$TMP/to_one.json" 2>&1
"${clean[@]}" OPENBLAS_NUM_THREADS=2 QZ_BLAS_CORETYPE=keep "${EVAL[@]}" >"$TMP/to_keep.json" 2>&1
if [ "$(blas_field "$TMP/to_user.json" thread_timeout)" = 20 ] && ! grep -q 're-executed with' "$TMP/to_user.json" &&
   [ "$(blas_field "$TMP/to_one.json" thread_timeout)" = default ] &&
   [ "$(blas_field "$TMP/to_keep.json" thread_timeout)" = default ]; then
  pass blas_thread_timeout_respected
else fail blas_thread_timeout_respected "$(head -c 300 "$TMP/to_user.json") | $(head -c 300 "$TMP/to_one.json") | $(head -c 300 "$TMP/to_keep.json")"; fi

# Every tool's --json carries the object (eval --info, gptq, prune, smooth, awq).
CAL=(--calib "$TXT" --nsamples 2 --seqlen 64 --quiet --json)
ok=1 missing=""
"${clean[@]}" "$BIN"/qz-eval "$M" --info --json >"$TMP/t1" 2>&1
"${clean[@]}" "$BIN"/qz-gptq "$F16" "$TMP/o_gptq" --method rtn --bits 4 --group-size 32 --quiet --json >"$TMP/t2" 2>&1
"${clean[@]}" "$BIN"/qz-prune "$F16" "$TMP/o_prune" --method magnitude --sparsity 0.5 --quiet --json >"$TMP/t3" 2>&1
"${clean[@]}" "$BIN"/qz-smooth "$F16" "$TMP/o_smooth" "${CAL[@]}" >"$TMP/t4" 2>&1
"${clean[@]}" "$BIN"/qz-awq "$F16" "$TMP/o_awq" --bits 4 --group-size 32 --allow-partial-groups "${CAL[@]}" >"$TMP/t5" 2>&1
for i in 1 2 3 4 5; do
  [ "$(blas_field "$TMP/t$i" core)" = "$(blas_field "$TMP/auto.json" core)" ] || { ok=0; missing="$missing t$i: $(head -c 200 "$TMP/t$i")"; }
done
[ $ok -eq 1 ] && pass blas_every_tool_json || fail blas_every_tool_json "$missing"
