#!/usr/bin/env bash
# qz-eval --info on artifacts of the shared model stories260K-f16 (qz-gptq
# RTN/GPTQ, qz-awq, qz-smooth --w8a8, qz-prune 2:4 sparse-24-bitmask): format,
# bits, group size, the modules
# left in FP16, and the bits per weight against the formula evaluated here
# from the layouts of FORMAT.md; bad directories exit 2 with one error line.
. "$(dirname "$0")/lib.sh"

"$BIN"/qz-eval --help | grep -q -- '--info' && pass info_help || fail info_help "--info not in usage"
expect_exit info_missing_dir 2 "/nonexistent/model: not a model directory" "$BIN"/qz-eval /nonexistent/model --info
mkdir "$TMP/empty"
expect_exit info_not_a_model 2 "config.json: cannot open" "$BIN"/qz-eval "$TMP/empty" --info --json

if ! have_shared; then skip info_shared "$SHARED not found"; exit 0; fi
M=$SHARED/models/stories260K-f16
. "$(dirname "$0")/../../scripts/split.sh"
split_half "$SHARED/data/tinystories-valid.txt" "$TMP/calib.txt" "$TMP/heldout.txt"
CAL=(--calib "$TMP/calib.txt" --nsamples 4 --seqlen 128 --quiet)

# The model: hidden 64, intermediate 172, 8 heads and 4 KV heads of 8, 5 layers, vocab 512, tied, F16.
# expect_bpw KIND BITS GS FP: "bpw_decoder bpw_file" by formula. KIND gptq | awq | ct | s24 | fp; FP:
# the linears left in FP16 (q k v o gate up down). A GPTQ linear stores qweight in*out*b bits, qzeros
# G*out*b, scales G*out*16, g_idx in*32; AWQ GEMM qweight in*out*4, qzeros G*out*4, scales G*out*16;
# compressed-tensors int8 weight out*in*8 and F32 scales out*32; sparse-24-bitmask compressed
# out*in/2*16, bitmask out*ceil(in/8)*8, shape 2*64; FP16 out*in*16.
expect_bpw() {
  awk -v kind="$1" -v b="$2" -v gs="$3" -v fp=" $4 " 'BEGIN {
    H = 64; I = 172; L = 5; V = 512
    split("q k v o gate up down", name, " ")
    split("64 32 32 64 172 172 64", out, " "); split("64 64 64 64 64 64 172", ins, " ")
    for (i = 1; i <= 7; i++) {
      o = out[i]; n = ins[i]; G = gs == -1 ? 1 : n / gs
      if (kind == "fp" || index(fp, " " name[i] " ")) bits = o * n * 16
      else if (kind == "gptq") bits = n * o * b + G * o * b + G * o * 16 + n * 32
      else if (kind == "awq") bits = n * o * 4 + G * o * 4 + G * o * 16
      else if (kind == "s24") bits = o * n / 2 * 16 + o * int((n + 7) / 8) * 8 + 2 * 64
      else bits = o * n * 8 + o * 32
      lin += L * bits; w += L * o * n
    }
    other = V * H + H * (2 * L + 1)
    printf "%.10g %.10g\n", lin / w, (lin + other * 16) / (w + other)
  }'
}
json_str() { sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" "$1"; }
fp_list() { sed -n 's/.*"fp_modules":\[\([^]]*\)\].*/\1/p' "$1" | tr -d '"' | sed 's/self_attn\.//g; s/mlp\.//g; s/_proj//g; s/,/ /g'; }

# check NAME DIR KIND FORMAT BITS GS FP: one artifact against the formula
check() {
  local name=$1 dir=$2 kind=$3 format=$4 bits=$5 gs=$6 fp=$7 j="$TMP/$1.json"
  if ! "$BIN"/qz-eval "$dir" --info --json >"$j" 2>"$TMP/$name.err"; then fail "$name" "exit $?: $(cat "$TMP/$name.err")"; return; fi
  read -r want_dec want_file < <(expect_bpw "$kind" "$bits" "$gs" "$fp")
  local got_fmt got_bits got_gs got_fp got_dec got_file
  got_fmt=$(json_str "$j" format); got_bits=$(json_num "$j" bits); got_gs=$(json_num "$j" group_size)
  got_fp=$(fp_list "$j"); got_dec=$(json_num "$j" bpw_decoder); got_file=$(json_num "$j" bpw_file)
  [ "$got_fmt" = "$format" ] || { fail "$name" "format $got_fmt, want $format"; return; }
  [ "$got_bits" = "$bits" ] || { fail "$name" "bits $got_bits, want $bits"; return; }
  [ "$kind" = fp ] || [ "$kind" = s24 ] || [ "$got_gs" = "$gs" ] || { fail "$name" "group_size $got_gs, want $gs"; return; }
  [ "$got_fp" = "$fp" ] || { fail "$name" "fp_modules '$got_fp', want '$fp'"; return; }
  close_rel "$got_dec" "$want_dec" 1e-9 || { fail "$name" "bpw_decoder $got_dec, formula $want_dec"; return; }
  close_rel "$got_file" "$want_file" 1e-9 || { fail "$name" "bpw_file $got_file, formula $want_file"; return; }
  grep -q '"warnings":\[\]' "$j" || { fail "$name" "warnings: $(grep -o '"warnings":.*' "$j")"; return; }
  pass "$name"
}

check info_fp16 "$M" fp fp16 16 -1 "q k v o gate up down"
grep -q '"sparsity":0,' "$TMP/info_fp16.json" && pass info_fp16_no_zeros || fail info_fp16_no_zeros "$(grep -o '"zero_weights":[0-9]*' "$TMP/info_fp16.json" | head -1)"

"$BIN"/qz-gptq "$M" "$TMP/rtn4" --method rtn --bits 4 --group-size 32 --quiet >/dev/null
check info_rtn_4bit_g32 "$TMP/rtn4" gptq gptq 4 32 "gate up down"
"$BIN"/qz-gptq "$M" "$TMP/rtn8" --method rtn --bits 8 --group-size -1 --quiet >/dev/null
check info_rtn_8bit_per_channel "$TMP/rtn8" gptq gptq 8 -1 ""
"$BIN"/qz-gptq "$M" "$TMP/gptq2" "${CAL[@]}" --bits 2 --group-size 32 >/dev/null
check info_gptq_2bit_g32 "$TMP/gptq2" gptq gptq 2 32 "gate up down"
"$BIN"/qz-gptq "$M" "$TMP/gptq3" "${CAL[@]}" --bits 3 --group-size -1 --asym --act-order >/dev/null
check info_gptq_3bit_v2_act_order "$TMP/gptq3" gptq gptq_v2 3 -1 "gate up down"
grep -q '"sym":false,"desc_act":true' "$TMP/info_gptq_3bit_v2_act_order.json" && pass info_gptq_sym_desc_act ||
  fail info_gptq_sym_desc_act "$(grep -o '"sym":[a-z]*,"desc_act":[a-z]*' "$TMP/info_gptq_3bit_v2_act_order.json")"
"$BIN"/qz-awq "$M" "$TMP/awq4" "${CAL[@]}" --bits 4 --group-size 32 --allow-partial-groups >/dev/null 2>&1
check info_awq_gemm_g32 "$TMP/awq4" awq awq_gemm 4 32 "gate up down"
"$BIN"/qz-smooth "$M" "$TMP/w8a8" "${CAL[@]}" --w8a8 >/dev/null
check info_smooth_w8a8 "$TMP/w8a8" ct ct_int_quantized 8 -1 ""

if "$BIN"/qz-prune --help 2>/dev/null | grep -q 'sparse-24-bitmask'; then
  "$BIN"/qz-prune "$M" "$TMP/s24" --method magnitude --pattern 2:4 --format sparse-24-bitmask --quiet >/dev/null 2>&1
  check info_prune_sparse24 "$TMP/s24" s24 ct_sparse24_bitmask 16 -1 "gate up down"
  # magnitude 2:4 zeroes half of every linear, the FP16 ones included
  grep -q '"float_weights":226560,"zero_weights":113280,"sparsity":0.5,' "$TMP/info_prune_sparse24.json" &&
    pass info_prune_sparse24_zeros || fail info_prune_sparse24_zeros "$(grep -o '"zero_weights":[0-9]*,"sparsity":[0-9.]*' "$TMP/info_prune_sparse24.json")"
else
  skip info_prune_sparse24 "qz-prune has no sparse-24-bitmask output"
fi

"$BIN"/qz-eval "$TMP/rtn4" --info >"$TMP/text" 2>"$TMP/text.err" && grep -q '^format gptq (quant_method gptq): 4-bit, group 32' "$TMP/text" &&
  grep -q '^left in floating point: mlp.gate_proj mlp.up_proj mlp.down_proj$' "$TMP/text" &&
  grep -q '^bits per weight, decoder linears: ' "$TMP/text" && [ ! -s "$TMP/text.err" ] && pass info_text ||
  fail info_text "$(head -c 400 "$TMP/text")"
