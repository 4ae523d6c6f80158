/* Salvage of a packet cut short (ringtrace recover): which of its records
 * are whole. The packet is decoded against its trace's metadata as any
 * other, one event at a time, and the position after each event that
 * decodes completely (every byte present, a class the metadata knows, a
 * time no later than the packet's timestamp_end) is a proven end.
 * See docs/design/daemon.md ("Recovery"). */
#include <errno.h>
#include <stdlib.h>

#include "compile/plan.h"
#include "iter/iter.h"

int rtr_reader_salvage_packet(const char *metadata, size_t mlen, const uint8_t *pkt, size_t n,
			      struct rtr_packet_salvage *out, struct rtr_error *err)
{
	struct rtr_reader_options o = {.skip_values = true};
	struct rtr_reader *r = NULL;
	struct rtr__stream *s;
	enum rtr_next rc;
	int ret;

	*out = (struct rtr_packet_salvage){0};
	ret = rtr__reader_open_mem((const uint8_t *)metadata, mlen, pkt, n, &o, &r, err);
	if (ret)
		return ret;
	if (r->nst != 1) {
		rtr_reader_close(r);
		return rtr__error(err, -EINVAL, "no packet to salvage");
	}
	s = r->streams[0];
	rtr__stream_start(s);
	while ((rc = rtr__stream_next(s)) == RTR_NEXT_OK) {
		if (s->item != IT_EVENT)
			continue;
		if (s->npackets > 1)
			break; /* one packet only (the caller's claims n bytes) */
		if ((s->cur.r_seen & (1u << ROLE_TS_END)) && s->cur.ev_clock > s->cur.r_ts_end) {
			out->stopped_late = true;
			break;
		}
		if (s->cur.pos % 8)
			break;
		out->events++;
		out->end_bytes = s->cur.pos / 8;
		out->last_clock = s->cur.ev_clock;
	}
	if (rc == RTR_NEXT_ERROR) {
		out->stopped_error = true;
		if (err)
			*err = r->err;
	}
	rtr_reader_close(r);
	return 0;
}
