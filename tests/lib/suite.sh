#!/bin/sh
# SPDX-License-Identifier: MIT
#
# How make check runs a suite and adds them up.
#
#   suite.sh run STAMP NAME COMMAND...
#	Run COMMAND with its output in STAMP's .log and print one line:
#	"PASS NAME (N checks)", or "FAIL NAME (N checks, K failed)" and
#	the failing lines.  On success STAMP gets "N 0"; on failure the
#	.fail file beside it gets "N K" and the exit status is 1, or 0
#	with SUITE_KEEP_GOING=1 (make check: the summary tells).
#
#   suite.sh summary DIR NAME...
#	Print "S suites, N checks, K failed" over the results in DIR of
#	the suites NAME..., naming those that failed or did not run;
#	exit 1 unless every one passed.
#
# A suite's count is read from its output: check's "Checks: N,
# Failures: F, Errors: E", a script's "N passed, M failed" or a fuzz
# replay's "N inputs passed".  A suite that exits non-zero with no
# count, or with none failed, counts one failure.

run() {
	stamp=$1 name=$2
	shift 2
	base=${stamp%.ok}
	log=$base.log
	rm -f "$stamp" "$base.fail"
	"$@" >"$log" 2>&1
	rc=$?
	counts=$(awk 'BEGIN { n = 0; k = 0 }
		/^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+/ {
			gsub(/[^0-9 ]/, " "); split($0, f, " +")
			n += f[2]; k += f[3] + f[4] }
		/^[0-9]+ passed, [0-9]+ failed$/ { n += $1 + $3; k += $3 }
		/: [0-9]+ inputs passed$/ { n += $(NF - 2) }
		END { print n, k }' "$log")
	n=${counts% *} k=${counts#* }
	if [ "$rc" = 0 ] && [ "$k" = 0 ]; then
		echo "$n 0" >"$stamp"
		echo "PASS $name ($n checks)"
		return 0
	fi
	[ "$k" = 0 ] && k=1
	echo "$n $k" >"$base.fail"
	echo "FAIL $name ($n checks, $k failed, exit status $rc; log in $log)"
	# check's failure lines, a script's "not ok" and "# " ones; else
	# the end of the log.
	lines=$(grep -E '^[^ :]+:[0-9]+:[EF]:|^not ok|^# ' "$log")
	if [ -n "$lines" ]; then
		echo "$lines" | head -n 40 | sed 's/^/    /'
	else
		tail -n 20 "$log" | sed 's/^/    /'
	fi
	[ "${SUITE_KEEP_GOING:-}" = 1 ]
}

summary() {
	dir=$1
	shift
	suites=0 checks=0 failed=0 bad= missing=
	for name in "$@"; do
		if [ -f "$dir/$name.ok" ]; then
			read -r n k <"$dir/$name.ok"
		elif [ -f "$dir/$name.fail" ]; then
			read -r n k <"$dir/$name.fail"
			bad="$bad $name"
		else
			missing="$missing $name"
			continue
		fi
		suites=$((suites + 1))
		checks=$((checks + n))
		failed=$((failed + k))
	done
	line="$suites suites, $checks checks, $failed failed"
	[ -n "$bad" ] && line="$line:$bad"
	[ -n "$missing" ] && line="$line; not run (see above):$missing"
	echo "$line"
	[ -z "$bad" ] && [ -z "$missing" ]
}

cmd=$1
shift
case $cmd in
run) run "$@" ;;
summary) summary "$@" ;;
*)
	echo "usage: $0 run STAMP NAME COMMAND... | summary DIR NAME..." >&2
	exit 2
	;;
esac
