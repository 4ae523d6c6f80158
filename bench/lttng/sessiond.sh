# Sourced by the benchmarks that compare with LTTng: a session daemon of
# LTTng's, started only if none answers, and stopped again (and waited
# for: a daemon still exiting when the next run starts would answer
# `lttng list` and then vanish, or leave its pid file to a new one).
#   lttng_sessiond_start   sets lttng_sessiond_pid ("" if one was running)
#   lttng_sessiond_stop    stops the one started here, if any
lttng_sessiond_pid=""

lttng_sessiond_pidfile() {
	if [ "$(id -u)" -eq 0 ]; then
		echo /var/run/lttng/lttng-sessiond.pid
	else
		echo "${LTTNG_HOME:-$HOME}/.lttng/lttng-sessiond.pid"
	fi
}

lttng_sessiond_start() {
	lttng list >/dev/null 2>&1 && return 0
	lttng-sessiond --daemonize >/dev/null 2>&1
	for _ in $(seq 50); do lttng list >/dev/null 2>&1 && break; sleep 0.1; done
	# read once it answers: the file is the ready daemon's
	local f
	f=$(lttng_sessiond_pidfile)
	[ -r "$f" ] && lttng_sessiond_pid=$(cat "$f")
	return 0
}

lttng_sessiond_stop() {
	[ -n "$lttng_sessiond_pid" ] || return 0
	kill "$lttng_sessiond_pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$lttng_sessiond_pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$lttng_sessiond_pid" 2>/dev/null || true
	lttng_sessiond_pid=""
}
