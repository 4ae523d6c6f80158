/* lib/kernel internals: the LTTng mapping (map.c), the kernel CTF trace
 * writer (ktrace.c), tracefs control (tracefs.c), the per-CPU readers
 * (reader.c) and uprobes (uprobe.c). Design: docs/design/kernel.md. */
#ifndef RTR_KERNEL_INTERNAL_H
#define RTR_KERNEL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ringtrace/clock.h>
#include <ringtrace/event.h>

#include "kernel.h"

struct tep_handle;
struct tep_event;

/* ------------------------------------------------------------------------
 * Messages
 * ------------------------------------------------------------------------ */

void rtr__klog(const struct rtr_kernel_log *log, enum rtr_kernel_log_level level, const char *fmt,
	       ...) __attribute__((format(printf, 3, 4)));
/* Writes an error message into err (errlen bytes; nothing if none). */
void rtr__kfail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------
 * map.c: tracefs event -> LTTng event class and field converters
 * ------------------------------------------------------------------------ */

/* How one output field is made from the raw record (map.c). */
enum rtr__kop {
	KOP_INT = 1,	/* integer at src (in_size bytes, in_signed) -> out_size bytes, + addend */
	KOP_COMM16,	/* char[N] or __data_loc char[] -> 16 bytes, NUL-padded (15 max) */
	KOP_STRING,	/* char[N] or __data_loc char[] -> NUL-terminated string */
	KOP_EMPTY_STRING, /* "" (a user-space string the kernel did not capture) */
	KOP_ARRAY,	/* fixed array of in_size-byte integers -> count x out_size bytes */
	KOP_DYN_ARRAY,	/* __data_loc array of in_size-byte integers -> u32 count + elements */
	KOP_ZEROS,	/* out_size x count zero bytes (a field the source lacks) */
	KOP_TGID_PARENT, /* tgid of the integer at src (a tid) */
	KOP_TGID_CHILD,	/* tgid of the forked child (task_newtask's clone flags) */
	KOP_NS_INUM,	/* pid namespace inode (u32) */
	KOP_VTIDS,	/* u8 count 1 + s32 = the integer at src */
	KOP_RWBS,	/* char[N] "WS" letters -> LTTng's rwbs bit mask (u32) */
};

#define RTR__KF_DATA_LOC 0x1u /* src is a __data_loc word */
#define RTR__KF_REL_LOC	 0x2u /* ... relative to the end of the field (__rel_loc) */
#define RTR__KF_MISSING	 0x4u /* the source field is absent: write the default */

struct rtr__kfield {
	uint8_t op;	  /* enum rtr__kop */
	uint8_t flags;	  /* RTR__KF_* */
	uint8_t in_size;  /* bytes of one source integer */
	uint8_t in_signed;
	uint8_t out_size; /* bytes of one output integer */
	uint8_t pad[3];
	uint32_t src_off; /* offset of the source field in the record */
	uint32_t src_size; /* bytes of the source field (arrays: the whole array) */
	uint32_t count;	  /* KOP_ARRAY/KOP_ZEROS elements */
	int64_t addend;	  /* KOP_INT: added to the value (LTTng prio = prio - 100) */
};

/* The plan of one tracefs event: its LTTng name and CTF id, the fields as
 * the metadata describes them and how each is made. Immutable once
 * published (see rtr__kmap_plan). */
struct rtr__kplan {
	uint32_t ctf_id;
	uint16_t type;		 /* tracefs event id (common_type) */
	uint8_t hidden;		 /* consumed internally, not written (task_newtask) */
	uint8_t kind;		 /* enum rtr__kkind */
	uint32_t nr_fields;
	uint32_t fixed_size;	 /* bytes of the payload without strings and dynamic arrays */
	uint32_t nr_var;	 /* strings and dynamic arrays */
	struct rtr__kfield *fields;
	struct rtr_field_desc *descs;	/* metadata, nr_fields entries */
	struct rtr_event_desc desc;	/* provider "kernel", name = LTTng name */
	char *names;			/* storage of every name above */
};

enum rtr__kkind {
	KKIND_PLAIN = 0,
	KKIND_NEWTASK, /* task:task_newtask: remembered for the next sched_process_fork */
	KKIND_FORK,    /* sched:sched_process_fork */
};

/* Everything known about one source of records (a live instance or a
 * trace.dat file): its tep handle and the plans made so far. Plans are
 * made on first sight of an event type, under `lock`, and published with
 * a release store (P1) that rtr__kmap_plan's acquire load (A1) pairs with,
 * so readers on other threads see a complete plan. */
struct rtr__kmap {
	struct tep_handle *tep;
	pthread_mutex_t lock;
	_Atomic(struct rtr__kplan *) *by_type; /* 65536 entries, NULL: not made yet */
	struct rtr__kplan **plans;	       /* in CTF id order (metadata) */
	size_t nr_plans, cap_plans;
	struct rtr__kplan none;		       /* the plan of an unknown type: skip it */
	uint32_t next_id;
	uint32_t ns_inum;		       /* our pid namespace, for fork events */
	/* tid -> tgid, for sched_process_fork's parent_pid/child_pid */
	pthread_mutex_t tid_lock;
	int32_t *tid_keys, *tid_vals;
	size_t tid_cap, tid_n;
	bool use_proc; /* look tids up in /proc (live recording only) */
	const char *uprobe_group; /* events of this system are named uprobe_<event> */
	atomic_uint_fast64_t unknown; /* records of a type with no format */
	atomic_uint_fast64_t malformed; /* records shorter than their format */
};

int rtr__kmap_init(struct rtr__kmap *m, struct tep_handle *tep, bool live);
void rtr__kmap_fini(struct rtr__kmap *m);

/* The plan for event type `type`: made on first use. Never NULL; a plan
 * with ctf_id UINT32_MAX means "no such event: skip the record". */
const struct rtr__kplan *rtr__kmap_plan_slow(struct rtr__kmap *m, uint16_t type);
static inline const struct rtr__kplan *rtr__kmap_plan(struct rtr__kmap *m, uint16_t type)
{
	/* A1: pairs with P1 in rtr__kmap_plan_slow. */
	struct rtr__kplan *p = atomic_load_explicit(&m->by_type[type], memory_order_acquire);

	return p ? p : rtr__kmap_plan_slow(m, type);
}

/* The LTTng name of tracefs event system:name into buf (the name rule of
 * docs/design/kernel.md §3). Returns buf. */
const char *rtr__kname(const char *system, const char *name, char *buf, size_t cap);

/* Per-stream state the converters need (fork joins task_newtask). */
struct rtr__kctx {
	int32_t newtask_pid;
	uint64_t newtask_flags;
	bool newtask_valid;
};

/* Upper bound of the encoded payload of a record of `len` bytes. */
static inline size_t rtr__kplan_bound(const struct rtr__kplan *p, size_t len)
{
	return p->fixed_size + (size_t)p->nr_var * (len + 5);
}

/* Encodes the payload of record rec[0..len) into dst (at least
 * rtr__kplan_bound bytes). Returns the bytes written. Reads only inside
 * rec; a field outside it is written as its default and counted in
 * m->malformed. */
size_t rtr__kplan_encode(struct rtr__kmap *m, const struct rtr__kplan *p, const uint8_t *rec,
			 size_t len, uint8_t *dst, struct rtr__kctx *ctx);

/* Remember what a hidden event says (task_newtask). */
void rtr__kplan_note(struct rtr__kmap *m, const struct rtr__kplan *p, const uint8_t *rec,
		     size_t len, struct rtr__kctx *ctx);

/* tid -> tgid table (fork events). */
void rtr__kmap_tid_set(struct rtr__kmap *m, int32_t tid, int32_t tgid);
int32_t rtr__kmap_tgid(struct rtr__kmap *m, int32_t tid);

/* ------------------------------------------------------------------------
 * ktrace.c: the CTF kernel trace (one stream per CPU, LTTng layout)
 * ------------------------------------------------------------------------ */

#define RTR__KPACKET_HEADER 84u /* lib/ctf's packet header + context */

struct rtr__kstream {
	struct rtr__ktrace *t;
	uint32_t cpu;
	int fd, idx_fd; /* -1 until the first packet */
	uint8_t *buf;	/* the packet being filled */
	size_t cap, len;
	uint64_t seq;
	uint64_t begin_ts, last_ts; /* of the packet being filled */
	uint64_t prev_ts;	    /* last event written in the stream */
	bool has_prev;
	uint64_t discarded;	    /* running total of events the kernel dropped */
	uint64_t discarded_written; /* total in the last packet written */
	uint64_t file_off;
	uint64_t events, packets, clamped;
	int err; /* first write error (negative errno) */
	struct rtr__kctx ctx;
};

struct rtr__ktrace {
	int dirfd; /* the trace directory (owned) */
	char dir[512];
	uint8_t uuid[16];
	struct rtr__kmap *map;
	struct rtr__kstream *streams;
	uint32_t nr_streams;
	size_t packet_size;
	mode_t file_mode, dir_mode;
	struct rtr_kernel_log log;
};

/* Creates directory `name` in parent_dirfd (must not exist) for a kernel
 * trace of ncpu streams. Returns 0 or a negative errno. */
int rtr__ktrace_create(struct rtr__ktrace *t, int parent_dirfd, const char *parent_name,
		       const char *name, uint32_t ncpu, size_t packet_size, mode_t file_mode,
		       struct rtr__kmap *map, const struct rtr_kernel_log *log);

/* Appends one kernel record to stream s. Returns 0 or a negative errno
 * (the stream's files could not be written: s->err). */
int rtr__kstream_record(struct rtr__kstream *s, uint64_t ts, const uint8_t *rec, size_t len);

/* The classes of the statedump (LTTng's names and fields):
 * lttng_statedump_start, lttng_statedump_process_state { int32 tid, vtid,
 * pid, vpid, ppid, vppid; char name[16]; int32 type, mode, submode,
 * status, cpu }, lttng_statedump_file_descriptor { int32 pid, fd; uint32
 * flags (octal), fmode (hex); string filename }, lttng_statedump_block_device
 * { uint32 dev; string diskname }, lttng_statedump_interrupt { uint32 irq;
 * string name, action; int32 thread }, lttng_statedump_network_interface
 * { string name; uint32 address_ipv4 (hex) }, lttng_statedump_end. Plans
 * of m (freed with it). */
struct rtr__kstatedump_plans {
	const struct rtr__kplan *start, *process_state, *end;
	const struct rtr__kplan *file_descriptor, *block_device, *interrupt, *network_interface;
};
int rtr__kmap_statedump(struct rtr__kmap *m, struct rtr__kstatedump_plans *out);

/* statedump.c: the statedump beyond the threads, from /proc and /sys:
 * the open descriptors of process pid, the block devices, interrupt
 * actions and IPv4 interfaces, appended to s at ts as events of tid self.
 * Each returns the events written. */
unsigned rtr__kdump_fds(struct rtr__kstream *s, const struct rtr__kplan *p, uint64_t ts,
			int32_t self, int pid);
unsigned rtr__kdump_block_devices(struct rtr__kstream *s, const struct rtr__kplan *p,
				  uint64_t ts, int32_t self);
unsigned rtr__kdump_interrupts(struct rtr__kstream *s, const struct rtr__kplan *p, uint64_t ts,
			       int32_t self);
unsigned rtr__kdump_net(struct rtr__kstream *s, const struct rtr__kplan *p, uint64_t ts,
			int32_t self);

/* Bytes of one lttng_statedump_process_state payload. */
#define RTR__KSTATEDUMP_PROC_SIZE (6 * 4 + 16 + 5 * 4)

/* Appends an event of the ringtrace-made class `p` (statedump) with the
 * given payload. */
int rtr__kstream_raw(struct rtr__kstream *s, const struct rtr__kplan *p, uint64_t ts, int32_t tid,
		     const void *payload, size_t len);

/* The kernel's count of events dropped on this CPU went up to `total`:
 * ends the packet being filled so the loss falls between packets. */
int rtr__kstream_lost(struct rtr__kstream *s, uint64_t total);

/* Ends the last packet (also an empty one carrying the final loss total,
 * timestamped end_ts) and closes the files. */
int rtr__kstream_finish(struct rtr__kstream *s, uint64_t end_ts);

/* Extra env entries of the kernel trace. */
struct rtr__kenv {
	const char *source;	  /* "tracefs" or "trace-cmd" */
	const char *trace_clock;  /* the kernel clock used ("x86-tsc", "mono", ...) */
	int64_t clock_check_ns;	  /* widest marker bracket, -1: not checked */
	const char *kernel_release; /* NULL: uname */
	const char *hostname;	    /* NULL: gethostname */
	bool no_clock_env;	    /* no clock_* keys (the clock is not ours) */
};

/* Writes the metadata (may be called again: the last one wins). */
int rtr__ktrace_metadata(struct rtr__ktrace *t, const struct rtr_clock_meta *cm,
			 const struct rtr_clock_sync *pts, size_t npts, const struct rtr__kenv *env);

/* Closes everything (streams must be finished). */
void rtr__ktrace_close(struct rtr__ktrace *t);

/* ------------------------------------------------------------------------
 * tracefs.c
 * ------------------------------------------------------------------------ */

/* Finds (or, as root, mounts) tracefs; its path into buf. Returns 0, or a
 * negative errno with the reason in err. */
int rtr__tracefs_find(char *buf, size_t cap, char *err, size_t errlen);

/* Instance name of this process: ringtrace-<pid>-<starttime>. */
void rtr__kinstance_name(pid_t pid, char *buf, size_t cap);

/* Removes instances and uprobe groups left by dead ringtrace processes.
 * Returns how many were removed. */
int rtr__kinstance_reap(const char *tracefs, const struct rtr_kernel_log *log);

#endif /* RTR_KERNEL_INTERNAL_H */
