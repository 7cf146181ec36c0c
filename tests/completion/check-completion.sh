#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check-completion: source ctl/completion/spanctl with bash-completion
# and check COMPREPLY for commands, options and object names (from a
# real daemon on a socket of the test's own).  SPANHEAPD and SPANCTL
# name the built programs, BUILD their tree, SAN its sanitizer flags.
# Prints "N passed, M failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
pass=0 fail=0
tmp=$(mktemp -d) || exit 1
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait; rm -rf "$tmp"' EXIT

# shellcheck disable=SC1091
. /usr/share/bash-completion/bash_completion || exit 1
# shellcheck source=ctl/completion/spanctl
. ctl/completion/spanctl || exit 1
# The completion runs spanctl from PATH: the built one.
mkdir "$tmp/bin" && ln -s "$(realpath "$SPANCTL")" "$tmp/bin/spanctl"
PATH=$tmp/bin:$PATH

# expect LINE WORD...: completing LINE (the cursor at its end) offers
# exactly WORD..., in any order.
expect()
{
	local line=$1; shift
	read -ra COMP_WORDS <<<"$line"
	[[ $line == *' ' ]] && COMP_WORDS+=('')
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE=$line COMP_POINT=${#line}
	COMPREPLY=()
	_spanctl spanctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	local got want
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ')
	want=$(printf '%s\n' "$@" | sed '/^$/d' | sort | tr '\n' ' ')
	if [ "$got" = "$want" ]; then
		echo "ok - '$line' completes to [$want]"
		pass=$((pass + 1))
	else
		echo "not ok - '$line' completes to [$want], got [$got]"
		fail=$((fail + 1))
	fi
}

expect 'spanctl ' stats clients objects delete scavenge gc watch
expect 'spanctl s' stats scavenge
expect 'spanctl -' --socket --help --version
expect 'spanctl --socket /x w' watch
expect 'spanctl stats -' --json --prometheus
expect 'spanctl stats --p' --prometheus
expect 'spanctl objects -' --json
expect 'spanctl watch --' --interval --count
expect 'spanctl watch --count '
expect 'spanctl gc -'
: >"$tmp/sockfile"
expect "spanctl --socket $tmp/so" "$tmp/sockfile"
# No daemon on the socket: no names, nothing on the terminal.
expect "spanctl --socket $tmp/none delete "

# A real daemon with two objects, and one that starts otherwise.
"$SPANHEAPD" --socket "$tmp/sock" --arena-size 64M 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do [ -S "$tmp/sock" ] && break; sleep 0.1; done
# SAN: the sanitizers the library was built with, if any.
# shellcheck disable=SC2086
gcc -std=gnu11 -O2 ${SAN:-} -I. -o "$tmp/spanobj" tests/system/spanobj.c \
	"$BUILD/libspanclient.a" -lpthread || exit 1
for n in alpha beta; do
	SPANHEAP_SOCKET=$tmp/sock "$tmp/spanobj" make "$n" >/dev/null || exit 1
done
expect "spanctl --socket $tmp/sock delete " alpha beta
expect "spanctl --socket=$tmp/sock delete a" alpha
expect "spanctl --socket $tmp/sock delete alpha "
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
