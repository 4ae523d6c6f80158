/* lib/host: a process's buffers — creation, hand-over of packets to the
 * idle-priority drain thread (drainer.c) or writing them here, the switch
 * timer, flush and salvage when the process is finished. Design:
 * docs/design/host.md §4 (and §4.1 for the drain thread). */
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
#define FLUSH_AGE_NS (1000ull * 1000000u) /* records left in an open sub-buffer */

void rtr__report_damage(struct rtr__proc *p, uint32_t cpu, const char *what)
{
	if (p->damaged[cpu])
		return;
	p->damaged[cpu] = true;
	p->h->t.damaged++;
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

/* The buffer has less than max(1/4 of its size, 2 sub-buffers) free. Its
 * positions come from shared memory: a wrong answer only changes who
 * writes the next packets. */
static bool buffer_short(const struct rtr_ring_buf *b)
{
	struct rtr_ring_stats st;
	uint64_t room = b->buf_size / 4 > 2 * b->sb_size ? b->buf_size / 4 : 2 * b->sb_size;
	uint64_t backlog;

	rtr_ring_buf_stats(b, &st);
	backlog = st.produced > st.consumed ? st.produced - st.consumed : 0;
	return backlog + room >= b->buf_size;
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
static void stream_error(struct rtr__proc *p, uint32_t cpu, int err)
{
	struct rtr_host *h = p->h;
	struct rtr_ctf_stream *s = p->streams[cpu];

	if (rtr_ctf_stream_corrupt(s)) {
		rtr__report_damage(p, cpu, rtr_ctf_stream_error(s));
		return;
	}
	if (rtr_ctf_stream_stalled(s)) {
		struct rtr_ctf_stream_stats ss;

		if (p->stall_lost[cpu] != NOT_STALLED)
			return; /* still full */
		/* Losses count from the last packet on disk: the writers may
		 * have filled the buffer before this first failed write. */
		rtr_ctf_stream_stats(s, &ss);
		p->stall_lost[cpu] = ss.events_lost - ss.events_dropped;
		h->t.disk_stalls++;
		rtr__write_error(h, err);
		herr_c(h, RTR__LOG_DISK,
		       "cannot write the trace of process %d (%s) to %s: %s; its events are "
		       "discarded (and counted) until there is room again",
		       (int)p->pid, p->procname, h->cfg.trace_dir, strerror(-err));
		return;
	}
	rtr__write_error(h, err);
	herr_c(h, RTR__LOG_DISK,
	       "process %d (%s): a packet could not be written (%s); its events are counted "
	       "as discarded",
	       (int)p->pid, p->procname, rtr_ctf_stream_error(s));
}

/* The stalled packet of buffer cpu was written: the disk has room again. */
static void stall_end(struct rtr__proc *p, uint32_t cpu)
{
	struct rtr_host *h = p->h;
	uint64_t lost = rtr_ring_buf_lost(p->bufs[cpu]);
	uint64_t meanwhile = lost >= p->stall_lost[cpu] ? lost - p->stall_lost[cpu] : 0;

	meanwhile = rtr__bound_count(p, meanwhile);
	h->t.disk_lost += meanwhile;
	p->stall_lost[cpu] = NOT_STALLED;
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
static bool settle(struct rtr__proc *p, uint32_t cpu, bool take_back)
{
	struct rtr_ctf_stream *s = p->streams[cpu];
	int err = 0, r;

	if (!p->pending_since || !p->pending_since[cpu])
		return true;
	switch (rtr_drain_poll(p->slots[cpu], &err)) {
	case RTR_DRAIN_PENDING:
		if (!take_back)
			return false;
		if (rtr_drain_take_back(p->slots[cpu], &err)) {
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
	p->pending_since[cpu] = 0;
	p->npending--;
	if (r < 0)
		stream_error(p, cpu, r);
	return true;
}

/* Hands buffer cpu's next packet to the drain thread. Returns 1 (handed
 * or written), 0 (none ready), < 0 (stream failed, reported). */
static int hand_over(struct rtr__proc *p, uint32_t cpu)
{
	struct rtr_host *h = p->h;
	struct rtr_ctf_packet_job job;
	int r = rtr_ctf_stream_begin(p->streams[cpu], &job);

	if (r <= 0)
		return r;
	if (!p->slots[cpu] && job.src_fd >= 0 && h->drainer)
		p->slots[cpu] = rtr_drain_slot_new(h->drainer, job.src_fd, job.dst_fd);
	if (!p->slots[cpu]) {
		r = rtr_ctf_stream_write_held(p->streams[cpu]);
		return r < 0 ? r : 1;
	}
	rtr_drain_submit(p->slots[cpu], job.src_off, job.dst_off, job.len, job.hdr, job.hdr_len);
	p->pending_since[cpu] = rtr__now_ns();
	p->npending++;
	return 1;
}

/* Writes (or hands over) what is ready; max_rounds bounds the packets this
 * thread writes per buffer (a hostile writer could keep producing). A
 * packet the drain thread has not written within DRAIN_LAG_NS is taken
 * back and the buffer's backlog written here: the trace on disk never lags
 * much more than a second (the metadata checkpoint's period), so a killed
 * `record` loses no more than that.
 * `now`: everything on this thread (the process is being finished). */
void rtr__drain_proc(struct rtr__proc *p, unsigned max_rounds, bool now)
{
	struct rtr_host *h = p->h;
	int meta = -1; /* metadata on disk up to date: unknown yet */

	for (uint32_t cpu = 0; p->streams && cpu < p->nr_bufs; cpu++) {
		struct rtr_ctf_stream *s = p->streams[cpu];
		bool here;
		int r;

		if (!s || p->damaged[cpu])
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
		    now || !h->drainer || !p->pending_since || rtr_ctf_stream_stalled(s) ||
		    buffer_short(p->bufs[cpu]) ||
		    (p->pending_since[cpu] && rtr__now_ns() - p->pending_since[cpu] > DRAIN_LAG_NS);
		if (!settle(p, cpu, here) || p->damaged[cpu])
			continue;
		if (rtr_ctf_stream_stalled(s)) {
			r = rtr_ctf_stream_write_held(s);
			if (r < 0) {
				stream_error(p, cpu, r);
				continue;
			}
			stall_end(p, cpu);
		}
		/* Metadata before data: no packet is taken while the metadata
		 * on disk may lack an event it could hold (with a full disk the
		 * writers' records are then discarded and counted, as when the
		 * buffer is full); a packet taken before is written all the
		 * same. Written only when a packet may be ready (positions from
		 * shared memory: a wrong reading only writes it early or
		 * late), not each time events are registered. */
		if (meta < 0 && packet_may_be_ready(p->bufs[cpu]))
			meta = rtr__output_meta_ready(p);
		if (meta <= 0)
			continue;
		if (!here) {
			r = hand_over(p, cpu);
			if (r < 0)
				stream_error(p, cpu, r);
			continue;
		}
		for (unsigned round = 0; round < max_rounds; round++) {
			r = rtr_ctf_stream_drain(s, h->cfg.num_subbuf);
			if (r == 0)
				break;
			if (r < 0) {
				stream_error(p, cpu, r);
				/* given up: go on with the next; else stop here */
				if (rtr_ctf_stream_stalled(s) || p->damaged[cpu])
					break;
			}
		}
	}
}

/* Every packet the drain thread holds, written now. */
void rtr__settle_all(struct rtr__proc *p)
{
	for (uint32_t cpu = 0; p->streams && cpu < p->nr_bufs; cpu++)
		if (p->streams[cpu])
			settle(p, cpu, true);
}

void rtr__channel_finish(struct rtr__proc *p, bool gone)
{
	struct rtr_host *h = p->h;

	rtr__settle_all(p);
	for (uint32_t cpu = 0; p->bufs && cpu < p->nr_bufs; cpu++) {
		struct rtr_ring_buf *b = p->bufs[cpu];
		int r = 0;

		if (!b || p->damaged[cpu])
			continue;
		if (gone) {
			r = rtr_ring_salvage(p->cfg, b);
		} else {
			for (int i = 0; i < 100; i++) {
				r = rtr_ring_flush(p->cfg, b, RTR_RING_FLUSH_ACTIVE, false);
				if (r != -EAGAIN)
					break;
				usleep(1000);
			}
			if (r == -EAGAIN)
				hinfo(h, "process %d: buffer %u could not be flushed", (int)p->pid,
				      cpu);
		}
		if (r == -EIO) {
			rtr__report_damage(p, cpu, rtr_ring_buf_error(b));
			continue;
		}
		if (h->cfg.overwrite && rtr_ring_snapshot_start(p->cfg, b) == -EIO)
			rtr__report_damage(p, cpu, rtr_ring_buf_error(b));
	}
	/* A process that is gone has every event it will have in its buffers:
	 * when packets are about to be written, its final metadata goes first
	 * (metadata before data, §5.1), instead of a provisional version now
	 * and the final one after them — one metadata file and one fsync less
	 * at the end of each process (issue 12: record's start-to-end time). A
	 * failure leaves it to the usual path (drain, then rtr__output_final). */
	if (gone && p->meta_gen_disk != p->meta_gen) {
		bool ready = false;

		for (uint32_t cpu = 0; p->bufs && cpu < p->nr_bufs && !ready; cpu++)
			ready = p->bufs[cpu] && !p->damaged[cpu] && packet_may_be_ready(p->bufs[cpu]);
		if (ready)
			rtr__output_final_early(p);
	}
	rtr__drain_proc(p, 4, true);
	/* Records dropped after the last packet closed (buffer full to the
	 * end) are in no packet yet: an empty packet carries the final total,
	 * so that readers report exactly what was lost. */
	for (uint32_t cpu = 0; p->bufs && cpu < p->nr_bufs; cpu++) {
		struct rtr_ctf_stream_stats ss;
		struct rtr_ring_buf *b = p->bufs[cpu];

		if (!b || p->damaged[cpu] || !p->streams[cpu])
			continue;
		rtr_ctf_stream_stats(p->streams[cpu], &ss);
		if (rtr_ring_buf_lost(b) + ss.events_dropped == ss.events_lost || !ss.packets ||
		    rtr_ctf_stream_stalled(p->streams[cpu]))
			continue;
		if (rtr_ring_flush(p->cfg, b, RTR_RING_FLUSH_EMPTY, gone) == 0)
			rtr__drain_proc(p, 1, true);
	}
	for (uint32_t cpu = 0; p->bufs && cpu < p->nr_bufs; cpu++) {
		struct rtr_ctf_stream *s = p->streams[cpu];

		if (!p->bufs[cpu])
			continue;
		if (s && rtr_ctf_stream_stalled(s)) {
			/* The disk is still full: what is left is not written. */
			uint64_t lost = rtr_ring_buf_lost(p->bufs[cpu]);

			if (lost > p->stall_lost[cpu])
				h->t.disk_lost += rtr__bound_count(p, lost - p->stall_lost[cpu]);
			rtr_ctf_stream_give_up(s);
			herr_c(h, RTR__LOG_DISK,
			       "process %d (%s): the disk is still full; the rest of the buffer of "
			       "CPU %u is not written",
			       (int)p->pid, p->procname, cpu);
		}
		rtr__totals_add_channel(p, cpu);
		if (s) {
			rtr_ctf_stream_destroy(s, false);
			p->streams[cpu] = NULL;
		}
		if (p->slots[cpu]) {
			rtr_drain_slot_release(p->slots[cpu]);
			p->slots[cpu] = NULL;
		}
		rtr_ring_buf_destroy(p->bufs[cpu]);
		p->bufs[cpu] = NULL;
	}
}

int rtr__channel_create(struct rtr__proc *p, const struct rtr_proto_hello *hello, const char **why)
{
	struct rtr_host *h = p->h;
	struct rtr_ring_geometry geo = {.subbuf_size = h->cfg.subbuf_size,
					.num_subbuf = h->cfg.num_subbuf};
	enum rtr_ring_sync sync = (RTR_HAVE_RSEQ && (hello->caps & RTR_PROTO_CAP_RSEQ))
				      ? RTR_RING_SYNC_RSEQ
				      : RTR_RING_SYNC_ATOMIC;
	int client = rtr_ctf_client_select(
	    RTR_RING_ALLOC_PER_CPU,
	    h->cfg.overwrite ? RTR_RING_MODE_OVERWRITE : RTR_RING_MODE_DISCARD, sync);
	uint64_t per_buf;
	int r;

	if (client < 0) {
		*why = "no ring client for this process";
		return client;
	}
	p->client = (uint32_t)client;
	p->cfg = rtr_ctf_host_config(p->client);
	/* One buffer per CPU the kernel may ever run the process on. The
	 * process's own count is informative only: it runs on this kernel,
	 * and a larger claim must not make us allocate more. */
	p->nr_bufs = h->host_cpus;
	per_buf = geo.subbuf_size * (geo.num_subbuf + (h->cfg.overwrite ? 1 : 0)) + 65536;
	p->mem = per_buf * p->nr_bufs;
	if (h->mem_used + p->mem > h->cfg.mem_budget) {
		*why = "buffer memory budget of the recording exhausted";
		p->mem = 0;
		return -ENOMEM;
	}
	p->bufs = calloc(p->nr_bufs, sizeof(*p->bufs));
	p->streams = calloc(p->nr_bufs, sizeof(*p->streams));
	p->damaged = calloc(p->nr_bufs, sizeof(*p->damaged));
	p->slots = calloc(p->nr_bufs, sizeof(*p->slots));
	p->pending_since = calloc(p->nr_bufs, sizeof(*p->pending_since));
	p->open_sb = calloc(p->nr_bufs, sizeof(*p->open_sb));
	p->open_since = calloc(p->nr_bufs, sizeof(*p->open_since));
	p->stall_lost = malloc(p->nr_bufs * sizeof(*p->stall_lost));
	if (!p->bufs || !p->streams || !p->damaged || !p->slots || !p->pending_since ||
	    !p->open_sb || !p->open_since || !p->stall_lost) {
		free(p->bufs);
		free(p->streams);
		free(p->damaged);
		free(p->slots);
		free(p->pending_since);
		free(p->open_sb);
		free(p->open_since);
		free(p->stall_lost);
		p->stall_lost = NULL;
		p->bufs = NULL;
		p->streams = NULL;
		p->damaged = NULL;
		p->slots = NULL;
		p->pending_since = NULL;
		p->open_sb = p->open_since = NULL;
		p->mem = 0;
		*why = "out of memory";
		return -ENOMEM;
	}
	for (uint32_t cpu = 0; cpu < p->nr_bufs; cpu++)
		p->stall_lost[cpu] = NOT_STALLED;
	h->mem_used += p->mem;
	r = rtr__output_open(p);
	if (r) {
		*why = "cannot create the trace directory";
		return r;
	}
	for (uint32_t cpu = 0; cpu < p->nr_bufs; cpu++) {
		char name[64];

		snprintf(name, sizeof(name), "ringtrace:%d:%s:%u", (int)p->pid, RTR_HOST_CHAN_NAME,
			 cpu);
		r = rtr_ring_buf_create(p->cfg, &geo, cpu, name, &p->bufs[cpu]);
		if (r) {
			*why = "cannot create a buffer";
			return r;
		}
		r = rtr__output_stream(p, cpu, p->bufs[cpu]);
		if (r) {
			*why = "cannot create a stream";
			return r;
		}
	}
	p->wake_fd = -1;
	if (!h->cfg.overwrite && (hello->caps & RTR_PROTO_CAP_WAKEUP)) {
		p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (p->wake_fd < 0) {
			*why = "eventfd";
			return -errno;
		}
		rtr__watch_add(h, &p->w_wake, RTR_WATCH_WAKE, p, p->wake_fd);
	}
	return 0;
}

/*
 * The switch timer: a buffer whose open sub-buffer has held records for
 * FLUSH_AGE_NS (a thread that traces slowly, or moved to another CPU) gets
 * it closed, so that those records reach the disk too instead of waiting
 * for the sub-buffer to fill or the process to end. Positions come from
 * shared memory: a wrong reading only flushes early or late.
 */
void rtr__flush_stale(struct rtr__proc *p, uint64_t now)
{
	for (uint32_t cpu = 0; cpu < p->nr_bufs; cpu++) {
		struct rtr_ring_buf *b = p->bufs ? p->bufs[cpu] : NULL;
		struct rtr_ring_stats st;
		uint64_t in_sb;
		int r;

		if (!b || p->damaged[cpu] || !p->streams[cpu])
			continue;
		rtr_ring_buf_stats(b, &st);
		in_sb = st.produced & (b->sb_size - 1);
		if (in_sb <= p->cfg->subbuf_header_size) {
			p->open_sb[cpu] = 0; /* nothing in it (yet) */
			continue;
		}
		if (p->open_sb[cpu] != (st.produced >> b->sb_order) + 1) {
			p->open_sb[cpu] = (st.produced >> b->sb_order) + 1;
			p->open_since[cpu] = now;
			continue;
		}
		if (now - p->open_since[cpu] < FLUSH_AGE_NS)
			continue;
		r = rtr_ring_flush(p->cfg, b, RTR_RING_FLUSH_ACTIVE, false);
		if (r == -EIO)
			rtr__report_damage(p, cpu, rtr_ring_buf_error(b));
		else if (r == 0)
			p->open_sb[cpu] = 0;
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
