#!/usr/bin/env bash
# qz-distill end to end on the shared model (a few short steps each): a
# structured-pruned student trained from its teacher, the output's
# perplexity as qz-eval measures it equal to the tool's own evaluation,
# determinism, kill -9 + --resume byte-identical to an uninterrupted run,
# zeros of a magnitude-pruned student kept exactly, a teacher cache, a
# pre-tokenized data file, and bad input (exit 2 or 3 with one line, nothing written).
. "$(dirname "$0")/lib.sh"

expect_exit distill_no_args 2 "expected TEACHER_DIR STUDENT_DIR OUT_DIR" "$BIN"/qz-distill
expect_exit distill_no_data 2 "--data FILE is required" "$BIN"/qz-distill a b c
expect_exit distill_bad_lr 2 "--lr '5': expected a number in" "$BIN"/qz-distill a b c --data x --lr 5
expect_exit distill_bad_steps 2 "--steps '0': expected an integer in" "$BIN"/qz-distill a b c --data x --steps 0
expect_exit distill_bad_loss 2 "expected kl, rkl, jsd or ce" "$BIN"/qz-distill a b c --data x --loss mse
expect_exit distill_cache_loss 2 "only --loss kl" "$BIN"/qz-distill a b c --data x --teacher-cache f --loss jsd
expect_exit distill_warmup 2 "more than the 5 steps" "$BIN"/qz-distill a b c --data x --steps 5 --warmup 6

if ! have_shared; then skip distill_shared "$SHARED not found"; exit 0; fi
T=$SHARED/models/stories260K
. "$(dirname "$0")/../../scripts/split.sh"
split_half "$SHARED/data/tinystories-valid.txt" "$TMP/train_full.txt" "$TMP/eval_full.txt"
head -c 60000 "$TMP/train_full.txt" >"$TMP/train.txt"
head -c 8000 "$TMP/eval_full.txt" >"$TMP/eval.txt"
S=$TMP/student
"$BIN"/qz-prune "$T" "$S" --method structured --heads 4 --ffn-keep 0.5 --calib "$TMP/train.txt" --nsamples 8 --seqlen 64 --quiet
RUN=(--data "$TMP/train.txt" --seqlen 64 --batch 2 --lr 3e-3 --threads 1 --quiet)

# A short run: the output loads, its held-out perplexity is the tool's own figure, the curve is logged.
"$BIN"/qz-distill "$T" "$S" "$TMP/a" "${RUN[@]}" --steps 6 --eval-text "$TMP/eval.txt" --eval-every 3 --json >"$TMP/a.json"
rc=$?
final=$(json_num "$TMP/a.json" final_ppl)
initial=$(json_num "$TMP/a.json" initial_ppl)
qe=$("$BIN"/qz-eval "$TMP/a" --text "$TMP/eval.txt" --seqlen 64 --json | json_num /dev/stdin ppl)
if [ $rc -eq 0 ] && [ -n "$final" ] && close_rel "$qe" "$final" 1e-5; then pass distill_eval_matches_qz_eval
else fail distill_eval_matches_qz_eval "rc $rc, tool $final, qz-eval $qe"; fi
awk -v a="$final" -v b="$initial" 'BEGIN { exit !(a < b) }' && pass distill_ppl_falls || fail distill_ppl_falls "$initial -> $final"
n=$(grep -c '"step":' "$TMP/a/qz-log.jsonl")
grep -q '"distill":{' "$TMP/a/qz-log.jsonl" && [ "$n" -eq 6 ] && [ "$(grep -c eval_ppl "$TMP/a/qz-log.jsonl")" -eq 2 ] &&
  pass distill_log_curve || fail distill_log_curve "$n step lines"
grep -q '"num_attention_heads":[[:space:]]*4' "$TMP/a/config.json" && [ ! -e "$TMP/a.qz-ckpt" ] &&
  pass distill_output_config || fail distill_output_config "config or leftover checkpoint"

# Same seed and threads: the same bytes.
"$BIN"/qz-distill "$T" "$S" "$TMP/b" "${RUN[@]}" --steps 6 --eval-text "$TMP/eval.txt" --eval-every 3
cmp -s "$TMP/a/model.safetensors" "$TMP/b/model.safetensors" && cmp -s "$TMP/a/qz-log.jsonl" "$TMP/b/qz-log.jsonl" &&
  pass distill_deterministic || fail distill_deterministic "outputs differ"

# kill -9 at a random step after a checkpoint exists, then --resume: the uninterrupted run's bytes.
R=(--steps 100 --checkpoint-every 7 --loss jsd --alpha 0.5 --temperature 2)
"$BIN"/qz-distill "$T" "$S" "$TMP/ref" "${RUN[@]}" "${R[@]}"
"$BIN"/qz-distill "$T" "$S" "$TMP/k" "${RUN[@]}" "${R[@]}" &
pid=$!
for _ in $(seq 600); do [ -e "$TMP/k.qz-ckpt" ] && break; sleep 0.05; done
sleep "0.$((RANDOM % 5))"
{ kill -9 $pid; killed=$?; wait $pid; } 2>/dev/null
if [ $killed -ne 0 ] || [ -e "$TMP/k" ]; then fail distill_kill9 "the run ended before the kill (or left OUT)"
else
  "$BIN"/qz-distill "$T" "$S" "$TMP/k" "${RUN[@]}" "${R[@]}" --resume 2>"$TMP/err"
  cmp -s "$TMP/k/model.safetensors" "$TMP/ref/model.safetensors" && cmp -s "$TMP/k/qz-log.jsonl" "$TMP/ref/qz-log.jsonl" &&
    pass distill_kill9_resume_identical || fail distill_kill9_resume_identical "resumed output differs: $(head -c 200 "$TMP/err")"
fi

# A magnitude-pruned student: every zero stays exactly zero.
"$BIN"/qz-prune "$T" "$TMP/sparse" --method magnitude --sparsity 0.5 --quiet
"$BIN"/qz-distill "$T" "$TMP/sparse" "$TMP/sd" "${RUN[@]}" --steps 3 --json >"$TMP/sd.json"
zeros() { "$BIN"/qz-eval "$1" --info --json | grep -o '"zero_weights":[0-9]*' | head -1 | cut -d: -f2; } # the model's total
z0=$(zeros "$TMP/sparse") z1=$(zeros "$TMP/sd")
masked=$(json_num "$TMP/sd.json" masked_zeros)
[ -n "$z0" ] && [ "$z0" -gt 0 ] && [ "$z0" = "$z1" ] && [ "$masked" = "$z0" ] && ! cmp -s "$TMP/sparse/model.safetensors" "$TMP/sd/model.safetensors" &&
  pass distill_keeps_sparsity || fail distill_keeps_sparsity "zeros $z0 -> $z1, masked $masked"

# A teacher cache: written once, then read (the teacher is not run) to the same result within float rounding.
"$BIN"/qz-distill "$T" "$S" "$TMP/c1" "${RUN[@]}" --steps 3 --teacher-cache "$TMP/t.topk" --top-k 512 --eval-text "$TMP/eval.txt" --json >"$TMP/c1.json"
"$BIN"/qz-distill "$T" "$S" "$TMP/c2" "${RUN[@]}" --steps 3 --teacher-cache "$TMP/t.topk" --eval-text "$TMP/eval.txt" --json >"$TMP/c2.json"
"$BIN"/qz-distill "$T" "$S" "$TMP/c0" "${RUN[@]}" --steps 3 --eval-text "$TMP/eval.txt" --json >"$TMP/c0.json"
p0=$(json_num "$TMP/c0.json" final_ppl) p1=$(json_num "$TMP/c1.json" final_ppl) p2=$(json_num "$TMP/c2.json" final_ppl)
[ -s "$TMP/t.topk" ] && [ "$p1" = "$p2" ] && close_rel "$p1" "$p0" 1e-4 && pass distill_teacher_cache || fail distill_teacher_cache "ppl $p0 / $p1 / $p2"
expect_exit distill_cache_other_run 2 "not of this run" "$BIN"/qz-distill "$T" "$S" "$TMP/c3" "${RUN[@]}" --steps 4 --teacher-cache "$TMP/t.topk"

# Pre-tokenized data (*.tokens: whitespace-separated ids) and --tokens.
awk 'BEGIN { srand(3); for (i = 0; i < 3000; i++) printf "%d%s", int(rand() * 512), (i % 20 == 19 ? "\n" : " ") }' >"$TMP/ids.tokens"
"$BIN"/qz-distill "$T" "$S" "$TMP/tk" "${RUN[@]}" --data "$TMP/ids.tokens" --tokens 300 --json >"$TMP/tk.json"
[ $? -eq 0 ] && [ "$(json_num "$TMP/tk.json" steps)" = 3 ] && [ -s "$TMP/tk/model.safetensors" ] &&
  pass distill_token_file || fail distill_token_file "$(head -c 200 "$TMP/tk.json")"
printf '1 2 600 4\n' >"$TMP/bad.tokens"
expect_exit distill_token_file_bad_id 2 "token 2 ('600'): expected an id in \[0, 512)" "$BIN"/qz-distill "$T" "$S" "$TMP/x" "${RUN[@]}" --data "$TMP/bad.tokens"

# Bad input: one line, nothing written.
printf 'Once upon a time.\n' >"$TMP/short.txt"
expect_exit distill_short_text 2 "shorter than one window" "$BIN"/qz-distill "$T" "$S" "$TMP/x" "${RUN[@]}" --data "$TMP/short.txt"
cp -r "$S" "$TMP/badtok"
sed -i 's/"▁ha": 300/"▁ha": 301/; s/"▁S": 301/"▁S": 300/' "$TMP/badtok/tokenizer.json"
expect_exit distill_tokenizer_mismatch 2 "tokenizer mismatch" "$BIN"/qz-distill "$T" "$TMP/badtok" "$TMP/x" "${RUN[@]}"
expect_exit distill_out_exists 2 "exists (use --force" "$BIN"/qz-distill "$T" "$S" "$TMP/a" "${RUN[@]}"
# A student whose final norm holds FLT_MAX: the loss overflows at step 1 -> exit 3 naming the step.
cp -r "$T" "$TMP/inf"
hdr=$(od -A n -t u8 -N 8 "$TMP/inf/model.safetensors" | tr -d ' ')
off=$(grep -ao '"model.norm.weight":{[^}]*}' "$TMP/inf/model.safetensors" | sed 's/.*data_offsets":\[\([0-9]*\),.*/\1/')
printf '\xff\xff\x7f\x7f' | dd of="$TMP/inf/model.safetensors" bs=1 seek=$((8 + hdr + off)) conv=notrunc status=none
expect_exit distill_nonfinite 3 "step 1: non-finite" "$BIN"/qz-distill "$T" "$TMP/inf" "$TMP/x" "${RUN[@]}"
[ ! -e "$TMP/x" ] && [ ! -e "$TMP/x.qz-ckpt" ] && pass distill_nothing_written || fail distill_nothing_written "$(ls "$TMP")"
