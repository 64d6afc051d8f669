#!/usr/bin/env bash
# keytool.sh - ringwire-key as a user runs it. $1: path of the ringwire-key binary.
set -u

KEY=${1:?usage: keytool.sh path/to/ringwire-key}
pass=0
fail=0
tmp=$(mktemp -d /tmp/rw-keytool-XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() {	# check "description" command...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
# run: capture stdout, stderr and status of one invocation
run() {
	out=$("$@" 2>"$tmp/stderr")
	rc=$?
	err=$(cat "$tmp/stderr")
}
one_line() { [ -n "$1" ] && [ "$(printf '%s\n' "$1" | wc -l)" -eq 1 ]; }

# genkey into a file: mode 600 even with a permissive umask, 44 characters + newline
(umask 022; "$KEY" genkey >"$tmp/server.key" 2>"$tmp/stderr")
rc=$?
check "genkey exits 0" test "$rc" -eq 0
check "genkey prints nothing on stderr" test ! -s "$tmp/stderr"
check "genkey > file makes the file mode 600" test "$(stat -c %a "$tmp/server.key")" = 600
check "genkey writes 44 characters and a newline" test "$(wc -c <"$tmp/server.key")" -eq 45
check "genkey writes base64 ending in '='" grep -Eq '^[A-Za-z0-9+/]{43}=$' "$tmp/server.key"
"$KEY" genkey >"$tmp/other.key"
check "two keys differ" test "$(cat "$tmp/server.key")" != "$(cat "$tmp/other.key")"

# pubkey
run "$KEY" pubkey <"$tmp/server.key"
pub=$out
check "pubkey exits 0" test "$rc" -eq 0
check "pubkey prints wpub1 and 63 characters" test "${#pub}" -eq 63 -a "${pub:0:5}" = wpub1
check "pubkey output is bech32 characters" grep -Eq '^wpub1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$' <<<"$pub"
run "$KEY" pubkey <"$tmp/server.key"
check "same key gives the same public key" test "$out" = "$pub"
run "$KEY" pubkey <"$tmp/other.key"
check "another key gives another public key" test "$out" != "$pub"
run "$KEY" pubkey <<<"   $(cat "$tmp/server.key")   "
check "pubkey ignores surrounding white space" test "$out" = "$pub"

# a known key: the RFC 7748-style 01..20 vector, as hex on stdin
run "$KEY" pubkey <<<"0002030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f60"
check "pubkey of a known hex key" test "$out" = wpub1q73he0q5yzfu3d64msd3p6rvksnrwjk3d2598mgtmlqt9wrdr37qaxzk3d
run "$KEY" pubkey <<<"AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A="
check "pubkey of the same key in base64" test "$out" = wpub1q73he0q5yzfu3d64msd3p6rvksnrwjk3d2598mgtmlqt9wrdr37qaxzk3d

# garbage keys
run "$KEY" pubkey <<<"not a key"
check "garbage key on stdin exits 1" test "$rc" -eq 1
check "garbage key: one line prefixed ringwire-key:" one_line "$err"
check "garbage key: message says how to fix" grep -q "^ringwire-key: .*ringwire-key genkey" <<<"$err"
run "$KEY" pubkey </dev/null
check "empty stdin exits 1" test "$rc" -eq 1

# uri
run "$KEY" uri "$tmp/server.key" 203.0.113.42:9000
check "uri exits 0" test "$rc" -eq 0
check "uri prints wire://wpub1...@203.0.113.42:9000" test "$out" = "wire://$pub@203.0.113.42:9000"
run "$KEY" uri "$tmp/server.key" "[::1]:9000"
check "uri prints the [::1]:9000 form" test "$out" = "wire://$pub@[::1]:9000"
run "$KEY" uri "$tmp/server.key" ::1:9000
check "uri refuses an unbracketed IPv6 address" test "$rc" -eq 1 -a -z "$out"
check "unbracketed IPv6: the message says brackets" grep -q "brackets" <<<"$err"
run "$KEY" uri "$tmp/server.key" 203.0.113.42
check "uri without a port exits 1" test "$rc" -eq 1
run "$KEY" uri "$tmp/server.key" 203.0.113.42:65536
check "uri with port 65536 exits 1" test "$rc" -eq 1

# key file permissions
cp "$tmp/server.key" "$tmp/open.key"
chmod 644 "$tmp/open.key"
run "$KEY" uri "$tmp/open.key" 203.0.113.42:9000
check "a 0644 key file makes uri exit 1" test "$rc" -eq 1
check "0644: nothing on stdout" test -z "$out"
check "0644: one line" one_line "$err"
check "0644: the message says chmod 600 and names the file" \
	grep -q "^ringwire-key: .*open.key.*chmod 600 .*open.key" <<<"$err"
chmod 640 "$tmp/open.key"
run "$KEY" uri "$tmp/open.key" 203.0.113.42:9000
check "a 0640 key file is refused too" test "$rc" -eq 1
run "$KEY" uri "$tmp/missing.key" 203.0.113.42:9000
check "a missing key file exits 1" test "$rc" -eq 1
check "missing key file: the message names it" grep -q "missing.key" <<<"$err"
printf 'garbage\n' >"$tmp/garbage.key"
chmod 600 "$tmp/garbage.key"
run "$KEY" uri "$tmp/garbage.key" 203.0.113.42:9000
check "a garbage key file exits 1" test "$rc" -eq 1
check "garbage key file: one line" one_line "$err"

# usage
run "$KEY" frobnicate
check "unknown subcommand exits 2" test "$rc" -eq 2
check "unknown subcommand: one line" one_line "$err"
check "unknown subcommand: names it and the commands" grep -q "unknown command frobnicate; use genkey, pubkey or uri" <<<"$err"
run "$KEY"
check "no subcommand exits 2" test "$rc" -eq 2
check "no subcommand: one line naming the commands" one_line "$err"
run "$KEY" uri "$tmp/server.key"
check "uri with a missing argument exits 2" test "$rc" -eq 2
check "uri with a missing argument: an example" grep -q "uri server.key 203.0.113.42:9000" <<<"$err"
run "$KEY" genkey extra
check "genkey with an argument exits 2" test "$rc" -eq 2
check "genkey with an argument: one line" one_line "$err"
run "$KEY" uri "$tmp/server.key" 203.0.113.42
check "uri without a port: says it needs one" grep -q "needs a port, e.g. 203.0.113.42:9000" <<<"$err"
run "$KEY" --bogus
check "an unknown flag exits 2 with one line" test "$rc" -eq 2 -a "$err" = "ringwire-key: unknown flag --bogus; see --help"
run "$KEY" --help
check "--help exits 0 with usage on stdout" test "$rc" -eq 0 -a -n "$out"
check "--help mentions every command" grep -q "genkey" <<<"$out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
