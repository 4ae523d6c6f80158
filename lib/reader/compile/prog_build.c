/* Fast programs: decode plans flattened into segments of statically laid
 * out fields, strings, variants of fixed options and interpreter ops.
 * See docs/design/reader.md ("Speed"). */
#include <stdlib.h>
#include <string.h>

#include "compile/compile.h"

/* leaves and segments over all programs of a trace class: beyond this a
 * scope keeps the interpreter (hostile metadata cannot blow memory up) */
#define MAX_PROG_ITEMS (1u << 22)

struct lvec {
	struct rtr__leaf *v;
	size_t n, cap;
};

/* a fixed segment being built */
struct fx {
	struct lvec slow, rec;
	uint64_t off; /* bits */
	uint32_t align;
	bool bad;
};

struct tseg {
	struct rtr__seg g;
	struct fx f;
};

struct pb {
	struct rtr__trace_code *tc;
	size_t *budget; /* items left for the trace class */
	struct tseg *seg;
	size_t nseg, cap;
	int open; /* index of the open fixed segment, -1 */
	int scope;
	bool bad;
};

static bool is_int(const struct rtr__op *op)
{
	return op->code == OP_INT_BYTE || op->code == OP_INT_BITS;
}

static bool take(size_t *budget, size_t n)
{
	if (*budget < n)
		return false;
	*budget -= n;
	return true;
}

static struct rtr__leaf *lpush(struct lvec *v, size_t *budget)
{
	if (!take(budget, 1))
		return NULL;
	if (v->n == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 8;
		struct rtr__leaf *nv = realloc(v->v, nc * sizeof(*nv));

		if (!nv)
			return NULL;
		v->v = nv;
		v->cap = nc;
	}
	memset(&v->v[v->n], 0, sizeof(v->v[0]));
	v->v[v->n].save = -1;
	v->v[v->n].clock = -1;
	return &v->v[v->n++];
}

/* Subtree of ints, floats, structs and fixed-length text arrays only:
 * every offset in it is static once its start is aligned. */
static bool is_static(const struct rtr__op *ops, uint32_t i)
{
	for (uint32_t j = i; j < ops[i].end; j++) {
		uint8_t c = ops[j].code;

		if (c == OP_TEXT_ARRAY && ops[j].src < 0 && !ops[j].role &&
		    ops[j].count < (1u << 24))
			continue;
		if (c != OP_INT_BYTE && c != OP_INT_BITS && c != OP_FLOAT && c != OP_STRUCT)
			return false;
	}
	return true;
}

static void leaf_from(struct rtr__leaf *l, const struct fx *f, const struct rtr__op *op, int scope)
{
	unsigned shift;

	l->op = op;
	l->off = (uint32_t)f->off;
	l->size = op->size;
	l->bo = op->bo == RTR__BO_BE ? RTR__BO_BE : RTR__BO_LE;
	l->sign = op->sign;
	l->scope = (uint8_t)scope;
	/* bit shift of the value in its first byte: static when the segment
	 * start is byte aligned */
	if (op->align % 8 == 0)
		shift = 0;
	else if (f->align % 8 == 0)
		shift = (unsigned)(f->off & 7);
	else
		shift = 7;
	l->wide = shift + op->size > 64;
	l->mask = op->size ? ~(uint64_t)0 >> (64 - op->size) : 0;
}

static void add_rec(struct fx *f, size_t *budget, const struct rtr__op *op, uint8_t kind,
		    uint64_t len, int scope)
{
	struct rtr__leaf *l = lpush(&f->rec, budget);

	if (!l) {
		f->bad = true;
		return;
	}
	leaf_from(l, f, op, scope);
	l->kind = kind;
	l->len = len;
}

/* Appends the static subtree at ops[i] to f. */
static void add_static(struct fx *f, size_t *budget, const struct rtr__op *ops, uint32_t i,
		       int scope)
{
	const struct rtr__op *op = &ops[i];

	if (f->bad)
		return;
	if (op->align > f->align || f->off > (1u << 30)) {
		f->bad = true; /* not static after all */
		return;
	}
	f->off = (f->off + op->align - 1) & ~(uint64_t)(op->align - 1);
	if (is_int(op)) {
		if (op->slow) {
			struct rtr__leaf *l = lpush(&f->slow, budget);

			/* event scopes only have the event id role */
			if (!l || (op->role != ROLE_NONE && op->role != ROLE_EVENT_ID)) {
				f->bad = true;
				return;
			}
			leaf_from(l, f, op, scope);
			l->save = op->save;
			l->role = op->role;
			l->clock = op->clock;
		}
		if (op->shown)
			add_rec(f, budget, op, op->sign ? RTR_VAL_SINT : RTR_VAL_UINT, 0, scope);
		f->off += op->size;
		return;
	}
	if (op->code == OP_TEXT_ARRAY) {
		/* printed as a string, up to its first NUL */
		if (op->shown)
			add_rec(f, budget, op, RTR_VAL_STRING, op->count, scope);
		f->off += op->count * 8;
		return;
	}
	if (op->code == OP_FLOAT) {
		if (op->size != 32 && op->size != 64) {
			f->bad = true;
			return;
		}
		if (op->shown)
			add_rec(f, budget, op, RTR_VAL_FLOAT, 0, scope);
		f->off += op->size;
		return;
	}
	/* struct */
	if (op->shown)
		add_rec(f, budget, op, RTR_VAL_STRUCT_BEGIN, 0, scope);
	for (uint32_t j = i + 1; j < op->end; j = ops[j].end)
		add_static(f, budget, ops, j, scope);
	if (op->shown)
		add_rec(f, budget, op, RTR_VAL_STRUCT_END, 0, scope);
}

static struct tseg *new_seg(struct pb *b, uint8_t kind)
{
	struct tseg *t;

	if (!take(b->budget, 1)) {
		b->bad = true;
		return NULL;
	}
	if (b->nseg == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 8;
		struct tseg *ns = realloc(b->seg, nc * sizeof(*ns));

		if (!ns) {
			b->bad = true;
			return NULL;
		}
		b->seg = ns;
		b->cap = nc;
	}
	t = &b->seg[b->nseg++];
	memset(t, 0, sizeof(*t));
	t->g.kind = kind;
	t->g.scope = (uint8_t)b->scope;
	t->g.align = 1;
	t->f.align = 1;
	return t;
}

/* The open fixed segment if it guarantees alignment a, else a new one
 * aligned to a. */
static struct fx *fixed_for(struct pb *b, uint32_t a)
{
	struct tseg *t;

	if (b->open >= 0 && a <= b->seg[b->open].f.align)
		return &b->seg[b->open].f;
	t = new_seg(b, SEG_FIXED);
	if (!t)
		return NULL;
	t->g.align = a;
	t->f.align = a;
	b->open = (int)(t - b->seg);
	return &t->f;
}

static void other_seg(struct pb *b, uint8_t kind, const struct rtr__op *ops, uint32_t i)
{
	struct tseg *t = new_seg(b, kind);

	b->open = -1;
	if (!t)
		return;
	t->g.ops = ops;
	t->g.opi = i;
	t->g.align = ops[i].align;
}

static const struct rtr__seg *finish_fixed(struct rtr__trace_code *tc, struct rtr__seg *g,
					   struct fx *f);

/* One fixed segment per distinct option of a variant whose options are
 * all static; false otherwise. */
static bool variant_opts(struct pb *b, const struct rtr__op *ops, uint32_t i,
			 const struct rtr__seg ***out)
{
	const struct rtr__op *op = &ops[i];
	const struct rtr__seg **opt, **by_op;
	uint32_t span = op->end - i;
	bool ok = true;

	if (!op->n_opts)
		return false;
	for (uint32_t k = 0; k < op->n_opts; k++)
		if (op->opts[k].op <= i || op->opts[k].op >= op->end ||
		    !is_static(ops, op->opts[k].op))
			return false;
	if (!take(b->budget, op->n_opts))
		return false;
	opt = rtr__arena_alloc(&b->tc->arena, op->n_opts * sizeof(*opt));
	by_op = calloc(span, sizeof(*by_op));
	if (!opt || !by_op) {
		free(by_op);
		return false;
	}
	for (uint32_t k = 0; k < op->n_opts && ok; k++) {
		uint32_t oi = op->opts[k].op;
		struct rtr__seg g;
		struct fx f;

		if (by_op[oi - i]) {
			opt[k] = by_op[oi - i];
			continue;
		}
		memset(&g, 0, sizeof(g));
		memset(&f, 0, sizeof(f));
		g.kind = SEG_FIXED;
		g.scope = (uint8_t)b->scope;
		g.align = f.align = ops[oi].align;
		if (op->shown)
			add_rec(&f, b->budget, op, RTR_VAL_VARIANT_BEGIN, oi, b->scope);
		add_static(&f, b->budget, ops, oi, b->scope);
		if (op->shown)
			add_rec(&f, b->budget, op, RTR_VAL_VARIANT_END, 0, b->scope);
		opt[k] = by_op[oi - i] = finish_fixed(b->tc, &g, &f);
		ok = opt[k] != NULL;
	}
	free(by_op);
	*out = opt;
	return ok;
}

/* Fixed segment of the elements of array ops[i] when they are static,
 * not empty and decode nothing but values. */
static const struct rtr__seg *array_elem(struct pb *b, const struct rtr__op *ops, uint32_t i)
{
	const struct rtr__op *op = &ops[i], *el = &ops[i + 1];
	const struct rtr__seg *e;
	struct rtr__seg g;
	struct fx f;

	if (op->end != el->end || !is_static(ops, i + 1) || el->align != op->align)
		return NULL;
	memset(&g, 0, sizeof(g));
	memset(&f, 0, sizeof(f));
	g.kind = SEG_FIXED;
	g.scope = (uint8_t)b->scope;
	g.align = f.align = el->align;
	add_static(&f, b->budget, ops, i + 1, b->scope);
	e = finish_fixed(b->tc, &g, &f);
	if (!e || e->nslow || !e->bits || e->bits >= (1u << 24))
		return NULL;
	return e;
}

static void walk(struct pb *b, const struct rtr__op *ops, uint32_t i)
{
	const struct rtr__op *op = &ops[i];
	struct fx *f;

	if (b->bad)
		return;
	switch (op->code) {
	case OP_INT_BYTE:
	case OP_INT_BITS:
	case OP_FLOAT:
		f = fixed_for(b, op->align);
		if (f)
			add_static(f, b->budget, ops, i, b->scope);
		return;
	case OP_TEXT_ARRAY:
		if (is_static(ops, i)) {
			f = fixed_for(b, op->align);
			if (f)
				add_static(f, b->budget, ops, i, b->scope);
			return;
		}
		other_seg(b, op->role ? SEG_GENERIC : SEG_ARRAY, ops, i);
		return;
	case OP_ARRAY:
	case OP_SEQ: {
		const struct rtr__seg *e = op->role ? NULL : array_elem(b, ops, i);

		other_seg(b, e ? SEG_ARRAY : SEG_GENERIC, ops, i);
		if (e && b->nseg) {
			struct tseg *t = &b->seg[b->nseg - 1];

			t->g.bits = (e->bits + e->align - 1) & ~(e->align - 1);
			t->g.opt = rtr__arena_alloc(&b->tc->arena, sizeof(*t->g.opt));
			if (t->g.opt)
				t->g.opt[0] = e;
			else
				b->bad = true;
		}
		return;
	}
	case OP_STRUCT:
		f = fixed_for(b, op->align);
		if (!f)
			return;
		if (is_static(ops, i)) {
			add_static(f, b->budget, ops, i, b->scope);
			return;
		}
		f->off = (f->off + op->align - 1) & ~(uint64_t)(op->align - 1);
		if (op->shown)
			add_rec(f, b->budget, op, RTR_VAL_STRUCT_BEGIN, 0, b->scope);
		for (uint32_t j = i + 1; j < op->end; j = ops[j].end)
			walk(b, ops, j);
		if (op->shown) {
			f = fixed_for(b, 1);
			if (f)
				add_rec(f, b->budget, op, RTR_VAL_STRUCT_END, 0, b->scope);
		}
		return;
	case OP_STRING:
		other_seg(b, SEG_STRING, ops, i);
		return;
	case OP_VARIANT: {
		const struct rtr__seg **opt = NULL;

		if (!op->sign && variant_opts(b, ops, i, &opt)) {
			other_seg(b, SEG_VARIANT, ops, i);
			if (b->nseg)
				b->seg[b->nseg - 1].g.opt = opt;
			return;
		}
		other_seg(b, SEG_GENERIC, ops, i);
		return;
	}
	default:
		other_seg(b, SEG_GENERIC, ops, i);
		return;
	}
}

static const struct rtr__seg *finish_fixed(struct rtr__trace_code *tc, struct rtr__seg *g,
					   struct fx *f)
{
	struct rtr__seg *out = NULL;
	struct rtr__leaf *l;
	struct rtr_value *rec;

	if (f->bad || f->off >= (1u << 30))
		goto done;
	g->bits = (uint32_t)f->off;
	g->nslow = (uint32_t)f->slow.n;
	g->nrec = (uint32_t)f->rec.n;
	out = rtr__arena_alloc(&tc->arena, sizeof(*out));
	l = rtr__arena_alloc(&tc->arena, (f->slow.n + f->rec.n + 1) * sizeof(*l));
	rec = rtr__arena_alloc(&tc->arena, (f->rec.n + 1) * sizeof(*rec));
	if (!out || !l || !rec) {
		out = NULL;
		goto done;
	}
	*out = *g;
	if (f->slow.n)
		memcpy(l, f->slow.v, f->slow.n * sizeof(*l));
	out->slow = l;
	out->val = l + f->slow.n;
	out->nval = 0;
	/* records with their constant parts; numbers get their value */
	for (size_t k = 0; k < f->rec.n; k++) {
		const struct rtr__leaf *r = &f->rec.v[k];

		rec[k].cls = r->op;
		rec[k].len = r->len;
		rec[k].kind = r->kind;
		rec[k].scope = r->scope;
		if (r->kind == RTR_VAL_UINT || r->kind == RTR_VAL_SINT ||
		    r->kind == RTR_VAL_FLOAT || r->kind == RTR_VAL_STRING) {
			l[f->slow.n + out->nval] = *r;
			l[f->slow.n + out->nval++].idx = (uint32_t)k;
		}
	}
	out->rec = rec;
done:
	free(f->slow.v);
	free(f->rec.v);
	memset(f, 0, sizeof(*f));
	return out;
}

/* Appends the segments of plan pl (scope) to b. */
static void add_plan(struct pb *b, const struct rtr__plan *pl, int scope)
{
	b->scope = scope;
	b->open = -1;
	if (pl->n)
		walk(b, pl->ops, 0);
	b->open = -1;
}

static void finish(struct pb *b, struct rtr__prog *p)
{
	struct rtr__seg *segs = NULL;
	size_t n = 0, had = b->nseg;

	memset(p, 0, sizeof(*p));
	if (!b->bad && b->nseg)
		segs = rtr__arena_alloc(&b->tc->arena, b->nseg * sizeof(*segs));
	for (size_t k = 0; k < b->nseg; k++) {
		struct tseg *t = &b->seg[k];

		if (t->g.kind == SEG_FIXED) {
			const struct rtr__seg *g = finish_fixed(b->tc, &t->g, &t->f);

			if (!g)
				b->bad = true;
			else if (segs && (g->bits || g->nrec || g->align > 1))
				segs[n++] = *g; /* empty ones are dropped */
		} else if (segs) {
			segs[n++] = t->g;
		}
	}
	free(b->seg);
	b->seg = NULL;
	b->nseg = b->cap = 0;
	if (b->bad || (had && !segs))
		return;
	p->seg = segs;
	p->n = (uint32_t)n;
	p->ok = true;
	p->skip_align = 1;
	if (n == 0) {
		p->skip = true;
	} else if (n == 1 && segs[0].kind == SEG_FIXED && !segs[0].nslow) {
		p->skip = true;
		p->skip_align = segs[0].align;
		p->skip_bits = segs[0].bits;
	}
}

static void build(struct rtr__trace_code *tc, size_t *budget, struct rtr__prog *p,
		  const struct rtr__plan *a, int sa, const struct rtr__plan *c, int sc)
{
	struct pb b;

	memset(&b, 0, sizeof(b));
	b.tc = tc;
	b.budget = budget;
	b.open = -1;
	if (a)
		add_plan(&b, a, sa);
	if (c)
		add_plan(&b, c, sc);
	finish(&b, p);
}

/* The header table of a tagged event header, or NULL. */
static const struct rtr__hdr *build_hdr(struct rtr__trace_code *tc, size_t *budget,
					const struct rtr__plan *pl)
{
	const struct rtr__op *ops = pl->ops, *root, *tag, *var;
	struct rtr__hdr *h;
	struct rtr__hopt *opt;

	if (pl->n < 3 || !ops[0].tagged)
		return NULL;
	root = &ops[0];
	tag = &ops[1];
	var = &ops[2];
	/* mark_tagged() checked the shape; the tag must sit at offset 0 */
	if (tag->align > root->align || tag->clock >= 0 || tag->sign || var->sign ||
	    var->src != tag->save || !var->n_opts || !take(budget, var->n_opts + 1))
		return NULL;
	h = rtr__arena_alloc(&tc->arena, sizeof(*h));
	opt = rtr__arena_alloc(&tc->arena, var->n_opts * sizeof(*opt));
	if (!h || !opt)
		return NULL;
	h->align = root->align;
	h->var = var;
	h->opt = opt;
	h->tag_is_id = tag->role == ROLE_EVENT_ID;
	{
		struct fx f;

		memset(&f, 0, sizeof(f));
		f.align = root->align;
		leaf_from(&h->tag, &f, tag, RTR_SCOPE_EVENT_HEADER);
		h->tag.save = tag->save;
		h->tag_mask = ~(uint64_t)0 >> (64 - tag->size);
		h->simple = h->tag.bo == RTR__BO_LE && !h->tag.wide && var->direct;
	}
	for (uint32_t k = 0; k < var->n_opts; k++) {
		uint32_t oi = var->opts[k].op;
		struct rtr__hopt *o = &opt[k];
		struct fx f;
		bool ok = true;

		if (oi <= 2 || oi >= var->end || !is_static(ops, oi) || ops[oi].align > root->align)
			return NULL;
		memset(&f, 0, sizeof(f));
		f.align = root->align;
		f.off = tag->size;
		add_static(&f, budget, ops, oi, RTR_SCOPE_EVENT_HEADER);
		ok = !f.bad && !f.rec.n && f.off < (1u << 20);
		for (size_t j = 0; j < f.slow.n && ok; j++) {
			const struct rtr__leaf *l = &f.slow.v[j];

			if (l->save >= 0)
				ok = false;
			else if (l->role == ROLE_EVENT_ID && l->clock < 0 && !o->has_id) {
				o->id = *l;
				o->has_id = true;
			} else if (l->role == ROLE_NONE && l->clock >= 0 && !o->has_ts) {
				o->ts = *l;
				o->has_ts = true;
			} else {
				ok = false;
			}
		}
		o->bits = (uint32_t)f.off;
		o->id_mask = ~(uint64_t)0 >> (64 - (o->has_id ? o->id.size : 64));
		o->ts_mask = ~(uint64_t)0 >> (64 - (o->has_ts ? o->ts.size : 64));
		free(f.slow.v);
		free(f.rec.v);
		if (!ok)
			return NULL;
		if (o->bits > h->max_bits)
			h->max_bits = o->bits;
		if ((o->has_id && (o->id.bo != RTR__BO_LE || o->id.wide)) ||
		    (o->has_ts && (o->ts.bo != RTR__BO_LE || o->ts.wide)) ||
		    (!o->has_id && !h->tag_is_id))
			h->simple = false;
	}
	return h;
}

static bool has_text(const struct rtr__plan *pl)
{
	for (uint32_t i = 0; i < pl->n; i++)
		if (pl->ops[i].code == OP_STRING || pl->ops[i].code == OP_TEXT_ARRAY)
			return true;
	return false;
}

void rtr__progs_build(struct rtr__trace_code *tc)
{
	size_t budget = MAX_PROG_ITEMS;

	for (size_t s = 0; s < tc->n_scs; s++) {
		struct rtr__stream_code *sc = &tc->scs[s];

		build(tc, &budget, &sc->fast_header, &sc->p_event_header, RTR_SCOPE_EVENT_HEADER,
		      NULL, 0);
		sc->hdr = sc->fast_header.ok ? build_hdr(tc, &budget, &sc->p_event_header) : NULL;
		build(tc, &budget, &sc->fast_context, &sc->p_event_context,
		      RTR_SCOPE_EVENT_COMMON_CONTEXT, NULL, 0);
		for (size_t k = 0; k < sc->n_ecs; k++) {
			struct rtr__event_code *ec = &sc->ecs[k];

			build(tc, &budget, &ec->fast, &ec->p_context, RTR_SCOPE_EVENT_CONTEXT,
			      &ec->p_fields, RTR_SCOPE_EVENT_PAYLOAD);
			ec->text_vals = has_text(&sc->p_packet_context) ||
					has_text(&sc->p_event_context) ||
					has_text(&ec->p_context) || has_text(&ec->p_fields);
		}
	}
}
