#!/usr/bin/env bash
# cli.sh - every program's answer to bad flags and input, from a table: each row
# runs a program (nothing listens, nothing is dialled) and wants its exit status
# and ONE line on stderr containing a text that names the problem and the fix.
# Then --help on every program: exit 0, the usage on stdout, nothing on stderr.
# $1: the build directory. Prints "N passed, N failed" and fails if any did.
set -u

B=${1:?usage: cli.sh BUILD_DIR}
pass=0
fail=0
tmp=$(mktemp -d /tmp/rw-cli-XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }

KEY=$tmp/server.key
PUB=$tmp/public.key
OPEN=$tmp/open.key
"$B/ringwire-key" genkey >"$KEY" || exit 1
"$B/ringwire-key" pubkey <"$KEY" >"$PUB" || exit 1
chmod 600 "$PUB"
cp "$KEY" "$OPEN"
chmod 644 "$OPEN"
# a well-formed URI: no row gets as far as dialling it
URI="wire://$(cat "$PUB")@127.0.0.1:9"
export KEY PUB OPEN URI

SERVERS="ringwire-echo ringwire-telemetry-server ringwire-chat-server ringwire-pubsub-broker ringwire-rpc-server"
CLIENTS="ringwire-telemetry-device ringwire-chat ringwire-pubsub ringwire-rpc-client"
# the samples on samples/common.c (the standard --metrics, --allow, --log-* options): all of them
COMMON_SERVERS="ringwire-echo ringwire-rpc-server ringwire-pubsub-broker ringwire-chat-server ringwire-telemetry-server"
COMMON_CLIENTS="ringwire-rpc-client ringwire-telemetry-device ringwire-pubsub ringwire-chat"

# program | arguments (shell words; $KEY $PUB $OPEN $URI expand) | exit | stderr contains
table() {
	cat <<'EOF'
ringwire-key | --bogus | 2 | ringwire-key: unknown flag --bogus; see --help
ringwire-key | frobnicate | 2 | unknown command frobnicate; use genkey, pubkey or uri
ringwire-key | | 2 | missing a command: genkey, pubkey or uri
ringwire-key | genkey extra | 2 | genkey takes no arguments
ringwire-key | uri "$KEY" | 2 | uri takes a key file and host:port, e.g.
ringwire-key | uri "$KEY" 127.0.0.1 | 1 | 127.0.0.1: a server address needs a port, e.g. 127.0.0.1:9000
ringwire-key | uri "$KEY" ::1:9000 | 1 | brackets
ringwire-key | uri "$OPEN" 127.0.0.1:9000 | 1 | chmod 600
ringwire-netem | --bogus | 2 | ringwire-netem: unknown flag --bogus; see --help
ringwire-netem | --listen 127.0.0.1 --upstream 127.0.0.1:9 | 2 | --listen 127.0.0.1: the address needs a port
ringwire-netem | --upstream 127.0.0.1:9 | 2 | missing --listen HOST:PORT
ringwire-netem | --listen 127.0.0.1:0 --upstream 127.0.0.1:9 --loss 150% | 2 | is not a percentage
ringwire-netem | --quiet=1 | 2 | --quiet takes no value
ringwire-netem | --listen 127.0.0.1:0 --upstream 127.0.0.1:9 --segment 1 | 2 | --segment cuts a byte stream: it needs --tcp; see --help
ringwire-netem | --listen 127.0.0.1:0 --upstream 127.0.0.1:9 --tcp --loss 1 | 2 | --loss has no meaning with --tcp
ringwire-netem | --listen 127.0.0.1:0 --upstream 127.0.0.1:9 --tcp --segment 0 | 2 | --segment: "0" is not a whole number from 1 to 1048576
ringwire-netem | --listen 127.0.0.1:0 --upstream 127.0.0.1:9 --tcp --segment rand | 2 | --segment: "rand" is not N or random[:MAX] (e.g. 1, 512 or random:64)
ringwire-netem | --listen 127.0.0.1:0 --upstream 127.0.0.1:9 --tcp --coalesce -1 | 2 | --coalesce: "-1" is not a time in milliseconds
ringwire-netem | --listen 127.0.0.1:0 --upstream 127.0.0.1:9 --tcp --buffer 1 | 2 | --buffer: "1" is not a size from 1024 to 64M bytes
ringwire-minimal | --bogus | 2 | expected KEYFILE [HOST:PORT]; see --help
ringwire-minimal | | 2 | expected KEYFILE [HOST:PORT]; see --help
ringwire-minimal | "$PUB" | 1 | this is a public key (wpub1...); a server needs its private key
ringwire-minimal | "$OPEN" | 1 | chmod 600
ringwire-minimal | "$tmp/none.key" | 1 | no such file; generate a key with: ringwire-key genkey
ringwire-minimal | "$KEY" 127.0.0.1 | 1 | missing port; expected host:port, e.g. 127.0.0.1:9000
ringwire-load | --bogus | 2 | ringwire-load: unknown flag --bogus; see --help
ringwire-load | | 2 | missing the server URI
ringwire-load | "$URI" --duration | 2 | --duration needs a value; see --help
ringwire-load | "$URI" --json=1 | 2 | --json takes no value; see --help
ringwire-load | "$URI" --bind 127.0.0.1 | 2 | --bind 127.0.0.1: the address needs a port, e.g. --bind 127.0.0.1:0
ringwire-load | "$URI" --bind ::1 | 2 | write an IPv6 address in brackets
ringwire-load | "$URI" --transport quic | 2 | --transport: "quic" is not a transport; use udp, tcp or auto
ringwire-load | "$URI" --transport | 2 | --transport needs a value; see --help
ringwire-load | "$URI" --metrics nohost | 2 | --metrics nohost: the address needs a port, e.g. --metrics nohost:9100
ringwire-load | "$URI" --histogram | 2 | --histogram needs a value; see --help
ringwire-load | "$URI" --timeout 0 | 2 | --timeout: "0" is not a number from 1 to 3600000
ringwire-load | wire://nokey@127.0.0.1:9 | 2 | key must start with wpub1
ringwire-load | "$URI" --sessions 0 | 2 | --sessions: "0" is not a number from 1 to 100000
ringwire-load | "$URI" --size 1 --window 300 | 2 | --window: 300 is too large for --size 1: a 1-byte event carries only
ringwire-load | "$URI" --size 0 --window 2 | 2 | so at most 1 may be in flight; use --window 1 or less, or a larger --size
ringwire-load | "$URI" --pad 8 | 2 | --pad: "8" is not a multiple from 16 to 65000 bytes (0: full packets)
ringwire-load | "$URI" --pad-fixed 100 | 2 | --pad-fixed: "100" is not a size from 128 to 65000 bytes (0: 1232)
ringwire-load | "$URI" --pad-fixed 256,0 | 2 | --pad-fixed: "0" is not a number from 1 to 3600000
ringwire-telemetry-device | --server "$URI" --duration abc | 2 | --duration: "abc" is not a number of seconds
ringwire-telemetry-device | | 2 | missing --server URI
ringwire-telemetry-device | --server wire://x | 2 | --server:
ringwire-chat | "$URI" extra | 2 | unexpected argument "extra"; see --help
ringwire-chat | | 2 | missing the server URI
ringwire-chat | "$URI" --timeout 0 | 2 | --timeout: "0" is not a number of milliseconds
ringwire-chat | "$URI" --nick abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnop | 2 | too long for a nickname
ringwire-pubsub | "$URI" bogus t | 2 | "bogus" is not a mode: use sub or pub
ringwire-pubsub | "$URI" pub t | 2 | pub takes a TOPIC and a MESSAGE
ringwire-pubsub | | 2 | expected URI sub TOPIC... or URI pub TOPIC MESSAGE; see --help
ringwire-rpc-client | "$URI" add 1 | 2 | add takes two integers
ringwire-rpc-client | "$URI" | 2 | expected URI METHOD [ARGS...]; see --help
ringwire-rpc-client | "$URI" echo x --count 0 | 2 | --count: "0" is not a number
ringwire-telemetry-server | --listen 127.0.0.1:0 --key "$KEY" --interval x | 2 | --interval: "x" is not a number
ringwire-chat-server | --listen 127.0.0.1:0 --key "$KEY" --idle x | 2 | --idle: "x" is not a number
ringwire-pubsub-broker | --listen 127.0.0.1:0 --key "$KEY" --reactors 0 | 2 | --reactors: "0" is not a number
ringwire-pubsub-broker | --listen 127.0.0.1:0 --key "$KEY" --nats 127.0.0.1:4222 | 2 | --nats 127.0.0.1:4222: expected nats://HOST:PORT
ringwire-pubsub-broker | --listen 127.0.0.1:0 --key "$KEY" --nats | 2 | --nats needs a value; see --help
ringwire-pubsub-broker | --listen 127.0.0.1:0 --key "$KEY" --nats-prefix 'a.*' | 2 | --nats-prefix a.*: only letters, digits
ringwire-pubsub-broker | --listen 127.0.0.1:0 --key "$KEY" --nats-prefix a. | 2 | --nats-prefix a.: no '.' at either end
ringwire-pubsub-broker | --listen 127.0.0.1:0 --key "$KEY" --nats-stream 'a.b' | 2 | --nats-stream a.b: a stream name is 1 to 32 letters
ringwire-chat-server | --listen 127.0.0.1:0 --key "$KEY" --nats http://x | 2 | --nats http://x: expected nats://HOST:PORT
ringwire-chat-server | --listen 127.0.0.1:0 --key "$KEY" --nats-prefix '>' | 2 | --nats-prefix >: only letters, digits
ringwire-pubsub | "$URI,127.0.0.1" sub t | 2 | missing port
ringwire-chat | "$URI,[::1]" | 2 | missing port
ringwire-pubsub | "$URI,,127.0.0.1:1" sub t | 2 | empty address in the list after '@' (address 2)
ringwire-rpc-server | --listen 127.0.0.1:0 --key "$KEY" extra | 2 | unexpected argument "extra"; see --help
EOF
	# what every server and every client shares
	for p in $SERVERS; do
		cat <<EOF
$p | --bogus | 2 | $p: unknown flag --bogus; see --help
$p | --quiet=1 | 2 | --quiet takes no value; see --help
$p | --listen | 2 | --listen needs a value; see --help
$p | --listen 127.0.0.1 --key "\$KEY" | 2 | --listen 127.0.0.1: a listen address needs a port, e.g. --listen 127.0.0.1:9000
$p | --listen ::1:9000 --key "\$KEY" | 2 | --listen ::1:9000: write an IPv6 address in brackets
$p | --listen 127.0.0.1:99999 --key "\$KEY" | 2 | port must be
$p | --listen 127.0.0.1:0 | 2 | missing --key FILE; create one with: ringwire-key genkey > server.key
$p | --key "\$KEY" | 2 | missing --listen HOST:PORT
$p | --listen 127.0.0.1:0 --key "\$PUB" | 1 | this is a public key (wpub1...); a server needs its private key
$p | --listen 127.0.0.1:0 --key "\$OPEN" | 1 | fix with: chmod 600
EOF
	done
	for p in $COMMON_SERVERS; do
		cat <<EOF
$p | --listen 127.0.0.1:0 --key "\$KEY" --metrics nohost | 2 | --metrics nohost: the address needs a port, e.g. --metrics nohost:9100
$p | --listen 127.0.0.1:0 --key "\$KEY" --metrics ::1:9100 | 2 | write an IPv6 address in brackets, e.g. --metrics [::1]:9100
$p | --listen 127.0.0.1:0 --key "\$KEY" --allow "\$tmp/missing-file" | 1 | missing-file: no such file; write one public key (wpub1...) per line
$p | --listen 127.0.0.1:0 --key "\$KEY" --allow "\$OPEN" | 1 | fix with: chmod 600
$p | --listen 127.0.0.1:0 --key "\$KEY" --log-format xml | 2 | --log-format: "xml" is not a log format; use logfmt or json
$p | --listen 127.0.0.1:0 --key "\$KEY" --log-level loud | 2 | --log-level: "loud" is not a level; use debug, info, warn, error or off
$p | --listen 127.0.0.1:0 --key "\$KEY" --reactors 0 | 2 | --reactors: "0" is not a number from 1 to 64
$p | --listen 127.0.0.1:0 --key "\$KEY" --pad 8 | 2 | --pad: a multiple of 8 bytes hides nothing; give 16..65000 (0: full packets)
$p | --listen 127.0.0.1:0 --key "\$KEY" --pad-fixed 64 | 2 | --pad-fixed: 64 bytes is below 128; give 128..65000 (0: max_packet)
$p | --listen 127.0.0.1:0 --key "\$KEY" --pad-fixed 256, | 2 | --pad-fixed: "256," is not SIZE or SIZE,COVER_MS, e.g. --pad-fixed 1232,50
$p | --listen 127.0.0.1:0 --key "\$KEY" --listen-tcp 127.0.0.1 | 2 | --listen-tcp 127.0.0.1: a listen address needs a port, e.g. --listen-tcp 127.0.0.1:9000
$p | --listen 127.0.0.1:0 --key "\$KEY" --listen-tcp ::1:9000 | 2 | --listen-tcp ::1:9000: write an IPv6 address in brackets
$p | --listen 127.0.0.1:0 --key "\$KEY" --listen-tcp | 2 | --listen-tcp needs a value; see --help
EOF
	done
	for p in $COMMON_CLIENTS; do
		u='"$URI" time'
		[ "$p" = ringwire-telemetry-device ] && u='--server "$URI"'
		[ "$p" = ringwire-pubsub ] && u='"$URI" sub t'
		[ "$p" = ringwire-chat ] && u='"$URI"'
		cat <<EOF
$p | $u --metrics nohost | 2 | --metrics nohost: the address needs a port, e.g. --metrics nohost:9100
$p | $u --log-format xml | 2 | --log-format: "xml" is not a log format; use logfmt or json
$p | $u --log-level loud | 2 | --log-level: "loud" is not a level
$p | $u --key "\$OPEN" | 1 | fix with: chmod 600
$p | $u --key "\$tmp/none.key" | 1 | no such file
$p | $u --pad x | 2 | --pad: "x" is not a number from 0 to 65000
$p | $u --pad-fixed 256,0 | 2 | --pad-fixed: "0" is not a number from 1 to 3600000
$p | $u --transport quic | 2 | --transport: "quic" is not a transport; use udp, tcp or auto
EOF
	done
	for p in $CLIENTS; do
		u='"$URI"'
		[ "$p" = ringwire-telemetry-device ] && u='--server "$URI"'
		cat <<EOF
$p | --bogus | 2 | $p: unknown flag --bogus; see --help
$p | -Z | 2 | $p: unknown flag -Z; see --help
$p | $u --timeout | 2 | --timeout needs a value; see --help
$p | $u --bind 127.0.0.1 | 2 | --bind 127.0.0.1: the address needs a port, e.g. --bind 127.0.0.1:0
$p | $u --bind [::1] | 2 | --bind [::1]: the address needs a port, e.g. --bind [::1]:0
$p | $u --bind ::1 | 2 | --bind ::1: write an IPv6 address in brackets
$p | $u --timeout abc | 2 | --timeout: "abc" is not a number
EOF
	done
}

n=0
while IFS= read -r row; do
	[ -z "$row" ] && continue
	IFS='|' read -r prog args want_rc want <<<"$row"
	prog=${prog// /}
	want_rc=${want_rc// /}
	args=${args# }
	args=${args% }
	want=${want# }
	n=$((n + 1))
	argv=()
	eval "argv=($args)"	# the table's own words: quotes and $KEY-style names
	timeout 10 "$B/$prog" "${argv[@]}" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	what="$prog $args"
	if [ "$rc" -ne "$want_rc" ]; then
		bad "$what: exit $rc, want $want_rc ($(head -c 300 "$tmp/err"))"
	elif [ "$(wc -l <"$tmp/err")" -ne 1 ]; then
		bad "$what: stderr is $(wc -l <"$tmp/err") lines, want one: $(head -c 300 "$tmp/err")"
	elif ! grep -qF -- "$want" "$tmp/err"; then
		bad "$what: stderr \"$(cat "$tmp/err")\" lacks \"$want\""
	elif [ -s "$tmp/out" ]; then
		bad "$what: printed on stdout: $(head -c 200 "$tmp/out")"
	else
		ok "$what: exit $rc, \"$want\""
	fi
done < <(table)

# --help: every program, exit 0, usage on stdout, nothing on stderr (and not taken as a key file)
for prog in ringwire-key ringwire-netem ringwire-minimal ringwire-load $SERVERS $CLIENTS; do
	timeout 10 "$B/$prog" --help >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	if [ "$rc" -eq 0 ] && grep -qi '^usage: ' "$tmp/out" && [ ! -s "$tmp/err" ]; then
		ok "$prog --help"
	else
		bad "$prog --help: exit $rc, stdout $(head -c 100 "$tmp/out"), stderr $(head -c 200 "$tmp/err")"
	fi
done

# every client: --bind and --timeout are documented
for prog in ringwire-load $CLIENTS; do
	"$B/$prog" --help >"$tmp/out" 2>/dev/null
	if grep -q -- '--bind HOST:PORT' "$tmp/out" && grep -q -- '--timeout MS' "$tmp/out"; then
		ok "$prog --help documents --bind and --timeout"
	else
		bad "$prog --help lacks --bind HOST:PORT or --timeout MS"
	fi
done

echo "$pass passed, $fail failed ($n rows)"
[ "$fail" -eq 0 ]
