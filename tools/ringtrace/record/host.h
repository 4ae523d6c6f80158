/* ringtrace session host: accepts traced processes on a UNIX socket, gives
 * each its per-CPU buffers, enables events, drains the buffers into one CTF
 * trace per process and finishes the traces (salvage, metadata) when the
 * processes are gone. Used by `ringtrace record`; written to become the
 * core of the session daemon. Design: docs/design/runtime.md §6,
 * protocol: docs/design/protocol.md.
 *
 * Every function runs on the thread that owns the host and its epoll set;
 * the only other thread is the idle-priority drain thread (drainer.h),
 * which copies packets the host hands it and decides nothing. Nothing a
 * traced process sends or writes into its buffers is trusted: a hostile
 * process gets disconnected and its damage reported, the rest of the
 * recording goes on; no call blocks on a process.
 */
#ifndef RTR_RECORD_HOST_H
#define RTR_RECORD_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <ringtrace/clock.h>
#include <ringtrace/ring.h>

/* What epoll_event.data.ptr points at for every descriptor in the set. */
enum rtr_watch_kind {
	RTR_WATCH_LISTEN = 1,
	RTR_WATCH_CMD,	  /* a process's command socket */
	RTR_WATCH_NOTIFY, /* a process's notify socket */
	RTR_WATCH_PIDFD,  /* a process's pidfd: readable when it exited */
	RTR_WATCH_WAKE,	  /* a channel's wakeup eventfd */
	RTR_WATCH_DRAIN,  /* the drain thread finished packets */
	RTR_WATCH_OTHER,  /* owned by the caller (signalfd, timerfd) */
};

struct rtr_watch {
	enum rtr_watch_kind kind;
	void *obj;
	int fd;
};

struct rtr_host_config {
	const char *const *patterns; /* event name globs ("provider:event"); NULL/0: all */
	size_t npatterns;
	bool overwrite;	       /* flight recorder: keep the newest, write at the end */
	uint64_t subbuf_size;  /* power of two >= 4 KiB */
	uint32_t num_subbuf;   /* power of two >= 2 */
	uint64_t mem_budget;   /* bytes of buffers at once; 0: 1 GiB */
	uint32_t max_procs;    /* processes traced at once; 0: 1024 */
	int clock_source;      /* enum rtr_clock_source_id of the recording */
	int trace_dirfd;       /* the output directory (owned by the caller) */
	const char *trace_dir; /* its name, for messages */
	FILE *log;	       /* messages ("ringtrace record: ..."); NULL: stderr */
	bool verbose;
	bool eager_drain; /* write every packet on the host's thread at once,
			   * not from the idle-priority drain thread */
};

struct rtr_host_totals {
	uint64_t events;      /* records committed (writers' counters) */
	uint64_t lost;	      /* records dropped (buffers full, too big, ...) */
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
	unsigned disconnected; /* processes dropped for protocol errors */
};

struct rtr_host;

/*
 * Creates the host, listening on a new socket at sock_path (which must not
 * exist), and adds its descriptors to epfd. Returns the host or NULL (an
 * error is printed on cfg->log).
 */
struct rtr_host *rtr_host_create(const struct rtr_host_config *cfg, const char *sock_path,
				 int epfd);

/* Handles one epoll event whose data.ptr was a struct rtr_watch of the host
 * (kinds LISTEN to DRAIN). Never blocks. */
void rtr_host_event(struct rtr_host *h, struct rtr_watch *w, uint32_t events);

/* Periodic work (call every ~100 ms): drains buffers, times out
 * processes that never said HELLO. */
void rtr_host_tick(struct rtr_host *h);

/* The program's own child was reaped (its pidfd may still be pending):
 * treat process `pid` as gone now. */
void rtr_host_process_exited(struct rtr_host *h, pid_t pid);

/* Processes being traced (or registering) now. */
unsigned rtr_host_active(const struct rtr_host *h);

/*
 * Ends the recording: stops processes still running (STOP, bounded wait),
 * flushes, salvages the buffers of processes that died, drains everything,
 * writes every trace's metadata with the final clock description, closes
 * all files and the listening socket (unlinking it). `clock` is the clock
 * description from the recording's sync points; `pts`/`npts` the sync list
 * for the env. Returns 0 or -EIO when some trace could not be written
 * (printed).
 */
/* Writes (atomically replaces) the metadata of every trace that holds
 * packets, with the clock known so far, so that a trace stays readable if
 * the host itself is killed; rtr_host_finish() writes the final one. */
void rtr_host_checkpoint(struct rtr_host *h, const struct rtr_clock_meta *clock,
			 const struct rtr_clock_sync *pts, size_t npts);

int rtr_host_finish(struct rtr_host *h, const struct rtr_clock_meta *clock,
		    const struct rtr_clock_sync *pts, size_t npts);

void rtr_host_totals(const struct rtr_host *h, struct rtr_host_totals *t);

/* Frees everything (after rtr_host_finish). NULL is ignored. */
void rtr_host_destroy(struct rtr_host *h);

#endif /* RTR_RECORD_HOST_H */
