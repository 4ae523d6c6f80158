/* ringtrace filter expressions — parser and per-event compiler to the
 * bytecode of lib/proto/filter.h. Language: fexpr.h; design:
 * docs/design/daemon.md §4. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fexpr.h"
#include "filter.h"

#define MAX_TEXT  4095u
#define MAX_DEPTH 64 /* nesting of the parser */

enum node_kind { N_OR = 1, N_AND, N_NOT, N_CMP, N_TEST };
enum opnd_kind { O_FIELD = 1, O_CTX, O_INT, O_FLT, O_STR };

struct operand {
	enum opnd_kind kind;
	char *name; /* field; string bytes (O_STR) */
	size_t len; /* O_STR */
	bool glob;  /* O_STR: holds an unescaped '*' */
	int ctx;    /* O_CTX: enum rtr_filter_ctx */
	bool neg;   /* O_INT: the value is negative (s) */
	uint64_t u; /* O_INT magnitude / value */
	double d;
};

struct rtr_fexpr {
	enum node_kind kind;
	struct rtr_fexpr *l, *r;
	int cmp; /* enum rtr_filter_cmp */
	struct operand a, b;
};

/* ------------------------------------------------------------------------
 * Lexer
 * ------------------------------------------------------------------------ */

enum tok {
	T_END,
	T_LP,
	T_RP,
	T_NOT,
	T_AND,
	T_OR,
	T_CMP, /* value: enum rtr_filter_cmp */
	T_IDENT,
	T_CTX,
	T_INT,
	T_FLT,
	T_STR,
	T_BAD
};

struct lex {
	const char *s, *p;
	enum tok t;
	int cmp;
	char *text; /* ident / string (malloc'ed, taken by the parser) */
	size_t len;
	bool glob;
	bool neg;
	uint64_t u;
	double d;
	char *err;
	size_t errlen;
	bool failed;
	int depth;
};

static void perr(struct lex *lx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void perr(struct lex *lx, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (lx->failed)
		return;
	lx->failed = true;
	if (!lx->err || !lx->errlen)
		return;
	n = snprintf(lx->err, lx->errlen, "filter, at column %d: ", (int)(lx->p - lx->s) + 1);
	if (n < 0 || (size_t)n >= lx->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(lx->err + n, lx->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static bool ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ident_char(char c)
{
	return ident_start(c) || (c >= '0' && c <= '9');
}

static void lex_number(struct lex *lx, bool neg)
{
	const char *start = lx->p;
	char *end;
	bool flt = false;

	/* A float has '.', or an exponent outside a hex literal. */
	if (start[0] == '0' && (start[1] == 'x' || start[1] == 'X')) {
		flt = false;
	} else {
		for (const char *q = start; (*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' ||
					    *q == 'E' || ((*q == '+' || *q == '-') && q > start &&
							  (q[-1] == 'e' || q[-1] == 'E'));
		     q++)
			if (*q == '.' || *q == 'e' || *q == 'E')
				flt = true;
	}
	errno = 0;
	if (flt) {
		double d = strtod(start, &end);

		if (end == start || errno) {
			perr(lx, "bad number");
			return;
		}
		lx->t = T_FLT;
		lx->d = neg ? -d : d;
	} else {
		unsigned long long u = strtoull(start, &end, 0);

		if (end == start || errno == ERANGE) {
			perr(lx, "integer out of range or malformed");
			return;
		}
		if (neg && u > (1ull << 63)) {
			perr(lx, "negative integer out of range");
			return;
		}
		lx->t = T_INT;
		lx->u = u;
		lx->neg = neg && u != 0;
	}
	if (ident_char(*end) || *end == '.') {
		lx->p = end;
		perr(lx, "bad number");
		return;
	}
	lx->p = end;
}

static void lex_next(struct lex *lx)
{
	const char *p;

	free(lx->text);
	lx->text = NULL;
	if (lx->failed) {
		lx->t = T_BAD;
		return;
	}
	while (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' || *lx->p == '\r')
		lx->p++;
	p = lx->p;
	switch (*p) {
	case 0:
		lx->t = T_END;
		return;
	case '(':
		lx->t = T_LP;
		lx->p++;
		return;
	case ')':
		lx->t = T_RP;
		lx->p++;
		return;
	case '&':
		if (p[1] == '&') {
			lx->t = T_AND;
			lx->p += 2;
			return;
		}
		break;
	case '|':
		if (p[1] == '|') {
			lx->t = T_OR;
			lx->p += 2;
			return;
		}
		break;
	case '!':
		if (p[1] == '=') {
			lx->t = T_CMP;
			lx->cmp = RTR_FCMP_NE;
			lx->p += 2;
		} else {
			lx->t = T_NOT;
			lx->p++;
		}
		return;
	case '=':
		if (p[1] == '=') {
			lx->t = T_CMP;
			lx->cmp = RTR_FCMP_EQ;
			lx->p += 2;
			return;
		}
		break;
	case '<':
	case '>':
		lx->t = T_CMP;
		if (p[1] == '=') {
			lx->cmp = *p == '<' ? RTR_FCMP_LE : RTR_FCMP_GE;
			lx->p += 2;
		} else {
			lx->cmp = *p == '<' ? RTR_FCMP_LT : RTR_FCMP_GT;
			lx->p++;
		}
		return;
	case '"': {
		size_t cap = strlen(p) + 1, n = 0;
		char *b = malloc(cap);
		bool glob = false;

		if (!b) {
			perr(lx, "out of memory");
			lx->t = T_BAD;
			return;
		}
		for (p++;; p++) {
			if (!*p) {
				free(b);
				perr(lx, "string not terminated");
				lx->t = T_BAD;
				return;
			}
			if (*p == '"')
				break;
			if (*p == '\\') {
				p++;
				switch (*p) {
				case 'n':
					b[n++] = '\n';
					break;
				case 't':
					b[n++] = '\t';
					break;
				case '\\':
					b[n++] = '\\';
					b[n++] = '\\'; /* kept escaped for globs */
					break;
				case '"':
					b[n++] = '"';
					break;
				case '*':
					b[n++] = '\\';
					b[n++] = '*';
					break;
				default:
					free(b);
					lx->p = p;
					perr(lx, "unknown escape \\%c", *p ? *p : ' ');
					lx->t = T_BAD;
					return;
				}
				continue;
			}
			if (*p == '*')
				glob = true;
			b[n++] = *p;
		}
		b[n] = 0;
		lx->p = p + 1;
		lx->t = T_STR;
		lx->text = b;
		lx->len = n;
		lx->glob = glob;
		return;
	}
	case '$':
		if (!strncmp(p, "$ctx.", 5) && ident_start(p[5])) {
			const char *q = p + 5;

			while (ident_char(*q))
				q++;
			lx->text = strndup(p + 5, (size_t)(q - p - 5));
			lx->p = q;
			lx->t = lx->text ? T_CTX : T_BAD;
			return;
		}
		perr(lx, "expected $ctx.NAME");
		lx->t = T_BAD;
		return;
	case '-':
		if (p[1] >= '0' && p[1] <= '9') {
			lx->p++;
			lex_number(lx, true);
			if (lx->failed)
				lx->t = T_BAD;
			return;
		}
		break;
	default:
		if (*p >= '0' && *p <= '9') {
			lex_number(lx, false);
			if (lx->failed)
				lx->t = T_BAD;
			return;
		}
		if (ident_start(*p)) {
			const char *q = p;

			while (ident_char(*q))
				q++;
			lx->text = strndup(p, (size_t)(q - p));
			lx->p = q;
			lx->t = lx->text ? T_IDENT : T_BAD;
			return;
		}
		break;
	}
	perr(lx, "unexpected '%c'", *p);
	lx->t = T_BAD;
}

/* ------------------------------------------------------------------------
 * Parser
 * ------------------------------------------------------------------------ */

static void opnd_free(struct operand *o)
{
	free(o->name);
	o->name = NULL;
}

void rtr_fexpr_free(struct rtr_fexpr *e)
{
	if (!e)
		return;
	rtr_fexpr_free(e->l);
	rtr_fexpr_free(e->r);
	opnd_free(&e->a);
	opnd_free(&e->b);
	free(e);
}

static struct rtr_fexpr *node(struct lex *lx, enum node_kind k)
{
	struct rtr_fexpr *e = calloc(1, sizeof(*e));

	if (!e)
		perr(lx, "out of memory");
	else
		e->kind = k;
	return e;
}

static const struct {
	const char *name;
	int id;
} ctx_names[] = {{"vpid", RTR_FCTX_VPID},
		 {"vtid", RTR_FCTX_VTID},
		 {"procname", RTR_FCTX_PROCNAME},
		 {"pthread_id", RTR_FCTX_PTHREAD_ID}};

static bool parse_operand(struct lex *lx, struct operand *o)
{
	memset(o, 0, sizeof(*o));
	switch (lx->t) {
	case T_IDENT:
		o->kind = O_FIELD;
		o->name = lx->text;
		lx->text = NULL;
		break;
	case T_CTX:
		o->kind = O_CTX;
		for (size_t i = 0; i < sizeof(ctx_names) / sizeof(ctx_names[0]); i++)
			if (!strcmp(lx->text, ctx_names[i].name))
				o->ctx = ctx_names[i].id;
		if (!o->ctx) {
			perr(lx, "unknown context $ctx.%s (vpid, vtid, procname, pthread_id)",
			     lx->text);
			return false;
		}
		break;
	case T_INT:
		o->kind = O_INT;
		o->u = lx->u;
		o->neg = lx->neg;
		break;
	case T_FLT:
		o->kind = O_FLT;
		o->d = lx->d;
		break;
	case T_STR:
		o->kind = O_STR;
		o->name = lx->text;
		o->len = lx->len;
		o->glob = lx->glob;
		lx->text = NULL;
		break;
	default:
		if (!lx->failed)
			perr(lx, "expected a field, $ctx.NAME, a number or a string");
		return false;
	}
	lex_next(lx);
	return true;
}

static struct rtr_fexpr *parse_or(struct lex *lx);

static struct rtr_fexpr *parse_unary(struct lex *lx)
{
	struct rtr_fexpr *e;

	if (++lx->depth > MAX_DEPTH) {
		perr(lx, "expression nested too deeply");
		return NULL;
	}
	if (lx->t == T_NOT) {
		lex_next(lx);
		e = node(lx, N_NOT);
		if (e && !(e->l = parse_unary(lx))) {
			rtr_fexpr_free(e);
			e = NULL;
		}
	} else if (lx->t == T_LP) {
		lex_next(lx);
		e = parse_or(lx);
		if (e && lx->t != T_RP) {
			perr(lx, "expected ')'");
			rtr_fexpr_free(e);
			e = NULL;
		}
		if (e)
			lex_next(lx);
	} else {
		e = node(lx, N_TEST);
		if (e && !parse_operand(lx, &e->a)) {
			rtr_fexpr_free(e);
			e = NULL;
		}
		if (e && lx->t == T_CMP) {
			e->kind = N_CMP;
			e->cmp = lx->cmp;
			lex_next(lx);
			if (!parse_operand(lx, &e->b)) {
				rtr_fexpr_free(e);
				e = NULL;
			}
		}
	}
	lx->depth--;
	return e;
}

static struct rtr_fexpr *parse_bin(struct lex *lx, enum tok t, enum node_kind k,
				   struct rtr_fexpr *(*sub)(struct lex *))
{
	struct rtr_fexpr *l = sub(lx);

	while (l && lx->t == t) {
		struct rtr_fexpr *e = node(lx, k);

		lex_next(lx);
		if (!e) {
			rtr_fexpr_free(l);
			return NULL;
		}
		e->l = l;
		e->r = sub(lx);
		if (!e->r) {
			rtr_fexpr_free(e);
			return NULL;
		}
		l = e;
	}
	return l;
}

static struct rtr_fexpr *parse_and(struct lex *lx)
{
	return parse_bin(lx, T_AND, N_AND, parse_unary);
}

static struct rtr_fexpr *parse_or(struct lex *lx)
{
	return parse_bin(lx, T_OR, N_OR, parse_and);
}

int rtr_fexpr_parse(const char *text, struct rtr_fexpr **out, char *err, size_t errlen)
{
	struct lex lx = {.s = text, .p = text, .err = err, .errlen = errlen};
	struct rtr_fexpr *e;

	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	if (!text || strlen(text) > MAX_TEXT) {
		if (err && errlen)
			snprintf(err, errlen, "filter: empty or longer than %u bytes", MAX_TEXT);
		return -EINVAL;
	}
	lex_next(&lx);
	e = parse_or(&lx);
	if (e && lx.t != T_END) {
		perr(&lx, "unexpected text after the expression");
		rtr_fexpr_free(e);
		e = NULL;
	}
	free(lx.text);
	if (!e) {
		if (!lx.failed && err && errlen)
			snprintf(err, errlen, "filter: out of memory");
		return lx.failed ? -EINVAL : -ENOMEM;
	}
	*out = e;
	return 0;
}

/* ------------------------------------------------------------------------
 * Compiler
 * ------------------------------------------------------------------------ */

/* Value classes while compiling. */
enum { V_S64 = 1, V_U64, V_DBL, V_STR };

struct cc {
	struct rtr_filter_builder b;
	const struct rtr_event_desc *ev;
	char *err;
	size_t errlen;
	bool bad; /* does not apply to this event */
};

static void cfail(struct cc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void cfail(struct cc *c, const char *fmt, ...)
{
	va_list ap;

	if (c->bad)
		return;
	c->bad = true;
	if (c->err && c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
}

/* The class an operand has for this event (0: does not apply). */
static int opnd_class(struct cc *c, const struct operand *o, unsigned *field)
{
	switch (o->kind) {
	case O_FIELD:
		for (uint32_t i = 0; i < c->ev->nr_fields; i++) {
			const struct rtr_field_desc *f = &c->ev->fields[i];

			if (strcmp(f->name, o->name))
				continue;
			*field = i;
			switch (f->kind) {
			case RTR_FIELD_INTEGER:
			case RTR_FIELD_ENUM:
				return f->integer.is_signed ? V_S64 : V_U64;
			case RTR_FIELD_FLOAT:
				return V_DBL;
			case RTR_FIELD_STRING:
				return V_STR;
			default:
				cfail(c, "field %s of %s:%s is an array or sequence (not filterable)",
				      o->name, c->ev->provider, c->ev->name);
				return 0;
			}
		}
		cfail(c, "event %s:%s has no field %s", c->ev->provider, c->ev->name, o->name);
		return 0;
	case O_CTX:
		return o->ctx == RTR_FCTX_PROCNAME   ? V_STR
		       : o->ctx == RTR_FCTX_PTHREAD_ID ? V_U64
						       : V_S64;
	case O_INT:
		return o->neg || o->u <= (uint64_t)INT64_MAX ? V_S64 : V_U64;
	case O_FLT:
		return V_DBL;
	default:
		return V_STR;
	}
}

static void emit_opnd(struct cc *c, const struct operand *o, int cls, unsigned field,
		      bool as_pattern)
{
	struct rtr_filter_builder *b = &c->b;

	switch (o->kind) {
	case O_FIELD: {
		static const uint8_t op[] = {0, RTR_FOP_LOAD_S64, RTR_FOP_LOAD_U64,
					     RTR_FOP_LOAD_DBL, RTR_FOP_LOAD_STR};

		rtr_filter_emit(b, op[cls], 0, (uint16_t)field);
		break;
	}
	case O_CTX:
		rtr_filter_emit(b, RTR_FOP_LOAD_CTX, 0, (uint16_t)o->ctx);
		break;
	case O_INT:
		if (cls == V_S64) {
			int64_t v = o->neg ? (int64_t)(0 - o->u) : (int64_t)o->u;

			rtr_filter_emit(b, RTR_FOP_CONST_S64, 0,
					rtr_filter_add_const(b, (uint64_t)v));
		} else {
			rtr_filter_emit(b, RTR_FOP_CONST_U64, 0, rtr_filter_add_const(b, o->u));
		}
		break;
	case O_FLT: {
		uint64_t bits;

		memcpy(&bits, &o->d, sizeof(bits));
		rtr_filter_emit(b, RTR_FOP_CONST_DBL, 0, rtr_filter_add_const(b, bits));
		break;
	}
	default: {
		/* A plain string: escapes resolved; a pattern: kept. */
		char *s = malloc(o->len + 1);
		size_t n = 0;

		if (!s) {
			b->overflow = true;
			return;
		}
		for (size_t i = 0; i < o->len; i++) {
			if (!as_pattern && o->name[i] == '\\' && i + 1 < o->len)
				i++;
			s[n++] = o->name[i];
		}
		rtr_filter_emit(b, RTR_FOP_CONST_STR, 0, rtr_filter_add_str(b, s, n));
		free(s);
		break;
	}
	}
}

static int mirror(int cmp)
{
	switch (cmp) {
	case RTR_FCMP_LT:
		return RTR_FCMP_GT;
	case RTR_FCMP_GT:
		return RTR_FCMP_LT;
	case RTR_FCMP_LE:
		return RTR_FCMP_GE;
	case RTR_FCMP_GE:
		return RTR_FCMP_LE;
	default:
		return cmp;
	}
}

static bool is_int_cls(int c)
{
	return c == V_S64 || c == V_U64;
}

static void comp(struct cc *c, const struct rtr_fexpr *e)
{
	struct rtr_filter_builder *b = &c->b;

	if (c->bad)
		return;
	switch (e->kind) {
	case N_OR:
	case N_AND: {
		unsigned j;

		comp(c, e->l);
		j = rtr_filter_emit(b, e->kind == N_OR ? RTR_FOP_OR : RTR_FOP_AND, 0, 0);
		comp(c, e->r);
		if (!b->overflow)
			b->insn[j].b = (uint16_t)b->ninsn;
		break;
	}
	case N_NOT:
		comp(c, e->l);
		rtr_filter_emit(b, RTR_FOP_NOT, 0, 0);
		break;
	case N_TEST: {
		unsigned f = 0;
		int k = opnd_class(c, &e->a, &f);

		if (!k)
			return;
		if (k == V_STR) {
			cfail(c, "a string alone is not a condition");
			return;
		}
		emit_opnd(c, &e->a, k, f, false);
		if (k == V_DBL) {
			double z = 0;
			uint64_t bits;

			memcpy(&bits, &z, sizeof(bits));
			rtr_filter_emit(b, RTR_FOP_CONST_DBL, 0, rtr_filter_add_const(b, bits));
			rtr_filter_emit(b, RTR_FOP_CMP, (uint8_t)((4 << 4) | RTR_FCMP_NE), 0);
		} else {
			rtr_filter_emit(b, RTR_FOP_INT_NZ, 0, 0);
		}
		break;
	}
	case N_CMP: {
		const struct operand *l = &e->a, *r = &e->b;
		unsigned fl = 0, fr = 0;
		int cmp = e->cmp, kl, kr;

		/* Canonical order: a field (or context) first, so that the
		 * common `field OP constant` runs without the interpreter. */
		if ((l->kind == O_INT || l->kind == O_FLT || l->kind == O_STR) &&
		    (r->kind == O_FIELD || r->kind == O_CTX)) {
			const struct operand *t = l;

			l = r;
			r = t;
			cmp = mirror(cmp);
		}
		kl = opnd_class(c, l, &fl);
		kr = opnd_class(c, r, &fr);
		if (!kl || !kr)
			return;
		if ((kl == V_STR) != (kr == V_STR)) {
			cfail(c, "comparison of a string with a number");
			return;
		}
		if (kl == V_STR) {
			bool rglob = r->kind == O_STR && r->glob, lglob = l->kind == O_STR && l->glob;

			if ((rglob || lglob) && (cmp == RTR_FCMP_EQ || cmp == RTR_FCMP_NE)) {
				const struct operand *val = rglob ? l : r, *pat = rglob ? r : l;
				unsigned fv = rglob ? fl : fr, fp = rglob ? fr : fl;

				emit_opnd(c, val, V_STR, fv, false);
				emit_opnd(c, pat, V_STR, fp, true);
				rtr_filter_emit(b, RTR_FOP_GLOB, cmp == RTR_FCMP_NE, 0);
				break;
			}
			emit_opnd(c, l, V_STR, fl, false);
			emit_opnd(c, r, V_STR, fr, false);
			rtr_filter_emit(b, RTR_FOP_CMP, (uint8_t)((5 << 4) | cmp), 0);
			break;
		}
		if (is_int_cls(kl) && is_int_cls(kr)) {
			int cls = kl == V_S64 ? (kr == V_S64 ? 0 : 2) : (kr == V_U64 ? 1 : 3);

			/* A non-negative literal against an unsigned value
			 * compares as unsigned (the fast form). */
			if (cls == 3 && r->kind == O_INT && !r->neg) {
				kr = V_U64;
				cls = 1;
			} else if (cls == 2 && l->kind == O_INT && !l->neg) {
				kl = V_U64;
				cls = 1;
			}
			emit_opnd(c, l, kl, fl, false);
			emit_opnd(c, r, kr, fr, false);
			rtr_filter_emit(b, RTR_FOP_CMP, (uint8_t)((cls << 4) | cmp), 0);
			break;
		}
		/* double against double or integer: both as doubles; a
		 * literal integer becomes a double constant at once. */
		if (l->kind == O_INT || r->kind == O_INT) {
			const struct operand *lit = l->kind == O_INT ? l : r;
			struct operand tmp = *lit;

			tmp.kind = O_FLT;
			tmp.d = lit->neg ? -(double)lit->u : (double)lit->u;
			tmp.name = NULL;
			if (lit == l) {
				emit_opnd(c, &tmp, V_DBL, 0, false);
				emit_opnd(c, r, kr, fr, false);
				if (kr != V_DBL)
					rtr_filter_emit(b, RTR_FOP_TO_DBL, 0, kr == V_U64);
			} else {
				emit_opnd(c, l, kl, fl, false);
				if (kl != V_DBL)
					rtr_filter_emit(b, RTR_FOP_TO_DBL, 0, kl == V_U64);
				emit_opnd(c, &tmp, V_DBL, 0, false);
			}
		} else {
			emit_opnd(c, l, kl, fl, false);
			emit_opnd(c, r, kr, fr, false);
			if (kl != V_DBL)
				rtr_filter_emit(b, RTR_FOP_TO_DBL, 1, kl == V_U64);
			if (kr != V_DBL)
				rtr_filter_emit(b, RTR_FOP_TO_DBL, 0, kr == V_U64);
		}
		rtr_filter_emit(b, RTR_FOP_CMP, (uint8_t)((4 << 4) | cmp), 0);
		break;
	}
	}
}

int rtr_fexpr_compile(const struct rtr_fexpr *const *exprs, size_t n,
		      const struct rtr_event_desc *ev, uint8_t *out, size_t cap, char *err,
		      size_t errlen)
{
	struct cc *c = calloc(1, sizeof(*c));
	unsigned used = 0, jumps[64];
	int r;

	if (!c)
		return -ENOMEM;
	if (err && errlen)
		err[0] = 0;
	rtr_filter_build_init(&c->b);
	c->ev = ev;
	c->err = err;
	c->errlen = errlen;
	for (size_t i = 0; i < n && used < 64; i++) {
		struct rtr_filter_builder save = c->b;

		c->bad = false;
		if (used) /* OR with what came before */
			jumps[used - 1] = rtr_filter_emit(&c->b, RTR_FOP_OR, 0, 0);
		comp(c, exprs[i]);
		if (c->bad || c->b.overflow) {
			bool of = c->b.overflow && !c->bad;

			c->b = save; /* this one does not apply: left out */
			if (of) {
				free(c);
				return -E2BIG;
			}
			continue;
		}
		used++;
	}
	if (!used) {
		free(c);
		return 0;
	}
	for (unsigned k = 0; k + 1 < used; k++)
		c->b.insn[jumps[k]].b = (uint16_t)c->b.ninsn;
	rtr_filter_emit(&c->b, RTR_FOP_RET, 0, 0);
	r = rtr_filter_build_finish(&c->b, out, cap);
	free(c);
	return r;
}
