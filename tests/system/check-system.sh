#!/bin/bash
# SPDX-License-Identifier: MIT
#
# check-system: boot a real systemd as PID 1 in private namespaces and
# drive the installed spanheapd units with systemctl, as an administrator
# would on a real machine.  `make check-system` runs it after `make all`.
#
# How: unshare(1), under script(1) so that PID 1 has a console, starts
# boot-container.sh as PID 1 of new PID, mount, UTS, IPC and network
# namespaces.  It moves itself into a cgroup of our own on the host's
# cgroup2 hierarchy and makes that the root of a new cgroup namespace,
# puts an overlay over / (every write goes to a tmpfs), runs `make
# install` into it, and execs systemd with a minimal target.  The checks
# below run inside with nsenter(1).  The host is only read: its /run,
# /etc and unit directories are never written, and the cgroup and the
# work directory are removed at the end, whatever happened.
#
# Needs root, overlayfs, a cgroup2 hierarchy (/sys/fs/cgroup, or
# /sys/fs/cgroup/unified on a hybrid host), util-linux and systemd.
#
# Output: one "ok - ..." or "not ok - ..." line a check, diagnostics on
# lines starting with "#", and "N passed, M failed" last.  The exit
# status is 0 only if every check passed.  Takes about a minute, most
# of it the 100 SIGKILLs of restarts.sh; more when the daemon fails.

# Functions called through check, wait_for and trap are not unreachable;
# single-quoted eval strings are meant to expand later.
# shellcheck disable=SC2317,SC2016

set -uo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/system/restarts.sh
. "$src/tests/system/restarts.sh"
build=${BUILD:-build}
name=spanheapd-systest-$$
ns_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
sock=/run/spanheapd/spanheapd.sock

passed=0
failed=0
work=
cgroup=
launcher=
init=
helper=
start_time=$SECONDS

ok() {
	echo "ok - $*"
	passed=$((passed + 1))
}

not_ok() {
	echo "not ok - $*"
	failed=$((failed + 1))
}

# diag: stdin as diagnostics.
diag() {
	sed 's/^/#   /'
}

# diag_some: diag, and fail if stdin was empty.
diag_some() {
	grep '' | diag
}

# check DESCRIPTION COMMAND...: one line for whether COMMAND succeeds.
check() {
	local what=$1

	shift
	if "$@"; then
		ok "$what"
	else
		not_ok "$what"
		return 1
	fi
}

# in_ns COMMAND...: run COMMAND in the container, in all of PID 1's
# namespaces, with a clean environment and a time limit.  timeout puts
# it in a process group of its own; -k, because nsenter stops itself
# when its child is stopped, and systemd-shutdown stops every process
# of the PID namespace (kill(-1, SIGSTOP)) before it kills them.
in_ns() {
	timeout -k 5 30 nsenter -t "$init" -a env -i PATH="$ns_path" \
		LC_ALL=C SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

# as_user USER COMMAND...: in_ns, as USER with USER's groups.
as_user() {
	local ids

	ids=$(user_ids "$1") || return 1
	shift
	# shellcheck disable=SC2086
	in_ns setpriv $ids --init-groups "$@"
}

user_ids() {
	local uid gid

	uid=$(in_ns id -u "$1") && gid=$(in_ns id -g "$1") || return 1
	echo "--reuid=$uid --regid=$gid"
}

prop() {
	in_ns systemctl show -P "$2" "$1" 2>/dev/null
}

# main_pid: spanheapd.service's MainPID, or fail if it has none.  Never
# hand kill(1) a 0: that is the caller's whole process group.
main_pid() {
	local pid

	pid=$(prop spanheapd.service MainPID)
	[[ $pid =~ ^[0-9]+$ ]] && [ "$pid" -gt 1 ] || return 1
	echo "$pid"
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.2 s until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))

	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# After a failure: what the daemon and systemd said in the container.
show_journal() {
	echo "# journalctl -u spanheapd.service -u spanheapd.socket:"
	in_ns journalctl --no-pager -n 80 -u spanheapd.service \
		-u spanheapd.socket 2>&1 | diag
	echo "# systemctl status spanheapd.service:"
	in_ns systemctl status --no-pager -n 0 spanheapd.service 2>&1 | diag
	echo "# warnings and errors in the container's journal:"
	in_ns journalctl --no-pager -n 40 -p warning 2>&1 | diag
}

finish() {
	echo "# $((SECONDS - start_time)) s"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
	exit
}

# --- setup and teardown -----------------------------------------------

# The container runs under script(1), whose pty becomes PID 1's console:
# script (our child, $launcher) -> unshare -> PID 1 (boot-container.sh,
# then systemd).
alive() {
	[ -n "$launcher" ] && kill -0 "$launcher" 2>/dev/null
}

# is_our_init PID: PID is PID 1 of a PID namespace below ours and lives
# in our cgroup.  Checked before anything is sent to it or entered.
is_our_init() {
	[ -n "$1" ] &&
		[ "$(awk '/^NSpid:/ { print (NF > 2 ? $NF : 0) }' \
			"/proc/$1/status" 2>/dev/null)" = 1 ] &&
		[ "$(readlink "/proc/$1/ns/pid")" != "$(readlink /proc/self/ns/pid)" ] &&
		grep -q "/$name\(/\|$\)" "/proc/$1/cgroup" 2>/dev/null
}

find_init() {
	local pids p

	pids=$(find "$cgroup" -name cgroup.procs -exec cat {} + 2>/dev/null)
	for p in $pids; do
		if is_our_init "$p"; then
			init=$p
			return 0
		fi
	done
	return 1
}

# Ask PID 1 to power off (SIGRTMIN+4), then kill it: the PID namespace
# and everything in it goes with it.  Then script and unshare end.  Only
# after a failure or an interruption: the checks end with a poweroff.
stop_container() {
	alive || return 0
	if is_our_init "$init"; then
		kill -s SIGRTMIN+4 "$init"
		wait_for 5 eval '! alive'
	fi
	if alive && is_our_init "$init"; then
		kill -KILL "$init"
		wait_for 5 eval '! alive'
	fi
	alive && kill -KILL "$launcher"
	wait "$launcher" 2>/dev/null
	launcher=
}

# rmdir our cgroup, children first; its last processes may still be
# exiting for a moment.
remove_cgroup() {
	case $cgroup in
	*/"$name") ;;
	*) return 0 ;;
	esac
	wait_for 10 eval '[ ! -d "$cgroup" ] ||
		{ find "$cgroup" -depth -type d -exec rmdir {} + 2>/dev/null;
		  [ ! -d "$cgroup" ]; }'
}

cleanup() {
	# A client left running in the container when we were interrupted:
	# timeout made it the leader of its process group.
	if [ -n "$helper" ]; then
		kill -KILL -- "-$helper" 2>/dev/null ||
			kill -KILL "$helper" 2>/dev/null
		wait "$helper" 2>/dev/null
	fi
	stop_container
	remove_cgroup
	[ -n "$work" ] && rm -rf "$work"
}

# The hierarchy to put our cgroup in: cgroup2 wherever it is mounted.
cgroup2_root() {
	findmnt -n -o TARGET -t cgroup2 | head -n 1
}

preflight() {
	local missing='' c

	if [ "$(id -u)" != 0 ]; then
		not_ok "check-system needs root (unshare, mounts, cgroups)"
		return 1
	fi
	for c in unshare nsenter setpriv script findmnt timeout gcc make; do
		command -v "$c" >/dev/null || missing="$missing $c"
	done
	for c in /lib/systemd/systemd "$src/$build/spanheapd" \
		"$src/$build/spanctl" "$src/$build/libspanclient.a" \
		"$src/$build/tests/system/spanhold"; do
		[ -e "$c" ] || missing="$missing $c"
	done
	grep -qw overlay /proc/filesystems || missing="$missing overlayfs"
	[ -n "$(cgroup2_root)" ] || missing="$missing cgroup2-mount"
	if [ -n "$missing" ]; then
		not_ok "prerequisites: missing$missing (run make all first)"
		return 1
	fi
}

build_client() {
	local c

	for c in spanuse spanobj; do
		gcc -std=gnu11 -O2 -Wall -Wextra -Werror -Wshadow \
			-Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
			-Wcast-qual -Wformat=2 -I"$src" -o "$work/$c" \
			"$src/tests/system/$c.c" "$src/$build/libspanclient.a" \
			-lpthread || return 1
	done
}

# boot [INSTALL]: start the container, wait for systemd to be PID 1 in
# it and to finish starting its target.  Sets launcher, cgroup and init.
# INSTALL is boot-container.sh's: make (the default) or none.
boot() {
	local i state cmd

	rm -rf "$work/layers" "$work/root" "$work/console.log"
	mkdir "$work/layers" "$work/root" || return 1
	cgroup=$(cgroup2_root)/$name
	mkdir "$cgroup" || return 1
	cmd=$(printf '%q ' unshare --pid --mount --uts --ipc --net \
		--kill-child bash "$src/tests/system/boot-container.sh" \
		"$work" "$src" "$build" "$name" "$cgroup" "${1:-make}")
	SHELL=/bin/bash script -qfec "$cmd" "$work/console.log" \
		</dev/null >/dev/null 2>&1 &
	launcher=$!
	for ((i = 0; i < 300; i++)); do
		alive || return 1
		find_init &&
			[ "$(cat "/proc/$init/comm" 2>/dev/null)" = systemd ] &&
			break
		sleep 0.1
	done
	is_our_init "$init" || return 1
	for ((i = 0; i < 150; i++)); do
		state=$(in_ns systemctl is-system-running 2>/dev/null)
		case $state in
		running | degraded) return 0 ;;
		esac
		alive || return 1
		sleep 0.2
	done
	return 1
}

# --- the checks ---------------------------------------------------------

check_units_loaded() {
	local s

	s="$(prop spanheapd.service LoadState) $(prop spanheapd.socket LoadState)"
	s="$s $(prop spanheapd.service FragmentPath)"
	s="$s $(prop spanheapd.service DropInPaths)"
	echo "# spanheapd.service, .socket: $s"
	[[ $s == "loaded loaded /"*"/systemd/system/spanheapd.service \
/run/systemd/system/spanheapd.service.d/50-system-test.conf" ]]
}

# systemd warns about unknown keys and bad values when it loads a unit
# ("/lib/systemd/system/spanheapd.service:12: Unknown key ...").
check_unit_warnings() {
	! in_ns journalctl --no-pager -o cat _PID=1 |
		grep -E '/spanheapd\.(service|socket)(\.d/[^:]*)?:[0-9]+: ' |
		diag_some
}

check_sysusers() {
	local before=created pw gr uid max

	in_ns getent passwd spanheap >/dev/null && before="already there"
	in_ns systemd-sysusers 2>&1 | diag
	pw=$(in_ns getent passwd spanheap) && gr=$(in_ns getent group spanheap) ||
		return 1
	echo "# $pw ($before), group $gr"
	uid=$(echo "$pw" | cut -d: -f3)
	max=$(in_ns awk '$1 == "SYS_UID_MAX" { print $2 }' /etc/login.defs)
	[ "$uid" -le "${max:-999}" ]
}

add_test_users() {
	in_ns useradd -M -s /usr/sbin/nologin -G spanheap spantest-in &&
		in_ns useradd -M -s /usr/sbin/nologin spantest-out &&
		in_ns id spantest-in | grep -qw spanheap &&
		! in_ns id spantest-out | grep -qw spanheap
}

check_socket_started() {
	local s

	in_ns systemctl start spanheapd.socket || return 1
	s="$(prop spanheapd.socket ActiveState) $(prop spanheapd.service ActiveState)"
	s="$s $(in_ns stat -c '%A %U %G' "$sock")"
	echo "# socket, service, socket file: $s"
	[ "$s" = "active inactive srw-rw---- root spanheap" ]
}

service_running() {
	local s

	s=$(prop spanheapd.service ActiveState)/$(prop spanheapd.service SubState)
	[ "$s" = active/running ]
}

check_activation() {
	in_ns spanctl stats 2>&1 | diag || return 1
	wait_for 10 service_running
}

check_running() {
	local s

	s=$(in_ns systemctl show -p ActiveState,SubState,WatchdogUSec \
		spanheapd.service | sort | paste -sd ' ')
	echo "# $s"
	[ "$s" = "ActiveState=active SubState=running WatchdogUSec=3s" ]
}

status_line() {
	in_ns systemctl status --no-pager -n 0 spanheapd.service |
		grep -m 1 'Status: "in use '
}

check_status() {
	local line

	wait_for 5 status_line >/dev/null || return 1
	line=$(status_line)
	echo "# $line" | sed 's/  */ /g'
}

check_user() {
	local main s

	main=$(main_pid) || return 1
	s=$(in_ns ps -o user=,group=,supgrp= -p "$main")
	s=$(echo "$s" | tr -s ' ')
	echo "# MainPID $main: user, group, groups: $s"
	[ "$s" = "spanheap spanheap spanheap" ]
}

check_hardening() {
	local main s

	main=$(main_pid) || return 1
	s=$(in_ns awk '$1 ~ /^(NoNewPrivs|Seccomp|CapEff|CapBnd|CapPrm):$/ {
		printf "%s %s ", $1, $2 }' "/proc/$main/status")
	echo "# $s"
	[[ $s == *"NoNewPrivs: 1 "* && $s == *"Seccomp: 2 "* &&
		$s == *"CapEff: 0000000000000000 "* &&
		$s == *"CapBnd: 0000000000000000 "* ]]
}

check_member() {
	as_user spantest-in spanctl stats 2>&1 >/dev/null | diag
}

check_stranger() {
	local err rc

	err=$(as_user spantest-out spanctl stats 2>&1 >/dev/null)
	rc=$?
	echo "# exit $rc: $err"
	[ "$rc" = 1 ] && [[ $err == *"$sock"*"Permission denied"* ]]
}

one_client_status() {
	[[ $(prop spanheapd.service StatusText) == "in use "[1-9]*", 1 client, generation "[1-9]* ]]
}

# spanuse holds 1 MiB for 3 s: STATUS= must show it, then spanuse checks
# that the freed span left the memfd (fallocate) and exits.
check_spanuse() {
	local rc main ids

	main=$(main_pid) || main=none
	ids=$(user_ids spantest-in) || ids=--reuid=nobody
	# Not through in_ns: a function in the background is a subshell, and
	# cleanup needs the PID of timeout itself.
	# shellcheck disable=SC2086
	timeout -k 5 30 nsenter -t "$init" -a env -i PATH="$ns_path" \
		setpriv $ids --init-groups spanuse 256 3000 \
		>"$work/spanuse.out" 2>&1 &
	helper=$!
	wait_for 5 one_client_status
	check "STATUS= follows the heap while a client holds a span: \
$(prop spanheapd.service StatusText)" one_client_status
	wait "$helper"
	rc=$?
	helper=
	diag <"$work/spanuse.out"
	check "memfd_create, SCM_RIGHTS and fallocate pass the \
SystemCallFilter: spanuse as spantest-in exits 0" [ "$rc" = 0 ]
	check "the daemon stayed up through it (MainPID $main, \
NRestarts 0)" \
		[ "$(main_pid)/$(prop spanheapd.service NRestarts)" = "$main/0" ]
}

restarted() {
	local now

	now=$(prop spanheapd.service MainPID)
	[ -n "$now" ] && [ "$now" != 0 ] && [ "$now" != "$1" ] &&
		service_running
}

check_watchdog() {
	local old new t0 n sig

	if ! old=$(main_pid); then
		not_ok "watchdog: no daemon to stop"
		return
	fi
	sig=$(prop spanheapd.service WatchdogSignal)
	echo "# WatchdogSignal=$sig ($(kill -l "$sig" 2>/dev/null))"
	t0=$SECONDS
	in_ns kill -STOP "$old"
	wait_for 20 restarted "$old"
	new=$(prop spanheapd.service MainPID)
	check "watchdog: SIGSTOP on MainPID $old, restarted as $new \
and active/running again in $((SECONDS - t0)) s" restarted "$old"
	n=$(prop spanheapd.service NRestarts)
	in_ns journalctl --no-pager -o cat -u spanheapd.service |
		grep -E 'Watchdog timeout|restart counter' | diag
	check "watchdog: NRestarts=$n and the journal has the timeout" \
		eval '[ "$n" -ge 1 ] && in_ns journalctl --no-pager -o cat \
			-u spanheapd.service | grep -q "Watchdog timeout"'
	check "a client connects to the restarted daemon" \
		eval 'in_ns spanctl stats 2>&1 >/dev/null | diag'
}

# --- restarts: what systemd 252 does with the fd store -----------------

# The arena's generation, from spanctl's table.
generation() {
	in_ns spanctl stats 2>/dev/null |
		awk '$1 == "generation" { print $2 + 0 }'
}

fds_stored() {
	prop spanheapd.service NFileDescriptorStore
}

# restarted_keeping GEN: the object "kept" is intact, the generation is
# GEN and the store holds the arena and the metadata.
restarted_keeping() {
	local gen

	in_ns spanobj check kept | diag || return 1
	gen=$(generation)
	echo "# generation $gen (want $1), $(fds_stored) fds stored"
	[ "$gen" = "$1" ] && [ "$(fds_stored)" = 2 ]
}

check_restart_job() {
	local gen old

	in_ns spanobj make kept | diag || return 1
	gen=$(generation)
	echo "# generation $gen, $(fds_stored) fds stored"
	[ "$(fds_stored)" = 2 ] || return 1
	old=$(main_pid) || return 1
	in_ns systemctl restart spanheapd.service || return 1
	wait_for 10 restarted "$old" || return 1
	restarted_keeping $((gen + 1))
}

# kill -9 MainPID; Restart=on-failure starts another, which adopts.
kill_and_wait() {
	local old

	old=$(main_pid) || return 1
	in_ns kill -KILL "$old" || return 1
	wait_for 10 restarted "$old"
}

check_kill9() {
	local gen n

	gen=$(generation)
	n=$(prop spanheapd.service NRestarts)
	kill_and_wait || return 1
	echo "# NRestarts $n -> $(prop spanheapd.service NRestarts)"
	[ "$(prop spanheapd.service NRestarts)" = $((n + 1)) ] &&
		restarted_keeping $((gen + 1))
}

check_crash_loop() {
	local gen n i t0

	gen=$(generation)
	n=$(prop spanheapd.service NRestarts)
	t0=$SECONDS
	for ((i = 0; i < 10; i++)); do
		kill_and_wait || return 1
	done
	echo "# 10 kills in $((SECONDS - t0)) s: NRestarts $n -> \
$(prop spanheapd.service NRestarts), $(prop spanheapd.service ActiveState)"
	[ "$(prop spanheapd.service NRestarts)" = $((n + 10)) ] &&
		restarted_keeping $((gen + 10))
}

unit_failed() {
	[ "$(prop spanheapd.service ActiveState)" = failed ]
}

# With a start limit of 3, kills until the unit fails: it loses the
# store, and its socket fails too (service-start-limit-hit): nothing
# listens until both are reset and started.  The next start makes a new
# arena.  The drop-in goes after.
check_start_limit() {
	local dir=/run/systemd/system/spanheapd.service.d i s old

	in_ns systemctl reset-failed spanheapd.service || return 1
	in_ns sh -c "printf '[Unit]\nStartLimitBurst=3\n' \
		>$dir/60-start-limit.conf" || return 1
	in_ns systemctl daemon-reload || return 1
	echo "# after daemon-reload: $(fds_stored) fds stored, generation \
$(generation)"
	for ((i = 0; i < 8; i++)); do
		unit_failed && break
		old=$(main_pid) || break
		in_ns kill -KILL "$old"
		wait_for 10 eval 'restarted "$old" || unit_failed'
	done
	s="$(prop spanheapd.service ActiveState), $(fds_stored) fds stored"
	echo "# after $i kills: service $s (Result=$(prop spanheapd.service \
Result)); socket $(prop spanheapd.socket ActiveState) \
(Result=$(prop spanheapd.socket Result))"
	in_ns journalctl --no-pager -o cat -u spanheapd.service |
		grep 'repeated too quickly' | tail -n 1 | diag
	in_ns rm "$dir/60-start-limit.conf"
	in_ns systemctl daemon-reload
	in_ns systemctl reset-failed spanheapd.service spanheapd.socket
	[ "$s" = "failed, 0 fds stored" ] || return 1
	in_ns systemctl start spanheapd.socket spanheapd.service || return 1
	wait_for 10 service_running || return 1
	echo "# started again: generation $(generation)"
	[ "$(generation)" = 1 ] || return 1
	in_ns spanobj check kept | diag
	[ "${PIPESTATUS[0]}" = 2 ]
}

holding() {
	grep -qs "holding it" "$work/hold.out"
}

# A client holds the object while the service stops and starts.
check_stop_start() {
	local rc

	in_ns spanobj make kept | diag || return 1
	# shellcheck disable=SC2086
	timeout -k 5 30 nsenter -t "$init" -a env -i PATH="$ns_path" \
		spanobj hold kept 4000 >"$work/hold.out" 2>&1 &
	helper=$!
	wait_for 5 holding || return 1
	# It warns that the socket can still start it: so it should.
	in_ns systemctl stop spanheapd.service 2>&1 | diag
	[ "${PIPESTATUS[0]}" = 0 ] || return 1
	echo "# stopped: $(prop spanheapd.service ActiveState), \
$(fds_stored) fds stored"
	[ "$(fds_stored)" = 0 ] || return 1
	in_ns systemctl start spanheapd.service || return 1
	wait_for 10 service_running || return 1
	wait "$helper"
	rc=$?
	helper=
	diag <"$work/hold.out"
	check "systemctl stop: a client of the old arena gets \
ESTALE and its mapping still reads the object's bytes" eval \
		'[ "$rc" = 0 ] && grep -q "after the hold: Stale file handle" "$work/hold.out"'
	echo "# started again: generation $(generation), $(fds_stored) fds stored"
	[ "$(generation)" = 1 ] && [ "$(fds_stored)" = 2 ] || return 1
	in_ns spanobj check kept | diag
	[ "${PIPESTATUS[0]}" = 2 ]
}

check_stop() {
	local inv main s

	inv=$(prop spanheapd.service InvocationID)
	main=$(prop spanheapd.service MainPID)
	in_ns systemctl stop spanheapd.service spanheapd.socket || return 1
	# The test target's After= keeps both units loaded: this is the
	# state of the invocation that just stopped, not a fresh unit's.
	s=$(in_ns systemctl show -p InvocationID,ExecMainPID,Result \
		-p ExecMainCode,ExecMainStatus,ActiveState spanheapd.service |
		sort | paste -sd ' ')
	s="$s; socket $(prop spanheapd.socket ActiveState)"
	echo "# $s"
	in_ns journalctl --no-pager -o cat -u spanheapd.service -n 3 | diag
	[ "$s" = "ActiveState=inactive ExecMainCode=1 ExecMainPID=$main \
ExecMainStatus=0 InvocationID=$inv Result=success; socket inactive" ]
}

# Without D-Bus in the container systemctl says "Failed to connect to
# bus" (it asks logind first), then asks PID 1 directly.  --no-block: a
# systemctl still waiting for the job when systemd-shutdown stops and
# kills what is left of the PID namespace would hang nsenter (see in_ns),
# and systemd-shutdown would wait 90 s for it.
check_poweroff() {
	local t0=$SECONDS

	in_ns systemctl --no-block poweroff 2>&1 | diag
	[ "${PIPESTATUS[0]}" = 0 ] || return 1
	wait_for 30 eval '! alive' || return 1
	echo "# PID 1 exited after $((SECONDS - t0)) s:"
	tr -d '\r' <"$work/console.log" | tail -n 4 | diag
	wait "$launcher"
	launcher=
}

# --- the Debian packages ------------------------------------------------
# A second container with nothing of the project in it: dpkg -i of the
# .debs make deb built ($build/deb), what the packages promise, then a
# purge that leaves none of their files.

# debs: the packages' .deb files, not the -dbgsym ones; fail if none.
debs() {
	local d found=1

	for d in "$src/$build"/deb/*.deb; do
		case $d in
		*-dbgsym_*) ;;
		*) [ -e "$d" ] && echo "$d" && found=0 ;;
		esac
	done
	return $found
}

deb_install() {
	local d

	d=$(debs) || return 1
	# As boot-container.sh copied them into the container.
	d=$(for p in $d; do echo "/srv/spanheapd-debs/${p##*/}"; done)
	# A host made for containers may have a policy-rc.d that forbids
	# every start (exit 101): the overlay's copy goes, so that the
	# maintainer scripts start and stop the units as on a real machine.
	in_ns rm -f /usr/sbin/policy-rc.d || return 1
	# shellcheck disable=SC2086
	in_ns env DEBIAN_FRONTEND=noninteractive dpkg -i $d 2>&1 | diag
	[ "${PIPESTATUS[0]}" = 0 ] || return 1
	in_ns dpkg -L spanheapd libspanclient0 libspanclient-dev \
		python3-spanheap >"$work/deb-files" || return 1
	echo "# $(wc -l <"$work/deb-files") paths in the packages"
}

deb_user() {
	local pw gr

	pw=$(in_ns getent passwd spanheap) && gr=$(in_ns getent group spanheap) ||
		return 1
	echo "# $pw, group $gr"
}

deb_socket() {
	local s

	s="$(in_ns systemctl is-enabled spanheapd.socket)"
	s="$s $(prop spanheapd.socket ActiveState) $(prop spanheapd.service ActiveState)"
	s="$s $(in_ns stat -c '%A %U %G' "$sock")"
	echo "# enabled, socket, service, socket file: $s"
	[ "$s" = "enabled active inactive srw-rw---- root spanheap" ]
}

deb_start() {
	in_ns systemctl start spanheapd 2>&1 | diag
	wait_for 10 service_running
}

deb_member() {
	add_test_users && as_user spantest-in spanctl stats 2>&1 | diag
	[ "${PIPESTATUS[0]}" = 0 ]
}

# The packaged module, as a member of the group, in two processes: one
# writes a named object through numpy and exits, the other finds it by
# name and reads the bytes the first wrote.
deb_python() {
	as_user spantest-in /usr/bin/python3 -c '
import numpy, spanheap
with spanheap.connect() as c:
    o = c.create("deb-python", 1 << 20)
    numpy.frombuffer(o, dtype=numpy.uint32)[:] = 0xC0FFEE
    o.seal()
' 2>&1 | diag
	[ "${PIPESTATUS[0]}" = 0 ] || return 1
	as_user spantest-in /usr/bin/python3 -c '
import numpy, spanheap
with spanheap.connect() as c:
    with c.get("deb-python", timeout=0) as o:
        a = numpy.frombuffer(o, dtype=numpy.uint32)
        assert len(o) == 1 << 20 and (a == 0xC0FFEE).all(), "bytes differ"
        del a
    c.delete("deb-python")
    print("# read 1 MiB of another process through", spanheap.__file__)
' 2>&1 | diag
	[ "${PIPESTATUS[0]}" = 0 ]
}

# The packaged drop-in opens the unit's network to loopback: with it and
# --metrics-listen in the defaults file, the service under its real
# hardening serves /metrics.  Both are taken away again after.
deb_metrics() {
	local d=/etc/systemd/system/spanheapd.service.d port=9464 out r=0

	in_ns mkdir -p $d &&
		in_ns cp /usr/share/doc/spanheapd/examples/metrics.conf $d/ ||
		return 1
	in_ns sh -c "cp /etc/default/spanheapd /tmp/default.orig &&
		echo SPANHEAPD_OPTS=--metrics-listen=127.0.0.1:$port \
		>>/etc/default/spanheapd" || return 1
	in_ns systemctl daemon-reload && in_ns systemctl restart spanheapd &&
		wait_for 10 service_running || r=1
	if [ $r = 0 ]; then
		out=$(in_ns curl -sS -m 10 -D - http://127.0.0.1:$port/metrics)
		echo "$out" | head -3 | tr -d '\r' | diag
		echo "$out" | grep -q '^spanheap_heap_inuse_bytes ' &&
			echo "$out" | grep -qi '^content-type: text/plain; version=0.0.4' ||
			r=1
	fi
	in_ns sh -c "rm -rf $d && cp /tmp/default.orig /etc/default/spanheapd" &&
		in_ns systemctl daemon-reload && in_ns systemctl restart spanheapd ||
		r=1
	return $r
}

# Every path the packages listed is gone but the directories others
# share; the units are unknown to systemd and their symlinks gone.
deb_purge() {
	local left=0 p

	in_ns env DEBIAN_FRONTEND=noninteractive dpkg --purge \
		python3-spanheap libspanclient-dev libspanclient0 spanheapd \
		2>&1 | diag
	[ "${PIPESTATUS[0]}" = 0 ] || return 1
	while read -r p; do
		# A directory (or /lib, a link to one) is shared.
		if { in_ns test -e "$p" || in_ns test -L "$p"; } &&
			! in_ns test -d "$p"; then
			echo "# left: $p"
			left=$((left + 1))
		fi
	done <"$work/deb-files"
	for p in /run/spanheapd /etc/default/spanheapd \
		/etc/systemd/system/sockets.target.wants/spanheapd.socket; do
		if in_ns test -e "$p" || in_ns test -L "$p"; then
			echo "# left: $p"
			left=$((left + 1))
		fi
	done
	in_ns systemctl daemon-reload || return 1
	echo "# LoadState: $(prop spanheapd.socket LoadState) $(prop spanheapd.service LoadState)"
	[ "$(prop spanheapd.socket LoadState)" = not-found ] &&
		[ "$(prop spanheapd.service LoadState)" = not-found ] &&
		[ "$left" = 0 ]
}

check_debs() {
	stop_container
	remove_cgroup
	if ! debs >/dev/null; then
		not_ok "the packages: no .deb in $build/deb (run make deb)"
		return 1
	fi
	if ! boot none; then
		not_ok "boot of a container with nothing installed"
		tr -d '\r' <"$work/console.log" | diag
		return 1
	fi
	ok "boot: a second container, nothing of spanheapd installed"
	check "dpkg -i the packages" deb_install || return 1
	check "the packages' sysusers: user and group spanheap exist" deb_user
	check "spanheapd.socket is enabled and listens on $sock, mode 0660 \
group spanheap; the service waits" deb_socket
	check "systemctl start spanheapd: active/running" deb_start
	check "spanctl stats as a member of group spanheap exits 0" deb_member
	check "python3-spanheap: a numpy array shared by name between two \
processes" deb_python
	check "the packaged metrics.conf drop-in: the unit serves /metrics on \
127.0.0.1" deb_metrics
	check "dpkg --purge: no file of the packages left, the units gone" \
		deb_purge
	[ "$failed" -eq 0 ] || show_journal
	check "systemctl --no-block poweroff of the second container" \
		check_poweroff
}

# --- main ---------------------------------------------------------------

interrupted() {
	not_ok "interrupted by SIG$1"
	finish
}

trap cleanup EXIT
trap 'interrupted INT' INT
trap 'interrupted TERM' TERM
trap 'interrupted HUP' HUP

preflight || finish
work=$(mktemp -d "${TMPDIR:-/tmp}/spanheapd-system.XXXXXX") || finish
check "spanuse, the test's client, builds against $build/libspanclient.a" \
	build_client || finish

if ! boot; then
	not_ok "boot: systemd as PID 1 of new namespaces"
	echo "# boot-container.sh and PID 1 said:"
	tr -d '\r' <"$work/console.log" | diag
	[ -n "$init" ] && in_ns journalctl --no-pager -n 40 2>&1 | diag
	finish
fi
ok "boot: systemd is PID 1 of new namespaces ($(in_ns systemctl \
is-system-running)), spanheapd installed in the overlay"

check "the installed units load, with the test's WatchdogSec=3s drop-in" \
	check_units_loaded
check "systemd has no complaint about the unit files" check_unit_warnings
check "sysusers: user and group spanheap exist, a system user" \
	check_sysusers
check "test users: spantest-in in group spanheap, spantest-out not" \
	add_test_users
check "systemctl start spanheapd.socket: it listens on $sock, \
mode 0660 group spanheap; the service waits for a client" check_socket_started
check "socket activation: spanctl stats exits 0 and starts \
spanheapd.service" check_activation
check "systemctl show -p ActiveState,SubState: active/running" \
	check_running
check "systemctl status shows the daemon's STATUS= line" check_status
check "the daemon runs as user and group spanheap" check_user
check "the hardening is in force: no new privileges, a seccomp \
filter, no capabilities" check_hardening
check "a user in group spanheap connects: spanctl stats as \
spantest-in exits 0" check_member
check "a user outside the group is refused: spanctl stats as \
spantest-out exits 1 naming the socket" check_stranger
check_spanuse
check_watchdog
check_spanhold
check "systemctl restart spanheapd: a sealed object's bytes intact, \
generation + 1, the arena and the metadata in the fd store" check_restart_job
check "kill -9 of the daemon: Restart=on-failure starts one that \
adopts the arena (the object intact, generation + 1)" check_kill9
check "10 quick kill -9 in a row: 10 restarts, no start limit hit, \
the object intact, generation + 10" check_crash_loop
check "a unit that hits its start limit fails and loses the fd store: \
the next start makes a new arena" check_start_limit
check "systemctl stop then start: the fd store is emptied, a new \
arena (generation 1, the object gone)" check_stop_start
check "systemctl stop spanheapd.service spanheapd.socket: \
Result=success, ExecMainCode=exited, ExecMainStatus=0" check_stop
check "the daemon logged no warning or error" eval \
	'! in_ns journalctl --no-pager -o cat -p warning _COMM=spanheapd | diag_some'
[ "$failed" -eq 0 ] || show_journal
check "systemctl --no-block poweroff: PID 1 exits and takes the \
namespaces along" check_poweroff
check_debs
stop_container
remove_cgroup
check "the test's cgroup is removed" [ ! -d "$cgroup" ]
finish
