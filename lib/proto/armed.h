/* ringtrace: the armed-sessions file. A session daemon keeps, in its run
 * directory, the description of every session that is recording now (its
 * channels and event rules); a program that starts reads it and arms those
 * sessions itself — its own buffers, the events the rules select, their
 * filters — before main(), without waiting for the daemon, then hands the
 * buffers to the daemon, which adopts them. So events from the first line
 * of main() are recorded however late the daemon answers, and a daemon
 * that does not answer never delays a program. Design: docs/design/daemon.md
 * §1.3.
 *
 * Format: the control protocol's header (ctl.h) with type RTR_ARMED_TYPE,
 * then attributes (u16 tag, u16 length, value) read in order: a SESSION
 * tag opens a session, a CHANNEL tag a channel of it, a PATTERN tag a rule
 * of it; the other tags complete the last one opened. Everything is
 * checked (bounds, strings, counts); the file is written by the daemon
 * (the user's, or root) in a directory only it can write, and is still
 * read as untrusted input.
 */
#ifndef RTR_ARMED_H
#define RTR_ARMED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define RTR_ARMED_FILE	   "armed"
#define RTR_ARMED_TYPE	   14
#define RTR_ARMED_SESSIONS 8
#define RTR_ARMED_CHANS	   16
#define RTR_ARMED_RULES	   64
#define RTR_ARMED_UIDS	   16
#define RTR_ARMED_EXCLUDES 16

struct rtr_armed_rule {
	uint32_t chan; /* index in the session's chans */
	const char *pattern;
	const char *excludes[RTR_ARMED_EXCLUDES];
	uint32_t nexcludes;
	uint32_t lltype, ll; /* rtr_host_loglevel_type, level */
	const char *filter;  /* NULL: none */
};

struct rtr_armed_chan {
	const char *name;
	uint32_t index; /* stream class id in the daemon's traces */
	uint64_t subbuf_size;
	uint32_t num_subbuf;
	bool overwrite;
	uint32_t ctx_mask;
	bool per_uid; /* the daemon's per-user buffers: not armed, waited for
		       * (daemon.md §9.7) */
};

struct rtr_armed_session {
	uint64_t id;
	const char *name;
	uint32_t clock;
	bool all_uids;
	uint32_t nuids; /* 0 and !all_uids: the daemon's own uid */
	uint32_t uids[RTR_ARMED_UIDS];
	uint32_t nchans;
	struct rtr_armed_chan chans[RTR_ARMED_CHANS];
	uint32_t nrules;
	struct rtr_armed_rule rules[RTR_ARMED_RULES];
};

struct rtr_armed {
	uint64_t gen;	   /* changes each time the daemon rewrites it */
	uint32_t daemon_uid;
	uint32_t nsessions;
	struct rtr_armed_session s[RTR_ARMED_SESSIONS];
};

/* Whether an enable rule selects event `full` ("provider:name") that
 * declares `loglevel` (< 0: none): its pattern matches, none of its
 * exclusions does, and the level condition holds (lltype 0: any level;
 * 1: `ll` or more severe, a smaller number; 2: exactly `ll`). An event
 * without a level has LTTng-UST's default, TRACE_DEBUG_LINE. The daemon
 * (lib/host) and the programs (lib/ust) both decide with this one. */
bool rtr_armed_rule_selects(const char *pattern, char *const *excludes, size_t nexcludes,
			    uint32_t lltype, int ll, int loglevel, const char *full);

/* Decodes len bytes (strings point into data). Returns 0 or -EPROTO (why
 * in err). */
int rtr_armed_parse(const void *data, size_t len, struct rtr_armed *out, char *err,
		    size_t errlen);
/* Encodes a into o. Returns 0 or -EMSGSIZE. */
int rtr_armed_encode(const struct rtr_armed *a, struct rtr_proto_out *o);

#endif /* RTR_ARMED_H */
