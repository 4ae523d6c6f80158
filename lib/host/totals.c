/* lib/host: the run's totals, from the writers' counters (shared memory)
 * and the stream writers' own. Design: docs/design/host.md §6. */
#include "host-internal.h"

void rtr__totals_add_buffer(struct rtr__proc *p, const struct rtr_ring_buf *b)
{
	struct rtr_ring_stats st;

	rtr_ring_buf_stats(b, &st);
	p->t.events += st.records;
	p->t.lost += st.lost_full + st.lost_wrap + st.lost_big + st.refused_nest + st.lost_nobuf;
	p->t.overwritten += st.overwritten;
	p->t.torn_bytes += st.salvage_dropped_bytes;
}

void rtr__totals_add_stream(struct rtr__proc *p, const struct rtr_ctf_stream *s)
{
	struct rtr_ctf_stream_stats ss;

	rtr_ctf_stream_stats(s, &ss);
	p->t.packets += ss.packets;
	p->t.bytes += ss.bytes;
	p->t.salvaged += ss.salvaged;
}

void rtr__totals_add_proc(struct rtr_host *h, const struct rtr__proc *p)
{
	h->t.events += p->t.events;
	h->t.lost += p->t.lost;
	h->t.overwritten += p->t.overwritten;
	h->t.packets += p->t.packets;
	h->t.bytes += p->t.bytes;
	h->t.salvaged += p->t.salvaged;
	h->t.torn_bytes += p->t.torn_bytes;
}
