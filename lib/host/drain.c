/* lib/host: the buffers of one channel of one process (rtr__pchan) —
 * creation, hand-over of packets to the idle-priority drain thread
 * (drainer.c) or writing them here, the switch timer, flush and salvage
 * when the process is finished. Design: docs/design/host.md §4 (and §4.1
 * for the drain thread). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "host-internal.h"

#define DRAIN_LAG_NS (1000ull * 1000000u) /* longest wait for the drain thread */

void rtr__report_damage(struct rtr__pchan *c, uint32_t cpu, const char *what)
{
	struct rtr__proc *p = c->t->p;

	if (c->damaged[cpu])
		return;
	c->damaged[cpu] = true;
	p->h->t.damaged++;
	if (p->user) {
		/* shared: written by any program of the user */
		hwarn_c(p->h, RTR__LOG_PROC,
			"per-user buffers of user %u (session %s, channel %s): buffer of CPU %u "
			"is damaged: %s; packets written before are kept, the rest of this "
			"buffer is dropped (and its counters ignored)",
			(unsigned)p->uid, c->t->s ? c->t->s->name : "?",
			c->t->s ? c->t->s->chans[c->ci].name : "?", cpu, what);
		return;
	}
	hwarn_c(p->h, RTR__LOG_PROC,
		"process %d (%s): buffer of CPU %u is damaged: %s; packets written before "
		"are kept, the rest of this buffer is dropped (and its counters ignored)",
		(int)p->pid, p->procname, cpu, what);
}

/*
 * Draining. A buffer's packets go to the idle-priority drain thread one at a
 * time, so that the copy into the page cache only takes CPU time nobody
 * else wants; this thread writes them itself when the buffer gets short of
 * room or a packet waited too long (the drain thread may be starved by a
 * busy machine: it then takes the packet back without waiting for it),
 * when the process is finished, and when there is no drain thread
 * (--eager-drain, overwrite mode).
 */

/* The buffer's backlog (written, not yet drained) has reached max(1/4 of
 * its size, 2 sub-buffers): the drain thread is not keeping up (no idle
 * CPU time), so the host writes from now on. Its positions come from
 * shared memory: a wrong answer only changes who writes the next packets.
 * (At 3/4, the first mark, two writers on a busy 2-CPU machine lost 27-44%
 * of their events: the host, at a fair share of a CPU, had too little of
 * the buffer left to catch up in; bench/drain-busy.sh.) */
static bool buffer_short(const struct rtr_ring_buf *b)
{
	struct rtr_ring_stats st;
	uint64_t mark = b->buf_size / 4 > 2 * b->sb_size ? b->buf_size / 4 : 2 * b->sb_size;
	uint64_t backlog;

	rtr_ring_buf_stats(b, &st);
	backlog = st.produced > st.consumed ? st.produced - st.consumed : 0;
	return backlog >= mark;
}

#define NOT_STALLED UINT64_MAX

void rtr__write_error(struct rtr_host *h, int err)
{
	h->t.write_errors++;
	if (!h->t.write_errno)
		h->t.write_errno = -err;
}

/* A stream returned err < 0: its buffer is corrupt (damaged for good), or
 * the disk is full (the packet is held until there is room: the writers
 * go on until the buffer is full, then their records are discarded and
 * counted), or a packet could not be written and was given up (its
 * records are counted in the next packets' events_discarded). */
static void stream_error(struct rtr__pchan *c, uint32_t cpu, int err)
{
	struct rtr__proc *p = c->t->p;
	struct rtr_host *h = p->h;
	struct rtr_ctf_stream *s = c->streams[cpu];

	if (rtr_ctf_stream_corrupt(s)) {
		rtr__report_damage(c, cpu, rtr_ctf_stream_error(s));
		return;
	}
	if (rtr_ctf_stream_stalled(s)) {
		struct rtr_ctf_stream_stats ss;

		if (c->stall_lost[cpu] != NOT_STALLED)
			return; /* still full */
		/* Losses count from the last packet on disk: the writers may
		 * have filled the buffer before this first failed write. */
		rtr_ctf_stream_stats(s, &ss);
		c->stall_lost[cpu] = ss.events_lost - ss.events_dropped;
		h->t.disk_stalls++;
		rtr__write_error(h, err);
		herr_c(h, RTR__LOG_DISK,
		       "cannot write the trace of process %d (%s) to %s: %s; its events are "
		       "discarded (and counted) until there is room again",
		       (int)p->pid, p->procname, c->t->s ? c->t->s->out_path : "?",
		       strerror(-err));
		return;
	}
	rtr__write_error(h, err);
	herr_c(h, RTR__LOG_DISK,
	       "process %d (%s): a packet could not be written (%s); its events are counted "
	       "as discarded",
	       (int)p->pid, p->procname, rtr_ctf_stream_error(s));
}

/* The stalled packet of buffer cpu was written: the disk has room again. */
static void stall_end(struct rtr__pchan *c, uint32_t cpu)
{
	struct rtr__proc *p = c->t->p;
	struct rtr_host *h = p->h;
	uint64_t lost = rtr_ring_buf_lost(c->bufs[cpu]);
	uint64_t meanwhile = lost >= c->stall_lost[cpu] ? lost - c->stall_lost[cpu] : 0;

	meanwhile = rtr__bound_count(p, meanwhile);
	c->tot.disk_lost += meanwhile;
	c->stall_lost[cpu] = NOT_STALLED;
	hwarn_c(h, RTR__LOG_DISK,
		"process %d (%s): there is room on the disk again; recording resumed (%llu "
		"events discarded meanwhile)",
		(int)p->pid, p->procname, (unsigned long long)meanwhile);
}

/* A sub-buffer of b may be complete (the writers' position a sub-buffer or
 * more past the host's reader position). */
static bool packet_may_be_ready(const struct rtr_ring_buf *b)
{
	struct rtr_ring_stats st;

	rtr_ring_buf_stats(b, &st);
	return st.produced >= st.consumed + b->sb_size;
}

/* Ends the packet the drain thread has for buffer `cpu`: accounts for it
 * when it is written; when it is not and `take_back`, takes it back and
 * writes it here. Returns false while it stays with the drain thread. */
static bool settle(struct rtr__pchan *c, uint32_t cpu, bool take_back)
{
	struct rtr_ctf_stream *s = c->streams[cpu];
	int err = 0, r;

	if (!c->pending_since || !c->pending_since[cpu])
		return true;
	switch (rtr_drain_poll(c->slots[cpu], &err)) {
	case RTR_DRAIN_PENDING:
		if (!take_back)
			return false;
		if (rtr_drain_take_back(c->slots[cpu], &err)) {
			r = rtr_ctf_stream_write_held(s);
			break;
		}
		r = rtr_ctf_stream_end(s, err);
		break;
	case RTR_DRAIN_DONE:
		r = rtr_ctf_stream_end(s, err);
		break;
	default: /* cannot happen: write it here */
		r = rtr_ctf_stream_write_held(s);
		break;
	}
	c->pending_since[cpu] = 0;
	c->npending--;
	if (r < 0)
		stream_error(c, cpu, r);
	return true;
}

/* Hands buffer cpu's next packet to the drain thread. Returns 1 (handed
 * or written), 0 (none ready), < 0 (stream failed, reported). */
static int hand_over(struct rtr__pchan *c, uint32_t cpu)
{
	struct rtr_host *h = c->t->p->h;
	struct rtr_ctf_packet_job job;
	int r = rtr_ctf_stream_begin(c->streams[cpu], &job);

	if (r <= 0)
		return r;
	/* A new stream file (trace file limits): the slot's duplicate of the
	 * old one must not be written to (nothing is pending: settled). */
	if (c->slots[cpu] && c->slot_gen[cpu] != job.dst_gen) {
		rtr_drain_slot_release(c->slots[cpu]);
		c->slots[cpu] = NULL;
	}
	if (!c->slots[cpu] && job.src_fd >= 0 && h->drainer) {
		c->slots[cpu] = rtr_drain_slot_new(h->drainer, job.src_fd, job.dst_fd);
		c->slot_gen[cpu] = job.dst_gen;
	}
	if (!c->slots[cpu]) {
		r = rtr_ctf_stream_write_held(c->streams[cpu]);
		return r < 0 ? r : 1;
	}
	rtr_drain_submit(c->slots[cpu], job.src_off, job.dst_off, job.len, job.hdr, job.hdr_len);
	c->pending_since[cpu] = rtr__now_ns();
	c->npending++;
	return 1;
}

/* Writes (or hands over) what is ready; max_rounds bounds the packets this
 * thread writes per buffer (a hostile writer could keep producing). A
 * packet the drain thread has not written within DRAIN_LAG_NS is taken
 * back and the buffer's backlog written here: the trace on disk never lags
 * much more than a second (the metadata checkpoint's period), so a killed
 * host loses no more than that.
 * `now`: everything on this thread (the process is being finished). */
void rtr__drain_pchan(struct rtr__pchan *c, unsigned max_rounds, bool now)
{
	struct rtr_host *h = c->t->p->h;
	int meta = -1; /* metadata on disk up to date: unknown yet */

	for (uint32_t cpu = 0; c->streams && !c->released && cpu < c->nr_bufs; cpu++) {
		struct rtr_ctf_stream *s = c->streams[cpu];
		bool here;
		int r;

		if (!s || c->damaged[cpu])
			continue;
		if (!now && h->want_drainer) {
			h->want_drainer = false;
			h->drainer = rtr_drainer_start(&h->drain_fd);
			if (h->drainer)
				rtr__watch_add(h, &h->w_drain, RTR_WATCH_DRAIN, h, h->drain_fd);
			else
				herr(h, "no drain thread (%s): packets are written at once",
				     strerror(errno));
		}
		here =
		    now || !h->drainer || !c->pending_since || rtr_ctf_stream_stalled(s) ||
		    buffer_short(c->bufs[cpu]) ||
		    (c->pending_since[cpu] && rtr__now_ns() - c->pending_since[cpu] > DRAIN_LAG_NS);
		if (!settle(c, cpu, here) || c->damaged[cpu])
			continue;
		if (rtr_ctf_stream_stalled(s)) {
			r = rtr_ctf_stream_write_held(s);
			if (r < 0) {
				stream_error(c, cpu, r);
				continue;
			}
			stall_end(c, cpu);
		}
		/* Metadata before data: no packet is taken while the metadata
		 * on disk may lack an event it could hold (with a full disk the
		 * writers' records are then discarded and counted, as when the
		 * buffer is full); a packet taken before is written all the
		 * same. Written only when a packet may be ready (positions from
		 * shared memory: a wrong reading only writes it early or
		 * late), not each time events are registered. */
		if (meta < 0 && packet_may_be_ready(c->bufs[cpu]))
			meta = rtr__output_meta_ready(c->t);
		if (meta <= 0)
			continue;
		if (!here) {
			r = hand_over(c, cpu);
			if (r < 0)
				stream_error(c, cpu, r);
			continue;
		}
		for (unsigned round = 0; round < max_rounds; round++) {
			r = rtr_ctf_stream_drain(s, c->num_subbuf);
			if (r == 0)
				break;
			if (r < 0) {
				stream_error(c, cpu, r);
				/* given up: go on with the next; else stop here */
				if (rtr_ctf_stream_stalled(s) || c->damaged[cpu])
					break;
			}
		}
	}
}

void rtr__drain_proc(struct rtr__proc *p, unsigned max_rounds, bool now)
{
	for (struct rtr__ptrace *t = p->traces; t; t = t->next_p)
		for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++)
			if (t->ch[ci] && !t->ch[ci]->overwrite)
				rtr__drain_pchan(t->ch[ci], max_rounds, now);
}

/* The memory of c's nr_bufs buffers, taken from the host's budget, and
 * c's per-buffer arrays. Returns 0, or -ENOMEM with *why and nothing
 * taken (the arrays go with rtr__pchan_free). */
int rtr__pchan_alloc(struct rtr__pchan *c, const char **why)
{
	struct rtr_host *h = c->t->p->h;
	uint64_t mem =
	    (c->subbuf_size * (c->num_subbuf + (c->overwrite ? 1 : 0)) + 65536) * c->nr_bufs;

	if (h->mem_used + mem > h->cfg.mem_budget) {
		*why = "buffer memory budget exhausted";
		return -ENOMEM;
	}
	c->bufs = calloc(c->nr_bufs, sizeof(*c->bufs));
	c->streams = calloc(c->nr_bufs, sizeof(*c->streams));
	c->damaged = calloc(c->nr_bufs, sizeof(*c->damaged));
	c->slots = calloc(c->nr_bufs, sizeof(*c->slots));
	c->slot_gen = calloc(c->nr_bufs, sizeof(*c->slot_gen));
	c->pending_since = calloc(c->nr_bufs, sizeof(*c->pending_since));
	c->open_sb = calloc(c->nr_bufs, sizeof(*c->open_sb));
	c->open_since = calloc(c->nr_bufs, sizeof(*c->open_since));
	c->stall_lost = malloc(c->nr_bufs * sizeof(*c->stall_lost));
	if (!c->bufs || !c->streams || !c->damaged || !c->slots || !c->slot_gen || !c->pending_since ||
	    !c->open_sb || !c->open_since || !c->stall_lost) {
		*why = "out of memory";
		return -ENOMEM;
	}
	for (uint32_t cpu = 0; cpu < c->nr_bufs; cpu++)
		c->stall_lost[cpu] = NOT_STALLED;
	c->mem = mem;
	h->mem_used += mem;
	return 0;
}

/* Every packet the drain thread holds, written now. */
void rtr__settle_all(struct rtr__pchan *c)
{
	for (uint32_t cpu = 0; c->streams && cpu < c->nr_bufs; cpu++)
		if (c->streams[cpu])
			settle(c, cpu, true);
}

int rtr__pchan_flush(struct rtr__pchan *c)
{
	int ret = 0;

	for (uint32_t cpu = 0; c->bufs && !c->released && cpu < c->nr_bufs; cpu++) {
		struct rtr_ring_buf *b = c->bufs[cpu];
		int r = 0;

		if (!b || c->damaged[cpu])
			continue;
		for (int i = 0; i < 100; i++) {
			r = rtr_ring_flush(c->cfg, b, RTR_RING_FLUSH_ACTIVE, false);
			if (r != -EAGAIN)
				break;
			usleep(1000);
		}
		if (r == -EIO)
			rtr__report_damage(c, cpu, rtr_ring_buf_error(b));
		else if (r == -EAGAIN)
			ret = r;
	}
	return ret;
}

void rtr__pchan_finish(struct rtr__pchan *c, bool gone)
{
	struct rtr__proc *p = c->t->p;
	struct rtr_host *h = p->h;

	if (c->released)
		return;
	if (c->view) {
		/* the buffers are the per-user owner's: they stay */
		rtr__user_view_gone(c, gone);
		c->released = true;
		return;
	}
	rtr__settle_all(c);
	for (uint32_t cpu = 0; c->bufs && cpu < c->nr_bufs; cpu++) {
		struct rtr_ring_buf *b = c->bufs[cpu];
		int r = 0;

		if (!b || c->damaged[cpu])
			continue;
		if (gone) {
			r = rtr_ring_salvage(c->cfg, b);
		} else {
			for (int i = 0; i < 100; i++) {
				r = rtr_ring_flush(c->cfg, b, RTR_RING_FLUSH_ACTIVE, false);
				if (r != -EAGAIN)
					break;
				usleep(1000);
			}
			if (r == -EAGAIN)
				hinfo(h, "process %d: buffer %u could not be flushed", (int)p->pid,
				      cpu);
		}
		if (r == -EIO) {
			rtr__report_damage(c, cpu, rtr_ring_buf_error(b));
			continue;
		}
		if (c->overwrite && c->streams && c->streams[cpu] &&
		    rtr_ring_snapshot_start(c->cfg, b) == -EIO)
			rtr__report_damage(c, cpu, rtr_ring_buf_error(b));
	}
	rtr__drain_pchan(c, 4, true);
	/* Records dropped after the last packet closed (buffer full to the
	 * end) are in no packet yet: an empty packet carries the final total,
	 * so that readers report exactly what was lost. */
	for (uint32_t cpu = 0; c->bufs && c->streams && cpu < c->nr_bufs; cpu++) {
		struct rtr_ctf_stream_stats ss;
		struct rtr_ring_buf *b = c->bufs[cpu];

		if (!b || c->damaged[cpu] || !c->streams[cpu])
			continue;
		rtr_ctf_stream_stats(c->streams[cpu], &ss);
		if (rtr_ring_buf_lost(b) + ss.events_dropped == ss.events_lost || !ss.packets ||
		    rtr_ctf_stream_stalled(c->streams[cpu]))
			continue;
		if (rtr_ring_flush(c->cfg, b, RTR_RING_FLUSH_EMPTY, gone) == 0)
			rtr__drain_pchan(c, 1, true);
	}
	for (uint32_t cpu = 0; c->bufs && cpu < c->nr_bufs; cpu++) {
		struct rtr_ctf_stream *s = c->streams ? c->streams[cpu] : NULL;

		if (!c->bufs[cpu])
			continue;
		if (s && rtr_ctf_stream_stalled(s)) {
			/* The disk is still full: what is left is not written. */
			uint64_t lost = rtr_ring_buf_lost(c->bufs[cpu]);

			if (lost > c->stall_lost[cpu])
				c->tot.disk_lost += rtr__bound_count(p, lost - c->stall_lost[cpu]);
			rtr_ctf_stream_give_up(s);
			herr_c(h, RTR__LOG_DISK,
			       "process %d (%s): the disk is still full; the rest of the buffer of "
			       "CPU %u is not written",
			       (int)p->pid, p->procname, cpu);
		}
		rtr__totals_add_channel(c, cpu);
		if (s) {
			rtr_ctf_stream_destroy(s, false);
			c->streams[cpu] = NULL;
		}
		if (c->slots[cpu]) {
			rtr_drain_slot_release(c->slots[cpu]);
			c->slots[cpu] = NULL;
		}
		rtr_ring_buf_destroy(c->bufs[cpu]);
		c->bufs[cpu] = NULL;
	}
	rtr__watch_del_close(h, &c->wake_fd);
	h->mem_used -= c->mem;
	c->mem = 0;
	c->released = true;
}

void rtr__pchan_free(struct rtr__pchan *c)
{
	struct rtr_host *h = c->t->p->h;

	h->free_gen++; /* its wake-up watch may be in the batch being dispatched */
	if (!c->released) {
		/* never given out (setup failed): nothing was shared */
		for (uint32_t cpu = 0; c->bufs && cpu < c->nr_bufs; cpu++) {
			if (c->streams && c->streams[cpu])
				rtr_ctf_stream_destroy(c->streams[cpu], false);
			if (c->slots && c->slots[cpu])
				rtr_drain_slot_release(c->slots[cpu]);
			rtr_ring_buf_destroy(c->bufs[cpu]);
		}
		rtr__watch_del_close(h, &c->wake_fd);
		h->mem_used -= c->mem;
	}
	free(c->bufs);
	free(c->streams);
	free(c->damaged);
	free(c->cut);
	free(c->slots);
	free(c->slot_gen);
	free(c->pending_since);
	free(c->open_sb);
	free(c->open_since);
	free(c->stall_lost);
	free(c->stall_pos);
	free(c->stall_cc);
	free(c->stall_since);
	free(c->seen_off);
	free(c->open_deaths);
	free(c->ids);
	free(c->pend);
	free(c);
}

int rtr__pchan_create(struct rtr__pchan *c, const char **why)
{
	struct rtr__proc *p = c->t->p;
	struct rtr_host *h = p->h;
	struct rtr_ring_geometry geo = {.subbuf_size = c->subbuf_size, .num_subbuf = c->num_subbuf};
	enum rtr_ring_sync sync = (RTR_HAVE_RSEQ && (p->caps & RTR_PROTO_CAP_RSEQ))
				      ? RTR_RING_SYNC_RSEQ
				      : RTR_RING_SYNC_ATOMIC;
	int client = rtr_ctf_client_select(
	    RTR_RING_ALLOC_PER_CPU, c->overwrite ? RTR_RING_MODE_OVERWRITE : RTR_RING_MODE_DISCARD,
	    sync);
	const char *chan_name = c->t->s->chans[c->ci].name;
	int r;

	if (client < 0) {
		*why = "no ring client for this process";
		return client;
	}
	c->client = (uint32_t)client;
	c->cfg = rtr_ctf_host_config(c->client);
	/* One buffer per CPU the kernel may ever run the process on. The
	 * process's own count is informative only: it runs on this kernel,
	 * and a larger claim must not make us allocate more. */
	c->nr_bufs = h->host_cpus;
	r = rtr__pchan_alloc(c, why);
	if (r)
		return r;
	for (uint32_t cpu = 0; cpu < c->nr_bufs; cpu++) {
		char name[64];

		if (p->user) /* (not a process's: `recover --readopt` looks for those) */
			snprintf(name, sizeof(name), "ringtrace-uid:%u:%.32s:%u",
				 (unsigned)p->uid, chan_name, cpu);
		else
			snprintf(name, sizeof(name), "ringtrace:%d:%.32s:%u", (int)p->pid,
				 chan_name, cpu);
		r = rtr_ring_buf_create(c->cfg, &geo, cpu, name, &c->bufs[cpu]);
		if (r) {
			*why = "cannot create a buffer";
			return r;
		}
		if (c->t->dirfd >= 0) {
			r = rtr__output_stream(c, cpu, c->bufs[cpu], c->t->dirfd);
			if (r) {
				*why = "cannot create a stream";
				return r;
			}
		}
	}
	c->wake_fd = -1;
	if (!c->overwrite && (p->caps & RTR_PROTO_CAP_WAKEUP)) {
		c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (c->wake_fd < 0) {
			*why = "eventfd";
			return -errno;
		}
		rtr__watch_add(h, &c->w_wake, RTR_WATCH_WAKE, c, c->wake_fd);
	}
	return 0;
}

/*
 * The switch timer: a buffer whose open sub-buffer has held records for
 * the channel's switch period (a thread that traces slowly, or moved to
 * another CPU) gets it closed, so that those records reach the disk too
 * instead of waiting for the sub-buffer to fill or the process to end.
 * Positions come from shared memory: a wrong reading only flushes early or
 * late.
 */
void rtr__flush_stale(struct rtr__pchan *c, uint64_t now)
{
	for (uint32_t cpu = 0; !c->released && cpu < c->nr_bufs; cpu++) {
		struct rtr_ring_buf *b = c->bufs ? c->bufs[cpu] : NULL;
		struct rtr_ring_stats st;
		uint64_t in_sb;
		int r;

		if (!b || c->damaged[cpu] || !c->streams[cpu])
			continue;
		rtr_ring_buf_stats(b, &st);
		in_sb = st.produced & (b->sb_size - 1);
		if (in_sb <= c->cfg->subbuf_header_size) {
			c->open_sb[cpu] = 0; /* nothing in it (yet) */
			continue;
		}
		if (c->open_sb[cpu] != (st.produced >> b->sb_order) + 1) {
			c->open_sb[cpu] = (st.produced >> b->sb_order) + 1;
			c->open_since[cpu] = now;
			continue;
		}
		if (now - c->open_since[cpu] < c->flush_age_ns)
			continue;
		r = rtr_ring_flush(c->cfg, b, RTR_RING_FLUSH_ACTIVE, false);
		if (r == -EIO)
			rtr__report_damage(c, cpu, rtr_ring_buf_error(b));
		else if (r == 0)
			c->open_sb[cpu] = 0;
		/* -EAGAIN: its CPU was not available; next tick */
	}
}

void rtr__drainer_stop(struct rtr_host *h)
{
	struct rtr_drainer_stats st;

	if (!h->drainer)
		return;
	rtr_drainer_stats(h->drainer, &st);
	h->t.bg_packets = st.done;
	h->t.taken_back = st.taken;
	if (st.priority_err)
		hinfo(h, "drain thread: SCHED_IDLE refused (%s); it ran at nice 19",
		      strerror(st.priority_err));
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, h->drain_fd, NULL);
	rtr_drainer_stop(h->drainer);
	h->drainer = NULL;
	h->drain_fd = -1;
}
