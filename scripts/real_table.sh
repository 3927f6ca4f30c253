#!/usr/bin/env bash
# Issue 11's real-size table on the shared SmolLM2-135M GGUF (or any model
# qz reads): FP (dequantized) baseline; RTN, GPTQ (act-order on/off,
# sym/asym), AWQ, AWQ+GPTQ at each bits:group of RT_QUANT; W8A8 naive
# (qz-eval --act-bits 8 --weight-bits 8) vs SmoothQuant (qz-smooth --w8a8);
# magnitude / Wanda / SparseGPT at 50% and 2:4; structured pruning with
# settings valid under GQA 3:1 (6 of 9 query heads = 2 of 3 KV groups; FFN
# keep 0.75). Each row: perplexity, KL(base||row) and top-1 agreement
# (qz-eval against a top-k cache of the base, so the base runs once per
# evaluation text and seqlen), bits per weight (qz-eval --info bpw_decoder),
# wall time and peak RSS of the tool (its --json).
#
# Calibration on the first half of a text, evaluation on the second half
# (scripts/split.sh). RT_SPLITS lists CALIB:EVAL pairs of text names
# (wiki = wikitext2-test.txt, tiny = tinystories-valid.txt): wiki:wiki
# in-domain, tiny:tiny, tiny:wiki cross-domain. An artifact depends on its
# calibration text and seqlen only, so tiny:tiny and tiny:wiki share it;
# RTN, magnitude and W8A8-naive take no calibration and are made once.
#
# Group 128 on SmolLM2 (in_features 576 = 4.5 groups) needs
# --allow-partial-groups: a shorter last group, which qz reads but vLLM,
# GPTQModel and AutoAWQ refuse; RT_QUANT may add 4:64 (divides 576 and
# 1536: the loader-compatible choice). AWQ rows are written in the GPTQ
# layout (--format gptq: the AWQ GEMM layout cannot hold a partial group).
#
# usage: scripts/real_table.sh [MODEL] [OUT_DIR]
#   MODEL    default $SHARED/models/smollm2-135m-instruct-q4_1 (SHARED default ../shared)
#   OUT_DIR  default a fresh /tmp/qz-real-table.XXXXXX; an existing one is
#            resumed (finished artifacts and evaluations are kept)
# environment (defaults are the issue's settings; say what you ran):
#   RT_NSAMPLES (128 calibration windows), RT_SEQLENS ("512 2048"),
#   RT_EVAL_WINDOWS (0 = every window of the held-out half), RT_SPLITS
#   ("wiki:wiki tiny:tiny tiny:wiki"), RT_QUANT ("4:128 3:128 4:-1"),
#   RT_QMETHODS ("rtn rtn-asym gptq gptq-ao gptq-asym gptq-asym-ao awq awq-gptq"),
#   RT_OTHER ("w8a8-naive smoothquant magnitude-50 wanda-50 sparsegpt-50
#   magnitude-2:4 wanda-2:4 sparsegpt-2:4 struct-h6 struct-ffn0.75 struct-h6-ffn0.75"),
#   RT_ROWS (an explicit row list in the order to run, replacing the three
#   above: e.g. "fp gptq-w4g64 awq-w4g64 wanda-2:4"), RT_TOPK (64), THREADS (BLAS threads, 2), BUILD (build)
# Writes OUT_DIR/table.csv, OUT_DIR/table.md (settings, table, orderings) and prints table.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/split.sh"
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
M=${1:-$SHARED/models/smollm2-135m-instruct-q4_1}
NS=${RT_NSAMPLES:-128}
SEQLENS=${RT_SEQLENS:-512 2048}
EW=${RT_EVAL_WINDOWS:-0}
SPLITS=${RT_SPLITS:-wiki:wiki tiny:tiny tiny:wiki}
QUANT=${RT_QUANT:-4:128 3:128 4:-1}
QMETHODS=${RT_QMETHODS:-rtn rtn-asym gptq gptq-ao gptq-asym gptq-asym-ao awq awq-gptq}
OTHER=${RT_OTHER:-w8a8-naive smoothquant magnitude-50 wanda-50 sparsegpt-50 magnitude-2:4 wanda-2:4 sparsegpt-2:4 struct-h6 struct-ffn0.75 struct-h6-ffn0.75}
TOPK=${RT_TOPK:-64}
export OPENBLAS_NUM_THREADS=${THREADS:-2}
BIN=$BUILD/bin
die() { echo "real_table: error: $*" >&2; exit 2; }
[ -x "$BIN/qz-eval" ] || die "$BIN/qz-eval not found: run 'make BUILD=$BUILD' first"
[ -e "$M" ] || die "$M not found (set SHARED or give MODEL)"
declare -A TEXT=([wiki]=$SHARED/data/wikitext2-test.txt [tiny]=$SHARED/data/tinystories-valid.txt)
OUT=${2:-$(mktemp -d /tmp/qz-real-table.XXXXXX)}
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
for t in wiki tiny; do
  [ -f "${TEXT[$t]}" ] || die "${TEXT[$t]}: no such text"
  [ -f "$OUT/$t.held" ] || split_half "${TEXT[$t]}" "$OUT/$t.calib" "$OUT/$t.held"
done
json_num() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" "$1" | head -n 1; }

# cmd_for ROW: the quantize/prune commands of ROW as lines "TOOL ARGS", with
# IN, OUT, CAL (calibration flags) and TMP left for run_row to substitute;
# "-" when ROW needs no artifact (the base itself, W8A8 naive).
cmd_for() {
  local r=$1 g gf
  if [[ $r =~ ^([a-z-]+)-w([0-9])g(-?[0-9]+)$ ]]; then
    local m=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]}
    g=${BASH_REMATCH[3]}
    gf="--bits $b --group-size $g"
    [ "$g" = -1 ] || gf="$gf --allow-partial-groups"
    case $m in
      rtn) echo "qz-gptq IN OUT --method rtn $gf" ;;
      rtn-asym) echo "qz-gptq IN OUT --method rtn --asym $gf" ;;
      gptq) echo "qz-gptq IN OUT CAL $gf" ;;
      gptq-ao) echo "qz-gptq IN OUT CAL --act-order $gf" ;;
      gptq-asym) echo "qz-gptq IN OUT CAL --asym $gf" ;;
      gptq-asym-ao) echo "qz-gptq IN OUT CAL --asym --act-order $gf" ;;
      awq) echo "qz-awq IN OUT CAL --format gptq $gf" ;;
      awq-gptq) echo "qz-awq IN TMP CAL --scale-only $gf"; echo "qz-gptq TMP OUT CAL $gf" ;;
      *) die "RT_QMETHODS: unknown method '$m'" ;;
    esac
    return
  fi
  case $r in
    fp | w8a8-naive) echo - ;;
    smoothquant) echo "qz-smooth IN OUT CAL --w8a8" ;;
    magnitude-50) echo "qz-prune IN OUT --method magnitude --sparsity 0.5" ;;
    magnitude-2:4) echo "qz-prune IN OUT --method magnitude --pattern 2:4" ;;
    wanda-50 | sparsegpt-50) echo "qz-prune IN OUT CAL --method ${r%-50} --sparsity 0.5" ;;
    wanda-2:4 | sparsegpt-2:4) echo "qz-prune IN OUT CAL --method ${r%-2:4} --pattern 2:4" ;;
    struct-h6) echo "qz-prune IN OUT CAL --method structured --heads 6" ;;
    struct-ffn0.75) echo "qz-prune IN OUT CAL --method structured --ffn-keep 0.75" ;;
    struct-h6-ffn0.75) echo "qz-prune IN OUT CAL --method structured --heads 6 --ffn-keep 0.75" ;;
    *) die "RT_OTHER: unknown row '$r'" ;;
  esac
}

# make_row ROW CALIB SEQ: builds ROW's artifact (once) and prints its
# directory; OUT/<dir>.json gets "seconds peak_rss_mib" summed / maxed over
# the row's commands.
make_row() {
  local r=$1 cal=$2 seq=$3 cmds d
  cmds=$(cmd_for "$r")
  [ "$cmds" = - ] && { echo "$M"; return; }
  grep -q CAL <<<"$cmds" || { cal=none; seq=0; }
  d=$OUT/art/$cal-s$seq/${r//:/_}
  if [ ! -f "$d.cost" ]; then
    mkdir -p "$(dirname "$d")"
    local secs=0 rss=0 tool args w a j=$d.tool.json log=$OUT/logs/$cal-s$seq-${r//:/_}.err
    while read -r tool args; do
      a=()
      for w in $args; do
        case $w in
          IN) a+=("$M") ;;
          OUT) a+=("$d") ;;
          TMP) a+=("$d.scaled") ;;
          CAL) a+=(--calib "$OUT/$cal.calib" --nsamples "$NS" --seqlen "$seq" --seed 0) ;;
          *) a+=("$w") ;;
        esac
      done
      "$BIN/$tool" "${a[@]}" --force --json --quiet >"$j" 2>"$log" ||
        { echo "real_table: $r ($cal, seqlen $seq): $tool failed: $(tail -n 1 "$log")" >&2; return 1; }
      secs=$(awk -v a="$secs" -v b="$(json_num "$j" seconds)" 'BEGIN { print a + b }')
      rss=$(awk -v a="$rss" -v b="$(json_num "$j" peak_rss_mib)" 'BEGIN { print (b > a ? b : a) }')
    done <<<"$cmds"
    rm -rf "$d.scaled"
    echo "$secs $rss" >"$d.cost"
  fi
  echo "$d"
}

# evaluate DIR EVALTEXT SEQ JSON [FLAGS]: against the base's top-k cache for
# (EVALTEXT, SEQ); the first call of a pair runs the base and writes it.
evaluate() {
  local d=$1 t=$2 seq=$3 j=$4; shift 4
  local cache=$OUT/base.$t.s$seq.topk ev=(--text "$OUT/$t.held" --seqlen "$seq" --json --quiet)
  [ "$EW" -gt 0 ] && ev+=(--max-windows "$EW")
  [ -f "$j" ] && return 0
  local b=$OUT/base.$t.s$seq.json
  if [ ! -f "$cache" ]; then "$BIN"/qz-eval "$M" "${ev[@]}" --base "$M" --top-k "$TOPK" --top-k-cache "$cache" >"$b"; fi
  if [ "$d" = "$M" ] && [ $# -eq 0 ]; then cp "$b" "$j"; return; fi # the base row: its own run
  "$BIN"/qz-eval "$d" "${ev[@]}" --top-k-cache "$cache" "$@" >"$j.tmp" && mv "$j.tmp" "$j"
}

rows=(fp)
for q in $QUANT; do for m in $QMETHODS; do rows+=("$m-w${q%%:*}g${q##*:}"); done; done
for r in $OTHER; do rows+=("$r"); done
# shellcheck disable=SC2206 # RT_ROWS is a word list
[ -n "${RT_ROWS:-}" ] && rows=($RT_ROWS)
for r in "${rows[@]}"; do cmd_for "$r" >/dev/null; done # unknown names: exit 2 before any work
CSV=$OUT/table.csv
echo "calib,eval,seqlen,row,bpw,ppl,kld_mean,top1,seconds,peak_rss_mib" >"$CSV"
t_start=$(date +%s)
for seq in $SEQLENS; do
  for sp in $SPLITS; do
    cal=${sp%%:*} evt=${sp##*:}
    [ -n "${TEXT[$cal]:-}" ] && [ -n "${TEXT[$evt]:-}" ] || die "RT_SPLITS: '$sp' (texts: wiki, tiny)"
    for r in "${rows[@]}"; do
      echo "real_table: [$(($(date +%s) - t_start)) s] $r, calib $cal, eval $evt, seqlen $seq" >&2
      d=$(make_row "$r" "$cal" "$seq") || continue
      flags=(); [ "$r" = w8a8-naive ] && flags=(--act-bits 8 --weight-bits 8)
      j=$OUT/eval/$cal-$evt-s$seq-${r//:/_}.json
      mkdir -p "$OUT/eval"
      evaluate "$d" "$evt" "$seq" "$j" "${flags[@]}" 2>>"$OUT/logs/eval.err" ||
        { echo "real_table: $r: evaluation failed: $(tail -n 1 "$OUT/logs/eval.err")" >&2; continue; }
      info=$d.info.json; [ "$d" = "$M" ] && info=$OUT/base.info.json
      [ -f "$info" ] || "$BIN"/qz-eval "$d" --info --json >"$info"
      bpw=$(json_num "$info" bpw_decoder); [ "$r" = w8a8-naive ] && bpw=8
      cost="- -"; [ -f "$d.cost" ] && cost=$(cat "$d.cost")
      kl=$(json_num "$j" kld_mean) t1=$(json_num "$j" top1_agreement)
      [ "$r" = fp ] && { kl=0; t1=1; }
      echo "$cal,$evt,$seq,$r,$bpw,$(json_num "$j" ppl),$kl,$t1,${cost// /,}" >>"$CSV"
    done
  done
done

# ordering checks per (calib, eval, seqlen) on perplexity: GPTQ < RTN and
# AWQ <= GPTQ (1% slack) at every bits:group of RT_QUANT, SparseGPT within
# 10% of Wanda and Wanda < magnitude at 2:4
orderings() {
  echo "| calib,eval,seqlen | ordering | |"
  echo "| --- | --- | --- |"
  awk -F, -v quant="$QUANT" 'NR > 1 { k = $1 "," $2 "," $3; p[k, $4] = $6; keys[k] = 1 }
  function chk(k, a, b, rel, what,   pa, pb, ok) {
    if (!((k, a) in p) || !((k, b) in p)) return
    pa = p[k, a]; pb = p[k, b]
    if (rel == "<") ok = pa < pb; else if (rel == "<=") ok = pa <= pb * 1.01; else ok = pa <= pb * 1.10 && pb <= pa * 1.10
    printf "| %s | %s: %s %.3f %s %s %.3f | %s |\n", k, what, a, pa, rel, b, pb, ok ? "holds" : "FAILS"
  }
  END {
    nq = split(quant, Q, " ")
    for (k in keys) {
      for (i = 1; i <= nq; i++) {
        split(Q[i], bg, ":"); s = "-w" bg[1] "g" bg[2]
        chk(k, "gptq" s, "rtn" s, "<", "GPTQ < RTN")
        chk(k, "awq" s, "gptq" s, "<=", "AWQ <= GPTQ")
      }
      chk(k, "sparsegpt-2:4", "wanda-2:4", "~", "SparseGPT ~ Wanda (within 10%)")
      chk(k, "wanda-2:4", "magnitude-2:4", "<", "Wanda < magnitude")
    }
  }' "$CSV" | sort
}
{
  echo "scripts/real_table.sh, $(date -u +%Y-%m-%dT%H:%MZ), $("$BIN"/qz-eval --version | head -n 1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "model $M; calibration $NS windows x seqlen (seed 0) of the first half; evaluation on the second half,"
  echo "$([ "$EW" -gt 0 ] && echo "the first $EW windows" || echo "every window"); splits $SPLITS; seqlens $SEQLENS;"
  echo "KL(base||row) from the base's top-$TOPK cache (a lower bound); bpw = qz-eval --info bpw_decoder (W8A8 naive: 8, fake-quantized);"
  echo "seconds / peak RSS: the tools' --json (AWQ+GPTQ: both tools' seconds summed); total wall time $(($(date +%s) - t_start)) s"
  echo
  echo "| calib | eval | seqlen | row | bpw | ppl | KL | top-1 | s | RSS MiB |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  awk -F, 'NR > 1 { printf "| %s | %s | %s | %s | %.3g | %.3f | %.4f | %.3f | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' "$CSV"
  echo
  orderings
} >"$OUT/table.md"
cat "$OUT/table.md"
