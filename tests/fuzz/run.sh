#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS_PER_HARNESS] [BUILD_DIR]
#
# Builds the libFuzzer harnesses with clang in BUILD_DIR (default build-fuzz)
# and runs each for SECONDS_PER_HARNESS (default 20) on a working copy of its
# committed corpus, BUILD_DIR/corpus-<name>: libFuzzer adds what it finds
# there, never to tests/fuzz/corpus/. The working corpus is kept between runs
# (delete it to start again from the seeds). One line per harness:
#   fuzz_<name>: N execs in S s, OK|CRASH
# then "N passed, N failed". Exits non-zero if any harness crashed (or the
# build failed).
#
# A crash (also a leak, timeout or out-of-memory) is saved as
# tests/fuzz/regressions/<name>/regress-<kind>-<sha1>, where the unit suite's
# fuzz-replay-<name> test replays it from then on: commit it, fix the bug.
# The libFuzzer artifact and log stay in BUILD_DIR (artifacts-<name>/,
# fuzz-<name>.log).
#
# Environment:
#   RW_FUZZ_ONLY="packet frame"  run only these harnesses
#   RW_FUZZ_SAVE=0               do not copy crashes into tests/fuzz/regressions
#   RW_FUZZ_ARGS="..."           extra libFuzzer flags (e.g. -jobs=2 -workers=2)
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-20}
build=${2:-$top/build-fuzz}
case $build in /*) ;; *) build=$PWD/$build ;; esac
fuzz_dir=$top/tests/fuzz

if ! [[ $secs =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
	echo "usage: $0 [SECONDS_PER_HARNESS] [BUILD_DIR]" >&2
	exit 2
fi

# name:max_len. Lengths fit what each harness reads (see the harness headers).
all=(
	packet:1500
	frame:4096
	reasm:65536
	replay:16384
	handshake_init:1024
	handshake_resp:1024
	cookie_reply:1024
	keyfile:1100
	bech32:256
	uri:512
	stream:4096
)
if [ -n "${RW_FUZZ_ONLY:-}" ]; then
	sel=()
	for h in "${all[@]}"; do
		for want in $RW_FUZZ_ONLY; do
			[ "${h%%:*}" = "$want" ] && sel+=("$h")
		done
	done
	if [ ${#sel[@]} -eq 0 ]; then
		echo "RW_FUZZ_ONLY names no harness" >&2
		exit 2
	fi
	all=("${sel[@]}")
fi

# ---- build ----------------------------------------------------------------
targets=()
for h in "${all[@]}"; do targets+=("fuzz_${h%%:*}"); done
if [ -f "$build/build.ninja" ]; then
	meson configure "$build" -Dfuzz=true -Dtests=false -Db_lundef=false -Dwerror=true \
		>"$build/fuzz-setup.log" 2>&1
else
	mkdir -p "$(dirname "$build")"
	CC=clang meson setup "$build" "$top" -Dfuzz=true -Dtests=false -Db_lundef=false -Dwerror=true \
		-Dbuildtype=debugoptimized >"$build.fuzz-setup.log" 2>&1 ||
		{ cat "$build.fuzz-setup.log"; echo "0 passed, ${#all[@]} failed"; exit 1; }
	mv "$build.fuzz-setup.log" "$build/fuzz-setup.log"
fi
if ! ninja -C "$build" "${targets[@]}" >"$build/fuzz-build.log" 2>&1; then
	tail -40 "$build/fuzz-build.log"
	echo "0 passed, ${#all[@]} failed"
	exit 1
fi

# ---- run ------------------------------------------------------------------
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=0
for h in "${all[@]}"; do
	name=${h%%:*}
	maxlen=${h#*:}
	corpus=$build/corpus-$name
	arts=$build/artifacts-$name
	log=$build/fuzz-$name.log
	rm -rf "$arts"
	mkdir -p "$corpus" "$arts"
	# the committed seeds, added to what earlier runs found
	cp -n "$fuzz_dir/corpus/$name"/* "$corpus"/ 2>/dev/null
	dict=()
	[ -f "$fuzz_dir/dict/$name.dict" ] && dict=(-dict="$fuzz_dir/dict/$name.dict")
	start=$(date +%s)
	# shellcheck disable=SC2086
	"$build/fuzz_$name" "$corpus" "${dict[@]}" -max_total_time="$secs" -max_len="$maxlen" \
		-timeout=25 -rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 \
		-artifact_prefix="$arts/" ${RW_FUZZ_ARGS:-} >"$log" 2>&1
	rc=$?
	elapsed=$(($(date +%s) - start))
	execs=$(sed -n 's/^stat::number_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	[ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
	[ -n "$execs" ] || execs=0
	if [ $rc -eq 0 ]; then
		echo "fuzz_$name: $execs execs in $elapsed s, OK"
		passed=$((passed + 1))
		continue
	fi
	echo "fuzz_$name: $execs execs in $elapsed s, CRASH (exit $rc, log $log)"
	failed=$((failed + 1))
	grep -m1 -E '^(==[0-9]+==ERROR|SUMMARY|.*check failed|.*runtime error)' "$log" | sed 's/^/    /'
	for a in "$arts"/crash-* "$arts"/leak-* "$arts"/timeout-* "$arts"/oom-* "$arts"/slow-unit-*; do
		[ -f "$a" ] || continue
		if [ "${RW_FUZZ_SAVE:-1}" != 0 ]; then
			# not crash-*: .gitignore hides libFuzzer's artifact names
			keep=regress-$(basename "$a")
			mkdir -p "$fuzz_dir/regressions/$name"
			cp "$a" "$fuzz_dir/regressions/$name/$keep"
			a=$fuzz_dir/regressions/$name/$keep
			echo "    saved tests/fuzz/regressions/$name/$keep (commit it)"
		fi
		echo "    reproduce: $build/fuzz_$name $a"
	done
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
