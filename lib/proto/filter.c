/* ringtrace event filters: bytecode verifier, interpreter and builder.
 * Format and rules: filter.h and docs/design/daemon.md §4. The verifier is
 * fuzzed (tests/fuzz/proto: filter_fuzz). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "proto_internal.h"

#define HDR_SIZE 8u

/* Value types the verifier tracks. */
enum { T_NONE = 0, T_S64, T_U64, T_DBL, T_STR, T_BOOL };

/* Classes of RTR_FOP_CMP (a >> 4): the two operands' types. */
enum { C_SS = 0, C_UU = 1, C_SU = 2, C_US = 3, C_DD = 4, C_STR = 5 };

#define fail(err, errlen, ...) rtr__proto_say(-EINVAL, err, errlen, __VA_ARGS__)

struct vstate {
	int8_t depth; /* -1: not reached (yet) */
	uint8_t t[RTR_FILTER_MAX_STACK];
};

static bool state_eq(const struct vstate *a, const struct vstate *b)
{
	return a->depth == b->depth && memcmp(a->t, b->t, (size_t)a->depth) == 0;
}

/* The string at strtab offset off: valid when its length, bytes and NUL
 * are inside the table and it holds no NUL. */
static bool str_ok(const char *tab, size_t tablen, size_t off, size_t *len)
{
	size_t n;

	if (off + 2 > tablen)
		return false;
	n = rtr__proto_ld16((const uint8_t *)tab + off);
	if (n > tablen - off - 2 || off + 2 + n >= tablen || tab[off + 2 + n] != 0)
		return false;
	if (memchr(tab + off + 2, 0, n))
		return false;
	*len = n;
	return true;
}

static int field_type(const struct rtr_event_desc *ev, unsigned idx)
{
	const struct rtr_field_desc *f;

	if (!ev || idx >= ev->nr_fields)
		return T_NONE;
	f = &ev->fields[idx];
	switch (f->kind) {
	case RTR_FIELD_INTEGER:
	case RTR_FIELD_ENUM:
		return f->integer.is_signed ? T_S64 : T_U64;
	case RTR_FIELD_FLOAT:
		return T_DBL;
	case RTR_FIELD_STRING:
		return T_STR;
	default:
		return T_NONE;
	}
}

static bool is_int(int t)
{
	return t == T_S64 || t == T_U64;
}

static int cmp_class(int second, int top)
{
	if (second == T_S64 && top == T_S64)
		return C_SS;
	if (second == T_U64 && top == T_U64)
		return C_UU;
	if (second == T_S64 && top == T_U64)
		return C_SU;
	if (second == T_U64 && top == T_S64)
		return C_US;
	if (second == T_DBL && top == T_DBL)
		return C_DD;
	if (second == T_STR && top == T_STR)
		return C_STR;
	return -1;
}

int rtr_filter_verify(const void *code, size_t len, const struct rtr_event_desc *ev,
		      struct rtr_filter **out, char *err, size_t errlen)
{
	const uint8_t *p = code;
	unsigned nconst, ninsn, strtab_len;
	struct vstate *st = NULL;
	struct rtr_filter *f;
	struct rtr_filter_insn *insn;
	unsigned max_depth = 0;
	size_t need;
	int r = 0;

	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	if (!code || len < HDR_SIZE)
		return fail(err, errlen, "filter: expected an %u-byte header, got %zu bytes",
			    HDR_SIZE, len);
	if (p[0] != RTR_FILTER_VERSION)
		return fail(err, errlen, "filter: version %u, expected %u", p[0],
			    RTR_FILTER_VERSION);
	nconst = p[1];
	ninsn = rtr__proto_ld16(p + 2);
	strtab_len = rtr__proto_ld16(p + 4);
	if (rtr__proto_ld16(p + 6) != 0)
		return fail(err, errlen, "filter: reserved header bytes are not 0");
	if (nconst > RTR_FILTER_MAX_CONST || ninsn == 0 || ninsn > RTR_FILTER_MAX_INSN ||
	    strtab_len > RTR_FILTER_MAX_STRTAB)
		return fail(err, errlen,
			    "filter: %u constants (max %u), %u instructions (1..%u), string table "
			    "%u bytes (max %u)",
			    nconst, RTR_FILTER_MAX_CONST, ninsn, RTR_FILTER_MAX_INSN, strtab_len,
			    RTR_FILTER_MAX_STRTAB);
	need = HDR_SIZE + (size_t)nconst * 8 + (size_t)ninsn * 4 + strtab_len;
	if (len != need)
		return fail(err, errlen, "filter: %zu bytes, the header announces %zu", len, need);

	f = calloc(1, sizeof(*f) + (size_t)nconst * 8 + (size_t)ninsn * sizeof(*insn) +
			  strtab_len + 1);
	st = calloc((size_t)ninsn + 1, sizeof(*st));
	if (!f || !st) {
		free(f);
		free(st);
		return -ENOMEM;
	}
	{
		uint64_t *consts = (uint64_t *)(f + 1);
		char *tab;

		insn = (struct rtr_filter_insn *)(consts + nconst);
		tab = (char *)(insn + ninsn);
		for (unsigned i = 0; i < nconst; i++)
			consts[i] = rtr__proto_ld64(p + HDR_SIZE + 8 * i);
		for (unsigned i = 0; i < ninsn; i++) {
			const uint8_t *q = p + HDR_SIZE + 8 * nconst + 4 * i;

			insn[i].op = q[0];
			insn[i].a = q[1];
			insn[i].b = rtr__proto_ld16(q + 2);
		}
		memcpy(tab, p + HDR_SIZE + 8 * nconst + 4 * ninsn, strtab_len);
		tab[strtab_len] = 0;
		f->consts = consts;
		f->insn = insn;
		f->strtab = tab;
	}
	f->ninsn = (uint16_t)ninsn;
	f->nconst = (uint16_t)nconst;
	f->strtab_len = (uint16_t)strtab_len;

	for (unsigned i = 0; i <= ninsn; i++)
		st[i].depth = -1;
	st[0].depth = 0;
	for (unsigned i = 0; i < ninsn && !r; i++) {
		const struct rtr_filter_insn *in = &insn[i];
		struct vstate s = st[i];
		int d = s.depth, t;
		bool falls = true, jumps = false;
		size_t slen;

		if (d < 0)
			continue; /* unreachable: never runs */
#define NEED(n)                                                                                    \
	do {                                                                                       \
		if (d < (n)) {                                                                     \
			r = fail(err, errlen, "filter: instruction %u (op %u): stack underflow", i,  \
				 in->op);                                                  \
			goto done;                                                                 \
		}                                                                                  \
	} while (0)
#define PUSH(ty)                                                                                   \
	do {                                                                                       \
		if (d >= (int)RTR_FILTER_MAX_STACK) {                                              \
			r = fail(err, errlen, "filter: instruction %u: stack deeper than %u", i,     \
				 RTR_FILTER_MAX_STACK);                                            \
			goto done;                                                                 \
		}                                                                                  \
		s.t[d++] = (uint8_t)(ty);                                                          \
	} while (0)
#define BAD(...)                                                                                   \
	do {                                                                                       \
		char m_[128];                                                                      \
		snprintf(m_, sizeof(m_), __VA_ARGS__);                                             \
		r = fail(err, errlen, "filter: instruction %u (op %u): %s", i, in->op, m_);        \
		goto done;                                                                         \
	} while (0)
		switch (in->op) {
		case RTR_FOP_RET:
			if (d != 1 || s.t[0] != T_BOOL)
				BAD("RET needs exactly one boolean on the stack (depth %d)", d);
			falls = false;
			break;
		case RTR_FOP_LOAD_S64:
		case RTR_FOP_LOAD_U64:
		case RTR_FOP_LOAD_DBL:
		case RTR_FOP_LOAD_STR: {
			static const int want[] = {0, 0, T_S64, T_U64, T_DBL, T_STR};

			t = field_type(ev, in->b);
			if (t != want[in->op])
				BAD("field %u does not have the type this load reads", in->b);
			PUSH(t);
			break;
		}
		case RTR_FOP_LOAD_CTX:
			switch (in->b) {
			case RTR_FCTX_VPID:
			case RTR_FCTX_VTID:
				PUSH(T_S64);
				break;
			case RTR_FCTX_PTHREAD_ID:
				PUSH(T_U64);
				break;
			case RTR_FCTX_PROCNAME:
				PUSH(T_STR);
				break;
			default:
				BAD("unknown context %u", in->b);
			}
			break;
		case RTR_FOP_CONST_S64:
		case RTR_FOP_CONST_U64:
		case RTR_FOP_CONST_DBL:
			if (in->b >= nconst)
				BAD("constant %u of %u", in->b, nconst);
			PUSH(in->op == RTR_FOP_CONST_S64	 ? T_S64
			     : in->op == RTR_FOP_CONST_U64 ? T_U64
							   : T_DBL);
			break;
		case RTR_FOP_CONST_STR:
			if (!str_ok(f->strtab, strtab_len, in->b, &slen))
				BAD("no string at table offset %u", in->b);
			PUSH(T_STR);
			break;
		case RTR_FOP_CMP: {
			int cls = in->a >> 4, op = in->a & 15;

			NEED(2);
			if (op > RTR_FCMP_GE || cls != cmp_class(s.t[d - 2], s.t[d - 1]))
				BAD("comparison %u of class %u on these operand types", op, cls);
			d -= 2;
			PUSH(T_BOOL);
			break;
		}
		case RTR_FOP_GLOB:
			NEED(2);
			if (in->a > 1 || s.t[d - 1] != T_STR || s.t[d - 2] != T_STR)
				BAD("glob needs two strings");
			d -= 2;
			PUSH(T_BOOL);
			break;
		case RTR_FOP_TO_DBL:
			NEED((int)in->a + 1);
			if (in->a > 1 || !is_int(s.t[d - 1 - in->a]) ||
			    in->b != (s.t[d - 1 - in->a] == T_U64))
				BAD("conversion of a non-integer (b: 1 for unsigned)");
			s.t[d - 1 - in->a] = T_DBL;
			break;
		case RTR_FOP_NOT:
			NEED(1);
			if (s.t[d - 1] != T_BOOL)
				BAD("not of a non-boolean");
			break;
		case RTR_FOP_INT_NZ:
			NEED(1);
			if (!is_int(s.t[d - 1]))
				BAD("test of a non-integer");
			s.t[d - 1] = T_BOOL;
			break;
		case RTR_FOP_AND:
		case RTR_FOP_OR:
			NEED(1);
			if (s.t[d - 1] != T_BOOL)
				BAD("and/or of a non-boolean");
			if (in->b <= i || in->b >= ninsn)
				BAD("jump to %u (only forward, inside the program)", in->b);
			jumps = true;
			break;
		case RTR_FOP_TRUE:
		case RTR_FOP_FALSE:
			PUSH(T_BOOL);
			break;
		default:
			BAD("unknown operation");
		}
		if ((unsigned)d > max_depth)
			max_depth = (unsigned)d;
		s.depth = (int8_t)d;
		if (jumps) {
			struct vstate *tgt = &st[in->b];

			if (tgt->depth < 0)
				*tgt = s;
			else if (!state_eq(tgt, &s))
				BAD("paths into instruction %u disagree on the stack", in->b);
			s.depth--; /* falling through pops the boolean */
		}
		if (falls) {
			struct vstate *nx = &st[i + 1];

			if (i + 1 == ninsn)
				BAD("the program can run past its end");
			if (nx->depth < 0)
				*nx = s;
			else if (!state_eq(nx, &s))
				BAD("paths into instruction %u disagree on the stack", i + 1);
		}
#undef NEED
#undef PUSH
#undef BAD
	}
done:
	free(st);
	if (r) {
		free(f);
		return r;
	}
	f->max_stack = (uint8_t)max_depth;
	f->ctx_needed = rtr_filter_ctx_needed(f);
	/* field OP constant of one numeric type: no interpreter loop. */
	if (ninsn == 4 && insn[3].op == RTR_FOP_RET && insn[2].op == RTR_FOP_CMP &&
	    (insn[2].a & 15) <= RTR_FCMP_GE) {
		static const struct {
			uint8_t load, cst, cls, kind;
		} simple[] = {{RTR_FOP_LOAD_S64, RTR_FOP_CONST_S64, C_SS, 1},
			      {RTR_FOP_LOAD_U64, RTR_FOP_CONST_U64, C_UU, 2},
			      {RTR_FOP_LOAD_DBL, RTR_FOP_CONST_DBL, C_DD, 3}};

		for (size_t k = 0; k < sizeof(simple) / sizeof(simple[0]); k++)
			if (insn[0].op == simple[k].load && insn[1].op == simple[k].cst &&
			    (insn[2].a >> 4) == simple[k].cls) {
				f->simple_kind = simple[k].kind;
				f->simple_cmp = insn[2].a & 15;
				f->simple_field = insn[0].b;
				f->simple_const = f->consts[insn[1].b];
			}
	}
	*out = f;
	return 0;
}

void rtr_filter_free(struct rtr_filter *f)
{
	free(f);
}

uint32_t rtr_filter_ctx_needed(const struct rtr_filter *f)
{
	uint32_t m = 0;

	for (unsigned i = 0; i < f->ninsn; i++)
		if (f->insn[i].op == RTR_FOP_LOAD_CTX && f->insn[i].b < 32)
			m |= 1u << f->insn[i].b;
	return m;
}

/* ------------------------------------------------------------------------
 * Running
 * ------------------------------------------------------------------------ */

bool rtr_filter_glob(const char *pat, const char *s, size_t slen)
{
	const char *star_p = NULL; /* pattern after the last '*' */
	size_t star_s = 0, i = 0;

	if (slen > RTR_FILTER_MAX_STRLEN)
		slen = RTR_FILTER_MAX_STRLEN;
	for (;;) {
		if (*pat == '*') {
			while (*pat == '*')
				pat++;
			if (!*pat)
				return true;
			star_p = pat;
			star_s = i;
			continue;
		}
		if (i == slen) {
			if (!*pat)
				return true;
		} else if (*pat) {
			const char *q = pat;
			char c = *q;

			if (c == '\\' && q[1])
				c = *++q;
			if (c == s[i]) {
				pat = q + 1;
				i++;
				continue;
			}
		}
		/* mismatch: retry after the last star one byte further */
		if (!star_p || star_s >= slen)
			return false;
		pat = star_p;
		i = ++star_s;
	}
}

static int str_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	size_t n;
	int c;

	if (al > RTR_FILTER_MAX_STRLEN)
		al = RTR_FILTER_MAX_STRLEN;
	if (bl > RTR_FILTER_MAX_STRLEN)
		bl = RTR_FILTER_MAX_STRLEN;
	n = al < bl ? al : bl;
	c = memcmp(a, b, n);
	if (c)
		return c;
	return al < bl ? -1 : al > bl ? 1 : 0;
}

static bool cmp_result(int c, unsigned op)
{
	switch (op) {
	case RTR_FCMP_EQ:
		return c == 0;
	case RTR_FCMP_NE:
		return c != 0;
	case RTR_FCMP_LT:
		return c < 0;
	case RTR_FCMP_GT:
		return c > 0;
	case RTR_FCMP_LE:
		return c <= 0;
	default:
		return c >= 0;
	}
}

#define CMP3(x, y) (((x) > (y)) - ((x) < (y)))

bool rtr_filter_inline(const struct rtr_filter *f, uint8_t *kind, uint16_t *field,
		       uint64_t *konst, uint8_t *accept)
{
	/* bit 1 + sign: 0 less, 1 equal, 2 greater; 3 unordered */
	static const uint8_t acc[] = {
	    [RTR_FCMP_EQ] = 0x2, [RTR_FCMP_NE] = 0x5 | 0x8, [RTR_FCMP_LT] = 0x1,
	    [RTR_FCMP_GT] = 0x4, [RTR_FCMP_LE] = 0x3,	     [RTR_FCMP_GE] = 0x6,
	};

	if (!f || f->simple_kind < 1 || f->simple_kind > 3 || f->ctx_needed ||
	    f->simple_cmp >= sizeof(acc))
		return false;
	*kind = f->simple_kind;
	*field = f->simple_field;
	*konst = f->simple_const;
	*accept = acc[f->simple_cmp];
	return true;
}

static bool run_vm(const struct rtr_filter *f, const union rtr_filter_val *args,
		   const struct rtr_filter_ctxvals *ctx) __attribute__((noinline));

/* `field OP constant` needs no interpreter: kept apart from it, so that
 * the common filter pays no stack frame for the interpreter's (a third of
 * a rejected event's cost when they were one function). */
bool rtr_filter_run(const struct rtr_filter *f, const union rtr_filter_val *args,
		    const struct rtr_filter_ctxvals *ctx)
{
	switch (f->simple_kind) {
	case 1: {
		int64_t v = args[f->simple_field].s, k = (int64_t)f->simple_const;

		return cmp_result(CMP3(v, k), f->simple_cmp);
	}
	case 2: {
		uint64_t v = args[f->simple_field].u, k = f->simple_const;

		return cmp_result(CMP3(v, k), f->simple_cmp);
	}
	case 3: {
		double v = args[f->simple_field].d, k;

		memcpy(&k, &f->simple_const, sizeof(k));
		/* NaN compares false except != (as in C) */
		if (v != v || k != k)
			return f->simple_cmp == RTR_FCMP_NE;
		return cmp_result(CMP3(v, k), f->simple_cmp);
	}
	default:
		return run_vm(f, args, ctx);
	}
}

static bool run_vm(const struct rtr_filter *f, const union rtr_filter_val *args,
		   const struct rtr_filter_ctxvals *ctx)
{
	union rtr_filter_val st[RTR_FILTER_MAX_STACK];
	unsigned sp = 0, pc = 0;

	for (;;) {
		const struct rtr_filter_insn *in = &f->insn[pc++];

		switch (in->op) {
		case RTR_FOP_RET:
			return st[0].s != 0;
		case RTR_FOP_LOAD_S64:
		case RTR_FOP_LOAD_U64:
		case RTR_FOP_LOAD_DBL:
		case RTR_FOP_LOAD_STR:
			st[sp++] = args[in->b];
			break;
		case RTR_FOP_LOAD_CTX:
			switch (in->b) {
			case RTR_FCTX_VPID:
				st[sp++].s = ctx ? ctx->vpid : 0;
				break;
			case RTR_FCTX_VTID:
				st[sp++].s = ctx ? ctx->vtid : 0;
				break;
			case RTR_FCTX_PTHREAD_ID:
				st[sp++].u = ctx ? ctx->pthread_id : 0;
				break;
			default:
				st[sp].str.p = ctx && ctx->procname ? ctx->procname : "";
				st[sp++].str.len = ctx && ctx->procname ? ctx->procname_len : 0;
				break;
			}
			break;
		case RTR_FOP_CONST_S64:
		case RTR_FOP_CONST_U64:
		case RTR_FOP_CONST_DBL:
			st[sp++].u = f->consts[in->b];
			break;
		case RTR_FOP_CONST_STR:
			st[sp].str.len = (size_t)(uint8_t)f->strtab[in->b] |
					 ((size_t)(uint8_t)f->strtab[in->b + 1] << 8);
			st[sp++].str.p = f->strtab + in->b + 2;
			break;
		case RTR_FOP_CMP: {
			const union rtr_filter_val *x = &st[sp - 2], *y = &st[sp - 1];
			int c;

			switch (in->a >> 4) {
			case C_SS:
				c = CMP3(x->s, y->s);
				break;
			case C_UU:
				c = CMP3(x->u, y->u);
				break;
			case C_SU:
				c = x->s < 0 ? -1 : CMP3((uint64_t)x->s, y->u);
				break;
			case C_US:
				c = y->s < 0 ? 1 : CMP3(x->u, (uint64_t)y->s);
				break;
			case C_DD:
				if (x->d != x->d || y->d != y->d) {
					sp -= 2;
					st[sp++].s = (in->a & 15) == RTR_FCMP_NE;
					continue;
				}
				c = CMP3(x->d, y->d);
				break;
			default:
				c = str_cmp(x->str.p, x->str.len, y->str.p, y->str.len);
				break;
			}
			sp -= 2;
			st[sp++].s = cmp_result(c, in->a & 15);
			break;
		}
		case RTR_FOP_GLOB: {
			bool m = rtr_filter_glob(st[sp - 1].str.p, st[sp - 2].str.p,
						 st[sp - 2].str.len);

			sp -= 2;
			st[sp++].s = in->a ? !m : m;
			break;
		}
		case RTR_FOP_TO_DBL: {
			/* the verifier knows the integer's signedness; the
			 * instruction after a signed load is encoded with
			 * b = 1 for unsigned */
			union rtr_filter_val *v = &st[sp - 1 - in->a];

			v->d = in->b ? (double)v->u : (double)v->s;
			break;
		}
		case RTR_FOP_NOT:
			st[sp - 1].s = !st[sp - 1].s;
			break;
		case RTR_FOP_INT_NZ:
			st[sp - 1].s = st[sp - 1].u != 0;
			break;
		case RTR_FOP_AND:
			if (!st[sp - 1].s)
				pc = in->b;
			else
				sp--;
			break;
		case RTR_FOP_OR:
			if (st[sp - 1].s)
				pc = in->b;
			else
				sp--;
			break;
		case RTR_FOP_TRUE:
			st[sp++].s = 1;
			break;
		default: /* RTR_FOP_FALSE (the verifier allows nothing else) */
			st[sp++].s = 0;
			break;
		}
	}
}

/* ------------------------------------------------------------------------
 * Building
 * ------------------------------------------------------------------------ */

void rtr_filter_build_init(struct rtr_filter_builder *b)
{
	memset(b, 0, sizeof(*b));
}

unsigned rtr_filter_emit(struct rtr_filter_builder *b, uint8_t op, uint8_t a, uint16_t arg)
{
	if (b->ninsn >= RTR_FILTER_MAX_INSN) {
		b->overflow = true;
		return 0;
	}
	b->insn[b->ninsn] = (struct rtr_filter_insn){op, a, arg};
	return b->ninsn++;
}

uint16_t rtr_filter_add_const(struct rtr_filter_builder *b, uint64_t v)
{
	for (unsigned i = 0; i < b->nconst; i++)
		if (b->consts[i] == v)
			return (uint16_t)i;
	if (b->nconst >= RTR_FILTER_MAX_CONST) {
		b->overflow = true;
		return 0;
	}
	b->consts[b->nconst] = v;
	return (uint16_t)b->nconst++;
}

uint16_t rtr_filter_add_str(struct rtr_filter_builder *b, const char *s, size_t len)
{
	unsigned off = b->strtab_len;

	if (len > 0xffff || RTR_FILTER_MAX_STRTAB - b->strtab_len < len + 3 || memchr(s, 0, len)) {
		b->overflow = true;
		return 0;
	}
	b->strtab[off] = (char)(len & 0xff);
	b->strtab[off + 1] = (char)(len >> 8);
	memcpy(b->strtab + off + 2, s, len);
	b->strtab[off + 2 + len] = 0;
	b->strtab_len += (unsigned)len + 3;
	return (uint16_t)off;
}

int rtr_filter_build_finish(const struct rtr_filter_builder *b, uint8_t *out, size_t cap)
{
	size_t n = HDR_SIZE + (size_t)b->nconst * 8 + (size_t)b->ninsn * 4 + b->strtab_len;
	uint8_t *q = out;

	if (b->overflow || n > cap || b->ninsn == 0)
		return -E2BIG;
	q[0] = RTR_FILTER_VERSION;
	q[1] = (uint8_t)b->nconst;
	q[2] = (uint8_t)b->ninsn;
	q[3] = (uint8_t)(b->ninsn >> 8);
	q[4] = (uint8_t)b->strtab_len;
	q[5] = (uint8_t)(b->strtab_len >> 8);
	q[6] = q[7] = 0;
	q += HDR_SIZE;
	for (unsigned i = 0; i < b->nconst; i++)
		for (int k = 0; k < 8; k++)
			*q++ = (uint8_t)(b->consts[i] >> (8 * k));
	for (unsigned i = 0; i < b->ninsn; i++) {
		*q++ = b->insn[i].op;
		*q++ = b->insn[i].a;
		*q++ = (uint8_t)b->insn[i].b;
		*q++ = (uint8_t)(b->insn[i].b >> 8);
	}
	memcpy(q, b->strtab, b->strtab_len);
	return (int)n;
}
