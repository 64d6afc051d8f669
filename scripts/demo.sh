#!/usr/bin/env bash
# The main job, from a fresh Debian bookworm machine: install what is missing,
# build, start the echo server on 127.0.0.1 with a freshly generated key, drive
# it with the load generator for about 20 seconds, print its report and the
# server's counters.
#   bash scripts/demo.sh [ringwire-load options...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh

build=$top/build
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Dbuildtype=release >/dev/null
fi
ninja -C "$build" ringwire-key ringwire-echo ringwire-load >/dev/null

work=$(mktemp -d)
server=
cleanup() {
	[ -n "$server" ] && kill -INT "$server" 2>/dev/null && wait "$server" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

umask 077
"$build/ringwire-key" genkey > "$work/server.key"
"$build/ringwire-echo" --listen 127.0.0.1:0 --key "$work/server.key" --reactors 1 > "$work/echo.out" &
server=$!
uri=
for _ in $(seq 100); do
	uri=$(head -n1 "$work/echo.out" 2>/dev/null || true)
	[ -n "$uri" ] && break
	kill -0 "$server" 2>/dev/null || { echo "ringwire-echo failed to start" >&2; exit 1; }
	sleep 0.05
done
[ -n "$uri" ] || { echo "ringwire-echo printed no URI" >&2; exit 1; }
echo "server: $uri"

# one reactor each: on 2 cores the server and the load generator get one core apiece
cmd=("$build/ringwire-load" "$uri" --sessions 100 --mode echo --size 64 --warmup 2 --duration 18 --reactors 1 "$@")
echo "load:   ${cmd[*]}"
"${cmd[@]}"
rc=$?

kill -INT "$server"
wait "$server" || rc=1
server=
echo "server counters:"
tail -n +2 "$work/echo.out"
exit $rc
