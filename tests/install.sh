#!/usr/bin/env bash
# install.sh BUILD_DIR SOURCE_DIR - ringwire installed as a user installs it:
# meson install --destdir D, then a program outside the tree builds with
# pkg-config against D and runs; the soname is the API major; every man page
# renders with man -l; the service units pass systemd-analyze verify (skipped
# with a message where systemd-analyze is absent).
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d /tmp/rw-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
D=$tmp/root
fail() { echo "FAIL: $*"; exit 1; }

meson install -C "$build" --destdir "$D" --no-rebuild --quiet >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; fail "meson install --destdir"; }

# ---- pkg-config and a program outside the tree -------------------------------------
pc=$(find "$D" -name ringwire.pc | head -1)
[ -n "$pc" ] || fail "no ringwire.pc installed"
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$D
version=$(pkg-config --modversion ringwire)
grep -q "Requires.private:.*libcrypto.*liburing" "$pc" || fail "ringwire.pc lacks Requires.private: libcrypto, liburing"
cflags=$(pkg-config --cflags ringwire)
libs=$(pkg-config --libs ringwire)
libdir=$(pkg-config --variable=libdir ringwire)
echo "pkg-config: ringwire $version: $cflags $libs"
case "$cflags $libs" in *"$src"* | *"$build"*) fail "pkg-config points into the source or build tree" ;; esac

cat >"$tmp/app.c" <<'C'
#include <ringwire.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	uint8_t priv[RW_KEY_SIZE], pub[RW_KEY_SIZE];
	char wpub[RW_WPUB_LEN + 1], err[RW_ERRBUF_SIZE];

	if (strcmp(rw_version(), RW_VERSION_STRING)) {
		fprintf(stderr, "header %s, library %s\n", RW_VERSION_STRING, rw_version());
		return 1;
	}
	if (rw_selftest(err, sizeof(err)) || rw_key_generate(priv) || rw_key_public(pub, priv) ||
	    rw_pubkey_to_wpub(wpub, pub))
		return 1;
	rw_memzero(priv, sizeof(priv));
	printf("ringwire %s (API %d.%d.%d) %s\n", rw_version(), RW_VERSION_MAJOR, RW_VERSION_MINOR,
	       RW_VERSION_PATCH, wpub);
	return 0;
}
C
# shellcheck disable=SC2086
# a library built with the sanitizers needs its runtime linked into the program first
san=
if ldd "$build/libringwire.so" 2>/dev/null | grep -q libasan; then san="-fsanitize=address,undefined"; fi
cc -std=c17 -Wall -Werror $san "$tmp/app.c" -o "$tmp/app" $cflags $libs || fail "cc app.c \$(pkg-config --cflags --libs ringwire)"
out=$(LD_LIBRARY_PATH=$libdir "$tmp/app") || fail "the program built against the installed library did not run"
echo "app: $out"
[[ $out == "ringwire $version "*" wpub1"* ]] || fail "unexpected output: $out"
# it loaded the installed library, by its soname
major=${version%%.*}
soname=$(readelf -d "$libdir/libringwire.so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ "$soname" = "libringwire.so.$major" ] || fail "soname $soname, want libringwire.so.$major"
[ -e "$libdir/libringwire.so.$major" ] || fail "no $libdir/libringwire.so.$major link"
# (ldd into a variable: grep -q closing the pipe early would fail the pipeline under pipefail)
deps=$(LD_LIBRARY_PATH=$libdir ldd "$tmp/app")
grep -q "libringwire.so.$major => $libdir/" <<<"$deps" || fail "the program did not load $libdir/libringwire.so.$major"

# ---- man pages ---------------------------------------------------------------------
mandir=$(dirname "$(find "$D" -type d -name man1 | head -1)")
if command -v scdoc >/dev/null; then
	[ -d "$mandir" ] || fail "no man pages installed (scdoc is here)"
	n=0
	for p in "$mandir"/man*/*; do
		MANWIDTH=80 man --warnings -l "$p" >"$tmp/page" 2>"$tmp/err" || fail "man -l $p"
		[ -s "$tmp/err" ] && fail "man -l $p: $(head -3 "$tmp/err")"
		[ "$(wc -l <"$tmp/page")" -gt 10 ] || fail "$p renders to almost nothing"
		n=$((n + 1))
	done
	[ "$n" -eq "$(ls "$src"/docs/man/*.scd | wc -l)" ] || fail "$n pages installed, $(ls "$src"/docs/man/*.scd | wc -l) in docs/man"
	echo "man: $n pages render"
else
	echo "skip man pages: scdoc not installed (scripts/install-deps.sh installs it)"
fi

# ---- the service units ------------------------------------------------------------------
unitdir=$(find "$D" -type d -path '*/lib/systemd/system' | head -1)
[ -n "$unitdir" ] || fail "no units installed in lib/systemd/system"
bindir=$(dirname "$(find "$D" -name ringwire-key -type f | head -1)")
if command -v systemd-analyze >/dev/null; then
	for u in "$unitdir"/*.service; do
		# the unit names the installed paths; point them into D for the check
		mkdir -p "$tmp/units"
		sed "s|${bindir#"$D"}/|$bindir/|g" "$u" >"$tmp/units/$(basename "$u")"
		(cd "$tmp/units" && MANPATH=$mandir systemd-analyze verify "./$(basename "$u")") >"$tmp/verify" 2>&1 ||
			{ cat "$tmp/verify"; fail "systemd-analyze verify $(basename "$u")"; }
		[ -s "$tmp/verify" ] && { cat "$tmp/verify"; fail "systemd-analyze verify $(basename "$u") warned"; }
		grep -q '^Type=notify' "$u" || fail "$(basename "$u") is not Type=notify"
		echo "unit: $(basename "$u") verifies"
	done
else
	echo "skip units: systemd-analyze not installed"
fi

# ---- the key step of the unit, as the service runs it ---------------------------------
state=$tmp/state
mkdir -p "$state"
pre=$(sed -n 's/^ExecStartPre=//p' "$unitdir/ringwire-pubsub-broker@.service")
pre=${pre//%S\/ringwire\/%i/$state}
pre=${pre//${bindir#"$D"}\//$bindir/}
export LD_LIBRARY_PATH=$libdir
eval "$pre"
[ "$(stat -c %a "$state/server.key")" = 600 ] || fail "first start: the key is not mode 600"
key1=$(cat "$state/server.key")
eval "$pre"
[ "$(cat "$state/server.key")" = "$key1" ] || fail "second start replaced the key"
echo "unit key step: made once, mode 600, kept"
echo "install: ok"
