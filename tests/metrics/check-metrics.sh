#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check-metrics: the real daemon's --metrics-listen endpoint, with a real
# client (spanhold) holding and churning spans: /metrics answers 200 with
# the Prometheus content type and the families spanctl prints, promtool
# accepts both outputs, other paths and methods are refused, bad options
# and bind failures stop the start with a clear error, and idle HTTP
# connections neither stop span requests nor outlive the timeout.
# Prints "N passed, M failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
SPANHEAPD=${SPANHEAPD:-$BUILD/spanheapd}
SPANCTL=${SPANCTL:-$BUILD/spanctl}
SPANHOLD=$BUILD/tests/system/spanhold
pass=0 fail=0
tmp=$(mktemp -d) || exit 1
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

ok() { echo "ok - $1"; pass=$((pass + 1)); }
not_ok() {
	echo "not ok - $1"
	[ -n "${2:-}" ] && echo "$2" | sed 's/^/# /'
	fail=$((fail + 1))
}
check() {	# check WHAT COMMAND...
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$what"; else not_ok "$what" "$out"; fi
}

# start NAME ARGS...: a daemon of its own, its port in $port, pid in $dpid.
start() {
	local name=$1 i
	shift
	"$SPANHEAPD" --socket="$tmp/$name.sock" --arena-size=1G \
		"$@" >"$tmp/$name.log" 2>&1 &
	dpid=$!
	pids+=("$dpid")
	for i in $(seq 200); do
		port=$(sed -n 's|.*serving metrics on http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$tmp/$name.log")
		[ -n "$port" ] && [ -S "$tmp/$name.sock" ] && return 0
		kill -0 "$dpid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

fds() { ls "/proc/$1/fd" | wc -l; }

# ---- the endpoint and spanctl, with a client holding spans ----
if ! start main --metrics-listen=:0 --metrics-timeout=2; then
	not_ok "daemon starts with --metrics-listen=:0" "$(cat "$tmp/main.log")"
	echo "$pass passed, $((fail + 1)) failed"
	exit 1
fi
ok "daemon starts with --metrics-listen=:0 and logs the port"
url=http://127.0.0.1:$port/metrics
export SPANHEAP_SOCKET=$tmp/main.sock
"$SPANHOLD" make peer 1 >/dev/null
"$SPANHOLD" hold peer 1 "$tmp/stop" 16 >"$tmp/hold.out" 2>"$tmp/hold.err" &
hold=$!
pids+=("$hold")
for i in $(seq 400); do
	grep -q holding "$tmp/hold.out" && break
	sleep 0.05
done
check "a span client holds spans" grep -q holding "$tmp/hold.out"

curl -s -o "$tmp/body" -D "$tmp/head" -w '%{http_code}\n' "$url" >"$tmp/code"
check "GET /metrics is 200" grep -qx 200 "$tmp/code"
check "the content type is text/plain; version=0.0.4; charset=utf-8" \
	grep -qix 'content-type: text/plain; version=0.0.4; charset=utf-8'$'\r' "$tmp/head"
check "promtool check metrics accepts /metrics" \
	sh -c "promtool check metrics <'$tmp/body' && [ -z \"\$(promtool check metrics <'$tmp/body' 2>&1)\" ]"
check "/metrics has a per-client sample" grep -q '^spanheap_client_bytes{id="' "$tmp/body"
"$SPANCTL" stats --prometheus >"$tmp/ctl"
check "promtool check metrics accepts spanctl stats --prometheus" \
	sh -c "promtool check metrics <'$tmp/ctl' && [ -z \"\$(promtool check metrics <'$tmp/ctl' 2>&1)\" ]"
grep '^# TYPE' "$tmp/body" >"$tmp/fam.http"
grep '^# TYPE' "$tmp/ctl" >"$tmp/fam.ctl"
check "the endpoint and spanctl print the same families" \
	diff "$tmp/fam.http" "$tmp/fam.ctl"
a=$(sed -n 's/^spanheap_heap_inuse_bytes //p' "$tmp/body")
check "heap_inuse_bytes counts the client's spans" test "${a:-0}" -gt 0
check "HEAD /metrics is 200" sh -c "curl -sI '$url' | head -1 | grep -q ' 200 '"
check "GET /other is 404" \
	sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' 'http://127.0.0.1:$port/other') = 404 ]"
check "POST /metrics is 405" \
	sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -X POST '$url') = 405 ]"
check "HTTP/1.0 gets the whole reply" \
	sh -c "curl -s -0 '$url' | promtool check metrics"

# ---- hostile HTTP clients while the span client churns ----
base=$(fds "$dpid")
/usr/bin/python3 - "$port" "$tmp" <<'PY' &
import socket, sys, time
port, tmp = int(sys.argv[1]), sys.argv[2]
idle = []
for _ in range(300):		# connections that send nothing
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    idle.append(s)
d = socket.create_connection(("127.0.0.1", port))	# dribbles
for b in b"GET /metrics HTTP/1.1\r\n":
    d.send(bytes([b]))
open(tmp + "/hostile.ready", "w").close()
time.sleep(30)
PY
hostile=$!
pids+=("$hostile")
for i in $(seq 200); do [ -e "$tmp/hostile.ready" ] && break; sleep 0.05; done
# The flood is real: most of it is open at once (the timeout may close
# the first before the daemon has accepted the last).
most=0
for i in $(seq 50); do
	n=$(fds "$dpid")
	[ "$n" -gt "$most" ] && most=$n
	[ "$most" -gt $((base + 100)) ] && break
	sleep 0.1
done
check "the idle HTTP connections are open at once ($most fds, base $base)" \
	test "$most" -gt $((base + 100))
served=0
for i in $(seq 20); do
	"$SPANCTL" stats --json >/dev/null 2>&1 && served=$((served + 1))
done
check "every span-socket request is served while they are open ($served of 20)" \
	test "$served" = 20
check "the span client runs on" kill -0 "$hold"
for i in $(seq 200); do
	[ "$(fds "$dpid")" -le $((base + 1)) ] && break
	sleep 0.1
done
check "the timeout closes the idle connections" \
	test "$(fds "$dpid")" -le $((base + 1))
kill "$hostile" 2>/dev/null
touch "$tmp/stop"
wait "$hold"
check "the span client's every request succeeded" test $? = 0
curl -s "$url" >"$tmp/body2"
check "/metrics answers after the flood" sh -c "promtool check metrics <'$tmp/body2'"

# ---- option and bind errors ----
for bad in nope 127.0.0.1 127.0.0.1:99999 '[::1' 'a b:1' ':x'; do
	out=$("$SPANHEAPD" --socket="$tmp/bad.sock" --metrics-listen="$bad" 2>&1)
	rc=$?
	check "--metrics-listen=$bad is an option error (exit 2)" test "$rc" = 2
	check "--metrics-listen=$bad names the option and the form" \
		sh -c "echo \"\$1\" | grep -q 'invalid --metrics-listen.*want ADDR:PORT'" _ "$out"
done
check "the bad values created no socket" test ! -e "$tmp/bad.sock"
out=$(timeout 20 "$SPANHEAPD" --socket="$tmp/busy.sock" --arena-size=1G \
	--metrics-listen=127.0.0.1:"$port" 2>&1)
rc=$?
check "a port in use stops the start" test "$rc" != 0 -a "$rc" != 124
check "the bind error names the address, the errno text and a fix" \
	sh -c "echo \"\$1\" | grep -q \"cannot listen for metrics on 127.0.0.1:$port: Address already in use; pick a free port\"" _ "$out"
if start v6 --metrics-listen='[::1]:0' && true; then :; fi
check "[::1]:0 binds IPv6 loopback" grep -q 'serving metrics on http://\[::1\]:' "$tmp/v6.log"
if start lh --metrics-listen=localhost:0; then :; fi
check "localhost:0 binds loopback" grep -Eq 'serving metrics on http://(127.0.0.1|\[::1\]):' "$tmp/lh.log"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
