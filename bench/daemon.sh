#!/usr/bin/env bash
# The session daemon against LTTng's, in the same run (issue 13). Runs in a
# private mount namespace whose /var/run/lttng is an empty tmpfs, so that
# the LTTng session daemon measured is this script's own (started and
# stopped here) and "no daemon" really means none, whatever else runs on
# the machine; ringtrace's daemon runs in a private RINGTRACE_RUNDIR.
# Every figure is the median of BENCH_REPS runs (5), the two tracers
# alternating; BENCH lines give both values and their ratio (LTTng over
# ringtrace: > 1 means ringtrace is cheaper/faster). The programs are
# bench/lttng/bench_loop.c built for each tracer (one event, one u64).
#   event.N_sessions  ns/event with the event enabled in 1 and in 3 sessions
#                     (discard channels, 4 MiB x 8 sub-buffers per CPU)
#   filtered          ns/event of an event every session's filter rejects
#                     (the same expression: value > 1e12)
#   event.per_user    ns/event in 1 session with ringtrace's per-user buffers
#                     (enable-channel --buffers-uid, daemon.md §9) against
#                     LTTng's (its default for -u channels); .2_programs: two
#                     programs at once, per-process and per-user buffers
#                     (mean of the two programs' ns/event)
#   startup.*         wall time of a traced program that emits one event:
#                     no daemon, a daemon without session, an active session
#                     (minus /bin/true's, so roughly what the tracer adds)
#   control.*         start / snapshot record / stop of a snapshot session
#                     with BENCH_PROGS (50) traced programs, command wall time;
#                     .per_user: the session's channel with --buffers-uid
#                     (one set of buffers, as LTTng's default per-uid ones)
# BENCH_DAEMON_PARTS=event stops after the per-event figures.
# Needs $BUILD/bin/{ringtrace,ringtraced,bench_rtr_loop,bench_lttng_loop},
# lttng and lttng-sessiond, root (the namespace), unshare.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
if [[ -z "${RTR_BENCH_NS:-}" ]]; then
	[[ $(id -u) -eq 0 ]] || { echo "daemon.sh: needs root (private mount namespace)"; exit 0; }
	command -v lttng-sessiond >/dev/null && command -v unshare >/dev/null ||
		{ echo "daemon.sh: lttng-tools or unshare missing; run make deps"; exit 0; }
	exec unshare -m --propagation private env RTR_BENCH_NS=1 bash "$0" "$@"
fi
mount -t tmpfs none /var/run/lttng 2>/dev/null || { mkdir -p /var/run/lttng && mount -t tmpfs none /var/run/lttng; }

N=${BENCH_EVENTS:-2000000}
REPS=${BENCH_REPS:-5}
PROGS=${BENCH_PROGS:-50}
STARTS=${BENCH_STARTS:-40}
RT=$(realpath "$BUILD/bin/ringtrace")
RLOOP=$(realpath "$BUILD/bin/bench_rtr_loop")
LLOOP=$(realpath "$BUILD/bin/bench_lttng_loop")
for f in "$RT" "$RLOOP" "$LLOOP"; do [[ -x "$f" ]] || { echo "daemon.sh: $f missing (make build)"; exit 1; }; done
WORK=$(mktemp -d /tmp/rtr-bench-daemon.XXXXXX)
export RINGTRACE_RUNDIR=$WORK/rtrun HOME=$WORK/home LTTNG_HOME=$WORK/home
mkdir -p "$RINGTRACE_RUNDIR" "$HOME"
IDLE=()
lsd=""

rtr_daemon_pid() { cat "$RINGTRACE_RUNDIR/daemon.lock" 2>/dev/null | tr -d '\n'; }
stop_pid() { # pid: TERM, then KILL after 5 s
	local p=$1
	[[ -n "$p" ]] && kill -0 "$p" 2>/dev/null || return 0
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.05; done
	kill -KILL "$p" 2>/dev/null || true
}
lttng_stop() {
	[[ -n "$lsd" ]] && stop_pid "$lsd"
	lsd=""
	pkill_own_consumerd
}
# consumerd children of our sessiond exit with it; any left are ours (this
# namespace's /var/run/lttng): found by their socket path, stopped by pid
pkill_own_consumerd() {
	local p
	for p in $(pgrep -x lttng-consumerd || true); do
		[[ -e /proc/$p/root ]] || continue
		if tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "--consumerd-cmd-sock /var/run/lttng/" &&
			[[ "$(readlink "/proc/$p/ns/mnt")" == "$(readlink /proc/self/ns/mnt)" ]]; then
			stop_pid "$p"
		fi
	done
}
cleanup() {
	for p in "${IDLE[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${IDLE[@]}"; do wait "$p" 2>/dev/null || true; done
	stop_pid "$(rtr_daemon_pid)"
	lttng_stop
	umount /var/run/lttng 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

lttng_start() {
	lttng-sessiond --daemonize --no-kernel >/dev/null 2>&1
	for _ in $(seq 100); do lttng list >/dev/null 2>&1 && break; sleep 0.05; done
	lsd=$(cat /var/run/lttng/lttng-sessiond.pid)
}
rtr_start() { "$RT" daemon >/dev/null 2>&1 || "$RT" list >/dev/null 2>&1; }

. bench/lib.sh
bench() { # name rtr lttng unit
	echo "BENCH daemon.$1.ringtrace $2 $4"
	echo "BENCH daemon.$1.lttng $3 $4"
	echo "BENCH daemon.$1.lttng_over_ringtrace $(ratio "$3" "$2") x"
}
us_of() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1e6 }'; }

# ---- per-event cost: 1 and 3 sessions, and a filter that rejects ----
rtr_sessions() { # n filter [channel option]
	local k
	for k in $(seq 1 "$1"); do
		"$RT" create b$k -o "$WORK/out-rt$k" >/dev/null
		"$RT" enable-channel -s b$k --subbuf-size 4M --num-subbuf 8 ${3:-} c >/dev/null
		if [[ -n "$2" ]]; then "$RT" enable-event -s b$k -c c benchrt:tick --filter "$2" >/dev/null
		else "$RT" enable-event -s b$k -c c benchrt:tick >/dev/null; fi
		"$RT" start b$k >/dev/null
	done
}
rtr_end() { local k; for k in $(seq 1 "$1"); do "$RT" destroy b$k >/dev/null; done; rm -rf "$WORK"/out-rt*; }
lt_sessions() { # n filter
	local k
	for k in $(seq 1 "$1"); do
		lttng create l$k --output="$WORK/out-lt$k" >/dev/null
		lttng enable-channel -u -s l$k --discard --subbuf-size 4M --num-subbuf 8 c >/dev/null
		if [[ -n "$2" ]]; then lttng enable-event -u -s l$k -c c benchlt:tick --filter "$2" >/dev/null
		else lttng enable-event -u -s l$k -c c benchlt:tick >/dev/null; fi
		lttng start l$k >/dev/null
	done
}
lt_end() { local k; for k in $(seq 1 "$1"); do lttng destroy l$k >/dev/null; done; rm -rf "$WORK"/out-lt*; }
ns_of() { awk '/^ns_per_event/ {print $2}'; }
two() { # loop: two programs at once, the mean of their ns/event
	"$1" "$N" 1 | ns_of >"$WORK/two.a" & local a=$!
	"$1" "$N" 1 | ns_of >"$WORK/two.b"
	wait $a
	awk '{s += $1} END {printf "%.3f", s / NR}' "$WORK/two.a" "$WORK/two.b"
}

rtr_start
lttng_start
FILTER='value > 1000000000000'
declare -A R
for rep in $(seq "$REPS"); do
	for n in 1 3; do
		rtr_sessions $n ""; R[rtr.$n]+="$("$RLOOP" "$N" 1 | ns_of) "; rtr_end $n
		lt_sessions $n ""; R[lt.$n]+="$("$LLOOP" "$N" 1 | ns_of) "; lt_end $n
	done
	rtr_sessions 1 "$FILTER"; R[rtr.f]+="$("$RLOOP" "$N" 1 | ns_of) "; rtr_end 1
	lt_sessions 1 "$FILTER"; R[lt.f]+="$("$LLOOP" "$N" 1 | ns_of) "; lt_end 1
	rtr_sessions 1 "" --buffers-uid; R[rtr.u]+="$("$RLOOP" "$N" 1 | ns_of) "
	R[rtr.u2]+="$(two "$RLOOP") "; rtr_end 1
	rtr_sessions 1 ""; R[rtr.p2]+="$(two "$RLOOP") "; rtr_end 1
	lt_sessions 1 ""; R[lt.u2]+="$(two "$LLOOP") "; lt_end 1
done
m() { tr ' ' '\n' <<<"${R[$1]}" | grep . | median; }
bench event.1_session "$(m rtr.1)" "$(m lt.1)" ns/event
bench event.3_sessions "$(m rtr.3)" "$(m lt.3)" ns/event
echo "BENCH daemon.event.3_over_1.ringtrace $(ratio "$(m rtr.3)" "$(m rtr.1)") x"
echo "BENCH daemon.event.3_over_1.lttng $(ratio "$(m lt.3)" "$(m lt.1)") x"
bench filtered_out "$(m rtr.f)" "$(m lt.f)" ns/event
bench event.per_user "$(m rtr.u)" "$(m lt.1)" ns/event
bench event.per_user.2_programs "$(m rtr.u2)" "$(m lt.u2)" ns/event
bench event.per_process.2_programs "$(m rtr.p2)" "$(m lt.u2)" ns/event
echo "BENCH daemon.event.per_user_over_per_process.ringtrace $(ratio "$(m rtr.u)" "$(m rtr.1)") x"
echo "BENCH daemon.event.per_user_over_per_process.2_programs.ringtrace $(ratio "$(m rtr.u2)" "$(m rtr.p2)") x"
[[ "${BENCH_DAEMON_PARTS:-}" == event ]] && exit 0

# ---- start-up: no daemon, a daemon without session, an active session ----
one_run() { # program -> seconds of wall time
	local t0=$EPOCHREALTIME
	"$@" >/dev/null
	awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f\n", b - a }'
}
starts() { # label: STARTS runs of each, alternating
	local i
	R[st.true]="" R[st.rtr]="" R[st.lt]=""
	for i in $(seq "$STARTS"); do
		R[st.true]+="$(one_run /bin/true) "
		R[st.rtr]+="$(one_run "$RLOOP" once) "
		R[st.lt]+="$(one_run "$LLOOP" once) "
	done
	local t; t=$(m st.true)
	bench "startup.$1" "$(us_of "$t" "$(m st.rtr)")" "$(us_of "$t" "$(m st.lt)")" us
}
stop_pid "$(rtr_daemon_pid)"
lttng_stop
starts no_daemon
rtr_start
lttng_start
starts daemon_no_session
rtr_sessions 1 ""
lt_sessions 1 ""
starts active_session
rtr_end 1
lt_end 1

# ---- control latency with PROGS traced programs ----
for i in $(seq "$PROGS"); do
	"$RLOOP" idle & IDLE+=($!)
	"$LLOOP" idle & IDLE+=($!)
done
for _ in $(seq 400); do
	[[ $("$RT" list 2>/dev/null | grep -c 'bench_rtr_loop') -ge $PROGS ]] && break; sleep 0.05
done
for _ in $(seq 400); do
	[[ $(lttng list -u 2>/dev/null | grep -c 'PID: .* - Name: .*bench_lttng_loop') -ge $PROGS ]] && break; sleep 0.05
done
echo "traced programs: ringtrace $("$RT" list | grep -c bench_rtr_loop), LTTng $(lttng list -u | grep -c 'Name: .*bench_lttng_loop')"
timed() { local t0=$EPOCHREALTIME; "$@" >/dev/null; awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", (b - a) * 1e3 }'; }
for rep in $(seq "$REPS"); do
	"$RT" create fr -o "$WORK/rfr" --snapshot >/dev/null
	"$RT" enable-event -s fr benchrt:tick >/dev/null
	R[c.rtr.start]+="$(timed "$RT" start fr) "
	R[c.rtr.snap]+="$(timed "$RT" snapshot record -s fr) "
	R[c.rtr.stop]+="$(timed "$RT" stop fr) "
	"$RT" destroy fr >/dev/null
	# per-user buffers (LTTng's default for -u): one set for the 50
	"$RT" create fu -o "$WORK/rfu" --snapshot >/dev/null
	"$RT" enable-channel -s fu --buffers-uid c >/dev/null
	"$RT" enable-event -s fu -c c benchrt:tick >/dev/null
	R[c.rtu.start]+="$(timed "$RT" start fu) "
	R[c.rtu.snap]+="$(timed "$RT" snapshot record -s fu) "
	R[c.rtu.stop]+="$(timed "$RT" stop fu) "
	"$RT" destroy fu >/dev/null
	lttng create lfr --snapshot --output="$WORK/lfr" >/dev/null
	lttng enable-event -u -s lfr benchlt:tick >/dev/null
	R[c.lt.start]+="$(timed lttng start lfr) "
	R[c.lt.snap]+="$(timed lttng snapshot record -s lfr) "
	R[c.lt.stop]+="$(timed lttng stop lfr) "
	lttng destroy lfr >/dev/null
	rm -rf "$WORK/rfr" "$WORK/rfu" "$WORK/lfr"
done
for c in start snap stop; do
	bench "control_${PROGS}_programs.$c" "$(m c.rtr.$c)" "$(m c.lt.$c)" ms
	bench "control_${PROGS}_programs.per_user.$c" "$(m c.rtu.$c)" "$(m c.lt.$c)" ms
done
echo "(machine shared with other jobs: figures are noisy; ratios come from interleaved runs)"
