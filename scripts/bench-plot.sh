#!/usr/bin/env bash
# scripts/bench-plot.sh DIR - the charts of scripts/bench.sh, from the files it leaves in DIR:
#   DIR/latency.png     latency by percentile (HdrHistogram style: percentile on a log scale of
#                       1/(1-p)), ringwire and ZeroMQ side by side: echo at half of each one's
#                       maximum rate (left) and echo with window 1, unloaded (right), from
#                       echo-half.hgrm, zmq-echo-half.hgrm, echo-w1.hgrm, zmq-echo-w1.hgrm
#                       (.hgrm: ringwire-load / bench-zmq --histogram; values in ms);
#   DIR/throughput.png  the throughput rows of the results table (throughput.dat: "workload"
#                       unit ringwire ZeroMQ ceiling, NaN where there is none), log scale.
# A missing .hgrm leaves its curve out. Needs gnuplot (Debian: gnuplot-nox); without it,
# says so and exits 0 (the text report is the result; the charts are a view of it).
set -euo pipefail
dir=${1:?usage: scripts/bench-plot.sh DIR}
if ! command -v gnuplot >/dev/null; then
	echo "   charts skipped: gnuplot is not installed (Debian: apt-get install gnuplot-nox)"
	exit 0
fi

# plot clause for one panel: ringwire and ZeroMQ curves of a workload, those that exist
curves() { # name
	local c=()
	[ -s "$dir/$1.hgrm" ] && c+=("'$dir/$1.hgrm' using 4:1 with lines lw 2 lc rgb '#1f77b4' title 'ringwire'")
	[ -s "$dir/zmq-$1.hgrm" ] && c+=("'$dir/zmq-$1.hgrm' using 4:1 with lines lw 2 lc rgb '#d62728' title 'ZeroMQ CURVE'")
	if ((${#c[@]} == 0)); then
		echo "set label 1 'no data' at graph 0.5, 0.75 center; plot 1 notitle lc rgb 'white'; unset label 1"
	else
		local IFS=,
		echo "plot ${c[*]}"
	fi
}

made=()
if ls "$dir"/*.hgrm >/dev/null 2>&1; then
	gnuplot <<GP
set terminal pngcairo size 1400,560 font ',10' noenhanced
set output '$dir/latency.png'
set datafile commentschars '#'
set logscale x
set logscale y
set xrange [1:1000000]
# tic labels are formats: %% is a percent sign
set xtics ('0%%' 1, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000, '99.9999%%' 1000000)
set xlabel 'percentile'
set ylabel 'latency (ms)'
set grid xtics ytics mytics
set key top left
set multiplot layout 1,2 title 'echo round trip by percentile, 64 B (lower is better)'
set title 'at half of each one''s maximum rate'
$(curves echo-half)
set title 'window 1 (one in flight: unloaded)'
$(curves echo-w1)
unset multiplot
GP
	made+=("$dir/latency.png")
fi
if [ -s "$dir/throughput.dat" ]; then
	n=$(wc -l <"$dir/throughput.dat")
	gnuplot <<GP
set terminal pngcairo size $((n < 7 ? 900 : 300 + 100 * n)),620 font ',10' noenhanced
set output '$dir/throughput.png'
set title 'throughput, higher is better (log scale; each group in its own unit)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set grid ytics
set key top right
set xtics rotate by -35 left
set bmargin 12
set rmargin 24
plot '$dir/throughput.dat' using 3:xtic(sprintf('%s (%s)', stringcolumn(1), stringcolumn(2))) title 'ringwire' lc rgb '#1f77b4', \
     '' using 4 title 'ZeroMQ CURVE' lc rgb '#d62728', \
     '' using 5 title 'ceiling (bench-udp, no crypto)' lc rgb '#999999'
GP
	made+=("$dir/throughput.png")
fi
((${#made[@]})) && echo "   charts: ${made[*]}"
exit 0
