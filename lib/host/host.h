/* lib/host: the session host — the consumer side shared by `ringtrace
 * record` and (to come) the session daemon. It accepts traced processes on
 * a UNIX socket, gives each its per-CPU buffers, enables events, drains the
 * buffers into one CTF trace per process and finishes the traces (salvage,
 * metadata) when the processes are gone. Design: docs/design/host.md;
 * wire protocol: docs/design/protocol.md.
 *
 * The library prints nothing and keeps no global state: every message goes
 * to the caller's log sink, every descriptor and thread belongs to one
 * struct rtr_host. The caller owns the process lifetime around it (which
 * program runs, signals, the summary).
 *
 * Threads: every function here must be called from one thread at a time
 * (the host's thread). The host runs one helper thread of its own, the
 * idle-priority drain thread (drainer.h), which copies packets it is
 * handed and decides nothing. Nothing a traced process sends or writes
 * into its buffers is trusted: a hostile process gets disconnected and its
 * damage reported, the rest of the recording goes on; no call blocks on a
 * process.
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
	uint64_t mem_budget;   /* bytes of buffers at once; 0: 1 GiB */
	uint32_t max_procs;    /* processes traced at once; 0: 1024 */
	int trace_dirfd;       /* the output directory (owned by the caller) */
	const char *trace_dir; /* its name, for messages */
	mode_t file_mode;      /* of the files created; 0: 0600. Directories get
				* x where r is set (0600: 0700, 0640: 0750) */
	struct rtr_host_log log;
	bool verbose;	  /* also send RTR_HOST_LOG_INFO messages */
	bool eager_drain; /* write every packet on the host's thread at once,
			   * not from the idle-priority drain thread */
	/* File keeping the cross-CPU skew bound for the rest of the boot
	 * (rtr_clock_measure_skew_cached): saves its ~50 ms measurement at
	 * each start. NULL: measure every time. */
	const char *skew_cache;
	uint32_t counters; /* per-thread counters every event carries as context
			    * (RTR_CTF_COUNTER_* mask of lib/ctf; 0: none) */
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
 * second). Never blocks on a process. */
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

#endif /* RTR_HOST_H */
