#!/usr/bin/env bash
# samples.sh - every sample server driven by its client, as a user runs them:
# telemetry, chat, pubsub and rpc over 127.0.0.1. $1: the build directory.
# Every wait is bounded; prints "N passed, N failed" and fails if any did.
set -u

B=${1:?usage: samples.sh BUILD_DIR}
pass=0
fail=0
tmp=$(mktemp -d /tmp/rw-samples-XXXXXX) || exit 1
declare -A server_pid

cleanup() {
	exec 7>&- 2>/dev/null
	for name in "${!server_pid[@]}"; do
		kill -KILL "${server_pid[$name]}" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() {	# check "description" command...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; return 1; fi
}
# wait_for FILE PATTERN [SECONDS]: until grep -F finds PATTERN in FILE
wait_for() {
	local i
	for ((i = 0; i < ${3:-10} * 20; i++)); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
# wait_exit PID SECONDS: the exit status of a child, or 124 after SECONDS (then killed)
wait_exit() {
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
# start NAME BINARY ARGS...: a server on 127.0.0.1:0; its URI (first stdout line) in $uri
start() {
	local name=$1 bin=$2
	shift 2
	"$B/$bin" --listen 127.0.0.1:0 --key "$tmp/server.key" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	server_pid[$name]=$!
	uri=
	if wait_for "$tmp/$name.out" "wire://" 5; then
		uri=$(head -n 1 "$tmp/$name.out")
	fi
	check "$name: prints its wire:// URI first" grep -Eq '^wire://wpub1[a-z0-9]{58}@127\.0\.0\.1:[0-9]+$' <<<"$uri"
}
# stop NAME: SIGINT, and a graceful exit with status 0
stop() {
	local rc
	kill -INT "${server_pid[$1]}" 2>/dev/null
	wait_exit "${server_pid[$1]}" 15
	rc=$?
	unset "server_pid[$1]"
	check "$1: exits 0 on SIGINT (got $rc)" test "$rc" -eq 0
	if [ "$rc" -ne 0 ]; then tail -n 5 "$tmp/$1.err"; fi
}
# usage checks every sample shares: --help is 0, nonsense is 2 with one line saying what to do
usage_checks() {
	local bin=$1 out rc
	"$B/$bin" --help >"$tmp/help.out" 2>&1
	check "$bin --help exits 0 with a usage line" grep -q '^usage: ' "$tmp/help.out"
	out=$("$B/$bin" --no-such-option 2>&1 >/dev/null)
	rc=$?
	check "$bin: a bad option exits 2 (got $rc)" test "$rc" -eq 2
	check "$bin: a bad option says what to do" grep -q -- "--help" <<<"$out"
}

"$B/ringwire-key" genkey >"$tmp/server.key"
chmod 600 "$tmp/server.key"

for bin in ringwire-telemetry-server ringwire-telemetry-device ringwire-chat-server ringwire-chat \
	ringwire-pubsub-broker ringwire-pubsub ringwire-rpc-server ringwire-rpc-client; do
	usage_checks "$bin"
done
"$B/ringwire-telemetry-server" --listen 127.0.0.1:0 2>"$tmp/err.out"
rc=$?
check "a server without --key exits 2 (got $rc)" test "$rc" -eq 2
check "a server without --key says how to make one" grep -q "ringwire-key genkey" "$tmp/err.out"

# ---- telemetry: 20 devices for 2 s, then the totals ----------------------------------
start telemetry ringwire-telemetry-server --interval 1 --reactors 2 --top 30
timeout 60 "$B/ringwire-telemetry-device" --server "$uri" --devices 20 --rate 20 --duration 2 --query \
	>"$tmp/dev.out" 2>"$tmp/dev.err"
rc=$?
check "telemetry: the device simulator exits 0 (got $rc)" test "$rc" -eq 0
total=$(sed -n 's/^totals: devices \([0-9]*\) .*readings \([0-9]*\),.*/\1 \2/p' "$tmp/dev.out")
check "telemetry: the query answers totals over 20 devices" test "${total% *}" = 20
check "telemetry: totals count readings > 0 (got ${total#* })" test "${total#* }" -gt 0 2>/dev/null
check "telemetry: totals have every kind" grep -q '^gps  *n=[1-9]' "$tmp/dev.out"
timeout 30 "$B/ringwire-telemetry-device" --server "$uri" --devices 1 --rate 5 --duration 1 \
	--query=wpub1zzzzzzzzzz >/dev/null 2>"$tmp/dev.err"
rc=$?
check "telemetry: a query for an unknown device fails (got $rc)" test "$rc" -eq 1
check "telemetry: ... saying no device matches" grep -q "no device matches" "$tmp/dev.err"
check "telemetry: the server prints its summary table" wait_for "$tmp/telemetry.out" "devices 21" 5
# a device that connects and never sends (one reading per 100 s, for half a second)
timeout 30 "$B/ringwire-telemetry-device" --server "$uri" --devices 1 --rate 0.01 --duration 0.5 \
	>"$tmp/silent.out" 2>"$tmp/silent.err"
rc=$?
check "telemetry: --duration 0.5 is accepted (exit $rc)" test "$rc" -eq 0
check "telemetry: ... and sends for half a second" grep -q "in 0\.5 s" "$tmp/silent.out"
check "telemetry: the table lists the silent device" wait_for "$tmp/telemetry.out" "devices 22" 5
sleep 1.2	# the next table is complete
check "telemetry: no nan in the table" bash -c '! grep -qi nan "$1"' _ "$tmp/telemetry.out"
check "telemetry: a device without readings shows - in every column" \
	grep -Eq '^wpub1[a-z0-9]{8} +(yes|no) +0 +- +- +- +- +- +-$' "$tmp/telemetry.out"
check "telemetry: the table explains its columns and -" grep -q "^on: a session is open now;.*-: none of that kind yet" \
	"$tmp/telemetry.out"
stop telemetry

# ---- chat: two scripted clients in one room --------------------------------------------
start chat ringwire-chat-server --reactors 2
mkfifo "$tmp/bob.in"
"$B/ringwire-chat" "$uri" --nick bob <"$tmp/bob.in" >"$tmp/bob.out" 2>"$tmp/bob.err" &
bob=$!
exec 7>"$tmp/bob.in"
echo "/join lobby" >&7
check "chat: bob joins the lobby" wait_for "$tmp/bob.out" "[lobby] * bob joined" 10
printf '/join lobby\nhello\n/who\n' | timeout 30 "$B/ringwire-chat" "$uri" --nick alice \
	>"$tmp/alice.out" 2>"$tmp/alice.err"
rc=$?
check "chat: alice's scripted session exits 0 at the end of stdin (got $rc)" test "$rc" -eq 0
check "chat: bob sees [lobby] alice: hello" wait_for "$tmp/bob.out" "[lobby] alice: hello" 5
check "chat: alice sees her own message too" grep -qF "[lobby] alice: hello" "$tmp/alice.out"
check "chat: /who lists alice and bob" grep -Eq '^\* in lobby \(2\): (alice bob|bob alice)$' "$tmp/alice.out"
check "chat: bob sees alice leave" wait_for "$tmp/bob.out" "[lobby] * alice left" 5
# a line right after /join waits for the join, even when an error about an earlier line
# (the --nick bob has) comes back first: bob sees the newcomer join before its line, and
# the newcomer sees its own line
printf '/join lobby\nhello1\n' | timeout 30 "$B/ringwire-chat" "$uri" --nick bob >"$tmp/late.out" 2>"$tmp/late.err"
rc=$?
check "chat: a taken --nick does not end the session (exit $rc)" test "$rc" -eq 0
check "chat: ... it is refused as taken" grep -q "^! /nick bob: that nickname is taken" "$tmp/late.out"
check "chat: a line right after /join reaches the room, the sender too" grep -Eq '^\[lobby\] guest[0-9]+: hello1$' \
	"$tmp/late.out"
wait_for "$tmp/bob.out" ": hello1" 5
check "chat: ... after the sender's join" awk '/^\[lobby\] \* guest[0-9]+ joined$/ { j = NR } /: hello1$/ { h = NR }
	END { exit !(j && h && j < h) }' "$tmp/bob.out"
# a taken nickname is no broken rule: two bad names after it leave the session open
printf '/nick 1\n/nick -x\n/help\n' | timeout 30 "$B/ringwire-chat" "$uri" --nick bob >"$tmp/strikes.out" 2>"$tmp/strikes.err"
rc=$?
check "chat: a taken --nick and two bad names: still connected (exit $rc)" test "$rc" -eq 0
check "chat: ... warned twice" grep -q "warning 2 of 2" "$tmp/strikes.out"
check "chat: /help lists /quit" grep -q '^\* commands: .*/quit' "$tmp/strikes.out"
exec 7>&-
wait_exit "$bob" 10
rc=$?
check "chat: bob exits 0 when his stdin ends (got $rc)" test "$rc" -eq 0
check "chat: the server logs the join" grep -q "alice joined #lobby" "$tmp/chat.err"
check "chat: the server logs the leave" wait_for "$tmp/chat.err" "bob left #lobby" 5
printf '/nick 1\n/nick a b\n/nick -x\n' | timeout 30 "$B/ringwire-chat" "$uri" >"$tmp/bad.out" 2>"$tmp/bad.err"
rc=$?
check "chat: three bad nicknames close the session (exit $rc)" test "$rc" -eq 1
check "chat: ... and the client prints the server's reason" grep -q "nickname rules violated 3 times" "$tmp/bad.err"
stop chat
start chat-idle ringwire-chat-server --idle 1
sleep 3 | timeout 30 "$B/ringwire-chat" "$uri" >/dev/null 2>"$tmp/idle.err"
rc=$?
check "chat: an idle client is closed (exit $rc)" test "$rc" -eq 1
check "chat: ... and told why" grep -q "idle for more than 1 s" "$tmp/idle.err"
stop chat-idle

# ---- pubsub: 100 messages, each delivered exactly once -----------------------------------
start pubsub ringwire-pubsub-broker --reactors 2
timeout 60 "$B/ringwire-pubsub" "$uri" sub news >"$tmp/sub.out" 2>"$tmp/sub.err" &
sub=$!
timeout 60 "$B/ringwire-pubsub" "$uri" sub other >"$tmp/other.out" 2>"$tmp/other.err" &
other=$!
check "pubsub: the subscriber is subscribed" wait_for "$tmp/sub.err" "subscribed to 1 topic" 10
check "pubsub: a second subscriber too" wait_for "$tmp/other.err" "subscribed to 1 topic" 10
timeout 30 "$B/ringwire-pubsub" "$uri" pub news hello --count 100 2>"$tmp/pub.err"
rc=$?
check "pubsub: the publisher exits 0 (got $rc)" test "$rc" -eq 0
for ((i = 0; i < 100 && $(wc -l <"$tmp/sub.out") < 100; i++)); do sleep 0.05; done
sleep 0.3	# a duplicate would have arrived by now
kill -INT "$sub" "$other"
wait_exit "$sub" 10
rc=$?
check "pubsub: the subscriber exits 0 on SIGINT (got $rc)" test "$rc" -eq 0
wait_exit "$other" 10 >/dev/null
seq -f 'news: hello %g' 1 100 >"$tmp/want.out"
check "pubsub: the subscriber got 100 messages, each once, in order" cmp -s "$tmp/want.out" "$tmp/sub.out"
check "pubsub: the subscriber of another topic got none" test ! -s "$tmp/other.out"
stop pubsub
check "pubsub: the broker dropped nothing" grep -q "dropped 0$" "$tmp/pubsub.out"

# ---- rpc: answers, and a timeout -----------------------------------------------------------
start rpc ringwire-rpc-server --reactors 2
out=$(timeout 30 "$B/ringwire-rpc-client" "$uri" echo hello rpc 2>&1)
rc=$?
check "rpc: echo exits 0 (got $rc)" test "$rc" -eq 0
check "rpc: echo answers its text" grep -q '^hello rpc  (' <<<"$out"
out=$(timeout 30 "$B/ringwire-rpc-client" "$uri" add 2 3 2>&1)
check "rpc: add 2 3 is 5" grep -q '^5  (' <<<"$out"
out=$(timeout 30 "$B/ringwire-rpc-client" "$uri" add -- -7 2 2>&1)
check "rpc: add -7 2 is -5" grep -q '^-5  (' <<<"$out"
out=$(timeout 30 "$B/ringwire-rpc-client" "$uri" sleep 1000 --timeout 200 2>&1)
rc=$?
check "rpc: a call outliving --timeout fails (exit $rc)" test "$rc" -eq 1
check "rpc: ... reporting the timeout" grep -q "timed out after 200 ms" <<<"$out"
out=$(timeout 30 "$B/ringwire-rpc-client" "$uri" sleep 50 --timeout 5000 --count 40 --concurrency 20 2>&1)
check "rpc: 40 sleeps, 20 at a time, all answered" grep -q "ok 40, failed 0, timed out 0" <<<"$out"
out=$(timeout 30 "$B/ringwire-rpc-client" "$uri" echo x --count 5000 --concurrency 32 2>&1)
check "rpc: 5000 pipelined echoes, all answered" grep -q "ok 5000, failed 0, timed out 0" <<<"$out"
out=$(timeout 30 "$B/ringwire-rpc-client" "$uri" nosuch 2>&1)
rc=$?
check "rpc: an unknown method is an error (exit $rc)" test "$rc" -eq 1
check "rpc: ... named by the server" grep -q "unknown method" <<<"$out"
stop rpc

# ---- IPv6 and wildcard listens: every client, over IPv6 and IPv4, with and without --bind ----
declare -A suri
# start_on LISTEN TAG: the four sample servers on LISTEN; their first URI lines in suri[KIND-TAG]
start_on() {
	local kind bin name
	for kind in telemetry chat pubsub rpc; do
		case $kind in
		telemetry) bin=ringwire-telemetry-server ;;
		chat) bin=ringwire-chat-server ;;
		pubsub) bin=ringwire-pubsub-broker ;;
		rpc) bin=ringwire-rpc-server ;;
		esac
		name=$kind-$2
		"$B/$bin" --listen "$1" --key "$tmp/server.key" --reactors 1 >"$tmp/$name.out" 2>"$tmp/$name.err" &
		server_pid[$name]=$!
	done
	for kind in telemetry chat pubsub rpc; do
		name=$kind-$2
		suri[$name]=
		wait_for "$tmp/$name.out" "wire://" 5 && suri[$name]=$(head -n 1 "$tmp/$name.out")
		check "$name on $1: the first line is a URI dialable here, [::1]" \
			grep -Eq '^wire://wpub1[a-z0-9]{58}@\[::1\]:[0-9]+$' <<<"${suri[$name]}"
	done
}
# clients_ok TAG WHAT SED [CLIENT ARGS...]: every sample client reaches its server of TAG,
# the URI rewritten by SED (e.g. to 127.0.0.1); a generous --timeout: this checks reach, not speed
clients_ok() {
	local tag=$1 what=$2 sx=$3 u out
	shift 3
	u=$(sed "$sx" <<<"${suri[rpc-$tag]}")
	out=$(timeout 20 "$B/ringwire-rpc-client" "$u" add 2 3 --timeout 10000 "$@" 2>&1)
	check "$what: rpc-client: add 2 3 is 5 ($u)" grep -q '^5  (' <<<"$out" || tail -n 3 <<<"$out"
	u=$(sed "$sx" <<<"${suri[pubsub-$tag]}")
	timeout 20 "$B/ringwire-pubsub" "$u" pub news hi --timeout 10000 "$@" >/dev/null 2>"$tmp/v.err"
	check "$what: pubsub: published ($u)" grep -q "published 1 message to news" "$tmp/v.err" ||
		tail -n 3 "$tmp/v.err"
	u=$(sed "$sx" <<<"${suri[chat-$tag]}")
	printf '/join v6\nhello\n' | timeout 20 "$B/ringwire-chat" "$u" --timeout 10000 "$@" >"$tmp/v.out" 2>"$tmp/v.err"
	check "$what: chat: its line comes back from the room ($u)" grep -Eq '^\[v6\] guest[0-9]+: hello$' "$tmp/v.out" ||
		tail -n 3 "$tmp/v.out" "$tmp/v.err"
	u=$(sed "$sx" <<<"${suri[telemetry-$tag]}")
	timeout 20 "$B/ringwire-telemetry-device" --server "$u" --devices 2 --rate 20 --duration 0.3 --query \
		--timeout 10000 "$@" >"$tmp/v.out" 2>"$tmp/v.err"
	check "$what: telemetry-device: 2 devices connect and query ($u)" grep -q '^totals: devices' "$tmp/v.out" ||
		tail -n 3 "$tmp/v.out" "$tmp/v.err"
}
start_on "[::1]:0" v6
clients_ok v6 "[::1] server" 's/^//'
clients_ok v6 "[::1] server, --bind [::1]:0" 's/^//' --bind "[::1]:0"
start_on "[::]:0" wild
check "a [::] server prints no @[::] URI" bash -c '! grep -qF "@[::]" "$@"' _ "$tmp"/*-wild.out
check "a [::] server prints its other URIs after the first (127.0.0.1 among them)" \
	grep -q '^wire://.*@127\.0\.0\.1:' "$tmp/rpc-wild.out"
clients_ok wild "[::] server over IPv6" 's/^//'
clients_ok wild "[::] server over IPv4" 's/@\[::1\]/@127.0.0.1/'
clients_ok wild "[::] server over IPv4, --bind 127.0.0.1:0" 's/@\[::1\]/@127.0.0.1/' --bind 127.0.0.1:0

# ---- a dial that cannot succeed: non-zero within 2 s, one line saying why -------------------
other=$("$B/ringwire-key" genkey | "$B/ringwire-key" pubkey)
# try NAME SECONDS COMMAND...: rc, ms, and stderr in $tmp/try.err
try() {
	local t0 t1
	t0=$(date +%s%N)
	timeout "$2" "${@:3}" >/dev/null 2>"$tmp/try.err" </dev/null
	rc=$?
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
}
# fails_fast WHAT WANT MAX_MS: the last try exited non-zero within MAX_MS with one line containing WANT
fails_fast() {
	check "$1: exits non-zero within $3 ms (exit $rc, $ms ms)" test "$rc" -ne 0 -a "$rc" -ne 124 -a "$ms" -lt "$3"
	check "$1: one line: $2" bash -c '[ "$(wc -l <"$1")" -eq 1 ] && grep -qF -- "$2" "$1"' _ "$tmp/try.err" "$2"
	if [ "$(wc -l <"$tmp/try.err")" -ne 1 ]; then head -n 5 "$tmp/try.err"; fi
}
for kind in rpc pubsub chat telemetry; do
	good=$(sed 's/@\[::1\]/@127.0.0.1/' <<<"${suri[$kind-wild]}")
	wrong="wire://$other@${good#*@}"
	for u in "$wrong" "$good"; do
		if [ "$u" = "$wrong" ]; then
			set -- --timeout 1000
			what="$kind client, wrong key, --timeout 1000"
			want="no answer within 1000 ms; check the key in the URI and the address"
			max=2000
		else
			# an IPv6-only local address cannot reach an IPv4 server: a local error, said at once
			set -- --timeout 1000 --bind "[::1]:0"
			what="$kind client, --bind [::1]:0 to 127.0.0.1"
			want="local error: send to 127.0.0.1:"
			max=1000
		fi
		case $kind in
		rpc) try "$what" 10 "$B/ringwire-rpc-client" "$u" add 2 3 "$@" ;;
		pubsub) try "$what" 10 "$B/ringwire-pubsub" "$u" sub news "$@" ;;
		chat) try "$what" 10 "$B/ringwire-chat" "$u" "$@" ;;
		telemetry) try "$what" 10 "$B/ringwire-telemetry-device" --server "$u" "$@" ;;
		esac
		fails_fast "$what" "$want" "$max"
	done
done
good=$(sed 's/@\[::1\]/@127.0.0.1/' <<<"${suri[chat-wild]}")
printf 'one\ntwo\nthree\n' | timeout 10 "$B/ringwire-chat" "wire://$other@${good#*@}" --timeout 1000 \
	>/dev/null 2>"$tmp/try.err"
check "chat, piped lines, no server to answer: one line saying it could not connect" \
	bash -c '[ "$(wc -l <"$1")" -eq 1 ] && grep -q "cannot connect to 127.0.0.1:[0-9]*: no answer within 1000 ms" "$1"' \
	_ "$tmp/try.err"
for name in rpc-v6 pubsub-v6 chat-v6 telemetry-v6 rpc-wild pubsub-wild chat-wild telemetry-wild; do
	stop "$name"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
