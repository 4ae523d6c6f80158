/* lib/host: the run's totals, from the writers' counters (shared memory:
 * bounded before use) and the stream writers' own. Design:
 * docs/design/host.md §6. */
#include <errno.h>

#include "host-internal.h"

/* The smallest record a writer can commit: a compact event header. */
#define MIN_RECORD_BYTES 4u
/* Slack on the time bound: registration, clock reads. */
#define TIME_SLACK_NS (1000ull * 1000000u)

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static uint64_t time_bound(const struct rtr__proc *p)
{
	uint64_t now = rtr__now_ns();
	uint64_t age = now > p->registered_ns ? now - p->registered_ns : 0;

	return sat_mul(sat_add(age, TIME_SLACK_NS), p->h->host_cpus ? p->h->host_cpus : 1);
}

uint64_t rtr__bound_count(const struct rtr__proc *p, uint64_t n)
{
	uint64_t most = time_bound(p);

	return n < most ? n : most;
}

/*
 * The writers' counters live in the buffer's shared control area, which the
 * traced process can scribble over. Before they go into the totals they
 * are checked against what the host knows for itself:
 *  - no CPU commits or refuses more than one record per nanosecond, and at
 *    most host_cpus writers run at once: every counter is at most
 *    (time since the buffer was handed out + 1 s) x host_cpus;
 *  - in discard mode nothing is written past what the host consumed plus
 *    one buffer, and a record takes at least MIN_RECORD_BYTES: records are
 *    at most (consumed + buffer size) / MIN_RECORD_BYTES (consumed is the
 *    host's own reader position).
 * A buffer whose counters break a bound is reported, and its counters are
 * left out (as for a damaged buffer). Returns 0 or -ERANGE.
 */
static int check_counters(const struct rtr__pchan *c, const struct rtr_ring_buf *b,
			  const struct rtr_ring_stats *st, bool quiet)
{
	struct rtr__proc *p = c->t->p;
	struct rtr_host *h = p->h;
	uint64_t by_time = time_bound(p);
	uint64_t by_space = by_time;
	const uint64_t lost[] = {st->lost_full, st->lost_wrap, st->lost_big, st->refused_nest,
				 st->lost_nobuf};
	bool bad = false;

	if (!c->overwrite)
		by_space = sat_add(st->consumed, b->buf_size) / MIN_RECORD_BYTES;
	if (st->records > by_time || st->records > by_space || st->overwritten > by_time)
		bad = true;
	for (size_t i = 0; i < sizeof(lost) / sizeof(lost[0]); i++)
		if (lost[i] > by_time)
			bad = true;
	if (!bad)
		return 0;
	if (quiet)
		return -ERANGE;
	h->t.bad_counters++;
	hwarn_c(h, RTR__LOG_PROC,
		"process %d (%s): the counters of the buffer of CPU %u are impossible (%llu "
		"records, %llu lost in %.1f s); left out of the totals",
		(int)p->pid, p->procname, b->cpu, (unsigned long long)st->records,
		(unsigned long long)st->lost_full,
		(double)(rtr__now_ns() - p->registered_ns) / 1e9);
	return -ERANGE;
}

/* The stream's own figures (packets written, dropped, ...). */
static void add_stream(struct rtr_host_totals *t, const struct rtr_ctf_stream *s,
		       struct rtr_ctf_stream_stats *ss)
{
	rtr_ctf_stream_stats(s, ss);
	t->packets += ss->packets;
	t->bytes += ss->bytes;
	t->salvaged += ss->salvaged;
	t->dropped = sat_add(t->dropped, ss->events_dropped);
	t->unwritten = sat_add(t->unwritten, ss->events_unwritten);
}

/* The writers' counters of buffer cpu (bounded); false when they cannot
 * be used (damaged, impossible). */
static bool add_ring(const struct rtr__pchan *c, uint32_t cpu, struct rtr_host_totals *t,
		     struct rtr_ring_stats *st, bool quiet)
{
	const struct rtr_ring_buf *b = c->bufs[cpu];

	/* The writers' counters of a damaged buffer mean nothing. */
	if (c->damaged[cpu])
		return false;
	rtr_ring_buf_stats(b, st);
	if (check_counters(c, b, st, quiet))
		return false;
	t->events = sat_add(t->events, st->records);
	t->lost = sat_add(t->lost, st->lost_full + st->lost_wrap + st->lost_big +
				       st->refused_nest + st->lost_nobuf);
	t->overwritten = sat_add(t->overwritten, st->overwritten);
	t->torn_bytes = sat_add(t->torn_bytes, st->salvage_dropped_bytes);
	return true;
}

void rtr__totals_add_stream(struct rtr__pchan *c, uint32_t cpu)
{
	struct rtr_ctf_stream_stats ss;

	if (c->streams && c->streams[cpu])
		add_stream(&c->tot, c->streams[cpu], &ss);
}

void rtr__totals_add_channel(struct rtr__pchan *c, uint32_t cpu)
{
	const struct rtr_ctf_stream *s = c->streams ? c->streams[cpu] : NULL;
	struct rtr_ctf_stream_stats ss = {0};
	struct rtr_ring_stats st;

	if (s)
		add_stream(&c->tot, s, &ss);
	if (!add_ring(c, cpu, &c->tot, &st, false))
		return;
	/* After write errors (the metadata's included: then no packet is
	 * taken), packets may be left in the buffer that were never taken:
	 * committed, not written (exact in discard mode, where each record is
	 * counted once, in the packet that holds it). */
	if (s && (ss.write_err || c->t->meta_err) && !c->overwrite) {
		uint64_t out =
		    sat_add(sat_add(ss.events_written, ss.events_dropped), ss.events_unwritten);

		if (st.records > out)
			c->tot.unwritten = sat_add(c->tot.unwritten, st.records - out);
	}
}

void rtr__totals_live(const struct rtr__pchan *c, struct rtr_host_totals *t)
{
	*t = c->tot;
	for (uint32_t cpu = 0; !c->released && c->bufs && cpu < c->nr_bufs; cpu++) {
		struct rtr_ctf_stream_stats ss;
		struct rtr_ring_stats st;

		if (!c->bufs[cpu])
			continue;
		if (c->streams && c->streams[cpu])
			add_stream(t, c->streams[cpu], &ss);
		add_ring(c, cpu, t, &st, true);
	}
}

void rtr__totals_add(struct rtr_host_totals *to, const struct rtr_host_totals *t)
{
	to->events = sat_add(to->events, t->events);
	to->lost = sat_add(to->lost, t->lost);
	to->overwritten = sat_add(to->overwritten, t->overwritten);
	to->packets += t->packets;
	to->bytes += t->bytes;
	to->salvaged += t->salvaged;
	to->torn_bytes = sat_add(to->torn_bytes, t->torn_bytes);
	to->dropped = sat_add(to->dropped, t->dropped);
	to->unwritten = sat_add(to->unwritten, t->unwritten);
	to->disk_lost = sat_add(to->disk_lost, t->disk_lost);
}
