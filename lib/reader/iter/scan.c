/* Whole-stream scans without merging (stats): each stream decoded alone,
 * whole packets counted at a time by the fast programs.
 * See docs/design/reader.md ("Speed"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "iter/iter.h"

int rtr_reader_scan_stream(struct rtr_reader *r, size_t i, struct rtr_stream_stats *st,
			   struct rtr_error *err)
{
	struct rtr__stream *s;
	struct rtr_error e = {0};
	const struct rtr__clock *c;
	uint64_t cmin = UINT64_MAX, cmax = 0;
	enum rtr_next rc;

	if (i >= r->nst)
		return rtr__error(err, -ENOENT, "no stream %zu", i);
	s = r->streams[i];
	/* streams scanned in parallel record their errors apart */
	s->cur.err = &e;
	s->cur.no_emit = true;
	rtr__stream_start(s);
	c = s->sc->clock >= 0 ? &s->tc->clocks[s->sc->clock] : NULL;
	/* Count in private memory: the callers' result structures of
	 * different streams sit side by side, and per-event writes to them
	 * from several threads would bounce their cache lines. */
	uint64_t events = 0, disc_events = 0, disc_unknown = 0, lost_packets = 0;
	uint64_t *per_class =
	    st->class_events ? calloc(r->nclasses ? r->nclasses : 1, sizeof(*per_class)) : NULL;

	if (st->class_events && !per_class) {
		s->cur.err = &r->err;
		return rtr__error(err, -ENOMEM, "out of memory");
	}
	struct rtr__count cnt = {.per_class = per_class, .cmin = UINT64_MAX, .cmax = 0};

	while (1) {
		/* whole runs of events of the current packet */
		rtr__stream_count(s, &cnt);
		if ((rc = rtr__stream_next(s)) != RTR_NEXT_OK)
			break;
		if (rtr_likely(s->item == IT_EVENT)) {
			events++;
			if (per_class)
				per_class[s->cur.ec->gindex]++;
			/* cycles to ns is monotonic: convert the extremes */
			if (s->cur.ev_clock < cmin)
				cmin = s->cur.ev_clock;
			if (s->cur.ev_clock > cmax)
				cmax = s->cur.ev_clock;
		} else if (s->item == IT_DISC_EVENTS) {
			if (s->cur_pend.count == UINT64_MAX)
				disc_unknown++;
			else
				disc_events += s->cur_pend.count;
		} else if (s->item == IT_DISC_PACKETS) {
			lost_packets += s->cur_pend.count;
		}
	}
	events += cnt.events;
	cmin = cnt.cmin < cmin ? cnt.cmin : cmin;
	cmax = cnt.cmax > cmax ? cnt.cmax : cmax;
	st->events += events;
	st->discarded_events += disc_events;
	st->discarded_unknown += disc_unknown;
	st->lost_packets += lost_packets;
	if (per_class) {
		for (size_t k = 0; k < r->nclasses; k++)
			st->class_events[k] += per_class[k];
		free(per_class);
	}
	if (c && st->events) {
		int o1, o2;
		int64_t a = rtr__clock_ns(c, cmin, &o1), b = rtr__clock_ns(c, cmax, &o2);

		if (!o1 && !o2) {
			st->has_time = true;
			st->first_ns = a;
			st->last_ns = b;
		}
	}
	st->packets = s->npackets;
	st->bytes = s->bytes_done;
	s->cur.err = &r->err;
	if (rc == RTR_NEXT_ERROR) {
		if (err)
			*err = e;
		return e.code;
	}
	return 0;
}

