# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The helpers and variables are check-system.sh's; single-quoted eval
# strings expand later.
# shellcheck disable=SC2154,SC2016
#
# check-system's cases for a client that lives through restarts of the
# daemon: sourced by check-system.sh, whose helpers (check, in_ns,
# main_pid, restarted, wait_for, diag, $work, $init, $helper) it uses.
#
# spanhold (tests/system/spanhold.c) holds 256 MiB of patterned spans,
# objects of its own, references to objects another process made and an
# OPEN object it fills, and loops over allocations, frees and object
# calls until its stop file appears; then it verifies every byte and
# compares its ledger with the daemon's (see there).  Here the daemon is
# restarted and killed under it, and what the daemon says of itself
# (MemStats) is compared before and after.
#
# A drop-in for these cases only: the heap verified at every GC pass
# (SPANHEAPD_HEAP_CHECK), and no start limit, since a hundred kills in a
# minute would hit the unit's (a failed unit loses its fd store: that is
# tested on its own).

spanhold_dropin=/run/systemd/system/spanheapd.service.d/70-spanhold.conf
spanhold_stop=/run/spanhold.stop

# stats_json FILE: MemStats as JSON into $work/FILE.
stats_json() {
	in_ns spanctl stats --json >"$work/$1" 2>"$work/$1.err" ||
		{ diag <"$work/$1.err"; return 1; }
}

# stats_continuous BEFORE AFTER GENERATIONS: every cumulative counter of
# AFTER is at least BEFORE's, and the generation went up by GENERATIONS.
stats_continuous() {
	python3 - "$work/$1" "$work/$2" "$3" <<-'EOF' 2>&1 | diag
	import json, sys
	a, b = (json.load(open(f)) for f in sys.argv[1:3])
	step = int(sys.argv[3])
	bad = []
	# Counters since the first start (docs/memstats.md); gauges excluded.
	top = ["num_gc", "pause_total_ns", "heap_checks", "control_deferred"]
	nested = {"scavenger": None, "magazines": None}
	def counters(s):
	    c = {k: s.get(k) for k in top}
	    c["clients.refused"] = s.get("clients", {}).get("refused")
	    for k in ("woken", "timeouts"):
	        c["objects." + k] = s.get("objects", {}).get(k)
	    for blk in nested:
	        for k, v in s.get(blk, {}).items():
	            if (isinstance(v, int) and not k.endswith("_last") and
	                    not k.endswith("_after_ns") and
	                    k not in ("cached", "max_bytes")):
	                c[blk + "." + k] = v
	    return c
	ca, cb = counters(a), counters(b)
	for k in sorted(ca):
	    if ca[k] is None or cb.get(k) is None:
	        bad.append("%s missing" % k)
	    elif cb[k] < ca[k]:
	        bad.append("%s went back: %d -> %d" % (k, ca[k], cb[k]))
	ga, gb = a.get("generation"), b.get("generation")
	# A daemon killed before it adopted the store is a restart that
	# makes no generation: the generation grows by 1 to the restarts.
	print("generation %s -> %s (want +1..+%d); num_gc %s -> %s; "
	      "scavenger.released_bytes_total %s -> %s" % (ga, gb, step,
	      a.get("num_gc"), b.get("num_gc"),
	      a.get("scavenger", {}).get("released_bytes_total"),
	      b.get("scavenger", {}).get("released_bytes_total")))
	if ga is None or gb is None:
	    bad.append("MemStats has no generation")
	elif not ga + min(step, 1) <= gb <= ga + step:
	    bad.append("generation %d -> %d, not +1..+%d" % (ga, gb, step))
	for m in bad:
	    print("NOT CONTINUOUS: " + m)
	sys.exit(1 if bad else 0)
	EOF
	return "${PIPESTATUS[0]}"
}

spanhold_dropin_add() {
	in_ns sh -c "printf '[Unit]\nStartLimitIntervalSec=0\n[Service]\n\
Environment=SPANHEAPD_HEAP_CHECK=1\n' >$spanhold_dropin" &&
		in_ns systemctl daemon-reload
}

spanhold_dropin_remove() {
	in_ns rm -f "$spanhold_dropin"
	in_ns systemctl daemon-reload
}

holding_or_gone() {
	grep -qs '^holding' "$work/$1" || ! kill -0 "$helper" 2>/dev/null
}

# spanhold_start OUT PEER: spanhold hold in the background, up to 240 s,
# with references to the objects PEER-0..3, which it makes first.  Sets
# helper; waits until it holds everything.
spanhold_start() {
	in_ns spanhold make "$2" 4 2>&1 | diag
	[ "${PIPESTATUS[0]}" = 0 ] || return 1
	in_ns rm -f "$spanhold_stop"
	# Not through in_ns: cleanup needs the PID of timeout itself.
	timeout -k 5 240 nsenter -t "$init" -a env -i PATH="$ns_path" \
		spanhold hold "$2" 4 "$spanhold_stop" >"$work/$1" 2>&1 &
	helper=$!
	wait_for 60 holding_or_gone "$1"
	grep -qs '^holding' "$work/$1" || {
		diag <"$work/$1"
		return 1
	}
	grep '^holding' "$work/$1" | diag
}

# spanhold_finish OUT: stop it, wait; true if it exited 0 with no error.
spanhold_finish() {
	local rc

	[ -n "$helper" ] || return 1
	in_ns touch "$spanhold_stop"
	wait "$helper"
	rc=$?
	helper=
	diag <"$work/$1"
	echo "# spanhold exited $rc"
	[ "$rc" = 0 ] && grep -q '^0 errors' "$work/$1"
}

# Keep looping for a while, so the client works on the new daemon.
client_works() {
	sleep 2
	kill -0 "$helper" 2>/dev/null
}

restart_kill() {
	local old t0

	spanhold_start hold1.out peer1 || return 1
	client_works && stats_json s0.json || return 1

	old=$(main_pid) || return 1
	t0=$SECONDS
	in_ns systemctl restart spanheapd.service || return 1
	wait_for 20 restarted "$old" || return 1
	echo "# systemctl restart: MainPID $old -> $(main_pid) in \
$((SECONDS - t0)) s"
	client_works && stats_json s1.json || return 1

	old=$(main_pid) || return 1
	t0=$SECONDS
	in_ns kill -KILL "$old" || return 1
	wait_for 20 restarted "$old" || return 1
	echo "# kill -9: MainPID $old -> $(main_pid) in $((SECONDS - t0)) s, \
NRestarts $(prop spanheapd.service NRestarts)"
	client_works && stats_json s2.json || return 1

	check "systemctl restart: MemStats continuous, generation + 1" \
		stats_continuous s0.json s1.json 1
	check "kill -9 of MainPID: MemStats continuous, generation + 1" \
		stats_continuous s1.json s2.json 1
}

# On a failure, what spanhold said, and the daemon's journal.
check_hold_restart_kill() {
	spanhold_dropin_add || return 1
	if ! restart_kill; then
		spanhold_finish hold1.out
		return 1
	fi
	spanhold_finish hold1.out
}

# kill_at_random I: SIGKILL MainPID after 0-300 ms; on odd I wait for the
# next daemon to serve, on even I go on at once (the next kill may then
# find the service still starting, and kills whatever MainPID it has).
kill_at_random() {
	local pid

	sleep "0.$(printf '%03d' $((RANDOM % 300)))"
	pid=$(main_pid) || return 0
	in_ns kill -KILL "$pid" 2>/dev/null || return 0
	if [ $(($1 % 2)) = 1 ]; then
		wait_for 20 restarted "$pid"
	fi
}

# consumed against the memfd's st_blocks (arena_resident): every
# resident page is consumed (arena_unaccounted 0, after a scavenge
# pass's sweep), and what is consumed but not resident is at most what
# is idle and not yet released, plus what sits untouched in magazines.
resident_agrees() {
	stats_json s4.json || return 1
	python3 - "$work/s4.json" <<-'EOF' 2>&1 | diag
	import json, sys
	s = json.load(open(sys.argv[1]))
	c, r = s["consumed"], s["arena_resident"]
	idle = s["heap_idle"] - s["heap_released"]
	print("consumed %d, arena_resident %d, unaccounted %d, "
	      "idle unreleased %d, cached %d" % (c, r, s["arena_unaccounted"],
	      idle, s["cached"]))
	sys.exit(0 if s["arena_unaccounted"] == 0 and r <= c and
	         c - r <= idle + s["cached"] else 1)
	EOF
	return "${PIPESTATUS[0]}"
}

check_hold_kills() {
	local i n t0 checks main

	if ! spanhold_start hold2.out peer2; then
		spanhold_finish hold2.out
		not_ok "100 SIGKILLs: spanhold holds all it should"
		return 1
	fi
	stats_json s3.json || return 1
	n=$(prop spanheapd.service NRestarts)
	t0=$SECONDS
	for ((i = 0; i < 100; i++)); do
		kill_at_random "$i"
		kill -0 "$helper" 2>/dev/null || break
	done
	wait_for 30 service_running || return 1
	echo "# $i kills in $((SECONDS - t0)) s: NRestarts $n -> \
$(prop spanheapd.service NRestarts), generation \
$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("generation"))' \
	"$work/s3.json") before"
	check "100 SIGKILLs at random moments: the client went on through \
all of them" [ "$i" = 100 ]
	client_works
	check "after 100 SIGKILLs: every byte intact, no call failed, no span \
lost or doubled (spanhold's ledger against the daemon's)" \
		spanhold_finish hold2.out
	main=$(main_pid) || return 1
	stats_json s5.json || return 1
	checks=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["heap_checks"])' \
		"$work/s5.json")
	in_ns spanctl gc 2>&1 | diag
	in_ns spanctl scavenge 2>&1 | diag
	stats_json s6.json || return 1
	echo "# heap_checks $checks -> $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["heap_checks"])' \
		"$work/s6.json"), MainPID $main -> $(main_pid)"
	check "after 100 SIGKILLs: a GC's heap_check() passes (heap_checks \
grew, the daemon still MainPID $main)" eval '[ "$(main_pid)" = "$main" ] &&
		python3 -c "import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))[\"heap_checks\"] > $checks else 1)" \
		"$work/s6.json"'
	check "after 100 SIGKILLs: consumed follows the arena's st_blocks \
within what is idle and unreleased" resident_agrees
	check "after 100 SIGKILLs: MemStats continuous, generation + 1 to \
+ NRestarts (a daemon killed before adopting makes none)" stats_continuous s3.json s6.json \
		$(($(prop spanheapd.service NRestarts) - n))
}

check_spanhold() {
	check "a client holding 256 MiB of spans, objects and references \
keeps working through systemctl restart and kill -9 of MainPID: every \
byte intact, no error, its ledger and the daemon's agree" \
		check_hold_restart_kill
	check_hold_kills
	spanhold_dropin_remove
}
