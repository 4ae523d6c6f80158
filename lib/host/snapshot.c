/* lib/host: snapshot sessions — the newest data of every stream, written
 * while tracing goes on, cut at one time point for all streams, within a
 * byte budget. Design: docs/design/daemon.md §5.
 *
 * A snapshot session's channels overwrite and nothing drains them: the
 * buffers hold the newest sub-buffers of each CPU. `snapshot record`:
 *   1. cut: every buffer of every process of the session closes its open
 *      sub-buffer now (rtr_ring_flush, as a writer would: RSEQ buffers are
 *      closed on their CPU), one buffer after the other in a tight loop;
 *      the trace clock read before the first is the cut time. A buffer
 *      whose flush could not run (-EAGAIN) does not reach the cut: its
 *      newest records stay in the open sub-buffer, left out.
 *   2. copy: per process, a trace directory under snapshot-N/ of the
 *      session output, a stream per buffer positioned at its oldest
 *      readable sub-buffer (rtr_ring_snapshot_start), the oldest skipped
 *      when the budget (max_size split evenly over the streams) is smaller
 *      than what the buffer holds, then every complete sub-buffer written
 *      while the writers go on (the ring gives the reader a sub-buffer of
 *      its own: a writer that laps the reader overwrites others, and the
 *      gap shows in the packet sequence numbers), and the metadata.
 * Nothing of the session's state changes: the next snapshot copies what
 * the buffers hold then, again from their oldest sub-buffer. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ringtrace/clock.h>

#include "host-internal.h"

/* Flushes one buffer (a few tries: an RSEQ buffer is closed on its CPU).
 * Returns 0 (closed, or nothing open), -EAGAIN or -EIO. */
static int cut_one(struct rtr__pchan *c, uint32_t cpu)
{
	int r = -EAGAIN;

	for (int i = 0; i < 20 && r == -EAGAIN; i++) {
		r = rtr_ring_flush(c->cfg, c->bufs[cpu], RTR_RING_FLUSH_ACTIVE, false);
		if (r == -EAGAIN)
			usleep(200);
	}
	return r;
}

/* Skips the oldest sub-buffers of the held position so that at most keep
 * remain readable. */
static void skip_oldest(struct rtr__pchan *c, uint32_t cpu, uint64_t keep)
{
	struct rtr_ring_buf *b = c->bufs[cpu];
	struct rtr_ring_stats st;
	uint64_t n;

	rtr_ring_buf_stats(b, &st);
	n = st.produced > st.consumed ? (st.produced - st.consumed + b->sb_size - 1) / b->sb_size
				      : 0;
	for (; n > keep; n--) {
		struct rtr_ring_subbuf sb;

		if (rtr_ring_get_subbuf(c->cfg, b, &sb))
			break;
		rtr_ring_put_subbuf(c->cfg, b);
	}
}

/* The buffer holds committed records (one that never had any needs
 * neither a cut, which may pin this thread to its CPU, nor a copy). */
static bool has_records(const struct rtr_ring_buf *b)
{
	struct rtr_ring_stats st;

	rtr_ring_buf_stats(b, &st);
	return st.records != 0;
}

static bool trace_has_records(const struct rtr__ptrace *t)
{
	for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++) {
		const struct rtr__pchan *c = t->ch[ci];

		for (uint32_t cpu = 0; c && !c->released && c->bufs && cpu < c->nr_bufs; cpu++)
			if (c->bufs[cpu] && !c->damaged[cpu] && has_records(c->bufs[cpu]))
				return true;
	}
	return false;
}

/* Writes the streams of channel c of trace t into t->dirfd. */
static void copy_chan(struct rtr__pchan *c, const bool *cut, uint64_t per_stream,
		      struct rtr_host_op_result *res)
{
	for (uint32_t cpu = 0; cpu < c->nr_bufs; cpu++) {
		struct rtr_ring_buf *b = c->bufs[cpu];
		struct rtr_ctf_stream_stats ss;
		int r;

		if (!b || c->damaged[cpu] || !has_records(b))
			continue;
		if (rtr_ring_snapshot_start(c->cfg, b) == -EIO) {
			rtr__report_damage(c, cpu, rtr_ring_buf_error(b));
			continue;
		}
		if (rtr__output_stream(c, cpu, b, c->t->dirfd))
			continue;
		/* Within a budget: the newest `keep` sub-buffers, and no more
		 * than `keep` packets either, for the writers go on and may
		 * complete more while this copies (daemon_snapshot saw 21645
		 * bytes written for a 16384-byte budget). */
		if (per_stream)
			skip_oldest(c, cpu, per_stream / b->sb_size);
		r = rtr_ctf_stream_drain(c->streams[cpu],
					 per_stream ? (uint32_t)(per_stream / b->sb_size) : 0);
		if (r == -EIO)
			rtr__report_damage(c, cpu, rtr_ctf_stream_error(c->streams[cpu]));
		rtr_ctf_stream_stats(c->streams[cpu], &ss);
		if (ss.packets) {
			res->streams++;
			res->streams_cut += cut[cpu];
			res->snap_bytes += ss.bytes;
		}
		rtr_ctf_stream_destroy(c->streams[cpu], false);
		c->streams[cpu] = NULL;
	}
}

/* The metadata of a snapshot's trace: written once, final, through the
 * page cache like its streams (no fsync: a snapshot is a copy of memory,
 * and 50 processes' fsyncs would make the command wait for the disk). */
static int write_meta(struct rtr__ptrace *t)
{
	struct rtr_host *h = t->p->h;
	struct rtr_clock_meta cm;
	char *text = NULL;
	size_t len = 0, off = 0;
	int r = rtr__hclock_describe(h, true, &cm), fd;

	if (!r)
		r = rtr__output_render(t, &cm, h->clock.log.pts, h->clock.log.n, &text, &len);
	if (r)
		return r;
	fd = rtr_ctf_file_create(t->dirfd, "metadata", h->file_mode);
	if (fd < 0) {
		free(text);
		return fd;
	}
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = w < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)w;
	}
	close(fd);
	free(text);
	return r;
}

/* Removes what an empty trace directory of the snapshot holds. */
static void discard_dir(struct rtr__ptrace *t, int snapfd)
{
	unlinkat(t->dirfd, "index", AT_REMOVEDIR);
	unlinkat(t->dirfd, "metadata", 0);
	rtr__output_close(t);
	unlinkat(snapfd, t->dirname, AT_REMOVEDIR);
}

int rtr__snapshot(struct rtr__session *s, uint64_t max_size, struct rtr_host_op_result *res)
{
	struct rtr_host *h = s->h;
	uint64_t nstreams = 0, per_stream = 0, t0 = rtr__now_ns();
	unsigned traces = 0;
	int snapfd = -EEXIST;

	if (!s->snapshot) {
		snprintf(res->err, sizeof(res->err),
			 "session %s is not a snapshot session (create it with --snapshot)",
			 s->name);
		return -EINVAL;
	}
	for (struct rtr__ptrace *t = s->traces; t; t = t->next_s)
		for (unsigned ci = 0; !t->finished && ci < RTR_HOST_MAX_CHANS; ci++)
			if (t->ch[ci] && !t->ch[ci]->released && t->ch[ci]->bufs)
				nstreams += t->ch[ci]->nr_bufs;
	if (max_size) {
		uint64_t smallest = UINT64_MAX;

		for (unsigned ci = 0; ci < s->nchans; ci++) {
			uint64_t sb = s->chans[ci].c.subbuf_size;

			if (sb && sb < smallest)
				smallest = sb;
		}
		per_stream = nstreams ? max_size / nstreams : max_size;
		if (per_stream < smallest) {
			snprintf(res->err, sizeof(res->err),
				 "--max-size %llu is too small: %llu streams need at least one "
				 "sub-buffer (%llu bytes) each",
				 (unsigned long long)max_size, (unsigned long long)nstreams,
				 (unsigned long long)smallest);
			return -EINVAL;
		}
	}
	for (int i = 0; i < 64 && snapfd == -EEXIST; i++) {
		snprintf(res->snap_dir, sizeof(res->snap_dir), "snapshot-%u", ++s->snap_seq);
		snapfd = rtr__mkdir_open(h, s->out_dirfd, res->snap_dir);
	}
	if (snapfd < 0) {
		snprintf(res->err, sizeof(res->err), "cannot create %.150s/%.40s: %s", s->out_path,
			 res->snap_dir, strerror(-snapfd));
		res->snap_dir[0] = 0;
		return snapfd;
	}

	/* 1. the cut: every buffer closes its open sub-buffer */
	res->cut_ts = rtr_clock_read();
	for (struct rtr__ptrace *t = s->traces; t; t = t->next_s) {
		if (t->finished)
			continue;
		for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++) {
			struct rtr__pchan *c = t->ch[ci];

			if (!c || c->released || !c->bufs)
				continue;
			if (!c->cut)
				c->cut = calloc(c->nr_bufs, sizeof(*c->cut));
			if (!c->cut) {
				close(snapfd);
				snprintf(res->err, sizeof(res->err), "out of memory");
				return -ENOMEM;
			}
			for (uint32_t cpu = 0; cpu < c->nr_bufs; cpu++) {
				int r;

				c->cut[cpu] = false;
				if (!c->bufs[cpu] || c->damaged[cpu] || !has_records(c->bufs[cpu]))
					continue;
				r = cut_one(c, cpu);
				c->cut[cpu] = r == 0;
				if (r == -EIO)
					rtr__report_damage(c, cpu, rtr_ring_buf_error(c->bufs[cpu]));
			}
		}
	}

	/* 2. the copy, one trace directory per process */
	for (struct rtr__ptrace *t = s->traces; t; t = t->next_s) {
		unsigned before = res->streams;

		if (t->finished || t->dirfd >= 0 || !trace_has_records(t))
			continue;
		if (rtr__output_open_in(t, snapfd)) {
			hwarn_c(h, RTR__LOG_NONE,
				"snapshot of session %s: no directory for process %d", s->name,
				(int)t->p->pid);
			continue;
		}
		for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++) {
			struct rtr__pchan *c = t->ch[ci];

			if (c && !c->released && c->bufs && c->cut)
				copy_chan(c, c->cut, per_stream, res);
		}
		if (res->streams == before) {
			discard_dir(t, snapfd);
			continue;
		}
		if (write_meta(t))
			hwarn_c(h, RTR__LOG_NONE,
				"snapshot of session %s: the metadata of process %d was not written",
				s->name, (int)t->p->pid);
		rtr__output_close(t);
		traces++;
	}
	close(snapfd);
	res->procs = traces;
	res->answered = traces;
	res->elapsed_ns = rtr__now_ns() - t0;
	if (!res->streams)
		unlinkat(s->out_dirfd, res->snap_dir, AT_REMOVEDIR);
	return 0;
}
