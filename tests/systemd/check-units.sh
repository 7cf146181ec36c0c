#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check-units: systemd-analyze verify is silent on the service and socket
# units, and the service's exposure is at most 1.0.  verify exits 0 on
# unknown keys and only warns, so any output at all fails.  It checks
# that ExecStart= exists and that the Documentation= pages open, so it
# gets the built daemon and the man pages.  Prints "N passed, M failed".
#
# BUILD is the build directory; UNIT_SBINDIR the directory the unit in
# the tree names in ExecStart=, replaced by the build's.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-build}
sbindir=${UNIT_SBINDIR:-/usr/local/sbin}
verify=$top/$build/verify
pass=0 fail=0

ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }

cd "$top"
rm -rf "$verify" && mkdir -p "$verify/man"
sed -e "s|^ExecStart=$sbindir/|ExecStart=$top/$build/|" \
	systemd/spanheapd.service >"$verify/spanheapd.service"
cp systemd/spanheapd.socket "$verify/"
for p in man/*.[0-9]; do
	s=${p##*.}
	mkdir -p "$verify/man/man$s" && cp "$p" "$verify/man/man$s/"
done

out=$(cd "$verify" && MANPATH=$verify/man \
	systemd-analyze verify spanheapd.service spanheapd.socket 2>&1)
if [ -z "$out" ]; then
	ok "systemd-analyze verify is silent on both units"
else
	not_ok "systemd-analyze verify is silent on both units"
	echo "$out" | sed 's/^/# /'
fi

line=$(systemd-analyze security --offline=yes "$verify/spanheapd.service" | tail -n 1)
echo "# $line"
if echo "$line" | awk '/Overall exposure level/ { e = $(NF-2) + 0; found = 1 }
		END { exit !(found && e <= 1.0) }'; then
	ok "the service's exposure is at most 1.0"
else
	not_ok "the service's exposure is at most 1.0"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
