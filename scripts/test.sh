#!/usr/bin/env bash
# Runs every ringwire test: installs what is missing, builds with warnings as
# errors, runs the whole suite, then runs it again under AddressSanitizer +
# UndefinedBehaviorSanitizer, and prints one line "N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }

shared=${RW_SHARED_DIR:-$top/../shared}
status=0
logs=()
run_suite() { # name, meson options...
	local dir=$1; shift
	rm -rf "$dir"
	if ! meson setup "$dir" --werror -Dshared_dir="$shared" "$@" >"$dir.setup.log" 2>&1; then
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
python3 tests/summarize.py "${logs[@]}" || status=1
exit $status
