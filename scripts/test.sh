#!/usr/bin/env bash
# Runs every ringwire test: installs what is missing, builds with warnings as
# errors, runs the whole suite, then runs it again under AddressSanitizer +
# UndefinedBehaviorSanitizer, runs every fuzz harness briefly (clang +
# libFuzzer), and prints one line "N passed, N failed" for all of it.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }

status=0
logs=()
run_suite() { # name, meson options...
	local dir=$1; shift
	rm -rf "$dir"
	if ! meson setup "$dir" --werror "$@" >"$dir.setup.log" 2>&1; then
		cat "$dir.setup.log"; status=1; return
	fi
	if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
		tail -50 "$dir.build.log"; status=1; return
	fi
	meson test -C "$dir" --print-errorlogs --num-processes 2 || status=1
	logs+=("$dir/meson-logs/testlog.json")
}
run_suite build-test -Dbuildtype=debugoptimized
run_suite build-asan -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
# every libFuzzer harness briefly (tests/fuzz/run.sh 3600 runs them for hours)
extra=()
fuzz_out=$(bash tests/fuzz/run.sh "${RW_FUZZ_SECONDS:-20}" build-fuzz 2>&1)
fuzz_rc=$?
echo "$fuzz_out" | grep -E "^fuzz_|passed, .* failed|error" || true
counts=$(echo "$fuzz_out" | grep -Eo "^[0-9]+ passed, [0-9]+ failed" | tail -1)
if [ -n "$counts" ]; then
	extra=(--extra "$(echo "$counts" | awk '{print $1}')" "$(echo "$counts" | awk '{print $3}')")
else
	extra=(--extra 0 1)
fi
[ $fuzz_rc -eq 0 ] || status=1
python3 tests/summarize.py "${extra[@]}" "${logs[@]}" || status=1
exit $status
