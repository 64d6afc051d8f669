#!/usr/bin/env bash
# Installs the Debian bookworm packages ringwire builds and tests with, if any is missing.
set -euo pipefail
pkgs=(meson ninja-build pkgconf gcc clang llvm libclang-rt-14-dev liburing-dev libssl-dev libjemalloc-dev
      libcmocka-dev libzmq3-dev nats-server libnats-dev python3 iproute2 procps
      # operations: /metrics (libmicrohttpd), sd_notify (libsystemd), man pages (scdoc, man-db),
      # the tests' HTTP client and exposition linter (curl, promtool from prometheus), units (systemd-analyze)
      libmicrohttpd-dev libsystemd-dev scdoc man-db curl prometheus systemd
      # scripts/bench.sh's charts (latency by percentile, throughput)
      gnuplot-nox)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "installing: ${missing[*]}" >&2
	if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
	$SUDO apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
