/* ringtrace — generic lock-free ring buffer: client configuration, shared
 * memory layout, inline writer fast path, reader API. Knows nothing of CTF.
 * Design, arithmetic and memory-ordering edges: docs/design/ring-buffer.md.
 *
 * CONCURRENCY CONTRACT
 *
 * Writers (rtr_ring_reserve / rtr_ring_commit):
 *   - any number of threads, in any number of processes that mapped the
 *     buffers, may write into the same buffer at the same time;
 *   - a writer may be interrupted by a signal handler that writes too
 *     (nesting up to RTR_RING_MAX_NESTING levels per thread; deeper
 *     reservations are refused and counted);
 *   - every successful reserve must be followed by exactly one commit of
 *     the same ctx by the same thread (a reserved slot cannot be given
 *     back: the client sizes its record before reserving);
 *   - no lock, no system call and no allocation, except that the slow path
 *     (sub-buffer switch) may write one eventfd (RTR_RING_WAKEUP_WRITER),
 *     and a commit made after the writer migrated, into a sub-buffer that
 *     is already closed, may call membarrier(2) once (RSEQ sync; see the
 *     design note, "Completion"); errno is preserved;
 *   - every record refused is counted in the buffer's shared counters,
 *     where the reader sees it (rtr_ring_buf_stats, packets' `lost`).
 * Reader (rtr_ring_get_subbuf, put, flush, salvage, snapshot):
 *   - one reader per buffer at a time (the caller serialises its reader
 *     calls on one buffer); readers of different buffers are independent;
 *   - runs concurrently with writers, usually in another process, and
 *     trusts nothing it reads from the shared area: a corrupt or hostile
 *     writer can make it return -EIO for that buffer, never crash, loop
 *     without bound or touch memory outside the mapping.
 * Buffer creation and mapping happen before any writer or reader uses the
 * buffer; unmapping after all of them stopped.
 */
#ifndef RINGTRACE_RING_H
#define RINGTRACE_RING_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ringtrace/common.h>
#include <ringtrace/ring-rseq.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Client configuration
 * ------------------------------------------------------------------------ */

enum rtr_ring_alloc {
	RTR_RING_ALLOC_PER_CPU = 1, /* one buffer per possible CPU */
	RTR_RING_ALLOC_GLOBAL = 2,  /* one buffer shared by every CPU */
};

enum rtr_ring_mode {
	RTR_RING_MODE_DISCARD = 1,   /* full buffer: new records dropped and counted */
	RTR_RING_MODE_OVERWRITE = 2, /* full buffer: oldest sub-buffer reused (flight recorder) */
};

enum rtr_ring_sync {
	/* Per-CPU buffers updated inside restartable sequences: no
	 * lock-prefixed instruction on the fast path. x86-64 + glibc 2.35. */
	RTR_RING_SYNC_RSEQ = 1,
	/* Lock-prefixed compare-and-swap / fetch-add: any allocation. */
	RTR_RING_SYNC_ATOMIC = 2,
};

enum rtr_ring_wakeup {
	RTR_RING_WAKEUP_WRITER = 1, /* writer signals an eventfd when a sub-buffer fills */
	RTR_RING_WAKEUP_TIMER = 2,  /* reader polls on its own timer; writers never signal */
};

struct rtr_ring_config;
struct rtr_ring_ctx;
struct rtr_ring_buf;

/* What the reader knows about a sub-buffer when it hands it out; passed to
 * the client's packet hook, which writes its packet header and context. */
struct rtr_ring_packet_info {
	uint64_t seq;        /* sub-buffer sequence number: +1 per sub-buffer, gaps = lost */
	uint64_t begin_ts;   /* <= first record's timestamp */
	uint64_t end_ts;     /* >= last record's timestamp, <= next packet's begin */
	uint64_t data_size;  /* bytes used, packet header included */
	uint64_t lost;       /* records lost so far in this buffer (running total) */
	uint32_t cpu;        /* buffer index (CPU for per-CPU allocation) */
	uint32_t flags;      /* RTR_RING_PACKET_* */
};

#define RTR_RING_PACKET_SALVAGED 0x1u /* closed by rtr_ring_salvage after a writer died */
#define RTR_RING_PACKET_TRUNCATED 0x2u /* salvage dropped an incomplete tail */

struct rtr_ring_client_cb {
	/* Timestamp source, read once per record. Must be callable from a
	 * signal handler; no lock, no syscall. */
	uint64_t (*clock_read)(void);
	/* Bytes of the record header for this ctx: may depend on
	 * ctx->full_ts and ctx->client_id. Must be <= RTR_RING_MAX_RECORD_HEADER. */
	size_t (*record_header_size)(const struct rtr_ring_config *cfg,
				     const struct rtr_ring_ctx *ctx);
	/* Reader side: write the packet header/context into the first
	 * subbuf_header_size bytes of a sub-buffer about to be handed out. */
	void (*packet_hook)(const struct rtr_ring_config *cfg, const struct rtr_ring_buf *buf,
			    void *subbuf, const struct rtr_ring_packet_info *info);
};

struct rtr_ring_config {
	enum rtr_ring_alloc alloc;
	enum rtr_ring_mode mode;
	enum rtr_ring_sync sync;
	enum rtr_ring_wakeup wakeup;
	/* Timestamp bits a compact record header keeps (1..63), or 64 when
	 * every record carries a full timestamp. A record whose timestamp is
	 * 2^ts_bits or more after the previous record's in the same buffer
	 * gets ctx->full_ts = true and must use a full header. */
	unsigned int ts_bits;
	/* Alignment of every record's start (power of two, 1..64). */
	unsigned int record_align;
	/* Bytes reserved at the start of each sub-buffer for the packet header. */
	unsigned int subbuf_header_size;
	/* Identifies the client in the shared header so mismatched writer and
	 * reader configurations are refused when mapping. */
	uint32_t client_id;
	struct rtr_ring_client_cb cb;
};

#define RTR_RING_MAX_NESTING       4
#define RTR_RING_MAX_RECORD_HEADER 64
#define RTR_RING_MIN_SUBBUF        4096u
#define RTR_RING_MAX_SUBBUF        (1u << 30)
#define RTR_RING_MAX_NUM_SUBBUF    (1u << 16)

/* A trailing flexible array member: standard C99; an extension in C++
 * that GCC and Clang support (silenced for programs built with -Wpedantic:
 * __extension__ for GCC, a diagnostic pragma for Clang's C++ mode). */
#if defined(__cplusplus) && defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wc99-extensions"
#define RTR_RING_FLEX_ARRAY(T, name) T name[]
#else
#define RTR_RING_FLEX_ARRAY(T, name) __extension__ T name[]
#endif

/* ------------------------------------------------------------------------
 * Shared memory layout (one memfd per buffer). Everything is an offset or a
 * counter: no pointers. Written by writers in any process, read by a reader
 * that trusts none of it. See docs/design/ring-buffer.md §2.
 * ------------------------------------------------------------------------ */

#define RTR_RING_MAGIC     0x31474e4952525452ull /* "RTRRING1" */
#define RTR_RING_ABI_MAJOR 2
#define RTR_RING_ABI_MINOR 0
#define RTR_RING_CACHELINE 64

/* Written once by the creator before the fd is shared; read-only after. */
struct rtr_ring_shm_header {
	uint64_t magic;
	uint16_t abi_major, abi_minor;
	uint32_t ctl_size;      /* bytes of struct rtr_ring_ctl incl. sub-buffer array */
	uint64_t subbuf_size;
	uint32_t num_subbuf;
	uint32_t nr_phys;       /* physical sub-buffers: num_subbuf (+1 spare in overwrite) */
	uint64_t data_offset;   /* from the start of the mapping, page aligned */
	uint64_t map_size;
	uint32_t alloc, mode, sync, wakeup;
	uint32_t ts_bits, record_align, subbuf_header_size, client_id;
	uint32_t cpu;           /* buffer index */
	uint32_t pad0;
	uint64_t create_time;   /* creator's clock at creation */
} __attribute__((aligned(RTR_RING_CACHELINE)));

/* (offset, last_ts): the reserve position and the timestamp of the record
 * reserved last. Always updated together, in one 16-byte store (rseq) or
 * one 16-byte compare-and-swap (atomic). */
struct rtr_ring_pos {
	RTR_ATOMIC(uint64_t) offset;
	RTR_ATOMIC(uint64_t) last_ts;
} __attribute__((aligned(16)));

/* Per sub-buffer control, one cache line pair each. */
struct rtr_ring_sb {
	/* Bytes committed into this sub-buffer over all laps: cc_local by
	 * rseq adds on the buffer's CPU, cc_remote by atomic adds (writers
	 * that migrated between reserve and commit, ATOMIC sync, fixups).
	 * Lap k is complete when cc_local + cc_remote == (k + 1) * subbuf_size.
	 * records_* count the records committed the same two ways; the rseq
	 * commit updates (cc_local, records_local) with one 16-byte store. */
	RTR_ATOMIC(uint64_t) cc_local;
	RTR_ATOMIC(uint64_t) records_local;
	RTR_ATOMIC(uint64_t) cc_remote;
	RTR_ATOMIC(uint64_t) records_remote;
	/* Overwrite mode, a 16-byte pair changed only as a whole (by one
	 * compare-and-swap): wsb_id = (lap tag << 32) | physical sub-buffer
	 * index; lap_records = records committed into this sub-buffer before
	 * its current lap, | RTR_RING_LAP_READ once the reader took the
	 * current lap. With read_laps/read_records below this gives, at any
	 * time and whatever writer died where, what was overwritten unread. */
	RTR_ATOMIC(uint64_t) wsb_id;
	RTR_ATOMIC(uint64_t) lap_records;
	/* Committed-prefix watermark (free-running position): every byte
	 * before it in this lap is committed. A lower bound, for salvage. */
	RTR_ATOMIC(uint64_t) commit_mark;
	/* Packet facts recorded by the writer that opened (begin_*) and the
	 * writer that closed (end_*, data_size, lost) this sub-buffer. */
	RTR_ATOMIC(uint64_t) begin_pos;
	RTR_ATOMIC(uint64_t) begin_ts;
	RTR_ATOMIC(uint64_t) end_pos;  /* sub-buffer position the end_* facts belong to */
	RTR_ATOMIC(uint64_t) end_ts;
	RTR_ATOMIC(uint64_t) data_size;
	RTR_ATOMIC(uint64_t) lost;
	RTR_ATOMIC(uint32_t) flags;    /* RTR_RING_PACKET_* set by salvage */
	/* Reader-written (overwrite mode): laps the reader took from this
	 * sub-buffer, and their records. */
	RTR_ATOMIC(uint32_t) read_laps;
	RTR_ATOMIC(uint64_t) read_records;
	/* End position of the last lap whose completion was signalled: the
	 * two last committers may both see it complete; one writes the
	 * eventfd. */
	RTR_ATOMIC(uint64_t) woken;
} __attribute__((aligned(RTR_RING_CACHELINE)));

#define RTR_RING_LAP_READ (1ull << 63)

/* The rseq commit stores (cc_local, records_local) as one aligned pair;
 * (wsb_id, lap_records) is swapped as one aligned pair. */
RTR_STATIC_ASSERT(offsetof(struct rtr_ring_sb, cc_local) == 0 &&
			  offsetof(struct rtr_ring_sb, records_local) == 8 &&
			  offsetof(struct rtr_ring_sb, wsb_id) == 32 &&
			  offsetof(struct rtr_ring_sb, lap_records) == 40 &&
			  sizeof(struct rtr_ring_sb) == 128,
		  "the sub-buffer control's 16-byte pairs must be aligned");

struct rtr_ring_ctl {
	struct rtr_ring_shm_header hdr;
	/* Writer-hot line. */
	struct rtr_ring_pos pos __attribute__((aligned(RTR_RING_CACHELINE)));
	/* Reader line. */
	RTR_ATOMIC(uint64_t) consumed __attribute__((aligned(RTR_RING_CACHELINE)));
	RTR_ATOMIC(uint64_t) reader_spare;  /* overwrite: the reader's physical sub-buffer */
	/* Counters updated with atomics by any writer. */
	RTR_ATOMIC(uint64_t) lost_full __attribute__((aligned(RTR_RING_CACHELINE))); /* discard: full */
	RTR_ATOMIC(uint64_t) lost_wrap;     /* next sub-buffer still being written from its previous lap */
	RTR_ATOMIC(uint64_t) lost_big;      /* record larger than a sub-buffer */
	RTR_ATOMIC(uint64_t) refused_nest;  /* reservations refused by the nesting bound */
	/* Records refused before a buffer could be picked (no buffer for the
	 * writer's CPU, channel disabled, thread without rseq registration):
	 * counted in the buffer of the CPU the thread ran on, else in the
	 * channel's first buffer, so that the reader sees them. */
	RTR_ATOMIC(uint64_t) lost_nobuf;
	/* (What overwrite mode overwrote is derived from the sub-buffers'
	 * lap tags and counts: rtr_ring_buf_stats.) */
	RTR_RING_FLEX_ARRAY(struct rtr_ring_sb, sb); /* num_subbuf entries */
};

/* ------------------------------------------------------------------------
 * Process-local handles
 * ------------------------------------------------------------------------ */

struct rtr_ring_reader_state {
	uint64_t consumed;    /* the reader's own copy; never re-read from shm */
	uint64_t held_pos;    /* position of the sub-buffer it holds, if held */
	uint32_t spare;       /* overwrite: physical index the reader owns */
	uint32_t held_phys;
	bool held;
	bool failed;          /* the buffer was found corrupt: reader stops */
	uint64_t prev_end_ts;
	uint64_t salvaged_bytes_dropped;
	char error[160];
};

/* One mapped buffer. Geometry fields are copied from the validated shared
 * header once, at map time; the fast path never re-reads the header. */
struct rtr_ring_buf {
	struct rtr_ring_ctl *ctl;
	char *data;
	uint64_t sb_size;
	uint64_t buf_size;
	uint32_t sb_order;
	uint32_t buf_order;
	uint32_t num_subbuf;
	uint32_t nr_phys;
	uint32_t cpu;
	int fd;       /* memfd, or -1 */
	int wake_fd;  /* eventfd the writer signals, or -1 */
	size_t map_size;
	void *client_priv;  /* for the client's packet hook (e.g. stream identity) */
	struct rtr_ring_reader_state rd;
};

/* A channel: the set of buffers one writer picks from. */
struct rtr_ring_chan {
	uint32_t nr_bufs;
	RTR_ATOMIC(int) disabled;  /* process-local kill switch: reserve fails */
	/* Refusals with no buffer at all in the channel to count them in
	 * (otherwise they go to a buffer's shared lost_nobuf). */
	RTR_ATOMIC(uint64_t) lost_nobuf;
	RTR_RING_FLEX_ARRAY(struct rtr_ring_buf *, bufs);
};

/* Per-reservation context. The caller sets the "in" fields (the others need
 * no initialisation); reserve sets the rest. Keep it a local variable whose
 * address goes nowhere but the inline ring functions: the compiler then
 * keeps it in registers. */
struct rtr_ring_ctx {
	/* in */
	size_t payload_size;
	uint32_t client_id;  /* e.g. event id, for record_header_size */
	/* out */
	bool full_ts;        /* the header must carry the full timestamp */
	uint32_t header_size;
	char *wp;            /* where the record header starts */
	uint64_t ts;         /* the record's timestamp */
	/* for commit */
	struct rtr_ring_buf *buf;
	struct rtr_ring_sb *sb; /* control of the record's sub-buffer */
	uint64_t full;       /* cc_local + cc_remote when the sub-buffer's lap is complete */
	uint64_t mark_delta; /* commit count + mark_delta == offset <=> all reserved committed */
	uint64_t pos;        /* position of the record's slot */
	uint32_t slot_size;  /* header + payload (+ leading alignment) */
	uint32_t cpu;        /* buffer index the record went to */
};

/* What the slow path hands back (kept apart from ctx so that the caller's
 * ctx never escapes and can live in registers). */
struct rtr_ring_slow_out {
	struct rtr_ring_buf *buf;
	char *wp;
	uint64_t ts;
	uint64_t pos;
	uint32_t slot_size;
	uint32_t header_size;
	uint32_t cpu;
	bool full_ts;
};

/* ------------------------------------------------------------------------
 * Writer fast path
 * ------------------------------------------------------------------------ */

/* Per-thread nesting depth of reservations in progress (signal handlers).
 * Defined by the library that hosts the ring code of the process. */
extern __thread unsigned int rtr_ring_nesting __attribute__((tls_model("initial-exec")));

RTR_EXPORT int rtr_ring__reserve_slow(const struct rtr_ring_config *cfg, struct rtr_ring_chan *chan,
				      size_t payload_size, uint32_t client_id,
				      struct rtr_ring_slow_out *out);
RTR_EXPORT void rtr_ring__commit_slow(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
				      uint64_t pos);
RTR_EXPORT void rtr_ring__commit_remote(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
					uint64_t pos, uint64_t n, uint64_t nrec);
RTR_EXPORT int rtr_ring__refuse(const struct rtr_ring_config *cfg, struct rtr_ring_chan *chan,
				int why);
RTR_EXPORT int rtr_ring__refuse_full(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
				     uint64_t off, uint64_t rec);
RTR_EXPORT int rtr_ring__getcpu(void);

/* ThreadSanitizer cannot see inline assembly: the code tells it about the
 * edges the assembly makes (W1, W2, X1, X2). `p` is a struct pointer. */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define RTR_TSAN_RELEASE(p) __tsan_release(p)
#define RTR_TSAN_ACQUIRE(p) __tsan_acquire(p)
#else
#define RTR_TSAN_RELEASE(p) ((void)0)
#define RTR_TSAN_ACQUIRE(p) ((void)0)
#endif

/* 128-bit unsigned, for the pair CAS (__extension__: no -pedantic noise in
 * the programs that include this header). */
__extension__ typedef unsigned __int128 rtr_u128;

static inline uint32_t rtr_ring_sb_index(const struct rtr_ring_buf *buf, uint64_t pos)
{
	return RTR_CAST(uint32_t, (pos & (buf->buf_size - 1)) >> buf->sb_order);
}

/* The buffer index a writer on this thread uses now. With RSEQ sync a
 * thread whose rseq registration failed gets an id no buffer has (glibc
 * stores -2): its records are refused and counted (lost_nobuf). */
static RTR_ALWAYS_INLINE uint32_t rtr_ring_pick(const struct rtr_ring_config *cfg)
{
	if (cfg->alloc == RTR_RING_ALLOC_GLOBAL)
		return 0;
#if RTR_HAVE_RSEQ
	if (cfg->sync == RTR_RING_SYNC_RSEQ || rtr_rseq_registered())
		return RTR_CAST(uint32_t, rtr_rseq_cpu());
#endif
	return RTR_CAST(uint32_t, rtr_ring__getcpu());
}

/* Address of the byte at free-running position `pos`. */
static RTR_ALWAYS_INLINE char *rtr_ring_addr(const struct rtr_ring_config *cfg,
					     const struct rtr_ring_buf *buf, uint64_t pos)
{
	uint64_t in_sb = pos & (buf->sb_size - 1);

	if (cfg->mode == RTR_RING_MODE_OVERWRITE) {
		uint32_t idx = rtr_ring_sb_index(buf, pos);
		/* X3: acquire (a plain load on x86): the pages named here were
		 * the reader's until its exchange (X1) released them. */
		uint64_t id = rtr_atomic_load(&buf->ctl->sb[idx].wsb_id, __ATOMIC_ACQUIRE);
		uint32_t phys = RTR_CAST(uint32_t, id);

		if (rtr_unlikely(phys >= buf->nr_phys))
			phys = idx; /* corrupted table: stay inside the mapping */
		return buf->data + (RTR_CAST(uint64_t, phys) << buf->sb_order) + in_sb;
	}
	return buf->data + (pos & (buf->buf_size - 1));
}

/* Reads the (offset, last_ts) pair. One 16-byte load where possible: the
 * pair was last written by one 16-byte store, and two 8-byte loads of it
 * would miss store-to-load forwarding. The value is only a guess that the
 * publish below validates. */
static RTR_ALWAYS_INLINE void rtr_ring_load_pos(const struct rtr_ring_buf *buf, uint64_t *off,
						uint64_t *lt)
{
#if RTR_HAVE_RSEQ && !defined(__SANITIZE_THREAD__)
	rtr_v2di v = *RTR_PTR_CAST(const volatile rtr_v2di *, &buf->ctl->pos);

	*off = RTR_CAST(uint64_t, v[0]);
	*lt = RTR_CAST(uint64_t, v[1]);
#else
	*off = rtr_atomic_load(&buf->ctl->pos.offset, __ATOMIC_RELAXED);
	*lt = rtr_atomic_load(&buf->ctl->pos.last_ts, __ATOMIC_RELAXED);
#endif
}

/* Publish the new (offset, last_ts) pair if offset still equals `expect`.
 * Returns 0 on success, non-zero to retry. W1 in the design note. */
static RTR_ALWAYS_INLINE int rtr_ring_publish(const struct rtr_ring_config *cfg,
					      struct rtr_ring_buf *buf, uint32_t cpu,
					      uint64_t expect, uint64_t expect_ts,
					      uint64_t noff, uint64_t nts)
{
	struct rtr_ring_pos *p = &buf->ctl->pos;

	/* The publish is inline asm that ThreadSanitizer cannot see; tell it
	 * that successive publishers of a buffer are ordered (W1). */
	RTR_TSAN_RELEASE(p);
#if RTR_HAVE_RSEQ
	if (cfg->sync == RTR_RING_SYNC_RSEQ) {
		rtr_v2di v = {RTR_CAST(long long, noff), RTR_CAST(long long, nts)};
		int r;

		(void)expect_ts;
		/* offset is the pair's first half */
		r = rtr_rseq_cmpstore16(cpu, p, expect, v);
		if (r == RTR_RSEQ_OK)
			RTR_TSAN_ACQUIRE(p);
		return r;
	}
#endif
#if defined(__x86_64__)
	{
		/* lock cmpxchg16b on the (offset, last_ts) pair. */
		uint64_t lo = expect, hi = expect_ts;
		bool ok;

		(void)cfg;
		(void)cpu;
		__asm__ __volatile__("lock cmpxchg16b %[m]"
				     : [m] "+m"(*RTR_PTR_CAST(volatile rtr_u128 *, p)), "=@ccz"(ok),
				       "+a"(lo), "+d"(hi)
				     : "b"(noff), "c"(nts)
				     : "memory");
		if (ok)
			RTR_TSAN_ACQUIRE(p);
		return !ok;
	}
#else
	{
		rtr_u128 exp = (RTR_CAST(rtr_u128, expect_ts) << 64) | expect;
		rtr_u128 nv = (RTR_CAST(rtr_u128, nts) << 64) | noff;

		(void)cfg;
		(void)cpu;
		return !__atomic_compare_exchange_n(RTR_PTR_CAST(rtr_u128 *, p), &exp, nv, false,
						    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
	}
#endif
}

/* Fills the commit fields of ctx for a slot at `pos` in `buf`. */
static RTR_ALWAYS_INLINE void rtr_ring_ctx_commit_info(struct rtr_ring_ctx *ctx,
						       struct rtr_ring_buf *buf, uint64_t pos)
{
	uint64_t start = pos & ~(buf->sb_size - 1);
	uint64_t lap_base = (pos >> buf->buf_order) << buf->sb_order;

	ctx->sb = &buf->ctl->sb[rtr_ring_sb_index(buf, pos)];
	ctx->full = lap_base + buf->sb_size;
	ctx->mark_delta = start - lap_base;
}

/*
 * Reserve ctx->payload_size bytes (plus the client's record header) in the
 * buffer of the CPU the caller runs on. On success ctx->wp points at the
 * slot, ctx->ts holds the record's timestamp (never below the previous
 * record's in the same buffer) and ctx->full_ts says whether the header
 * must carry the full timestamp. The caller then writes header + payload at
 * ctx->wp and calls rtr_ring_commit().
 *
 * Returns 0, or (nothing reserved, nothing to commit, the loss counted in
 * the shared area, where the reader and rtr_ring_buf_stats() see it):
 *   -ENOBUFS  discard mode and the buffer is full;
 *   -EIO      the next sub-buffer is still being written from its last lap;
 *   -ENOSPC   the record is larger than a sub-buffer;
 *   -EBUSY    nesting bound reached;
 *   -ENODEV   no buffer for this CPU, the channel is disabled, or (RSEQ
 *             sync) the thread has no rseq registration.
 */
static RTR_ALWAYS_INLINE int rtr_ring_reserve(const struct rtr_ring_config *cfg,
					      struct rtr_ring_chan *chan, struct rtr_ring_ctx *ctx)
{
	struct rtr_ring_buf *buf;
	uint64_t off, lt, ts, in_sb, slot, hdr;
	uint32_t cpu;

	if (rtr_unlikely(++rtr_ring_nesting > RTR_RING_MAX_NESTING))
		return rtr_ring__refuse(cfg, chan, -EBUSY);
	rtr_barrier();
	for (;;) {
		cpu = rtr_ring_pick(cfg);
		if (rtr_unlikely(cpu >= chan->nr_bufs || !chan->bufs[cpu]))
			goto slow;
		buf = chan->bufs[cpu];
		rtr_ring_load_pos(buf, &off, &lt);
		ts = cfg->cb.clock_read();
		if (rtr_unlikely(ts < lt))
			ts = lt;
		ctx->full_ts = cfg->ts_bits < 64 && ((ts - lt) >> (cfg->ts_bits & 63)) != 0;
		hdr = cfg->cb.record_header_size(cfg, ctx);
		in_sb = off & (buf->sb_size - 1);
		slot = hdr + ctx->payload_size;
		if (cfg->record_align > 1)
			slot += ((in_sb + cfg->record_align - 1) &
				 ~RTR_CAST(uint64_t, cfg->record_align - 1)) -
				in_sb;
		/* Slow path: at a sub-buffer start, or the record would reach
		 * the sub-buffer's end. A discard-mode buffer that is full
		 * refuses here, on this view, without the slow path's second
		 * clock read (docs/design/ring-buffer.md §4, "the discard path"). */
		if (rtr_unlikely(in_sb == 0 || in_sb + slot >= buf->sb_size)) {
			if (cfg->mode == RTR_RING_MODE_DISCARD &&
			    (in_sb == 0 || in_sb + slot > buf->sb_size) &&
			    rtr_ring__refuse_full(cfg, buf, off, hdr + ctx->payload_size))
				return -ENOBUFS;
			goto slow;
		}
		if (rtr_likely(rtr_ring_publish(cfg, buf, cpu, off, lt, off + slot, ts) == 0))
			break;
	}
	ctx->buf = buf;
	ctx->cpu = cpu;
	ctx->pos = off;
	ctx->ts = ts;
	ctx->slot_size = RTR_CAST(uint32_t, slot);
	ctx->header_size = RTR_CAST(uint32_t, hdr);
	ctx->wp = rtr_ring_addr(cfg, buf, off) + (slot - hdr - ctx->payload_size);
	rtr_ring_ctx_commit_info(ctx, buf, off);
	return 0;
slow:
	{
		struct rtr_ring_slow_out o;
		int r = rtr_ring__reserve_slow(cfg, chan, ctx->payload_size, ctx->client_id, &o);

		if (r)
			return r;
		ctx->buf = o.buf;
		ctx->cpu = o.cpu;
		ctx->pos = o.pos;
		ctx->ts = o.ts;
		ctx->full_ts = o.full_ts;
		ctx->slot_size = o.slot_size;
		ctx->header_size = o.header_size;
		ctx->wp = o.wp;
		rtr_ring_ctx_commit_info(ctx, o.buf, o.pos);
		return 0;
	}
}

/* After a commit's add made the sub-buffer's count `sum`: wake the reader
 * if that completed it, else advance the committed-prefix watermark when
 * everything reserved in it so far is committed (for salvage). */
static RTR_ALWAYS_INLINE void rtr_ring_commit_done(const struct rtr_ring_config *cfg,
						   struct rtr_ring_ctx *ctx, uint64_t sum)
{
	if (rtr_unlikely(sum == ctx->full))
		rtr_ring__commit_slow(cfg, ctx->buf, ctx->pos);
	else if (sum + ctx->mark_delta ==
		 rtr_atomic_load(&ctx->buf->ctl->pos.offset, __ATOMIC_RELAXED))
		rtr_atomic_store(&ctx->sb->commit_mark, sum + ctx->mark_delta, __ATOMIC_RELAXED);
}

/* Commit the record reserved in ctx: it becomes visible to the reader once
 * every record before it in the sub-buffer is committed too. W2: the count
 * is added after every store the caller made to the record (release). */
static RTR_ALWAYS_INLINE void rtr_ring_commit(const struct rtr_ring_config *cfg,
					      struct rtr_ring_ctx *ctx)
{
#if RTR_HAVE_RSEQ
	if (cfg->sync == RTR_RING_SYNC_RSEQ) {
		/* (cc_local, records_local) += (slot, 1): one 16-byte store on
		 * the buffer's CPU, ordered after the record's stores (TSO). */
		rtr_v2di inc = {RTR_CAST(long long, ctx->slot_size), 1}, now;

		RTR_TSAN_RELEASE(ctx->sb);
		if (rtr_likely(rtr_rseq_add16(ctx->cpu, ctx->sb, inc, &now) == RTR_RSEQ_OK))
			rtr_ring_commit_done(cfg, ctx,
					     RTR_CAST(uint64_t, now[0]) +
						     rtr_atomic_load(&ctx->sb->cc_remote,
								     __ATOMIC_ACQUIRE));
		else /* migrated (or preempted) since the reserve: atomics, out of line */
			rtr_ring__commit_remote(cfg, ctx->buf, ctx->pos, ctx->slot_size, 1);
	} else
#endif
	{
		uint64_t n = ctx->slot_size;

		rtr_atomic_fetch_add(&ctx->sb->records_remote, 1, __ATOMIC_RELAXED);
		/* with ATOMIC sync cc_local stays 0 */
		rtr_ring_commit_done(cfg, ctx,
				     n + rtr_atomic_fetch_add(&ctx->sb->cc_remote, n,
							      __ATOMIC_ACQ_REL));
	}
	rtr_barrier();
	rtr_ring_nesting--;
}

/* Copy helper for clients that build records field by field. */
static RTR_ALWAYS_INLINE void rtr_ring_write(struct rtr_ring_ctx *ctx, const void *src, size_t len)
{
	__builtin_memcpy(ctx->wp, src, len);
	ctx->wp += len;
}

/* ------------------------------------------------------------------------
 * Creation, mapping, reader side (lib/ring/ring.c)
 * ------------------------------------------------------------------------ */

struct rtr_ring_geometry {
	uint64_t subbuf_size; /* power of two, RTR_RING_MIN_SUBBUF..RTR_RING_MAX_SUBBUF */
	uint32_t num_subbuf;  /* power of two, 2..RTR_RING_MAX_NUM_SUBBUF */
};

/* Checks a configuration and geometry. Returns 0, or -EINVAL with a reason
 * in `why` (if non-NULL) for a bad combination (e.g. RSEQ with a global
 * buffer, RSEQ where unsupported, sizes not powers of two). */
RTR_EXPORT int rtr_ring_config_check(const struct rtr_ring_config *cfg,
				     const struct rtr_ring_geometry *geo, const char **why);

/* Creates one buffer in a new sealed memfd (size cannot change once shared)
 * and maps it. `cpu` is the buffer's index. Returns 0 and sets *out, or
 * -EINVAL (bad config), -ENOMEM, or another -errno from memfd/mmap. */
RTR_EXPORT int rtr_ring_buf_create(const struct rtr_ring_config *cfg,
				   const struct rtr_ring_geometry *geo, uint32_t cpu,
				   const char *name, struct rtr_ring_buf **out);

/* Maps a buffer from its fd (which stays owned by the caller unless the
 * call succeeds, after which the buffer owns it). Validates the shared
 * header against cfg and the fd's size. Returns 0, -EPROTO (not a ring
 * buffer, wrong ABI, mismatched config or inconsistent geometry), or another
 * -errno. Safe on a hostile fd. */
RTR_EXPORT int rtr_ring_buf_map(const struct rtr_ring_config *cfg, int fd,
				struct rtr_ring_buf **out);

/* Unmaps and closes (fd and wake_fd). NULL is ignored. */
RTR_EXPORT void rtr_ring_buf_destroy(struct rtr_ring_buf *buf);

/* Number of possible CPUs (highest id in /sys/devices/system/cpu/possible
 * plus one, else the configured count): how many buffers a per-CPU channel
 * needs so that a writer on any CPU, hot-plugged ones included, has one. */
RTR_EXPORT uint32_t rtr_ring_possible_cpus(void);

/* A channel of nr_bufs empty slots; the caller fills chan->bufs[]. */
RTR_EXPORT struct rtr_ring_chan *rtr_ring_chan_alloc(uint32_t nr_bufs);
/* Frees the channel, not the buffers. */
RTR_EXPORT void rtr_ring_chan_free(struct rtr_ring_chan *chan);
/* Counts one record that a client refused before it reached the ring (e.g.
 * a binding with an unknown client), in the same shared counter as the
 * ring's own -ENODEV refusals (lost_nobuf), so the reader sees it. Any
 * thread, signal handlers included; no lock, no allocation. */
RTR_EXPORT void rtr_ring_chan_count_lost(struct rtr_ring_chan *chan);

/* A sub-buffer handed to the reader: zero copy, points into the mapping. */
struct rtr_ring_subbuf {
	const char *data;
	uint64_t len;        /* bytes to output (packet header included) */
	uint64_t pos;        /* free-running position of the sub-buffer */
	struct rtr_ring_packet_info info;
};

/*
 * Next complete sub-buffer in order. Calls the client's packet hook to fill
 * the packet header, then hands it out; the writer cannot touch it until
 * rtr_ring_put_subbuf(). Returns 0, -EAGAIN (nothing complete yet), -EIO
 * (buffer corrupt: see rtr_ring_buf_error(); the reader stops using it), or
 * -EBUSY (a sub-buffer is already held).
 * In overwrite mode, sub-buffers overwritten before the reader got to them
 * are skipped; the gap shows in the packet sequence numbers.
 */
RTR_EXPORT int rtr_ring_get_subbuf(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
				   struct rtr_ring_subbuf *sb);
/* Gives the held sub-buffer back. Returns 0 or -EINVAL (none held). */
RTR_EXPORT int rtr_ring_put_subbuf(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf);

enum rtr_ring_flush_mode {
	RTR_RING_FLUSH_ACTIVE = 1, /* close the open sub-buffer if it holds records */
	RTR_RING_FLUSH_EMPTY = 2,  /* also close/produce a packet with no record */
};

/*
 * Closes the partially filled sub-buffer now (stop, timers). With RSEQ
 * sync the calling thread briefly pins itself to the buffer's CPU and
 * closes it inside a restartable sequence, exactly as a writer would.
 * `writers_gone` = true when no writer can use the buffer any more (the
 * process exited): the close then needs no pinning.
 * Returns 0 (done, or nothing to close), -EAGAIN (could not run on the
 * buffer's CPU; try later), -ENOBUFS (EMPTY mode, no free sub-buffer), -EIO.
 */
RTR_EXPORT int rtr_ring_flush(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
			      enum rtr_ring_flush_mode mode, bool writers_gone);

/*
 * After every writer died (e.g. SIGKILL): makes every committed record
 * readable. Sub-buffers whose records were all committed are completed as
 * they are; one with a record reserved but never committed is cut at its
 * committed prefix (RTR_RING_PACKET_TRUNCATED). Then rtr_ring_get_subbuf()
 * yields them. Returns 0 or -EIO.
 */
RTR_EXPORT int rtr_ring_salvage(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf);

/*
 * Writers of other processes go on (per-user buffers, ring-buffer.md §6a):
 * rtr_ring_stalled() finds the oldest sub-buffer the writers have left
 * (the write position is past it) whose lap is incomplete, from the
 * reader's position on: *pos its position, *cc its commit count. Returns 0,
 * -EAGAIN (none) or -EIO. rtr_ring_unstall() then completes that
 * sub-buffer for a writer known dead, if its commit count still is `cc`
 * (one compare-and-swap: a commit that lands first makes it -EAGAIN): cut at
 * its committed prefix (RTR_RING_PACKET_SALVAGED | _TRUNCATED), the bytes
 * after the cut added to *dropped and to salvage_dropped_bytes. ATOMIC sync only (-EINVAL otherwise).
 * A writer that was only slow and commits after the cut makes the next lap
 * of that sub-buffer overshoot its count: the reader then reports the
 * buffer damaged (-EIO), never a torn record.
 */
RTR_EXPORT int rtr_ring_stalled(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
				uint64_t *pos, uint64_t *cc);
RTR_EXPORT int rtr_ring_unstall(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
				uint64_t pos, uint64_t cc, uint64_t *dropped);

/* Overwrite mode: positions the reader at the oldest sub-buffer that can
 * still be read, so that the following get/put calls yield every complete
 * sub-buffer currently in the buffer (a snapshot), while writers go on.
 * Call after rtr_ring_flush(). Returns 0 or -EIO. */
RTR_EXPORT int rtr_ring_snapshot_start(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf);

struct rtr_ring_stats {
	uint64_t records;       /* committed */
	uint64_t lost_full, lost_wrap, lost_big, refused_nest, lost_nobuf;
	uint64_t overwritten;   /* overwrite mode: sub-buffer laps overwritten before the reader took them */
	uint64_t produced;      /* reserve position (bytes) */
	uint64_t consumed;      /* reader position (bytes) */
	uint64_t salvage_dropped_bytes;
	uint64_t overwritten_records; /* overwrite mode: committed records in those sub-buffers */
};
/* Counters (values from the shared area: informative, not trusted). The
 * overwrite counts are derived from every sub-buffer's lap tag, its count
 * of records before the current lap and what the reader took from it: exact
 * once the writers stopped or died, a snapshot of moving values before. */
RTR_EXPORT void rtr_ring_buf_stats(const struct rtr_ring_buf *buf, struct rtr_ring_stats *st);
/* Sum of the loss counters (what a packet's "records lost" reports). */
RTR_EXPORT uint64_t rtr_ring_buf_lost(const struct rtr_ring_buf *buf);

/* Last error message of a buffer that returned -EIO, or "". */
RTR_EXPORT const char *rtr_ring_buf_error(const struct rtr_ring_buf *buf);

/* Writes sb->len bytes of the held sub-buffer to out_fd with no user-space
 * copy (sendfile from the memfd; write() from the mapping as a fallback).
 * Returns bytes written or -errno. */
RTR_EXPORT ssize_t rtr_ring_subbuf_write(const struct rtr_ring_buf *buf,
					 const struct rtr_ring_subbuf *sb, int out_fd);
/* Copies up to cap bytes of the held sub-buffer to dst ("read" style).
 * Returns bytes copied. */
RTR_EXPORT size_t rtr_ring_subbuf_read(const struct rtr_ring_subbuf *sb, void *dst, size_t cap);

#if defined(__cplusplus) && defined(__clang__)
#pragma clang diagnostic pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* RINGTRACE_RING_H */
