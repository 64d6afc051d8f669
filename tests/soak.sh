#!/usr/bin/env bash
# tests/soak.sh BUILD_DIR [SECONDS] - the soak of the hardening issue, bounded:
# ringwire-echo under ringwire-load --soak: 1000 sessions that rekey every 5 s,
# 1% reconnecting every second, a reliable and an unreliable channel. Passes
# when no reliable event was lost or duplicated and resident memory stayed
# flat (ringwire-load's own criteria; its exit status says). CI runs 60 s;
# RW_SOAK_SECONDS=600 (or the second argument) for the ten-minute run.
set -uo pipefail
build=${1:?usage: soak.sh BUILD_DIR [SECONDS]}
secs=${2:-${RW_SOAK_SECONDS:-60}}
tmp=$(mktemp -d)
srv=
cleanup() {
	[ -n "$srv" ] && kill -INT "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

"$build/ringwire-key" genkey >"$tmp/server.key"
chmod 600 "$tmp/server.key"
"$build/ringwire-echo" --listen 127.0.0.1:0 --key "$tmp/server.key" --reactors 1 --quiet >"$tmp/echo.out" &
srv=$!
uri=
for _ in $(seq 100); do
	uri=$(head -n 1 "$tmp/echo.out" 2>/dev/null)
	[ -n "$uri" ] && break
	sleep 0.05
done
[ -n "$uri" ] || { echo "ringwire-echo did not start"; echo "0 passed, 1 failed"; exit 1; }
server_rss() { awk '/^VmRSS/ {print $2}' "/proc/$srv/status"; }

timeout $((secs + 60)) "$build/ringwire-load" "$uri" --soak --sessions 1000 --rekey 5000 --rate 5000 \
	--reactors 1 --warmup 5 --duration "$secs" --seed 7 --json >"$tmp/soak.out" 2>"$tmp/soak.err" &
load=$!
sleep 6
rss0=$(server_rss)
wait "$load"
rc=$?
rss1=$(server_rss)
grep -v '^{' "$tmp/soak.out"
tail -n 5 "$tmp/soak.err"
echo "server VmRSS after warm-up ${rss0} KiB, at the end ${rss1} KiB"
kill -INT "$srv"
wait "$srv"
srv_rc=$?
srv=
tail -n +2 "$tmp/echo.out"
fail=0
[ "$rc" -eq 0 ] || { echo "FAIL: ringwire-load --soak exited $rc"; fail=1; }
[ "$srv_rc" -eq 0 ] || { echo "FAIL: ringwire-echo exited $srv_rc"; fail=1; }
# the server's memory must not keep growing: at most +50% and +64 MiB over the run
if [ -n "$rss0" ] && [ -n "$rss1" ] && [ "$rss1" -gt $((rss0 * 3 / 2)) ] && [ "$rss1" -gt $((rss0 + 65536)) ]; then
	echo "FAIL: server memory grew from $rss0 to $rss1 KiB"
	fail=1
fi
echo "$((1 - fail)) passed, $fail failed"
exit "$fail"
