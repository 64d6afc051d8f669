#!/usr/bin/env bash
# subproject.sh SOURCE_DIR - a meson project that takes ringwire as a
# subproject: dependency('ringwire') resolves to the subproject's library
# (meson.override_dependency), and the program built with it runs.
set -euo pipefail
src=$1
tmp=$(mktemp -d /tmp/rw-subproject-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/app/subprojects"
ln -s "$src" "$tmp/app/subprojects/ringwire"
cat >"$tmp/app/meson.build" <<'M'
project('app', 'c', default_options : ['c_std=c17'])
executable('app', 'app.c', dependencies : dependency('ringwire'))
M
cat >"$tmp/app/app.c" <<'C'
#include <ringwire.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	printf("ringwire %s\n", rw_version());
	return strcmp(rw_version(), RW_VERSION_STRING) != 0;
}
C
# --force-fallback-for: an installed ringwire must not be taken instead
meson setup "$tmp/b" "$tmp/app" --force-fallback-for=ringwire -Dringwire:tests=false >"$tmp/setup.log" 2>&1 ||
	{ tail -20 "$tmp/setup.log"; echo "FAIL: meson setup with ringwire as a subproject"; exit 1; }
grep -q "Dependency ringwire found: YES .*(overridden)" "$tmp/setup.log" ||
	{ grep -i ringwire "$tmp/setup.log" | tail -5; echo "FAIL: dependency('ringwire') did not come from the subproject"; exit 1; }
ninja -C "$tmp/b" app >"$tmp/build.log" 2>&1 || { tail -20 "$tmp/build.log"; echo "FAIL: building app"; exit 1; }
# (ldd into a variable: grep -q closing the pipe early would fail the pipeline under pipefail)
deps=$(ldd "$tmp/b/app")
grep -q "libringwire.so.0 => $tmp/b/subprojects/ringwire/" <<<"$deps" ||
	{ echo "$deps"; echo "FAIL: app is not linked with the subproject's library"; exit 1; }
out=$("$tmp/b/app") || { echo "FAIL: app did not run: $out"; exit 1; }
echo "subproject: $out"
