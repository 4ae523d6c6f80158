/* The plan interpreter: runs decode plans over a packet, for every scope
 * of every event the fast programs do not take, and for packet headers and
 * contexts. See docs/design/reader.md ("Decode plan"). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile/bits.h"

/* ------------------------------------------------------------------ */
/* errors                                                              */

int rtr__cursor_error(struct rtr__cursor *s, int code, const char *fmt, ...)
{
	char m[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	return rtr__error(s->err, code, "%s: packet at offset %" PRIu64 ", byte %" PRIu64 ": %s",
			  s->path ? s->path : "?", s->pkt_off, s->pkt_off + s->pos / 8, m);
}


/* Static functions here return 0 or a negative errno, the error recorded
 * in s->err: derr() records one (-EINVAL, or -ENOMEM for derr_oom()),
 * FAILED(s) (bits.h) is the code of the one recorded. */
#define derr(s, ...) rtr__cursor_error(s, -EINVAL, __VA_ARGS__)
/* an error because the data ends (the packet content): the stream may
 * read on into the packet's padding, as babeltrace2 does (stream.c) */
#define oerr(s, ...) ((s)->overrun = true, derr(s, __VA_ARGS__))
#define derr_oom(s)  rtr__cursor_error(s, -ENOMEM, "out of memory")

RTR_NOINLINE int rtr__cursor_grow(struct rtr__cursor *s)
{
	size_t nc = s->cap_vals ? s->cap_vals * 2 : 256;
	struct rtr_value *nv;

	if (nc > ((size_t)64 << 20))
		return derr(s, "event has too many fields");
	nv = realloc(s->vals, nc * sizeof(*nv));
	if (!nv)
		return derr_oom(s);
	s->vals = nv;
	s->cap_vals = nc;
	return 0;
}


/* ------------------------------------------------------------------ */
/* plan execution                                                      */

static inline __attribute__((always_inline)) int role_int(struct rtr__cursor *s,
							  const struct rtr__op *op, uint64_t v)
{
	s->r_seen |= 1u << op->role;
	switch (op->role) {
	case ROLE_MAGIC:
		s->r_magic = v;
		break;
	case ROLE_STREAM_ID:
		s->r_stream_id = v;
		break;
	case ROLE_STREAM_INSTANCE_ID:
		s->r_instance_id = v;
		break;
	case ROLE_EVENT_ID:
		s->r_event_id = v;
		break;
	case ROLE_TS_BEGIN:
		s->r_ts_begin = v;
		break;
	case ROLE_TS_END:
		s->r_ts_end = v;
		break;
	case ROLE_CONTENT_SIZE:
		s->r_content = v;
		break;
	case ROLE_PACKET_SIZE:
		s->r_psize = v;
		break;
	case ROLE_DISCARDED:
		s->r_disc = v;
		break;
	case ROLE_SEQ_NUM:
		s->r_seq = v;
		break;
	default:
		break;
	}
	return 0;
}

static inline int need(struct rtr__cursor *s, uint64_t bits, const char *what,
		       const struct rtr__op *op)
{
	if (rtr_unlikely(s->pos > s->end || bits > s->end - s->pos))
		return oerr(
		    s,
		    "%s '%s' (%" PRIu64 " bits) goes past the end of the packet content (%" PRIu64
		    " bits left)",
		    what, op->name ? op->name : "", bits, s->pos > s->end ? 0 : s->end - s->pos);
	return 0;
}

static inline __attribute__((always_inline)) int exec_int(struct rtr__cursor *s,
							  const struct rtr__op *op)
{
	uint64_t v;

	ALIGN_POS(s, op->align);
	if (rtr_unlikely(s->pos > s->end || op->size > s->end - s->pos))
		return need(s, op->size, "integer", op);
	if (rtr_likely((s->pos & 7) + op->size <= 64 &&
		       (s->pos >> 3) + 8 <= (s->avail_bits >> 3))) {
		/* one unaligned 64-bit load, no branch on the size */
		uint64_t w;
		unsigned o = (unsigned)(s->pos & 7);

		memcpy(&w, s->pkt + (s->pos >> 3), 8);
		if (op->bo == RTR__BO_LE)
			v = (w >> o) & (~(uint64_t)0 >> (64 - op->size));
		else
			v = (__builtin_bswap64(w) << o) >> (64 - op->size);
	} else if (op->code == OP_INT_BYTE) {
		v = rd_bytes(s->pkt + (s->pos >> 3), op->size, op->bo);
	} else {
		v = rd_bits(s->pkt, s->pos, op->size, op->bo);
	}
	s->pos += op->size;
	if (op->sign)
		v = sext(v, op->size);
	if (rtr_unlikely(op->slow)) {
		if (op->save >= 0)
			s->slots[op->save] = v;
		if (op->role)
			role_int(s, op,
				 op->sign ? v & (op->size < 64 ? (((uint64_t)1 << op->size) - 1)
							       : ~(uint64_t)0)
					  : v);
		if (op->clock >= 0 && op->role != ROLE_TS_END)
			clock_update(s, op->size < 64 ? v & (((uint64_t)1 << op->size) - 1) : v,
				     op->size);
	}
	if (s->emit && (op->shown | s->all))
		return push_val(s, op, op->sign ? RTR_VAL_SINT : RTR_VAL_UINT, v, 0);
	return 0;
}

static int exec_float(struct rtr__cursor *s, const struct rtr__op *op)
{
	uint64_t v;

	ALIGN_POS(s, op->align);
	if (need(s, op->size, "floating point number", op))
		return FAILED(s);
	if (!(s->pos & 7))
		v = rd_bytes(s->pkt + (s->pos >> 3), op->size, op->bo);
	else
		v = rd_bits(s->pkt, s->pos, op->size, op->bo);
	s->pos += op->size;
	if (op->size == 32)
		v = f32_as_f64_bits(v);
	if (s->emit && (op->shown | s->all))
		return push_val(s, op, RTR_VAL_FLOAT, v, 0);
	return 0;
}

static int exec_string(struct rtr__cursor *s, const struct rtr__op *op)
{
	const uint8_t *b, *z;
	uint64_t avail;

	ALIGN_POS(s, 8);
	if (s->pos >= s->end)
		return need(s, 8, "string", op);
	b = s->pkt + (s->pos >> 3);
	avail = (s->end - s->pos) >> 3;
	z = memchr(b, 0, avail);
	if (!z)
		return oerr(s, "string '%s' is not terminated before the end of the packet content",
			    op->name ? op->name : "");
	s->pos += (uint64_t)(z - b + 1) * 8;
	if (s->emit && (op->shown | s->all)) {
		uint64_t u = 0;
		const char *p = (const char *)b;

		memcpy(&u, &p, sizeof(p));
		return push_val(s, op, RTR_VAL_STRING, u, (uint64_t)(z - b));
	}
	return 0;
}

static int get_len(struct rtr__cursor *s, const struct rtr__op *op, uint64_t *n)
{
	if (op->code == OP_ARRAY || (op->code == OP_TEXT_ARRAY && op->src < 0)) {
		*n = op->count;
		return 0;
	}
	*n = s->slots[op->src];
	return 0;
}

static int exec_text(struct rtr__cursor *s, const struct rtr__op *op)
{
	uint64_t n;
	const uint8_t *b, *z;

	get_len(s, op, &n);
	ALIGN_POS(s, op->align);
	if (n > (UINT64_MAX >> 4) || need(s, n * 8, "text array", op))
		return n > (UINT64_MAX >> 4) ? derr(s, "text array length %" PRIu64 " too large", n)
					     : -1;
	b = s->pkt + (s->pos >> 3);
	s->pos += n * 8;
	if (s->emit && (op->shown | s->all)) {
		uint64_t u = 0;
		const char *p = (const char *)b;

		z = s->all ? NULL : memchr(b, 0, n);
		memcpy(&u, &p, sizeof(p));
		/* re-encoding needs every byte, printing stops at the NUL */
		return push_val(s, op, RTR_VAL_STRING, u, z ? (uint64_t)(z - b) : n);
	}
	return 0;
}

/* A leaf of a variant option or flat struct: integer, string or float. */
static inline __attribute__((always_inline)) int exec_leaf(struct rtr__cursor *s,
							   const struct rtr__op *m)
{
	if (rtr_likely(m->code == OP_INT_BYTE || m->code == OP_INT_BITS))
		return exec_int(s, m);
	if (m->code == OP_STRING)
		return exec_string(s, m);
	return exec_float(s, m);
}

static inline __attribute__((always_inline)) int exec_tagged(struct rtr__cursor *s,
							     const struct rtr__op *ops, uint32_t i)
{
	/* hidden {tag; variant<tag> {flat structs}} */
	const struct rtr__op *tg = &ops[i + 1], *var = &ops[i + 2];
	uint64_t tag;
	uint32_t oi;
	bool save = s->emit;

	s->emit = false;
	if (rtr_unlikely(exec_int(s, tg)))
		return FAILED(s);
	tag = s->slots[var->src];
	oi = variant_option(var, tag);
	if (oi != UINT32_MAX)
		oi = var->opts[oi].op;
	if (oi == UINT32_MAX) {
		s->emit = save;
		return derr(s, "variant '%s': tag value %" PRIu64 " selects no option",
			    var->name ? var->name : "", tag);
	}
	ALIGN_POS(s, ops[oi].align);
	for (uint32_t k = oi + 1; k < ops[oi].end; k++) {
		const struct rtr__op *m = &ops[k];
		int rc;

		rc = exec_leaf(s, m);
		if (rtr_unlikely(rc)) {
			s->emit = save;
			return FAILED(s);
		}
	}
	s->emit = save;
	return 0;
}

static inline __attribute__((always_inline)) int exec_fixed(struct rtr__cursor *s,
							    const struct rtr__op *ops, uint32_t i)
{
	const struct rtr__op *op = &ops[i];

	/* static layout: one bounds check */
	bool emit = s->emit && (op->shown | s->all);
	const uint8_t *base;
	bool safe;

	if (rtr_unlikely(s->pos > s->end || op->fixed_bits > s->end - s->pos))
		return oerr(s, "structure '%s' (%u bits) goes past the end of the packet content",
			    op->name ? op->name : "", op->fixed_bits);
	base = s->pkt + (s->pos >> 3);
	safe = (s->pos >> 3) + (op->fixed_bits >> 3) + 8 <= (s->avail_bits >> 3);
	if (emit && push_val(s, op, RTR_VAL_STRUCT_BEGIN, 0, 0))
		return FAILED(s);
	for (uint32_t k = i + 1; k < op->end; k++) {
		const struct rtr__op *m = &ops[k];
		uint64_t v;

		if (rtr_likely(safe)) {
			uint64_t w;

			memcpy(&w, base + (m->off >> 3), 8);
			v = m->bo == RTR__BO_LE ? w & (~(uint64_t)0 >> (64 - m->size))
						: __builtin_bswap64(w) >> (64 - m->size);
		} else {
			v = rd_bytes(base + (m->off >> 3), m->size, m->bo);
		}

		if (m->code == OP_FLOAT) {
			if (m->size == 32)
				v = f32_as_f64_bits(v);
			if (emit && (m->shown | s->all) && push_val(s, m, RTR_VAL_FLOAT, v, 0))
				return FAILED(s);
			continue;
		}
		if (m->sign)
			v = sext(v, m->size);
		if (rtr_unlikely(m->slow)) {
			uint64_t raw = m->size < 64 ? v & (((uint64_t)1 << m->size) - 1) : v;

			if (m->save >= 0)
				s->slots[m->save] = v;
			if (m->role)
				role_int(s, m, raw);
			if (m->clock >= 0 && m->role != ROLE_TS_END)
				clock_update(s, raw, m->size);
		}
		if (emit && (m->shown | s->all) &&
		    push_val(s, m, m->sign ? RTR_VAL_SINT : RTR_VAL_UINT, v, 0))
			return FAILED(s);
	}
	s->pos += op->fixed_bits;
	if (emit && push_val(s, op, RTR_VAL_STRUCT_END, 0, 0))
		return FAILED(s);
	return 0;
}

static inline __attribute__((always_inline)) int exec_flat(struct rtr__cursor *s,
							   const struct rtr__op *ops, uint32_t i)
{
	const struct rtr__op *op = &ops[i];

	/* leaves only: no frame */
	bool emit = s->emit && (op->shown | s->all);
	bool save = s->emit;

	if (emit && push_val(s, op, RTR_VAL_STRUCT_BEGIN, 0, 0))
		return FAILED(s);
	s->emit = emit;
	for (uint32_t k = i + 1; k < op->end; k++) {
		const struct rtr__op *m = &ops[k];
		int rc;

		rc = exec_leaf(s, m);
		if (rtr_unlikely(rc))
			return FAILED(s);
	}
	s->emit = save;
	if (emit && push_val(s, op, RTR_VAL_STRUCT_END, 0, 0))
		return FAILED(s);
	return 0;
}

/* Non-recursive plan interpreter: compounds push a frame; a frame ends
 * when the op index reaches its end. */
struct frame {
	uint32_t end;	 /* index ending this frame */
	uint32_t start;	 /* array: first op of the element body */
	uint32_t ret;	 /* variant: index to continue at */
	uint8_t kind;	 /* OP_STRUCT, OP_VARIANT, OP_ARRAY */
	uint8_t emitted; /* BEGIN record pushed */
	uint8_t saved_emit;
	const struct rtr__op *op;
	uint64_t left; /* array: elements left */
};

/* Runs ops[i0, n): a whole plan (0, pl->n) or one op's subtree. */
int rtr__plan_ops(struct rtr__cursor *s, const struct rtr__op *ops, uint32_t i0, uint32_t n)
{
	struct frame st[RTR__MAX_DEPTH * 2 + 4];
	int sp = 0;
	uint32_t i = i0;

	while (1) {
		const struct rtr__op *op;

		while (sp > 0 && i == st[sp - 1].end) {
			struct frame *f = &st[sp - 1];

			if (f->kind == OP_ARRAY && --f->left > 0) {
				i = f->start;
				break;
			}
			if (f->emitted && push_val(s, f->op,
						   f->kind == OP_STRUCT	   ? RTR_VAL_STRUCT_END
						   : f->kind == OP_VARIANT ? RTR_VAL_VARIANT_END
									   : RTR_VAL_ARRAY_END,
						   0, 0))
				return FAILED(s);
			s->emit = f->saved_emit;
			if (f->kind == OP_VARIANT)
				i = f->ret;
			sp--;
		}
		if (i >= n)
			return 0;
		op = &ops[i];
		switch (op->code) {
		case OP_INT_BYTE:
		case OP_INT_BITS:
			if (rtr_unlikely(exec_int(s, op)))
				return FAILED(s);
			i++;
			break;
		case OP_FLOAT:
			if (exec_float(s, op))
				return FAILED(s);
			i++;
			break;
		case OP_STRING:
			if (exec_string(s, op))
				return FAILED(s);
			i++;
			break;
		case OP_TEXT_ARRAY:
			if (op->role == ROLE_UUID)
				s->uuid_pos = (int64_t)((s->pos + op->align - 1) &
							~(uint64_t)(op->align - 1));
			if (exec_text(s, op))
				return FAILED(s);
			i = op->end;
			break;
		case OP_STRUCT: {
			struct frame *f;

			ALIGN_POS(s, op->align);
			if (rtr_unlikely(s->pos > s->end))
				return oerr(s,
					    "structure '%s' aligned on %u bits starts past the end "
					    "of the packet content",
					    op->name ? op->name : "", op->align);
			if (op->tagged && !(s->emit && (op->shown | s->all))) {
				if (exec_tagged(s, ops, i))
					return FAILED(s);
				i = op->end;
				break;
			}
			if (op->fixed) {
				if (exec_fixed(s, ops, i))
					return FAILED(s);
				i = op->end;
				break;
			}
			if (op->flat) {
				if (exec_flat(s, ops, i))
					return FAILED(s);
				i = op->end;
				break;
			}
			if (i + 1 == op->end) { /* empty */
				if (s->emit && (op->shown | s->all) &&
				    (push_val(s, op, RTR_VAL_STRUCT_BEGIN, 0, 0) ||
				     push_val(s, op, RTR_VAL_STRUCT_END, 0, 0)))
					return FAILED(s);
				i++;
				break;
			}
			if (sp >= (int)RTR_ARRAY_SIZE(st))
				return derr(s, "types nested too deeply");
			f = &st[sp++];
			f->kind = OP_STRUCT;
			f->end = op->end;
			f->op = op;
			f->saved_emit = s->emit;
			f->emitted = s->emit && (op->shown | s->all);
			if (f->emitted && push_val(s, op, RTR_VAL_STRUCT_BEGIN, 0, 0))
				return FAILED(s);
			if (!(op->shown | s->all))
				s->emit = false;
			i++;
			break;
		}
		case OP_VARIANT: {
			uint64_t tag = s->slots[op->src];
			uint32_t k = variant_option(op, tag);
			const struct rtr__var_opt *o = k == UINT32_MAX ? NULL : &op->opts[k];
			struct frame *f;

			if (!o) {
				if (op->sign)
					return derr(s,
						    "variant '%s': tag value %" PRId64
						    " selects no option",
						    op->name ? op->name : "", (int64_t)tag);
				return derr(s,
					    "variant '%s': tag value %" PRIu64 " selects no option",
					    op->name ? op->name : "", tag);
			}
			if (sp >= (int)RTR_ARRAY_SIZE(st))
				return derr(s, "types nested too deeply");
			f = &st[sp++];
			f->kind = OP_VARIANT;
			f->end = ops[o->op].end;
			f->ret = op->end;
			f->op = op;
			f->saved_emit = s->emit;
			f->emitted = s->emit && (op->shown | s->all);
			if (f->emitted && push_val(s, op, RTR_VAL_VARIANT_BEGIN, 0, o->op))
				return FAILED(s);
			if (!(op->shown | s->all))
				s->emit = false;
			i = o->op;
			break;
		}
		case OP_ARRAY:
		case OP_SEQ: {
			uint64_t cnt = op->code == OP_ARRAY ? op->count : s->slots[op->src];
			bool emit = s->emit && (op->shown | s->all);
			struct frame *f;

			if (op->role == ROLE_UUID)
				s->uuid_pos = (int64_t)((s->pos + op->align - 1) &
							~(uint64_t)(op->align - 1));
			ALIGN_POS(s, op->align);
			if (rtr_unlikely(s->pos > s->end))
				return oerr(s,
					    "array '%s' aligned on %u bits starts past the end of "
					    "the packet content",
					    op->name ? op->name : "", op->align);
			if (op->elem_min_bits_zero) {
				if (cnt > s->budget)
					return derr(s,
						    "array '%s' of %" PRIu64
						    " zero-size elements exceeds the work bound",
						    op->name ? op->name : "", cnt);
				s->budget -= cnt;
			} else if (cnt > s->end - s->pos) {
				return oerr(s,
					    "%s '%s' of %" PRIu64
					    " elements goes past the end of the packet content",
					    op->code == OP_SEQ ? "sequence" : "array",
					    op->name ? op->name : "", cnt);
			}
			if (!emit && op->end == i + 2 && ops[i + 1].code == OP_INT_BYTE &&
			    ops[i + 1].size == 8 && ops[i + 1].align == 8 && !ops[i + 1].slow) {
				/* bytes nobody records: checked, then skipped */
				if (cnt > (s->end - s->pos) / 8)
					return oerr(
					    s,
					    "%s '%s' of %" PRIu64
					    " bytes goes past the end of the packet content",
					    op->code == OP_SEQ ? "sequence" : "array",
					    op->name ? op->name : "", cnt);
				s->pos += cnt * 8;
				i = op->end;
				break;
			}
			if (emit && push_val(s, op, RTR_VAL_ARRAY_BEGIN, 0, cnt))
				return FAILED(s);
			if (cnt == 0) {
				if (emit && push_val(s, op, RTR_VAL_ARRAY_END, 0, 0))
					return FAILED(s);
				i = op->end;
				break;
			}
			if (sp >= (int)RTR_ARRAY_SIZE(st))
				return derr(s, "types nested too deeply");
			f = &st[sp++];
			f->kind = OP_ARRAY;
			f->end = op->end;
			f->start = i + 1;
			f->left = cnt;
			f->op = op;
			f->saved_emit = s->emit;
			f->emitted = emit;
			if (!(op->shown | s->all))
				s->emit = false;
			i++;
			break;
		}
		default:
			return derr(s, "internal error: bad op %d", op->code);
		}
	}
}

static inline __attribute__((always_inline)) int
exec_plan(struct rtr__cursor *s, const struct rtr__plan *pl, int scope, bool emit)
{
	if (!pl->n)
		return 0;
	s->emit_scope = scope;
	s->emit = (emit || s->all) && (pl->shown || s->all) && !s->no_emit;
	/* common roots without the interpreter loop */
	if (pl->ops[0].code == OP_STRUCT && !s->all) {
		const struct rtr__op *op = &pl->ops[0];

		if (op->tagged && !s->emit) {
			ALIGN_POS(s, op->align);
			if (rtr_unlikely(s->pos > s->end))
				return oerr(s,
					    "structure aligned on %u bits starts past the end of "
					    "the packet content",
					    op->align);
			return exec_tagged(s, pl->ops, 0);
		}
		if (op->fixed) {
			ALIGN_POS(s, op->align);
			return exec_fixed(s, pl->ops, 0);
		}
		if (op->flat) {
			ALIGN_POS(s, op->align);
			if (rtr_unlikely(s->pos > s->end))
				return oerr(s,
					    "structure aligned on %u bits starts past the end of "
					    "the packet content",
					    op->align);
			return exec_flat(s, pl->ops, 0);
		}
	}
	return rtr__plan_ops(s, pl->ops, 0, pl->n);
}

int rtr__plan_scope(struct rtr__cursor *s, const struct rtr__plan *pl, int scope, bool emit)
{
	return exec_plan(s, pl, scope, emit);
}

int rtr__plan_event(struct rtr__cursor *s, const struct rtr__stream_code *sc)
{
	const struct rtr__event_code *ec;
	uint64_t start = s->pos;

	s->r_seen &= ~(1u << ROLE_EVENT_ID);
	s->budget = (s->end - s->pos) + 65536;
	s->nvals = s->npvals;
	if (exec_plan(s, &sc->p_event_header, RTR_SCOPE_EVENT_HEADER, false))
		return FAILED(s);
	s->ev_clock = s->clock;
	if (s->r_seen & (1u << ROLE_EVENT_ID)) {
		ec = rtr_likely(s->r_event_id < sc->ec_by_id_len)
			 ? sc->ec_by_id[s->r_event_id]
			 : rtr__sc_find_ec(sc, s->r_event_id);
		if (!ec) {
			s->pos = start;
			return derr(s,
				    "no event class with id %" PRIu64 " in stream class %" PRIu64,
				    s->r_event_id, sc->cls->id);
		}
	} else {
		if (sc->n_ecs == 1) {
			ec = &sc->ecs[0];
		} else {
			ec = rtr__sc_find_ec(sc, 0);
			if (!ec) {
				s->pos = start;
				return derr(s,
					    "event header has no id and stream class %" PRIu64
					    " has %zu event classes",
					    sc->cls->id, sc->n_ecs);
			}
		}
	}
	if (exec_plan(s, &sc->p_event_context, RTR_SCOPE_EVENT_COMMON_CONTEXT, true) ||
	    exec_plan(s, &ec->p_context, RTR_SCOPE_EVENT_CONTEXT, true) ||
	    exec_plan(s, &ec->p_fields, RTR_SCOPE_EVENT_PAYLOAD, true))
		return FAILED(s);
	if (s->pos == start) {
		s->pos = start;
		return derr(s, "event '%s' decodes to zero bits (an event must not be empty)",
			    ec->cls->name ? ec->cls->name : "?");
	}
	s->ec = ec;
	return 0;
}

