#!/usr/bin/env bash
# bench-cluster.sh - fan-out across three ringwire-pubsub-broker instances
# joined through nats-server, next to the same fan-out through NATS alone
# (bench-nats): 1 publisher, 10 subscribers (4 + 3 + 3 over the brokers),
# 64-byte messages, the publisher paced at RATE messages/s. Prints delivered
# messages/s and the publish-to-delivery latency: p50 (median over the
# subscribers) and p99 (the worst subscriber's). Loopback only.
#   scripts/bench-cluster.sh [BUILD_DIR] [N] [RATE]
set -u
B=${1:-build}
N=${2:-20000}
RATE=${3:-20000}
tmp=$(mktemp -d /tmp/rw-bench-cluster-XXXXXX) || exit 1
pids=()
trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nats-server -a 127.0.0.1 -p "$port" >"$tmp/nats.log" 2>&1 &
pids+=($!)
sleep 0.5
"$B/ringwire-key" genkey >"$tmp/k" && chmod 600 "$tmp/k"
for n in 1 2 3; do
	"$B/ringwire-pubsub-broker" --listen 127.0.0.1:0 --key "$tmp/k" --reactors 1 --queue 65536 --quiet \
		--nats "nats://127.0.0.1:$port" >"$tmp/b$n.out" 2>/dev/null &
	pids+=($!)
done
sleep 0.5
subs=()
for i in $(seq 1 10); do
	b=$(( (i - 1) % 3 + 1 ))
	"$B/ringwire-pubsub" "$(head -n 1 "$tmp/b$b.out")" sub bench --count "$N" --stamp --quiet \
		>/dev/null 2>"$tmp/s$i.err" &
	subs+=($!)
done
sleep 1.5
# "<stamp> " + 40 bytes + " N": about 64 bytes with the topic
msg=$(printf 'x%.0s' $(seq 1 40))
t0=$(date +%s.%N)
"$B/ringwire-pubsub" "$(head -n 1 "$tmp/b1.out")" pub bench "$msg" --count "$N" --rate "$RATE" --stamp --quiet \
	--timeout 60000 2>/dev/null
for p in "${subs[@]}"; do timeout 60 tail --pid="$p" -f /dev/null; done
t1=$(date +%s.%N)
got=$(grep -ho 'received [0-9]*' "$tmp"/s*.err | awk '{s += $2} END {print s + 0}')
p50=$(grep -ho 'p50 [0-9]*' "$tmp"/s*.err | awk '{print $2}' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
p99=$(grep -ho 'p99 [0-9]*' "$tmp"/s*.err | awk '{print $2}' | sort -n | tail -n 1)
printf 'ringwire, 3 brokers via NATS: %s x 64 B to 10 subscribers, publisher at %s msg/s: delivered %s, %.0f msg/s, p50 %s us, p99 %s us\n' \
	"$N" "$RATE" "$got" "$(echo "$got / ($t1 - $t0)" | bc -l)" "$p50" "$p99"
"$B/bench-nats" "nats://127.0.0.1:$port" "$N" 10 "$RATE"
