#!/usr/bin/env bash
# manpages.sh BUILD_DIR SOURCE_DIR - each program's --help and its man page
# name the same long options: every --option the help shows is in the page,
# and every option the page defines (an OPTIONS term, "*--name*") is in the
# help (--help itself excepted: every program takes it). Then each page
# renders with scdoc and man without a warning.
set -u
build=$1
src=$2
fail=0
progs=(ringwire-echo ringwire-key ringwire-load ringwire-netem ringwire-telemetry-server ringwire-chat-server
       ringwire-pubsub-broker ringwire-rpc-server ringwire-chat ringwire-pubsub ringwire-rpc-client
       ringwire-telemetry-device)

opts() { grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u; }

for p in "${progs[@]}"; do
	page=$src/docs/man/$p.1.scd
	if [ ! -f "$page" ]; then
		echo "FAIL $p: no man page docs/man/$p.1.scd"; fail=1; continue
	fi
	if ! help=$(timeout 10 "$build/$p" --help 2>&1); then
		echo "FAIL $p: --help did not exit 0"; fail=1; continue
	fi
	in_help=$(opts <<<"$help")
	in_page=$(opts <"$page")
	# the terms of definition lists: lines that start with *-
	defined=$(grep -E '^\*-' "$page" | opts | grep -vx -- '--help')
	missing=$(comm -23 <(echo "$in_help") <(echo "$in_page"))
	stale=$(comm -23 <(echo "$defined") <(echo "$in_help"))
	if [ -n "$missing" ]; then
		echo "FAIL $p: --help shows options its page does not document:" $missing
		echo "     (add them to docs/man/$p.1.scd)"
		fail=1
	fi
	if [ -n "$stale" ]; then
		echo "FAIL $p: the page documents options --help does not show:" $stale
		echo "     (remove them from docs/man/$p.1.scd, or add them to the help)"
		fail=1
	fi
	[ -z "$missing$stale" ] && echo "ok   $p: $(echo $in_help | wc -w) options"
done

# ringwire(3) documents every field of the configuration and handler structs
python3 - "$src" <<'PY' || fail=1
import re, sys
src = sys.argv[1]
h = open(src + "/include/ringwire.h").read()
page = open(src + "/docs/man/ringwire.3.scd").read()
bad = 0
for st in ["rw_server_config", "rw_client_config", "rw_timers", "rw_handler"]:
    body = re.sub(r"/\*.*?\*/", "", re.search(r"struct " + st + r" \{(.*?)\n\};", h, re.S).group(1), flags=re.S)
    names = []
    for decl in filter(None, (d.strip() for d in body.split(";"))):
        fp = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)
        if fp:
            names.append(fp.group(1))
            continue
        for part in decl.split(","):
            w = re.findall(r"(\w+)\s*(?:\[[^\]]*\])?\s*$", part.strip())
            names += w[:1]
    missing = [n for n in names if "*" + n + "*" not in page]
    if missing:
        print("FAIL ringwire.3: struct %s fields not documented: %s" % (st, " ".join(missing)))
        bad = 1
    else:
        print("ok   ringwire.3: struct %s, %d fields" % (st, len(names)))
sys.exit(bad)
PY

# every page in docs/man is built, and each renders cleanly
if command -v scdoc >/dev/null && command -v man >/dev/null; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	for page in "$src"/docs/man/*.scd; do
		name=$(basename "$page" .scd)
		if ! scdoc <"$page" >"$tmp/$name" 2>"$tmp/err"; then
			echo "FAIL $name: scdoc: $(cat "$tmp/err")"; fail=1; continue
		fi
		if ! MANWIDTH=80 man --warnings -l "$tmp/$name" >"$tmp/out" 2>"$tmp/err" || [ -s "$tmp/err" ]; then
			echo "FAIL $name: man -l: $(head -3 "$tmp/err")"; fail=1; continue
		fi
		echo "ok   $name renders ($(wc -l <"$tmp/out") lines)"
	done
else
	echo "skip rendering: scdoc or man missing (scripts/install-deps.sh installs them)"
fi
exit $fail
