#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The first process of the system test's namespaces: check-system.sh runs
# it as PID 1 of fresh PID, mount, UTS, IPC and network namespaces
# (unshare).  It moves itself into the test's cgroup and makes that the
# root of a new cgroup namespace, so that systemd finds nothing but itself
# in its cgroup tree.  Then it builds a root in which the host is
# read-only and every write lands in a tmpfs, installs the project there,
# and becomes systemd.
#
#   /              overlay: lower /, upper on a tmpfs of this mount namespace
#   /proc          fresh, for this PID namespace; /proc/sys read-only
#   /sys           read-only; cgroup2 on /sys/fs/cgroup (the test's cgroup
#                  is its root)
#   /dev           tmpfs with a few nodes, devpts, shm, mqueue, and our
#                  terminal (check-system's script(1) pty) as the console
#   /run, /tmp     tmpfs
#
# Nothing here is visible outside: every mount belongs to this mount
# namespace and goes when its last process does.  /proc/sys and /sys are
# read-only so that no sysctl written by systemd (kernel.core_pattern,
# fs.nr_open, ...) reaches the host, and systemd gets no capability to
# load modules, set the clock or reboot.
#
# Usage: boot-container.sh WORKDIR SRCDIR BUILDDIR NAME CGROUP [INSTALL]
#   WORKDIR  holds layers/ and root/ (empty directories), spanuse and
#            spanobj
#   SRCDIR   the source tree; `make install` runs there
#   BUILDDIR its build directory, relative to SRCDIR (spanhold is in
#            its tests/system/)
#   NAME     the hostname and $container value
#   CGROUP   the test's cgroup, a directory of the host's cgroup2 hierarchy
#   INSTALL  make (the default): make install the project into the
#            overlay, with test options in /etc/default/spanheapd;
#            none: install nothing of it, for the test's dpkg -i
set -euo pipefail

die() {
	echo "boot-container: $*" >&2
	exit 1
}

# First into the cgroup, then a cgroup namespace rooted there.  The same
# script goes on as PID 1 of it.
if [ "${1-}" = --in-cgroup ]; then
	shift
else
	[ "$$" = 1 ] || die "not PID 1 of a new PID namespace"
	echo 0 >"$5/cgroup.procs"
	exec unshare --cgroup bash "$0" --in-cgroup "$@"
fi

work=$1 src=$2 build=$3 name=$4 install_mode=${6:-make}
root=$work/root
layers=$work/layers

# Nothing mounted from here on may propagate to the host.
mount --make-rprivate /

mount -t tmpfs -o mode=0755 tmpfs "$layers"
mkdir "$layers/upper" "$layers/work"
mount -t overlay overlay \
	-o "lowerdir=/,upperdir=$layers/upper,workdir=$layers/work" "$root"
[ "$(findmnt -n -o FSTYPE --mountpoint "$root")" = overlay ] ||
	die "no overlay on $root"

mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
for p in sys sysrq-trigger; do
	[ -e "$root/proc/$p" ] || continue
	mount --bind "$root/proc/$p" "$root/proc/$p"
	mount -o remount,bind,ro "$root/proc/$p"
done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$root/sys/fs/cgroup"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/tmp"

mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
while read -r node major minor; do
	mknod -m 0666 "$root/dev/$node" c "$major" "$minor"
done <<-EOF
	null 1 3
	zero 1 5
	full 1 7
	random 1 8
	urandom 1 9
	tty 5 0
EOF
mkdir -m 0755 "$root/dev/pts"
mkdir -m 1777 "$root/dev/shm" "$root/dev/mqueue"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,nosuid,noexec \
	devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
mount -t mqueue -o nosuid,nodev,noexec mqueue "$root/dev/mqueue"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
# PID 1 logs to /dev/console: our terminal, if check-system gave us one.
if console=$(tty); then
	touch "$root/dev/console"
	mount --bind "$console" "$root/dev/console"
fi

# The project, installed the way a user would, into the overlay.
if [ "$install_mode" = make ]; then
	make -s -C "$src" BUILD="$build" install DESTDIR="$root" PREFIX=/usr ||
		die "make install failed"
fi
# The packages, for check-system to dpkg -i: copied in, since the host
# path may be under /tmp, which is the container's own tmpfs.
if [ "$install_mode" = none ]; then
	mkdir -p "$root/srv/spanheapd-debs"
	cp "$src/$build"/deb/*.deb "$root/srv/spanheapd-debs/" ||
		die "no .deb in $src/$build/deb"
fi
install -m 0755 "$work/spanuse" "$root/usr/local/bin/spanuse"
install -m 0755 "$src/$build/tests/system/spanhold" \
	"$root/usr/local/bin/spanhold"
install -m 0755 "$work/spanobj" "$root/usr/local/bin/spanobj"

# A machine of its own: its journal is the only one journalctl shows.
tr -d - </proc/sys/kernel/random/uuid >"$root/etc/machine-id"
echo "$name" >"$root/etc/hostname"
hostname "$name"

# Fast scavenger ticks (STATUS= every 0.5 s) and a small arena.  The
# package's own conffile is left alone: dpkg would ask about a changed one.
if [ "$install_mode" = make ]; then
	cat >"$root/etc/default/spanheapd" <<-EOF
		SPANHEAPD_OPTS="--scavenge-after=1s --gc-after=1s --arena-size=4G"
	EOF
fi

mkdir -p "$root/run/systemd/system/spanheapd.service.d"
# Only journald at boot.  After= keeps the spanheapd units loaded while
# this target is active, so their Result, ExecMainStatus and NRestarts
# can still be read once they are stopped.
cat >"$root/run/systemd/system/spanheapd-test.target" <<-EOF
	[Unit]
	Description=spanheapd system test
	DefaultDependencies=no
	Wants=systemd-journald.service
	After=systemd-journald.service spanheapd.service spanheapd.socket
EOF
# The only change to the unit under test: a watchdog the test can wait
# for.  Its SIGABRT makes a core dump; a pipe in kernel.core_pattern
# would hand that to the host's crash handler, outside every namespace.
dropin=$root/run/systemd/system/spanheapd.service.d/50-system-test.conf
printf '[Service]\nWatchdogSec=3s\n' >"$dropin"
case $(cat /proc/sys/kernel/core_pattern) in
'|'*) echo WatchdogSignal=SIGKILL >>"$dropin" ;;
esac

cd "$root"
pivot_root . .
umount -l .
cd /

caps=-sys_module,-sys_time,-wake_alarm,-sys_boot,-syslog,-sys_rawio
exec env -i container="$name" \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	setpriv --bounding-set="$caps" \
	/lib/systemd/systemd --unit=spanheapd-test.target
