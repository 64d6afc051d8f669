#!/usr/bin/env bash
# service.sh BUILD_DIR - the samples run as an operator runs them, over 127.0.0.1 only:
#  1. ringwire-echo --metrics 127.0.0.1:0 logs the bound address; ringwire-load drives it;
#     two scrapes with curl: the counters rose, and promtool accepts both;
#  2. ringwire-rpc-server --allow FILE with two clients of fixed keys (--key): SIGHUP with
#     one key removed closes exactly that client's session (rejected), the other keeps calling;
#  3. --log-format json: every line the engine writes on stderr is a JSON object;
#  4. SIGHUP to ringwire-telemetry-server (a thread of its own prints the table) leaves it
#     running; SIGINT then stops it with exit 0.
# Every wait is bounded; skips (77) without curl.
set -u
B=${1:?usage: service.sh BUILD_DIR}
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
tmp=$(mktemp -d /tmp/rw-service-XXXXXX) || exit 1
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
ok() { echo "ok   - $1"; }
bad() { echo "FAIL - $1"; fail=1; }

# wait_for FILE PATTERN SECONDS: grep -E until it matches
wait_for() {
	local end=$((SECONDS + $3))
	while ((SECONDS < end)); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# value FILE SERIES: the sample of one series (exact name and labels), or -1
value() { awk -v s="$2" '$1 == s { print $2; f = 1 } END { if (!f) print -1 }' "$1"; }
scrape() { curl -gsS --max-time 5 -o "$2" -w '%{http_code}' "http://$1/metrics"; }
lint() {
	if command -v promtool >/dev/null; then
		if promtool check metrics <"$1" >"$tmp/lint" 2>&1; then ok "promtool accepts $2"; else bad "promtool: $2: $(cat "$tmp/lint")"; fi
	else
		echo "note: promtool not installed (Debian: prometheus): $2 not linted"
	fi
}
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'; }

for k in server c1 c2; do
	"$B/ringwire-key" genkey >"$tmp/$k.key" || exit 1
	chmod 600 "$tmp/$k.key"
	"$B/ringwire-key" pubkey <"$tmp/$k.key" >"$tmp/$k.pub" || exit 1
done

# ---- 1. echo, metrics under load ------------------------------------------------------
"$B/ringwire-echo" --listen 127.0.0.1:0 --key "$tmp/server.key" --reactors 2 --metrics 127.0.0.1:0 \
	>"$tmp/echo.out" 2>"$tmp/echo.err" &
pids+=($!)
echo_pid=$!
if ! wait_for "$tmp/echo.err" 'msg="metrics listening" addr=127\.0\.0\.1:[0-9]+' 10 || ! wait_for "$tmp/echo.out" '^wire://' 10; then
	grep -q 'without libmicrohttpd' "$tmp/echo.err" && { echo "SKIP: built without libmicrohttpd"; exit 77; }
	bad "ringwire-echo did not start: $(head -c 300 "$tmp/echo.err")"
	exit 1
fi
maddr=$(grep -oE 'addr=127\.0\.0\.1:[0-9]+' "$tmp/echo.err" | head -1 | cut -d= -f2)
uri=$(head -1 "$tmp/echo.out")
ok "ringwire-echo serves metrics on $maddr (logged, port 0 picked)"
[ "$(scrape "$maddr" "$tmp/m1")" = 200 ] && ok "first scrape" || bad "first scrape failed"
"$B/ringwire-load" "$uri" --sessions 4 --duration 1 --reactors 1 >"$tmp/load.out" 2>"$tmp/load.err" ||
	bad "ringwire-load: $(tail -3 "$tmp/load.err")"
[ "$(scrape "$maddr" "$tmp/m2")" = 200 ] && ok "second scrape" || bad "second scrape failed"
for s in ringwire_packets_received_total ringwire_events_received_total ringwire_bytes_sent_total \
	ringwire_sessions_opened_total 'ringwire_handshakes_total{outcome="completed"}' \
	ringwire_event_dispatch_seconds_count; do
	a=$(value "$tmp/m1" "$s") b=$(value "$tmp/m2" "$s")
	if gt "$b" "$a"; then ok "$s rose: $a -> $b"; else bad "$s did not rise: $a -> $b"; fi
done
b=$(awk '$1 ~ /^ringwire_reactor_receive_batches_total/ { n += $2 } END { print n + 0 }' "$tmp/m2")
gt "$b" 0 && ok "receive batches counted: $b" || bad "no receive batches counted"
lint "$tmp/m1" "the first scrape"
lint "$tmp/m2" "the second scrape"
kill -INT "$echo_pid"
wait "$echo_pid" 2>/dev/null
grep -q '^events in ' "$tmp/echo.out" && ok "echo printed its counters at exit" || bad "no counters at exit"

# ---- 2. rpc-server --allow, SIGHUP removes one key --------------------------------------
printf '# who may call\n%s first\n%s second\n' "$(cat "$tmp/c1.pub")" "$(cat "$tmp/c2.pub")" >"$tmp/allow"
chmod 600 "$tmp/allow"
"$B/ringwire-rpc-server" --listen 127.0.0.1:0 --key "$tmp/server.key" --reactors 2 --allow "$tmp/allow" \
	--metrics 127.0.0.1:0 --log-format json >"$tmp/rpc.out" 2>"$tmp/rpc.err" &
pids+=($!)
rpc_pid=$!
wait_for "$tmp/rpc.out" '^wire://' 10 && wait_for "$tmp/rpc.err" '"msg":"metrics listening"' 10 ||
	{ bad "rpc-server did not start: $(head -c 300 "$tmp/rpc.err")"; exit 1; }
uri=$(head -1 "$tmp/rpc.out")
maddr=$(grep -oE '"addr":"127\.0\.0\.1:[0-9]+"' "$tmp/rpc.err" | head -1 | grep -oE '127[^"]+')
# each client makes 100 calls of 100 ms, one at a time: about 10 s, unless its session closes
for c in c1 c2; do
	"$B/ringwire-rpc-client" "$uri" sleep 100 --count 100 --key "$tmp/$c.key" --timeout 5000 \
		>"$tmp/$c.out" 2>"$tmp/$c.err" &
	pids+=($!)
	eval "${c}_pid=$!"
done
end=$((SECONDS + 10))
while ((SECONDS < end)); do
	scrape "$maddr" "$tmp/r1" >/dev/null
	[ "$(value "$tmp/r1" ringwire_sessions_open)" = 2 ] && break
	sleep 0.1
done
[ "$(value "$tmp/r1" ringwire_sessions_open)" = 2 ] && ok "two clients with allowed keys connected" ||
	bad "sessions open: $(value "$tmp/r1" ringwire_sessions_open), want 2 ($(cat "$tmp/c1.err" "$tmp/c2.err"))"
printf '# c1 removed\n%s second\n' "$(cat "$tmp/c2.pub")" >"$tmp/allow.new"
chmod 600 "$tmp/allow.new"
mv "$tmp/allow.new" "$tmp/allow"
kill -HUP "$rpc_pid"
# c1 is told and exits; c2 keeps calling
end=$((SECONDS + 10))
while ((SECONDS < end)) && kill -0 "$c1_pid" 2>/dev/null; do sleep 0.1; done
if kill -0 "$c1_pid" 2>/dev/null; then
	bad "the removed key's client still runs after SIGHUP"
else
	wait "$c1_pid"
	rc=$?
	[ "$rc" -ne 0 ] && grep -qi 'allow-list\|rejected' "$tmp/c1.err" &&
		ok "the removed key's session closed: exit $rc, $(head -1 "$tmp/c1.err")" ||
		bad "c1: exit $rc, stderr $(cat "$tmp/c1.err")"
fi
sleep 0.5
if kill -0 "$c2_pid" 2>/dev/null; then ok "the still-allowed client keeps running"; else bad "c2 stopped: $(cat "$tmp/c2.err")"; fi
scrape "$maddr" "$tmp/r2" >/dev/null
[ "$(value "$tmp/r2" 'ringwire_sessions_closed_by_reason_total{reason="rejected"}')" = 1 ] &&
	[ "$(value "$tmp/r2" ringwire_sessions_open)" = 1 ] && [ "$(value "$tmp/r2" ringwire_allowed_keys)" = 1 ] &&
	ok "metrics: one session closed as rejected, one open, one allowed key" ||
	bad "metrics after SIGHUP: rejected $(value "$tmp/r2" 'ringwire_sessions_closed_by_reason_total{reason="rejected"}') open $(value "$tmp/r2" ringwire_sessions_open) keys $(value "$tmp/r2" ringwire_allowed_keys)"
lint "$tmp/r2" "the rpc-server scrape"
grep -q '"msg":"allow-list reloaded"' "$tmp/rpc.err" && ok "the reload is logged" || bad "no reload record: $(cat "$tmp/rpc.err")"
kill -INT "$c2_pid" "$rpc_pid"
wait "$rpc_pid" 2>/dev/null
# ---- 3. --log-format json: every stderr line is one object -----------------------------
if python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/rpc.err" 2>"$tmp/json.err"; then
	ok "rpc-server --log-format json: $(wc -l <"$tmp/rpc.err") lines, each a JSON object"
else
	bad "not JSON: $(cat "$tmp/json.err") in $(cat "$tmp/rpc.err")"
fi
# ---- 4. SIGHUP never stops a server with threads of its own -----------------------------
"$B/ringwire-telemetry-server" --listen 127.0.0.1:0 --key "$tmp/server.key" --reactors 1 --interval 1 \
	>"$tmp/tel.out" 2>"$tmp/tel.err" &
pids+=($!)
tel_pid=$!
if wait_for "$tmp/tel.out" '^wire://' 10; then
	sleep 0.3	# the summary thread is up
	for _ in 1 2 3; do kill -HUP "$tel_pid"; sleep 0.2; done
	sleep 0.5
	if kill -0 "$tel_pid" 2>/dev/null; then
		ok "ringwire-telemetry-server runs on after three SIGHUPs"
		kill -INT "$tel_pid"
		wait "$tel_pid"
		rc=$?
		[ "$rc" -eq 0 ] && ok "then SIGINT: exit 0" || bad "SIGINT after SIGHUP: exit $rc, $(tail -3 "$tmp/tel.err")"
	else
		wait "$tel_pid"
		bad "SIGHUP ended ringwire-telemetry-server: exit $?, $(tail -3 "$tmp/tel.err")"
	fi
else
	bad "ringwire-telemetry-server did not start: $(head -c 300 "$tmp/tel.err")"
fi
exit $fail
