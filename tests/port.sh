#!/usr/bin/env bash
# port.sh - one server per UDP port: a second ringwire server started on a
# port another one serves exits at once with a line naming the port and the
# process that holds it, and the first keeps serving its clients.
# $1: the build directory.
set -u
B=${1:?usage: port.sh path/to/build-dir}
pass=0
fail=0
tmp=$(mktemp -d /tmp/rw-port-XXXXXX) || exit 1
pids=()
cleanup() {
	# TERM first: a `timeout` among them passes it on to its server (KILL would orphan it)
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }

"$B/ringwire-key" genkey >"$tmp/server.key" && chmod 600 "$tmp/server.key"
"$B/ringwire-echo" --listen 127.0.0.1:0 --key "$tmp/server.key" --reactors 2 >"$tmp/first.out" 2>"$tmp/first.err" &
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/first.out" ] && break; sleep 0.1; done
uri=$(head -n 1 "$tmp/first.out")
port=${uri##*:}
if [ -z "$uri" ] || [ -z "$port" ]; then
	bad "first server printed its URI"
	echo "$pass passed, $fail failed"
	exit 1
fi
ok "first server listens on port $port"

# the same address, the wildcard of its family, and the dual-stack wildcard all take the port
for listen in "127.0.0.1:$port" "0.0.0.0:$port" "[::]:$port"; do
	start=$(date +%s%N)
	timeout 10 "$B/ringwire-echo" --listen "$listen" --key "$tmp/server.key" >"$tmp/second.out" 2>"$tmp/second.err"
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	lines=$(wc -l <"$tmp/second.err")
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$lines" -eq 1 ] &&
		grep -q "port $port/udp is already in use by ringwire-echo (pid ${pids[0]})" "$tmp/second.err"; then
		ok "second server on $listen refused in ${ms} ms: $(cat "$tmp/second.err")"
	else
		bad "second server on $listen: rc $rc, stderr: $(cat "$tmp/second.err")"
	fi
done

# nor can a client bind onto it (it would join the server's reuseport group and steal its replies)
if timeout 10 "$B/ringwire-load" "$uri" --bind "127.0.0.1:$port" --mode echo --duration 0.2 --warmup 0 --quiet \
	>"$tmp/clientbind.out" 2>"$tmp/clientbind.err"; then
	bad "a client bound onto the server's port: $(cat "$tmp/clientbind.err")"
elif grep -q "in use" "$tmp/clientbind.err" && [ "$(wc -l <"$tmp/clientbind.err")" -eq 1 ]; then
	ok "a client --bind onto the server's port is refused: $(cat "$tmp/clientbind.err")"
else
	bad "client --bind onto the server's port: $(cat "$tmp/clientbind.err")"
fi

# the first server still answers: every echo comes back
if timeout 30 "$B/ringwire-load" "$uri" --mode echo --sessions 4 --duration 1 --warmup 0.2 --quiet --json \
	>"$tmp/load.out" 2>"$tmp/load.err" &&
	tail -n 1 "$tmp/load.out" | python3 -c '
import json, sys
j = json.loads(sys.stdin.read())
sys.exit(0 if j["received"] > 0 and j["lost"] == 0 and j["sessions"] == 4 else 1)'; then
	ok "the first server kept serving (echo through it after the refusals)"
else
	bad "the first server stopped serving: $(tail -n 3 "$tmp/load.err") $(tail -n 1 "$tmp/load.out")"
fi
# and a port nobody holds is still free to take
kill -TERM "${pids[0]}"
wait "${pids[0]}" 2>/dev/null
if timeout 10 "$B/ringwire-echo" --listen "127.0.0.1:$port" --key "$tmp/server.key" >"$tmp/third.out" 2>"$tmp/third.err" &
then
	pids+=($!)
	for _ in $(seq 50); do [ -s "$tmp/third.out" ] && break; sleep 0.1; done
	if [ -s "$tmp/third.out" ]; then ok "the port is free again once the first server stopped"; else bad "port not reusable: $(cat "$tmp/third.err")"; fi
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
