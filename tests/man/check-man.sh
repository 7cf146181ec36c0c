#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check-man: mandoc -Tlint -W warning is silent on every man page.
# Prints "N passed, M failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
pass=0 fail=0

for p in man/*.[0-9]; do
	out=$(mandoc -Tlint -W warning "$p" 2>&1)
	if [ -z "$out" ]; then
		echo "ok - mandoc -Tlint is silent on $p"
		pass=$((pass + 1))
	else
		echo "not ok - mandoc -Tlint is silent on $p"
		echo "$out" | sed 's/^/# /'
		fail=$((fail + 1))
	fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
