# Shared by the session daemon's integration tests (sourced): a private run
# directory and HOME, the binaries, processes started by the test tracked by
# pid and stopped at exit whatever happens, babeltrace2 helpers.
# Usage: . lib.sh; needs RT (ringtrace), APP (dmn_app) in the environment.
set -u
: "${RT:?}" "${APP:?}"
WORK=$(mktemp -d /tmp/rtr-daemon-it.XXXXXX)
export RINGTRACE_RUNDIR=$WORK/run
export HOME=$WORK/home
mkdir -p "$RINGTRACE_RUNDIR" "$HOME"
PIDS=""
FAILS=0

daemon_pid() { cat "$RINGTRACE_RUNDIR/daemon.lock" 2>/dev/null | tr -d '\n'; }

cleanup() {
	local rc=$?
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	local d; d=$(daemon_pid)
	if [ -n "$d" ] && kill -0 "$d" 2>/dev/null; then
		kill -TERM "$d" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$d" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$d" 2>/dev/null
	fi
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	if [ "$FAILS" -eq 0 ] && [ "$rc" -eq 0 ]; then rm -rf "$WORK"; else
		echo "(work directory kept: $WORK)"; cat "$RINGTRACE_RUNDIR/daemon.log" 2>/dev/null | tail -30; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
check_eq() { # what expected got
	if [ "$2" != "$3" ]; then fail "$1: expected $2, got $3"; else echo "ok: $1 = $3"; fi
}
bg() { "$@" & PIDS="$PIDS $!"; LAST=$!; }
# waits for pid (at most $2 s, default 60); returns its status
wait_pid() {
	local p=$1 t=${2:-60} i=0
	while kill -0 "$p" 2>/dev/null; do
		i=$((i + 1)); [ $i -gt $((t * 20)) ] && { fail "pid $p still runs after ${t}s"; kill -KILL "$p"; break; }
		sleep 0.05
	done
	wait "$p" 2>/dev/null
}
# waits until CMD's output matches regex RE (at most 30 s)
wait_for() {
	local re=$1; shift
	for _ in $(seq 600); do "$@" 2>/dev/null | grep -Eq "$re" && return 0; sleep 0.05; done
	fail "timed out waiting for '$re' in: $*"; "$@"; return 1
}
# babeltrace2 DIR: the events, one per line (fails the test on an error)
bt() {
	local out
	out=$(babeltrace2 "$1" 2>"$WORK/bt.err") || { fail "babeltrace2 $1: $(head -3 "$WORK/bt.err")"; return 1; }
	printf '%s\n' "$out"
}
bt_count() { bt "$1" | grep -c -- "$2"; }

# The count a dmn_app side file holds (the program rewrites it every 1000
# events: a read can meet it empty, so read until it holds a number).
count() {
	local c
	for _ in $(seq 200); do
		c=$(cat "$1" 2>/dev/null)
		[ -n "$c" ] && [ "$c" -ge 0 ] 2>/dev/null && { echo "$c"; return; }
		sleep 0.01
	done
	echo 0
}
# waits until every side file given counts at least $1 (60 s at most)
wait_counts() {
	local n=$1 s ok; shift
	for _ in $(seq 1200); do
		ok=1
		for s in "$@"; do [ "$(count "$s")" -ge "$n" ] || ok=0; done
		[ $ok = 1 ] && return 0
		sleep 0.05
	done
	fail "side files $* did not reach $n"
	return 1
}
