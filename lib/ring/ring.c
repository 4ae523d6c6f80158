/* ringtrace ring buffer: writer slow path (sub-buffer switch, loss
 * accounting), buffer creation/mapping, and the reader. See docs/design/ring-buffer.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ringtrace/ring.h>

#include "ring-hooks.h"

RTR_EXPORT __thread unsigned int rtr_ring_nesting __attribute__((tls_model("initial-exec")));

void (*rtr_ring__hook)(enum rtr_ring_hook_point point, struct rtr_ring_buf *buf,
		       uint64_t *value);

static inline uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static inline bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static inline unsigned int ilog2(uint64_t v)
{
	return 63u - (unsigned int)__builtin_clzll(v);
}

static uint64_t lost_sum(const struct rtr_ring_ctl *ctl)
{
	return atomic_load_explicit(&ctl->lost_full, memory_order_relaxed) +
	       atomic_load_explicit(&ctl->lost_wrap, memory_order_relaxed) +
	       atomic_load_explicit(&ctl->lost_big, memory_order_relaxed) +
	       atomic_load_explicit(&ctl->refused_nest, memory_order_relaxed) +
	       atomic_load_explicit(&ctl->lost_nobuf, memory_order_relaxed);
}

static uint64_t cc_sum(const struct rtr_ring_sb *sb)
{
	/* R1: acquire pairs with W2 of every committer. */
	uint64_t l = atomic_load_explicit(&sb->cc_local, memory_order_acquire);

	RTR_TSAN_ACQUIRE((void *)sb);
	return l + atomic_load_explicit(&sb->cc_remote, memory_order_acquire);
}

static uint64_t records_sum(const struct rtr_ring_sb *sb)
{
	return atomic_load_explicit(&sb->records_local, memory_order_relaxed) +
	       atomic_load_explicit(&sb->records_remote, memory_order_relaxed);
}

typedef rtr_u128 __attribute__((may_alias)) u128_alias;

/* (wsb_id, lap_records) compare-and-swap as one 16-byte pair: X1, X2.
 * On failure *id and *recs receive the current pair. acq_rel. */
static bool pair_cas(struct rtr_ring_sb *sb, uint64_t *id, uint64_t *recs, uint64_t nid,
		     uint64_t nrecs)
{
	bool ok;

	/* The exchange is inline asm: tell ThreadSanitizer about the edge,
	 * on the address the acquire loads of wsb_id (X3) read. */
	RTR_TSAN_RELEASE((void *)(uintptr_t)&sb->wsb_id);
#if defined(__x86_64__)
	__asm__ __volatile__("lock cmpxchg16b %[m]"
			     : [m] "+m"(*(volatile u128_alias *)(uintptr_t)&sb->wsb_id), "=@ccz"(ok),
			       "+a"(*id), "+d"(*recs)
			     : "b"(nid), "c"(nrecs)
			     : "memory");
#else
	{
		rtr_u128 exp = ((rtr_u128)*recs << 64) | *id;

		ok = __atomic_compare_exchange_n((u128_alias *)(uintptr_t)&sb->wsb_id, &exp,
						 ((rtr_u128)nrecs << 64) | nid, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
		*id = (uint64_t)exp;
		*recs = (uint64_t)(exp >> 64);
	}
#endif
	RTR_TSAN_ACQUIRE((void *)(uintptr_t)&sb->wsb_id);
	return ok;
}

/* Overwrite mode: position of the oldest sub-buffer whose lap can still be
 * in the buffer when the write position is `off`: a buffer behind the
 * sub-buffer after the open one, or behind `off` itself when nothing is
 * open there yet (off at a sub-buffer's start: that sub-buffer's previous
 * lap is still intact). 0 before the first wrap. */
static uint64_t oldest_kept(const struct rtr_ring_buf *buf, uint64_t off)
{
	uint64_t start = off & ~(buf->sb_size - 1);
	uint64_t next = (off & (buf->sb_size - 1)) ? start + buf->sb_size : start;

	return next >= buf->buf_size ? next - buf->buf_size : 0;
}

/* Signed distance of lap tag a ahead of b (tags are laps modulo 2^32). */
static inline int32_t tag_ahead(uint64_t id, uint64_t lap)
{
	return (int32_t)((uint32_t)(id >> 32) - (uint32_t)lap);
}

/* ------------------------------------------------------------------------
 * Writer slow path
 * ------------------------------------------------------------------------ */

int rtr_ring__getcpu(void)
{
	return sched_getcpu();
}

/* The buffer a loss is counted in when the writer has none of its own (no
 * buffer for its CPU, channel disabled, thread without rseq): the buffer of
 * the CPU it runs on, else the channel's first one. NULL only for a channel
 * with no buffer at all. Every refusal lands in shared memory, where the
 * reader and rtr_ring_buf_stats() see it. */
static struct rtr_ring_buf *loss_buf(struct rtr_ring_chan *chan, uint32_t cpu)
{
	int c;

	if (cpu < chan->nr_bufs && chan->bufs[cpu])
		return chan->bufs[cpu];
	c = sched_getcpu();
	if (c >= 0 && (uint32_t)c < chan->nr_bufs && chan->bufs[c])
		return chan->bufs[c];
	for (uint32_t i = 0; i < chan->nr_bufs; i++)
		if (chan->bufs[i])
			return chan->bufs[i];
	return NULL;
}

static void count_nobuf(struct rtr_ring_chan *chan, uint32_t cpu)
{
	struct rtr_ring_buf *b = loss_buf(chan, cpu);

	atomic_fetch_add_explicit(b ? &b->ctl->lost_nobuf : &chan->lost_nobuf, 1,
				  memory_order_relaxed);
}

int rtr_ring__refuse(const struct rtr_ring_config *cfg, struct rtr_ring_chan *chan, int why)
{
	uint32_t cpu = rtr_ring_pick(cfg);
	struct rtr_ring_buf *b = loss_buf(chan, cpu);

	rtr_ring_nesting--;
	atomic_fetch_add_explicit(b ? &b->ctl->refused_nest : &chan->lost_nobuf, 1,
				  memory_order_relaxed);
	return why;
}

void rtr_ring_chan_count_lost(struct rtr_ring_chan *chan)
{
	count_nobuf(chan, UINT32_MAX);
}

static int fail_reserve(_Atomic uint64_t *counter, int err)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
	rtr_ring_nesting--;
	return err;
}

/*
 * The discard path, called inline by rtr_ring_reserve when a record of
 * `rec` bytes (header + payload) does not fit in the sub-buffer open at
 * `off`, or nothing is open there, as the fast path saw it. Refuses the
 * record and counts it (lost_full) when the sub-buffer it would open has
 * not been consumed yet and the position is still `off`: the slow path's
 * decision (make_room, "a refusal is a loss only at the current position")
 * on the fast path's view, without a second clock read, so that a writer
 * pays no more per event while its buffer is full than while it records.
 * Returns 0 when the caller must take the slow path (room, a moved
 * position, a record too big for any sub-buffer, overwrite mode).
 */
int rtr_ring__refuse_full(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
			  uint64_t off, uint64_t rec)
{
	struct rtr_ring_ctl *ctl = buf->ctl;
	const uint64_t align = cfg->record_align > 1 ? cfg->record_align : 1;
	uint64_t in_sb = off & (buf->sb_size - 1);
	uint64_t next = in_sb ? off - in_sb + buf->sb_size : off;
	uint64_t consumed;

	if (cfg->mode != RTR_RING_MODE_DISCARD)
		return 0;
	RTR_RING_HOOK(RTR_RING_HOOK_FULL_LOADED, buf, NULL);
	if (align_up(cfg->subbuf_header_size, align) + rec > buf->sb_size)
		return 0; /* the slow path counts it as lost_big */
	/* W3, as in make_room (nothing is reused here: only counted). */
	consumed = atomic_load_explicit(&ctl->consumed, memory_order_acquire);
	if ((int64_t)(next - consumed) < (int64_t)buf->buf_size)
		return 0;
	if (atomic_load_explicit(&ctl->pos.offset, memory_order_acquire) != off)
		return 0;
	return fail_reserve(&ctl->lost_full, -ENOBUFS);
}

/*
 * Makes sub-buffer `new_start` (free-running position of its first byte)
 * available to the writer that is about to open it. Discard mode: the
 * reader must have consumed its previous lap. Overwrite mode: its previous
 * lap must be fully committed; the reader is pushed past it if needed and
 * the lap tag of its id is moved to the new lap before the position is
 * published, so a reader can no longer take the old lap's pages (X2 pairs
 * with X1). A tag only ever moves forward: a writer whose view is stale
 * (the sub-buffer is already in a later lap) changes nothing.
 * Returns 0, -ENOBUFS (full), -EIO (previous lap not committed, or the
 * sub-buffer was already opened by another writer) or -EAGAIN (overwrite:
 * the sub-buffer is already in a later lap). The caller decides whether a
 * failure is a loss: only when the position did not move meanwhile.
 */
static int make_room(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
		     uint64_t new_start)
{
	struct rtr_ring_ctl *ctl = buf->ctl;
	uint32_t idx = rtr_ring_sb_index(buf, new_start);
	struct rtr_ring_sb *sb = &ctl->sb[idx];
	uint64_t lap = new_start >> buf->buf_order;
	uint64_t id, recs;

	if (cfg->mode == RTR_RING_MODE_DISCARD) {
		/* W3: acquire pairs with the reader's release of consumed
		 * (R2): its reads of the old lap are done before we reuse it. */
		uint64_t consumed = atomic_load_explicit(&ctl->consumed, memory_order_acquire);

		if ((int64_t)(new_start - consumed) >= (int64_t)buf->buf_size)
			return -ENOBUFS;
		if (cc_sum(sb) != lap << buf->sb_order)
			return -EIO;
		return 0;
	}

	/* X3: acquire, because the retag may already be done (by a writer
	 * whose publish then lost): we still must see the reader's release
	 * of the pages it swapped in (X1). */
	id = atomic_load_explicit(&sb->wsb_id, memory_order_acquire);
	if (tag_ahead(id, lap) > 0)
		return -EAGAIN;
	if (cc_sum(sb) != lap << buf->sb_order)
		return -EIO;
	RTR_RING_HOOK(RTR_RING_HOOK_ROOM_CHECKED, buf, NULL);
	id = atomic_load_explicit(&sb->wsb_id, memory_order_acquire);
	recs = atomic_load_explicit(&sb->lap_records, memory_order_relaxed);
	for (;;) {
		int32_t ahead = tag_ahead(id, lap);
		uint64_t now;

		if (ahead > 0)
			return -EAGAIN; /* stale: never move a tag backwards */
		if (ahead == 0)
			break; /* another opener of this lap retagged it */
		/* While the tag is still behind, no record of lap `lap` can
		 * exist (its openers retag first): `now` counts exactly the
		 * records of the laps before, the previous one complete. */
		now = records_sum(sb);
		/* X2 */
		if (pair_cas(sb, &id, &recs, (id & 0xffffffffull) | ((lap & 0xffffffffull) << 32),
			     now))
			break;
	}
	/* Push the reader past what is now overwritten (a hint: after the
	 * retag, so that a writer killed in between leaves nothing skipped
	 * that was not counted). */
	{
		uint64_t c = atomic_load_explicit(&ctl->consumed, memory_order_relaxed);

		while ((int64_t)(new_start - c) >= (int64_t)buf->buf_size) {
			uint64_t nc = new_start - buf->buf_size + buf->sb_size;

			if (atomic_compare_exchange_weak_explicit(&ctl->consumed, &c, nc,
								  memory_order_acq_rel,
								  memory_order_relaxed))
				break;
		}
	}
	return 0;
}

/* W4: the end facts of sub-buffer `start`, stored before the commit that
 * can complete it (that commit is a release, W2). */
static void store_end_facts(struct rtr_ring_buf *buf, uint64_t start, uint64_t ts,
			    uint64_t data_size, uint64_t lost)
{
	struct rtr_ring_sb *sb = &buf->ctl->sb[rtr_ring_sb_index(buf, start)];

	atomic_store_explicit(&sb->end_ts, ts, memory_order_relaxed);
	atomic_store_explicit(&sb->data_size, data_size, memory_order_relaxed);
	atomic_store_explicit(&sb->lost, lost, memory_order_relaxed);
	atomic_store_explicit(&sb->flags, 0u, memory_order_relaxed);
	atomic_store_explicit(&sb->end_pos, start, memory_order_release);
}

static void store_begin_facts(struct rtr_ring_buf *buf, uint64_t start, uint64_t ts)
{
	struct rtr_ring_sb *sb = &buf->ctl->sb[rtr_ring_sb_index(buf, start)];

	atomic_store_explicit(&sb->begin_ts, ts, memory_order_relaxed);
	atomic_store_explicit(&sb->begin_pos, start, memory_order_release);
}

/* Commits n bytes at `pos` on behalf of the slow path (padding, packet
 * header, flush). With RSEQ sync the local add is followed by a full fence
 * (E2) before cc_remote is read: a writer that migrated and sees the
 * sub-buffer still open (rtr_ring__commit_remote) counts on this commit
 * seeing its add. Once per sub-buffer switch, never on the fast path. */
static void commit_bytes(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
			 uint64_t pos, uint64_t n)
{
	struct rtr_ring_ctx c;

	rtr_ring_ctx_commit_info(&c, buf, pos);
	c.buf = buf;
	c.pos = pos;
#if RTR_HAVE_RSEQ
	if (cfg->sync == RTR_RING_SYNC_RSEQ) {
		rtr_v2di inc = {(long long)n, 0}, now;

		RTR_TSAN_RELEASE((void *)c.sb);
		if (rtr_rseq_add16(buf->cpu, c.sb, inc, &now) == RTR_RSEQ_OK) {
			atomic_thread_fence(memory_order_seq_cst); /* E2 */
			rtr_ring_commit_done(cfg, &c,
					     (uint64_t)now[0] +
						     atomic_load_explicit(&c.sb->cc_remote,
									  memory_order_acquire));
			return;
		}
	}
#endif
	rtr_ring__commit_remote(cfg, buf, pos, n, 0);
}

int rtr_ring__reserve_slow(const struct rtr_ring_config *cfg, struct rtr_ring_chan *chan,
			   size_t payload_size, uint32_t client_id, struct rtr_ring_slow_out *out)
{
	const uint64_t align = cfg->record_align > 1 ? cfg->record_align : 1;
	const uint64_t sbh = cfg->subbuf_header_size;
	struct rtr_ring_ctx ctx = {.payload_size = payload_size, .client_id = client_id};

	for (;;) {
		struct rtr_ring_buf *buf;
		struct rtr_ring_ctl *ctl;
		uint64_t off, lt, ts, in_sb, hdr, slot_start, pad = 0, slot = 0, end, lost = 0;
		uint64_t new_start = 0;
		bool open_new, close_old;
		uint32_t cpu;

		cpu = rtr_ring_pick(cfg);
		/* ATOMIC sync needs no particular CPU: a thread whose rseq
		 * area holds no CPU id (registration failed) asks the kernel. */
		if (cfg->sync == RTR_RING_SYNC_ATOMIC && cpu >= chan->nr_bufs) {
			int c = sched_getcpu();

			cpu = c >= 0 ? (uint32_t)c : UINT32_MAX;
		}
		if (rtr_unlikely(atomic_load_explicit(&chan->disabled, memory_order_relaxed)) ||
		    cpu >= chan->nr_bufs || !chan->bufs[cpu]) {
			count_nobuf(chan, cpu);
			rtr_ring_nesting--;
			return -ENODEV;
		}
		buf = chan->bufs[cpu];
		ctl = buf->ctl;

		off = atomic_load_explicit(&ctl->pos.offset, memory_order_acquire);
		lt = atomic_load_explicit(&ctl->pos.last_ts, memory_order_relaxed);
		RTR_RING_HOOK(RTR_RING_HOOK_SLOW_LOADED, buf, NULL);
		ts = cfg->cb.clock_read();
		if (ts < lt)
			ts = lt;
		ctx.full_ts = cfg->ts_bits < 64 && ((ts - lt) >> (cfg->ts_bits & 63)) != 0;
		hdr = cfg->cb.record_header_size(cfg, &ctx);
		in_sb = off & (buf->sb_size - 1);

		close_old = false;
		open_new = in_sb == 0;
		if (!open_new) {
			pad = align_up(in_sb, align) - in_sb;
			slot = pad + hdr + payload_size;
			if (in_sb + slot > buf->sb_size) {
				close_old = true;
				open_new = true;
			}
		}
		if (open_new) {
			int r;

			new_start = close_old ? off - in_sb + buf->sb_size : off;
			pad = align_up(sbh, align) - sbh;
			slot = pad + hdr + payload_size;
			if (sbh + slot > buf->sb_size)
				return fail_reserve(&ctl->lost_big, -ENOSPC);
			r = make_room(cfg, buf, new_start);
			if (r) {
				/* The decision was taken on our view of the
				 * position; if it moved, another writer made
				 * progress and the view is stale: look again.
				 * Only a refusal at the current position is a
				 * loss (it cannot loop without others writing). */
				if (atomic_load_explicit(&ctl->pos.offset, memory_order_acquire) !=
				    off)
					continue;
				if (r == -ENOBUFS)
					return fail_reserve(&ctl->lost_full, -ENOBUFS);
				return fail_reserve(&ctl->lost_wrap, -EIO);
			}
			slot_start = new_start + sbh;
		} else {
			slot_start = off;
		}
		end = slot_start + slot;
		/* Loss totals for the packet this reservation closes, sampled
		 * before publishing so successive packets see a running total
		 * that never goes down. */
		if (close_old || (end & (buf->sb_size - 1)) == 0)
			lost = lost_sum(ctl);

		if (rtr_ring_publish(cfg, buf, cpu, off, lt, end, ts) != 0)
			continue;

		if (close_old) {
			uint64_t old_start = off - in_sb;

			store_end_facts(buf, old_start, ts, in_sb, lost);
			commit_bytes(cfg, buf, old_start, buf->sb_size - in_sb);
		}
		if (open_new) {
			store_begin_facts(buf, new_start, ts);
			commit_bytes(cfg, buf, new_start, sbh);
		}
		if ((end & (buf->sb_size - 1)) == 0)
			store_end_facts(buf, end - buf->sb_size, ts, buf->sb_size, lost);

		out->buf = buf;
		out->cpu = cpu;
		out->pos = slot_start;
		out->ts = ts;
		out->full_ts = ctx.full_ts;
		out->slot_size = (uint32_t)slot;
		out->header_size = (uint32_t)hdr;
		out->wp = rtr_ring_addr(cfg, buf, slot_start) + pad;
		return 0;
	}
}

/* E1: makes every store that the other running threads of this process
 * issued before the call visible to the caller (membarrier(2), private
 * expedited: each CPU running one of our threads executes a full barrier).
 * Registered on first use; false where the kernel refuses it. errno is
 * the traced program's and is left as it was. */
static bool fence_others(void)
{
	static _Atomic int state; /* 0 not tried, 1 registered, -1 unavailable */
	int s = atomic_load_explicit(&state, memory_order_relaxed), saved = errno;
	bool ok = false;

	if (s == 0) {
		long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

		s = -1;
		if (q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
		    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
			s = 1;
		atomic_store_explicit(&state, s, memory_order_relaxed);
	}
	if (s > 0) {
		ok = syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
		/* A forked child inherits the flag but not the registration. */
		if (!ok && errno == EPERM &&
		    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
			ok = syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
	}
	errno = saved;
	return ok;
}

/*
 * A commit that cannot use the buffer's CPU-local counter (ATOMIC sync, or
 * an RSEQ writer that migrated or was preempted between reserve and
 * commit): atomic adds on the remote counters, then the completion check.
 *
 * With RSEQ sync the completion check has a store-buffering race: the last
 * local commit is a plain store followed by a load of cc_remote, this one a
 * locked add followed by a load of cc_local; each load can miss the other's
 * add, and then nobody sees the sub-buffer complete (no wake-up). Once the
 * sub-buffer is closed (fully reserved) and looks incomplete, E1 makes any
 * local commit issued so far visible and the count is read again; a local
 * commit issued after E1 reads cc_remote after it and sees this add. While
 * the sub-buffer is still open, the slow-path commit that closes it comes
 * later and sees this add (its own full fence, E2).
 */
void rtr_ring__commit_remote(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
			     uint64_t pos, uint64_t n, uint64_t nrec)
{
	struct rtr_ring_ctx c;
	uint64_t local, sum;

	rtr_ring_ctx_commit_info(&c, buf, pos);
	c.buf = buf;
	c.pos = pos;
	if (nrec)
		atomic_fetch_add_explicit(&c.sb->records_remote, nrec, memory_order_relaxed);
	/* W2 (and, for the race above, a full barrier: seq_cst) */
	sum = atomic_fetch_add_explicit(&c.sb->cc_remote, n, memory_order_seq_cst) + n;
	local = atomic_load_explicit(&c.sb->cc_local, memory_order_seq_cst);
	RTR_TSAN_ACQUIRE((void *)c.sb);
	RTR_RING_HOOK(RTR_RING_HOOK_REMOTE_SAW_LOCAL, buf, &local);
	sum += local;
	if (cfg->sync == RTR_RING_SYNC_RSEQ && (int64_t)(c.full - sum) > 0) {
		uint64_t start = pos & ~(buf->sb_size - 1);
		uint64_t off = atomic_load_explicit(&buf->ctl->pos.offset, memory_order_seq_cst);

		if ((int64_t)(off - start) >= (int64_t)buf->sb_size) {
			if (fence_others()) {
				sum = cc_sum(c.sb);
			} else {
				/* No membarrier: a store leaves its store buffer
				 * within nanoseconds; look a few more times. A
				 * completion still missed is found by the
				 * reader's own polling (record: every 100 ms). */
				for (int i = 0; i < 256 && (int64_t)(c.full - sum) > 0; i++) {
#if defined(__x86_64__)
					__builtin_ia32_pause();
#endif
					sum = cc_sum(c.sb);
				}
			}
		}
	}
	rtr_ring_commit_done(cfg, &c, sum);
}

void rtr_ring__commit_slow(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
			   uint64_t pos)
{
	struct rtr_ring_sb *sb = &buf->ctl->sb[rtr_ring_sb_index(buf, pos)];
	uint64_t end = (pos & ~(buf->sb_size - 1)) + buf->sb_size;

	atomic_store_explicit(&sb->commit_mark, end, memory_order_relaxed);
	if (cfg->wakeup == RTR_RING_WAKEUP_WRITER && buf->wake_fd >= 0) {
		uint64_t one = 1, w = atomic_load_explicit(&sb->woken, memory_order_relaxed);
		int saved;
		ssize_t r;

		/* Both last committers may see the completion (E1): one
		 * signals. */
		if (w == end || !atomic_compare_exchange_strong_explicit(&sb->woken, &w, end,
									 memory_order_relaxed,
									 memory_order_relaxed))
			return;
		saved = errno; /* the traced program's */
		r = write(buf->wake_fd, &one, sizeof(one));
		(void)r; /* a full or closed eventfd only delays the reader */
		errno = saved;
	}
}

/* ------------------------------------------------------------------------
 * Creation and mapping
 * ------------------------------------------------------------------------ */

int rtr_ring_config_check(const struct rtr_ring_config *cfg, const struct rtr_ring_geometry *geo,
			  const char **why)
{
	const char *w = NULL;

	if (cfg->alloc != RTR_RING_ALLOC_PER_CPU && cfg->alloc != RTR_RING_ALLOC_GLOBAL)
		w = "unknown allocation";
	else if (cfg->mode != RTR_RING_MODE_DISCARD && cfg->mode != RTR_RING_MODE_OVERWRITE)
		w = "unknown mode";
	else if (cfg->sync != RTR_RING_SYNC_RSEQ && cfg->sync != RTR_RING_SYNC_ATOMIC)
		w = "unknown synchronisation";
	else if (cfg->sync == RTR_RING_SYNC_RSEQ && cfg->alloc != RTR_RING_ALLOC_PER_CPU)
		w = "rseq synchronisation needs per-CPU buffers";
	else if (cfg->sync == RTR_RING_SYNC_RSEQ && !RTR_HAVE_RSEQ)
		w = "rseq synchronisation is not supported on this platform";
	else if (cfg->wakeup != RTR_RING_WAKEUP_WRITER && cfg->wakeup != RTR_RING_WAKEUP_TIMER)
		w = "unknown wakeup policy";
	else if (cfg->ts_bits < 1 || cfg->ts_bits > 64)
		w = "ts_bits must be 1..64";
	else if (!is_pow2(cfg->record_align) || cfg->record_align > 64)
		w = "record_align must be a power of two up to 64";
	else if (!cfg->cb.clock_read || !cfg->cb.record_header_size)
		w = "clock_read and record_header_size callbacks are required";
	else if (geo && (!is_pow2(geo->subbuf_size) || geo->subbuf_size < RTR_RING_MIN_SUBBUF ||
			 geo->subbuf_size > RTR_RING_MAX_SUBBUF))
		w = "sub-buffer size must be a power of two from 4 KiB to 1 GiB";
	else if (geo && (!is_pow2(geo->num_subbuf) || geo->num_subbuf < 2 ||
			 geo->num_subbuf > RTR_RING_MAX_NUM_SUBBUF))
		w = "number of sub-buffers must be a power of two from 2 to 65536";
	else if (geo && cfg->subbuf_header_size + RTR_RING_MAX_RECORD_HEADER + 64 >= geo->subbuf_size)
		w = "sub-buffer too small for its header";
	else if (geo && (geo->subbuf_size * (uint64_t)geo->num_subbuf) > (1ull << 40))
		w = "buffer larger than 1 TiB";
	if (why)
		*why = w;
	return w ? -EINVAL : 0;
}

static size_t ctl_bytes(uint32_t num_subbuf)
{
	return sizeof(struct rtr_ring_ctl) + (size_t)num_subbuf * sizeof(struct rtr_ring_sb);
}

static void fill_handle(struct rtr_ring_buf *buf, void *map, size_t map_size, uint64_t sb_size,
			uint32_t num_subbuf, uint32_t nr_phys, uint64_t data_offset, uint32_t cpu)
{
	buf->ctl = map;
	buf->data = (char *)map + data_offset;
	buf->sb_size = sb_size;
	buf->num_subbuf = num_subbuf;
	buf->buf_size = sb_size * num_subbuf;
	buf->sb_order = ilog2(sb_size);
	buf->buf_order = ilog2(buf->buf_size);
	buf->nr_phys = nr_phys;
	buf->cpu = cpu;
	buf->map_size = map_size;
	buf->wake_fd = -1;
	buf->rd.spare = num_subbuf; /* overwrite mode: the extra sub-buffer */
}

int rtr_ring_buf_create(const struct rtr_ring_config *cfg, const struct rtr_ring_geometry *geo,
			uint32_t cpu, const char *name, struct rtr_ring_buf **out)
{
	long page = sysconf(_SC_PAGESIZE);
	uint32_t nr_phys = geo->num_subbuf + (cfg->mode == RTR_RING_MODE_OVERWRITE ? 1 : 0);
	uint64_t data_offset, map_size;
	struct rtr_ring_buf *buf;
	struct rtr_ring_ctl *ctl;
	void *map;
	int fd, err;

	if (rtr_ring_config_check(cfg, geo, NULL))
		return -EINVAL;
	data_offset = align_up(ctl_bytes(geo->num_subbuf), (uint64_t)page);
	map_size = data_offset + (uint64_t)nr_phys * geo->subbuf_size;
	if (map_size > SIZE_MAX / 2)
		return -ENOMEM;

	buf = calloc(1, sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	fd = memfd_create(name ? name : "ringtrace-buffer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	if (ftruncate(fd, (off_t)map_size) < 0) {
		err = -errno;
		goto fail_fd;
	}
	/* Allocate the pages now: a later shortage of shared memory must show
	 * up here as an error, never as SIGBUS in a traced program. */
	err = posix_fallocate(fd, 0, (off_t)map_size);
	if (err && err != EOPNOTSUPP && err != EINVAL) {
		err = -err;
		goto fail_fd;
	}
	/* The size can never change once shared: a hostile peer cannot
	 * shrink the file under the reader's mapping (no SIGBUS). */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		err = -errno;
		goto fail_fd;
	}
	map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		err = -errno;
		goto fail_fd;
	}
	ctl = map;
	memset(ctl, 0, ctl_bytes(geo->num_subbuf));
	ctl->hdr.magic = RTR_RING_MAGIC;
	ctl->hdr.abi_major = RTR_RING_ABI_MAJOR;
	ctl->hdr.abi_minor = RTR_RING_ABI_MINOR;
	ctl->hdr.ctl_size = (uint32_t)ctl_bytes(geo->num_subbuf);
	ctl->hdr.subbuf_size = geo->subbuf_size;
	ctl->hdr.num_subbuf = geo->num_subbuf;
	ctl->hdr.nr_phys = nr_phys;
	ctl->hdr.data_offset = data_offset;
	ctl->hdr.map_size = map_size;
	ctl->hdr.alloc = cfg->alloc;
	ctl->hdr.mode = cfg->mode;
	ctl->hdr.sync = cfg->sync;
	ctl->hdr.wakeup = cfg->wakeup;
	ctl->hdr.ts_bits = cfg->ts_bits;
	ctl->hdr.record_align = cfg->record_align;
	ctl->hdr.subbuf_header_size = cfg->subbuf_header_size;
	ctl->hdr.client_id = cfg->client_id;
	ctl->hdr.cpu = cpu;
	ctl->hdr.create_time = cfg->cb.clock_read();
	for (uint32_t i = 0; i < geo->num_subbuf; i++)
		atomic_store_explicit(&ctl->sb[i].wsb_id, i, memory_order_relaxed);
	atomic_store_explicit(&ctl->reader_spare, geo->num_subbuf, memory_order_relaxed);
	/* Every sub-buffer starts at lap 0 "previous lap complete", i.e. with
	 * a commit count of 0; positions start at 0. */
	atomic_store_explicit(&ctl->pos.last_ts, ctl->hdr.create_time, memory_order_release);

	fill_handle(buf, map, map_size, geo->subbuf_size, geo->num_subbuf, nr_phys, data_offset,
		    cpu);
	buf->fd = fd;
	buf->rd.prev_end_ts = ctl->hdr.create_time;
	*out = buf;
	return 0;
fail_fd:
	close(fd);
fail:
	free(buf);
	return err;
}

int rtr_ring_buf_map(const struct rtr_ring_config *cfg, int fd, struct rtr_ring_buf **out)
{
	long page = sysconf(_SC_PAGESIZE);
	struct rtr_ring_shm_header h;
	struct rtr_ring_geometry geo;
	struct rtr_ring_buf *buf;
	struct stat st;
	uint64_t data_offset, map_size;
	uint32_t nr_phys;
	void *map;

	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < sizeof(h) || !S_ISREG(st.st_mode))
		return -EPROTO;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return -EPROTO;
	if (h.magic != RTR_RING_MAGIC || h.abi_major != RTR_RING_ABI_MAJOR || h.cpu >= 65536)
		return -EPROTO;
	if (h.alloc != (uint32_t)cfg->alloc || h.mode != (uint32_t)cfg->mode ||
	    h.sync != (uint32_t)cfg->sync || h.ts_bits != cfg->ts_bits ||
	    h.record_align != cfg->record_align ||
	    h.subbuf_header_size != cfg->subbuf_header_size || h.client_id != cfg->client_id)
		return -EPROTO;
	geo.subbuf_size = h.subbuf_size;
	geo.num_subbuf = h.num_subbuf;
	if (rtr_ring_config_check(cfg, &geo, NULL))
		return -EPROTO;
	nr_phys = geo.num_subbuf + (cfg->mode == RTR_RING_MODE_OVERWRITE ? 1 : 0);
	data_offset = align_up(ctl_bytes(geo.num_subbuf), (uint64_t)page);
	map_size = data_offset + (uint64_t)nr_phys * geo.subbuf_size;
	if (h.nr_phys != nr_phys || h.data_offset != data_offset || h.map_size != map_size ||
	    h.ctl_size != ctl_bytes(geo.num_subbuf) || (uint64_t)st.st_size != map_size ||
	    map_size > SIZE_MAX / 2)
		return -EPROTO;

	buf = calloc(1, sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		int err = -errno;

		free(buf);
		return err;
	}
	fill_handle(buf, map, map_size, geo.subbuf_size, geo.num_subbuf, nr_phys, data_offset,
		    h.cpu);
	buf->fd = fd;
	/* A reader attaching late starts where the reader before it stopped. */
	buf->rd.consumed = atomic_load_explicit(&buf->ctl->consumed, memory_order_acquire) &
			   ~(buf->sb_size - 1);
	buf->rd.prev_end_ts = h.create_time;
	{
		uint64_t spare = atomic_load_explicit(&buf->ctl->reader_spare, memory_order_relaxed);

		buf->rd.spare = spare < nr_phys ? (uint32_t)spare : geo.num_subbuf;
	}
	*out = buf;
	return 0;
}

void rtr_ring_buf_destroy(struct rtr_ring_buf *buf)
{
	if (!buf)
		return;
	if (buf->ctl)
		munmap(buf->ctl, buf->map_size);
	if (buf->fd >= 0)
		close(buf->fd);
	if (buf->wake_fd >= 0)
		close(buf->wake_fd);
	free(buf);
}

uint32_t rtr_ring_possible_cpus(void)
{
	char line[256];
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
	long max = -1;

	if (f) {
		/* "0-3,8-11": the largest number is the highest id. */
		if (fgets(line, sizeof(line), f)) {
			for (char *s = line; *s;) {
				char *end;
				long v;

				if (*s < '0' || *s > '9') {
					s++; /* separators: ',' and '-' */
					continue;
				}
				v = strtol(s, &end, 10);
				if (v > max)
					max = v;
				s = end;
			}
		}
		fclose(f);
	}
	if (max < 0)
		max = sysconf(_SC_NPROCESSORS_CONF) - 1;
	if (max < 0)
		max = 0;
	if (max >= 65535)
		max = 65535;
	return (uint32_t)max + 1;
}

struct rtr_ring_chan *rtr_ring_chan_alloc(uint32_t nr_bufs)
{
	struct rtr_ring_chan *chan;

	if (nr_bufs == 0 || nr_bufs > 65536)
		return NULL;
	chan = calloc(1, sizeof(*chan) + nr_bufs * sizeof(chan->bufs[0]));
	if (chan)
		chan->nr_bufs = nr_bufs;
	return chan;
}

void rtr_ring_chan_free(struct rtr_ring_chan *chan)
{
	free(chan);
}

/* ------------------------------------------------------------------------
 * Reader
 * ------------------------------------------------------------------------ */

static int reader_fail(struct rtr_ring_buf *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int reader_fail(struct rtr_ring_buf *buf, const char *fmt, ...)
{
	va_list ap;

	if (!buf->rd.failed) {
		int n = snprintf(buf->rd.error, sizeof(buf->rd.error), "buffer %u: ", buf->cpu);

		va_start(ap, fmt);
		if (n > 0 && (size_t)n < sizeof(buf->rd.error))
			vsnprintf(buf->rd.error + n, sizeof(buf->rd.error) - (size_t)n, fmt, ap);
		va_end(ap);
		buf->rd.failed = true;
	}
	return -EIO;
}

const char *rtr_ring_buf_error(const struct rtr_ring_buf *buf)
{
	return buf->rd.failed ? buf->rd.error : "";
}

/* Packet facts of the sub-buffer at `start`, validated. -ESTALE: its end
 * record is not the one of `start` (the caller decides whether a writer
 * lapped it meanwhile or the buffer is corrupt). */
static int read_facts(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
		      uint64_t start, struct rtr_ring_packet_info *info)
{
	const struct rtr_ring_sb *sb = &buf->ctl->sb[rtr_ring_sb_index(buf, start)];
	uint64_t end_pos = atomic_load_explicit(&sb->end_pos, memory_order_acquire);
	uint64_t begin_pos = atomic_load_explicit(&sb->begin_pos, memory_order_acquire);

	if (end_pos != start)
		return -ESTALE;
	info->data_size = atomic_load_explicit(&sb->data_size, memory_order_relaxed);
	if (info->data_size < cfg->subbuf_header_size || info->data_size > buf->sb_size)
		return reader_fail(buf, "sub-buffer at position %llu: data size %llu outside [%u, %llu]",
				   (unsigned long long)start,
				   (unsigned long long)info->data_size, cfg->subbuf_header_size,
				   (unsigned long long)buf->sb_size);
	info->end_ts = atomic_load_explicit(&sb->end_ts, memory_order_relaxed);
	info->lost = atomic_load_explicit(&sb->lost, memory_order_relaxed);
	info->flags = atomic_load_explicit(&sb->flags, memory_order_relaxed);
	if (begin_pos == start)
		info->begin_ts = atomic_load_explicit(&sb->begin_ts, memory_order_relaxed);
	else
		info->begin_ts = buf->rd.prev_end_ts; /* opener died before recording it */
	if (info->begin_ts > info->end_ts)
		info->begin_ts = info->end_ts;
	info->seq = start >> buf->sb_order;
	info->cpu = buf->cpu;
	return 0;
}

int rtr_ring_get_subbuf(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
			struct rtr_ring_subbuf *out)
{
	struct rtr_ring_ctl *ctl = buf->ctl;
	uint64_t c = buf->rd.consumed;

	if (buf->rd.failed)
		return -EIO;
	if (buf->rd.held)
		return -EBUSY;

	for (uint32_t tries = 0; tries <= buf->num_subbuf + 1; tries++) {
		uint64_t off = atomic_load_explicit(&ctl->pos.offset, memory_order_acquire);
		uint32_t idx = rtr_ring_sb_index(buf, c);
		uint64_t lap = c >> buf->buf_order;
		uint64_t id = 0, recs = 0, committed;
		uint32_t phys = idx;
		struct rtr_ring_packet_info info;
		int err;

		if (cfg->mode == RTR_RING_MODE_OVERWRITE) {
			/* Writers push the reader when they lap it. */
			uint64_t pushed = atomic_load_explicit(&ctl->consumed, memory_order_acquire);

			if ((int64_t)(pushed - c) > 0 && (pushed & (buf->sb_size - 1)) == 0 &&
			    (int64_t)(off - pushed) >= 0 && off - pushed <= buf->buf_size) {
				c = pushed;
				continue;
			}
			if ((int64_t)(off - c) > (int64_t)buf->buf_size) {
				c = oldest_kept(buf, off);
				continue;
			}
		}
		if ((int64_t)(off - c) < 0)
			return reader_fail(buf, "write position %llu is behind the read position %llu",
					   (unsigned long long)off, (unsigned long long)c);
		if (off - c > buf->buf_size)
			return reader_fail(buf, "write position %llu is more than a buffer ahead of %llu",
					   (unsigned long long)off, (unsigned long long)c);
		if (cfg->mode == RTR_RING_MODE_OVERWRITE) {
			id = atomic_load_explicit(&ctl->sb[idx].wsb_id, memory_order_acquire);
			recs = atomic_load_explicit(&ctl->sb[idx].lap_records, memory_order_relaxed);
			phys = (uint32_t)id;
			if ((uint32_t)(id >> 32) != (uint32_t)lap) {
				if ((int32_t)((uint32_t)(id >> 32) - (uint32_t)lap) > 0) {
					c += buf->sb_size; /* overwritten meanwhile */
					continue;
				}
				return -EAGAIN;
			}
			if (phys >= buf->nr_phys || phys == buf->rd.spare)
				return reader_fail(buf, "sub-buffer table entry %u holds %u", idx, phys);
		}
		committed = cc_sum(&ctl->sb[idx]) - (lap << buf->sb_order);
		if (committed != buf->sb_size) {
			if (committed > buf->sb_size && committed < (uint64_t)INT64_MAX) {
				if (cfg->mode == RTR_RING_MODE_OVERWRITE) {
					c += buf->sb_size; /* next lap started: overwritten */
					continue;
				}
				return reader_fail(buf, "sub-buffer %u: commit count %llu beyond its lap",
						   idx, (unsigned long long)committed);
			}
			return -EAGAIN;
		}
		err = read_facts(cfg, buf, c, &info);
		/* Overwrite mode: a writer may have lapped the sub-buffer since
		 * its tag and count were read, and closed it again (new end
		 * record); it retagged it first, so the tag tells. */
		if (err == -ESTALE && cfg->mode == RTR_RING_MODE_OVERWRITE &&
		    atomic_load_explicit(&ctl->sb[idx].wsb_id, memory_order_acquire) != id)
			continue;
		if (err == -ESTALE)
			return reader_fail(buf, "complete sub-buffer at position %llu has no end record",
					   (unsigned long long)c);
		if (err)
			return err;
		if (cfg->mode == RTR_RING_MODE_OVERWRITE) {
			uint64_t mine = (id & ~0xffffffffull) | buf->rd.spare;
			/* The lap is complete and, if the exchange succeeds, the
			 * next one has not begun: this counts its records. */
			uint64_t now = records_sum(&ctl->sb[idx]);

			/* X1: take the pages, and mark the lap read; a writer
			 * that retagged first wins. */
			if (!pair_cas(&ctl->sb[idx], &id, &recs, mine, recs | RTR_RING_LAP_READ))
				continue;
			atomic_store_explicit(&ctl->sb[idx].read_laps,
					      atomic_load_explicit(&ctl->sb[idx].read_laps,
								   memory_order_relaxed) + 1,
					      memory_order_relaxed);
			atomic_store_explicit(&ctl->sb[idx].read_records,
					      atomic_load_explicit(&ctl->sb[idx].read_records,
								   memory_order_relaxed) +
						      now - (recs & ~RTR_RING_LAP_READ),
					      memory_order_relaxed);
		}
		out->data = buf->data + ((uint64_t)phys << buf->sb_order);
		out->len = info.data_size;
		out->pos = c;
		out->info = info;
		if (cfg->cb.packet_hook)
			cfg->cb.packet_hook(cfg, buf, (void *)out->data, &info);
		buf->rd.consumed = c;
		buf->rd.held = true;
		buf->rd.held_pos = c;
		buf->rd.held_phys = phys;
		buf->rd.prev_end_ts = info.end_ts;
		return 0;
	}
	buf->rd.consumed = c;
	return -EAGAIN;
}

int rtr_ring_put_subbuf(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf)
{
	struct rtr_ring_ctl *ctl = buf->ctl;
	uint64_t next;

	if (!buf->rd.held)
		return -EINVAL;
	next = buf->rd.held_pos + buf->sb_size;
	buf->rd.held = false;
	buf->rd.consumed = next;
	if (cfg->mode == RTR_RING_MODE_OVERWRITE) {
		uint64_t c = atomic_load_explicit(&ctl->consumed, memory_order_relaxed);

		buf->rd.spare = buf->rd.held_phys;
		atomic_store_explicit(&ctl->reader_spare, buf->rd.spare, memory_order_relaxed);
		/* Only forward: writers may have pushed it further. Bounded:
		 * each failure means the value moved. */
		for (int i = 0; i < 64 && (int64_t)(next - c) > 0; i++)
			if (atomic_compare_exchange_weak_explicit(&ctl->consumed, &c, next,
								  memory_order_release,
								  memory_order_relaxed))
				break;
	} else {
		/* R2: our reads of the sub-buffer happen before a writer reuses it. */
		atomic_store_explicit(&ctl->consumed, next, memory_order_release);
	}
	return 0;
}

/* Publish a new position on behalf of the reader/flusher. */
static int flusher_publish(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
			   bool writers_gone, uint64_t off, uint64_t lt, uint64_t noff,
			   uint64_t nts)
{
	if (writers_gone) {
		atomic_store_explicit(&buf->ctl->pos.last_ts, nts, memory_order_relaxed);
		atomic_store_explicit(&buf->ctl->pos.offset, noff, memory_order_release);
		return 0;
	}
	return rtr_ring_publish(cfg, buf, buf->cpu, off, lt, noff, nts);
}

int rtr_ring_flush(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf,
		   enum rtr_ring_flush_mode mode, bool writers_gone)
{
	const uint64_t sbh = cfg->subbuf_header_size;
	cpu_set_t saved, one;
	bool pinned = false;
	int ret = -EAGAIN;

	if (buf->rd.failed)
		return -EIO;
	if (cfg->sync == RTR_RING_SYNC_RSEQ && !writers_gone) {
		if (buf->cpu >= CPU_SETSIZE)
			return -EAGAIN;
		/* Writers of this buffer only ever run on its CPU: to close it
		 * without a lock we must run there too, inside a rseq. */
		if (sched_getaffinity(0, sizeof(saved), &saved) < 0)
			return -EAGAIN;
		CPU_ZERO(&one);
		CPU_SET(buf->cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one) < 0)
			return -EAGAIN;
		pinned = true;
	}
	for (int attempt = 0; attempt < 1000; attempt++) {
		struct rtr_ring_ctl *ctl = buf->ctl;
		uint64_t off = atomic_load_explicit(&ctl->pos.offset, memory_order_acquire);
		uint64_t lt = atomic_load_explicit(&ctl->pos.last_ts, memory_order_relaxed);
		uint64_t ts = cfg->cb.clock_read();
		uint64_t in_sb = off & (buf->sb_size - 1);
		uint64_t start = off - in_sb, lost;

		if (ts < lt)
			ts = lt;
		if (pinned && (uint32_t)rtr_rseq_cpu() != buf->cpu) {
			sched_yield();
			continue;
		}
		if (in_sb == 0) {
			if (mode != RTR_RING_FLUSH_EMPTY) {
				ret = 0;
				break;
			}
			/* Nothing open: produce an empty packet so the stream's
			 * time range reaches now. */
			ret = make_room(cfg, buf, off);
			if (ret) {
				if (ret != -ENOBUFS)
					ret = -EAGAIN;
				break;
			}
			lost = lost_sum(ctl);
			if (flusher_publish(cfg, buf, writers_gone, off, lt, off + buf->sb_size, ts)) {
				ret = -EAGAIN;
				continue;
			}
			store_begin_facts(buf, off, ts);
			store_end_facts(buf, off, ts, sbh, lost);
			commit_bytes(cfg, buf, off, buf->sb_size);
			ret = 0;
			break;
		}
		if (in_sb <= sbh && mode != RTR_RING_FLUSH_EMPTY) {
			ret = 0; /* open but holds no record */
			break;
		}
		lost = lost_sum(ctl);
		if (flusher_publish(cfg, buf, writers_gone, off, lt, start + buf->sb_size, ts)) {
			ret = -EAGAIN;
			continue;
		}
		store_end_facts(buf, start, ts, in_sb, lost);
		commit_bytes(cfg, buf, start, buf->sb_size - in_sb);
		ret = 0;
		break;
	}
	if (pinned)
		sched_setaffinity(0, sizeof(saved), &saved);
	return ret;
}

int rtr_ring_salvage(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf)
{
	struct rtr_ring_ctl *ctl = buf->ctl;
	const uint64_t sbh = cfg->subbuf_header_size;
	uint64_t off = atomic_load_explicit(&ctl->pos.offset, memory_order_acquire);
	uint64_t last_ts = atomic_load_explicit(&ctl->pos.last_ts, memory_order_relaxed);
	uint64_t c = buf->rd.consumed;
	uint64_t prev_end = buf->rd.prev_end_ts;

	if (buf->rd.failed)
		return -EIO;
	if (cfg->mode == RTR_RING_MODE_OVERWRITE && (int64_t)(off - c) > (int64_t)buf->buf_size)
		c = oldest_kept(buf, off);
	if ((int64_t)(off - c) < 0 || off - c > buf->buf_size)
		return reader_fail(buf, "salvage: write position %llu inconsistent with read position %llu",
				   (unsigned long long)off, (unsigned long long)c);

	for (uint64_t p = c & ~(buf->sb_size - 1); (int64_t)(off - p) > 0; p += buf->sb_size) {
		struct rtr_ring_sb *sb = &ctl->sb[rtr_ring_sb_index(buf, p)];
		uint64_t lap = p >> buf->buf_order;
		uint64_t committed = cc_sum(sb) - (lap << buf->sb_order);
		bool current = off - p < buf->sb_size;
		uint64_t reserved = UINT64_MAX, content, mark, end_ts;
		uint32_t flags = RTR_RING_PACKET_SALVAGED;

		if (committed == buf->sb_size) {
			prev_end = atomic_load_explicit(&sb->end_ts, memory_order_relaxed);
			continue; /* complete: nothing to repair */
		}
		if (committed > buf->sb_size)
			return reader_fail(buf, "salvage: sub-buffer at %llu commit count beyond its lap",
					   (unsigned long long)p);
		if (current) {
			/* Still open: nothing padded it, so the count is header +
			 * committed slots, and equality with what was reserved
			 * means every record in it was committed. */
			reserved = off - p;
		} else if (atomic_load_explicit(&sb->end_pos, memory_order_acquire) == p) {
			uint64_t ds = atomic_load_explicit(&sb->data_size, memory_order_relaxed);

			if (ds >= sbh && ds <= buf->sb_size)
				reserved = ds;
		}
		if (current && committed == reserved) {
			content = reserved; /* every record committed; only the close is missing */
		} else {
			/* A record was reserved and never committed, or the
			 * sub-buffer was closed: then its count may include the
			 * closer's padding, so no equality of counts proves that
			 * every record was committed (an uncommitted slot exactly
			 * as long as the padding balances it). Keep only the
			 * committed prefix the writers vouched for. */
			mark = atomic_load_explicit(&sb->commit_mark, memory_order_relaxed) - p;
			if (mark >= sbh && mark <= buf->sb_size &&
			    (reserved == UINT64_MAX || mark <= reserved))
				content = mark;
			else
				content = sbh;
			if (reserved != UINT64_MAX && reserved > content) {
				buf->rd.salvaged_bytes_dropped += reserved - content;
				flags |= RTR_RING_PACKET_TRUNCATED;
			} else if (reserved == UINT64_MAX) {
				/* Closed before its end facts were stored: nothing
				 * was padded; committed bytes past the cut are lost
				 * (a lower bound: uncommitted ones are unknown). */
				if (committed > content)
					buf->rd.salvaged_bytes_dropped += committed - content;
				flags |= RTR_RING_PACKET_TRUNCATED;
			}
		}
		if (content < sbh)
			content = sbh;
		if (atomic_load_explicit(&sb->begin_pos, memory_order_relaxed) != p) {
			atomic_store_explicit(&sb->begin_ts, prev_end, memory_order_relaxed);
			atomic_store_explicit(&sb->begin_pos, p, memory_order_relaxed);
		}
		if (current) {
			end_ts = last_ts;
		} else {
			const struct rtr_ring_sb *next =
				&ctl->sb[rtr_ring_sb_index(buf, p + buf->sb_size)];

			if (atomic_load_explicit(&next->begin_pos, memory_order_relaxed) ==
			    p + buf->sb_size)
				end_ts = atomic_load_explicit(&next->begin_ts, memory_order_relaxed);
			else
				end_ts = last_ts;
		}
		store_end_facts(buf, p, end_ts, content, lost_sum(ctl));
		atomic_store_explicit(&sb->flags, flags, memory_order_relaxed);
		/* Writers are gone: complete the lap so the reader takes it. */
		atomic_fetch_add_explicit(&sb->cc_remote, buf->sb_size - committed,
					  memory_order_release);
		prev_end = end_ts;
		if (current) {
			atomic_store_explicit(&ctl->pos.offset, p + buf->sb_size,
					      memory_order_release);
			break;
		}
	}
	return 0;
}

/* The oldest sub-buffer from `c` on, left by the writers, whose lap is
 * incomplete. */
int rtr_ring_stalled(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf, uint64_t *pos,
		     uint64_t *cc)
{
	struct rtr_ring_ctl *ctl = buf->ctl;
	uint64_t off = atomic_load_explicit(&ctl->pos.offset, memory_order_acquire);
	uint64_t c = buf->rd.consumed & ~(buf->sb_size - 1);

	if (buf->rd.failed)
		return -EIO;
	if (cfg->mode == RTR_RING_MODE_OVERWRITE && (int64_t)(off - c) > (int64_t)buf->buf_size)
		c = oldest_kept(buf, off);
	if ((int64_t)(off - c) < 0 || off - c > buf->buf_size)
		return -EAGAIN; /* (the reader reports an impossible position) */
	/* at most num_subbuf sub-buffers: bounded whatever the shared words say */
	for (uint64_t p = c; off - p >= buf->sb_size; p += buf->sb_size) {
		struct rtr_ring_sb *sb = &ctl->sb[rtr_ring_sb_index(buf, p)];
		uint64_t lap = p >> buf->buf_order;
		uint64_t sum = cc_sum(sb);
		uint64_t committed = sum - (lap << buf->sb_order);

		if (cfg->mode == RTR_RING_MODE_OVERWRITE &&
		    tag_ahead(atomic_load_explicit(&sb->wsb_id, memory_order_acquire), lap) > 0)
			continue; /* lapped: its newer lap is another position */
		if (committed >= buf->sb_size)
			continue; /* complete (or beyond: the reader judges) */
		*pos = p;
		*cc = sum;
		return 0;
	}
	return -EAGAIN;
}

int rtr_ring_unstall(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf, uint64_t pos,
		     uint64_t cc, uint64_t *dropped)
{
	struct rtr_ring_ctl *ctl = buf->ctl;
	const uint64_t sbh = cfg->subbuf_header_size;
	uint64_t off = atomic_load_explicit(&ctl->pos.offset, memory_order_acquire);
	uint64_t last_ts = atomic_load_explicit(&ctl->pos.last_ts, memory_order_relaxed);
	struct rtr_ring_sb *sb;
	const struct rtr_ring_sb *next;
	uint64_t lap, committed, reserved = UINT64_MAX, content, mark, end_ts, expect, cut = 0, lost;

	if (buf->rd.failed)
		return -EIO;
	if (cfg->sync != RTR_RING_SYNC_ATOMIC || (pos & (buf->sb_size - 1)))
		return -EINVAL;
	if ((int64_t)(off - pos) < (int64_t)buf->sb_size || off - pos > 2 * buf->buf_size)
		return -EAGAIN; /* not left by the writers (or long gone) */
	sb = &ctl->sb[rtr_ring_sb_index(buf, pos)];
	lap = pos >> buf->buf_order;
	if (atomic_load_explicit(&sb->cc_local, memory_order_acquire) != 0)
		return -EINVAL; /* ATOMIC sync never adds to it */
	committed = cc - (lap << buf->sb_order);
	if (committed >= buf->sb_size)
		return -EAGAIN;
	if (atomic_load_explicit(&sb->end_pos, memory_order_acquire) == pos) {
		uint64_t ds = atomic_load_explicit(&sb->data_size, memory_order_relaxed);

		if (ds >= sbh && ds <= buf->sb_size)
			reserved = ds;
		end_ts = atomic_load_explicit(&sb->end_ts, memory_order_relaxed);
		lost = atomic_load_explicit(&sb->lost, memory_order_relaxed);
	} else {
		/* the closer died before its end facts: the next sub-buffer's
		 * opening time, else the last reservation's */
		next = &ctl->sb[rtr_ring_sb_index(buf, pos + buf->sb_size)];
		if (atomic_load_explicit(&next->begin_pos, memory_order_relaxed) ==
		    pos + buf->sb_size)
			end_ts = atomic_load_explicit(&next->begin_ts, memory_order_relaxed);
		else
			end_ts = last_ts;
		/* the loss total must not go back in the stream (the next
		 * packet may be closed already) */
		lost = lost_sum(ctl);
		if (atomic_load_explicit(&next->end_pos, memory_order_acquire) ==
		    pos + buf->sb_size) {
			uint64_t nl = atomic_load_explicit(&next->lost, memory_order_relaxed);

			if (nl < lost)
				lost = nl;
		}
	}
	/* Only the committed prefix the writers vouched for (§6): the dead
	 * writer's slot and everything after it in this sub-buffer are cut. */
	mark = atomic_load_explicit(&sb->commit_mark, memory_order_relaxed) - pos;
	if (mark >= sbh && mark <= buf->sb_size && (reserved == UINT64_MAX || mark <= reserved))
		content = mark;
	else
		content = sbh;
	if (reserved != UINT64_MAX && reserved > content)
		cut = reserved - content;
	else if (reserved == UINT64_MAX && committed > content)
		cut = committed - content; /* a lower bound */
	/* U4 (daemon.md §9): the end facts, then the count that completes the
	 * lap (release, as W4 then W2); the reader's acquire (R1) sees them. */
	store_end_facts(buf, pos, end_ts, content, lost);
	atomic_store_explicit(&sb->flags, RTR_RING_PACKET_SALVAGED | RTR_RING_PACKET_TRUNCATED,
			      memory_order_relaxed);
	expect = cc;
	if (!atomic_compare_exchange_strong_explicit(&sb->cc_remote, &expect,
						     cc + (buf->sb_size - committed),
						     memory_order_acq_rel, memory_order_relaxed)) {
		/* A writer committed meanwhile: it lives. The closer's facts
		 * back (a closer yet to store them stores its own). */
		if (reserved != UINT64_MAX)
			store_end_facts(buf, pos, end_ts, reserved, lost);
		return -EAGAIN;
	}
	buf->rd.salvaged_bytes_dropped += cut; /* (rtr_ring_buf_stats) */
	*dropped += cut;
	RTR_TSAN_RELEASE((void *)sb);
	return 0;
}

int rtr_ring_snapshot_start(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf)
{
	uint64_t off, oldest, pushed;

	if (buf->rd.failed)
		return -EIO;
	if (buf->rd.held)
		return -EBUSY;
	if (cfg->mode != RTR_RING_MODE_OVERWRITE)
		return 0; /* discard mode: the reader is never behind what it may read */
	off = atomic_load_explicit(&buf->ctl->pos.offset, memory_order_acquire);
	oldest = oldest_kept(buf, off);
	pushed = atomic_load_explicit(&buf->ctl->consumed, memory_order_acquire);
	if ((int64_t)(pushed - oldest) > 0 && (int64_t)(off - pushed) >= 0)
		oldest = pushed & ~(buf->sb_size - 1);
	if ((int64_t)(oldest - buf->rd.consumed) > 0)
		buf->rd.consumed = oldest;
	return 0;
}

void rtr_ring_buf_stats(const struct rtr_ring_buf *buf, struct rtr_ring_stats *st)
{
	const struct rtr_ring_ctl *ctl = buf->ctl;

	st->records = 0;
	for (uint32_t i = 0; i < buf->num_subbuf; i++)
		st->records += atomic_load_explicit(&ctl->sb[i].records_local, memory_order_relaxed) +
			       atomic_load_explicit(&ctl->sb[i].records_remote, memory_order_relaxed);
	st->lost_full = atomic_load_explicit(&ctl->lost_full, memory_order_relaxed);
	st->lost_wrap = atomic_load_explicit(&ctl->lost_wrap, memory_order_relaxed);
	st->lost_big = atomic_load_explicit(&ctl->lost_big, memory_order_relaxed);
	st->refused_nest = atomic_load_explicit(&ctl->refused_nest, memory_order_relaxed);
	st->lost_nobuf = atomic_load_explicit(&ctl->lost_nobuf, memory_order_relaxed);
	st->overwritten = 0;
	st->overwritten_records = 0;
	for (uint32_t i = 0; i < buf->num_subbuf; i++) {
		/* Laps that left sub-buffer i: its lap tag (one retag per lap,
		 * from 0); its records before the current lap: lap_records.
		 * Minus what the reader took of those (not of the current lap,
		 * which is still there). Writers only ever change the pair, in
		 * one exchange: nothing a dying writer leaves half done. */
		const struct rtr_ring_sb *sb = &ctl->sb[i];
		uint64_t id = atomic_load_explicit(&sb->wsb_id, memory_order_acquire);
		uint64_t recs = atomic_load_explicit(&sb->lap_records, memory_order_relaxed);
		uint64_t base = recs & ~RTR_RING_LAP_READ, cur = 0;
		uint32_t laps = (uint32_t)(id >> 32);
		uint32_t rl = atomic_load_explicit(&sb->read_laps, memory_order_relaxed);
		uint64_t rr = atomic_load_explicit(&sb->read_records, memory_order_relaxed);

		if (recs & RTR_RING_LAP_READ) {
			rl--;
			cur = atomic_load_explicit(&sb->records_local, memory_order_relaxed) +
			      atomic_load_explicit(&sb->records_remote, memory_order_relaxed) - base;
			rr -= cur;
		}
		if ((int32_t)(laps - rl) > 0)
			st->overwritten += laps - rl;
		if ((int64_t)(base - rr) > 0)
			st->overwritten_records += base - rr;
	}
	st->produced = atomic_load_explicit(&ctl->pos.offset, memory_order_relaxed);
	st->consumed = buf->rd.consumed;
	st->salvage_dropped_bytes = buf->rd.salvaged_bytes_dropped;
}

uint64_t rtr_ring_buf_lost(const struct rtr_ring_buf *buf)
{
	return lost_sum(buf->ctl);
}

ssize_t rtr_ring_subbuf_write(const struct rtr_ring_buf *buf, const struct rtr_ring_subbuf *sb,
			      int out_fd)
{
	uint64_t done = 0;
	off_t file_off = (off_t)((uint64_t)(sb->data - (const char *)buf->ctl));

	if (sb->data < buf->data || sb->len > buf->sb_size ||
	    (uint64_t)(sb->data - (const char *)buf->ctl) + sb->len > buf->map_size)
		return -EINVAL;
	/* sendfile from the memfd: the kernel copies page cache to the file;
	 * user space never touches the bytes. */
	while (buf->fd >= 0 && done < sb->len) {
		ssize_t n = sendfile(out_fd, buf->fd, &file_off, sb->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (uint64_t)n;
	}
	while (done < sb->len) {
		ssize_t n = write(out_fd, sb->data + done, sb->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (uint64_t)n;
	}
	return (ssize_t)done;
}

size_t rtr_ring_subbuf_read(const struct rtr_ring_subbuf *sb, void *dst, size_t cap)
{
	size_t n = sb->len < cap ? (size_t)sb->len : cap;

	memcpy(dst, sb->data, n);
	return n;
}
