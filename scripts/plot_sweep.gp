# Plots scripts/sweep.sh's CSV: perplexity (left) and mean KL divergence
# against the base (right), both on log scales, against the true bits per weight of the
# decoder linears, one series per method, each point labelled bits/group
# ("ch" = per channel), the FP baseline marked (it has KL 0, so only its
# perplexity is drawn, as a point and a dashed line).
#
# usage: gnuplot -e "csv='OUT/sweep.csv'; png='OUT/sweep.png'; model='NAME'" scripts/plot_sweep.gp
# CSV columns: 1 method, 2 bits, 3 group_size, 4 bpw_decoder, 5 bpw_file,
# 6 ppl, 7 base_ppl, 8 ppl_ratio, 9 kld_mean, 10 top1_agreement, 11 seconds,
# 12 fp_modules, 13 note ("baseline" on the FP row).
if (!exists("csv") || !exists("png")) { print "usage: gnuplot -e \"csv='sweep.csv'; png='sweep.png'\" plot_sweep.gp"; exit status 2 }
set datafile separator ","
set datafile columnheaders
if (!exists("model")) model = csv
set terminal pngcairo size 1800,800 font "sans,11" noenhanced
set output png

stats csv using (strcol(13) eq "baseline" ? $6 : NaN) nooutput
base_ppl = STATS_max
stats csv using (strcol(13) eq "baseline" ? $4 : NaN) nooutput
base_bpw = STATS_max
stats csv using 4 nooutput
xmin = STATS_min - 0.5
xmax = STATS_max + 0.5

is(m) = strcol(1) eq m
label(x) = sprintf("%d/%s", column(2), strcol(3) eq "-1" ? "ch" : strcol(3))
set xrange [xmin:xmax]
set xlabel "true bits per weight of the decoder linears (qz-eval --info)"
set grid
# the legend below the plots, where no point or label can hide it
set key outside below center horizontal box
set style line 1 lc rgb "#1f77b4" pt 7 ps 1.4
set style line 2 lc rgb "#d62728" pt 5 ps 1.4
set style line 3 lc rgb "#2ca02c" pt 9 ps 1.6
set style line 9 lc rgb "black" dt 2 lw 1.5

set multiplot layout 1,2 title "qz sweep of ".model
set logscale y
set yrange [base_ppl * 0.95:*]
set ylabel "perplexity (held-out half, log scale)"
set title "perplexity"
plot csv using (is("rtn") ? $4 : NaN):6 ls 1 with points title "RTN", \
     csv using (is("gptq") ? $4 : NaN):6 ls 2 with points title "GPTQ", \
     csv using (is("awq") ? $4 : NaN):6 ls 3 with points title "AWQ", \
     csv using (is("rtn") ? $4 : NaN):6:(label(0)) with labels rotate by 35 left offset 0.5,0.6 font "sans,7" tc rgb "#1f77b4" notitle, \
     csv using (is("gptq") ? $4 : NaN):6:(label(0)) with labels rotate by -35 left offset 0.5,-0.6 font "sans,7" tc rgb "#d62728" notitle, \
     csv using (is("awq") ? $4 : NaN):6:(label(0)) with labels rotate by 0 left offset 1,0 font "sans,7" tc rgb "#2ca02c" notitle, \
     base_ppl ls 9 title sprintf("FP baseline, ppl %.4f", base_ppl), \
     csv using (strcol(13) eq "baseline" ? $4 : NaN):6 with points pt 3 ps 2.5 lc rgb "black" title sprintf("FP baseline, %g bpw", base_bpw)

set yrange [*:*]
set ylabel "mean KL(base || candidate), nats (log scale)"
set title "KL divergence against the FP baseline (which has KL 0)"
plot csv using (is("rtn") && $9 > 0 ? $4 : NaN):9 ls 1 with points title "RTN", \
     csv using (is("gptq") && $9 > 0 ? $4 : NaN):9 ls 2 with points title "GPTQ", \
     csv using (is("awq") && $9 > 0 ? $4 : NaN):9 ls 3 with points title "AWQ", \
     csv using (is("rtn") && $9 > 0 ? $4 : NaN):9:(label(0)) with labels rotate by 35 left offset 0.5,0.6 font "sans,7" tc rgb "#1f77b4" notitle, \
     csv using (is("gptq") && $9 > 0 ? $4 : NaN):9:(label(0)) with labels rotate by -35 left offset 0.5,-0.6 font "sans,7" tc rgb "#d62728" notitle, \
     csv using (is("awq") && $9 > 0 ? $4 : NaN):9:(label(0)) with labels rotate by 0 left offset 1,0 font "sans,7" tc rgb "#2ca02c" notitle
unset multiplot
