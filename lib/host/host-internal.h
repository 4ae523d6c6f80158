/* lib/host internals shared by its files (design: docs/design/host.md):
 *
 *   host.c     the host object: creation, the epoll loop, the timer, the
 *              end of a recording, a process's lifetime (finish, free)
 *   conn.c     connections and protocol: accept, HELLO, replies, event
 *              registration
 *   session.c  sessions, their channels and event rules: which process
 *              records which event where; start/stop/destroy fanned out to
 *              every process with per-process deadlines (ops)
 *   drain.c    a channel's buffers in one process: creation, hand-over of
 *              packets to the drain thread (drainer.c), draining, flushing,
 *              salvage
 *   snapshot.c snapshot sessions: the newest data of every stream, cut at
 *              one time point, within a byte budget
 *   output.c   per-process trace output: directory, streams, metadata
 *   totals.c   totals from untrusted counters
 *   clock.c    the recording's clock: sync points, description
 *   log.c      messages to the caller's sink
 *
 * Objects: a process (rtr__proc, one connection) records into any number
 * of sessions (rtr__session); for each (process, session) there is one
 * trace (rtr__ptrace: a directory, its metadata) holding one channel
 * (rtr__pchan: buffers, streams, event ids) per channel of the session.
 *
 * Everything here runs on the host's thread.
 */
#ifndef RTR_HOST_INTERNAL_H
#define RTR_HOST_INTERNAL_H

#include <limits.h>
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
#include "fexpr.h"
#include "filter.h"
#include "host.h"
#include "proto.h"

#define RTR_HOST_RECORD_SESSION_ID 1u
#define RTR_HOST_MAX_CHANS	   RTR_HOST_MAX_CHANNELS

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
	P_DONE,		/* buffers drained and released; traces final */
};

/* An event a process registered. */
struct rtr__ev {
	const struct rtr_event_desc *desc; /* in the process's arena */
	uint32_t reg_index;
	bool checked_bad; /* refused by rtr_ctf_event_check (said once) */
	bool conflict_said; /* per-user registry refused it (said once) */
	/* per-user owner (rtr__proc.user) only: the description as encoded
	 * on the wire without its reg_index, to compare signatures */
	uint8_t *sig;
	uint32_t sig_len;
};

struct rtr__session;
struct rtr__ptrace;

/* One channel of one session in one process: its buffers, streams and the
 * ids of the events it records. */
struct rtr__pchan {
	struct rtr__ptrace *t;
	unsigned ci;	 /* channel index in the session = stream class id */
	uint32_t handle; /* protocol channel handle (unique in the process) */
	uint32_t client;
	const struct rtr_ring_config *cfg;
	bool overwrite;
	uint64_t subbuf_size;
	uint32_t num_subbuf;
	uint32_t ctx_mask; /* RTR_PROTO_CTX_* every record of this channel carries */
	uint32_t counters; /* RTR_CTF_COUNTER_* every record carries after them */
	uint64_t flush_age_ns;
	uint32_t nr_bufs;
	struct rtr_ring_buf **bufs;
	struct rtr_ctf_stream **streams;
	struct rtr_drain_slot **slots; /* per buffer, created with its first packet */
	uint32_t *slot_gen;		/* per buffer: the stream file its slot writes to */
	uint64_t *pending_since;       /* when the packet now with the drain thread
					* was handed over (now_ns); 0: none */
	uint64_t *open_sb;	       /* open sub-buffer seen holding records (index + 1) */
	uint64_t *open_since;	       /* since when (now_ns) */
	unsigned npending;
	bool *damaged;
	bool *cut; /* snapshot: the buffer reached the cut (snapshot.c; lazily) */
	uint64_t *stall_lost; /* the ring's loss count when its stream stalled on a
			       * full disk; UINT64_MAX: not stalled */
	int wake_fd;
	struct rtr_watch w_wake;
	uint64_t mem;
	unsigned chan_pending; /* replies awaited for CHANNEL + CHANNEL_BUFFERS */
	uint32_t seq_lo, seq_hi; /* their request numbers */
	bool chan_ok, chan_failed;
	bool released; /* buffers finished and released */
	bool adopted;  /* the process created the buffers (it armed the session) */
	/* Per-user buffers (daemon.md §9): in a program, a *view* of the
	 * per-user channel (handle, its events' ids in the per-user registry;
	 * no buffers of its own: nr_bufs 0); in the per-user owner, the
	 * buffers themselves and the stall watch of dead writers. */
	bool view;
	uint64_t deaths; /* owner: programs mapping these buffers that died */
	uint64_t *stall_pos; /* owner, per buffer: sub-buffer seen stalled (UINT64_MAX: none) */
	uint64_t *stall_cc;    /* its commit count then */
	uint64_t *stall_since; /* since when (now_ns) */
	uint64_t *open_deaths; /* per sub-buffer index: deaths before it was entered */
	uint64_t *seen_off;    /* per buffer: write position at the last tick */
	uint64_t deaths_tick;  /* `deaths` when the positions were last sampled */
	uint64_t unstalled;    /* sub-buffers completed for a dead writer */
	uint32_t adopt_mapped; /* of them mapped here so far */
	uint32_t next_event_id;
	/* per event of the process (index in p->evs) */
	int64_t *ids;	/* id in this channel, -1: not recorded here */
	uint8_t *pend;	/* enabled, not yet sent to the process */
	uint32_t cap_ids;
	/* results (this channel of this process) */
	struct rtr_host_totals tot;
};

/* One process's trace of one session. */
struct rtr__ptrace {
	struct rtr__ptrace *next_p; /* in the process's list */
	struct rtr__ptrace *next_s; /* in the session's list */
	struct rtr__proc *p;
	struct rtr__session *s;
	int dirfd; /* -1 until the directory exists (snapshot sessions: none) */
	char dirname[64];
	int meta_fd;		/* the metadata file last written (room for in-place) */
	size_t meta_size;	/* its size, padding included */
	uint32_t meta_gen;	/* +1 each time events are enabled */
	uint32_t meta_gen_disk; /* what the metadata on disk describes */
	int meta_err;		/* last metadata write error, 0: none */
	uint8_t uuid[16];
	time_t created;
	struct rtr__pchan *ch[RTR_HOST_MAX_CHANS];
	bool session_sent;
	bool started; /* START sent (and not STOP since) */
	bool closed;  /* CLOSE_SESSION sent or the session is gone */
	bool finished;
	/* the session's pending operation: request seq and whether answered */
	uint32_t op_seq;
	bool op_wait;
	bool op_failed;
};

/* An enable-event rule of a session. */
struct rtr__rule {
	struct rtr__rule *next;
	unsigned ci; /* channel index */
	char *pattern;
	char **excludes;
	size_t nexcludes;
	int loglevel_type; /* enum rtr_host_loglevel_type */
	int loglevel;
	char *filter_text;
	struct rtr_fexpr *filter; /* parsed; compiled per event */
};

struct rtr__chan_def {
	char name[RTR_PROTO_MAX_NAME];
	struct rtr_host_channel_cfg c; /* c.name points at name */
	bool defined;
	/* finished processes' share of its totals */
	struct rtr_host_totals done;
};

/* An operation fanned out to the processes of a session (start, stop,
 * destroy): each process answers within its own deadline; the caller's
 * callback runs once every one answered or its deadline passed. */
struct rtr__op {
	enum rtr__op_kind { OP_START = 1, OP_STOP, OP_DESTROY } kind;
	uint64_t deadline;
	rtr_host_done_fn fn;
	void *arg;
	uint64_t started_ns;
};

struct rtr__session {
	struct rtr__session *next;
	struct rtr_host *h;
	uint64_t id;
	char name[RTR_HOST_MAX_SESSION_NAME];
	int out_dirfd;
	char *out_path;
	bool snapshot;
	bool active;
	bool record; /* `ringtrace record`'s implicit session */
	bool all_uids;
	uid_t *uids;
	size_t nuids;
	unsigned nchans;
	struct rtr__chan_def chans[RTR_HOST_MAX_CHANS];
	struct rtr__rule *rules;
	struct rtr__ptrace *traces;
	struct rtr__op *op;
	unsigned snap_seq;
	unsigned chunk;	      /* rotations so far */
	int chunk_dirfd;      /* where per-process traces go now (out_dirfd or a chunk) */
	char chunk_name[64];  /* "" or the chunk's directory name */
	uint64_t created_ns;
	uint32_t rules_gen;
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

struct rtr__proc {
	struct rtr__proc *next;
	struct rtr_host *h;
	enum proc_state state;
	pid_t pid;
	uid_t uid;
	uint64_t hello_deadline;
	int cmd, notify, pidfd;
	struct rtr_watch w_cmd, w_notify, w_pid;
	bool exited; /* process gone (pidfd or waitpid) */
	/* The per-user owner of a session's per-user buffers for one uid
	 * (daemon.md §9): no process, no sockets (pid 0, P_DISCONNECTED until
	 * its session goes); its trace holds the shared buffers, its events
	 * are the per-user registry. */
	bool user;
	bool draining; /* reading what it left on its notify socket */
	bool stop_sent, stop_acked;
	char procname[17];
	uint32_t caps;
	uint16_t minor; /* the process's protocol minor */
	uint32_t seq;
	uint64_t registered_ns; /* when it said HELLO (now_ns) */
	uint32_t next_handle;
	bool ready_sent;
	uint32_t narmed; /* sessions it armed itself (HELLO) */
	uint64_t armed[RTR_PROTO_MAX_ARMED];
	struct rtr__ptrace *traces;
	/* events */
	struct rtr_proto_arena arena;
	bool arena_full_reported;
	struct rtr__ev *evs;
	uint32_t nr_evs, cap_evs;
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
	/* +1 whenever a process, trace or channel (which embed epoll watches)
	 * is freed: rtr__run_events stops dispatching the rest of a batch,
	 * whose entries may point into what was freed (level-triggered, they
	 * come back at the next wait). */
	uint64_t free_gen;
	struct rtr__log_rate log_rate[RTR__LOG_CLASSES];
	int epfd;
	int listen_fd;
	struct rtr_watch w_listen;
	int timer_fd;
	struct rtr_watch w_timer;
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct rtr__proc *procs;
	struct rtr__session *sessions;
	uint64_t next_session_id;
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
	bool in_op_check; /* re-entrancy guard of rtr__ops_check */
	uint64_t op_timeout_ns; /* per-process deadline of operations */
	uint64_t armed_gen;	/* +1 when what programs may arm changes */
	uint8_t *filt_arena;	/* filters of the REGISTER_REPLY being built */
	size_t filt_cap;
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
/* Runs the epoll set once (timeout in ms; in_stop: no timer work). */
void rtr__run_events(struct rtr_host *h, int timeout_ms, bool in_stop);

/* conn.c */
void rtr__accept_all(struct rtr_host *h);
void rtr__handle_hello(struct rtr__proc *p);
void rtr__handle_replies(struct rtr__proc *p);
void rtr__handle_notify(struct rtr__proc *p);
/* The notify socket only (requests; the command socket read before). */
void rtr__handle_notify_only(struct rtr__proc *p);
void rtr__proc_disconnect(struct rtr__proc *p, const char *why);
/* Frees the process's event descriptions and gives their budget back. */
void rtr__proc_forget_events(struct rtr__proc *p);
/* Sends the message in h->out (fds with it) on p's command socket without
 * blocking; a process that does not read it is disconnected. */
int rtr__proc_send(struct rtr__proc *p, const int *fds, unsigned nfds);
/* A process whose uid a session may record. */
bool rtr__session_accepts(const struct rtr__session *s, const struct rtr__proc *p);

/* session.c */
struct rtr__session *rtr__session_find(struct rtr_host *h, uint64_t id);
/* record's implicit session (created by rtr_host_create). */
int rtr__record_session(struct rtr_host *h);
/* Stops record's session and waits (at most the deadline) for it. */
void rtr__record_stop(struct rtr_host *h);
/* A process said HELLO: attach it to every session that records it
 * (buffers, ids). Returns the number of sessions attached. */
unsigned rtr__sessions_attach(struct rtr__proc *p);
/* Sends what the process must know of its traces (SESSION, CHANNEL,
 * CHANNEL_BUFFERS, START) not sent yet. Returns 0 or a negative errno
 * (then the process was disconnected). */
int rtr__proc_sync(struct rtr__proc *p);
/* New events of p (indexes first..p->nr_evs): ids in every channel whose
 * rules match; fills `en` (capacity p->nr_evs - first, entries for usable
 * channels) and marks the others pending. Returns the count in en. */
uint32_t rtr__match_new_events(struct rtr__proc *p, uint32_t first,
			       struct rtr_proto_enable_entry *en, const uint8_t **filt,
			       uint16_t *filt_len, uint32_t cap);
/* A process sent CHANNEL or CHANNEL_BUFFERS: a channel of a session it
 * armed itself, to adopt. */
void rtr__adopt_message(struct rtr__proc *p, const struct rtr_proto_msg *m, int *fds,
			unsigned nfds);
/* Ids the process gave its new events (first..) in channels it armed. */
void rtr__preassigned(struct rtr__proc *p, uint32_t first, const struct rtr_proto_enables *pre);
/* Sends the pending enables of a channel (its setup was acknowledged). */
void rtr__send_pending_enables(struct rtr__pchan *c);
/* A reply (status) to request `seq` of process p (a START/STOP/CLOSE the
 * session's op waits for). */
void rtr__op_reply(struct rtr__proc *p, uint32_t seq, int status);
/* Deadlines of pending operations (from the timer). */
void rtr__ops_check(struct rtr_host *h);
/* The process is gone or disconnected: operations stop waiting for it. */
void rtr__ops_forget_proc(struct rtr__proc *p);
struct rtr__pchan *rtr__pchan_new(struct rtr__ptrace *t, unsigned ci, const char **why);
struct rtr__ptrace *rtr__ptrace_new(struct rtr__proc *p, struct rtr__session *s);

/* user.c: per-user buffers (daemon.md §9). */
/* A program's view of per-user channel ci (the owner and its buffers
 * created first if needed); NULL with why. */
struct rtr__pchan *rtr__user_view_new(struct rtr__ptrace *t, unsigned ci, const char **why);
/* Index in the owner's registry of event k of process p (added if new), or
 * -1: its description conflicts with the one registered (said once), or
 * the registry is full. */
int64_t rtr__user_event(struct rtr__proc *owner, struct rtr__proc *p, uint32_t k);
/* The owner's channel ci of session s for uid, or NULL. */
struct rtr__pchan *rtr__user_chan(struct rtr__session *s, unsigned ci, uid_t uid);
/* A program with a view of a per-user channel exited (gone) or left. */
void rtr__user_view_gone(struct rtr__pchan *view, bool gone);
/* Timer: completes sub-buffers a dead writer left incomplete. */
void rtr__user_unstall(struct rtr__pchan *c, uint64_t now);
/* The pchan of channel ci of session s in p, or NULL. */
struct rtr__ptrace *rtr__ptrace_of(struct rtr__proc *p, const struct rtr__session *s);
/* Finishes a trace: its channels (salvage when `gone`, else flush), its
 * final metadata; counts its totals into the session's. */
void rtr__ptrace_finish(struct rtr__ptrace *t, bool gone);
void rtr__ptrace_free(struct rtr__ptrace *t);
/* Frees every session (rtr_host_destroy). */
void rtr__sessions_free(struct rtr_host *h);
/* The filter bytecode of event ev for rule set of channel ci of s (OR of
 * the rules that enable it), or none: *len 0. Returns true when some rule
 * enables the event in that channel. buf has RTR_FILTER_MAX_CODE bytes. */
bool rtr__rules_match(struct rtr__session *s, unsigned ci, const struct rtr_event_desc *ev,
		      uint8_t *buf, uint16_t *len);

/* drain.c */
/* c's buffer memory (from the host's budget) and per-buffer arrays. */
int rtr__pchan_alloc(struct rtr__pchan *c, const char **why);
int rtr__pchan_create(struct rtr__pchan *c, const char **why);
void rtr__drain_pchan(struct rtr__pchan *c, unsigned max_rounds, bool now);
void rtr__drain_proc(struct rtr__proc *p, unsigned max_rounds, bool now);
void rtr__settle_all(struct rtr__pchan *c);
void rtr__flush_stale(struct rtr__pchan *c, uint64_t now);
/* Flushes every buffer (writers may still run). Returns 0 or -EAGAIN when
 * some buffer could not be flushed now. */
int rtr__pchan_flush(struct rtr__pchan *c);
/* Makes everything committed readable and writes it (see rtr__proc_finish),
 * then releases buffers and streams. */
void rtr__pchan_finish(struct rtr__pchan *c, bool gone);
void rtr__pchan_free(struct rtr__pchan *c);
void rtr__report_damage(struct rtr__pchan *c, uint32_t cpu, const char *what);
void rtr__drainer_stop(struct rtr_host *h);
/* A write of the trace failed (err < 0): counted, the first one kept. */
void rtr__write_error(struct rtr_host *h, int err);

/* snapshot.c */
int rtr__snapshot(struct rtr__session *s, uint64_t max_size, struct rtr_host_op_result *res);

/* output.c */
/* The trace's directory in the session's output (created now). */
int rtr__output_open(struct rtr__ptrace *t);
int rtr__output_open_in(struct rtr__ptrace *t, int parent_fd);
int rtr__output_stream(struct rtr__pchan *c, uint32_t cpu, struct rtr_ring_buf *buf, int dirfd);
uint64_t rtr__output_packets(const struct rtr__ptrace *t);
int rtr__output_metadata(struct rtr__ptrace *t, const struct rtr_clock_meta *clock,
			 const struct rtr_clock_sync *pts, size_t npts);
/* Renders the trace's metadata text (clock so far). */
int rtr__output_render(struct rtr__ptrace *t, const struct rtr_clock_meta *clock,
		       const struct rtr_clock_sync *pts, size_t npts, char **text, size_t *len);
/* Removes the trace's directory (nothing of a trace in it). */
void rtr__output_discard(struct rtr__ptrace *t);
bool rtr__output_remove_if_empty(struct rtr__ptrace *t);
mode_t rtr__dir_mode(mode_t file_mode);
void rtr__output_close(struct rtr__ptrace *t);
/* The trace is complete: writes its final metadata (clock as of now),
 * closes the directory. Returns 0 or a negative errno (logged). */
int rtr__output_final(struct rtr__ptrace *t);
/* Metadata before data: true when the metadata on disk describes every
 * event enabled so far (written now if needed, clock so far); false when
 * it cannot be written (no packet of the process may be taken then). */
bool rtr__output_meta_ready(struct rtr__ptrace *t);
/* Makes a directory `name` (mode from the host) in parent and opens it;
 * never an existing one. */
int rtr__mkdir_open(struct rtr_host *h, int parent, const char *name);

/* totals.c */
/* Buffer cpu's counters (bounded) and its stream's into the channel's. */
void rtr__totals_add_channel(struct rtr__pchan *c, uint32_t cpu);
/* Only its stream's (the stream is closed, the buffer goes on). */
void rtr__totals_add_stream(struct rtr__pchan *c, uint32_t cpu);
/* n (from shared memory) bounded by what the process could have done. */
uint64_t rtr__bound_count(const struct rtr__proc *p, uint64_t n);
void rtr__totals_add(struct rtr_host_totals *to, const struct rtr_host_totals *t);
/* Live counters of a channel (buffers still in use), bounded. */
void rtr__totals_live(const struct rtr__pchan *c, struct rtr_host_totals *t);

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
