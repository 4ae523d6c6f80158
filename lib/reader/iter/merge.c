/* The reader's merge: every stream's next item in a binary heap ordered
 * by time from origin and babeltrace2 2.0.4's tie-break, with the name
 * filters and the time range. See docs/design/reader.md ("Streams, merge,
 * memory"). */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "iter/iter.h"

static int type_weight(int item)
{
	switch (item) {
	case IT_PKT_BEGIN:
		return 1;
	case IT_EVENT:
		return 2;
	case IT_DISC_EVENTS:
		return 3;
	case IT_PKT_END:
		return 4;
	case IT_DISC_PACKETS:
		return 6;
	default:
		return 9;
	}
}

static int set_key_slow(struct rtr_reader *r, struct rtr__stream *s);

/* The merge key of s's current item: 0, or -ERANGE (recorded) when its
 * time does not fit in int64 nanoseconds from origin, which babeltrace2
 * 2.0.4 reports as an error ("Clock snapshot, once converted to
 * nanoseconds from origin, overflows") when the item reaches its muxer. */
static inline __attribute__((always_inline)) int set_key(struct rtr_reader *r,
							  struct rtr__stream *s)
{
	if (rtr_likely(s->item == IT_EVENT && s->ns_fast && s->cur.ev_clock <= s->ns_max)) {
		s->key_type = 2;
		s->key_ns = s->ns_base + (int64_t)s->cur.ev_clock;
		return 0;
	}
	return set_key_slow(r, s);
}

static __attribute__((noinline)) int set_key_slow(struct rtr_reader *r, struct rtr__stream *s)
{
	const struct rtr__clock *c;
	int ovf = 0;

	c = s->sc->clock >= 0 ? &s->tc->clocks[s->sc->clock] : NULL;
	s->key_type = type_weight(s->item);
	s->key_nocs = false;
	if (!c) {
		s->key_ns = INT64_MIN;
		return 0;
	}
	if (s->item == IT_EVENT) {
		s->key_ns = rtr__clock_ns(c, s->cur.ev_clock, &ovf);
	} else if (s->item == IT_PKT_END) {
		s->key_ns = rtr__clock_ns(c, rtr__stream_end_clock(s), &ovf);
	} else if (s->item == IT_PKT_BEGIN) {
		s->key_ns = rtr__clock_ns(c, s->cur.r_ts_begin, &ovf);
	} else if (s->cur_pend.has_range) {
		s->key_ns = rtr__clock_ns(c, s->cur_pend.begin, &ovf);
	} else {
		/* babeltrace2's muxer times a message without a clock
		 * snapshot at the last time it returned (muxer.c
		 * get_msg_ts_ns()) */
		s->key_ns = r->last_ns;
		s->key_nocs = true;
	}
	if (ovf) {
		s->key_ns = INT64_MAX;
		return rtr__error(s->cur.err, -ERANGE,
				  "%s: packet at offset %" PRIu64 ": clock value %" PRIu64
				  " of clock '%s', converted to nanoseconds from origin, overflows "
				  "a signed 64-bit integer",
				  s->f ? s->f->path : "?", s->cur.pkt_off,
				  s->item == IT_EVENT	   ? s->cur.ev_clock
				  : s->item == IT_PKT_END ? rtr__stream_end_clock(s)
				  : s->item == IT_PKT_BEGIN ? s->cur.r_ts_begin
							  : s->cur_pend.begin,
				  c->name ? c->name : "");
	}
	return 0;
}

static int scmp(const struct rtr__stream *a, const struct rtr__stream *b)
{
	int c;

	if (a->key_ns != b->key_ns)
		return a->key_ns < b->key_ns ? -1 : 1;
	if (a->info.uuid && !b->info.uuid)
		return -1;
	if (!a->info.uuid && b->info.uuid)
		return 1;
	if (a->info.uuid && (c = memcmp(a->info.uuid, b->info.uuid, 16)))
		return c;
	if ((c = strcmp(a->info.trace_name, b->info.trace_name)))
		return c;
	if (a->info.stream_class_id != b->info.stream_class_id)
		return a->info.stream_class_id < b->info.stream_class_id ? -1 : 1;
	if (a->info.stream_id != b->info.stream_id)
		return a->info.stream_id < b->info.stream_id ? -1 : 1;
	if (a->key_type != b->key_type)
		return a->key_type < b->key_type ? -1 : 1;
	if (a->item == IT_EVENT && b->item == IT_EVENT && a->cur.ec && b->cur.ec &&
	    a->cur.ec->cls->id != b->cur.ec->cls->id)
		return a->cur.ec->cls->id < b->cur.ec->cls->id ? -1 : 1;
	return a->info.index < b->info.index ? -1 : a->info.index > b->info.index;
}

static void heap_up(struct rtr_reader *r, size_t i)
{
	struct rtr__stream *x = r->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (scmp(r->heap[p], x) <= 0)
			break;
		r->heap[i] = r->heap[p];
		i = p;
	}
	r->heap[i] = x;
}

static void heap_down(struct rtr_reader *r, size_t i)
{
	struct rtr__stream *x = r->heap[i];
	size_t n = r->nheap;

	while (1) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && scmp(r->heap[c + 1], r->heap[c]) < 0)
			c++;
		if (scmp(x, r->heap[c]) <= 0)
			break;
		r->heap[i] = r->heap[c];
		i = c;
	}
	r->heap[i] = x;
}

static void heap_push(struct rtr_reader *r, struct rtr__stream *s)
{
	r->heap[r->nheap++] = s;
	heap_up(r, r->nheap - 1);
}

bool rtr__class_selected(const struct rtr_reader *r, const struct rtr__event_class *cls)
{
	const char *name = cls->name;

	if (r->opt.loglevel_sel) {
		int64_t l = cls->has_loglevel ? cls->loglevel : RTR_LOGLEVEL_UNDECLARED;

		if (r->opt.loglevel_sel == RTR_LOGLEVEL_SEL_ONLY ? l != r->opt.loglevel
								 : l > r->opt.loglevel)
			return false;
	}
	if (!r->opt.n_patterns)
		return true;
	for (size_t i = 0; i < r->opt.n_patterns; i++)
		if (!fnmatch(r->opt.patterns[i], name ? name : "", 0))
			return true;
	return false;
}

static void seek_begin(struct rtr_reader *r, struct rtr__stream *s)
{
	/* with an index, skip packets ending before the begin time */
	struct rtr__file *f = s->files[0];
	const struct rtr__clock *c;
	size_t k = 0;

	if (!r->opt.has_begin || s->sc->clock < 0 || !f->idx_n || s->nfiles != 1)
		return;
	c = &s->tc->clocks[s->sc->clock];
	while (k < f->idx_n) {
		int ovf;
		int64_t ns = rtr__clock_ns(c, f->idx_end[k], &ovf);

		if (ovf || ns >= r->opt.begin_ns)
			break;
		k++;
	}
	/* keep the previous packet so discarded counts stay relative */
	if (k >= 2 && k < f->idx_n && f->idx_off[k - 1] < f->size)
		s->seek_begin_cycles = f->idx_off[k - 1];
}

/* Starts every stream (no item decoded yet). */
static void reader_start(struct rtr_reader *r)
{
	r->started = true;
	r->last_ns = INT64_MIN;
	for (size_t i = 0; i < r->nst; i++) {
		struct rtr__stream *s = r->streams[i];

		s->mux_items = true;
		rtr__stream_start(s);
		if (s->sc->clock >= 0) {
			const struct rtr__clock *c = &s->tc->clocks[s->sc->clock];
			int ovf;
			int64_t base = rtr__clock_ns(c, 0, &ovf);

			if (!ovf && c->freq == 1000000000u) {
				s->ns_fast = true;
				s->ns_base = base;
				s->ns_max = base >= 0 ? (uint64_t)(INT64_MAX - 1 - base)
						      : (uint64_t)INT64_MAX - 1;
			}
		}
		seek_begin(r, s);
		if (s->seek_begin_cycles) {
			s->cur.pkt_off = s->seek_begin_cycles;
			s->bytes_done = s->cur.pkt_off;
		}
	}
}

/* An unselected event the hook sees anyway: the LTTng-UST statedump and
 * library events that the debug-info stage follows. */
static bool hook_sees(const struct rtr__event_class *cls)
{
	return cls->name && !strncmp(cls->name, "lttng_ust", 9);
}

void rtr__reader_set_hook(struct rtr_reader *r, bool (*hook)(void *arg, struct rtr_msg *m),
			  void (*hook_free)(void *arg), void *arg)
{
	if (r->hook_free)
		r->hook_free(r->hook_arg);
	r->hook = hook;
	r->hook_free = hook_free;
	r->hook_arg = arg;
}

/* Next item of stream s within the filters: 1, 0 at the end, -1 error. */
static inline __attribute__((always_inline)) enum rtr_next stream_advance(struct rtr_reader *r,
									  struct rtr__stream *s)
{
	while (1) {
		enum rtr_next rc = rtr__stream_next(s);

		if (rc != RTR_NEXT_OK)
			return rc;
		if (rtr_unlikely(set_key(r, s)))
			return RTR_NEXT_ERROR;
		if (r->opt.has_end && s->key_ns != INT64_MIN && s->key_ns > r->opt.end_ns)
			return RTR_NEXT_END; /* streams are ordered: nothing more here */
		if (r->opt.has_begin && s->key_ns != INT64_MIN && s->key_ns < r->opt.begin_ns)
			continue;
		if (s->item == IT_EVENT && !rtr__class_selected(r, s->cur.ec->cls) &&
		    !(r->hook && hook_sees(s->cur.ec->cls)))
			continue;
		return RTR_NEXT_OK;
	}
}

/* Message of the current item of s. */
static void fill_msg(struct rtr__stream *s, struct rtr_msg *m)
{
	m->stream = &s->info;
	if (s->item == IT_EVENT) {
		const struct rtr__event_code *ec = s->cur.ec;
		const struct rtr__event_class *cls = ec->cls;

		m->kind = RTR_MSG_EVENT;
		m->ns = 0;
		m->ns_error = 0;
		m->name = cls->name;
		m->event_class_id = cls->id;
		m->class_index = ec->gindex;
		m->has_clock = s->sc->clock >= 0;
		m->cycles = s->cur.ev_clock;
		if (m->has_clock) {
			if (s->key_ns != INT64_MIN && s->key_ns != INT64_MAX)
				m->ns = s->key_ns; /* computed by set_key */
			else
				m->ns = rtr__clock_ns(&s->tc->clocks[s->sc->clock], s->cur.ev_clock,
						      &m->ns_error);
		}
		m->values = s->cur.vals;
		m->n_values = s->cur.nvals;
		m->loglevel = cls->has_loglevel ? cls->loglevel : -1;
		m->emf_uri = cls->emf_uri;
	} else {
		const struct rtr__pending *p = &s->cur_pend;

		memset(m, 0, sizeof(*m));
		m->stream = &s->info;
		m->kind = s->item == IT_DISC_EVENTS ? RTR_MSG_DISCARDED_EVENTS
						    : RTR_MSG_DISCARDED_PACKETS;
		m->count = p->count;
		m->has_range = p->has_range;
		if (p->has_range) {
			const struct rtr__clock *c = &s->tc->clocks[s->sc->clock];

			m->begin_cycles = p->begin;
			m->end_cycles = p->end;
			m->begin_ns = rtr__clock_ns(c, p->begin, &m->begin_ns_error);
			m->end_ns = rtr__clock_ns(c, p->end, &m->end_ns_error);
		}
	}
}

enum rtr_next rtr_reader_next(struct rtr_reader *r, struct rtr_msg *m)
{
	struct rtr__stream *s;

	if (!r->started) {
		r->heap = calloc(r->nst + 1, sizeof(*r->heap));
		if (!r->heap) {
			rtr__error(&r->err, -ENOMEM, "out of memory");
			return RTR_NEXT_ERROR;
		}
		reader_start(r);
		for (size_t i = 0; i < r->nst; i++) {
			enum rtr_next rc = stream_advance(r, r->streams[i]);

			if (rc == RTR_NEXT_ERROR)
				return RTR_NEXT_ERROR;
			if (rc == RTR_NEXT_OK)
				heap_push(r, r->streams[i]);
		}
	}
again:
	if (r->last) {
		enum rtr_next rc = stream_advance(r, r->last);

		if (rc == RTR_NEXT_ERROR)
			return RTR_NEXT_ERROR;
		s = r->last;
		r->last = NULL;
		if (rc == RTR_NEXT_OK) {
			/* the stream just read is next unless the heap's top
			 * comes first: then they swap places */
			if (r->nheap &&
			    (r->heap[0]->key_ns < s->key_ns ||
			     (r->heap[0]->key_ns == s->key_ns && scmp(r->heap[0], s) < 0))) {
				struct rtr__stream *top = r->heap[0];

				r->heap[0] = s;
				heap_down(r, 0);
				s = top;
			}
			goto out;
		}
	}
	if (!r->nheap)
		return RTR_NEXT_END;
	s = r->heap[0];
	r->heap[0] = r->heap[--r->nheap];
	if (r->nheap)
		heap_down(r, 0);
out:
	r->last = s;
	/* babeltrace2's muxer fails when time goes backwards here
	 * ("Youngest upstream message iterator wrapper's timestamp is less
	 * than muxer's message iterator's last returned timestamp"); the CTF
	 * test suite says such traces must be read
	 * (ctfts-stream-pass-lttng-modules-2.0-pre5, corpus-exceptions.tsv),
	 * so we go on */
	if (!s->key_nocs && s->key_ns != INT64_MIN)
		r->last_ns = s->key_ns;
	if (rtr_unlikely(s->item >= IT_PKT_BEGIN))
		goto again;
	fill_msg(s, m);
	if (rtr_unlikely(r->hook != NULL)) {
		if (!r->hook(r->hook_arg, m))
			goto again;
		if (m->kind == RTR_MSG_EVENT && !rtr__class_selected(r, s->cur.ec->cls))
			goto again;
	}
	return RTR_NEXT_OK;
}

