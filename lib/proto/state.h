/* ringtrace: the session daemon's state directory (RUNDIR/state/), what a
 * dead daemon leaves for `ringtrace recover --all` and for the daemon
 * started after it: one small text file per session, written when the
 * session is created, started or stopped, removed when it is destroyed or
 * the daemon finishes it. Parsed as untrusted input (anyone who could
 * write the run directory could write it). Design: docs/design/daemon.md
 * §8 ("Recovery").
 *
 * Format (one "key value" per line; values escaped: bytes below 0x20, 0x7f
 * and '%' as %XX):
 *
 *   ringtrace-session 1
 *   name NAME
 *   output /absolute/path
 *   snapshot 0|1
 *   active 0|1
 *   daemon PID
 *   id SESSION-ID     (the id its programs know it by)
 */
#ifndef RTR_STATE_H
#define RTR_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTR_STATE_MAX_FILE 16384u

/* The value of hex digit c, or -1 (the state files' escapes, and the
 * trace UUIDs `ringtrace recover` reads back). */
static inline int rtr_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

struct rtr_state_session {
	char name[64];
	char output[4096];
	bool snapshot;
	bool active;
	int32_t daemon_pid;
	uint64_t id; /* 0: unknown */
};

/* The file name of session `name` in the state directory ("s-" and the
 * name in hex: any name is a safe file name). Returns 0 or -ENAMETOOLONG. */
int rtr_state_file_name(const char *name, char *out, size_t cap);

/* Encodes s into buf. Returns the length, or -E2BIG. */
int rtr_state_encode(const struct rtr_state_session *s, char *buf, size_t cap);

/* Parses a state file. Returns 0, or -EINVAL with err saying why
 * (unknown keys are skipped; name and output are required). */
int rtr_state_parse(const char *buf, size_t n, struct rtr_state_session *s, char *err,
		    size_t errlen);

#endif /* RTR_STATE_H */
