#!/usr/bin/env bash
# nats.sh - ringwire-pubsub-broker instances joined through a nats-server
# (timeouts are generous: connecting is not what is tested, and a loaded
# machine makes handshakes slow)
# (issue: past one machine). Starts nats-server itself on a free loopback
# port with JetStream in a temp dir, and stops it. $1: the build directory,
# $2: "yes" if the brokers were built with libnats. Skips (77) only when
# nats-server is absent. Every wait is bounded; prints "N passed, N failed".
set -u

B=${1:?usage: nats.sh BUILD_DIR yes|no}
if ! command -v nats-server >/dev/null; then
	echo "SKIP: nats-server is not installed (scripts/install-deps.sh installs it)"
	exit 77
fi
if [ "${2:-yes}" != yes ]; then
	echo "FAIL: nats-server is here but the brokers were built without libnats (install libnats-dev)"
	exit 1
fi
pass=0
fail=0
tmp=$(mktemp -d /tmp/rw-nats-XXXXXX) || exit 1
pids=()
nats_pid=

cleanup() {
	for p in "${pids[@]}" $nats_pid; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	if [ "${fail:-0}" -eq 0 ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; return 1; fi
}
wait_for() {	# FILE PATTERN [SECONDS]
	local i
	for ((i = 0; i < ${3:-10} * 20; i++)); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
wait_exit() {	# PID SECONDS: its status, or 124 after SECONDS (then killed)
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		return 124
	fi
	wait "$1"
}
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

NPORT=$(free_port)
start_nats() {
	nats-server -a 127.0.0.1 -p "$NPORT" -js -sd "$tmp/js" >>"$tmp/nats.log" 2>&1 &
	nats_pid=$!
	wait_for "$tmp/nats.log" "Server is ready" 10
}
check "nats-server starts on 127.0.0.1:$NPORT with JetStream" start_nats || exit 1

"$B/ringwire-key" genkey >"$tmp/server.key" && chmod 600 "$tmp/server.key"
declare -A bpid buri baddr
start_broker() {	# N
	# a deep per-subscriber queue: two publishers at full speed must not meet the drop-oldest bound here
	"$B/ringwire-pubsub-broker" --listen 127.0.0.1:0 --key "$tmp/server.key" --reactors 2 --queue 65536 \
		--nats "nats://127.0.0.1:$NPORT" --nats-prefix rwtest >"$tmp/b$1.out" 2>"$tmp/b$1.err" &
	bpid[$1]=$!
	pids+=($!)
	wait_for "$tmp/b$1.out" "wire://" 5 || return 1
	buri[$1]=$(head -n 1 "$tmp/b$1.out")
	baddr[$1]=${buri[$1]#*@}
}
for n in 1 2 3; do
	check "broker $n starts with --nats" start_broker $n || exit 1
done
# one key, three brokers: one identity
check "three brokers with one key serve one wpub identity" \
	test "${buri[1]%@*}" = "${buri[2]%@*}" -a "${buri[2]%@*}" = "${buri[3]%@*}"
KEY=${buri[1]%@*}

# sub NAME URI COUNT TOPIC...: a subscriber in the background, "subscribed" awaited
sub() {
	local name=$1 uri=$2 count=$3
	shift 3
	"$B/ringwire-pubsub" "$uri" sub "$@" --count "$count" --timeout 15000 >"$tmp/$name.out" 2>"$tmp/$name.err" &
	eval "${name}_pid=$!"
	pids+=($!)
	wait_for "$tmp/$name.err" "subscribed" 15
}
# inorder FILE PREFIX N: lines "topic: PREFIX 1".."PREFIX N", each once, in order
inorder() {
	local got
	got=$(grep -F ": $2 " "$1" | sed 's/.* //' | tr '\n' ' ')
	[ "$got" = "$(seq -s ' ' 1 "$3") " ]
}

# ---- 1. exactly once, in order per publisher, across three brokers ----
# plain topics (core NATS) and reliable ones (--reliable: JetStream), 1000 messages per publisher
N=1000
for kind in plain reliable; do
	R= T=news
	[ $kind = reliable ] && R=--reliable T=news-r
	for n in 1 2 3; do
		check "$kind subscriber on broker $n" sub s$n "${buri[$n]}" $((2 * N)) $T $R
	done
	sleep 1	# subscriptions travel to the NATS server asynchronously
	"$B/ringwire-pubsub" "${buri[1]}" pub $T p1 --count $N $R >"$tmp/p1.out" 2>"$tmp/p1.err" &
	p1=$!
	"$B/ringwire-pubsub" "${buri[2]}" pub $T p2 --count $N $R >"$tmp/p2.out" 2>"$tmp/p2.err" &
	p2=$!
	check "$kind publisher on broker 1 ($N messages)" wait_exit $p1 30
	check "$kind publisher on broker 2 ($N messages)" wait_exit $p2 30
	for n in 1 2 3; do
		wait_exit "$(eval echo \$s${n}_pid)" 20
		check "$kind: broker $n's subscriber: $((2 * N)) messages, none twice" \
			test "$(wc -l <"$tmp/s$n.out")" -eq $((2 * N))
		check "$kind: broker $n's subscriber: publisher 1's in order, each once" inorder "$tmp/s$n.out" p1 $N
		check "$kind: broker $n's subscriber: publisher 2's in order, each once" inorder "$tmp/s$n.out" p2 $N
	done
done

# ---- 2. topic names cannot reach another topic's subject ----
sub w1 "${buri[2]}" 1000 'a.*'
sub w2 "${buri[3]}" 1000 '>'
sub w3 "${buri[2]}" 1000 'a b'
sub w4 "${buri[3]}" 1000 'a.b'
sub w5 "${buri[2]}" 1000 'rwtest.t.78'	# the subject topic "x" has: a name, not a subject
sleep 1
for t in 'a.b' 'x' 'a' 'a b c' '*' 'a.*'; do
	"$B/ringwire-pubsub" "${buri[1]}" pub "$t" "to [$t]" --timeout 15000 2>>"$tmp/wp.err" || bad "publish on [$t]"
done
sleep 1
check "a topic named 'a.*' gets only its own messages" test "$(cat "$tmp/w1.out")" = 'a.*: to [a.*]'
check "a topic named '>' gets nothing (it is no wildcard)" test ! -s "$tmp/w2.out"
check "a topic named 'a b' gets nothing" test ! -s "$tmp/w3.out"
check "a topic named 'a.b' gets only its own messages" test "$(cat "$tmp/w4.out")" = 'a.b: to [a.b]'
check "a topic named like another topic's subject gets nothing" test ! -s "$tmp/w5.out"
for w in w1 w2 w3 w4 w5; do kill "$(eval echo \$${w}_pid)" 2>/dev/null; done

# ---- 3. SIGKILL a broker mid-stream: its subscriber fails over (multi-address URI) ----
check "failover subscriber on broker 3 (URI: broker 3, then broker 2)" \
	sub f1 "$KEY@${baddr[3]},${baddr[2]}" 1000000 live
check "reliable failover subscriber on broker 3 (URI: broker 3, then broker 2)" \
	sub f2 "$KEY@${baddr[3]},${baddr[2]}" 1000000 rlive --reliable
sub l1 "${buri[1]}" 1000000 live	# one that stays put, for comparison
sleep 1
batches() {	# FROM TO: batches of 20 messages on broker 1, "bI 1".."bI 20", plain and reliable
	local i
	for ((i = $1; i <= $2; i++)); do
		"$B/ringwire-pubsub" "${buri[1]}" pub live "b$i" --count 20 --timeout 15000 2>>"$tmp/pl.err" || return 1
		"$B/ringwire-pubsub" "${buri[1]}" pub rlive "b$i" --count 20 --timeout 15000 --reliable \
			2>>"$tmp/pl.err" || return 1
		sleep 0.1
	done
}
batches 1 5
kill -KILL "${bpid[3]}"
wait "${bpid[3]}" 2>/dev/null
check "broker 3 killed mid-stream; publishing goes on" batches 6 40
check "the failover subscriber says it fails over" wait_for "$tmp/f1.err" "failing over" 5
check "it continues on broker 2: the last batch complete, each once, in order" inorder "$tmp/f1.out" b40 20
sleep 1
stayed() {	# FILE: every batch complete, each message once, in order
	local i
	for i in $(seq 1 40); do
		inorder "$1" "b$i" 20 || { echo "batch $i: $(grep -c ": b$i " "$1")"; return 1; }
	done
	[ "$(wc -l <"$1")" -eq 800 ]
}
check "the subscriber that stayed put missed nothing" stayed "$tmp/l1.out"
check "the reliable subscriber failed over too" wait_for "$tmp/f2.err" "failing over" 1
check "the reliable subscriber missed nothing and got nothing twice across the failover" stayed "$tmp/f2.out"

# a reliable publisher whose broker is killed mid-stream fails over and sends again what was not
# confirmed: the stream stores each message once (Nats-Msg-Id)
check "broker 3 restarted" start_broker 3
sub g1 "${buri[1]}" 1000000 rpub --reliable
sleep 1
"$B/ringwire-pubsub" "$KEY@${baddr[3]},${baddr[2]}" pub rpub m --count 3000 --rate 1000 --reliable \
	--timeout 15000 >/dev/null 2>"$tmp/g.err" &
gp=$!
pids+=($!)
sleep 1.2
kill -KILL "${bpid[3]}"
wait "${bpid[3]}" 2>/dev/null
check "the reliable publisher on broker 3 fails over and finishes" wait_exit $gp 30
check "... it said so" grep -q "failing over" "$tmp/g.err"
sleep 1
check "its subscriber on broker 1 got all 3000, each once, in order" inorder "$tmp/g1.out" m 3000
kill "$g1_pid" 2>/dev/null

# ---- 4. restart nats-server mid-stream: local delivery never stops, brokers recover ----
sub r1 "${buri[1]}" 1000000 roll
sub r2 "${buri[2]}" 1000000 roll
sleep 1
kill -TERM "$nats_pid"
wait "$nats_pid" 2>/dev/null
check "brokers log the outage once" wait_for "$tmp/b1.err" "connection lost" 5
for i in $(seq 1 5); do
	"$B/ringwire-pubsub" "${buri[1]}" pub roll "down$i" --count 20 --timeout 15000 2>>"$tmp/pr.err"
done
check "with NATS down, broker 1's local subscriber still gets every message" inorder "$tmp/r1.out" down5 20
check "NATS restarts" start_nats
check "broker 2 reconnects to NATS" wait_for "$tmp/b2.err" "reconnected" 10
check "broker 1 reconnects to NATS" wait_for "$tmp/b1.err" "reconnected" 10
sleep 1
"$B/ringwire-pubsub" "${buri[1]}" pub roll after --count 50 --timeout 15000 2>>"$tmp/pr.err"
sleep 1
check "after the restart, broker 2's subscriber gets broker 1's messages again, in order" inorder "$tmp/r2.out" after 50
check "the outage was logged once, not per message" test "$(grep -c 'connection lost' "$tmp/b1.err")" -eq 1

# ---- 5. chat: two servers, one room, /who and messages across them ----
declare -A cpid curi
for n in 1 2; do
	"$B/ringwire-chat-server" --listen 127.0.0.1:0 --key "$tmp/server.key" --reactors 2 \
		--nats "nats://127.0.0.1:$NPORT" --nats-prefix rwchat >"$tmp/c$n.out" 2>"$tmp/c$n.err" &
	cpid[$n]=$!
	pids+=($!)
	wait_for "$tmp/c$n.out" "wire://" 5 && curi[$n]=$(head -n 1 "$tmp/c$n.out")
done
check "two chat servers start with --nats" test -n "${curi[1]:-}" -a -n "${curi[2]:-}"
mkfifo "$tmp/bob.in"
"$B/ringwire-chat" "${curi[1]}" --nick bob <"$tmp/bob.in" >"$tmp/bob.out" 2>"$tmp/bob.err" &
bob=$!
pids+=($!)
exec 7>"$tmp/bob.in"
echo "/join lobby" >&7
check "chat: bob joins the lobby on server 1" wait_for "$tmp/bob.out" "[lobby] * bob joined" 10
sleep 1.5	# the room's subscription and bob's presence reach server 2
printf '/nick bob\n/nick Bob\n/join lobby\nhello from 2\n/who\n' | timeout 30 "$B/ringwire-chat" "${curi[2]}" \
	--nick alice >"$tmp/alice.out" 2>"$tmp/alice.err"
check "chat: /nick bob on server 2 is refused: bob is on server 1" grep -q "^! /nick bob: that nickname is taken" \
	"$tmp/alice.out"
check "chat: ... whatever the case" grep -q "^! /nick Bob: that nickname is taken" "$tmp/alice.out"
check "chat: bob (server 1) sees alice (server 2) join" wait_for "$tmp/bob.out" "[lobby] * alice joined" 5
check "chat: bob (server 1) sees alice's message (server 2)" wait_for "$tmp/bob.out" "[lobby] alice: hello from 2" 5
check "chat: alice's /who on server 2 lists bob on server 1" \
	grep -Eq '^\* in lobby \(2\): (alice bob|bob alice)$' "$tmp/alice.out"
echo "hello from 1" >&7
echo "/who" >&7
check "chat: bob's own message, once" wait_for "$tmp/bob.out" "[lobby] bob: hello from 1" 5
check "chat: bob sees alice leave" wait_for "$tmp/bob.out" "[lobby] * alice left" 5
sleep 0.5
check "chat: each message once on server 1" test "$(grep -c 'alice: hello from 2' "$tmp/bob.out")" -eq 1 -a \
	"$(grep -c 'bob: hello from 1' "$tmp/bob.out")" -eq 1
# one identity at two addresses: carol on server 2 fails over to server 1 when 2 is killed
mkfifo "$tmp/carol.in"
"$B/ringwire-chat" "${curi[2]%@*}@${curi[2]#*@},${curi[1]#*@}" --nick carol <"$tmp/carol.in" \
	>"$tmp/carol.out" 2>"$tmp/carol.err" &
carol=$!
pids+=($!)
exec 8>"$tmp/carol.in"
echo "/join lobby" >&8
check "chat: carol (URI: server 2, then 1) joins the lobby" wait_for "$tmp/bob.out" "[lobby] * carol joined" 10
kill -KILL "${cpid[2]}"
wait "${cpid[2]}" 2>/dev/null
check "chat: carol's server killed: she fails over" wait_for "$tmp/carol.err" "failing over" 10
check "chat: ... and is carol in the lobby again, on server 1" wait_for "$tmp/carol.out" "you are now carol" 10
wait_for "$tmp/carol.out" "[lobby] * carol joined" 5
echo "welcome back" >&7
check "chat: carol hears bob again" wait_for "$tmp/carol.out" "[lobby] bob: welcome back" 5
exec 8>&-
exec 7>&-
wait_exit $bob 10
wait_exit $carol 10

echo "$pass passed, $fail failed"
if [ $fail -ne 0 ]; then
	for f in "$tmp"/b*.err "$tmp"/f*.err "$tmp"/c*.err "$tmp"/*.out; do echo "== $f"; tail -n 20 "$f"; done
fi
[ $fail -eq 0 ]
