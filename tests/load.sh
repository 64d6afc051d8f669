#!/usr/bin/env bash
# load.sh - ringwire-load against ringwire-echo, as a user runs them.
# $1: the build directory (ringwire-key, ringwire-echo and ringwire-load in it).
set -u

BUILD=${1:?usage: load.sh path/to/build-dir}
KEY=$BUILD/ringwire-key
ECHO=$BUILD/ringwire-echo
LOAD=$BUILD/ringwire-load
pass=0
fail=0
tmp=$(mktemp -d /tmp/rw-load-XXXXXX) || exit 1
srv=
srv6=
cleanup() {
	# only the servers this script started, by their pids
	for p in $srv $srv6; do
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$tmp"
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
	tail -n 1 "$1" | python3 -c '
import json, sys
j = json.loads(sys.stdin.read())
keys = ["events_per_s", "payload_gbit_s", "packets_per_s", "sent", "received", "lost", "duplicates",
        "latency_us", "latency_intended_us", "latency_kinds", "handshakes_per_s", "handshake_latency_us", "cpu_s",
        "sessions", "mode", "size", "reliable", "duration_s", "sessions_up", "sessions_up_measured", "dial_s",
        "rss_kib_per_session", "server_rss_kib_per_session"]
missing = [k for k in keys if k not in j]
missing += ["latency_us." + k for k in ["p50", "p90", "p99", "p999", "max"] if k not in j["latency_us"]]
missing += ["handshake_latency_us." + k for k in ["p50", "p99", "max"] if k not in j["handshake_latency_us"]]
missing += ["latency_intended_us." + k for k in ["p50", "p90", "p99", "p999", "max"] if k not in j["latency_intended_us"]]
if missing:
    sys.exit("missing keys: " + ", ".join(missing))
if not (eval(sys.argv[1], {"j": j})):
    sys.exit("condition failed: " + sys.argv[1] + " in " + json.dumps(j))
' "$2"
}
# load NAME ARGS...: run ringwire-load (bounded), stdout to $tmp/NAME.out, stderr to $tmp/NAME.err
load() {
	local name=$1
	shift
	timeout 60 "$LOAD" "$uri" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
}

for b in "$KEY" "$ECHO" "$LOAD"; do
	if [ ! -x "$b" ]; then
		echo "FAIL - $b is not built"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

# ---- the server ----
"$KEY" genkey >"$tmp/server.key"
chmod 600 "$tmp/server.key"
"$ECHO" --listen 127.0.0.1:0 --key "$tmp/server.key" --reactors 1 >"$tmp/echo.out" 2>"$tmp/echo.err" &
srv=$!
uri=
for _ in $(seq 100); do
	uri=$(head -n 1 "$tmp/echo.out" 2>/dev/null)
	[ -n "$uri" ] && break
	sleep 0.05
done
check "ringwire-echo prints its wire:// URI first" grep -Eq '^wire://wpub1[a-z0-9]{58}@127\.0\.0\.1:[0-9]+$' <<<"$uri"

# ---- echo: 10 sessions, 2 s ----
load echo --sessions 10 --reactors 1 --duration 2 --warmup 0.5 --json
check "echo: exits 0" test "$rc" -eq 0
check "echo: a table on stdout" grep -q "events/s" "$tmp/echo.out"
check "echo: progress lines on stderr" grep -q "ev/s" "$tmp/echo.err"
check "echo: JSON with every key, 10 sessions connected, echoes received" \
	json_ok "$tmp/echo.out" 'j["mode"] == "echo" and j["sessions"] == 10 and j["sessions_connected"] == 10 and j["received"] > 0 and j["latency_us"]["p50"] > 0 and j["duplicates"] == 0'

check "echo: unpaced, so no intended-time latency" \
	json_ok "$tmp/echo.out" 'j["latency_intended_us"]["p99"] is None and j["latency_kinds"]["latency_us"] == "send to echo"'

# hgrm_ok FILE.hgrm JSON-FILE KEY: an HdrHistogram .hgrm table (header, rows of Value Percentile
# TotalCount 1/(1-Percentile) ascending, a 100% row, the #[Mean / #[Max footer; values in ms) whose
# p50 and p99 match the JSON report's KEY (us) within one bucket of ringwire-load's histogram
hgrm_ok() {
	tail -n 1 "$2" | python3 -c '
import json, math, sys
path, key = sys.argv[1], sys.argv[2]
j = json.loads(sys.stdin.read())[key]
lines = open(path).read().splitlines()
if lines[0].split() != ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"] or lines[1] != "":
    sys.exit("bad header: %r" % lines[:2])
rows, foot = [], [l for l in lines if l.startswith("#[")]
for l in lines[2:]:
    if l.startswith("#"):
        continue
    f = l.split()
    rows.append((float(f[0]), float(f[1]), int(f[2])))
    if len(f) == 4 and abs(float(f[3]) - 1 / (1 - float(f[1]))) > 0.01 * float(f[3]):
        sys.exit("bad 1/(1-Percentile) in %r" % l)
if len(rows) < 3 or rows[-1][1] != 1.0 or any(b[0] < a[0] or b[1] < a[1] or b[2] < a[2] for a, b in zip(rows, rows[1:])):
    sys.exit("rows not ascending to 100%")
if not (foot[0].startswith("#[Mean") and foot[1].startswith("#[Max")) or abs(float(foot[1].split("=")[1].split(",")[0]) * 1000 - j["max"]) > 1:
    sys.exit("bad footer %r (max %s us)" % (foot, j["max"]))
def width(us):
    return 1 if us < 1024 else 2 ** (int(math.log2(us)) - 7)
for p, k in ((0.5, "p50"), (0.99, "p99")):
    v = next(r[0] for r in rows if r[1] >= p - 1e-12) * 1000
    if abs(v - j[k]) > width(max(v, j[k])):
        sys.exit("%s: %.1f us in the .hgrm, %.1f us in the JSON" % (k, v, j[k]))
' "$1" "$3"
}

# ---- --metrics: the client's counters served during the run ----
if command -v curl >/dev/null; then
	timeout 60 "$LOAD" "$uri" --sessions 2 --reactors 1 --duration 2 --warmup 0 --quiet --metrics 127.0.0.1:0 \
		>"$tmp/lm.out" 2>"$tmp/lm.err" &
	lp=$!
	maddr=
	for _ in $(seq 50); do
		maddr=$(grep -oE 'metrics at http://127\.0\.0\.1:[0-9]+' "$tmp/lm.err" | head -1 | cut -d/ -f3)
		[ -n "$maddr" ] && break
		sleep 0.1
	done
	sleep 0.5
	curl -gsS --max-time 5 "http://$maddr/metrics" >"$tmp/lm.prom" 2>&1
	wait "$lp"
	if grep -q 'without libmicrohttpd' "$tmp/lm.err"; then
		echo "note: built without libmicrohttpd: --metrics not tested"
	else
		check "--metrics: the address is logged and serves the client's counters during the run" \
			grep -qE '^ringwire_bytes_sent_total [1-9]' "$tmp/lm.prom"
	fi
else
	echo "note: curl not installed: --metrics not tested"
fi

# ---- paced echo: every session up before measuring, both latency kinds, memory per session ----
load paced --sessions 50 --reactors 1 --rate 2000 --duration 1 --warmup 0.2 --server-pid "$srv" --json \
	--histogram "$tmp/paced.hgrm"
check "paced: --histogram writes a .hgrm whose p50/p99 match the JSON's (send to echo)" \
	hgrm_ok "$tmp/paced.hgrm" "$tmp/paced.out" latency_us
check "paced: and FILE.intended, the intended-send-time one" \
	hgrm_ok "$tmp/paced.hgrm.intended" "$tmp/paced.out" latency_intended_us
check "paced: exits 0" test "$rc" -eq 0
check "paced: all 50 up before the measured interval, dial time given" \
	json_ok "$tmp/paced.out" 'j["sessions_up"] == 50 and j["sessions_up_measured"] == 50 and j["dial_s"] > 0 and j["dial_deadline_hit"] is False'
check "paced: latency from the intended send time, never below send to echo" \
	json_ok "$tmp/paced.out" 'j["latency_intended_us"]["p50"] is not None and j["latency_intended_us"]["p50"] >= j["latency_us"]["p50"] and j["latency_intended_us"]["max"] >= j["latency_us"]["max"] and "intended" in j["latency_kinds"]["latency_intended_us"]'
check "paced: events/s near the target" json_ok "$tmp/paced.out" 'j["events_per_s"] > 1000'
check "paced: resident memory per session, client and server" \
	json_ok "$tmp/paced.out" 'j["rss_kib_per_session"] is not None and j["server_rss_kib_per_session"] is not None'
check "paced: the table names both latency kinds and the sessions up" \
	bash -c 'grep -q "(send to echo)" "$1" && grep -q "(intended send time to echo" "$1" && grep -Eq "sessions up +50 after" "$1"' _ "$tmp/paced.out"

# ---- --dial-timeout: measure with what is up ----
load deadline --sessions 400 --reactors 1 --connect-rate 200 --dial-timeout 0.5 --rate 400 --duration 0.5 --warmup 0 --json --quiet
check "--dial-timeout: exits 0" test "$rc" -eq 0
check "--dial-timeout: measured with the sessions up at the deadline" \
	json_ok "$tmp/deadline.out" 'j["dial_deadline_hit"] is True and 0 < j["sessions_up"] < 400 and j["dial_s"] < 1.5 and j["received"] > 0'
check "--dial-timeout: --rate is shared by the sessions up (not lowered by those left out)" \
	json_ok "$tmp/deadline.out" 'j["events_per_s"] > 0.6 * 400'

# ---- echo over reliable channels: nothing lost ----
load reliable --sessions 4 --channels 2 --reliable --reactors 1 --duration 2 --warmup 0.5 --json --quiet
check "echo --reliable: exits 0" test "$rc" -eq 0
check "echo --reliable: --quiet prints no progress" test ! -s "$tmp/reliable.err"
check "echo --reliable: received > 0, lost == 0, no duplicates or reordering" \
	json_ok "$tmp/reliable.out" 'j["reliable"] is True and j["received"] > 0 and j["lost"] == 0 and j["duplicates"] == 0 and j["reordered"] == 0'

# ---- events under the 16-byte header: counted by their sequence number's low bytes, no latency ----
for sz in 1 8; do
	for rel in "" --reliable; do
		name=short$sz${rel:+-reliable}
		# shellcheck disable=SC2086
		load "$name" --size "$sz" $rel --channels 2 --sessions 4 --reactors 1 --rate 2000 --duration 1 --warmup 0.3 \
			--json --quiet
		check "echo --size $sz${rel:+ $rel}: exits 0" test "$rc" -eq 0
		check "echo --size $sz${rel:+ $rel}: echoes counted, received == sent, none lost or duplicated" \
			json_ok "$tmp/$name.out" "j['size'] == $sz and j['events_per_s'] > 0 and j['sent'] > 0 and j['received'] == j['sent'] and j['lost'] == 0 and j['duplicates'] == 0 and j['reordered'] == 0"
		check "echo --size $sz${rel:+ $rel}: latency not measured (JSON)" \
			json_ok "$tmp/$name.out" 'j["latency_measured"] is False and all(v is None for v in j["latency_us"].values()) and all(v is None for v in j["latency_intended_us"].values())'
		check "echo --size $sz${rel:+ $rel}: the table says latency is not measured" \
			grep -Eq '^  latency \(us\) +- \(not measured' "$tmp/$name.out"
	done
done
check "echo at the default size: latency measured" json_ok "$tmp/paced.out" 'j["latency_measured"] is True'
# an empty event carries no sequence number: one in flight at a time
load short0 --size 0 --sessions 2 --reactors 1 --duration 0.5 --warmup 0.2 --json --quiet
check "echo --size 0: exits 0, the default window lowered to 1" \
	bash -c '[ "$1" -eq 0 ] && grep -q "window 1\$" "$2"' _ "$rc" "$tmp/short0.out"
check "echo --size 0: received == sent > 0, latency not measured" \
	json_ok "$tmp/short0.out" 'j["size"] == 0 and j["sent"] > 0 and j["received"] == j["sent"] and j["latency_measured"] is False'
out=$("$LOAD" "$uri" --size 1 --window 257 2>&1 >/dev/null)
rc=$?
check "echo --size 1 --window 257: exits 2 with one line naming --window and the limit" \
	bash -c '[ "$1" -eq 2 ] && [ "$(printf "%s\n" "$2" | wc -l)" -eq 1 ] && grep -q -- "^ringwire-load: --window: 257 .*--window 256 or less" <<<"$2"' _ "$rc" "$out"

# ---- oneway: the server's own count ----
load oneway --mode oneway --sessions 2 --reactors 1 --duration 2 --warmup 0.5 --rate 50k --json
check "oneway: exits 0" test "$rc" -eq 0
check "oneway: the server counted the events" \
	json_ok "$tmp/oneway.out" 'j["mode"] == "oneway" and j["received"] > 0 and j["received"] <= j["sent"] and j["events_per_s"] > 0'
check "oneway: the received count comes from the server" grep -q "counted by the server" "$tmp/oneway.out"

# ---- oneway without --rate: each session finds its rate by probing the sink's count ----
load oneway_free --mode oneway --size 1k --sessions 2 --reactors 1 --duration 2 --warmup 0.5 --json
check "oneway, no --rate: exits 0" test "$rc" -eq 0
check "oneway, no --rate: paced by rate probes the sink answered, the server counted the events" \
	json_ok "$tmp/oneway_free.out" 'j["rate_control"] == "probe" and j["rate_probes"] >= 20 and j["received"] > 0 and j["received"] <= j["sent"]'
check "oneway, no --rate: the report says how the rate was found" grep -q "found by probing the sink" "$tmp/oneway_free.out"
load oneway_free_rel --mode oneway --size 1k --reliable --sessions 2 --reactors 1 --duration 2 --warmup 0.5 --json
check "oneway, no --rate, reliable: paced by the window alone, every event sent in the measured interval counted" \
	json_ok "$tmp/oneway_free_rel.out" 'j["rate_control"] == "window" and j["sent"] > 0 and j["received"] == j["sent"] and j["lost"] == 0'

# ---- connect: 200 handshakes ----
load connect --mode connect --sessions 200 --reactors 1 --connect-rate 0 --duration 20 --json
check "connect: exits 0" test "$rc" -eq 0
check "connect: 200 sessions, handshakes/s and handshake latency" \
	json_ok "$tmp/connect.out" 'j["mode"] == "connect" and j["sessions_connected"] == 200 and j["handshakes_per_s"] > 0 and j["handshake_latency_us"]["p99"] > 0'

# ---- a short soak: reliable events exactly once, memory bounded ----
load soak --soak --sessions 100 --rate 2000 --reactors 1 --duration 3 --warmup 1 --seed 1 --json --quiet
check "soak: exits 0 (no reliable event lost or duplicated, RSS within tolerance)" test "$rc" -eq 0
check "soak: reports resident memory and passes" \
	json_ok "$tmp/soak.out" 'j["soak"] is True and j["passed"] is True and j["soak_reliable"]["lost"] == 0 and j["rss_end_kib"] > 0 and j["reconnects"] > 0'

# ---- bad flags: exit 2, one line naming the flag ----
for args in "--size abc" "--sessions 0" "--mode sideways" "--rate fast" "--no-such-flag" "--duration" \
	"--dial-timeout soon" "--server-pid 0"; do
	# shellcheck disable=SC2086
	out=$("$LOAD" "$uri" $args 2>&1 >/dev/null)
	rc=$?
	flag=${args%% *}
	check "bad flag $args: exits 2" test "$rc" -eq 2
	check "bad flag $args: one line naming $flag" bash -c '[ "$(printf "%s\n" "$1" | wc -l)" -eq 1 ] && grep -q -- "^ringwire-load: .*$2" <<<"$1"' _ "$out" "$flag"
done
out=$("$LOAD" "$uri" --size abc 2>&1 >/dev/null)
check "bad size: says how to fix it" grep -q 'is not a size in bytes (e.g. 64, 1k, 1m)' <<<"$out"
out=$("$LOAD" 2>&1 >/dev/null)
rc=$?
check "no URI: exits 2 with one line" bash -c '[ "$1" -eq 2 ] && [ "$(printf "%s\n" "$2" | wc -l)" -eq 1 ]' _ "$rc" "$out"
"$LOAD" --help >"$tmp/help.out"
rc=$?
check "--help exits 0" test "$rc" -eq 0
for f in --sessions --connect-rate --reactors --channels --size --rate --duration --warmup --reliable --mode \
	--window --json --quiet --soak --seed --keep --rekey --dial-timeout --server-pid; do
	check "--help documents $f" grep -q -- "$f" "$tmp/help.out"
done

# ---- failures say why, in one line, within --timeout ----
# elapsed_ms COMMAND...: runs it (stdout and stderr to $tmp/t.out, $tmp/t.err); rc and ms set
elapsed_ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >"$tmp/t.out" 2>"$tmp/t.err" </dev/null
	rc=$?
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
}
other=$("$KEY" genkey | "$KEY" pubkey)
wrong="wire://$other@${uri#*@}"
elapsed_ms timeout 30 "$LOAD" "$wrong" --timeout 1000 --quiet
check "wrong key, --timeout 1000: exits 1 (got $rc)" test "$rc" -eq 1
check "wrong key: within 2 s (took $ms ms)" test "$ms" -lt 2000
check "wrong key: one line, no answer, check the key" \
	bash -c '[ "$(wc -l <"$1")" -eq 1 ] && grep -q "no answer within 1000 ms; check the key in the URI" "$1"' _ "$tmp/t.err"
# a local error is ours: an IPv6-bound client cannot reach an IPv4 server
elapsed_ms timeout 30 "$LOAD" "$uri" --bind "[::1]:0" --timeout 1000 --quiet
check "--bind [::1]:0 to an IPv4 server: exits 1 at once (got $rc, $ms ms)" test "$rc" -eq 1 -a "$ms" -lt 1000
check "... one line saying it is a local error, not blaming the server or the key" \
	bash -c '[ "$(wc -l <"$1")" -eq 1 ] && grep -q "local error: .*--bind" "$1" && ! grep -q "check the key" "$1"' _ "$tmp/t.err"
load bind4 --bind 127.0.0.1:0 --sessions 2 --reactors 1 --duration 0.5 --warmup 0 --quiet --json
check "--bind 127.0.0.1:0 to an IPv4 server: echoes come back" \
	json_ok "$tmp/bind4.out" 'j["sessions_connected"] == 2 and j["received"] > 0'

# ---- IPv6 and wildcard servers: ringwire-load dials the first URI line, and the others ----
# echo_on LISTEN: a second ringwire-echo; its stdout in $tmp/echo6.out, its URIs in uris[]
echo_on() {
	"$ECHO" --listen "$1" --key "$tmp/server.key" --reactors 1 >"$tmp/echo6.out" 2>"$tmp/echo6.err" &
	srv6=$!
	for _ in $(seq 100); do
		[ -s "$tmp/echo6.out" ] && break
		sleep 0.05
	done
	sleep 0.1	# every URI line is written at once; this is for a slow start
	mapfile -t uris < <(grep '^wire://' "$tmp/echo6.out")
}
stop6() {
	kill -INT "$srv6" 2>/dev/null
	wait "$srv6"
}
# dial_ok NAME URI [ARGS...]: 2 sessions for half a second, echoes come back
dial_ok() {
	local name=$1 u=$2
	shift 2
	timeout 30 "$LOAD" "$u" --sessions 2 --reactors 1 --duration 0.5 --warmup 0 --quiet --json "$@" \
		>"$tmp/$name.out" 2>"$tmp/$name.err"
	check "$name: echoes come back from $u${*:+ ($*)}" \
		json_ok "$tmp/$name.out" 'j["sessions_connected"] == 2 and j["received"] > 0'
}
echo_on "[::1]:0"
check "ringwire-echo on [::1]: one URI, bracketed" \
	bash -c '[ "$1" -eq 1 ] && grep -Eq "^wire://wpub1[a-z0-9]{58}@\[::1\]:[0-9]+$" <<<"$2"' _ "${#uris[@]}" "${uris[0]:-}"
dial_ok v6 "${uris[0]:-none}"
dial_ok v6-bind "${uris[0]:-none}" --bind "[::1]:0"
stop6
echo_on "[::]:0"
check "ringwire-echo on [::]: the first URI is [::1], dialable here" grep -Eq '@\[::1\]:[0-9]+$' <<<"${uris[0]:-}"
check "ringwire-echo on [::]: no URI with [::] in it" bash -c '! grep -qF "@[::]" "$1"' _ "$tmp/echo6.out"
check "ringwire-echo on [::]: more URI lines follow the first (127.0.0.1 among them)" \
	bash -c '[ "$#" -ge 2 ] && printf "%s\n" "$@" | grep -q "@127\.0\.0\.1:"' _ "${uris[@]}"
dial_ok wild6-first "${uris[0]:-none}"
v4=${uris[0]/@\[::1\]/@127.0.0.1}
dial_ok wild6-v4 "$v4"
dial_ok wild6-v4-bind "$v4" --bind 127.0.0.1:0
stop6
echo_on "0.0.0.0:0"
check "ringwire-echo on 0.0.0.0: the first URI is 127.0.0.1, not 0.0.0.0" \
	bash -c 'grep -Eq "@127\.0\.0\.1:[0-9]+$" <<<"$1" && ! grep -qF "@0.0.0.0" "$2"' _ "${uris[0]:-}" "$tmp/echo6.out"
dial_ok wild4-first "${uris[0]:-none}"
stop6
srv6=

# ---- the server stops cleanly on SIGINT and prints its counters ----
kill -INT "$srv"
for _ in $(seq 100); do
	kill -0 "$srv" 2>/dev/null || break
	sleep 0.05
done
wait "$srv"
rc=$?
srv=
check "ringwire-echo exits 0 on SIGINT" test "$rc" -eq 0
check "ringwire-echo prints its counters" grep -Eq '^events in [1-9][0-9]* out [0-9]+' "$tmp/echo.out"

# ---- and on SIGTERM too (a service manager's stop) ----
"$ECHO" --listen 127.0.0.1:0 --key "$tmp/server.key" --reactors 1 >"$tmp/echo2.out" 2>"$tmp/echo2.err" &
srv=$!
for _ in $(seq 100); do
	[ -s "$tmp/echo2.out" ] && break
	sleep 0.05
done
kill -TERM "$srv"
wait "$srv"
rc=$?
srv=
check "ringwire-echo exits 0 on SIGTERM" test "$rc" -eq 0
check "ringwire-echo prints its counters after SIGTERM" grep -Eq '^events in [0-9]+ out [0-9]+' "$tmp/echo2.out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
