#!/usr/bin/env bash
# make install into a staging tree; a program outside the tree builds with
# pkg-config against it and talks to the installed daemon; make uninstall
# then leaves nothing behind.  Prints "N passed, M failed".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-build}
# A sanitizer build's library needs its runtime in the program too.
san=${SAN:-}
stage=$(mktemp -d /tmp/spanheap-install.XXXXXX)
pass=0 fail=0 daemon=

cleanup() {
	[ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	rm -rf "$stage"
}
trap cleanup EXIT

ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

cd "$top"
root=$stage/root
check "make install DESTDIR" make -s install DESTDIR="$root" PREFIX=/usr/local BUILD="$build" >/dev/null
check "libspanclient.so is a link to the SONAME" \
	test "$(readlink "$root/usr/local/lib/libspanclient.so")" = libspanclient.so.0
check "the .so exports only spanheap_*" \
	sh -c "! nm -D --defined-only '$root/usr/local/lib/libspanclient.so.0' | awk '\$2 ~ /[TDB]/ && \$3 !~ /^spanheap_/' | grep -q ."

export PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_PATH=$root/usr/local/lib/pkgconfig
check "pkg-config finds libspanclient" pkg-config --exists libspanclient
# shellcheck disable=SC2046
check "a program outside the tree builds with pkg-config" \
	cc $san -o "$stage/prog" tests/install/prog.c $(pkg-config --cflags --libs libspanclient)
check "and statically" \
	cc $san -o "$stage/prog-static" tests/install/prog.c \
	$(pkg-config --cflags libspanclient) "$root/usr/local/lib/libspanclient.a" -lpthread

# The README's first program, as a user copies it.
sed -n '/^<!-- readme-program/,/^```$/p' README.md | sed '1,2d;$d' > "$stage/readme.c"
check "the README's program builds" \
	cc $san -Wall -Werror -o "$stage/readme" "$stage/readme.c" $(pkg-config --cflags --libs libspanclient)
SPANHEAP_SOCKET="$stage/none.sock" LD_LIBRARY_PATH="$root/usr/local/lib" \
	"$stage/readme" >/dev/null 2>"$stage/readme.err"
check "with no daemon it says why and exits 1" sh -c \
	"[ $? = 1 ] && grep -q 'cannot connect to spanheapd: No such file' '$stage/readme.err'"
# And its shared objects example.
sed -n '/^<!-- readme-objects/,/^```$/p' README.md | sed '1,2d;$d' > "$stage/objdemo.c"
check "the README's objects example builds" \
	cc $san -Wall -Werror -o "$stage/objdemo" "$stage/objdemo.c" $(pkg-config --cflags --libs libspanclient)
SPANHEAP_SOCKET="$stage/none.sock" LD_LIBRARY_PATH="$root/usr/local/lib" \
	"$stage/objdemo" get frame-1 >/dev/null 2>"$stage/objdemo.err"
check "with no daemon it says why and exits 1" sh -c \
	"[ $? = 1 ] && grep -q 'cannot connect to spanheapd: No such file' '$stage/objdemo.err'"

"$root/usr/local/sbin/spanheapd" --socket="$stage/s.sock" --arena-size=1G 2>"$stage/log" &
daemon=$!
# The socket file appears at bind(), a moment before listen(): wait for
# a connection to be accepted, not for the file.
listens() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])' "$1" 2>/dev/null
}
for _ in $(seq 200); do listens "$stage/s.sock" && break; sleep 0.05; done
check "the installed daemon listens" listens "$stage/s.sock"
check "the program runs against it" sh -c \
	"LD_LIBRARY_PATH='$root/usr/local/lib' '$stage/prog' '$stage/s.sock' | grep -q 'freed 16 pages'"
check "the static one too" sh -c "SPANHEAP_SOCKET='$stage/s.sock' '$stage/prog-static' | grep -q 'freed 16 pages'"
check "the README's program runs against it" sh -c \
	"SPANHEAP_SOCKET='$stage/s.sock' LD_LIBRARY_PATH='$root/usr/local/lib' '$stage/readme' | grep -q '^span at offset [0-9]'"
check "the installed spanctl talks to it" \
	sh -c "LD_LIBRARY_PATH='$root/usr/local/lib' '$root/usr/local/bin/spanctl' --socket '$stage/s.sock' stats --json | grep -q heap_sys"
check "man finds the installed pages" \
	sh -c "MANPATH='$root/usr/local/share/man' man -w spanheap_span_alloc spanheap_obj_get spanheapd spanctl libspanclient spanheapd-stats spanheapd-quotas.conf >/dev/null"
kill "$daemon"; wait "$daemon"; rc=$?; daemon=
check "the daemon exits 0 on SIGTERM" test "$rc" = 0

check "make uninstall DESTDIR" make -s uninstall DESTDIR="$root" PREFIX=/usr/local BUILD="$build" >/dev/null
left=$(find "$root" -type f -o -type l)
check "uninstall leaves no file behind" test -z "$left"
[ -n "$left" ] && echo "$left" | sed 's/^/# left: /'

# The packager's sequence: a plain make (above), then an install for
# another prefix.  What is generated must name that prefix.
usr=$stage/usr-root
check "make install DESTDIR PREFIX=/usr after a plain make" \
	make -s install DESTDIR="$usr" PREFIX=/usr BUILD="$build" >/dev/null
check "its unit starts /usr/sbin/spanheapd" \
	grep -qx 'ExecStart=/usr/sbin/spanheapd $SPANHEAPD_OPTS' "$usr/lib/systemd/system/spanheapd.service"
check "the unit's ExecStart exists in the staged tree" test -x "$usr/usr/sbin/spanheapd"
check "its .pc says prefix=/usr" grep -qx 'prefix=/usr' "$usr/usr/lib/pkgconfig/libspanclient.pc"
check "and nothing names /usr/local" sh -c "! grep -rqs /usr/local '$usr/lib/systemd' '$usr/usr/lib/pkgconfig'"

# A user's install: no root, everything under the prefix, no errors
# ignored on the way.
if id nobody >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	home=$stage/home
	mkdir -p "$home" && chown nobody "$home"
	chmod a+rx "$stage"
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env HOME="$home" make -s install PREFIX="$home/.local" BUILD="$build" 2>&1)
	rc=$?
	check "make install PREFIX=\$HOME/.local as a user" test "$rc" = 0
	[ "$rc" = 0 ] || echo "$out" | sed 's/^/# /'
	check "without an ignored error" sh -c "! printf '%s' \"\$1\" | grep -q 'ignored'" _ "$out"
	check "the user's unit lands under the prefix" \
		test -f "$home/.local/lib/systemd/system/spanheapd.service"
	check "the daemon too" test -x "$home/.local/sbin/spanheapd"
	check "nothing outside the prefix" sh -c "[ -z \"\$(find '$home' -mindepth 1 -maxdepth 1 ! -name .local)\" ]"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
