#!/usr/bin/env bash
# qz-eval --base and the quality gate end to end: a GPTQ artifact of the
# shared model against the float64 references in tests/fixtures/kl_reference.txt
# (scripts/ref_kl.py), the top-k cache (written, reused without the base,
# rejected when it does not match), thresholds and exit codes (a damaged
# 2-bit artifact fails, an 8-bit one passes), JUnit, gate files, Markdown,
# and bad input (exit 2, one clear line).
. "$(dirname "$0")/lib.sh"

# Named tolerances. qz runs the forward pass in float32 and reduces in double;
# the reference is float64 throughout.
TOL_MEAN=1e-4   # relative, means over 2,040 tokens (float32 logit error ~1e-6 relative averages down; measured <= 1e-6)
TOL_ORDER=1e-3  # relative, median / p99 / max: single tokens, no averaging (measured <= 2e-5)
TOL_STORE=1e-7  # absolute: the cache stores log-probabilities as float32 (rounding 6e-8 relative), so the
                # estimate may exceed the exact KL by that much although it cannot mathematically

close_ar() { awk -v a="$1" -v b="$2" -v abs="$3" -v rel="$4" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(d <= abs + rel * m) }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
json_arr() { sed -n "s/.*\"$2\":\[\([^],]*\),\([^]]*\)\].*/\1 \2/p" "$1"; }
json_str() { sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" "$1"; }
FIX=tests/fixtures/kl_reference.txt
ref() { awk -v k="$1" '$1 == k { print $2; exit }' "$FIX"; }
ref2() { awk -v k="$1" '$1 == k { print $2, $3; exit }' "$FIX"; }

"$BIN"/qz-eval --help >"$TMP/help" && grep -q -- '--top-k-cache' "$TMP/help" && grep -q -- '--max-kld' "$TMP/help" &&
  grep -q -- '--junit' "$TMP/help" && pass gate_help || fail gate_help "usage lacks the comparison flags"
expect_exit gate_needs_base 2 "max-kld needs --base" "$BIN"/qz-eval x --text y --max-kld 0.1
expect_exit gate_markdown_json 2 "exclude each other" "$BIN"/qz-eval x --text y --base z --markdown --json
expect_exit gate_bad_threshold 2 "out of range" "$BIN"/qz-eval x --text y --base z --min-top1 1.5
expect_exit gate_topk_needs_cache 2 "needs --top-k-cache" "$BIN"/qz-eval x --text y --base z --top-k 8
expect_exit gate_junit_needs_threshold 2 "needs thresholds" "$BIN"/qz-eval x --text y --base z --junit j.xml

if ! have_shared; then skip gate_shared "$SHARED not found"; exit 0; fi
M=$SHARED/models/stories260K-f16
D=$SHARED/data/tinystories-valid.txt
EV=(--text "$D" --seqlen 256 --max-windows 8)

# ---- the reference artifact, regenerated with the fixture's flags
"$BIN"/qz-gptq "$M" "$TMP/w4" --calib "$D" --bits 4 --group-size 32 --nsamples 16 --seqlen 256 --seed 0 --quiet >/dev/null
sha=$(sha256sum "$TMP/w4/model.safetensors" | cut -d' ' -f1)
if [ "$sha" != "$(ref artifact_sha256)" ]; then
  fail gate_artifact_sha256 "qz-gptq made $sha, the fixture was computed for $(ref artifact_sha256) (rerun scripts/ref_kl.py)"
  exit 0
fi
pass gate_artifact_sha256

"$BIN"/qz-eval "$TMP/w4" --base "$M" "${EV[@]}" --json >"$TMP/exact.json" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <"$TMP/exact.json")" -eq 1 ] && pass gate_compare_runs || fail gate_compare_runs "exit $rc: $(cat "$TMP/err")"
J=$TMP/exact.json
ok=1
for f in model text tokens seqlen windows scored_tokens mean_nll ppl seconds base base_ppl base_mean_nll ppl_ratio ppl_delta \
  kld_mean kld_median kld_p99 kld_max top1_agreement dp_mean dp_rms ppl_ratio_ci95 ppl_delta_ci95 kld_mean_ci95 \
  top1_agreement_ci95 dp_mean_ci95 dp_rms_ci95 kld_source; do
  grep -q "\"$f\":" "$J" || { ok=0; echo "  missing $f"; }
done
[ "$(json_str "$J" kld_source)" = exact ] && [ "$(json_str "$J" base)" = "$M" ] || ok=0
[ $ok -eq 1 ] && pass gate_json_schema || fail gate_json_schema "$(cat "$J")"

[ "$(json_num "$J" tokens)" = "$(ref tokens)" ] && [ "$(json_num "$J" scored_tokens)" = "$(ref scored)" ] &&
  pass gate_ref_counts || fail gate_ref_counts "tokens $(json_num "$J" tokens) scored $(json_num "$J" scored_tokens)"

bad=""
base_ppl=$(ref base_ppl)
for k in base_mean_nll base_ppl mean_nll ppl ppl_ratio kld_mean dp_mean dp_rms; do
  close_ar "$(json_num "$J" $k)" "$(ref $k)" 1e-9 $TOL_MEAN || bad="$bad $k=$(json_num "$J" $k)/$(ref $k)"
done
close_ar "$(json_num "$J" ppl_delta)" "$(ref ppl_delta)" "$(awk -v p="$base_ppl" -v t=$TOL_MEAN 'BEGIN { print p * t }')" 0 ||
  bad="$bad ppl_delta=$(json_num "$J" ppl_delta)/$(ref ppl_delta)"
[ -z "$bad" ] && pass gate_ref_means || fail gate_ref_means "$bad"

bad=""
for k in kld_median kld_p99 kld_max; do
  close_ar "$(json_num "$J" $k)" "$(ref $k)" 0 $TOL_ORDER || bad="$bad $k=$(json_num "$J" $k)/$(ref $k)"
done
[ -z "$bad" ] && pass gate_ref_quantiles || fail gate_ref_quantiles "$bad"

# top-1: float32 can flip only tokens whose two best logits are nearly tied (counted by the reference)
TOL_TOP1=$(awk -v n="$(ref top1_near_ties)" -v s="$(ref scored)" 'BEGIN { print (n + 0.5) / s }')
close_ar "$(json_num "$J" top1_agreement)" "$(ref top1_agreement)" "$TOL_TOP1" 0 && pass gate_ref_top1 ||
  fail gate_ref_top1 "$(json_num "$J" top1_agreement) vs $(ref top1_agreement) (tolerance $TOL_TOP1)"

bad=""
for k in ppl_ratio_ci95 kld_mean_ci95 dp_mean_ci95 dp_rms_ci95 ppl_delta_ci95 top1_agreement_ci95; do
  read -r glo ghi <<<"$(json_arr "$J" $k)"
  read -r wlo whi <<<"$(ref2 $k)"
  abs=1e-9
  case $k in ppl_delta*) abs=$(awk -v p="$base_ppl" -v t=$TOL_MEAN 'BEGIN { print p * t }') ;; top1*) abs=$TOL_TOP1 ;; esac
  close_ar "$glo" "$wlo" "$abs" $TOL_MEAN && close_ar "$ghi" "$whi" "$abs" $TOL_MEAN || bad="$bad $k=[$glo,$ghi]/[$wlo,$whi]"
done
[ -z "$bad" ] && pass gate_ref_ci95 || fail gate_ref_ci95 "$bad"

# batches of 3 windows resident at a time: the same figures
"$BIN"/qz-eval "$TMP/w4" --base "$M" "${EV[@]}" --batch-windows 3 --json >"$TMP/b3.json" 2>"$TMP/err"
[ "$(json_num "$TMP/b3.json" kld_mean)" = "$(json_num "$J" kld_mean)" ] && [ "$(json_num "$TMP/b3.json" ppl)" = "$(json_num "$J" ppl)" ] &&
  pass gate_batching || fail gate_batching "batch 3: $(json_num "$TMP/b3.json" kld_mean) vs $(json_num "$J" kld_mean)"

# one window: CIs are null
"$BIN"/qz-eval "$TMP/w4" --base "$M" --text "$D" --seqlen 256 --max-windows 1 --json >"$TMP/one.json" 2>"$TMP/err"
grep -q '"kld_mean_ci95":null' "$TMP/one.json" && grep -q '"ppl_ratio_ci95":null' "$TMP/one.json" && pass gate_one_window_null_ci ||
  fail gate_one_window_null_ci "$(cat "$TMP/one.json" "$TMP/err")"

# ---- top-k cache: written by a --base run, reused without the base
C=$TMP/base.qzk
"$BIN"/qz-eval "$TMP/w4" --base "$M" "${EV[@]}" --top-k-cache "$C" --top-k 32 --json >"$TMP/w.json" 2>"$TMP/err" && [ -s "$C" ] &&
  [ ! -e "$C.tmp" ] && [ "$(json_num "$TMP/w.json" kld_mean)" = "$(json_num "$J" kld_mean)" ] && pass gate_cache_written ||
  fail gate_cache_written "$(cat "$TMP/err")"
"$BIN"/qz-eval "$TMP/w4" --text "$D" --top-k-cache "$C" --json >"$TMP/c.json" 2>"$TMP/err"
rc=$?
K=$TMP/c.json
[ $rc -eq 0 ] && [ "$(json_str "$K" kld_source)" = "top-k cache, k=32" ] && [ "$(json_str "$K" base)" = "$M" ] &&
  [ "$(json_num "$K" seqlen)" = 256 ] && [ "$(json_num "$K" windows)" = 8 ] && pass gate_cache_reused ||
  fail gate_cache_reused "exit $rc: $(cat "$TMP/err") $(cat "$K")"
bad=""
for k in ppl mean_nll base_ppl base_mean_nll ppl_ratio top1_agreement dp_mean dp_rms; do # exact from the cache: identical
  [ "$(json_num "$K" $k)" = "$(json_num "$J" $k)" ] || bad="$bad $k=$(json_num "$K" $k)/$(json_num "$J" $k)"
done
[ -z "$bad" ] && pass gate_cache_exact_figures || fail gate_cache_exact_figures "$bad"
# the estimate: never above the exact KL (mean and each quantile), equal to the reference's own top-32
# estimate, and below the exact KL by the reference's gap p_rest * KL(tails) (about 1.9% here)
bad=""
for k in kld_mean kld_median kld_p99 kld_max; do
  le "$(json_num "$K" $k)" "$(awk -v e="$(json_num "$J" $k)" -v t=$TOL_STORE 'BEGIN { print e + t }')" || bad="$bad $k above exact"
done
close_ar "$(json_num "$K" kld_mean)" "$(ref topk_kld_mean)" 1e-9 $TOL_MEAN || bad="$bad mean $(json_num "$K" kld_mean)/$(ref topk_kld_mean)"
for k in median p99 max; do
  close_ar "$(json_num "$K" kld_$k)" "$(ref topk_kld_$k)" 0 $TOL_ORDER || bad="$bad $k $(json_num "$K" kld_$k)/$(ref topk_kld_$k)"
done
gap=$(awk -v e="$(json_num "$J" kld_mean)" -v a="$(json_num "$K" kld_mean)" 'BEGIN { print e - a }')
want_gap=$(awk -v e="$(ref kld_mean)" -v a="$(ref topk_kld_mean)" 'BEGIN { print e - a }')
close_ar "$gap" "$want_gap" "$(awk -v e="$(ref kld_mean)" -v t=$TOL_MEAN 'BEGIN { print 2 * e * t }')" 0 || bad="$bad gap $gap/$want_gap"
[ -z "$bad" ] && pass gate_cache_kld_bound || fail gate_cache_kld_bound "$bad"

# ---- cache mismatches and misuse: exit 2
expect_exit gate_cache_seqlen 2 "seqlen 256, this run 128" "$BIN"/qz-eval "$TMP/w4" --text "$D" --seqlen 128 --top-k-cache "$C"
expect_exit gate_cache_windows 2 "8 windows, this run 4" "$BIN"/qz-eval "$TMP/w4" --text "$D" --max-windows 4 --top-k-cache "$C"
expect_exit gate_cache_text 2 "made from other tokens" "$BIN"/qz-eval "$TMP/w4" --text "$SHARED/data/wikitext2-test.txt" --top-k-cache "$C"
expect_exit gate_cache_k 2 "has k 32, --top-k asks for 16" "$BIN"/qz-eval "$TMP/w4" --text "$D" --top-k-cache "$C" --top-k 16
expect_exit gate_cache_exists 2 "exists: drop --base" "$BIN"/qz-eval "$TMP/w4" --base "$M" "${EV[@]}" --top-k-cache "$C"
expect_exit gate_cache_missing 2 "does not exist" "$BIN"/qz-eval "$TMP/w4" --text "$D" --top-k-cache "$TMP/none.qzk"
cp "$C" "$TMP/bad.qzk"
printf 'QZ' | dd of="$TMP/bad.qzk" bs=1 seek=2000 conv=notrunc status=none
expect_exit gate_cache_corrupt 2 "top-k cache" "$BIN"/qz-eval "$TMP/w4" --text "$D" --top-k-cache "$TMP/bad.qzk"
printf 'not a cache' >"$TMP/junk.qzk"
expect_exit gate_cache_junk 2 "not a qz top-k cache" "$BIN"/qz-eval "$TMP/w4" --text "$D" --top-k-cache "$TMP/junk.qzk"

# ---- tokenizer mismatch: a copy of the base with two token ids swapped
mkdir "$TMP/tok" && cp "$M"/* "$TMP/tok/" && chmod -R u+w "$TMP/tok"
sed -i 's/"en": 302/"en": 99999/; s/"an": 303/"an": 302/; s/"en": 99999/"en": 303/' "$TMP/tok/tokenizer.json"
expect_exit gate_tokenizer_mismatch 2 "tokenizer mismatch" "$BIN"/qz-eval "$TMP/tok" --base "$M" "${EV[@]}"

# ---- the gate: exit codes, messages, JUnit
"$BIN"/qz-gptq "$M" "$TMP/rtn2" --method rtn --bits 2 --group-size -1 --quiet >/dev/null
"$BIN"/qz-gptq "$M" "$TMP/rtn8" --method rtn --bits 8 --group-size -1 --quiet >/dev/null
TH=(--max-ppl-ratio 1.05 --max-kld 0.05 --min-top1 0.9)
"$BIN"/qz-eval "$TMP/rtn2" --base "$M" "${EV[@]}" "${TH[@]}" --junit "$TMP/fail.xml" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && grep -q '^qz-eval: gate failed: kld_mean [0-9.]* > 0.05 (by [0-9.]*)$' "$TMP/err" &&
  grep -q 'gate failed: top1_agreement .* < 0.9' "$TMP/err" && grep -q 'gate failed: ppl_ratio' "$TMP/err" &&
  grep -q '^perplexity' "$TMP/out" && pass gate_fails_damaged || fail gate_fails_damaged "exit $rc: $(cat "$TMP/err")"
[ "$(grep -c '<testcase ' "$TMP/fail.xml")" -eq 3 ] && [ "$(grep -c '<failure ' "$TMP/fail.xml")" -eq 3 ] &&
  grep -q 'tests="3" failures="3"' "$TMP/fail.xml" && grep -q 'message="kld_mean [0-9.]* &gt; 0.05 (by' "$TMP/fail.xml" &&
  [ ! -e "$TMP/fail.xml.tmp" ] && pass gate_junit_failures || fail gate_junit_failures "$(cat "$TMP/fail.xml")"
if command -v xmllint >/dev/null; then
  xmllint --noout "$TMP/fail.xml" && pass gate_junit_well_formed || fail gate_junit_well_formed "xmllint rejects it"
else
  skip gate_junit_well_formed "xmllint not installed (grep checks above still ran)"
fi
"$BIN"/qz-eval "$TMP/rtn8" --base "$M" "${EV[@]}" "${TH[@]}" --junit "$TMP/pass.xml" --json >"$TMP/pass.json" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && grep -q '"gate":{"passed":true,"gate_ci":false,"checks":\[{"name":"ppl_ratio","value":' "$TMP/pass.json" &&
  grep -q '"threshold":0.05,"passed":true}' "$TMP/pass.json" && pass gate_passes_8bit || fail gate_passes_8bit "exit $rc: $(cat "$TMP/err")"
[ "$(grep -c '<testcase ' "$TMP/pass.xml")" -eq 3 ] && ! grep -q '<failure' "$TMP/pass.xml" && grep -q 'failures="0"' "$TMP/pass.xml" &&
  pass gate_junit_passes || fail gate_junit_passes "$(cat "$TMP/pass.xml")"

# --gate-ci: the reference artifact's KL 0.0254 with CI [0.0236, 0.0272]: a threshold of 0.025 fails on the
# value, passes on the CI; 0.02 fails either way
"$BIN"/qz-eval "$TMP/w4" --base "$M" "${EV[@]}" --max-kld 0.025 >/dev/null 2>&1
rc1=$?
"$BIN"/qz-eval "$TMP/w4" --base "$M" "${EV[@]}" --max-kld 0.025 --gate-ci >/dev/null 2>&1
rc2=$?
"$BIN"/qz-eval "$TMP/w4" --base "$M" "${EV[@]}" --max-kld 0.02 --gate-ci >/dev/null 2>"$TMP/err"
rc3=$?
[ "$rc1$rc2$rc3" = 101 ] && grep -q 'kld_mean 0.0253.*95% CI \[0.0235.*> 0.02 (by' "$TMP/err" && pass gate_ci_mode ||
  fail gate_ci_mode "exit codes $rc1 $rc2 $rc3: $(cat "$TMP/err")"

# ---- gate files: per-model entries by directory name or --gate-model; flags override
G=tests/fixtures/gate.json
"$BIN"/qz-eval "$TMP/rtn8" --base "$M" "${EV[@]}" --gate "$G" --json >"$TMP/g.json" 2>/dev/null
rc=$?
[ $rc -eq 0 ] && [ "$(grep -o '"name":' "$TMP/g.json" | wc -l)" -eq 3 ] && pass gate_file_by_dir_name || fail gate_file_by_dir_name "exit $rc"
"$BIN"/qz-eval "$TMP/rtn8" --base "$M" "${EV[@]}" --gate "$G" --gate-model strict >/dev/null 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && grep -q 'gate failed: kld_mean .* > 0.0001' "$TMP/err" && [ "$(grep -c 'gate failed' "$TMP/err")" -eq 1 ] &&
  pass gate_file_select || fail gate_file_select "exit $rc: $(cat "$TMP/err")"
"$BIN"/qz-eval "$TMP/rtn8" --base "$M" "${EV[@]}" --gate "$G" --gate-model strict --max-kld 0.01 >/dev/null 2>&1 &&
  pass gate_flag_overrides_file || fail gate_flag_overrides_file "exit $?"
"$BIN"/qz-eval "$TMP/rtn2" --base "$M" "${EV[@]}" --gate "$G" >/dev/null 2>&1
[ $? -eq 1 ] && pass gate_file_fails_damaged || fail gate_file_fails_damaged "rtn2 passed its gate file entry"
printf '{"models": {"rtn8": {"max_kld": 0.01, "max_kl": 1}}}' >"$TMP/badgate.json"
expect_exit gate_file_unknown_key 2 "unknown key 'max_kl'" "$BIN"/qz-eval "$TMP/rtn8" --base "$M" "${EV[@]}" --gate "$TMP/badgate.json"
expect_exit gate_file_no_entry 2 "no entry for model 'w4'" "$BIN"/qz-eval "$TMP/w4" --base "$M" "${EV[@]}" --gate "$G"
printf '{"max_kld": ' >"$TMP/badgate.json"
expect_exit gate_file_malformed 2 "not a JSON object" "$BIN"/qz-eval "$TMP/w4" --base "$M" "${EV[@]}" --gate "$TMP/badgate.json"

# ---- Markdown for pull-request comments
"$BIN"/qz-eval "$TMP/rtn2" --base "$M" "${EV[@]}" --max-kld 0.05 --markdown >"$TMP/md" 2>/dev/null
[ $? -eq 1 ] && grep -q '^| metric | base | candidate | 95% CI | gate |$' "$TMP/md" && grep -q '^| KL divergence, mean | |.*\*\*FAIL\*\* |$' "$TMP/md" &&
  grep -q 'Gate: failed' "$TMP/md" && pass gate_markdown || fail gate_markdown "$(cat "$TMP/md")"
