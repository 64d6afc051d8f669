#!/usr/bin/env bash
# scripts/bench.sh [SECONDS] - every ringwire benchmark on this machine, one table.
#
# Not a test (never part of the test suite). Builds what it needs in
# build-bench/ (release, no tests), makes a throw-away server key, then runs:
#   1. the raw UDP ceiling (bench-udp: its own io_uring code, no crypto): 64 B
#      datagrams; 1232 B one per send, batched, and UDP GSO+GRO (plain and
#      zero-copy sends, the faster kept); 65507-byte datagrams;
#   1b. the per-packet AEAD cost (bench-aead: ringwire's seal/open and plain
#      EVP at 0, 64, 1024, 1200, 8192 and 65475 bytes);
#   2. ringwire one-way: 64 B, 1 KiB and 64 KiB events, unreliable and reliable,
#      10 sessions (ringwire-echo --reactors 1 <- ringwire-load --reactors 1);
#      then the cost of padding (docs/protocol.md §13.7): 64 B one-way with every
#      datagram padded to 256 B and to full packets (--pad-fixed 256, --pad-fixed 0);
#   2b. the same over TCP (ringwire-echo --listen-tcp <- ringwire-load
#      --transport tcp, a wire+tcp:// URI): one-way 64 B and 64 KiB events;
#   3. ringwire echo: the maximum 64-byte echo rate, latency at half of it,
#      and the unloaded round trip (window 1); 3b. the maximum echo rate and
#      the unloaded round trip over TCP;
#   4. ringwire connect rate (2000 sessions as fast as possible) and the
#      unloaded handshake latency;
#   5. the same workloads on ZeroMQ CURVE (bench-zmq, tcp://127.0.0.1);
#   6. memory per idle session: resident memory (VmRSS) of ringwire-echo at
#      rest and with IDLE_SESSIONS sessions held open by ringwire-load
#      (--mode connect --keep), and of ringwire-load with 1 and with N;
#   7. latency by sessions: echo of 64-byte events at one fixed total rate
#      over 1, 100, 1,000, 10,000 and 100,000 sessions (ringwire-echo
#      --reactors 1 --max-sessions 131072 <- ringwire-load --reactors 1, every
#      session up before the warm-up), next to ZeroMQ CURVE with as many
#      connections (bench-zmq --sessions N) as far as it goes ("-" where it
#      fails: a file descriptor per connection);
# and prints the tables plus the exact commands it ran (each is printed as it
# starts). With gnuplot (Debian gnuplot-nox) it also draws, in PLOT_DIR (default
# build-bench/charts/, beside the .hgrm latency distributions it plots), latency.png
# (echo latency by percentile, ringwire and ZeroMQ side by side) and throughput.png
# (the throughput rows as bars); without it, a line says the charts were skipped. Each measurement lasts SECONDS (default 5) after a 1 s warm-up.
# Server and client are pinned to different CPUs when there are two or more.
#
# Environment: BENCH_ONLY=sessions (only section 7), SESS_LIST (its session
# counts, default "1 100 1000 10000 100000"), SESS_RATE (its total events/s,
# default 10000), SESS_RATE_BIG (the rate from 100,000 sessions on, default
# SESS_RATE), IDLE_SESSIONS (sessions held open for the memory rows, default
# 10000, at most 100000
# IDLE_RATE dials/s to open them, default 1500), ZMQ_SESSIONS (one-way ZeroMQ connections, default 10 like
# ringwire's sessions), ZMQ_CONNECT_WINDOW (ZeroMQ connects in flight,
# default 8), RW_ECHO_PIN=1 (pin the ringwire echo runs too; by default they
# are left to the scheduler, which measured twice as fast on a 2-vCPU VM:
# ping-pong on one core saves a cross-CPU wake-up per round trip).
#
# Exit status: 0 all ran; 1 a component failed (the reason is printed); 2 usage.
set -euo pipefail

usage() { echo "usage: scripts/bench.sh [SECONDS]   (seconds per measurement, default 5)"; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
(($# <= 1)) || { usage >&2; exit 2; }
DUR=${1:-5}
# shellcheck disable=SC2015 # the message when either test fails
[[ $DUR =~ ^[0-9]+([.][0-9]+)?$ ]] && python3 -c "import sys; sys.exit(not 0.5 <= float('$DUR') <= 600)" ||
	{ echo "bench.sh: SECONDS must be a number from 0.5 to 600, not \"$DUR\"" >&2; exit 2; }
WARM=1
ZMQ_SESSIONS=${ZMQ_SESSIONS:-10}
ZMQ_CONNECT_WINDOW=${ZMQ_CONNECT_WINDOW:-8}
RW_ECHO_PIN=${RW_ECHO_PIN:-0}
IDLE_SESSIONS=${IDLE_SESSIONS:-10000}
IDLE_RATE=${IDLE_RATE:-1500}
BENCH_ONLY=${BENCH_ONLY:-}
SESS_LIST=${SESS_LIST:-1 100 1000 10000 100000}
SESS_RATE=${SESS_RATE:-10000}
SESS_RATE_BIG=${SESS_RATE_BIG:-$SESS_RATE}
[[ -z $BENCH_ONLY || $BENCH_ONLY == sessions ]] ||
	{ echo "bench.sh: BENCH_ONLY must be empty or \"sessions\", not \"$BENCH_ONLY\"" >&2; exit 2; }
for n in $SESS_LIST; do
	# shellcheck disable=SC2015
	[[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 100000)) ||
		{ echo "bench.sh: SESS_LIST: \"$n\" is not a session count from 1 to 100000" >&2; exit 2; }
done
# shellcheck disable=SC2015 # the message when either test fails
[[ $IDLE_SESSIONS =~ ^[0-9]+$ ]] && ((IDLE_SESSIONS >= 2 && IDLE_SESSIONS <= 100000)) ||
	{ echo "bench.sh: IDLE_SESSIONS must be a number from 2 to 100000, not \"$IDLE_SESSIONS\"" >&2; exit 2; }
# shellcheck disable=SC2015
[[ $IDLE_RATE =~ ^[0-9]+$ ]] && ((IDLE_RATE >= 1)) ||
	{ echo "bench.sh: IDLE_RATE must be a number of dials per second (1 or more), not \"$IDLE_RATE\"" >&2; exit 2; }

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
B=build-bench
PLOT_DIR=${PLOT_DIR:-$top/$B/charts}
tmp=$(mktemp -d /tmp/ringwire-bench.XXXXXX)
server_pid=
client_pid=
cmdlog=$tmp/commands.txt
: >"$cmdlog"

cleanup() {
	if [ -n "$client_pid" ] && kill -0 "$client_pid" 2>/dev/null; then
		kill -KILL "$client_pid" 2>/dev/null || true
	fi
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -INT "$server_pid" 2>/dev/null || true
		sleep 0.5
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo >&2
	echo "bench.sh: FAILED: $*" >&2
	exit 1
}

# Print a command, log it for the summary, run it; stdout to $out, stderr to $out.err.
# usage: run OUTFILE cmd args...
run() {
	local out=$1
	shift
	echo "\$ $*" | tee -a "$cmdlog"
	local rc=0
	"$@" >"$out" 2>"$out.err" || rc=$?
	if ((rc)); then
		echo "--- stdout (last lines):" >&2
		tail -n 15 "$out" >&2 || true
		echo "--- stderr (last lines):" >&2
		tail -n 15 "$out.err" >&2 || true
		die "\"$*\" exited with status $rc"
	fi
}

# The last line of a JSON-printing tool's output must be a JSON object.
need_json() { # file what
	tail -n 1 "$1" | python3 -c 'import json,sys; json.loads(sys.stdin.read())' 2>/dev/null ||
		die "$2 printed no JSON line (see $1)"
}

jget() { # file key[.sub]  -> value (or "null")
	python3 - "$1" "$2" <<'EOF'
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
for k in sys.argv[2].split("."):
    d = d.get(k) if isinstance(d, dict) else None
print("null" if d is None else d)
EOF
}

echo "== ringwire benchmarks: $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(uname -n), $(nproc) CPUs, kernel $(uname -r)"
echo "   $DUR s per measurement after a ${WARM} s warm-up; work files in $tmp"
if git rev-parse --git-dir >/dev/null 2>&1; then
	echo "   source: commit $(git rev-parse --short HEAD), $(git status --porcelain --untracked-files=no | wc -l) files modified and not committed"
fi
read -r load1 load5 _ </proc/loadavg
echo "   load average at start: $load1 (1 min), $load5 (5 min)"
if python3 -c "import sys; sys.exit(not float('$load1') > 0.5)"; then
	echo "   WARNING: the machine is busy (load $load1): the numbers below are shared with whatever else runs:"
	ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 > 5 { printf "     %5s%%  %s\n", $1, $2 }' | head -n 5
fi

# ---- build ------------------------------------------------------------------------
echo
echo "== build ($B/)"
if [ ! -f "$B/build.ninja" ]; then
	run "$tmp/setup.log" meson setup "$B" -Dbuildtype=release -Dtests=false
fi
run "$tmp/build.log" ninja -C "$B" ringwire-echo ringwire-load ringwire-key bench-udp bench-aead
if [ ! -f "$B/build.ninja" ] || ! grep -q 'build bench-zmq:' "$B/build.ninja"; then
	pkg-config --exists libzmq || die "libzmq (libzmq3-dev) is not installed: run scripts/install-deps.sh"
	run "$tmp/reconf.log" meson setup --reconfigure "$B"
fi
run "$tmp/build-zmq.log" ninja -C "$B" bench-zmq
for exe in ringwire-echo ringwire-load ringwire-key bench-udp bench-aead bench-zmq; do
	[ -x "$B/$exe" ] || die "$B/$exe was not built"
done

# ---- CPUs -------------------------------------------------------------------------
read -r SCPU CCPU < <(python3 -c '
import os
c = sorted(os.sched_getaffinity(0))
print(c[0], c[1]) if len(c) >= 2 else print("-", "-")')
if [ "$SCPU" = - ]; then
	PINNED_S=() PINNED_C=() ZPIN=()
	pin_note="nothing pinned (fewer than 2 CPUs)"
else
	PINNED_S=(taskset -c "$SCPU") PINNED_C=(taskset -c "$CCPU") ZPIN=(--server-cpu "$SCPU" --client-cpu "$CCPU")
	pin_note="server on CPU $SCPU, client on CPU $CCPU (taskset; bench-zmq pins its two processes itself,"
	pin_note+=" bench-udp its two threads), except ringwire echo"
	((RW_ECHO_PIN)) && pin_note+=" (pinned too: RW_ECHO_PIN=1)" ||
		pin_note+=" (unpinned: the scheduler puts the ping-pong on one core, which on this VM doubled"
	((RW_ECHO_PIN)) || pin_note+=" the echo rate and halved the latency; RW_ECHO_PIN=1 pins it too)"
fi
PIN_S=() PIN_C=()
echo "   pinning: $pin_note"

# ---- key and server ---------------------------------------------------------------
key=$tmp/server.key
echo "\$ $B/ringwire-key genkey > $key" | tee -a "$cmdlog"
(umask 077 && "$B/ringwire-key" genkey >"$key") || die "ringwire-key genkey failed"
chmod 600 "$key"

# a free TCP port on 127.0.0.1 for --listen-tcp (bound and released: a small race)
free_tcp_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() { # section name [extra ringwire-echo flags]; pinning from PIN_S
	section=$1
	shift
	local cmd=("${PIN_S[@]}" "$B/ringwire-echo" --listen 127.0.0.1:0 --key "$key" --reactors 1 --quiet "$@")
	echo "\$ ${cmd[*]} &" | tee -a "$cmdlog"
	"${cmd[@]}" >"$tmp/server.out" 2>"$tmp/server.err" &
	server_pid=$!
	for _ in $(seq 100); do
		[ -s "$tmp/server.out" ] && break
		kill -0 "$server_pid" 2>/dev/null || die "ringwire-echo exited at once: $(cat "$tmp/server.err")"
		sleep 0.05
	done
	URI=$(head -n 1 "$tmp/server.out")
	[[ $URI == wire://* ]] || die "ringwire-echo printed no wire:// URI"
	echo "   server URI: $URI"
}

# SIGINT, not SIGTERM: ringwire-echo stops on either, but leaves the signal
# pending (rw__engine_run never reads its signalfd) and unblocks it on the way
# out, so SIGTERM then kills it (status 143) before it prints its counters. A
# script's background job ignores SIGINT, so a pending SIGINT is discarded.
server_rc=0
stop_server() {
	echo "\$ kill -INT $server_pid   # ringwire-echo prints its counters" | tee -a "$cmdlog"
	kill -INT "$server_pid" 2>/dev/null || die "ringwire-echo had already exited: $(cat "$tmp/server.err")"
	set +e
	wait "$server_pid"
	server_rc=$?
	set -e
	server_pid=
	cp "$tmp/server.out" "$tmp/server-$section.txt"
	echo "$server_rc" >"$tmp/server-$section.rc"
}

server_alive() {
	kill -0 "$server_pid" 2>/dev/null || die "ringwire-echo died during the run: $(tail -n 5 "$tmp/server.err")"
}

# with_tcp: the next start_server also listens on TCP; TURI is its wire+tcp:// URI once started
TPORT=
with_tcp() {
	TPORT=$(free_tcp_port)
	TCP_FLAGS=(--listen-tcp "127.0.0.1:$TPORT")
}
tcp_uri() {
	local pub=${URI#wire://}
	TURI="wire+tcp://${pub%@*}@127.0.0.1:$TPORT"
	echo "   server TCP URI: $TURI"
}

load() { # name args... : one ringwire-load run, JSON in $tmp/NAME.json
	local name=$1
	shift
	run "$tmp/$name.json" "${PIN_C[@]}" "$B/ringwire-load" "$URI" --reactors 1 --quiet --json "$@"
	need_json "$tmp/$name.json" "ringwire-load ($name)"
	server_alive
}

tload() { # name args... : the same over TCP (the server started after with_tcp)
	local name=$1
	shift
	run "$tmp/$name.json" "${PIN_C[@]}" "$B/ringwire-load" "$TURI" --transport tcp --reactors 1 --quiet --json "$@"
	need_json "$tmp/$name.json" "ringwire-load ($name, TCP)"
	server_alive
}

zmq() { # name args... : one bench-zmq run, JSON in $tmp/NAME.json
	local name=$1
	shift
	run "$tmp/$name.json" "$B/bench-zmq" "${ZPIN[@]}" --json "$@"
	need_json "$tmp/$name.json" "bench-zmq ($name)"
}

if [ "$BENCH_ONLY" != sessions ]; then
# ---- 1. raw UDP ceiling -----------------------------------------------------------------
# bench-udp pins its receiver and sender threads to two CPUs itself; one JSON line per mode.
echo
echo "== 1. raw UDP ceiling (bench-udp: io_uring, no crypto)"
udp() { # size modes
	run "$tmp/udp-$1.json" "$B/bench-udp" --size "$1" --mode "$2" --seconds "$DUR" --warmup "$WARM" --json
	need_json "$tmp/udp-$1.json" "bench-udp --size $1"
}
udp 64 single,batch
udp 1232 single,batch,gso,gso-zc
udp 65507 single,batch

echo
echo "== 1b. AEAD per packet (bench-aead: rw__aead_seal/open, plain EVP)"
run "$tmp/aead.json" "$B/bench-aead" --runs 5 --json
need_json "$tmp/aead.json" "bench-aead"

# ---- 2-4. ringwire ------------------------------------------------------------------------
echo
echo "== 2. ringwire one-way, 10 sessions"
PIN_S=("${PINNED_S[@]}") PIN_C=("${PINNED_C[@]}")
with_tcp
start_server oneway "${TCP_FLAGS[@]}"
tcp_uri
for s in 64 1k 64k; do
	load "ow-$s" --mode oneway --sessions 10 --size "$s" --duration "$DUR" --warmup "$WARM"
	load "owr-$s" --mode oneway --sessions 10 --size "$s" --duration "$DUR" --warmup "$WARM" --reliable
done
# padding's cost: every datagram 256 bytes, then every one a full packet (max_packet, 1232)
load owpad-256 --mode oneway --sessions 10 --size 64 --duration "$DUR" --warmup "$WARM" --pad-fixed 256
load owpad-full --mode oneway --sessions 10 --size 64 --duration "$DUR" --warmup "$WARM" --pad-fixed 0
echo
echo "== 2b. ringwire one-way over TCP, 10 sessions"
for s in 64 64k; do
	tload "ow-tcp-$s" --mode oneway --sessions 10 --size "$s" --duration "$DUR" --warmup "$WARM"
done

echo
stop_server

echo
echo "== 3. ringwire echo, 64 B, 1 session"
if ((RW_ECHO_PIN)); then PIN_S=("${PINNED_S[@]}") PIN_C=("${PINNED_C[@]}"); else PIN_S=() PIN_C=(); fi
with_tcp
start_server echo "${TCP_FLAGS[@]}"
tcp_uri
load echo-max --mode echo --sessions 1 --size 64 --window 32 --duration "$DUR" --warmup "$WARM"
max=$(jget "$tmp/echo-max.json" events_per_s)
[ "$max" != null ] || die "ringwire echo measured no rate"
half=$(python3 -c "print(max(1, int(float('$max') / 2)))")
echo "   maximum $max echoes/s; latency at half of it: --rate $half"
load echo-half --mode echo --sessions 1 --size 64 --window 32 --rate "$half" --duration "$DUR" --warmup "$WARM" \
	--histogram "$tmp/echo-half.hgrm"
load echo-w1 --mode echo --sessions 1 --size 64 --window 1 --duration "$DUR" --warmup "$WARM" \
	--histogram "$tmp/echo-w1.hgrm"
echo
echo "== 3b. ringwire echo over TCP, 64 B, 1 session"
tload echo-tcp-max --mode echo --sessions 1 --size 64 --window 32 --duration "$DUR" --warmup "$WARM"
tload echo-tcp-w1 --mode echo --sessions 1 --size 64 --window 1 --duration "$DUR" --warmup "$WARM" \
	--histogram "$tmp/echo-tcp-w1.hgrm"

echo
stop_server

echo
echo "== 4. ringwire connect"
PIN_S=("${PINNED_S[@]}") PIN_C=("${PINNED_C[@]}")
start_server connect
# the unloaded one first: after the burst the server is "under load" for a while and
# answers with cookies (and rate-limits), which would show in the unloaded latency
load connect-1 --mode connect --sessions 200 --connect-rate 200 --duration 30
load connect --mode connect --sessions 2000 --connect-rate 0 --duration 30
stop_server

# ---- 5. ZeroMQ CURVE ----------------------------------------------------------------------
echo
echo "== 5. ZeroMQ CURVE (bench-zmq, tcp://127.0.0.1)"
for s in 64 1024 65536; do
	zmq "zmq-ow-$s" --mode oneway --sessions "$ZMQ_SESSIONS" --size "$s" --duration "$DUR" --warmup "$WARM"
done
zmq zmq-echo-max --mode echo --size 64 --window 32 --duration "$DUR" --warmup "$WARM"
zmax=$(jget "$tmp/zmq-echo-max.json" events_per_s)
zhalf=$(python3 -c "print(max(1, int(float('$zmax') / 2)))")
echo "   maximum $zmax echoes/s; latency at half of it: --rate $zhalf"
zmq zmq-echo-half --mode echo --size 64 --window 32 --rate "$zhalf" --duration "$DUR" --warmup "$WARM" \
	--histogram "$tmp/zmq-echo-half.hgrm"
zmq zmq-echo-w1 --mode echo --size 64 --window 1 --duration "$DUR" --warmup "$WARM" \
	--histogram "$tmp/zmq-echo-w1.hgrm"
zmq zmq-connect-1 --mode connect --sessions 200 --window 1 --duration 30
zmq zmq-connect --mode connect --sessions 2000 --window "$ZMQ_CONNECT_WINDOW" --duration 30

# ---- 6. memory per idle session -------------------------------------------------------------
# VmRSS of a process, in KiB
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# hold N: ringwire-load opens N idle sessions (--keep) and holds them; once all are up (or
# none more came up for 10 s) both processes' RSS go to $tmp/mem-N.txt; then ^C ends the client.
hold() {
	local n=$1 up=0 last=0 still=0 out=$tmp/mem-$1
	local cmd=("${PINNED_C[@]}" "$B/ringwire-load" "$URI" --mode connect --sessions "$n" --connect-rate "$IDLE_RATE"
		--keep --duration 3600 --reactors 1 --json)
	echo "\$ ${cmd[*]} &   # until $n sessions are up, then kill -INT" | tee -a "$cmdlog"
	"${cmd[@]}" >"$out.json" 2>"$out.err" &
	client_pid=$!
	while ((up < n && still < 100)); do
		sleep 0.1
		kill -0 "$client_pid" 2>/dev/null || die "ringwire-load exited while opening sessions: $(tail -n 3 "$out.err")"
		server_alive
		up=$(sed -n 's/.*sessions up \([0-9]*\) .*/\1/p' "$out.err" | tail -n 1)
		up=${up:-0}
		if ((up > last)); then last=$up still=0; else still=$((still + 1)); fi
	done
	sleep 1 # let the last handshakes' buffers settle
	up=$(sed -n 's/.*sessions up \([0-9]*\) .*/\1/p' "$out.err" | tail -n 1)
	echo "${up:-0} $(rss_kib "$server_pid") $(rss_kib "$client_pid")" >"$out.txt"
	echo "   $n requested, ${up:-0} up: server $(rss_kib "$server_pid") KiB, client $(rss_kib "$client_pid") KiB"
	kill -INT "$client_pid" 2>/dev/null || true
	set +e
	wait "$client_pid"
	set -e
	client_pid=
}

echo
echo "== 6. memory per idle session ($IDLE_SESSIONS sessions)"
PIN_S=("${PINNED_S[@]}") PIN_C=("${PINNED_C[@]}")
MAXS=$((IDLE_SESSIONS + IDLE_SESSIONS / 4 + 1024))
# the tables ringwire-echo commits at start, per --max-sessions slot: at rest with 1024 slots and with MAXS
start_server mem-small --max-sessions 1024
sleep 1
rss_kib "$server_pid" >"$tmp/mem-rest-small.txt"
echo "   at rest, --max-sessions 1024: $(cat "$tmp/mem-rest-small.txt") KiB"
stop_server
start_server mem --max-sessions "$MAXS"
sleep 1
rss_kib "$server_pid" >"$tmp/mem-rest.txt"
echo "   at rest, --max-sessions $MAXS: $(cat "$tmp/mem-rest.txt") KiB"
hold 1
hold "$IDLE_SESSIONS"
stop_server

# ---- table ----------------------------------------------------------------------------------
read -r load1e _ </proc/loadavg
python3 - "$tmp" "$pin_note" "$load1" "$load1e" "$ZMQ_SESSIONS" "$ZMQ_CONNECT_WINDOW" "$IDLE_SESSIONS" "$MAXS" <<'EOF'
import json, re, sys, textwrap
tmp, pin_note, load0, load1, zsess, zwin, idle_n, maxs = sys.argv[1:9]
idle_n, maxs = int(idle_n), int(maxs)

def J(name):
    with open(f"{tmp}/{name}.json") as f:
        return json.loads(f.read().strip().splitlines()[-1])

def get(d, path):
    for k in path.split("."):
        d = d.get(k) if isinstance(d, dict) else None
    return d

def lines(name):
    with open(f"{tmp}/{name}.json") as f:
        return [json.loads(l) for l in f if l.startswith("{")]

udp = {}   # (size, mode) -> bench-udp result
for size in (64, 1232, 65507):
    for d in lines(f"udp-{size}"):
        udp[(size, d["mode"])] = d

def best(size, modes):
    """The fastest available run among modes at size: (datagrams/s, Gbit/s, mode) or Nones."""
    runs = [udp[(size, m)] for m in modes if udp.get((size, m), {}).get("available")]
    if not runs:
        return None, None, None
    d = max(runs, key=lambda d: d["rx_datagrams_per_s"])
    return d["rx_datagrams_per_s"], d["rx_gbit_s"], d["mode"]

u64 = best(64, ("single", "batch"))
u1232_single = best(1232, ("single",))
u1232_batch = best(1232, ("batch",))
u1232_gso = best(1232, ("gso", "gso-zc"))
u64k = best(65507, ("single", "batch"))
# bulk rows are held against GSO+GRO at 1232 B; if the kernel refused GSO, the batched run
bulk_ceil, bulk_what = (u1232_gso, "GSO+GRO") if u1232_gso[0] else (u1232_batch, "batched (GSO unavailable)")
mem_small = int(open(f"{tmp}/mem-rest-small.txt").read())
mem_rest = int(open(f"{tmp}/mem-rest.txt").read())
def hold(n):
    up, srv, cli = (int(x) for x in open(f"{tmp}/mem-{n}.txt").read().split())
    return up, srv, cli
h1, hN = hold(1), hold(idle_n)
mem_server = (hN[1] - mem_rest) * 1024 / hN[0] if hN[0] else None
mem_client = (hN[2] - h1[2]) * 1024 / (hN[0] - h1[0]) if hN[0] > h1[0] else None
mem_slot = (mem_rest - mem_small) * 1024 / (maxs - 1024) if maxs > 1024 else None

def fmt(v, unit):
    if v is None:
        return "-"
    if unit in ("Gbit/s",):
        return f"{v:.3f}"
    if unit == "us":
        return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"
    return f"{v:,.0f}"

def ratio(a, b):
    return "-" if a is None or b in (None, 0) else f"{a / b:.2f}"

rows = []   # workload, unit, ringwire, ceiling, zmq ; ratios computed
def row(w, unit, rw, ceil=None, zq=None):
    rows.append((w, unit, rw, ceil, zq))

def seg(size, mode):
    return udp.get((size, mode), {}).get("segments")
rows.append((f"raw UDP 64 B, best of one per send/batched ({u64[2]})", "datagrams/s", None, u64[0], None))
rows.append(("raw UDP 1232 B, one per send", "Gbit/s", None, u1232_single[1], None))
rows.append((f"raw UDP 1232 B, batched ({udp.get((1232, 'batch'), {}).get('batch')} per submit)", "Gbit/s", None, u1232_batch[1], None))
rows.append((f"raw UDP 1232 B, GSO+GRO ({u1232_gso[2] or 'unavailable'}, {seg(1232, u1232_gso[2] or 'gso')} per send)",
             "Gbit/s", None, u1232_gso[1], None))
rows.append((f"raw UDP 65507 B datagrams ({u64k[2]})", "Gbit/s", None, u64k[1], None))
for s, lab, zs in (("64", "64 B", "64"), ("1k", "1 KiB", "1024"), ("64k", "64 KiB", "65536")):
    z = J(f"zmq-ow-{zs}")
    for rel, tag in (("", "unreliable"), ("r", "reliable")):
        d = J(f"ow{rel}-{s}")
        if s == "64":
            row(f"one-way {lab}, {tag}", "events/s", d["events_per_s"], u64[0], z["events_per_s"])
        else:
            row(f"one-way {lab}, {tag}", "Gbit/s", d["payload_gbit_s"], bulk_ceil[1], z["payload_gbit_s"])
    if s in ("64", "64k"):
        d = J(f"ow-tcp-{s}")
        if s == "64":
            row(f"one-way {lab}, over TCP", "events/s", d["events_per_s"], None, z["events_per_s"])
        else:
            row(f"one-way {lab}, over TCP", "Gbit/s", d["payload_gbit_s"], None, z["payload_gbit_s"])
for name, lab in (("owpad-256", "256 B"), ("owpad-full", "full packets (1232 B)")):
    d = J(name)
    row(f"one-way 64 B, unreliable, padded to {lab}", "events/s", d["events_per_s"], u64[0], None)
em, zm = J("echo-max"), J("zmq-echo-max")
row("echo 64 B, max rate (window 32)", "echoes/s", em["events_per_s"], None, zm["events_per_s"])
row("echo 64 B over TCP, max rate (window 32)", "echoes/s", J("echo-tcp-max")["events_per_s"], None, zm["events_per_s"])
eh, zh = J("echo-half"), J("zmq-echo-half")
for p, lab in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
    row(f"echo at half max rate, {lab}", "us", get(eh, "latency_us." + p), None, get(zh, "latency_us." + p))
e1, z1 = J("echo-w1"), J("zmq-echo-w1")
for p, lab in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
    row(f"echo window 1 (unloaded), {lab}", "us", get(e1, "latency_us." + p), None, get(z1, "latency_us." + p))
row("echo window 1, rate", "echoes/s", e1["events_per_s"], None, z1["events_per_s"])
et = J("echo-tcp-w1")
for p, lab in (("p50", "p50"), ("p99", "p99")):
    row(f"echo window 1 over TCP, {lab}", "us", get(et, "latency_us." + p), None, get(z1, "latency_us." + p))
c, zc = J("connect"), J("zmq-connect")
row("connect, 2000 new sessions", "conn/s", c["handshakes_per_s"], None, zc["handshakes_per_s"])
c1, zc1 = J("connect-1"), J("zmq-connect-1")
row("handshake, one at a time, p50", "us", get(c1, "handshake_latency_us.p50"), None, get(zc1, "handshake_latency_us.p50"))
row("handshake, one at a time, p99", "us", get(c1, "handshake_latency_us.p99"), None, get(zc1, "handshake_latency_us.p99"))
row(f"memory per idle session, server ({hN[0]} sessions)", "bytes", mem_server)
row(f"memory per idle session, client ({hN[0]} sessions)", "bytes", mem_client)

# the throughput rows for the bar chart (scripts/bench-plot.sh): "workload" unit ringwire ZeroMQ ceiling
with open(f"{tmp}/throughput.dat", "w") as f:
    for w, unit, rw, ceil, zq in rows:
        if unit not in ("us", "bytes"):
            f.write('"%s" %s %s\n' % (w, unit, " ".join("NaN" if v is None else repr(float(v)) for v in (rw, zq, ceil))))

hdr = ("workload", "unit", "ringwire", "ceiling", "ringwire/ceiling", "ZeroMQ CURVE", "ringwire/ZeroMQ")
tab = [hdr]
for w, unit, rw, ceil, zq in rows:
    tab.append((w, unit, fmt(rw, unit), fmt(ceil, unit), ratio(rw, ceil), fmt(zq, unit), ratio(rw, zq)))
wid = [max(len(r[i]) for r in tab) for i in range(len(hdr))]
line = lambda r: "| " + " | ".join(c.ljust(wid[i]) if i < 2 else c.rjust(wid[i]) for i, c in enumerate(r)) + " |"
sep = "|" + "|".join("-" * (w + 2) for w in wid) + "|"
print()
print("== results")
print(line(tab[0]))
print(sep)
for r in tab[1:]:
    print(line(r))
print()
print("Notes")
print(textwrap.fill(f"- pinning: {pin_note}.", 110, subsequent_indent="  "))
print(f"- ceiling: bench-udp (its own io_uring code, no crypto; receiver and sender threads on two CPUs). 64 B")
print(f"  rows compare events/s with 64-byte datagrams/s (one per send or batched, no GSO); ringwire packs several")
print(f"  small events into one datagram, so that ratio can exceed 1. 1 KiB and 64 KiB rows compare payload")
print(f"  Gbit/s with 1232-byte datagrams sent {bulk_what} (ringwire sends 1232-byte datagrams; 64 KiB events")
print(f"  are fragmented into them); the 65507 B row is what bigger datagrams (path-MTU growth) could reach.")
print(f"- memory per idle session: VmRSS of ringwire-echo with {hN[0]} sessions open minus at rest (both with")
print(f"  --max-sessions {maxs}, whose tables are committed at start: {mem_slot:,.0f} bytes per slot, from the rest")
print(f"  RSS with 1024 slots, {mem_small} KiB, and with {maxs}, {mem_rest} KiB); client: ringwire-load with")
print(f"  {hN[0]} sessions minus with 1, per session (its engine's tables, committed at start, are in both).")
print(f"- ZeroMQ: {zsess} PUSH->PULL connections one-way (TCP: always reliable, so the same figure on both rows);")
print(f"  echo over DEALER->ROUTER, one connection; connect = new CURVE socket + connect + one 64 B request/echo +")
print(f"  close, {zwin} in flight (one at a time for the unloaded rows): its latency is connect() to echo, so")
print(f"  it includes a round trip ringwire's (dial to on_open) does not.")
print("- over TCP: ringwire-echo --listen-tcp <- ringwire-load --transport tcp (wire+tcp://, each wiresocket")
print("  packet behind a 2-byte length; the client's sessions share one TCP connection per reactor); no raw")
print("  ceiling; the ZeroMQ column repeats its TCP figures for the same workload.")
print("- latency rows: lower is better, so ringwire/ZeroMQ < 1 favours ringwire; elsewhere higher is better.")
print("- each side's echo latency at half load is at half of ITS OWN maximum rate.")
print("- connect: ringwire dials all 2000 at once (--connect-rate 0), so its handshake latency in the details")
print("  below is mostly queueing; the one-at-a-time rows (200 dials at 200/s; ZeroMQ: 200, one at a time)")
print("  are the handshake cost.")
print(f"- load average: {load0} at start, {load1} at the end (2-core machine: other work distorts every number).")

print()
print("== AEAD per packet (bench-aead: ChaCha20-Poly1305, median of 5 runs; ns per packet, GB/s of payload)")
ahdr = ("payload B", "seal ns", "seal GB/s", "open ns", "open GB/s", "EVP keyed per packet ns", "EVP bytes only ns",
        "fixed ns per call")
atab = [ahdr]
for d in lines("aead"):
    atab.append((f"{d['size']}", f"{d['seal_ns']:,.0f}", f"{d['seal_gbyte_s']:.3f}", f"{d['open_ns']:,.0f}",
                 f"{d['open_gbyte_s']:.3f}", f"{d['evp_init_ns']:,.0f}", f"{d['evp_stream_ns']:,.0f}",
                 f"{d['fixed_ns']:,.0f}"))
awid = [max(len(r[i]) for r in atab) for i in range(len(ahdr))]
aline = lambda r: "| " + " | ".join(c.rjust(awid[i]) for i, c in enumerate(r)) + " |"
print(aline(atab[0]))
print("|" + "|".join("-" * (w + 2) for w in awid) + "|")
for r in atab[1:]:
    print(aline(r))
print("  seal/open: ringwire's rw__aead_seal/open (one EVP context per key, only the nonce set per packet);")
print("  EVP keyed per packet: key and nonce set on every call; EVP bytes only: one EncryptUpdate on a context")
print("  never re-initialised; fixed = seal - bytes only (nonce, final, tag). 1200 B = a 1232-byte datagram's")
print("  payload, 65475 B = a 65507-byte datagram's.")

print()
print("Details (ringwire-load: events/s and Gbit/s delivered, datagrams/s sent+received by the client, lost, client CPU)")
odd = []
print("  bench-udp (received datagrams/s and payload Gbit/s; sent; reads the receiving socket dropped):")
for (size, mode), d in sorted(udp.items()):
    if not d.get("available"):
        print(f"  {mode:7s} {size:5d} B  unavailable: {d.get('reason')}")
        odd.append(f"bench-udp {mode} at {size} B unavailable: {d.get('reason')}")
        continue
    zc = f", {d['zc_copied']} of {d['zc_notifs']} zero-copy sends copied" if mode == "gso-zc" else ""
    print(f"  {mode:7s} {size:5d} B x {d['segments']:2d} per send, {d['batch']:2d} per submit, GRO {'on ' if d['gro'] else 'off'}"
          f" {d['rx_datagrams_per_s']:>12,.0f} dgram/s {d['rx_gbit_s']:7.3f} Gbit/s, sent {d['tx_datagrams_per_s']:,.0f}/s,"
          f" socket dropped {d['rx_dropped']} reads{zc}")
    if d["rx_dropped"] > 0.01 * d["rx_reads_per_s"] * d["seconds"]:
        odd.append(f"bench-udp {mode} at {size} B: the receiving socket dropped {d['rx_dropped']} reads of"
                   f" {d['segments']} datagrams (the receiver thread could not keep up, e.g. other work on its CPU)")
print(f"  memory: ringwire-echo at rest {mem_rest} KiB (--max-sessions {maxs}; {mem_small} KiB with 1024);"
      f" with 1 session {h1[1]} KiB, with {hN[0]} {hN[1]} KiB; ringwire-load with 1 {h1[2]} KiB, with {hN[0]} {hN[2]} KiB")
if hN[0] < idle_n:
    odd.append(f"memory: only {hN[0]} of the {idle_n} idle sessions came up (no progress for 10 s); per-session figures"
               f" use {hN[0]}")
for name in ("ow-64", "owr-64", "owpad-256", "owpad-full", "ow-1k", "owr-1k", "ow-64k", "owr-64k", "ow-tcp-64",
             "ow-tcp-64k", "echo-max", "echo-half", "echo-w1", "echo-tcp-max", "echo-tcp-w1"):
    d = J(name)
    sent, lost = d.get("sent") or 0, d.get("lost") or 0
    pct = 100.0 * lost / sent if sent else 0.0
    lat = d.get("latency_us") or {}
    ls = "" if lat.get("p50") is None else f", latency p50/p99/p99.9/max {lat['p50']:.0f}/{lat['p99']:.0f}/{lat['p999']:.0f}/{lat['max']:.0f} us"
    print(f"  {name:10s} {d['events_per_s']:>12,.0f} ev/s {d['payload_gbit_s']:7.3f} Gbit/s {d['packets_per_s']:>10,.0f} dgram/s"
          f"  lost {lost} of {sent} ({pct:.3f}%), retransmits {d.get('retransmits')}, cpu {d['cpu_s']:.2f} s{ls}"
          + (f", padding {d['padding_bytes']:,} bytes sent" if d.get("padding_bytes") else ""))
    if d.get("reliable") and lost:
        odd.append(f"{name}: {lost} events lost on a RELIABLE channel")
    if "tcp" in name and lost:
        odd.append(f"{name}: {lost} events lost over TCP (a stream loses nothing: the engine dropped them)")
    elif not d.get("reliable") and pct > 1.0:
        odd.append(f"{name}: {pct:.2f}% of the unreliable events lost (the server's socket or reactor could not keep up)")
    if d.get("sessions_connected") != d.get("sessions"):
        odd.append(f"{name}: {d.get('sessions_connected')} of {d.get('sessions')} sessions connected")
    if d.get("dials_failed") or d.get("closed_unexpectedly"):
        why = re.findall(r"^\s*(closed unexpectedly.*|dials failed.*)$", open(f"{tmp}/{name}.json").read(), re.M)
        odd.append(f"{name}: {d.get('dials_failed')} dials failed, {d.get('closed_unexpectedly')} sessions closed"
                   f" unexpectedly; ringwire-load says: {'; '.join(w.strip() for w in why) or '?'}"
                   f" ({d.get('retransmits')} retransmits)")
for name in ("connect", "connect-1"):
    d = J(name)
    h = d["handshake_latency_us"]
    print(f"  {name:10s} {d['sessions_connected']} of {d['sessions']} sessions, {d['handshakes_per_s']:,.0f}/s, "
          f"handshake p50/p99/max {h['p50']:.0f}/{h['p99']:.0f}/{h['max']:.0f} us, dials failed {d['dials_failed']}, cpu {d['cpu_s']:.2f} s")
    if d["sessions_connected"] != d["sessions"] or d["dials_failed"]:
        odd.append(f"{name}: {d['sessions_connected']} of {d['sessions']} connected, {d['dials_failed']} dials failed")
for sec in ("oneway", "echo", "connect", "mem"):
    print(f"  ringwire-echo counters after the {sec} runs:")
    txt = open(f"{tmp}/server-{sec}.txt").read()
    for l in txt.splitlines()[1:]:
        print("    " + l)
    m1, m2 = re.search(r"handshakes (\d+)", txt), re.search(r"sessions opened (\d+)", txt)
    if m1 and m2 and int(m1.group(1)) > int(m2.group(1)):
        odd.append(f"server ({sec} runs): {m1.group(1)} handshakes answered for {m2.group(1)} sessions opened:"
                   " clients re-sent initiations (handshakes slower than the retry timer), extra work under load")
    m = re.search(r"dropped replay: (\d+)", txt)
    if m:
        odd.append(f"server ({sec} runs): {m.group(1)} packets dropped as replays (counter already seen or too old)")
    rc = int(open(f"{tmp}/server-{sec}.rc").read())
    if rc:
        odd.append(f"ringwire-echo ({sec}) exited with status {rc} after SIGINT (expected 0)")
print("  bench-zmq (client cpu / server cpu):")
for name in ("zmq-ow-64", "zmq-ow-1024", "zmq-ow-65536", "zmq-echo-max", "zmq-echo-half", "zmq-echo-w1", "zmq-connect", "zmq-connect-1"):
    d = J(name)
    extra = ""
    if d.get("events_per_s") is not None:
        extra = f"{d['events_per_s']:>12,.0f} ev/s {d['payload_gbit_s']:7.3f} Gbit/s, sent {d['sent']} received {d['received']} lost {d['lost']}"
    else:
        h = d["handshake_latency_us"]
        extra = f"{d['received']} connections, {d['handshakes_per_s']:,.0f}/s, p50/p99/max {h['p50']:.0f}/{h['p99']:.0f}/{h['max']:.0f} us"
    print(f"  {name:14s} {extra}, cpu {d['cpu_s']:.2f}/{d['cpu_server_s']:.2f} s")
    if d.get("lost"):
        odd.append(f"{name}: ZeroMQ lost {d['lost']} messages over TCP")
for w, unit, rw, ceil, zq in rows:
    if rw is not None and ceil and rw > ceil and unit == "Gbit/s":
        odd.append(f"{w}: ringwire {rw:.3f} Gbit/s is ABOVE the raw UDP 'ceiling' {ceil:.3f} Gbit/s; the ceiling"
                   " run was slowed down (busy machine) or bench-udp is not a true ceiling here")
for s in ("64", "1k", "64k"):
    u, r = J(f"ow-{s}"), J(f"owr-{s}")
    if u["payload_gbit_s"] and r["payload_gbit_s"] and u["payload_gbit_s"] < 0.8 * r["payload_gbit_s"]:
        odd.append(f"one-way {s}: unreliable ({u['payload_gbit_s']:.3f} Gbit/s, client cpu {u['cpu_s']:.2f} s) slower than"
                   f" reliable ({r['payload_gbit_s']:.3f} Gbit/s, cpu {r['cpu_s']:.2f} s)")
for name, z in (("echo-half", False), ("zmq-echo-half", True)):
    d = J(name)
    tgt, got = d.get("rate_target") or 0, d.get("events_per_s") or 0
    if tgt and got < 0.9 * tgt:
        odd.append(f"{name}: reached {got:,.0f} of the {tgt:,.0f}/s asked: the latency was taken at saturation")
print()
if odd:
    print("Look into:")
    for o in odd:
        print("  - " + o)
else:
    print("Nothing odd detected by the script's checks (loss, failed dials, server exit).")
EOF

# ---- charts ---------------------------------------------------------------------------------
# next to the text report: latency by percentile (the .hgrm files) and the throughput rows
echo
echo "== charts (gnuplot) in $PLOT_DIR"
mkdir -p "$PLOT_DIR"
cp "$tmp"/*.hgrm "$tmp"/*.hgrm.intended "$tmp/throughput.dat" "$PLOT_DIR"/ 2>/dev/null || true
scripts/bench-plot.sh "$PLOT_DIR"

fi # BENCH_ONLY

# ---- 7. latency by sessions -------------------------------------------------------------
echo
echo "== 7. latency by sessions: echo 64 B at $SESS_RATE events/s in all (sessions: $SESS_LIST)"
PIN_S=("${PINNED_S[@]}") PIN_C=("${PINNED_C[@]}")
start_server sessions --max-sessions 131072
for n in $SESS_LIST; do
	rate=$SESS_RATE
	((n >= 100000)) && rate=$SESS_RATE_BIG
	echo "$rate" >"$tmp/sess-$n.rate"
	load "sess-$n" --mode echo --sessions "$n" --rate "$rate" --size 64 --duration "$DUR" --warmup "$WARM" \
		--server-pid "$server_pid"
	# ZeroMQ: as far as it goes (a failure is a "-" in the table, not the end of the script)
	zcmd=("$B/bench-zmq" "${ZPIN[@]}" --json --mode echo --sessions "$n" --rate "$rate" --window 65536 --size 64
		--duration "$DUR" --warmup "$WARM")
	echo "\$ ${zcmd[*]}" | tee -a "$cmdlog"
	if ! "${zcmd[@]}" >"$tmp/zsess-$n.json" 2>"$tmp/zsess-$n.json.err"; then
		echo "   bench-zmq --sessions $n failed: $(tail -n 1 "$tmp/zsess-$n.json.err")"
		rm -f "$tmp/zsess-$n.json"
	fi
done
stop_server
read -r load1s _ </proc/loadavg
python3 - "$tmp" "$load1" "$load1s" "$SESS_LIST" <<'EOF'
import json, os, sys
tmp, load0, load1, ns = sys.argv[1], sys.argv[2], sys.argv[3], [int(x) for x in sys.argv[4].split()]

def J(name):
    path = f"{tmp}/{name}.json"
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.loads(f.read().strip().splitlines()[-1])

def g(d, path):
    for k in path.split("."):
        d = d.get(k) if isinstance(d, dict) else None
    return d

def us(v):
    return "-" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.1f}")

def per_event(d, key):
    v, n = g(d, key), g(d, "received")
    return "-" if v is None or not n else f"{v * 1e6 / n:.1f}"

def kib(v):
    return "-" if v is None else f"{v:.1f}"

hdr = ("sessions", "rate", "impl", "up", "events/s", "p50", "p99", "p50 int", "p99 int", "cpu/ev client",
       "cpu/ev server", "RSS/sess client", "RSS/sess server")
tab = [hdr]
for n in ns:
    rate = open(f"{tmp}/sess-{n}.rate").read().strip()
    for impl, d in (("ringwire", J(f"sess-{n}")), ("ZeroMQ", J(f"zsess-{n}"))):
        if d is None:
            tab.append((f"{n:,}", rate, impl) + ("-",) * (len(hdr) - 3))
            continue
        up = g(d, "sessions_up")
        tab.append((f"{n:,}", rate, impl, "-" if up is None else f"{up:,}",
                    f"{d['events_per_s']:,.0f}", us(g(d, "latency_us.p50")), us(g(d, "latency_us.p99")),
                    us(g(d, "latency_intended_us.p50")), us(g(d, "latency_intended_us.p99")),
                    per_event(d, "cpu_measured_s"), per_event(d, "server_cpu_measured_s"),
                    kib(g(d, "rss_kib_per_session")), kib(g(d, "server_rss_kib_per_session"))))
wid = [max(len(r[i]) for r in tab) for i in range(len(hdr))]
line = lambda r: "| " + " | ".join(c.rjust(wid[i]) for i, c in enumerate(r)) + " |"
print()
print("== latency by sessions (echo, 64 B, fixed total rate)")
print(line(tab[0]))
print("|" + "|".join("-" * (w + 2) for w in wid) + "|")
for r in tab[1:]:
    print(line(r))
print("- latency in us: p50/p99 from the send to the echo; \"int\" from each event's intended send time on the")
print("  fixed schedule (wrk2's coordinated-omission correction: a stalled sender does not hide the wait).")
print("- cpu/ev: user+sys CPU us per echoed event in the measured interval, each process (/proc/PID/stat).")
print("- RSS/sess: KiB of resident memory per session, with every session up minus before dialling.")
print("- ringwire: ringwire-echo --reactors 1 --max-sessions 131072, ringwire-load --reactors 1; every session is")
print("  up before the warm-up. ZeroMQ: bench-zmq, one ROUTER with N CURVE connections (a file descriptor each).")
print(f"- load average: {load0} at the start of the script, {load1} after this section (2 cores shared: noisy).")
EOF

echo
echo "== commands run (in $top)"
cat "$cmdlog"
