/* lib/host internals shared by its files (design: docs/design/host.md):
 *
 *   host.c    the host object: creation, the epoll loop, the timer, the
 *             end of the recording, a process's lifetime (finish, free)
 *   conn.c    connections and protocol: accept, HELLO, channel setup,
 *             replies, event registration and enabling
 *   drain.c   buffers: creation, hand-over of packets to the drain thread
 *             (drainer.c), draining, flushing, salvage
 *   output.c  per-process trace output: directory, streams, metadata
 *   totals.c  run totals from untrusted counters
 *   clock.c   the recording's clock: sync points, description
 *   log.c     messages to the caller's sink
 *
 * Everything here runs on the host's thread.
 */
#ifndef RTR_HOST_INTERNAL_H
#define RTR_HOST_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <ringtrace/clock.h>
#include <ringtrace/event.h>
#include <ringtrace/ring.h>

#include "ctf-writer.h"
#include "drainer.h"
#include "host.h"
#include "proto.h"

#define RTR_HOST_SESSION_ID	 1u
#define RTR_HOST_CHAN_HANDLE	 1u
#define RTR_HOST_STREAM_CLASS_ID 0u
#define RTR_HOST_CHAN_NAME	 "channel0"

/* What epoll_event.data.ptr points at for every descriptor in the set. */
enum rtr_watch_kind {
	RTR_WATCH_LISTEN = 1,
	RTR_WATCH_CMD,	  /* a process's command socket */
	RTR_WATCH_NOTIFY, /* a process's notify socket */
	RTR_WATCH_PIDFD,  /* a process's pidfd: readable when it exited */
	RTR_WATCH_WAKE,	  /* a channel's wakeup eventfd */
	RTR_WATCH_DRAIN,  /* the drain thread finished packets */
	RTR_WATCH_TIMER,  /* the host's 100 ms timer */
};

struct rtr_watch {
	enum rtr_watch_kind kind;
	void *obj;
	int fd;
};

enum proc_state {
	P_HELLO,	/* accepted, waiting for HELLO */
	P_ACTIVE,	/* registered */
	P_DISCONNECTED, /* sockets closed; process may still run and write */
	P_DONE,		/* buffers drained and released; trace pending metadata */
};

struct rtr__ev {
	const struct rtr_event_desc *desc; /* in the process's arena */
	uint32_t reg_index;
	int64_t id;   /* stream event id, -1 when not enabled */
	bool pending; /* enabled, not yet sent to the process */
};

struct rtr__proc {
	struct rtr__proc *next;
	struct rtr_host *h;
	enum proc_state state;
	pid_t pid;
	uint64_t hello_deadline;
	int cmd, notify, pidfd;
	struct rtr_watch w_cmd, w_notify, w_pid, w_wake;
	bool exited; /* process gone (pidfd or waitpid) */
	bool stop_sent, stop_acked;
	char procname[17];
	char dirname[64];
	int dirfd;
	int meta_fd;		/* the metadata file last written (room for in-place) */
	size_t meta_size;	/* its size, padding included */
	uint32_t meta_gen;	/* +1 each time events are enabled */
	uint32_t meta_gen_disk; /* what the metadata on disk describes */
	int meta_err;		/* last metadata write error, 0: none */
	bool meta_final;	/* the final metadata is on disk (rtr__output_final_early) */
	uint8_t uuid[16];
	uint32_t caps;
	uint32_t seq;
	time_t created;
	uint64_t registered_ns; /* when its buffers were handed out (now_ns) */
	/* the channel */
	uint32_t client;
	const struct rtr_ring_config *cfg;
	uint32_t nr_bufs;
	struct rtr_ring_buf **bufs;
	struct rtr_ctf_stream **streams;
	struct rtr_drain_slot **slots; /* per buffer, created with its first packet */
	uint64_t *pending_since;       /* when the packet now with the drain thread
					* was handed over (now_ns); 0: none */
	uint64_t *open_sb;	       /* open sub-buffer seen holding records (index + 1) */
	uint64_t *open_since;	       /* since when (now_ns) */
	unsigned npending;
	bool *damaged;
	uint64_t *stall_lost; /* the ring's loss count when its stream stalled on a
			       * full disk; UINT64_MAX: not stalled */
	int wake_fd;
	uint64_t mem;
	unsigned chan_pending; /* replies awaited for CHANNEL + CHANNEL_BUFFERS */
	bool chan_ok, chan_failed;
	uint32_t next_event_id;
	/* events */
	struct rtr_proto_arena arena;
	bool arena_full_reported;
	struct rtr__ev *evs;
	uint32_t nr_evs, cap_evs;
	/* results */
	struct rtr_host_totals t;
};

/* The recording's clock (clock.c). */
struct rtr__hclock {
	int source; /* enum rtr_clock_source_id */
	struct rtr_clock_selection sel;
	struct rtr_clock_skew skew;
	bool have_skew;
	bool skew_cached; /* the bound came from the per-boot cache file */
	struct rtr_clock_sync *pts;
	struct rtr_clock_sync_log log;
	uint64_t last_ns; /* CLOCK_MONOTONIC of the last sync point taken */
	bool failed_said;
};

/* log.c: messages of a class are rate-limited together (5 per 10 s, then
 * a count of those not shown); RTR__LOG_NONE is never limited. */
enum rtr__log_class {
	RTR__LOG_NONE = 0, /* the host's own trouble: once each */
	RTR__LOG_CONN,	   /* connections: garbage, no HELLO */
	RTR__LOG_REFUSED,  /* processes not traced */
	RTR__LOG_PROC,	   /* what a process did: bad messages, damage, events */
	RTR__LOG_DISK,	   /* writing the traces */
	RTR__LOG_CLASSES
};

struct rtr__log_rate {
	uint64_t start; /* of the current window */
	unsigned shown, suppressed;
};

struct rtr_host {
	struct rtr_host_config cfg;
	struct rtr__log_rate log_rate[RTR__LOG_CLASSES];
	int epfd;
	int listen_fd;
	struct rtr_watch w_listen;
	int timer_fd;
	struct rtr_watch w_timer;
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct rtr__proc *procs;
	uint64_t mem_used;
	uint64_t desc_pool; /* event descriptions beyond each process's own share */
	unsigned nr_live;
	unsigned nr_pending;
	struct rtr_host_totals t;
	uint16_t host_cpus;
	struct rtr_proto_out out;
	struct rtr_drainer *drainer; /* NULL: every packet written by this thread */
	bool want_drainer;	     /* start it when needed */
	int drain_fd;
	struct rtr_watch w_drain;
	struct rtr__hclock clock;
	uint64_t next_checkpoint_ns;
	mode_t file_mode; /* of every file created (directories: x where r) */
	unsigned dir_seq; /* suffixes of process directory names */
	uint8_t in[RTR_PROTO_MAX_MSG];
};

/* log.c */
void rtr__hlog_c(struct rtr_host *h, unsigned c, enum rtr_host_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Reports suppressed counts whose window ended (all of them: final). */
void rtr__log_tick(struct rtr_host *h, bool final);
#define herr(h, ...)	   rtr__hlog_c(h, RTR__LOG_NONE, RTR_HOST_LOG_ERROR, __VA_ARGS__)
#define hwarn_c(h, c, ...) rtr__hlog_c(h, c, RTR_HOST_LOG_WARN, __VA_ARGS__)
#define herr_c(h, c, ...)  rtr__hlog_c(h, c, RTR_HOST_LOG_ERROR, __VA_ARGS__)
#define hinfo(h, ...)                                                                              \
	do {                                                                                       \
		if ((h)->cfg.verbose)                                                              \
			rtr__hlog_c(h, RTR__LOG_NONE, RTR_HOST_LOG_INFO, __VA_ARGS__);             \
	} while (0)

/* host.c */
uint64_t rtr__now_ns(void);
void rtr__watch_add(struct rtr_host *h, struct rtr_watch *w, enum rtr_watch_kind kind, void *obj,
		    int fd);
void rtr__watch_del_close(struct rtr_host *h, int *fd);
void rtr__proc_finish(struct rtr__proc *p, bool gone);
void rtr__proc_release_fds(struct rtr__proc *p);

/* conn.c */
void rtr__accept_all(struct rtr_host *h);
void rtr__handle_hello(struct rtr__proc *p);
void rtr__handle_replies(struct rtr__proc *p);
void rtr__handle_notify(struct rtr__proc *p);
void rtr__proc_disconnect(struct rtr__proc *p, const char *why);
/* Frees the process's event descriptions and gives their budget back. */
void rtr__proc_forget_events(struct rtr__proc *p);
/* Sends STOP to every registered process. Returns true if any was sent. */
bool rtr__send_stop_all(struct rtr_host *h);

/* drain.c */
int rtr__channel_create(struct rtr__proc *p, const struct rtr_proto_hello *hello, const char **why);
void rtr__drain_proc(struct rtr__proc *p, unsigned max_rounds, bool now);
void rtr__settle_all(struct rtr__proc *p);
void rtr__flush_stale(struct rtr__proc *p, uint64_t now);
/* Makes everything committed readable and writes it (see rtr__proc_finish),
 * then releases buffers and streams. */
void rtr__channel_finish(struct rtr__proc *p, bool gone);
void rtr__report_damage(struct rtr__proc *p, uint32_t cpu, const char *what);
void rtr__drainer_stop(struct rtr_host *h);
/* A write of the trace failed (err < 0): counted, the first one kept. */
void rtr__write_error(struct rtr_host *h, int err);

/* output.c */
int rtr__output_open(struct rtr__proc *p);
int rtr__output_stream(struct rtr__proc *p, uint32_t cpu, struct rtr_ring_buf *buf);
uint64_t rtr__output_packets(const struct rtr__proc *p);
int rtr__output_metadata(struct rtr__proc *p, const struct rtr_clock_meta *clock,
			 const struct rtr_clock_sync *pts, size_t npts);
/* Removes the process's directory (nothing of a trace in it). */
void rtr__output_discard(struct rtr__proc *p);
bool rtr__output_remove_if_empty(struct rtr__proc *p);
mode_t rtr__dir_mode(mode_t file_mode);
void rtr__output_close(struct rtr__proc *p);
/* The trace is complete: writes its final metadata (clock as of now),
 * closes the directory. Returns 0 or a negative errno (logged). */
int rtr__output_final(struct rtr__proc *p);
/* The final metadata of a process that is gone, written before its last
 * packets are taken (rtr__output_final then has nothing to write). */
int rtr__output_final_early(struct rtr__proc *p);
/* Metadata before data: true when the metadata on disk describes every
 * event enabled so far (written now if needed, clock so far); false when
 * it cannot be written (no packet of the process may be taken then). */
bool rtr__output_meta_ready(struct rtr__proc *p);

/* totals.c */
/* Buffer cpu's counters (bounded) and its stream's into the process's. */
void rtr__totals_add_channel(struct rtr__proc *p, uint32_t cpu);
/* n (from shared memory) bounded by what the process could have done. */
uint64_t rtr__bound_count(const struct rtr__proc *p, uint64_t n);
void rtr__totals_add_proc(struct rtr_host *h, const struct rtr__proc *p);

/* clock.c */
int rtr__hclock_init(struct rtr__hclock *c, const char *skew_cache);
void rtr__hclock_fini(struct rtr__hclock *c);
void rtr__hclock_sync(struct rtr__hclock *c);
/* The description from the sync points so far. `now`: takes a sync point
 * first and makes sure the points span enough time to fit a frequency
 * (may sleep ~2.5 ms); a failure then is logged (once) and answered with
 * a nominal description. */
int rtr__hclock_describe(struct rtr_host *h, bool now, struct rtr_clock_meta *out);

#endif /* RTR_HOST_INTERNAL_H */
