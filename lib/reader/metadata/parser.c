/* TSDL (CTF 1.8 metadata) recursive-descent parser: scopes of type names,
 * typealias/typedef, type blocks, trace/env/clock/stream/event blocks, into
 * the trace class model. See docs/design/reader.md ("Pipeline"). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metadata/lexer.h"
#include "metadata/metadata.h"

#define TOK_RING 32 /* >= the parser's lookahead (2) with room to spare */

struct parser {
	struct rtr__trace_class *tc;
	struct rtr_error *e;
	const char *origin;
	struct rtr__lexer lx;
	/* tokens are lexed on demand into a small ring: memory does not
	 * grow with the metadata size (a saved token is a copy) */
	struct rtr__token ring[TOK_RING];
	uint64_t pos;  /* current token's number */
	uint64_t nlex; /* tokens lexed so far */
	bool lex_err;  /* a lexing error ended the text */
	int depth;
	int rdepth; /* recursion guard of values and type specifiers */
	struct scope *scope;
	int trace_bo; /* resolved trace byte order */
	uint32_t enum_range_line;
	char enum_range_msg[200];
	uint8_t trace_attrs; /* 1 major, 2 minor, 4 byte_order: seen in the trace block */
	bool trace_seen;
	/* name lookups in O(1): type names per scope (ns = scope id << 3 |
	 * kind), struct members (S_MEMBER) and enum labels (S_LABEL,
	 * S_ULABEL) per fresh id; clocks, env keys and stream classes */
	struct rtr__strmap names, clocks, envs, scs, labels;
	uint64_t next_ns;
};

static const char *tok_desc(const struct rtr__token *t, char *buf, size_t n)
{
	switch (t->t) {
	case T_EOF:
		return "end of metadata";
	case T_IDENT:
		snprintf(buf, n, "'%s'", t->s);
		return buf;
	case T_INT:
		snprintf(buf, n, "integer %" PRIu64, t->v);
		return buf;
	case T_STRING:
		snprintf(buf, n, "string \"%.40s\"", t->s);
		return buf;
	default:
		snprintf(buf, n, "'%.*s'", (int)t->len, t->s);
		return buf;
	}
}

/* Static functions here return 0 or a negative errno (NULL for pointers),
 * the error recorded in p->e: perr_at() records one (-EINVAL, or -ENOMEM
 * for perr_oom()), FAILED(p) is the code of the one recorded. */
#define perr_at(p, line, ...)                                                                      \
	rtr__tsdl_error((p)->e, &(p)->tc->arena, (p)->origin, line, -EINVAL, __VA_ARGS__)
#define perr_oom(p, line)                                                                          \
	rtr__tsdl_error((p)->e, &(p)->tc->arena, (p)->origin, line, -ENOMEM, "out of memory")
#define PERR(p, tkp, ...) perr_at(p, (tkp)->line, __VA_ARGS__)
#define PERR_OOM(p, tkp)  perr_oom(p, (tkp)->line)
#define FAILED(p)	  ((p)->e->code ? (p)->e->code : -EINVAL)

/* ------------------------------------------------------------------ */
/* scopes of type names                                                */

enum skind { S_ALIAS = 1, S_STRUCT, S_VARIANT, S_ENUM, S_MEMBER, S_LABEL, S_ULABEL };

struct scope {
	struct scope *up;
	uint64_t id;
};

static uint64_t scope_key(uint64_t id, int kind)
{
	return id << 3 | (uint64_t)kind;
}

static struct rtr__type *scope_lookup(struct parser *p, int kind, const char *name)
{
	for (struct scope *s = p->scope; s; s = s->up) {
		uint64_t *v = rtr__strmap_get(&p->names, scope_key(s->id, kind), name);

		if (v)
			return (struct rtr__type *)(uintptr_t)*v;
	}
	return NULL;
}

static int scope_add(struct parser *p, const struct rtr__token *at, int kind, const char *name,
		     struct rtr__type *t)
{
	int r;

	if (!name)
		return PERR_OOM(p, at);
	r = rtr__strmap_put(&p->names, scope_key(p->scope->id, kind), name, (uintptr_t)t);
	if (r < 0)
		return PERR_OOM(p, at);
	if (r > 0)
		return PERR(p, at, "duplicate %s '%s' in this scope",
			    kind == S_ALIAS	? "type name"
			    : kind == S_STRUCT	? "struct"
			    : kind == S_VARIANT ? "variant"
						: "enum",
			    name);
	return 0;
}

static struct rtr__token *cur(struct parser *p);

static int scope_push(struct parser *p)
{
	struct scope *s = rtr__arena_alloc(&p->tc->arena, sizeof(*s));

	if (!s)
		return perr_oom(p, cur(p)->line);
	if (++p->depth > RTR__MAX_DEPTH)
		return perr_at(p, cur(p)->line, "types nested deeper than %d levels",
			       RTR__MAX_DEPTH);
	s->up = p->scope;
	s->id = ++p->next_ns;
	p->scope = s;
	return 0;
}

static void scope_pop(struct parser *p)
{
	p->scope = p->scope->up;
	p->depth--;
}

/* ------------------------------------------------------------------ */
/* token helpers                                                       */

/* Token pos + k, lexed on demand. A lexing error ends the text there (the
 * error is already set, and the first error is the one reported). */
static struct rtr__token *tok_at(struct parser *p, size_t k)
{
	while (p->nlex <= p->pos + k) {
		struct rtr__token *t = &p->ring[p->nlex % TOK_RING];

		if (p->lx.lex_end) {
			*t = p->ring[(p->nlex - 1) % TOK_RING]; /* the end again */
		} else if (rtr__lex_one(&p->lx, t)) {
			memset(t, 0, sizeof(*t));
			t->t = T_EOF;
			t->s = "";
			t->line = p->lx.lline;
			p->lx.lex_end = p->lex_err = true;
		}
		p->nlex++;
	}
	return &p->ring[(p->pos + k) % TOK_RING];
}

static struct rtr__token *cur(struct parser *p)
{
	return tok_at(p, 0);
}

static struct rtr__token *peek(struct parser *p, size_t k)
{
	return tok_at(p, k);
}

static void adv(struct parser *p)
{
	if (cur(p)->t != T_EOF)
		p->pos++;
}


static int expect(struct parser *p, int t, const char *what)
{
	char b[96];

	if (cur(p)->t != t)
		return PERR(p, cur(p), "expected %s, found %s", what,
			    tok_desc(cur(p), b, sizeof(b)));
	adv(p);
	return 0;
}

static bool is_tok(struct parser *p, int t)
{
	return cur(p)->t == t;
}

static bool is_kw(struct parser *p, int kw)
{
	return cur(p)->t == T_IDENT && cur(p)->kw == kw;
}

static struct rtr__type *new_type(struct parser *p, int kind)
{
	struct rtr__type *t = rtr__arena_alloc(&p->tc->arena, sizeof(*t));

	if (!t) {
		perr_oom(p, cur(p)->line);
		return NULL;
	}
	t->kind = (uint8_t)kind;
	t->clock = -1;
	t->align = 8;
	t->nops = 1;
	return t;
}

/* Adds the ops of a member or element to compound t; more than the plan
 * limit fails here, at parse time, before anything walks the expanded
 * tree (40 nested typealiases of two members each expand to 2^40 fields). */
static int add_nops(struct parser *p, struct rtr__type *t, const struct rtr__type *m,
		    const struct rtr__token *at)
{
	uint64_t n = (uint64_t)t->nops + m->nops;

	if (n > RTR__MAX_PLAN_OPS)
		return PERR(p, at, "type expands to more than %u fields", RTR__MAX_PLAN_OPS);
	t->nops = (uint32_t)n;
	return 0;
}

static struct rtr__type *copy_type(struct parser *p, const struct rtr__type *o)
{
	struct rtr__type *t = new_type(p, o->kind);

	if (t)
		*t = *o;
	return t;
}

static const char *unescape_name(const char *n)
{
	return n[0] == '_' ? n + 1 : n;
}

/* ------------------------------------------------------------------ */
/* expressions (attribute values)                                      */

enum vkind { V_NONE, V_INT, V_STRING, V_PATH, V_CHAR };

struct value {
	int kind;
	bool neg;      /* integer had a unary minus */
	uint64_t u;    /* magnitude */
	const char *s; /* string or dotted path */
	uint32_t slen;
	uint32_t line;
	bool path_has_kw; /* path is a single keyword */
	bool path_is_type;
};

static bool tok_is_word(const struct rtr__token *t)
{
	return t->t == T_IDENT;
}

static int parse_value1(struct parser *p, struct value *v);

/* unary-expression: [+-] INT | STRING | CHAR | path (a.b.c, a->b, x[3]) */
static int parse_value(struct parser *p, struct value *v)
{
	int r;

	if (++p->rdepth > 4 * RTR__MAX_DEPTH) {
		p->rdepth--;
		return PERR(p, cur(p), "expression nested too deeply");
	}
	r = parse_value1(p, v);
	p->rdepth--;
	return r;
}

static int parse_value1(struct parser *p, struct value *v)
{
	struct rtr__token *t = cur(p);
	char b[96];

	memset(v, 0, sizeof(*v));
	v->line = t->line;
	if (t->t == T_MINUS || t->t == T_PLUS) {
		bool neg = t->t == T_MINUS;

		adv(p);
		t = cur(p);
		if (t->t != T_INT)
			return PERR(p, t, "expected integer after sign, found %s",
				    tok_desc(t, b, sizeof(b)));
		if (t->ovf)
			return PERR(p, t, "integer literal '%.*s' out of range", (int)t->len, t->s);
		v->kind = V_INT;
		v->neg = neg && t->v != 0;
		v->u = t->v;
		adv(p);
		return 0;
	}
	if (t->t == T_INT) {
		if (t->ovf)
			return PERR(p, t, "integer literal '%.*s' out of range", (int)t->len, t->s);
		v->kind = V_INT;
		v->u = t->v;
		adv(p);
		return 0;
	}
	if (t->t == T_STRING) {
		v->kind = V_STRING;
		v->s = t->s;
		v->slen = t->len;
		adv(p);
		return 0;
	}
	if (t->t == T_CHAR) {
		v->kind = V_INT;
		v->u = t->v;
		adv(p);
		return 0;
	}
	if (t->t == T_LPAREN) {
		adv(p);
		if (parse_value(p, v) || expect(p, T_RPAREN, "')'"))
			return FAILED(p);
		return 0;
	}
	if (tok_is_word(t)) {
		/* path */
		char buf[1024];
		size_t n = 0;
		int parts = 0;

		v->path_has_kw = t->kw != KW_NONE;
		v->path_is_type = t->kw == KW_NONE && scope_lookup(p, S_ALIAS, t->s) != NULL;
		while (1) {
			t = cur(p);
			if (!tok_is_word(t))
				return PERR(p, t, "expected identifier in path, found %s",
					    tok_desc(t, b, sizeof(b)));
			if (n + t->len + 2 >= sizeof(buf))
				return PERR(p, t, "path too long");
			if (parts++)
				buf[n++] = '.';
			memcpy(buf + n, t->s, t->len);
			n += t->len;
			adv(p);
			if (is_tok(p, T_DOT) || is_tok(p, T_ARROW)) {
				adv(p);
				continue;
			}
			if (is_tok(p, T_LBRACK)) {
				/* array subscript in a path: keep as text */
				struct value iv;

				adv(p);
				if (parse_value(p, &iv))
					return FAILED(p);
				if (expect(p, T_RBRACK, "']'"))
					return FAILED(p);
				if (iv.kind != V_INT)
					return PERR(p, cur(p), "subscript must be an integer");
				n += (size_t)snprintf(buf + n, sizeof(buf) - n, "[%" PRIu64 "]",
						      iv.u);
				if (n >= sizeof(buf))
					return PERR(p, cur(p), "path too long");
				if (is_tok(p, T_DOT) || is_tok(p, T_ARROW)) {
					adv(p);
					continue;
				}
			}
			break;
		}
		if (parts > 1)
			v->path_has_kw = false;
		v->kind = V_PATH;
		v->s = rtr__arena_strndup(&p->tc->arena, buf, n);
		v->slen = (uint32_t)n;
		if (!v->s)
			return PERR_OOM(p, t);
		return 0;
	}
	return PERR(p, t, "expected a value, found %s", tok_desc(t, b, sizeof(b)));
}

/* Left side of an assignment: dotted words, keywords allowed. */
static int parse_lhs(struct parser *p, char *buf, size_t sz)
{
	size_t n = 0;
	char b[96];

	while (1) {
		struct rtr__token *t = cur(p);

		if (!tok_is_word(t))
			return PERR(p, t, "expected attribute name, found %s",
				    tok_desc(t, b, sizeof(b)));
		if (n + t->len + 2 >= sz)
			return PERR(p, t, "attribute name too long");
		if (n)
			buf[n++] = '.';
		memcpy(buf + n, t->s, t->len);
		n += t->len;
		buf[n] = 0;
		adv(p);
		if (!is_tok(p, T_DOT))
			return 0;
		adv(p);
	}
}

static int get_uint(struct parser *p, const struct value *v, const char *what, uint64_t *out)
{
	*out = 0;
	if (v->kind != V_INT || v->neg)
		return perr_at(p, v->line, "invalid '%s': expecting an unsigned integer constant",
			       what);
	*out = v->u;
	return 0;
}

static int get_int(struct parser *p, const struct value *v, const char *what, int64_t *out)
{
	*out = 0;
	if (v->kind != V_INT)
		return perr_at(p, v->line, "invalid '%s': expecting an integer constant", what);
	if (v->neg) {
		if (v->u > (uint64_t)INT64_MAX + 1)
			return perr_at(p, v->line, "'%s' out of range", what);
		*out = (int64_t)(0 - v->u);
	} else {
		if (v->u > (uint64_t)INT64_MAX)
			return perr_at(p, v->line, "'%s' out of range", what);
		*out = (int64_t)v->u;
	}
	return 0;
}

static int get_bool(struct parser *p, const struct value *v, const char *what, bool *out)
{
	if (v->kind == V_INT && !v->neg && v->u <= 1) {
		*out = v->u == 1;
		return 0;
	}
	if (v->kind == V_PATH) {
		if (!strcmp(v->s, "true") || !strcmp(v->s, "TRUE")) {
			*out = true;
			return 0;
		}
		if (!strcmp(v->s, "false") || !strcmp(v->s, "FALSE")) {
			*out = false;
			return 0;
		}
	}
	return perr_at(p, v->line, "invalid boolean for '%s'", what);
}

static int get_bo(struct parser *p, const struct value *v, int *out, bool allow_native)
{
	if (v->kind == V_PATH) {
		if (!strcmp(v->s, "le")) {
			*out = RTR__BO_LE;
			return 0;
		}
		if (!strcmp(v->s, "be") || !strcmp(v->s, "network")) {
			*out = RTR__BO_BE;
			return 0;
		}
		if (allow_native && !strcmp(v->s, "native")) {
			*out = p->trace_bo;
			return 0;
		}
	}
	return perr_at(p, v->line, "invalid byte_order: expecting le, be, network%s",
		       allow_native ? " or native" : "");
}

static int parse_uuid(struct parser *p, const struct value *v, uint8_t *u)
{
	const char *s = v->s;
	int k = 0;

	if (v->kind != V_STRING || v->slen != 36)
		goto bad;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				goto bad;
			continue;
		}
		if (rtr__hexval(s[i]) < 0 || rtr__hexval(s[i + 1]) < 0)
			goto bad;
		u[k++] = (uint8_t)(rtr__hexval(s[i]) * 16 + rtr__hexval(s[i + 1]));
		i++;
	}
	return 0;
bad:
	return perr_at(p, v->line,
		       "invalid UUID: expecting \"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\"");
}

/* ------------------------------------------------------------------ */
/* type specifiers                                                     */

static struct rtr__type *parse_type_spec(struct parser *p);
static int parse_declarator(struct parser *p, struct rtr__type *base, struct rtr__type **out,
			    const char **name, struct rtr__token *name_tok, bool abstract);
static int parse_typealias(struct parser *p);
static int parse_typedef(struct parser *p);

static int find_clock(struct parser *p, const char *name)
{
	uint64_t *v = rtr__strmap_get(&p->clocks, 0, name);

	return v ? (int)*v : -1;
}

/* One `name = value;` of an integer, floating_point or string block. */
static int parse_attr(struct parser *p, char *name, size_t cap, struct value *v)
{
	if (parse_lhs(p, name, cap) || expect(p, T_EQ, "'='") || parse_value(p, v) ||
	    expect(p, T_SEMI, "';'"))
		return FAILED(p);
	return 0;
}

static struct rtr__type *parse_integer(struct parser *p)
{
	struct rtr__type *t = new_type(p, TK_INT);
	bool has_size = false, has_align = false;
	uint32_t line = cur(p)->line;

	if (!t)
		return NULL;
	t->bo = (uint8_t)p->trace_bo;
	t->base = 10;
	if (expect(p, T_LBRACE, "'{' after 'integer'"))
		return NULL;
	while (!is_tok(p, T_RBRACE)) {
		char name[256];
		struct value v;
		uint64_t u;

		if (parse_attr(p, name, sizeof(name), &v))
			return NULL;
		if (!strcmp(name, "size")) {
			if (get_uint(p, &v, "size", &u))
				return NULL;
			if (u == 0 || u > 64) {
				perr_at(p, v.line,
					"invalid integer size %" PRIu64 ": expecting 1 to 64", u);
				return NULL;
			}
			t->size = (uint8_t)u;
			has_size = true;
		} else if (!strcmp(name, "align")) {
			if (get_uint(p, &v, "align", &u))
				return NULL;
			if (u == 0 || (u & (u - 1)) || u > (1u << 30)) {
				perr_at(p, v.line,
					"invalid align %" PRIu64 ": expecting a power of two", u);
				return NULL;
			}
			t->align = (uint32_t)u;
			has_align = true;
		} else if (!strcmp(name, "signed")) {
			bool b;

			if (get_bool(p, &v, "signed", &b))
				return NULL;
			t->sign = b;
		} else if (!strcmp(name, "byte_order")) {
			int bo;

			if (get_bo(p, &v, &bo, true))
				return NULL;
			t->bo = (uint8_t)bo;
		} else if (!strcmp(name, "base")) {
			if (v.kind == V_INT && !v.neg &&
			    (v.u == 2 || v.u == 8 || v.u == 10 || v.u == 16)) {
				t->base = (uint8_t)v.u;
			} else if (v.kind == V_PATH) {
				const char *s = v.s;

				if (!strcmp(s, "decimal") || !strcmp(s, "dec") || !strcmp(s, "d") ||
				    !strcmp(s, "i") || !strcmp(s, "u"))
					t->base = 10;
				else if (!strcmp(s, "hexadecimal") || !strcmp(s, "hex") ||
					 !strcmp(s, "x") || !strcmp(s, "X") || !strcmp(s, "p"))
					t->base = 16;
				else if (!strcmp(s, "octal") || !strcmp(s, "oct") ||
					 !strcmp(s, "o"))
					t->base = 8;
				else if (!strcmp(s, "binary") || !strcmp(s, "b"))
					t->base = 2;
				else
					goto badbase;
			} else {
			badbase:
				perr_at(
				    p, v.line,
				    "invalid integer base: expecting 2, 8, 10, 16 or a base name");
				return NULL;
			}
		} else if (!strcmp(name, "encoding")) {
			if (v.kind != V_PATH) {
				perr_at(p, v.line,
					"invalid encoding: expecting none, UTF8 or ASCII");
				return NULL;
			}
			if (!strcasecmp(v.s, "none"))
				t->encoding = RTR__ENC_NONE;
			else if (!strcasecmp(v.s, "UTF8"))
				t->encoding = RTR__ENC_UTF8;
			else if (!strcasecmp(v.s, "ASCII"))
				t->encoding = RTR__ENC_ASCII;
			else {
				perr_at(p, v.line,
					"invalid encoding '%s': expecting none, UTF8 or ASCII",
					v.s);
				return NULL;
			}
		} else if (!strcmp(name, "map")) {
			/* clock.NAME.value */
			size_t l;

			if (v.kind != V_PATH || strncmp(v.s, "clock.", 6) ||
			    (l = strlen(v.s)) < 13 || strcmp(v.s + l - 6, ".value")) {
				perr_at(p, v.line, "invalid map: expecting clock.NAME.value");
				return NULL;
			}
			t->clock_name = rtr__arena_strndup(&p->tc->arena, v.s + 6, l - 12);
			if (!t->clock_name)
				return NULL;
			t->clock = find_clock(p, t->clock_name);
			/* unknown clock: babeltrace2 ignores the mapping */
		} else {
			/* unknown attribute: ignored (babeltrace2 warns) */
		}
	}
	adv(p);
	if (!has_size) {
		perr_at(p, line, "integer without 'size'");
		return NULL;
	}
	if (!has_align)
		t->align = (t->size % 8) ? 1 : 8;
	return t;
}

static struct rtr__type *parse_float(struct parser *p)
{
	struct rtr__type *t = new_type(p, TK_FLOAT);
	bool has_align = false;
	uint32_t line = cur(p)->line;

	if (!t)
		return NULL;
	t->bo = (uint8_t)p->trace_bo;
	if (expect(p, T_LBRACE, "'{' after 'floating_point'"))
		return NULL;
	while (!is_tok(p, T_RBRACE)) {
		char name[256];
		struct value v;
		uint64_t u;

		if (parse_attr(p, name, sizeof(name), &v))
			return NULL;
		if (!strcmp(name, "exp_dig")) {
			if (get_uint(p, &v, "exp_dig", &u))
				return NULL;
			t->exp_dig = (uint8_t)(u > 255 ? 255 : u);
		} else if (!strcmp(name, "mant_dig")) {
			if (get_uint(p, &v, "mant_dig", &u))
				return NULL;
			t->mant_dig = (uint8_t)(u > 255 ? 255 : u);
		} else if (!strcmp(name, "align")) {
			if (get_uint(p, &v, "align", &u))
				return NULL;
			if (u == 0 || (u & (u - 1)) || u > (1u << 30)) {
				perr_at(p, v.line, "invalid align: expecting a power of two");
				return NULL;
			}
			t->align = (uint32_t)u;
			has_align = true;
		} else if (!strcmp(name, "byte_order")) {
			int bo;

			if (get_bo(p, &v, &bo, true))
				return NULL;
			t->bo = (uint8_t)bo;
		}
	}
	adv(p);
	if (t->exp_dig == 8 && t->mant_dig == 24)
		t->size = 32;
	else if (t->exp_dig == 11 && t->mant_dig == 53)
		t->size = 64;
	else {
		perr_at(p, line,
			"unsupported floating point type (exp_dig=%u, mant_dig=%u): expecting 8/24 "
			"or 11/53",
			t->exp_dig, t->mant_dig);
		return NULL;
	}
	if (!has_align)
		t->align = 8;
	return t;
}

static struct rtr__type *parse_string_type(struct parser *p)
{
	struct rtr__type *t = new_type(p, TK_STRING);

	if (!t)
		return NULL;
	t->encoding = RTR__ENC_UTF8;
	if (!is_tok(p, T_LBRACE))
		return t;
	adv(p);
	while (!is_tok(p, T_RBRACE)) {
		char name[256];
		struct value v;

		if (parse_attr(p, name, sizeof(name), &v))
			return NULL;
		if (!strcmp(name, "encoding")) {
			if (v.kind != V_PATH ||
			    (strcasecmp(v.s, "UTF8") && strcasecmp(v.s, "ASCII") &&
			     strcasecmp(v.s, "none"))) {
				perr_at(p, v.line,
					"invalid string encoding: expecting UTF8 or ASCII");
				return NULL;
			}
			t->encoding = strcasecmp(v.s, "ASCII") ? RTR__ENC_UTF8 : RTR__ENC_ASCII;
		}
	}
	adv(p);
	return t;
}

/* Members of a struct or options of a variant, until '}'. */

/* Index of member 'name' of t (namespace mns), or -1. */
static int64_t member_find(struct parser *p, const struct rtr__type *t, uint64_t mns,
			   const char *name)
{
	const uint64_t *v;

	if (t->n <= RTR__SMALL_STRUCT) {
		for (uint32_t k = 0; k < t->n; k++)
			if (!strcmp(t->m[k].orig, name))
				return k;
		return FAILED(p);
	}
	v = rtr__strmap_get(&p->names, scope_key(mns, S_MEMBER), name);
	return v ? (int64_t)*v : -1;
}

/* Checks that 'name' is new in t, before it becomes member t->n: 0, 1
 * when it is a duplicate, -1 out of memory. */
static int member_add(struct parser *p, const struct rtr__type *t, uint64_t mns, const char *name)
{
	if (member_find(p, t, mns, name) >= 0)
		return 1;
	if (t->n == RTR__SMALL_STRUCT) /* growing past small: index the first ones */
		for (uint32_t k = 0; k < t->n; k++)
			if (rtr__strmap_put(&p->names, scope_key(mns, S_MEMBER), t->m[k].orig,
					    k) < 0)
				return FAILED(p);
	if (t->n >= RTR__SMALL_STRUCT &&
	    rtr__strmap_put(&p->names, scope_key(mns, S_MEMBER), name, t->n) < 0)
		return FAILED(p);
	return 0;
}

/* Members of a struct or options of a variant; *mns receives the
 * namespace of their names in p->names (S_MEMBER), member index + 1. */
static int parse_members(struct parser *p, struct rtr__type *t, bool variant, uint64_t *mns)
{
	size_t cap = 0;

	*mns = ++p->next_ns;

	while (!is_tok(p, T_RBRACE)) {
		struct rtr__type *base;

		if (is_kw(p, KW_TYPEALIAS)) {
			if (parse_typealias(p))
				return FAILED(p);
			continue;
		}
		if (is_kw(p, KW_TYPEDEF)) {
			if (parse_typedef(p))
				return FAILED(p);
			continue;
		}
		if (is_tok(p, T_EOF))
			return PERR(p, cur(p), "unexpected end of metadata in %s",
				    variant ? "variant" : "struct");
		base = parse_type_spec(p);
		if (!base)
			return FAILED(p);
		if (is_tok(p, T_SEMI)) { /* type definition only */
			adv(p);
			continue;
		}
		while (1) {
			struct rtr__type *ft;
			const char *name;
			struct rtr__token ntk, *nt = &ntk;

			if (parse_declarator(p, base, &ft, &name, nt, false))
				return FAILED(p);
			switch (member_add(p, t, *mns, name)) {
			case 0:
				break;
			case 1:
				return PERR(p, nt, "duplicate %s '%s'",
					    variant ? "variant option" : "struct member", name);
			default:
				return PERR_OOM(p, nt);
			}
			if (t->n == cap) {
				size_t nc = cap ? cap * 2 : 8;
				struct rtr__member *nm =
				    rtr__arena_alloc(&p->tc->arena, nc * sizeof(*nm));

				if (!nm)
					return PERR_OOM(p, nt);
				if (t->n)
					memcpy(nm, t->m, t->n * sizeof(*nm));
				t->m = nm;
				cap = nc;
			}
			if (add_nops(p, t, ft, nt))
				return FAILED(p);
			t->m[t->n].orig = name;
			t->m[t->n].name = unescape_name(name);
			t->m[t->n].t = ft;
			t->n++;
			if (is_tok(p, T_COMMA)) {
				adv(p);
				continue;
			}
			break;
		}
		if (expect(p, T_SEMI, "';' after member"))
			return FAILED(p);
	}
	adv(p);
	return 0;
}

static uint32_t compound_align(const struct rtr__type *t)
{
	uint32_t a = 1;

	for (uint32_t i = 0; i < t->n; i++) {
		const struct rtr__type *m = t->m[i].t;
		uint32_t ma;

		if (m->kind == TK_VARIANT)
			continue; /* aligned to the selected option */
		ma = m->align;
		if (ma > a)
			a = ma;
	}
	return a;
}

/* Early check of variants whose tag is an earlier member of the same
 * struct: the tag must be an enumeration and every option must be
 * selectable by one of its labels (CTF 1.8 §4.2.2). Plans check the
 * other variants when they are compiled. */
/* Labels of enum tag in p->labels, once per enum type: as written
 * (ns = tag << 2) and without a leading '_' (ns = tag << 2 | 1). */
static int index_labels(struct parser *p, const struct rtr__type *tag, uint64_t *ns)
{
	*ns = (uint64_t)(uintptr_t)tag << 2;
	if (rtr__strmap_get(&p->labels, *ns | 2, ""))
		return 0;
	for (uint32_t k = 0; k < tag->n; k++) {
		const char *l = tag->r[k].label;

		if (rtr__strmap_put(&p->labels, *ns, l, k) < 0 ||
		    rtr__strmap_put(&p->labels, *ns | 1, l[0] == '_' ? l + 1 : l, k) < 0)
			return FAILED(p);
	}
	return rtr__strmap_put(&p->labels, *ns | 2, "", 0) < 0 ? -1 : 0;
}

static int check_variants(struct parser *p, const struct rtr__type *st, uint64_t mns,
			  uint32_t line)
{
	for (uint32_t i = 0; i < st->n; i++) {
		const struct rtr__type *v = st->m[i].t;
		const struct rtr__type *tag;
		int64_t j;
		uint64_t ns;

		while (v->kind == TK_ARRAY || v->kind == TK_SEQ)
			v = v->elem;
		if (v->kind != TK_VARIANT || !v->path || strchr(v->path, '.'))
			continue;
		j = member_find(p, st, mns, v->path);
		if (j < 0 || j >= i)
			continue;
		tag = st->m[j].t;
		if (tag->kind != TK_ENUM)
			return perr_at(p, line, "variant '%s': tag '%s' is not an enumeration",
				       st->m[i].orig, v->path);
		if (index_labels(p, tag, &ns))
			return perr_oom(p, line);
		for (uint32_t o = 0; o < v->n; o++) {
			/* an option is selected by a label equal to its
			 * written name, its name, or its name once the
			 * label's leading '_' is dropped */
			if (!rtr__strmap_get(&p->labels, ns, v->m[o].orig) &&
			    !rtr__strmap_get(&p->labels, ns, v->m[o].name) &&
			    !rtr__strmap_get(&p->labels, ns | 1, v->m[o].name))
				return perr_at(
				    p, line,
				    "variant '%s': option '%s' matches no label of tag '%s'",
				    st->m[i].orig, v->m[o].orig, v->path);
		}
	}
	return 0;
}

/* `struct NAME`, `variant NAME`, `enum NAME` without a body: the type
 * declared earlier under that name (nt is the name's token, or NULL). */
static const struct rtr__type *lookup_named(struct parser *p, int scope, const char *kind,
					    const char *name, const struct rtr__token *nt)
{
	const struct rtr__type *o;

	if (!name) {
		PERR(p, cur(p), "expected %s name or '{'", kind);
		return NULL;
	}
	o = scope_lookup(p, scope, name);
	if (!o)
		PERR(p, nt, "unknown %s '%s'", kind, name);
	return o;
}

static struct rtr__type *parse_struct(struct parser *p)
{
	const char *name = NULL;
	struct rtr__token ntk;
	const struct rtr__token *nt = NULL;
	struct rtr__type *t;
	uint64_t mns;

	if (cur(p)->t == T_IDENT && cur(p)->kw == KW_NONE) {
		ntk = *cur(p);
		nt = &ntk;
		name = nt->s;
		adv(p);
	}
	if (!is_tok(p, T_LBRACE)) {
		const struct rtr__type *o = lookup_named(p, S_STRUCT, "struct", name, nt);

		if (!o)
			return NULL;
		return (struct rtr__type *)o;
	}
	adv(p);
	t = new_type(p, TK_STRUCT);
	if (!t || scope_push(p))
		return NULL;
	if (parse_members(p, t, false, &mns)) {
		scope_pop(p);
		return NULL;
	}
	scope_pop(p);
	if (check_variants(p, t, mns, nt ? nt->line : cur(p)->line))
		return NULL;
	t->align = compound_align(t);
	if (is_kw(p, KW_ALIGN)) {
		struct value v;
		uint64_t u;

		adv(p);
		if (expect(p, T_LPAREN, "'(' after align") || parse_value(p, &v) ||
		    expect(p, T_RPAREN, "')'"))
			return NULL;
		if (get_uint(p, &v, "align", &u))
			return NULL;
		if (u == 0 || (u & (u - 1)) || u > (1u << 30)) {
			perr_at(p, v.line, "invalid struct align: expecting a power of two");
			return NULL;
		}
		if (u > t->align)
			t->align = (uint32_t)u;
	}
	if (name && scope_add(p, nt, S_STRUCT, name, t))
		return NULL;
	return t;
}

static struct rtr__type *parse_variant(struct parser *p)
{
	const char *name = NULL, *tag = NULL;
	struct rtr__token ntk;
	const struct rtr__token *nt = NULL;
	uint64_t mns;
	struct rtr__type *t;

	if (cur(p)->t == T_IDENT && cur(p)->kw == KW_NONE) {
		ntk = *cur(p);
		nt = &ntk;
		name = nt->s;
		adv(p);
	}
	if (is_tok(p, T_LT)) {
		struct value v;

		adv(p);
		if (cur(p)->t != T_IDENT || (cur(p)->kw != KW_NONE && peek(p, 1)->t != T_DOT)) {
			char b[96];

			PERR(p, cur(p), "expected variant tag field name, found %s",
			     tok_desc(cur(p), b, sizeof(b)));
			return NULL;
		}
		if (parse_value(p, &v))
			return NULL;
		if (v.kind != V_PATH || v.path_is_type) {
			perr_at(p, v.line, "invalid variant tag");
			return NULL;
		}
		tag = v.s;
		if (expect(p, T_GT, "'>' after variant tag"))
			return NULL;
	}
	if (!is_tok(p, T_LBRACE)) {
		const struct rtr__type *o = lookup_named(p, S_VARIANT, "variant", name, nt);

		if (!o)
			return NULL;
		if (!tag)
			return (struct rtr__type *)o;
		if (o->path) {
			PERR(p, nt, "variant '%s' already has a tag", name);
			return NULL;
		}
		t = copy_type(p, o);
		if (t)
			t->path = tag;
		return t;
	}
	adv(p);
	t = new_type(p, TK_VARIANT);
	if (!t || scope_push(p))
		return NULL;
	if (parse_members(p, t, true, &mns)) {
		scope_pop(p);
		return NULL;
	}
	scope_pop(p);
	t->path = tag;
	t->align = 1;
	if (name) {
		struct rtr__type *def = t;

		if (tag) { /* register the untagged definition */
			def = copy_type(p, t);
			if (!def)
				return NULL;
			def->path = NULL;
		}
		if (scope_add(p, nt, S_VARIANT, name, def))
			return NULL;
	}
	return t;
}

static bool range_fits(const struct rtr__type *c, bool neg, uint64_t mag)
{
	if (c->sign) {
		uint64_t lim =
		    c->size == 64 ? (uint64_t)INT64_MAX : ((uint64_t)1 << (c->size - 1)) - 1;

		return neg ? mag <= lim + 1 : mag <= lim;
	}
	if (neg)
		return false;
	return c->size == 64 || mag <= (((uint64_t)1 << c->size) - 1);
}

static struct rtr__type *parse_enum(struct parser *p)
{
	const char *name = NULL;
	struct rtr__token ntk, atk = *cur(p);
	const struct rtr__token *nt = NULL, *at = &atk;
	const struct rtr__type *ct = NULL;
	struct rtr__type *t;
	size_t cap = 0;
	bool next_neg = false;
	uint64_t next_mag = 0;

	if (cur(p)->t == T_IDENT && cur(p)->kw == KW_NONE) {
		ntk = *cur(p);
		nt = &ntk;
		name = nt->s;
		adv(p);
	}
	if (is_tok(p, T_COLON)) {
		adv(p);
		ct = parse_type_spec(p);
		if (!ct)
			return NULL;
	}
	if (!is_tok(p, T_LBRACE)) {
		const struct rtr__type *o = lookup_named(p, S_ENUM, "enum", name, nt);

		if (!o)
			return NULL;
		return (struct rtr__type *)o;
	}
	adv(p);
	if (!ct) {
		ct = scope_lookup(p, S_ALIAS, "int");
		if (!ct) {
			PERR(p, at, "enum without container type and no 'int' type declared");
			return NULL;
		}
	}
	if (ct->kind != TK_INT) {
		PERR(p, at, "enum container type is not an integer");
		return NULL;
	}
	t = copy_type(p, ct);
	if (!t)
		return NULL;
	t->kind = TK_ENUM;
	t->n = 0;
	t->r = NULL;
	if (is_tok(p, T_RBRACE)) {
		PERR(p, cur(p), "empty enum");
		return NULL;
	}
	while (!is_tok(p, T_RBRACE)) {
		struct rtr__token ltk = *cur(p), *lt = &ltk;
		const char *label;
		bool lneg = next_neg, hneg;
		uint64_t lmag = next_mag, hmag;
		char b[96];

		if (lt->t == T_STRING || lt->t == T_IDENT) {
			label = lt->s;
		} else {
			PERR(p, lt, "expected enumerator label, found %s",
			     tok_desc(lt, b, sizeof(b)));
			return NULL;
		}
		adv(p);
		if (is_tok(p, T_EQ)) {
			struct value v;

			adv(p);
			if (parse_value(p, &v))
				return NULL;
			if (v.kind != V_INT) {
				perr_at(p, v.line, "enumerator value must be an integer");
				return NULL;
			}
			lneg = v.neg;
			lmag = v.u;
			hneg = lneg;
			hmag = lmag;
			if (is_tok(p, T_ELLIPSIS)) {
				adv(p);
				if (parse_value(p, &v))
					return NULL;
				if (v.kind != V_INT) {
					perr_at(p, v.line, "enumerator value must be an integer");
					return NULL;
				}
				hneg = v.neg;
				hmag = v.u;
			}
		} else {
			hneg = lneg;
			hmag = lmag;
		}
		if ((!range_fits(t, lneg, lmag) || !range_fits(t, hneg, hmag)) &&
		    !p->enum_range_line) {
			/* CTF 1.8 forbids it, but LTTng-UST 2.13 writes such
			 * enums (a u8 container with a 1000000 value): the
			 * verdict is given once the tracer is known */
			p->enum_range_line = lt->line;
			snprintf(
			    p->enum_range_msg, sizeof(p->enum_range_msg),
			    "enumerator '%s' value out of the range of its %u-bit %s container",
			    label, t->size, t->sign ? "signed" : "unsigned");
		}
		/* next value = high + 1 */
		if (hneg) {
			next_neg = hmag > 1;
			next_mag = hmag - 1;
		} else {
			next_neg = false;
			next_mag = hmag + 1;
			if (hmag == UINT64_MAX)
				next_mag = hmag; /* wrap: keep (checked on use) */
		}
		if (t->n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct rtr__enum_range *nr =
			    rtr__arena_alloc(&p->tc->arena, nc * sizeof(*nr));

			if (!nr)
				return NULL;
			if (t->n)
				memcpy(nr, t->r, t->n * sizeof(*nr));
			t->r = nr;
			cap = nc;
		}
		t->r[t->n].label = label;
		t->r[t->n].lo = lneg ? (uint64_t)0 - lmag : lmag;
		t->r[t->n].hi = hneg ? (uint64_t)0 - hmag : hmag;
		if (t->sign ? (int64_t)t->r[t->n].lo > (int64_t)t->r[t->n].hi
			    : t->r[t->n].lo > t->r[t->n].hi) {
			uint64_t x = t->r[t->n].lo;

			t->r[t->n].lo = t->r[t->n].hi;
			t->r[t->n].hi = x;
		}
		t->n++;
		if (is_tok(p, T_COMMA)) {
			adv(p);
			continue;
		}
		if (!is_tok(p, T_RBRACE)) {
			PERR(p, cur(p), "expected ',' or '}' in enum, found %s",
			     tok_desc(cur(p), b, sizeof(b)));
			return NULL;
		}
	}
	adv(p);
	if (rtr__enum_ix_build(t, &p->tc->arena)) {
		PERR_OOM(p, at);
		return NULL;
	}
	if (name && scope_add(p, nt, S_ENUM, name, t))
		return NULL;
	return t;
}

static bool is_basic_kw(int kw)
{
	switch (kw) {
	case KW_CONST:
	case KW_CHAR:
	case KW_DOUBLE:
	case KW_FLOAT:
	case KW_INT:
	case KW_LONG:
	case KW_SHORT:
	case KW_SIGNED:
	case KW_UNSIGNED:
	case KW_VOID:
	case KW_BOOL:
	case KW_COMPLEX:
	case KW_IMAGINARY:
		return true;
	default:
		return false;
	}
}

/* Reads a specifier made of basic keywords and/or one type name into buf.
 * Returns number of words, 0 if none. */
static int read_type_name(struct parser *p, char *buf, size_t sz)
{
	size_t n = 0;
	int words = 0;
	bool named = false;

	buf[0] = 0;
	while (cur(p)->t == T_IDENT) {
		struct rtr__token *t = cur(p);

		if (t->kw == KW_CONST) {
			adv(p);
			continue;
		}
		if (is_basic_kw(t->kw)) {
			if (named)
				break;
		} else if (t->kw == KW_NONE && !named && words == 0 &&
			   scope_lookup(p, S_ALIAS, t->s)) {
			named = true;
		} else {
			break;
		}
		if (n + t->len + 2 >= sz)
			break;
		if (n)
			buf[n++] = ' ';
		memcpy(buf + n, t->s, t->len);
		n += t->len;
		buf[n] = 0;
		words++;
		adv(p);
		if (named)
			break;
	}
	return words;
}

static struct rtr__type *parse_type_spec1(struct parser *p);

static struct rtr__type *parse_type_spec(struct parser *p)
{
	struct rtr__type *t;

	if (++p->rdepth > 4 * RTR__MAX_DEPTH) {
		p->rdepth--;
		PERR(p, cur(p), "types nested too deeply");
		return NULL;
	}
	t = parse_type_spec1(p);
	p->rdepth--;
	return t;
}

static struct rtr__type *parse_type_spec1(struct parser *p)
{
	struct rtr__token *t = cur(p);
	char b[96];

	while (is_kw(p, KW_CONST))
		adv(p), t = cur(p);
	if (t->t == T_IDENT) {
		switch (t->kw) {
		case KW_INTEGER:
			adv(p);
			return parse_integer(p);
		case KW_FLOATING_POINT:
			adv(p);
			return parse_float(p);
		case KW_STRING:
			adv(p);
			return parse_string_type(p);
		case KW_STRUCT:
			adv(p);
			return parse_struct(p);
		case KW_VARIANT:
			adv(p);
			return parse_variant(p);
		case KW_ENUM:
			adv(p);
			return parse_enum(p);
		default: {
			char name[256];
			const struct rtr__token atk = *t, *at = &atk;
			struct rtr__type *ty;

			if (read_type_name(p, name, sizeof(name)) == 0)
				break;
			ty = scope_lookup(p, S_ALIAS, name);
			if (!ty) {
				PERR(p, at, "unknown type '%s'", name);
				return NULL;
			}
			return ty;
		}
		}
	}
	if (t->t == T_IDENT && t->kw == KW_NONE)
		PERR(p, t, "unknown type '%s'", t->s);
	else
		PERR(p, t, "expected a type, found %s", tok_desc(t, b, sizeof(b)));
	return NULL;
}

/* Array dimensions collected from a declarator, applied inner-first. */
struct dim {
	bool seq;
	uint64_t len;
	const char *path;
};

static int parse_dims(struct parser *p, struct dim *d, int *nd)
{
	while (is_tok(p, T_LBRACK)) {
		struct value v;
		const struct rtr__token *at;

		adv(p);
		at = cur(p);
		if (*nd >= RTR__MAX_DEPTH)
			return PERR(p, at, "too many array dimensions");
		if (parse_value(p, &v))
			return FAILED(p);
		if (expect(p, T_RBRACK, "']'"))
			return FAILED(p);
		if (v.kind == V_INT) {
			if (v.neg)
				return perr_at(p, v.line, "negative array length");
			d[*nd].seq = false;
			d[*nd].len = v.u;
		} else if (v.kind == V_PATH && !v.path_has_kw && !v.path_is_type) {
			d[*nd].seq = true;
			d[*nd].path = v.s;
		} else {
			return perr_at(
			    p, v.line,
			    "array length must be an unsigned integer constant or a field path");
		}
		(*nd)++;
	}
	return 0;
}

static struct rtr__type *apply_dims(struct parser *p, struct rtr__type *base, struct dim *d, int nd)
{
	/* T a[2][3]: array 2 of array 3 of T: the last dim is innermost */
	struct rtr__type *t = base;

	for (int k = nd - 1; k >= 0; k--) {
		struct rtr__type *a = new_type(p, d[k].seq ? TK_SEQ : TK_ARRAY);

		if (!a)
			return NULL;
		a->elem = t;
		a->len = d[k].len;
		a->path = d[k].path;
		a->align = t->kind == TK_VARIANT ? 1 : t->align;
		if (add_nops(p, a, t, cur(p)))
			return NULL;
		t = a;
	}
	return t;
}

static int parse_declarator(struct parser *p, struct rtr__type *base, struct rtr__type **out,
			    const char **name, struct rtr__token *name_tok, bool abstract)
{
	struct dim d[RTR__MAX_DEPTH];
	int nd = 0;
	struct rtr__token *t;
	char b[96];

	while (is_tok(p, T_STAR)) /* pointers: ignored */
		adv(p);
	t = cur(p);
	*name = NULL;
	*name_tok = *t;
	if (t->t == T_IDENT && t->kw == KW_NONE && !scope_lookup(p, S_ALIAS, t->s)) {
		*name = t->s;
		adv(p);
	} else if (!abstract) {
		return PERR(p, t, "expected a field name, found %s%s", tok_desc(t, b, sizeof(b)),
			    t->kw != KW_NONE  ? " (a reserved keyword)"
			    : t->t == T_IDENT ? " (a type name)"
					      : "");
	}
	if (parse_dims(p, d, &nd))
		return FAILED(p);
	if (is_tok(p, T_COLON)) { /* GNU bitfield: integer of that size */
		struct value v;
		uint64_t u;

		adv(p);
		if (parse_value(p, &v) || get_uint(p, &v, "bitfield size", &u))
			return FAILED(p);
		if (base->kind != TK_INT && base->kind != TK_ENUM)
			return perr_at(p, v.line, "bitfield on a non-integer");
		if (u == 0 || u > 64)
			return perr_at(p, v.line, "invalid bitfield size");
		base = copy_type(p, base);
		if (!base)
			return FAILED(p);
		base->size = (uint8_t)u;
		base->align = 1;
	}
	*out = apply_dims(p, base, d, nd);
	return *out ? 0 : -1;
}

static int parse_typealias(struct parser *p)
{
	struct rtr__type *t, *ft;
	const char *dname;
	struct rtr__token dtk, atk;
	const struct rtr__token *dt = &dtk, *at = &atk;
	char name[256];
	size_t n = 0;
	char b[96];

	adv(p); /* typealias */
	t = parse_type_spec(p);
	if (!t)
		return FAILED(p);
	if (parse_declarator(p, t, &ft, &dname, &dtk, true))
		return FAILED(p);
	if (dname)
		return PERR(p, dt, "typealias source must be an abstract type");
	if (expect(p, T_ASSIGN, "':=' in typealias"))
		return FAILED(p);
	/* target: basic keywords and/or an identifier, then abstract dims */
	atk = *cur(p);
	name[0] = 0;
	while (cur(p)->t == T_IDENT && (cur(p)->kw == KW_NONE || is_basic_kw(cur(p)->kw))) {
		struct rtr__token *w = cur(p);

		if (w->kw == KW_CONST) {
			adv(p);
			continue;
		}
		if (n + w->len + 2 >= sizeof(name))
			return PERR(p, w, "type name too long");
		if (n)
			name[n++] = ' ';
		memcpy(name + n, w->s, w->len);
		n += w->len;
		name[n] = 0;
		adv(p);
		if (w->kw == KW_NONE)
			break;
	}
	if (!n)
		return PERR(p, at, "expected new type name after ':=', found %s",
			    tok_desc(at, b, sizeof(b)));
	{
		struct dim d[RTR__MAX_DEPTH];
		int nd = 0;

		while (is_tok(p, T_STAR))
			adv(p);
		if (parse_dims(p, d, &nd))
			return FAILED(p);
		ft = apply_dims(p, ft, d, nd);
		if (!ft)
			return FAILED(p);
	}
	if (expect(p, T_SEMI, "';' after typealias"))
		return FAILED(p);
	return scope_add(p, at, S_ALIAS, rtr__arena_strndup(&p->tc->arena, name, n), ft);
}

static int parse_typedef(struct parser *p)
{
	struct rtr__type *base;

	adv(p); /* typedef */
	base = parse_type_spec(p);
	if (!base)
		return FAILED(p);
	while (1) {
		struct rtr__type *ft;
		const char *name;
		struct rtr__token nt;

		if (parse_declarator(p, base, &ft, &name, &nt, false))
			return FAILED(p);
		if (scope_add(p, &nt, S_ALIAS, name, ft))
			return FAILED(p);
		if (!is_tok(p, T_COMMA))
			break;
		adv(p);
	}
	return expect(p, T_SEMI, "';' after typedef");
}

/* ------------------------------------------------------------------ */
/* blocks                                                              */

/* One entry of a trace/stream/event/env/clock block. Calls cb for
 * 'name = value' and 'name := type' entries. */
struct entry {
	char name[256];
	bool is_type;
	struct value v;
	struct rtr__type *t;
	struct rtr__token at; /* the entry's first token */
};

typedef int (*entry_cb)(struct parser *p, struct entry *en, void *ctx);

static int parse_block(struct parser *p, entry_cb cb, void *ctx, bool types)
{
	if (expect(p, T_LBRACE, "'{'"))
		return FAILED(p);
	if (scope_push(p))
		return FAILED(p);
	while (!is_tok(p, T_RBRACE)) {
		struct entry en;

		memset(&en, 0, sizeof(en));
		en.at = *cur(p);
		if (is_tok(p, T_EOF)) {
			PERR(p, cur(p), "unexpected end of metadata in block");
			goto fail;
		}
		if (types && is_kw(p, KW_TYPEALIAS)) {
			if (parse_typealias(p))
				goto fail;
			continue;
		}
		if (types && is_kw(p, KW_TYPEDEF)) {
			if (parse_typedef(p))
				goto fail;
			continue;
		}
		if (types && cur(p)->t == T_IDENT &&
		    (cur(p)->kw == KW_STRUCT || cur(p)->kw == KW_VARIANT || cur(p)->kw == KW_ENUM ||
		     cur(p)->kw == KW_INTEGER || cur(p)->kw == KW_FLOATING_POINT)) {
			if (!parse_type_spec(p) || expect(p, T_SEMI, "';'"))
				goto fail;
			continue;
		}
		if (parse_lhs(p, en.name, sizeof(en.name)))
			goto fail;
		if (is_tok(p, T_ASSIGN)) {
			adv(p);
			en.is_type = true;
			en.t = parse_type_spec(p);
			if (!en.t)
				goto fail;
			if (!is_tok(p, T_SEMI)) {
				struct rtr__type *ft;
				const char *dn;
				struct rtr__token dt;

				if (parse_declarator(p, en.t, &ft, &dn, &dt, true))
					goto fail;
				en.t = ft;
			}
		} else {
			if (expect(p, T_EQ, "'=' or ':='"))
				goto fail;
			if (parse_value(p, &en.v))
				goto fail;
		}
		if (expect(p, T_SEMI, "';'"))
			goto fail;
		if (cb(p, &en, ctx))
			goto fail;
	}
	adv(p);
	scope_pop(p);
	return expect(p, T_SEMI, "';' after block");
fail:
	scope_pop(p);
	return FAILED(p);
}

static int need_struct(struct parser *p, struct entry *en)
{
	if (!en->is_type || en->t->kind != TK_STRUCT)
		return PERR(p, &en->at, "'%s' must be a structure type", en->name);
	return 0;
}

static int trace_cb(struct parser *p, struct entry *en, void *ctx)
{
	struct rtr__trace_class *tc = p->tc;
	uint64_t u;
	int bo;

	(void)ctx;
	if (!strcmp(en->name, "major")) {
		if (get_uint(p, &en->v, "major", &u))
			return FAILED(p);
		if (u != 1)
			return PERR(p, &en->at, "invalid trace 'major' %" PRIu64 ": expecting 1",
				    u);
		tc->major = u;
		p->trace_attrs |= 1;
	} else if (!strcmp(en->name, "minor")) {
		if (get_uint(p, &en->v, "minor", &u))
			return FAILED(p);
		if (u != 8)
			return PERR(p, &en->at, "invalid trace 'minor' %" PRIu64 ": expecting 8",
				    u);
		tc->minor = u;
		p->trace_attrs |= 2;
	} else if (!strcmp(en->name, "uuid")) {
		if (parse_uuid(p, &en->v, tc->uuid))
			return FAILED(p);
		tc->has_uuid = true;
	} else if (!strcmp(en->name, "byte_order")) {
		if (get_bo(p, &en->v, &bo, false))
			return FAILED(p);
		if (bo != p->trace_bo)
			return PERR(p, &en->at, "trace byte_order mismatch");
		p->trace_attrs |= 4;
	} else if (!strcmp(en->name, "packet.header")) {
		if (need_struct(p, en))
			return FAILED(p);
		tc->packet_header = en->t;
	}
	return 0;
}

static int env_cb(struct parser *p, struct entry *en, void *ctx)
{
	struct rtr__trace_class *tc = p->tc;
	struct rtr__env *x = NULL;

	(void)ctx;
	if (en->is_type)
		return PERR(p, &en->at, "type in env block");
	if (en->v.kind != V_INT && en->v.kind != V_STRING)
		return 0; /* identifiers: babeltrace2 ignores them */
	{
		uint64_t *k = rtr__strmap_get(&p->envs, 0, en->name);

		if (k)
			x = &tc->env[*k];
	}
	if (!x) {
		if (rtr__grow((void **)&tc->env, &tc->cap_env, tc->n_env + 1, sizeof(*tc->env)))
			return PERR_OOM(p, &en->at);
		x = &tc->env[tc->n_env];
		memset(x, 0, sizeof(*x));
		x->key = rtr__arena_strndup(&tc->arena, en->name, strlen(en->name));
		if (!x->key || rtr__strmap_put(&p->envs, 0, x->key, tc->n_env) < 0)
			return PERR_OOM(p, &en->at);
		tc->n_env++;
	}
	if (en->v.kind == V_INT) {
		if (get_int(p, &en->v, en->name, &x->i))
			return FAILED(p);
		x->is_int = true;
		x->s = NULL;
	} else {
		x->is_int = false;
		x->s = en->v.s;
	}
	return 0;
}

static int clock_cb(struct parser *p, struct entry *en, void *ctx)
{
	struct rtr__clock *c = ctx;
	uint64_t u;

	if (!strcmp(en->name, "name")) {
		if (en->v.kind != V_PATH && en->v.kind != V_STRING)
			return PERR(p, &en->at, "invalid clock name");
		c->name = en->v.s;
	} else if (!strcmp(en->name, "uuid")) {
		if (parse_uuid(p, &en->v, c->uuid))
			return FAILED(p);
		c->has_uuid = true;
	} else if (!strcmp(en->name, "description")) {
		if (en->v.kind != V_STRING)
			return PERR(p, &en->at, "invalid clock description");
		c->description = en->v.s;
	} else if (!strcmp(en->name, "freq")) {
		if (get_uint(p, &en->v, "freq", &u))
			return FAILED(p);
		if (u == 0)
			return PERR(p, &en->at, "invalid clock frequency 0");
		c->freq = u;
	} else if (!strcmp(en->name, "precision")) {
		if (get_uint(p, &en->v, "precision", &u))
			return FAILED(p);
		c->precision = u;
	} else if (!strcmp(en->name, "offset_s")) {
		if (get_int(p, &en->v, "offset_s", &c->offset_s))
			return FAILED(p);
	} else if (!strcmp(en->name, "offset")) {
		int64_t o;

		if (get_int(p, &en->v, "offset", &o))
			return FAILED(p);
		/* stored raw, normalised after the block */
		c->offset = (uint64_t)o;
		c->precision |= 0; /* keep */
	} else if (!strcmp(en->name, "absolute")) {
		bool b;

		if (get_bool(p, &en->v, "absolute", &b))
			return FAILED(p);
		c->absolute = b;
	}
	return 0;
}

struct sc_ctx {
	struct rtr__stream_class *sc;
};

static int stream_cb(struct parser *p, struct entry *en, void *ctx)
{
	struct rtr__stream_class *sc = ctx;

	if (!strcmp(en->name, "id")) {
		if (get_uint(p, &en->v, "stream id", &sc->id))
			return FAILED(p);
		sc->has_id = true;
	} else if (!strcmp(en->name, "packet.context")) {
		if (need_struct(p, en))
			return FAILED(p);
		sc->packet_context = en->t;
	} else if (!strcmp(en->name, "event.header")) {
		if (need_struct(p, en))
			return FAILED(p);
		sc->event_header = en->t;
	} else if (!strcmp(en->name, "event.context")) {
		if (need_struct(p, en))
			return FAILED(p);
		sc->event_context = en->t;
	}
	return 0;
}

static int event_cb(struct parser *p, struct entry *en, void *ctx)
{
	struct rtr__event_class *ec = ctx;

	if (!strcmp(en->name, "name")) {
		if (en->v.kind != V_PATH && en->v.kind != V_STRING)
			return PERR(p, &en->at, "invalid event name");
		ec->name = en->v.s;
	} else if (!strcmp(en->name, "id")) {
		if (get_uint(p, &en->v, "event id", &ec->id))
			return FAILED(p);
		ec->has_id = true;
	} else if (!strcmp(en->name, "stream_id")) {
		if (get_uint(p, &en->v, "event stream_id", &ec->stream_id))
			return FAILED(p);
		ec->has_stream_id = true;
	} else if (!strcmp(en->name, "loglevel")) {
		if (get_int(p, &en->v, "loglevel", &ec->loglevel))
			return FAILED(p);
		ec->has_loglevel = true;
	} else if (!strcmp(en->name, "model.emf.uri")) {
		if (en->v.kind != V_STRING)
			return PERR(p, &en->at, "invalid model.emf.uri");
		ec->emf_uri = en->v.s;
	} else if (!strcmp(en->name, "context")) {
		if (need_struct(p, en))
			return FAILED(p);
		ec->context = en->t;
	} else if (!strcmp(en->name, "fields")) {
		if (need_struct(p, en))
			return FAILED(p);
		ec->fields = en->t;
	}
	return 0;
}

static int ignore_cb(struct parser *p, struct entry *en, void *ctx)
{
	(void)p;
	(void)en;
	(void)ctx;
	return 0;
}

static struct rtr__stream_class *find_sc(struct parser *p, uint64_t id)
{
	uint64_t *v = rtr__strmap_get(&p->scs, id, "");

	return v ? p->tc->scs[*v] : NULL;
}

static int add_sc(struct parser *p, struct rtr__stream_class *sc, const struct rtr__token *at)
{
	struct rtr__trace_class *tc = p->tc;

	if (find_sc(p, sc->id))
		return PERR(p, at, "duplicate stream class id %" PRIu64, sc->id);
	if (tc->n_scs >= 65536)
		return PERR(p, at, "too many stream classes");
	if (rtr__grow((void **)&tc->scs, &tc->cap_scs, tc->n_scs + 1, sizeof(*tc->scs)) ||
	    rtr__strmap_put(&p->scs, sc->id, "", tc->n_scs) < 0)
		return PERR_OOM(p, at);
	tc->scs[tc->n_scs++] = sc;
	return 0;
}

/* Event classes are attached to stream classes after the whole text is
 * parsed, because a stream block may come after its events. */
struct pending_ec {
	struct rtr__event_class *ec;
	struct rtr__token at;
};

static int toplevel(struct parser *p, struct pending_ec **pend, size_t *npend, size_t *cpend)
{
	struct rtr__trace_class *tc = p->tc;

	while (!is_tok(p, T_EOF)) {
		struct rtr__token tk = *cur(p), *t = &tk;

		if (t->t == T_IDENT && t->kw == KW_TRACE && peek(p, 1)->t == T_LBRACE) {
			if (p->trace_seen)
				return PERR(p, t, "duplicate trace block");
			p->trace_seen = true;
			adv(p);
			if (parse_block(p, trace_cb, NULL, true))
				return FAILED(p);
			/* required, as babeltrace2 requires them */
			for (int k = 0; k < 3; k++)
				if (!(p->trace_attrs & (1u << k)))
					return PERR(p, t, "trace block without '%s'",
						    k == 0 ? "major" : k == 1 ? "minor" : "byte_order");
		} else if (t->t == T_IDENT && t->kw == KW_ENV && peek(p, 1)->t == T_LBRACE) {
			adv(p);
			if (parse_block(p, env_cb, NULL, false))
				return FAILED(p);
		} else if (t->t == T_IDENT && t->kw == KW_CLOCK && peek(p, 1)->t == T_LBRACE) {
			struct rtr__clock c;

			memset(&c, 0, sizeof(c));
			c.freq = 1000000000;
			adv(p);
			if (parse_block(p, clock_cb, &c, false))
				return FAILED(p);
			if (!c.name)
				return PERR(p, t, "clock without a name");
			if (find_clock(p, c.name) >= 0)
				return PERR(p, t, "duplicate clock '%s'", c.name);
			/* normalise offset into [0, freq) */
			{
				int64_t o = (int64_t)c.offset;
				int64_t f = (int64_t)(c.freq > INT64_MAX ? INT64_MAX : c.freq);
				int64_t q = o / f, r = o % f;

				if (r < 0) {
					r += f;
					q--;
				}
				c.offset_s += q;
				c.offset = (uint64_t)r;
			}
			if (rtr__grow((void **)&tc->clocks, &tc->cap_clocks, tc->n_clocks + 1,
				      sizeof(*tc->clocks)))
				return PERR_OOM(p, t);
			if (rtr__strmap_put(&p->clocks, 0, c.name, tc->n_clocks) < 0)
				return PERR_OOM(p, t);
			tc->clocks[tc->n_clocks++] = c;
		} else if (t->t == T_IDENT && t->kw == KW_STREAM && peek(p, 1)->t == T_LBRACE) {
			struct rtr__stream_class *sc = rtr__arena_alloc(&tc->arena, sizeof(*sc));

			if (!sc)
				return PERR_OOM(p, t);
			adv(p);
			if (parse_block(p, stream_cb, sc, true))
				return FAILED(p);
			if (!sc->has_id && tc->n_scs > 0)
				return PERR(
				    p, t,
				    "stream class without 'id' while another stream class exists");
			if (add_sc(p, sc, t))
				return FAILED(p);
		} else if (t->t == T_IDENT && t->kw == KW_EVENT && peek(p, 1)->t == T_LBRACE) {
			struct rtr__event_class *ec = rtr__arena_alloc(&tc->arena, sizeof(*ec));

			if (!ec)
				return PERR_OOM(p, t);
			ec->line = t->line;
			adv(p);
			if (parse_block(p, event_cb, ec, true))
				return FAILED(p);
			if (!ec->name) /* babeltrace2 requires it */
				return PERR(p, t, "event class without 'name'");
			if (rtr__grow((void **)pend, cpend, *npend + 1, sizeof(**pend)))
				return PERR_OOM(p, t);
			(*pend)[*npend].ec = ec;
			(*pend)[*npend].at = *t;
			(*npend)++;
		} else if (t->t == T_IDENT && t->kw == KW_CALLSITE && peek(p, 1)->t == T_LBRACE) {
			adv(p);
			if (parse_block(p, ignore_cb, NULL, false))
				return FAILED(p);
		} else if (t->t == T_IDENT && t->kw == KW_TYPEALIAS) {
			if (parse_typealias(p))
				return FAILED(p);
		} else if (t->t == T_IDENT && t->kw == KW_TYPEDEF) {
			if (parse_typedef(p))
				return FAILED(p);
		} else {
			struct rtr__type *ty = parse_type_spec(p);

			if (!ty)
				return FAILED(p);
			/* "struct a {...} struct b {...};": babeltrace2 accepts a
			 * list of definitions before the ';' */
			while (is_kw(p, KW_STRUCT) || is_kw(p, KW_VARIANT) || is_kw(p, KW_ENUM))
				if (!parse_type_spec(p))
					return FAILED(p);
			if (expect(p, T_SEMI, "';' after type declaration"))
				return FAILED(p);
		}
	}
	return 0;
}

/* Finds "trace { ... byte_order = X; ... }" ahead of parsing, since
 * 'native' anywhere refers to it: a lexing pass of its own over the whole
 * text (literals not decoded, lexing errors left to the real pass).
 * Returns 1 when found, 0 when not, or a negative errno (an invalid
 * value). */
static int prepass_bo(struct parser *p)
{
	struct rtr_error qe;
	struct parser *q = malloc(sizeof(*q));
	int depth = 0, ret = 0;
	bool in_trace = false;

	if (!q)
		return perr_oom(p, 1);
	memset(&qe, 0, sizeof(qe));
	*q = *p;
	q->e = &qe;
	q->lx.e = &qe;
	q->lx.scan = true;
	while (cur(q)->t != T_EOF && !ret) {
		struct rtr__token *t = cur(q);

		if (!in_trace) {
			in_trace =
			    t->t == T_IDENT && t->kw == KW_TRACE && peek(q, 1)->t == T_LBRACE;
			depth = 0;
		} else if (t->t == T_LBRACE) {
			depth++;
		} else if (t->t == T_RBRACE) {
			in_trace = --depth > 0;
		} else if (depth == 1 && t->t == T_IDENT && !strcmp(t->s, "byte_order") &&
			   peek(q, 1)->t == T_EQ && peek(q, 2)->t == T_IDENT) {
			const struct rtr__token *v = peek(q, 2);

			ret = 1;
			if (!strcmp(v->s, "le"))
				p->trace_bo = RTR__BO_LE;
			else if (!strcmp(v->s, "be") || !strcmp(v->s, "network"))
				p->trace_bo = RTR__BO_BE;
			else
				ret = PERR(
				    p, v,
				    "invalid trace byte_order '%s': expecting le, be or network",
				    v->s);
		}
		adv(q);
	}
	/* the interning table may have grown */
	p->lx.ids = q->lx.ids;
	p->lx.nids = q->lx.nids;
	p->lx.capids = q->lx.capids;
	free(q);
	return ret;
}

static int cmp_ec_id_line(const void *a, const void *b)
{
	const struct rtr__event_class *x = *(const struct rtr__event_class *const *)a;
	const struct rtr__event_class *y = *(const struct rtr__event_class *const *)b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int attach_events(struct parser *p, struct pending_ec *pend, size_t n)
{
	struct rtr__trace_class *tc = p->tc;

	for (size_t i = 0; i < n; i++) {
		struct rtr__event_class *ec = pend[i].ec;
		struct rtr__stream_class *sc = NULL;

		if (ec->has_stream_id) {
			sc = find_sc(p, ec->stream_id);
			if (!sc)
				return PERR(p, &pend[i].at,
					    "event '%s' refers to undeclared stream class %" PRIu64,
					    ec->name ? ec->name : "?", ec->stream_id);
		} else if (tc->n_scs == 1) {
			sc = tc->scs[0];
		} else if (tc->n_scs == 0) {
			sc = rtr__arena_alloc(&tc->arena, sizeof(*sc));
			if (!sc)
				return PERR_OOM(p, &pend[i].at);
			if (add_sc(p, sc, &pend[i].at))
				return FAILED(p);
		} else {
			return PERR(
			    p, &pend[i].at,
			    "event without 'stream_id' in a trace with several stream classes");
		}
		if (!ec->has_id) {
			if (sc->n_ecs > 0)
				return PERR(
				    p, &pend[i].at,
				    "event without 'id' in a stream class with several events");
			ec->id = 0;
		}
		if (rtr__grow((void **)&sc->ecs, &sc->cap_ecs, sc->n_ecs + 1, sizeof(*sc->ecs)))
			return PERR_OOM(p, &pend[i].at);
		sc->ecs[sc->n_ecs++] = ec;
	}
	/* event classes by id (the order lookups need); a duplicate id is
	 * reported at its second declaration */
	for (size_t i = 0; i < tc->n_scs; i++) {
		struct rtr__stream_class *sc = tc->scs[i];

		if (sc->n_ecs > 1)
			qsort(sc->ecs, sc->n_ecs, sizeof(*sc->ecs), cmp_ec_id_line);
		for (size_t k = 1; k < sc->n_ecs; k++)
			if (sc->ecs[k]->id == sc->ecs[k - 1]->id)
				return perr_at(p, sc->ecs[k]->line,
					       "duplicate event id %" PRIu64
					       " in stream class %" PRIu64,
					       sc->ecs[k]->id, sc->id);
	}
	return 0;
}

/* Resolves integer clock maps that named a clock declared later. */
static void fix_clock(struct parser *p, struct rtr__type *t, int depth)
{
	if (!t || depth > RTR__MAX_DEPTH || t->visited)
		return;
	t->visited = 1; /* shared types are visited once */
	if ((t->kind == TK_INT || t->kind == TK_ENUM) && t->clock_name && t->clock < 0)
		t->clock = find_clock(p, t->clock_name);
	for (uint32_t i = 0; (t->kind == TK_STRUCT || t->kind == TK_VARIANT) && i < t->n; i++)
		fix_clock(p, t->m[i].t, depth + 1);
	if (t->kind == TK_ARRAY || t->kind == TK_SEQ)
		fix_clock(p, t->elem, depth + 1);
}

int rtr__tsdl_parse(struct rtr__trace_class *tc, const char *text, size_t len, const char *origin,
		    struct rtr_error *e)
{
	struct parser p;
	struct scope root = {0};
	struct pending_ec *pend = NULL;
	size_t npend = 0, cpend = 0;
	int ret = -EINVAL;
	const struct rtr__env *env;

	memset(&p, 0, sizeof(p));
	p.tc = tc;
	p.e = e;
	p.origin = origin;
	p.scope = &root;
	tc->bo = RTR__BO_LE;
	tc->arena.limit = rtr__model_limit(len);
	if (len > RTR__MAX_METADATA)
		return rtr__error(e, -EFBIG, "%s: metadata larger than %u bytes", origin,
				  RTR__MAX_METADATA);
	/* version signature "/ * CTF M.m" */
	if (len >= 7 && !memcmp(text, "/* CTF ", 7)) {
		unsigned long maj, min;
		char *q;
		const char *s = text + 7;

		errno = 0;
		maj = strtoul(s, &q, 10);
		if (errno || q == s || *q != '.' || !isdigit((unsigned char)q[1])) {
			return rtr__error(
			    e, -EINVAL,
			    "%s:1: invalid metadata version in signature: expecting \"/* CTF 1.8\"",
			    origin);
		}
		s = q + 1;
		min = strtoul(s, &q, 10);
		if (errno || maj != 1 || min != 8) {
			return rtr__error(
			    e, -EINVAL,
			    "%s:1: unsupported metadata version in signature: expecting CTF 1.8",
			    origin);
		}
	}
	p.lx.arena = &tc->arena;
	p.lx.e = e;
	p.lx.origin = origin;
	if (rtr__lex_init(&p.lx, text, len))
		goto out;
	if (prepass_bo(&p) < 0)
		goto out;
	if (cur(&p)->t == T_EOF) {
		perr_at(&p, cur(&p)->line, "empty metadata");
		goto out;
	}
	tc->bo = p.trace_bo;
	if (toplevel(&p, &pend, &npend, &cpend) || p.lex_err)
		goto out;
	if (!p.trace_seen && (npend || tc->n_scs)) {
		/* babeltrace2 requires a trace block only when data exists */
	}
	if (attach_events(&p, pend, npend))
		goto out;
	fix_clock(&p, tc->packet_header, 0);
	for (size_t i = 0; i < tc->n_scs; i++) {
		struct rtr__stream_class *sc = tc->scs[i];

		fix_clock(&p, sc->packet_context, 0);
		fix_clock(&p, sc->event_header, 0);
		fix_clock(&p, sc->event_context, 0);
		for (size_t k = 0; k < sc->n_ecs; k++) {
			fix_clock(&p, sc->ecs[k]->context, 0);
			fix_clock(&p, sc->ecs[k]->fields, 0);
		}
	}
	env = rtr__env_find(tc, "tracer_name");
	if (env && !env->is_int) {
		tc->tracer_name = env->s;
		tc->lttng = !strncmp(env->s, "lttng", 5);
	}
	if (p.enum_range_line && !tc->lttng) {
		perr_at(&p, p.enum_range_line, "%s", p.enum_range_msg);
		goto out;
	}
	tc->tracer_major = tc->tracer_minor = tc->tracer_patch = -1;
	if ((env = rtr__env_find(tc, "tracer_major")) && env->is_int)
		tc->tracer_major = env->i;
	if ((env = rtr__env_find(tc, "tracer_minor")) && env->is_int)
		tc->tracer_minor = env->i;
	if ((env = rtr__env_find(tc, "tracer_patchlevel")) && env->is_int)
		tc->tracer_patch = env->i;
	ret = 0;
out:
	if (ret)
		ret = FAILED(&p);
	free(p.lx.ids);
	rtr__strmap_free(&p.names);
	rtr__strmap_free(&p.clocks);
	rtr__strmap_free(&p.envs);
	rtr__strmap_free(&p.scs);
	rtr__strmap_free(&p.labels);
	free(pend);
	return ret;
}
