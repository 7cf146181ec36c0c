#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check-graph: daemon/ is a one-way graph (see the top of daemon/daemon.h).
#
# Two graphs of its parts, a part being a file name less .c or .h:
#  - includes: A -> B when daemon/A.c or daemon/A.h has #include "B.h"
#    of daemon/;
#  - calls: A -> B when $BUILD/daemon/A.o uses a symbol that B.o defines
#    (the function-level graph, as the linker sees it; calls through a
#    hook are not edges, which is the point of hooks).
# In each, the only cycle allowed is client <-> dispatch (a request goes
# up, its reply down): the graph less the edge dispatch -> client and
# the graph less client -> dispatch must both sort (tsort), since any
# other cycle misses one of the two.  The leaves include nothing of
# daemon/ but leaves (core, blob and sock: nothing at all).  The checker
# is first shown cycles it must find.  Prints "N passed, M failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
pass=0 fail=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

ok() {
	echo "ok - $1"
	pass=$((pass + 1))
}

not_ok() {
	echo "not ok - $1"
	[ -n "${2:-}" ] && echo "$2" | sed 's/^/# /'
	fail=$((fail + 1))
}

# include_edges DIR: "A B" for each file of DIR that includes B.h of DIR.
include_edges() {
	local dir=$1 f m h
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -e "$f" ] || continue
		m=$(basename "$f")
		m=${m%.*}
		sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
			while read -r h; do
				case $h in
				*/*) [ "$(dirname "$h")" = "$dir" ] || continue ;;
				esac
				h=$(basename "$h")
				[ -e "$dir/$h" ] || continue
				h=${h%.h}
				[ "$h" = "$m" ] || echo "$m $h"
			done
	done | sort -u
}

# call_edges DIR: "A B" for each object A.o of DIR that uses what B.o
# defines.
call_edges() {
	local dir=$1 o m
	for o in "$dir"/*.o; do
		m=$(basename "$o" .o)
		nm --defined-only -g "$o" | awk -v m="$m" 'NF == 3 { print $3, m }'
	done | sort -k1,1 >"$tmp/defs"
	for o in "$dir"/*.o; do
		m=$(basename "$o" .o)
		nm -u "$o" | awk -v m="$m" '{ print $NF, m }'
	done | sort -k1,1 >"$tmp/uses"
	join "$tmp/defs" "$tmp/uses" | awk '$2 != $3 { print $3, $2 }' | sort -u
}

# one_way EDGES: a cycle other than client <-> dispatch, on stdout; or
# nothing and status 0.
one_way() {
	local drop
	for drop in "dispatch client" "client dispatch"; do
		if ! printf '%s\n' "$1" | grep -vx "$drop" | grep . |
			tsort >/dev/null 2>"$tmp/err"; then
			grep -v 'input contains a loop' "$tmp/err" |
				sed 's/^tsort: //' | sort -u | tr '\n' ' '
			return 1
		fi
	done
	return 0
}

# The checker finds what it must: a tree of files named in "A:B C" pairs
# (A.c includes B.h and C.h; every A.h exists).
fake_tree() {
	local dir=$tmp/$1 e a b
	shift
	mkdir -p "$dir"
	for e in "$@"; do
		a=${e%%:*}
		: >"$dir/$a.h"
		: >"$dir/$a.c"
		for b in ${e#*:}; do
			: >>"$dir/$b.h"
			echo "#include \"$b.h\"" >>"$dir/$a.c"
		done
	done
	echo "$dir"
}

expect() {
	local want=$1 what=$2 dir edges
	shift 2
	dir=$(fake_tree "$@")
	edges=$(include_edges "$dir")
	if one_way "$edges" >/dev/null; then got=one-way; else got=cycle; fi
	if [ "$got" = "$want" ]; then
		ok "the checker sees $want in $what"
	else
		not_ok "the checker sees $want in $what" "it saw $got in: $edges"
	fi
}

expect cycle "a <-> b" t1 "a:b" "b:a"
expect one-way "client <-> dispatch and x -> client" t2 \
	"client:dispatch" "dispatch:client" "x:client"
expect cycle "client -> dispatch -> x -> client" t3 \
	"client:dispatch" "dispatch:x" "x:client"
expect cycle "dispatch -> client -> x -> dispatch" t4 \
	"client:dispatch x" "dispatch:client" "x:dispatch"

check_graph() {
	local what=$1 edges=$2 loop
	echo "$what:"
	echo "$edges" | sed 's/ / -> /; s/^/  /'
	if loop=$(one_way "$edges"); then
		ok "the $what of daemon/ has no cycle but client <-> dispatch"
	else
		not_ok "the $what of daemon/ has no cycle but client <-> dispatch" \
			"a cycle through: $loop"
	fi
}

incl=$(include_edges daemon)
check_graph "include graph" "$incl"
if ls "$BUILD"/daemon/*.o >/dev/null 2>&1; then
	check_graph "call graph" "$(call_edges "$BUILD/daemon")"
else
	not_ok "the objects are in $BUILD/daemon" "build them first (make)"
fi

# The leaves: core, blob, sock and psi include nothing of daemon/, log
# and options nothing but each other, and options pressure.h besides,
# whose pressure_trigger_valid() checks --pressure-trigger; pressure
# itself includes only log and psi, so options stays near the bottom.
for leaf in core blob sock psi log options pressure; do
	case $leaf in
	core | blob | sock | psi) allowed= ;;
	options) allowed="log options pressure" ;;
	pressure) allowed="log psi" ;;
	*) allowed="log options" ;;
	esac
	bad=$(echo "$incl" | awk -v l="$leaf" -v a=" $allowed " \
		'$1 == l && index(a, " " $2 " ") == 0 { print $2 }')
	if [ -z "$bad" ]; then
		ok "$leaf is a leaf of daemon/"
	else
		not_ok "$leaf is a leaf of daemon/" "it includes: $bad"
	fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
