#!/usr/bin/env bash
# tcp.sh - wiresocket over TCP end to end, as a user runs it: ringwire-echo with
# --listen-tcp, and ringwire-load --transport tcp doing handshakes and reliable
# echo, first straight to the server's TCP port, then through ringwire-netem
# --tcp re-cutting the byte stream every way it can: one byte per write,
# random splits, coalesced writes, delays, and all of them at once. Every run
# must connect every session and lose nothing. Then a sample, ringwire-rpc-client
# calling ringwire-rpc-server through the proxy. Bounded: about 20 s.
# $1: the build directory (ringwire-key, ringwire-echo, ringwire-load and
# ringwire-netem in it); $2: seconds per run (default 2).
set -u

BUILD=${1:?usage: tcp.sh path/to/build-dir [SECONDS]}
SECS=${2:-2}
KEY=$BUILD/ringwire-key
ECHO=$BUILD/ringwire-echo
LOAD=$BUILD/ringwire-load
NETEM=$BUILD/ringwire-netem
pass=0
fail=0
tmp=$(mktemp -d /tmp/rw-tcp-XXXXXX) || exit 1
srv=
px=
cleanup() {
	# only the processes this script started, by their pids
	for p in $px $srv; do
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	if [ "$fail" -gt 0 ] && [ -n "${RW_TCP_KEEP:-}" ]; then
		echo "kept $tmp (RW_TCP_KEEP)"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() {	# check "description" command...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
# json_ok FILE PYTHON-EXPRESSION: the last line of FILE is JSON and the expression (over j) holds
json_ok() {
	tail -n 1 "$1" 2>/dev/null | python3 -c '
import json, sys
try:
    j = json.loads(sys.stdin.read())
except ValueError:
    sys.exit("no JSON line")
if not eval(sys.argv[1], {"j": j}):
    keys = ("sessions", "sessions_connected", "sent", "received", "lost", "duplicates", "dials_failed",
            "closed_unexpectedly", "retransmits")
    sys.exit("condition failed: %s in %s" % (sys.argv[1], {k: j.get(k) for k in keys}))
' "$2"
}
# jget FILE KEY: a value from the JSON last line of FILE
jget() {
	tail -n 1 "$1" | python3 -c 'import json, sys; print(json.loads(sys.stdin.read()).get(sys.argv[1]))' "$2"
}
# a free TCP port on 127.0.0.1 (bound and released: a small race, on a test machine only)
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# counter NAME DIR KEY: a counter from a proxy's final line ("ringwire-netem: final DIR ... KEY=N")
counter() {
	sed -n "s/^ringwire-netem: final $2 .* $3=\([0-9]*\).*/\1/p" "$tmp/$1.px" | tail -n 1
}
show() {	# the last lines of a file, indented, for a failure's context
	sed 's/^/     | /' "$1" | tail -n "${2:-8}"
}

for b in "$KEY" "$ECHO" "$LOAD" "$NETEM"; do
	if [ ! -x "$b" ]; then
		echo "FAIL - $b is not built"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

# ---- the server: UDP on a port it picks, TCP on a free one ----
"$KEY" genkey >"$tmp/server.key"
chmod 600 "$tmp/server.key"
tport=$(free_port)
"$ECHO" --listen 127.0.0.1:0 --listen-tcp "127.0.0.1:$tport" --key "$tmp/server.key" --reactors 1 \
	>"$tmp/echo.out" 2>"$tmp/echo.err" &
srv=$!
uri=
for _ in $(seq 100); do
	uri=$(grep -m 1 '^wire://' "$tmp/echo.out" 2>/dev/null)
	[ -n "$uri" ] && break
	kill -0 "$srv" 2>/dev/null || break
	sleep 0.05
done
if [ -z "$uri" ]; then
	bad "ringwire-echo --listen-tcp 127.0.0.1:$tport starts and prints its URI"
	show "$tmp/echo.err"
	echo "$pass passed, $fail failed"
	exit 1
fi
pub=${uri#wire://}
pub=${pub%@*}
# the TCP listener is up once it accepts a connection
up=no
for _ in $(seq 100); do
	if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
		"$tport" 2>/dev/null; then
		up=yes
		break
	fi
	sleep 0.05
done
check "ringwire-echo accepts TCP on --listen-tcp 127.0.0.1:$tport" test "$up" = yes
turi="wire+tcp://$pub@127.0.0.1:$tport"
if grep -q '^wire+tcp://' "$tmp/echo.out"; then
	check "ringwire-echo prints its wire+tcp:// URI" grep -qx "$turi" "$tmp/echo.out"
fi

# run NAME URI: reliable echo, 4 sessions, over TCP; JSON in $tmp/NAME.out
run() {
	local name=$1 u=$2
	timeout 60 "$LOAD" "$u" --transport tcp --mode echo --reliable --sessions 4 --size 200 --window 8 \
		--duration "$SECS" --warmup 0.2 --timeout 5000 --reactors 1 --json >"$tmp/$name.out" 2>"$tmp/$name.err"
	local rc=$?
	run_ok=no
	if [ "$rc" -eq 0 ] && json_ok "$tmp/$name.out" \
		'j["sessions_connected"] == 4 and j["received"] > 0 and j["lost"] == 0 and j["duplicates"] == 0'; then
		ok "$name: 4 sessions over TCP, reliable echo, $(jget "$tmp/$name.out" received) echoes, none lost"
		run_ok=yes
	else
		bad "$name: ringwire-load exited $rc or lost/failed something"
		show "$tmp/$name.err"
		tail -n 1 "$tmp/$name.out" | sed 's/^/     | /'
	fi
}

# ---- straight to the server's TCP port ----
run direct "$turi"

# ---- through the proxy, each way of cutting the stream ----
# name | ringwire-netem knobs
modes() {
	cat <<'EOF'
segment-1 | --segment 1
segment-random | --segment random:64 --seed 1
coalesce | --coalesce 5
delay | --delay 10:5 --seed 2
combined | --segment random:40 --segment-down 1 --coalesce 3 --delay 4:4 --seed 3
EOF
}
# proxy NAME UPSTREAM-PORT KNOBS...: ringwire-netem --tcp in front of the port; its port in pport
proxy() {
	local name=$1 port=$2
	shift 2
	"$NETEM" --tcp --listen 127.0.0.1:0 --upstream "127.0.0.1:$port" --duration 50 "$@" 2>"$tmp/$name.px" &
	px=$!
	pport=
	for _ in $(seq 100); do
		pport=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$tmp/$name.px")
		[ -n "$pport" ] && return 0
		kill -0 "$px" 2>/dev/null || break
		sleep 0.05
	done
	bad "$name: ringwire-netem --tcp $* did not start"
	show "$tmp/$name.px"
	px=
	return 1
}
# proxy_stop NAME: SIGTERM, and a clean exit with its final counters
proxy_stop() {
	kill -TERM "$px"
	wait "$px"
	local rc=$?
	px=
	check "$1: ringwire-netem exits 0 on SIGTERM" test "$rc" -eq 0
}
while IFS='|' read -r name knobs; do
	name=${name// /}
	# shellcheck disable=SC2086 # the knobs are words
	proxy "$name" "$tport" $knobs || continue
	run "$name" "wire+tcp://$pub@127.0.0.1:$pport"
	proxy_stop "$name"
	# the proxy's view of a failed run: what it read and wrote each way
	[ "$run_ok" = yes ] || show "$tmp/$name.px" 2
	upb=$(counter "$name" up bytes-fwd)
	downb=$(counter "$name" down bytes-fwd)
	if [ "${upb:-0}" -gt 0 ] && [ "${downb:-0}" -gt 0 ]; then
		ok "$name: the proxy carried $upb bytes up, $downb down"
	else
		bad "$name: the proxy carried nothing (up ${upb:-?}, down ${downb:-?})"
		show "$tmp/$name.px" 3
	fi
	case $name in
	segment-1)
		check "segment-1: one byte per write up ($(counter "$name" up writes) writes)" \
			test "$(counter "$name" up writes)" = "$upb"
		check "segment-1: one byte per write down" test "$(counter "$name" down writes)" = "$downb"
		;;
	combined)
		check "combined: one byte per write down" test "$(counter "$name" down writes)" = "$downb"
		check "combined: up writes of at most 40 bytes" test "$(counter "$name" up largest-write)" -le 40
		;;
	esac
done < <(modes)

# ---- a sample: ringwire-rpc-client calls through the proxy, one byte per write down ----
rport=$(free_port)
"$BUILD/ringwire-rpc-server" --listen 127.0.0.1:0 --listen-tcp "127.0.0.1:$rport" --key "$tmp/server.key" \
	--reactors 1 --quiet >"$tmp/rpc.out" 2>"$tmp/rpc.err" &
rpc=$!
for _ in $(seq 100); do
	grep -q '^wire+tcp://' "$tmp/rpc.out" 2>/dev/null && break
	sleep 0.05
done
if proxy rpc "$rport" --segment random:16 --segment-down 1 --delay 2:2 --seed 4; then
	out=$(timeout 30 "$BUILD/ringwire-rpc-client" "wire+tcp://$pub@127.0.0.1:$pport" echo over tcp --count 20 \
		--concurrency 4 --quiet 2>&1)
	rc=$?
	check "rpc: 20 calls through the proxy exit 0 (got $rc)" test "$rc" -eq 0
	check "rpc: ... every one answered, none failed or timed out" grep -q '^20 calls: ok 20, failed 0, timed out 0;' <<<"$out"
	[ "$rc" -eq 0 ] || tail -n 5 <<<"$out"
	proxy_stop rpc
fi
kill -INT "$rpc" 2>/dev/null
wait "$rpc" 2>/dev/null

# ---- the server is still well and stops cleanly ----
if kill -0 "$srv" 2>/dev/null; then
	ok "ringwire-echo still running after every run"
	kill -INT "$srv"
	wait "$srv"
	rc=$?
	check "ringwire-echo exits 0 on SIGINT" test "$rc" -eq 0
	# after a failure, the server's counters (drops by reason, retransmits) tell its side
	[ "$fail" -eq 0 ] || show "$tmp/echo.out" 6
else
	bad "ringwire-echo died during the runs"
	show "$tmp/echo.err"
fi
srv=

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
