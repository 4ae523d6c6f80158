/* lib/host: the session host — the consumer side shared by `ringtrace
 * record` and the session daemon (`ringtraced`). It accepts traced
 * processes on a UNIX socket, gives each its per-CPU buffers for every
 * channel of every session that records it, enables events (with their
 * filters), drains the buffers into one CTF trace per (process, session)
 * and finishes the traces (salvage, metadata) when the processes or the
 * sessions are gone. Design: docs/design/host.md (sessions:
 * docs/design/daemon.md); wire protocol: docs/design/protocol.md.
 *
 * The library prints nothing and keeps no global state: every message goes
 * to the caller's log sink, every descriptor and thread belongs to one
 * struct rtr_host. The caller owns the process lifetime around it (which
 * program runs, signals, the summary, the control clients).
 *
 * Threads: every function here must be called from one thread at a time
 * (the host's thread). The host runs one helper thread of its own, the
 * drain thread (drainer.h), which copies packets it is handed and decides
 * nothing. Nothing a traced process sends or writes into its buffers is
 * trusted: a hostile process gets disconnected and its damage reported, the
 * rest of the recording goes on; no call blocks on a process.
 */
#ifndef RTR_HOST_H
#define RTR_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum rtr_host_log_level {
	RTR_HOST_LOG_ERROR = 0, /* something was not recorded or written */
	RTR_HOST_LOG_WARN,	/* a process was refused, damaged, disconnected */
	RTR_HOST_LOG_INFO,	/* what happens with each process (verbose) */
};

/* Where the host's messages go: one line of text each, without prefix or
 * newline. Called on the host's thread only. fn NULL: messages dropped. */
struct rtr_host_log {
	void (*fn)(void *arg, enum rtr_host_log_level level, const char *msg);
	void *arg;
};

enum { RTR_HOST_LL_ALL = 0, RTR_HOST_LL_UPTO, RTR_HOST_LL_ONLY };

struct rtr_host_config {
	/* `ringtrace record`: one implicit session ("record", started at
	 * once) with one channel "channel0" of this geometry, recording the
	 * events that match `patterns` of every process that connects, into
	 * trace_dirfd. The daemon sets `daemon` and creates sessions with
	 * rtr_host_session_create(); the fields up to trace_dir are then
	 * unused. */
	bool daemon;
	const char *const *patterns; /* event name globs ("provider:event"); NULL/0: all */
	size_t npatterns;
	/* Log level selection, LTTng's meaning (docs/design/host.md §3): an
	 * event is enabled if it matches a pattern and its level is
	 * `loglevel` or more severe (RTR_HOST_LL_UPTO) or exactly `loglevel`
	 * (RTR_HOST_LL_ONLY); an event declaring no level counts as
	 * RTR_LOGLEVEL_DEBUG_LINE, as in LTTng-UST. RTR_HOST_LL_ALL: any. */
	int loglevel_sel;
	int loglevel; /* enum rtr_loglevel */
	bool overwrite;	       /* flight recorder: keep the newest, write at the end */
	uint64_t subbuf_size;  /* power of two >= 4 KiB */
	uint32_t num_subbuf;   /* power of two >= 2 */
	int trace_dirfd;       /* the output directory (owned by the caller) */
	const char *trace_dir; /* its name, for messages */
	uint64_t mem_budget;   /* bytes of buffers at once; 0: 1 GiB */
	uint32_t max_procs;    /* processes traced at once; 0: 1024 */
	mode_t file_mode;      /* of the files created; 0: 0600. Directories get
				* x where r is set (0600: 0700, 0640: 0750) */
	struct rtr_host_log log;
	bool verbose;	  /* also send RTR_HOST_LOG_INFO messages */
	bool eager_drain; /* write every packet on the host's thread at once,
			   * not from the idle-priority drain thread */
	/* Daemon: which processes may connect at all (the daemon's own uid,
	 * and for a root daemon anyone: each session says whom it records).
	 * record: a process of another user is refused unless the host runs
	 * as root. */
	bool any_uid;
	/* Daemon: the socket is group/world-connectable (root daemon). */
	mode_t sock_mode; /* 0: 0600 */
	/* File keeping the cross-CPU skew bound for the rest of the boot
	 * (rtr_clock_measure_skew_cached): saves its ~50 ms measurement at
	 * each start. NULL: measure every time. */
	const char *skew_cache;
	uint32_t counters; /* per-thread counters every event carries as context
			    * (RTR_CTF_COUNTER_* mask of lib/ctf; 0: none) */
	uint32_t ctx_mask; /* record --context ip,vtid,...: the RTR_HOST_CTX_* fields
			    * of record's channel (before the counters) */
};

struct rtr_host_totals {
	uint64_t events;      /* records committed (writers' counters, bounded) */
	uint64_t lost;	      /* records dropped by the writers (buffers full, too big, ...) */
	uint64_t dropped;     /* committed, in packets given up after a write error (in the
			       * events_discarded of the packets that follow) */
	uint64_t unwritten;   /* committed, never written: the disk was full to the end */
	uint64_t disk_lost;   /* of `lost`: dropped by the writers while a full disk kept
			       * the buffer from being drained */
	uint64_t overwritten; /* sub-buffers overwritten (overwrite mode) */
	uint64_t packets;
	uint64_t bytes;
	uint64_t salvaged;     /* packets closed by salvage after their process ended */
	uint64_t torn_bytes;   /* bytes of records a dying process never committed */
	uint64_t bg_packets;   /* packets written by the idle-priority drain thread */
	uint64_t taken_back;   /* packets it had not finished when a buffer filled up */
	unsigned procs;	       /* traces written */
	unsigned refused;      /* processes refused (limits) */
	unsigned bad_conns;    /* connections that did not start with a valid HELLO */
	unsigned damaged;      /* buffers found corrupt */
	unsigned bad_counters; /* buffers whose counters were impossible (left out) */
	unsigned disconnected; /* processes dropped for protocol errors */
	unsigned write_errors; /* failed writes of the traces (each stall counts once) */
	int write_errno;       /* the first one's errno, 0: none */
	unsigned disk_stalls;  /* times a stream waited for room on the disk */
	unsigned meta_failed;  /* traces whose final metadata could not be written */
};

struct rtr_host;

/*
 * Creates the host: selects the trace clock (rtr_clock_init), measures the
 * cross-CPU skew (~50 ms, or reads it from cfg->skew_cache), takes the
 * first sync points and listens on a
 * new socket at sock_path (which must not exist; its directory should be
 * private to the user). Returns the host or NULL (the reason went to the
 * log sink).
 */
struct rtr_host *rtr_host_create(const struct rtr_host_config *cfg, const char *sock_path);

/* A descriptor that is readable when the host has work: poll it (or add it
 * to an epoll set) and call rtr_host_run() when it is. Owned by the host. */
int rtr_host_fd(const struct rtr_host *h);

/* Does the work that is ready (connections, messages, packets, the 100 ms
 * timer: drain, switch timer, sync points and metadata checkpoints each
 * second, deadlines of operations). Never blocks on a process. */
void rtr_host_run(struct rtr_host *h);

/* A traced process was reaped by the caller (its pidfd may still be
 * pending): treat process `pid` as gone now. */
void rtr_host_process_exited(struct rtr_host *h, pid_t pid);

/* Processes being traced (or registering) now. */
unsigned rtr_host_active(const struct rtr_host *h);

/*
 * Ends the recording: stops processes still running (STOP, bounded wait),
 * flushes, salvages the buffers of processes that died, drains everything,
 * takes the final sync point, writes every trace's metadata with the final
 * clock description, closes all files and the listening socket (unlinking
 * it). Returns 0 or -EIO when some trace could not be written (logged).
 */
int rtr_host_finish(struct rtr_host *h);

void rtr_host_totals(const struct rtr_host *h, struct rtr_host_totals *t);

/* The recording's clock as described from the sync points taken so far
 * (after rtr_host_finish: the block the last trace finished was written
 * with), and those points (valid until the next call into the host), for
 * traces written beside the host's (the kernel trace). Returns 0 or
 * -EINVAL (no sync point yet). */
struct rtr_clock_meta;
struct rtr_clock_sync;
int rtr_host_clock(struct rtr_host *h, struct rtr_clock_meta *cm,
		   const struct rtr_clock_sync **pts, size_t *n);

/* Frees everything (after rtr_host_finish, or instead of it). NULL is
 * ignored. */
void rtr_host_destroy(struct rtr_host *h);

/* ------------------------------------------------------------------------
 * Sessions (the daemon). Names follow LTTng's commands. Every function
 * returns 0 or a negative errno with a one-line reason in err (errlen > 0).
 * ------------------------------------------------------------------------ */

#define RTR_HOST_MAX_CHANNELS	   16
#define RTR_HOST_MAX_SESSION_NAME 64

/* Contexts a channel's records carry (add-context). Values match
 * RTR_PROTO_CTX_*. */
#define RTR_HOST_CTX_VPID	0x01u
#define RTR_HOST_CTX_VTID	0x02u
#define RTR_HOST_CTX_PROCNAME	0x04u
#define RTR_HOST_CTX_PTHREAD_ID 0x08u
#define RTR_HOST_CTX_IP		0x10u
#define RTR_HOST_CTX_ALL	0x1fu

struct rtr_host_session_cfg {
	const char *name; /* [A-Za-z0-9_.-]{1,63} */
	/* Where traces (or snapshots) go: a directory the caller opened (the
	 * host keeps its own duplicate) and its name for messages. */
	int out_dirfd;
	const char *out_path;
	bool snapshot; /* flight recorder: channels overwrite, nothing is
			* drained; `snapshot record` writes what is in memory */
	/* Whose processes it records: the listed uids (none: the host's own
	 * uid), or every uid. */
	const uid_t *uids;
	size_t nuids;
	bool all_uids;
	/* 0: a new id; else this id (a session a restarted daemon reloads:
	 * its programs know it by that id). -EEXIST if taken. */
	uint64_t id;
};

/* Session ids from now on are above base (a restarted daemon: ids of a
 * dead daemon's sessions are never given to new ones). */
void rtr_host_session_id_base(struct rtr_host *h, uint64_t base);

struct rtr_host_channel_cfg {
	const char *name;     /* identifier */
	uint64_t subbuf_size; /* power of two >= 4 KiB; 0: 256 KiB */
	uint32_t num_subbuf;  /* power of two >= 2; 0: 4 */
	bool overwrite;	      /* snapshot sessions: always */
	bool per_uid;	      /* buffers shared by the processes of a user (not yet) */
	uint64_t switch_timer_us; /* close a sub-buffer holding records this long; 0: 1 s */
	uint64_t tracefile_size;  /* bytes per stream file (0: unlimited) */
	uint32_t tracefile_count; /* stream files kept per stream (0: unlimited) */
	uint32_t ctx_mask;	  /* RTR_HOST_CTX_* */
	uint32_t counters;	  /* per-thread counters after them (RTR_CTF_COUNTER_*
				   * mask of lib/ctf; record --context perf:) */
};

enum rtr_host_loglevel_type {
	RTR_HOST_LOGLEVEL_ALL = 0,   /* any level (and events without one) */
	RTR_HOST_LOGLEVEL_RANGE = 1, /* as severe as `loglevel` or more (<= in numbers) */
	RTR_HOST_LOGLEVEL_SINGLE = 2 /* exactly `loglevel` */
};

struct rtr_host_rule {
	const char *channel; /* NULL: "channel0" (created with defaults if missing) */
	const char *pattern; /* glob on "provider:event" */
	const char *const *excludes; /* event names ("provider:event" globs) left out */
	size_t nexcludes;
	int loglevel_type; /* enum rtr_host_loglevel_type */
	int loglevel;
	const char *filter; /* NULL or an expression (docs/design/daemon.md §4) */
};

/* Per channel: what the processes of a session recorded and lost. */
struct rtr_host_chan_stats {
	char name[64];
	uint64_t subbuf_size;
	uint32_t num_subbuf;
	bool overwrite;
	struct rtr_host_totals t;
};

struct rtr_host_session_stats {
	char name[RTR_HOST_MAX_SESSION_NAME];
	uint64_t id;
	bool active, snapshot;
	unsigned procs; /* processes recording into it now */
	unsigned nchans;
	struct rtr_host_chan_stats chans[RTR_HOST_MAX_CHANNELS];
};

/* What an operation (start, stop, snapshot, destroy) did. */
#define RTR_HOST_MAX_LAGGARDS 16
struct rtr_host_op_result {
	int status; /* 0 or a negative errno */
	char err[256];
	unsigned procs;	   /* processes asked */
	unsigned answered; /* within their deadline */
	unsigned nlaggards;
	struct {
		pid_t pid;
		char procname[17];
	} laggards[RTR_HOST_MAX_LAGGARDS]; /* the first that did not answer */
	uint64_t elapsed_ns;
	struct rtr_host_session_stats stats; /* after a stop/destroy */
	/* snapshot */
	char snap_dir[256]; /* under the session output */
	unsigned streams, streams_cut; /* streams written; of them reaching the cut time */
	uint64_t snap_bytes;
	uint64_t cut_ts; /* trace clock */
};

typedef void (*rtr_host_done_fn)(void *arg, const struct rtr_host_op_result *res);

int rtr_host_session_create(struct rtr_host *h, const struct rtr_host_session_cfg *cfg,
			    uint64_t *id, char *err, size_t errlen);
/* The session of that name; 0 when none. */
uint64_t rtr_host_session_lookup(const struct rtr_host *h, const char *name);
/* The channel is added to every process the session records now and later.
 * An existing channel cannot be changed (-EEXIST). */
int rtr_host_channel_enable(struct rtr_host *h, uint64_t sid, const struct rtr_host_channel_cfg *c,
			    char *err, size_t errlen);
/* Adds an event rule; events of processes that match it are enabled now
 * (sent to the processes) and as they register. *created_default tells
 * whether channel0 had to be created. */
int rtr_host_rule_add(struct rtr_host *h, uint64_t sid, const struct rtr_host_rule *r,
		      bool *created_default, char *err, size_t errlen);
/* Removes the rules with that pattern (in that channel, NULL: any): events
 * no rule enables any more are disabled in every process. Returns the
 * number of rules removed (>= 0) or a negative errno. */
int rtr_host_rule_remove(struct rtr_host *h, uint64_t sid, const char *channel,
			 const char *pattern, char *err, size_t errlen);
/* Contexts for a channel (NULL: every channel) of processes attached from
 * now on. */
int rtr_host_context_add(struct rtr_host *h, uint64_t sid, const char *channel, uint32_t mask,
			 char *err, size_t errlen);
/* Asynchronous: the callback runs (maybe before the call returns) once
 * every process answered or its deadline passed; 0 means it will run,
 * a negative errno that it will not (err set). */
int rtr_host_session_start(struct rtr_host *h, uint64_t sid, rtr_host_done_fn fn, void *arg,
			   char *err, size_t errlen);
int rtr_host_session_stop(struct rtr_host *h, uint64_t sid, rtr_host_done_fn fn, void *arg,
			  char *err, size_t errlen);
int rtr_host_session_destroy(struct rtr_host *h, uint64_t sid, rtr_host_done_fn fn, void *arg,
			     char *err, size_t errlen);
/* Synchronous. */
int rtr_host_session_snapshot(struct rtr_host *h, uint64_t sid, uint64_t max_size,
			      struct rtr_host_op_result *res);
int rtr_host_session_rotate(struct rtr_host *h, uint64_t sid, struct rtr_host_op_result *res);
int rtr_host_session_stats(struct rtr_host *h, uint64_t sid, struct rtr_host_session_stats *st);
/* Describes a session for humans, one line at a time: output, channels,
 * rules, processes. Returns 0 or -ENOENT. */
int rtr_host_session_describe(struct rtr_host *h, uint64_t sid,
			      void (*line)(void *arg, const char *text), void *arg);
/* The session's output directory (for messages), or NULL. */
const char *rtr_host_session_output(const struct rtr_host *h, uint64_t sid);

/* The processes connected now, one line each ("pid (name): E events
 * registered, S sessions"). */
void rtr_host_describe_procs(struct rtr_host *h, void (*line)(void *arg, const char *text),
			     void *arg);

/* Sessions in creation order: ids[0..*n) (at most cap). */
void rtr_host_sessions(const struct rtr_host *h, uint64_t *ids, size_t cap, size_t *n);
/* Moves the listening socket to new_path (rename: it appears there already
 * listening, so that programs watching the directory connect at once).
 * Returns 0 or a negative errno. */
int rtr_host_move_socket(struct rtr_host *h, const char *new_path);

/* What programs may arm themselves at start (docs/design/daemon.md §1.3):
 * every session recording now, its channels and rules. The generation
 * changes with it (the daemon rewrites its armed file then). */
struct rtr_armed;
uint64_t rtr_host_armed_gen(const struct rtr_host *h);
void rtr_host_armed(const struct rtr_host *h, struct rtr_armed *a);

/* Per-process deadline of operations (default 1 s). */
void rtr_host_set_op_timeout(struct rtr_host *h, uint64_t ns);

#endif /* RTR_HOST_H */
