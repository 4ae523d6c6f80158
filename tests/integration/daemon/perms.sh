#!/bin/bash
# Who a session daemon traces and who may control it (issue 13,
# docs/design/daemon.md §1), with two users created here (needs root):
#   1. user A's daemon: run directory 0700, sockets 0600; even when they
#      are opened to everyone (root's chmod), user B's program is refused
#      by its peer credentials and not traced, and B's control command is
#      refused with a clear error, while A's own program is traced.
#   2. root's daemon: a session created with --uid A records A's program
#      and not B's; one created without --uid records only root's.
#   3. root's daemon, per-user buffers for A and B: one trace per user,
#      each holding only that user's program.
# Counted through babeltrace2. The binaries run from copies every user can
# reach (the build tree may sit under a 0700 folder).
. "$(dirname "$0")/lib.sh"
: "${EVIL:?}"
[ "$(id -u)" -eq 0 ] || { echo "SKIPPED: needs root (creates two users)"; exit 77; }
command -v setpriv >/dev/null || { echo "SKIPPED: no setpriv"; exit 77; }
chmod 755 "$WORK"

# Two users: created with useradd (removed at exit); numeric uids nobody
# uses where useradd is not available.
USERS_MADE=""
make_user() { # name fallback-uid -> MU (uid), MG (gid)
	if useradd -M -N -g nogroup -s /usr/sbin/nologin -d /nonexistent "$1" >/dev/null 2>&1; then
		USERS_MADE="$USERS_MADE $1"
		MU=$(id -u "$1") MG=$(id -g "$1")
	else
		MU=$2 MG=$2
	fi
}
user_cleanup() { # after every process of the users is gone (userdel refuses before)
	local u
	for u in $USERS_MADE; do
		pkill -KILL -u "$u" 2>/dev/null
		for _ in $(seq 100); do pgrep -u "$u" >/dev/null || break; sleep 0.05; done
		userdel "$u" >/dev/null 2>&1 || echo "warning: could not remove test user $u"
	done
}
trap 'rc=$?; (exit $rc); cleanup; user_cleanup' EXIT
make_user "rtrpa$$" 61001 && UA=$MU GA=$MG
make_user "rtrpb$$" 61002 && UB=$MU GB=$MG
[ "$UA" != "$UB" ] || { fail "two distinct test uids"; exit 1; }
echo "users: A uid $UA, B uid $UB"

BIN=$WORK/bin
mkdir -p "$BIN"
cp "$RT" "$(dirname "$RT")/ringtraced" "$APP" "$EVIL" "$BIN/" || { fail "copy binaries"; exit 1; }
for lib in $(ldd "$RT" "$APP" | awk '/libringtrace/ { print $3 }' | sort -u); do
	cp "$lib" "$BIN/" || fail "copy $lib"
done
chmod -R a+rX "$BIN"
URT=$BIN/ringtrace UAPP=$BIN/$(basename "$APP")

for u in "$UA:$GA" "$UB:$GB"; do
	mkdir -p "$WORK/home-${u%%:*}" && chown "$u" "$WORK/home-${u%%:*}"
done
# as UID GID RUNDIR cmd...: runs cmd as that user, with its own HOME
as() {
	local uid=$1 gid=$2 run=$3
	shift 3
	setpriv --reuid="$uid" --regid="$gid" --clear-groups -- \
		env HOME="$WORK/home-$uid" RINGTRACE_RUNDIR="$run" LD_LIBRARY_PATH="$BIN" "$@"
}
# runs a program as a user in the background (tracked: setpriv and env
# exec, so $! is the program's pid), waits for it
app_as() { # uid gid rundir N -> pid in APID
	setpriv --reuid="$1" --regid="$2" --clear-groups -- \
		env HOME="$WORK/home-$1" RINGTRACE_RUNDIR="$3" LD_LIBRARY_PATH="$BIN" "$UAPP" run "$4" &
	APID=$!
	PIDS="$PIDS $APID"
	wait_pid "$APID"
}

# ---- 1. user A's daemon ----
mkdir -p "$WORK/a" && chown "$UA:$GA" "$WORK/a"
ARUN=$WORK/a/run
AOUT=$WORK/a/out
as "$UA" "$GA" "$ARUN" "$URT" create s -o "$AOUT" >"$WORK/a.create" 2>&1 || fail "A: create: $(cat "$WORK/a.create")"
ADAEMON=$(cat "$ARUN/daemon.lock" 2>/dev/null | tr -d '\n')
[ -n "$ADAEMON" ] && PIDS="$PIDS $ADAEMON"
check_eq "A's daemon runs as A" "$UA" "$(stat -c %u "/proc/$ADAEMON" 2>/dev/null)"
as "$UA" "$GA" "$ARUN" "$URT" enable-event -s s 'dmn:*' >/dev/null || fail "A: enable-event"
as "$UA" "$GA" "$ARUN" "$URT" start s >/dev/null || fail "A: start"
check_eq "A's run directory mode" 700 "$(stat -c %a "$ARUN")"
check_eq "A's program socket mode" 600 "$(stat -c %a "$ARUN/app.sock")"
check_eq "A's control socket mode" 600 "$(stat -c %a "$ARUN/ctl.sock")"

app_as "$UA" "$GA" "$ARUN" 50
PA=$APID
# opened to everyone: only peer credentials stand between B and A's daemon
chmod 755 "$ARUN" && chmod 666 "$ARUN/app.sock" "$ARUN/ctl.sock"
# B's program does not even talk to a daemon of another user (it checks
# the daemon's credentials too); a program that ignores that (the hostile
# suite's raw client: HELLO, then silence) is refused by A's daemon.
app_as "$UB" "$GB" "$ARUN" 30
PB=$APID
setpriv --reuid="$UB" --regid="$GB" --clear-groups -- \
	env RINGTRACE_HOST_SOCKET="$ARUN/app.sock" "$BIN/$(basename "$EVIL")" noanswer 20 &
PE=$!
PIDS="$PIDS $PE"
wait_for "process $PE \(.*\) not traced: another user" cat "$ARUN/daemon.log"
kill -KILL "$PE" 2>/dev/null
wait "$PE" 2>/dev/null
as "$UB" "$GB" "$ARUN" "$URT" list >"$WORK/b.list" 2>&1 && fail "B controlled A's daemon: $(cat "$WORK/b.list")"
grep -q "belongs to another user" "$WORK/b.list" || fail "B's refusal says why: $(cat "$WORK/b.list")"
as "$UA" "$GA" "$ARUN" "$URT" stop s >/dev/null || fail "A: stop"
as "$UA" "$GA" "$ARUN" "$URT" destroy s >/dev/null || fail "A: destroy"
check_eq "A's program traced (ticks)" 50 "$(bt_count "$AOUT/dmn_app-$PA" 'dmn:tick')"
[ -e "$AOUT/dmn_app-$PB" ] && fail "B's program has a trace in A's session"
check_eq "A's session holds only A's program" 1 "$(ls "$AOUT" | grep -c '^dmn_app-')"
grep -q "refused a control connection from uid $UB" "$ARUN/daemon.log" || fail "A's daemon log names B's control refusal"

# ---- 2. root's daemon (lib.sh's run directory) ----
R1=$WORK/r1 R2=$WORK/r2
$RT create r1 -o "$R1" --uid "$UA" >/dev/null 2>&1 || fail "root: create r1 --uid A"
$RT create r2 -o "$R2" >/dev/null 2>&1 || fail "root: create r2"
for s in r1 r2; do
	$RT enable-event -s $s 'dmn:*' >/dev/null || fail "root: enable-event $s"
	$RT start $s >/dev/null || fail "root: start $s"
done
check_eq "root's program socket mode" 666 "$(stat -c %a "$RINGTRACE_RUNDIR/app.sock")"
app_as "$UA" "$GA" "$RINGTRACE_RUNDIR" 40
QA=$APID
app_as "$UB" "$GB" "$RINGTRACE_RUNDIR" 20
QB=$APID
"$APP" run 10 & QR=$!; PIDS="$PIDS $QR"; wait_pid $QR
for s in r1 r2; do
	$RT stop $s >/dev/null || fail "root: stop $s"
	$RT destroy $s >/dev/null || fail "root: destroy $s"
done
check_eq "r1 (--uid A): A's ticks" 40 "$(bt_count "$R1/dmn_app-$QA" 'dmn:tick')"
check_eq "r1 (--uid A): programs" 1 "$(ls "$R1" | grep -c '^dmn_app-')"
check_eq "r2 (no --uid): root's ticks" 10 "$(bt_count "$R2/dmn_app-$QR" 'dmn:tick')"
check_eq "r2 (no --uid): programs" 1 "$(ls "$R2" | grep -c '^dmn_app-')"
[ -e "$R1/dmn_app-$QB" ] || [ -e "$R2/dmn_app-$QB" ] && fail "B's program traced by a root session that did not name B"

# ---- 3. root's daemon, per-user buffers of two users (daemon.md §9.6):
# one set of buffers per user, each user's trace holds only its programs
R3=$WORK/r3
$RT create r3 -o "$R3" --uid "$UA" --uid "$UB" >/dev/null 2>&1 || fail "root: create r3 --uid A --uid B"
$RT enable-channel -s r3 --buffers-uid c >/dev/null || fail "root: enable-channel --buffers-uid"
$RT enable-event -s r3 -c c 'dmn:*' >/dev/null || fail "root: enable-event r3"
$RT add-context -s r3 -c c -t vpid >/dev/null || fail "root: add-context r3"
$RT start r3 >/dev/null || fail "root: start r3"
app_as "$UA" "$GA" "$RINGTRACE_RUNDIR" 40
SA=$APID
app_as "$UB" "$GB" "$RINGTRACE_RUNDIR" 20
SB=$APID
$RT stop r3 >/dev/null || fail "root: stop r3"
$RT destroy r3 >/dev/null || fail "root: destroy r3"
check_eq "r3: one per-user trace per user" "$(printf 'uid-%s\n' "$UA" "$UB" | sort | tr '\n' ' ')" \
	"$(ls "$R3" | sort | tr '\n' ' ')"
check_eq "r3: A's ticks in A's buffers" 40 "$(bt "$R3/uid-$UA" | grep -c "dmn:tick.*vpid = $SA ")"
check_eq "r3: nothing else in A's buffers" 45 "$(bt "$R3/uid-$UA" | wc -l)"
check_eq "r3: B's ticks in B's buffers" 20 "$(bt "$R3/uid-$UB" | grep -c "dmn:tick.*vpid = $SB ")"
check_eq "r3: nothing else in B's buffers" 23 "$(bt "$R3/uid-$UB" | wc -l)"

[ "$FAILS" -eq 0 ] && echo "perms: all checks passed"
exit $((FAILS > 0))
