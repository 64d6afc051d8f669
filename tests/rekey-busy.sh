#!/usr/bin/env bash
# rekey-busy.sh - rekey waves on a busy machine, and a reliable channel
# through a blackout, as ringwire-echo and ringwire-load run them.
#
# 1. A CPU-bound process beside the server (one reactor) for the whole run;
#    500 sessions echo 20,000 reliable events/s in all, once without rekeys
#    and once rekeying every 2 s. With rekeys: retransmits (both ends) at most
#    1 % of the reliable events (sent and echoed), no datagram dropped by the
#    kernel for a full receive buffer, p99 latency within 3x of the run
#    without rekeys (in a build without sanitizers: under ASan the p99s
#    are reported, not compared). 20,000 events/s is a light load for the
#    plain build (server ~0.3 CPU, ringwire-load ~0.4, beside the busy
#    process: ~1.7 of 2 CPUs); the same rate under ASan+UBSan takes ~0.45 and
#    ~0.65, more than a 2-CPU machine has beside the busy process, and that
#    run measures an overloaded machine (retransmits with or without rekeys).
#    A sanitizer build runs 10,000 events/s, the same share of its CPU.
# 2. Through ringwire-netem, 200 ms of 100 % loss every 2 s, both ways: the
#    reliable channels recover without a storm. Per blackout, what was in
#    flight is at most F = rate x 200 ms frames each way (what the senders
#    put into it, the windows permitting), and each session's retransmit
#    timer sends 2 probes per expiry, at most 8 expiries in 200 ms from a
#    PTO of ~10 ms backing off: the bound is 2 x 2F + 16 x sessions
#    retransmissions per blackout (both ends together).
# 3. The server stopped for 500 ms (SIGSTOP) while 500 sessions echo: every
#    event delivered, no session closed, at most 24 retransmissions per
#    session (the timer's expiries in 500 ms, two probes each; see there).
#
# Kernel drops: the server's come from rw_stats.kernel_drops (SO_RXQ_OVFL,
# printed by ringwire-echo at exit); both ends' from /proc/net/snmp
# (RcvbufErrors), for which the script runs itself in a network namespace
# of its own when it can (unshare -rn), so other programs on the machine do
# not count. Without one, that count is the machine's and its check is
# skipped (said so).
#
# $1: the build directory; $2: seconds per measured run (default 10).
set -u

BUILD=${1:?usage: rekey-busy.sh path/to/build-dir [seconds]}
SECS=${2:-10}
if [ -z "${RW_REKEY_NETNS:-}" ] && unshare -rn true 2>/dev/null; then
	RW_REKEY_NETNS=1 exec unshare -rn "$0" "$@"
fi
own_ns=0
if [ -n "${RW_REKEY_NETNS:-}" ]; then
	# a new namespace starts with loopback down
	if ip link set lo up 2>/dev/null || python3 -c '
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ifr = struct.pack("16sH", b"lo", 0x1 | 0x8)
fcntl.ioctl(s, 0x8914, ifr)' 2>/dev/null; then
		own_ns=1
	fi
fi

# the build's sanitizers (none, or e.g. address,undefined): latency bounds hold for builds without
sanitized=$(python3 -c 'import json, sys
o = json.load(open(sys.argv[1] + "/meson-info/intro-buildoptions.json"))
print(next((str(x["value"]) for x in o if x["name"] == "b_sanitize"), "none"))' "$BUILD" 2>/dev/null || echo none)
# events/s for part 1: a light load for the build (see the top)
rate=20000
[ "$sanitized" != none ] && rate=10000
KEY=$BUILD/ringwire-key
ECHO=$BUILD/ringwire-echo
LOAD=$BUILD/ringwire-load
NETEM=$BUILD/ringwire-netem
pass=0
fail=0
tmp=$(mktemp -d /tmp/rw-rekey-XXXXXX) || exit 1
srv=
busy=
netem=
stopper=
cleanup() {
	# only what this script started, by pid (a stopped server is killed too)
	for p in $srv $busy $netem $stopper; do
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
rcvbuf_errors() { awk '/^Udp:/ && $2 ~ /^[0-9]/ { print $6 }' /proc/net/snmp; }
# jget FILE EXPR: a value from the JSON last line of FILE
jget() { tail -n 1 "$1" | python3 -c 'import json, sys; j = json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' "$2"; }
# loaded LABEL RC PREFIX: did ringwire-load (exit RC, output PREFIX.out/.err) end with its JSON line? If not, say so
loaded() {
	[ "$2" -eq 0 ] && tail -n 1 "$3.out" | grep -q '^{' && return 0
	bad "$1: ringwire-load failed (exit $2): $(tail -n 3 "$3.err")"
	return 1
}

for b in "$KEY" "$ECHO" "$LOAD" "$NETEM"; do
	if [ ! -x "$b" ]; then
		echo "FAIL - $b is not built"
		exit 1
	fi
done
"$KEY" genkey >"$tmp/k" && chmod 600 "$tmp/k"

# server NAME: ringwire-echo with one reactor on a free port; $uri, $port set
server() {
	"$ECHO" --listen 127.0.0.1:0 --key "$tmp/k" --reactors 1 --quiet >"$tmp/$1.srv" 2>&1 &
	srv=$!
	for _ in $(seq 100); do
		[ -s "$tmp/$1.srv" ] && break
		sleep 0.05
	done
	uri=$(head -n 1 "$tmp/$1.srv")
	port=${uri##*:}
}
# server_stop NAME: its retransmits (it prints its counters at exit)
server_stop() {
	kill -TERM "$srv"
	wait "$srv" 2>/dev/null
	srv=
	sed -n 's/.*retransmits \([0-9]*\).*/\1/p' "$tmp/$1.srv" | tail -n 1
}
# srv_kdrops NAME: what the server counted in rw_stats.kernel_drops (SO_RXQ_OVFL on its sockets)
srv_kdrops() { sed -n 's/^kernel drops \([0-9]*\)$/\1/p' "$tmp/$1.srv" | tail -n 1; }
# srv_inline NAME: handshakes the server's reactor computed because its Noise worker fell behind
srv_inline() {
	local n
	n=$(sed -n 's/^handshakes computed on the reactors \([0-9]*\)$/\1/p' "$tmp/$1.srv" | tail -n 1)
	echo "${n:-0}"
}

# ---- 1. rekey waves beside a CPU-bound process ----------------------------------------
sh -c 'while :; do :; done' &
busy=$!
declare -A p99 kd skd rtx sent
for run in norekey rekey; do
	extra=
	[ $run = rekey ] && extra="--rekey 2000"
	server $run
	k0=$(rcvbuf_errors)
	# shellcheck disable=SC2086
	timeout $((SECS + 60)) "$LOAD" "$uri" --mode echo --reliable --sessions 500 --rate $rate --duration "$SECS" \
		--json $extra >"$tmp/$run.out" 2>"$tmp/$run.err"
	rc=$?
	k1=$(rcvbuf_errors)
	srtx=$(server_stop $run)
	loaded $run $rc "$tmp/$run" || continue
	p99[$run]=$(jget "$tmp/$run.out" 'j["latency_us"]["p99"]')
	sent[$run]=$(jget "$tmp/$run.out" 'j["sent"]')
	rtx[$run]=$(($(jget "$tmp/$run.out" 'j["retransmits"]') + ${srtx:-0}))
	kd[$run]=$((k1 - k0))
	skd[$run]=$(srv_kdrops $run)
	echo "# $run ($rate events/s): sent ${sent[$run]}, retransmits ${rtx[$run]} (both ends), kernel drops ${kd[$run]}" \
		"(the server's SO_RXQ_OVFL count: ${skd[$run]:-none})," \
		"p99 ${p99[$run]} us, rekeys $(jget "$tmp/$run.out" 'j["rekeys"]')," \
		"handshakes on the server's reactor $(srv_inline $run)"
done
kill -KILL "$busy" 2>/dev/null
wait "$busy" 2>/dev/null
busy=
if [ -n "${p99[rekey]:-}" ] && [ -n "${p99[norekey]:-}" ]; then
	events=$((2 * ${sent[rekey]}))
	if [ $((${rtx[rekey]} * 100)) -le $events ]; then
		ok "rekey every 2 s, busy: ${rtx[rekey]} retransmits <= 1 % of $events reliable events"
	else
		bad "rekey every 2 s, busy: ${rtx[rekey]} retransmits > 1 % of $events reliable events"
		# when they came (ringwire-load's progress lines: the client's count, cumulative)
		echo "# client retransmits by second: $(sed -n 's/^ringwire-load: *\([0-9.]*s\) .*retransmits \([0-9]*\).*/\1 \2/p' \
			"$tmp/rekey.err" | tr '\n' ' ')"
		echo "# server: $(grep -v '^wire://' "$tmp/rekey.srv" | tr '\n' ';')"
	fi
	if [ "${skd[rekey]:-x}" = 0 ]; then
		ok "rekey every 2 s, busy: the server counted no kernel drops (rw_stats.kernel_drops)"
	else
		bad "rekey every 2 s, busy: the server counted ${skd[rekey]:-no} kernel drops (rw_stats.kernel_drops)"
	fi
	if [ $own_ns = 0 ]; then
		echo "# client kernel drops not checked: no network namespace of our own (the machine's count: ${kd[rekey]})"
	elif [ "${kd[rekey]}" -eq 0 ]; then
		ok "rekey every 2 s, busy: no kernel drops"
	else
		bad "rekey every 2 s, busy: ${kd[rekey]} datagrams dropped by the kernel (receive buffer full)"
	fi
	if [ "$sanitized" != none ]; then
		# a sanitizer makes the reactor's share of a handshake (session state, hashing) several times
		# dearer than the product's: 0.9-3x in runs of the same code; the -Werror build holds the bound
		echo "# p99 bound not checked in a build with -Db_sanitize=$sanitized:" \
			"${p99[rekey]} us with rekeys, ${p99[norekey]} us without"
	elif python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 3 * float(sys.argv[2]) else 1)' \
		"${p99[rekey]}" "${p99[norekey]}"; then
		ok "rekey every 2 s, busy: p99 ${p99[rekey]} us within 3x of ${p99[norekey]} us without rekeys"
	else
		bad "rekey every 2 s, busy: p99 ${p99[rekey]} us > 3x ${p99[norekey]} us without rekeys"
	fi
fi

# ---- 2. blackouts: 200 ms of 100 % loss every 2 s ---------------------------------------
server blackout
"$NETEM" --listen 127.0.0.1:0 --upstream "127.0.0.1:$port" --blackhole 200:2000 >"$tmp/netem.out" 2>&1 &
netem=$!
for _ in $(seq 100); do
	grep -q 'listening on' "$tmp/netem.out" 2>/dev/null && break
	sleep 0.05
done
nport=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$tmp/netem.out" | head -n 1)
t0=$(date +%s%N)
timeout 60 "$LOAD" "${uri%:*}:$nport" --mode echo --reliable --sessions 50 --rate 5000 --duration 8 --json --quiet \
	>"$tmp/bh.out" 2>"$tmp/bh.err"
rc=$?
t1=$(date +%s%N)
kill -TERM "$netem"
wait "$netem" 2>/dev/null
netem=
srtx=$(server_stop blackout)
if loaded blackouts $rc "$tmp/bh"; then
	lost=$(jget "$tmp/bh.out" 'j["lost"]')
	total=$(($(jget "$tmp/bh.out" 'j["retransmits"]') + ${srtx:-0}))
	# every blackout that overlapped the run (the netem clock starts with netem)
	blackouts=$((((t1 - t0) / 1000000 + 1999) / 2000 + 1))
	bound=$((blackouts * (2 * 2 * 5000 / 5 + 16 * 50)))
	echo "# blackouts: $blackouts, retransmits $total (both ends), bound $bound, lost $lost"
	if [ "$lost" -eq 0 ]; then ok "blackouts: every reliable event delivered"; else bad "blackouts: $lost lost"; fi
	if [ "$total" -le "$bound" ]; then
		ok "blackouts: $total retransmits <= $bound (no storm)"
	else
		bad "blackouts: $total retransmits > $bound: a retransmission storm"
	fi
fi

# ---- 3. a receiver stalled for 500 ms -------------------------------------------------------
# The server stopped (SIGSTOP: what a preempted or swapped-out host does to it) for 500 ms
# while 500 sessions echo: nothing is lost, the frames wait in its socket buffer, and the
# senders must neither give up nor flood it. Each session's timer expires at most
# RW_REL_FLAT_PROBES (4) times at the PTO (>= 7 ms) and then doubles: ~11 expiries in
# 500 ms, two probes each; the bound is 24 x sessions retransmissions (both ends). Before
# the retransmit timer learnt RTTs from retransmitted frames, one such stall set off a
# collapse that lasted the whole run (1.1 M retransmits in 10 s, p99 0.5 s).
server stall
(
	sleep 4
	kill -STOP "$srv"
	sleep 0.5
	kill -CONT "$srv"
) &
stopper=$!
timeout 60 "$LOAD" "$uri" --mode echo --reliable --sessions 500 --rate $rate --duration 6 --json --quiet \
	>"$tmp/stall.out" 2>"$tmp/stall.err"
rc=$?
wait "$stopper"
stopper=
srtx=$(server_stop stall)
if loaded stall $rc "$tmp/stall"; then
	lost=$(jget "$tmp/stall.out" 'j["lost"]')
	closed=$(jget "$tmp/stall.out" 'j["closed_unexpectedly"]')
	total=$(($(jget "$tmp/stall.out" 'j["retransmits"]') + ${srtx:-0}))
	bound=$((24 * 500))
	echo "# stall: 500 ms, retransmits $total (both ends), bound $bound, lost $lost," \
		"p99 $(jget "$tmp/stall.out" 'j["latency_us"]["p99"]') us, sessions closed $closed"
	if [ "$lost" -eq 0 ] && [ "$closed" -eq 0 ]; then
		ok "stall: every reliable event delivered, no session closed"
	else
		bad "stall: $lost lost, $closed sessions closed"
	fi
	if [ "$total" -le "$bound" ]; then
		ok "stall: $total retransmits <= $bound (no storm)"
	else
		bad "stall: $total retransmits > $bound: a retransmission storm"
	fi
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
