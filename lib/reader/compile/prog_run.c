/* The fast programs' runner: the common event shapes decoded without the
 * plan interpreter. Anything unusual, including every error, makes the
 * event start over in the interpreter, which reports errors precisely.
 * See docs/design/reader.md ("Speed"). */
#include <string.h>

#include "compile/bits.h"

struct fst {
	const uint8_t *pkt;
	uint64_t pos;
	uint64_t end; /* content end (bits) */
	uint64_t lim; /* fixed segments end before: content end, and 8 bytes
		       * readable past it for whole-word loads */
	uint64_t clk;
	uint64_t *slots;
	uint64_t id;
	bool have_id;
};

static inline __attribute__((always_inline)) uint64_t leaf_load(const uint8_t *pkt, uint64_t at,
								const struct rtr__leaf *l)
{
	uint64_t w;
	unsigned o = (unsigned)(at & 7);

	if (rtr_unlikely(l->wide))
		return rd_bits(pkt, at, l->size, l->bo);
	memcpy(&w, pkt + (at >> 3), 8);
	if (l->bo == RTR__BO_LE)
		return (w >> o) & l->mask;
	return (__builtin_bswap64(w) << o) >> (64 - l->size);
}

/* Copies the records of fixed segment g to v, with the values of the
 * segment at bit pos. */
static inline __attribute__((always_inline)) void
put_recs(const struct fst *f, const struct rtr__seg *g, struct rtr_value *v, uint64_t pos)
{
	for (uint32_t k = 0; k < g->nrec; k++)
		v[k] = g->rec[k];
	for (uint32_t k = 0; k < g->nval; k++) {
		const struct rtr__leaf *l = &g->val[k];
		uint64_t u;

		if (rtr_unlikely(l->kind == RTR_VAL_STRING)) {
			/* fixed-length text array: up to its first NUL */
			const uint8_t *b = f->pkt + ((pos + l->off) >> 3);
			const uint8_t *z = memchr(b, 0, l->len);

			v[l->idx].v.s = (const char *)b;
			v[l->idx].len = z ? (uint64_t)(z - b) : l->len;
			continue;
		}
		u = leaf_load(f->pkt, pos + l->off, l);
		if (l->kind == RTR_VAL_FLOAT) {
			if (l->size == 32)
				u = f32_as_f64_bits(u);
		} else if (l->sign) {
			u = sext(u, l->size);
		}
		v[l->idx].v.u = u;
	}
}

static inline __attribute__((always_inline)) int run_fixed(struct rtr__cursor *s, struct fst *f,
							   const struct rtr__seg *g, bool keep)
{
	uint64_t pos = f->pos;

	if (g->align > 1)
		pos = (pos + g->align - 1) & ~(uint64_t)(g->align - 1);
	if (rtr_unlikely(pos + g->bits > f->lim))
		return 1;
	for (uint32_t k = 0; k < g->nslow; k++) {
		const struct rtr__leaf *l = &g->slow[k];
		uint64_t raw = leaf_load(f->pkt, pos + l->off, l);

		if (l->save >= 0)
			f->slots[l->save] = l->sign ? sext(raw, l->size) : raw;
		if (l->role == ROLE_EVENT_ID) {
			f->id = raw;
			f->have_id = true;
		}
		if (l->clock >= 0) {
			/* clock_update() on the local copy */
			if (l->size >= 64) {
				f->clk = raw;
			} else {
				uint64_t mask = ((uint64_t)1 << l->size) - 1;

				if (raw < (f->clk & mask))
					f->clk += mask + 1;
				f->clk = (f->clk & ~mask) | raw;
			}
		}
	}
	if (keep && g->nrec) {
		while (rtr_unlikely(s->nvals + g->nrec > s->cap_vals))
			if (rtr__cursor_grow(s))
				return 1;
		put_recs(f, g, s->vals + s->nvals, pos);
		s->nvals += g->nrec;
	}
	f->pos = pos + g->bits;
	return 0;
}

/* Array or sequence of fixed elements, or text array. */
static int run_array(struct rtr__cursor *s, struct fst *f, const struct rtr__seg *g, bool keep)
{
	const struct rtr__op *op = &g->ops[g->opi];
	const struct rtr__seg *e;
	uint64_t cnt = op->src >= 0 ? f->slots[op->src] : op->count;
	uint64_t pos = f->pos, avail;
	struct rtr_value *v;

	if (g->align > 1)
		pos = (pos + g->align - 1) & ~(uint64_t)(g->align - 1);
	if (pos > f->lim)
		return 1;
	avail = f->lim - pos;
	if (op->code == OP_TEXT_ARRAY) {
		if (cnt > avail / 8)
			return 1;
		if (keep && op->shown) {
			const uint8_t *b = f->pkt + (pos >> 3), *z = memchr(b, 0, cnt);
			const char *str = (const char *)b;
			uint64_t u = 0;

			memcpy(&u, &str, sizeof(str));
			s->emit_scope = g->scope;
			if (push_val(s, op, RTR_VAL_STRING, u, z ? (uint64_t)(z - b) : cnt))
				return 1;
		}
		f->pos = pos + cnt * 8;
		return 0;
	}
	e = g->opt[0];
	if (cnt) {
		if (cnt > ((uint64_t)1 << 32) || e->bits > avail ||
		    (cnt - 1) * g->bits > avail - e->bits)
			return 1;
		f->pos = pos + (cnt - 1) * g->bits + e->bits;
	} else {
		f->pos = pos;
	}
	if (!keep || !op->shown)
		return 0;
	while (rtr_unlikely(s->nvals + 2 + cnt * e->nrec > s->cap_vals))
		if (rtr__cursor_grow(s))
			return 1;
	v = s->vals + s->nvals;
	v->cls = op;
	v->v.u = 0;
	v->len = cnt;
	v->kind = RTR_VAL_ARRAY_BEGIN;
	v->scope = g->scope;
	v++;
	if (e->nrec == 1 && e->nval == 1 && e->rec[0].kind != RTR_VAL_FLOAT &&
	    e->rec[0].kind != RTR_VAL_STRING && !e->val[0].wide && e->val[0].bo == RTR__BO_LE) {
		/* array of little-endian integers: one record each */
		const struct rtr__leaf *l = &e->val[0];
		struct rtr_value r0 = e->rec[0];

		for (uint64_t k = 0; k < cnt; k++, pos += g->bits) {
			uint64_t w;

			memcpy(&w, f->pkt + ((pos + l->off) >> 3), 8);
			r0.v.u = (w >> ((pos + l->off) & 7)) & l->mask;
			if (l->sign)
				r0.v.u = sext(r0.v.u, l->size);
			v[k] = r0;
		}
		v += cnt;
	} else {
		for (uint64_t k = 0; k < cnt; k++, pos += g->bits, v += e->nrec)
			put_recs(f, e, v, pos);
	}
	v->cls = op;
	v->v.u = 0;
	v->len = 0;
	v->kind = RTR_VAL_ARRAY_END;
	v->scope = g->scope;
	s->nvals += 2 + cnt * e->nrec;
	return 0;
}

static inline __attribute__((always_inline)) int run_prog(struct rtr__cursor *s, struct fst *f,
							  const struct rtr__prog *p, bool keep)
{
	for (uint32_t k = 0; k < p->n; k++) {
		const struct rtr__seg *g = &p->seg[k];

		switch (g->kind) {
		case SEG_FIXED:
			if (run_fixed(s, f, g, keep))
				return 1;
			break;
		case SEG_STRING: {
			const struct rtr__op *op = &g->ops[g->opi];
			uint64_t pos = (f->pos + 7) & ~(uint64_t)7;
			const uint8_t *b, *z;

			if (rtr_unlikely(pos >= f->end))
				return 1;
			b = f->pkt + (pos >> 3);
			z = memchr(b, 0, (f->end - pos) >> 3);
			if (rtr_unlikely(!z))
				return 1;
			f->pos = pos + (uint64_t)(z - b + 1) * 8;
			if (keep && op->shown) {
				uint64_t u = 0;
				const char *str = (const char *)b;

				s->emit_scope = g->scope;
				memcpy(&u, &str, sizeof(str));
				if (push_val(s, op, RTR_VAL_STRING, u, (uint64_t)(z - b)))
					return 1;
			}
			break;
		}
		case SEG_VARIANT: {
			const struct rtr__op *op = &g->ops[g->opi];
			uint32_t k2 = variant_option(op, f->slots[op->src]);
			if (rtr_unlikely(k2 == UINT32_MAX) || run_fixed(s, f, g->opt[k2], keep))
				return 1;
			break;
		}
		case SEG_ARRAY:
			if (run_array(s, f, g, keep))
				return 1;
			break;
		default: /* SEG_GENERIC */
			s->pos = f->pos;
			s->clock = f->clk;
			s->emit = keep;
			s->emit_scope = g->scope;
			s->r_seen &= ~(1u << ROLE_EVENT_ID);
			if (rtr__plan_ops(s, g->ops, g->opi, g->ops[g->opi].end))
				return 1;
			f->pos = s->pos;
			f->clk = s->clock;
			if (s->r_seen & (1u << ROLE_EVENT_ID)) {
				f->id = s->r_event_id;
				f->have_id = true;
				s->r_seen &= ~(1u << ROLE_EVENT_ID);
			}
			break;
		}
	}
	return 0;
}

/* little-endian field at bit at: one 64-bit load */
static inline __attribute__((always_inline)) uint64_t ld_le(const uint8_t *pkt, uint64_t at,
							    uint64_t mask)
{
	uint64_t w;

	memcpy(&w, pkt + (at >> 3), 8);
	return (w >> (at & 7)) & mask;
}

/* A simple header (rtr__hdr.simple) at f->pos: 0, or 1 to use the
 * header's program instead. */
static inline __attribute__((always_inline)) int hdr_simple(struct fst *f, const struct rtr__hdr *h)
{
	uint64_t pos = (f->pos + h->align - 1) & ~(uint64_t)(h->align - 1), tag;
	const struct rtr__hopt *o;
	uint32_t k;

	if (rtr_unlikely(pos + h->max_bits > f->lim))
		return 1;
	tag = ld_le(f->pkt, pos, h->tag_mask);
	k = variant_option(h->var, tag);
	if (rtr_unlikely(k == UINT32_MAX))
		return 1;
	o = &h->opt[k];
	f->slots[h->tag.save] = tag;
	f->id = o->has_id ? ld_le(f->pkt, pos + o->id.off, o->id_mask) : tag;
	f->have_id = true;
	if (o->has_ts) {
		uint64_t ts = ld_le(f->pkt, pos + o->ts.off, o->ts_mask);

		/* clock_update(); a 64-bit mask adds 0 */
		if (ts < (f->clk & o->ts_mask))
			f->clk += o->ts_mask + 1;
		f->clk = (f->clk & ~o->ts_mask) | ts;
	}
	f->pos = pos + o->bits;
	return 0;
}

/* Tagged event header through its option table: 0, or 1 to use the
 * header's program instead. */
static inline __attribute__((always_inline)) int run_hdr(struct fst *f, const struct rtr__hdr *h)
{
	const struct rtr__op *var = h->var;
	const struct rtr__hopt *o;
	uint64_t pos = f->pos, tag;
	uint32_t k;

	if (rtr_likely(h->simple))
		return hdr_simple(f, h);
	if (h->align > 1)
		pos = (pos + h->align - 1) & ~(uint64_t)(h->align - 1);
	if (rtr_unlikely(pos + h->max_bits > f->lim))
		return 1;
	tag = leaf_load(f->pkt, pos, &h->tag);
	f->slots[h->tag.save] = tag;
	k = variant_option(var, tag);
	if (rtr_unlikely(k == UINT32_MAX))
		return 1;
	o = &h->opt[k];
	if (h->tag_is_id) {
		f->id = tag;
		f->have_id = true;
	}
	if (o->has_id) {
		f->id = leaf_load(f->pkt, pos + o->id.off, &o->id);
		f->have_id = true;
	}
	if (o->has_ts) {
		uint64_t raw = leaf_load(f->pkt, pos + o->ts.off, &o->ts);

		if (o->ts.size >= 64) {
			f->clk = raw;
		} else {
			uint64_t mask = ((uint64_t)1 << o->ts.size) - 1;

			if (raw < (f->clk & mask))
				f->clk += mask + 1;
			f->clk = (f->clk & ~mask) | raw;
		}
	}
	f->pos = pos + o->bits;
	return 0;
}

static inline __attribute__((always_inline)) void fst_init(struct fst *f,
							   const struct rtr__cursor *s)
{
	f->pkt = s->pkt;
	f->pos = s->pos;
	f->end = s->end;
	f->lim = s->lim;
	f->clk = s->clock;
	f->slots = s->slots;
}

/* Decodes the event at f->pos with the fast programs: its class, with
 * f->pos and f->clk advanced, or NULL if the interpreter must decode it
 * (f->pos and f->clk are then meaningless). */
static inline __attribute__((always_inline)) const struct rtr__event_code *
fast_one(struct rtr__cursor *s, const struct rtr__stream_code *sc, struct fst *f, bool keep,
	 uint64_t *ev_clock)
{
	const struct rtr__event_code *ec;
	uint64_t start = f->pos;

	f->have_id = false;
	f->id = 0;
	s->budget = (f->end - start) + 65536;
	if (keep)
		s->nvals = s->npvals;
	if ((!sc->hdr || run_hdr(f, sc->hdr)) && run_prog(s, f, &sc->fast_header, false))
		return NULL;
	*ev_clock = f->clk;
	if (f->have_id)
		ec = rtr_likely(f->id < sc->ec_by_id_len) ? sc->ec_by_id[f->id]
							  : rtr__sc_find_ec(sc, f->id);
	else
		ec = sc->n_ecs == 1 ? &sc->ecs[0] : rtr__sc_find_ec(sc, 0);
	if (rtr_unlikely(!ec || !ec->fast.ok))
		return NULL;
	if (sc->fast_context.n && run_prog(s, f, &sc->fast_context, keep))
		return NULL;
	if (!keep && ec->fast.skip) {
		uint64_t pos = f->pos;

		if (ec->fast.skip_align > 1)
			pos =
			    (pos + ec->fast.skip_align - 1) & ~(uint64_t)(ec->fast.skip_align - 1);
		if (rtr_unlikely(pos + ec->fast.skip_bits > f->end))
			return NULL;
		f->pos = pos + ec->fast.skip_bits;
	} else if (run_prog(s, f, &ec->fast, keep)) {
		return NULL;
	}
	if (rtr_unlikely(f->pos == start))
		return NULL;
	return ec;
}

static inline __attribute__((always_inline)) int
fast_event(struct rtr__cursor *s, const struct rtr__stream_code *sc, bool keep)
{
	const struct rtr__event_code *ec;
	uint64_t ev_clock = 0, start = s->pos, clk0 = s->clock;
	struct fst f;

	fst_init(&f, s);
	ec = fast_one(s, sc, &f, keep, &ev_clock);
	if (rtr_unlikely(!ec)) {
		/* interpreter segments moved them */
		s->pos = start;
		s->clock = clk0;
		return 1;
	}
	s->pos = f.pos;
	s->clock = f.clk;
	s->ev_clock = ev_clock;
	s->ec = ec;
	return 0;
}

int rtr__prog_event(struct rtr__cursor *s, const struct rtr__stream_code *sc, bool keep)
{
	/* one specialisation each */
	return keep ? fast_event(s, sc, true) : fast_event(s, sc, false);
}

struct tally {
	uint64_t n, lo, hi, *per;
};

static inline __attribute__((always_inline)) void
tally(struct tally *c, const struct rtr__event_code *e, uint64_t t)
{
	c->n++;
	if (c->per)
		c->per[e->gindex]++;
	c->lo = t < c->lo ? t : c->lo;
	c->hi = t > c->hi ? t : c->hi;
}

/* Counts events from f->pos whose header is simple (rtr__hdr.simple);
 * stops at the end of the packet or before an event it does not handle
 * (f->pos and f->clk then at its start). */
static inline __attribute__((always_inline)) void count_simple(struct rtr__cursor *s,
							       const struct rtr__stream_code *sc,
							       struct fst *f, struct tally *c)
{
	const struct rtr__hdr *h = sc->hdr;
	struct rtr__event_code *const *byid = sc->ec_by_id;
	const struct rtr__prog *ctx = &sc->fast_context;
	uint64_t nbyid = sc->ec_by_id_len, end = f->end;

	while (f->pos < end) {
		uint64_t pos = f->pos, clk0 = f->clk, t;
		const struct rtr__event_code *e;

		if (rtr_unlikely(hdr_simple(f, h)))
			break;
		t = f->clk; /* the event's time */
		if (rtr_unlikely(f->id >= nbyid || !(e = byid[f->id]) || !e->fast.ok))
			goto undo;
		if (ctx->n) {
			s->budget = (end - pos) + 65536;
			if (run_prog(s, f, ctx, false))
				goto undo;
		}
		if (rtr_likely(e->fast.skip)) {
			uint64_t a = e->fast.skip_align - 1, p = (f->pos + a) & ~a;

			if (rtr_unlikely(p + e->fast.skip_bits > end))
				goto undo;
			f->pos = p + e->fast.skip_bits;
		} else {
			s->budget = (end - pos) + 65536;
			if (run_prog(s, f, &e->fast, false) || rtr_unlikely(f->pos == pos))
				goto undo;
		}
		tally(c, e, t);
		continue;
	undo:
		f->pos = pos;
		f->clk = clk0;
		break;
	}
}

void rtr__prog_count(struct rtr__cursor *s, const struct rtr__stream_code *sc,
		     struct rtr__count *c)
{
	struct tally t = {0, c->cmin, c->cmax, c->per_class};
	const struct rtr__hdr *h = sc->hdr;
	bool simple = h && h->simple;
	struct fst f;

	fst_init(&f, s);
	while (f.pos < f.end) {
		uint64_t pos, clk, ev_clock = 0;
		const struct rtr__event_code *e;

		if (simple) {
			count_simple(s, sc, &f, &t);
			if (f.pos >= f.end)
				break;
		}
		/* one event the general way */
		pos = f.pos;
		clk = f.clk;
		e = fast_one(s, sc, &f, false, &ev_clock);
		if (rtr_unlikely(!e)) {
			f.pos = pos;
			f.clk = clk;
			break;
		}
		tally(&t, e, ev_clock);
	}
	s->pos = f.pos;
	s->clock = f.clk;
	c->events += t.n;
	c->cmin = t.lo;
	c->cmax = t.hi;
}

