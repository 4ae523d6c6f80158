/* babeltrace2 2.0.4 text format (sink.text.pretty), byte for byte: every
 * field type printed, event lines, class templates, discarded items.
 * See docs/design/reader.md ("Speed") and shared/docs/research/ctf.md §9. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "compile/compile.h"
#include "sink/text.h"

struct trace_hdr {
	bool done;
	const char *hostname, *domain, *procname;
	bool has_vpid;
	int64_t vpid;
	/* without header names: the trace fields, printed the same for every
	 * event of the trace */
	char *pre;
	size_t pre_len;
	bool pre_dom;
};

/* Line template of an event class whose fields are all scalars: the text
 * between the values never changes. */
struct tpl {
	bool tried, ok;
	size_t nv; /* number of value records (with empty arrays) */
	char *lit; /* literal bytes */
	uint32_t nslot;
	uint32_t *val; /* value index of each slot */
	uint8_t *fmt;  /* formatter of each slot (enum slot_fmt) */
	uint8_t *efmt; /* array slots: formatter of the elements */
	uint32_t *off; /* literal i: lit[off[i], off[i + 1]) */
	uint32_t narr; /* array slots (val[] then counts them as empty) */
};

/* ------------------------------------------------------------------ */
/* output                                                              */

void rtr__text_flush(struct rtr_text *t)
{
	size_t off = 0;

	if (t->fd < 0)
		return; /* memory mode */
	if (t->par && !t->has_turn)
		rtr__text_wait_turn(t);
	t->flushes++;
	while (off < t->len && !t->werr) {
		ssize_t w = write(t->fd, t->buf + off, t->len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			t->werr = errno;
			break;
		}
		off += (size_t)w;
	}
	t->len = 0;
}

RTR_NOINLINE char *rtr__text_grow(struct rtr_text *t, size_t n)
{
	size_t nc = t->cap * 2;
	char *nb;

	while (nc < t->len + n)
		nc *= 2;
	nb = realloc(t->buf, nc);
	if (!nb)
		return NULL;
	t->buf = nb;
	t->cap = nc;
	return t->buf + t->len;
}

static void put_hex(struct rtr_text *t, uint64_t v)
{
	char b[20], *e = b + sizeof(b), *s = e;

	do {
		*--s = "0123456789ABCDEF"[v & 15];
		v >>= 4;
	} while (v);
	put(t, s, (size_t)(e - s));
}

static void put_oct(struct rtr_text *t, uint64_t v)
{
	char b[24], *e = b + sizeof(b), *s = e;

	do {
		*--s = (char)('0' + (v & 7));
		v >>= 3;
	} while (v);
	put(t, s, (size_t)(e - s));
}

static void put_escaped(struct rtr_text *t, const char *s, size_t n)
{
	size_t i = 0;

	putc1(t, '"');
	while (i < n) {
		size_t j = i;

		/* run of plain characters */
		while (j < n) {
			unsigned char c = (unsigned char)s[j];

			if (c < 32 || c == 127 || c == '\\' || c == '\'' || c == '"' || c == '?')
				break;
			j++;
		}
		if (j > i)
			put(t, s + i, j - i);
		if (j >= n)
			break;
		switch (s[j]) {
		case '\\':
			PUTS(t, "\\\\");
			break;
		case '\'':
			PUTS(t, "\\'");
			break;
		case '"':
			PUTS(t, "\\\"");
			break;
		case '?':
			PUTS(t, "\\?");
			break;
		case '\0':
			PUTS(t, "\\0");
			break;
		case '\a':
			PUTS(t, "\\a");
			break;
		case '\b':
			PUTS(t, "\\b");
			break;
		case 27:
			PUTS(t, "\\e");
			break;
		case '\f':
			PUTS(t, "\\f");
			break;
		case '\n':
			PUTS(t, "\\n");
			break;
		case '\r':
			PUTS(t, "\\r");
			break;
		case '\t':
			PUTS(t, "\\t");
			break;
		case '\v':
			PUTS(t, "\\v");
			break;
		default: {
			char h[5];

			h[0] = '\\';
			h[1] = 'x';
			h[2] = "0123456789abcdef"[((unsigned char)s[j] >> 4) & 15];
			h[3] = "0123456789abcdef"[(unsigned char)s[j] & 15];
			put(t, h, 4);
			break;
		}
		}
		i = j + 1;
	}
	putc1(t, '"');
}

/* ------------------------------------------------------------------ */
/* fields                                                              */

static void put_int(struct rtr_text *t, const struct rtr_value *v)
{
	int base = v->cls->t->base;
	unsigned len = v->cls->size;
	uint64_t u = v->v.u;

	if (rtr_likely(base == 10)) {
		if (v->kind == RTR_VAL_SINT)
			put_i64(t, v->v.i);
		else
			put_u64(t, u);
		return;
	}
	switch (base) {
	case 2:
		PUTS(t, "0b");
		if (len < 64)
			u <<= 64 - len;
		for (unsigned b = 0; b < len; b++) {
			putc1(t, (u >> 63) ? '1' : '0');
			u <<= 1;
		}
		break;
	case 8:
		if (v->kind == RTR_VAL_SINT && len < 64) {
			unsigned rl = ((len - 1) / 3 + 1) * 3;

			if (rl < 64)
				u &= ((uint64_t)1 << rl) - 1;
		}
		putc1(t, '0');
		put_oct(t, u);
		break;
	case 16:
		if (len < 64) {
			unsigned rl = (len + 3) & ~3u;

			/* babeltrace2 computes (1 << 64) - 1 on x86 as 0 */
			u &= rl < 64 ? ((uint64_t)1 << rl) - 1 : 0;
		}
		PUTS(t, "0x");
		put_hex(t, u);
		break;
	default:
		if (v->kind == RTR_VAL_SINT)
			put_i64(t, v->v.i);
		else
			put_u64(t, u);
		break;
	}
}

static void put_enum(struct rtr_text *t, const struct rtr_value *v)
{
	const char *lab[16];
	size_t n = rtr_value_enum_labels(v, lab, RTR_ARRAY_SIZE(lab));

	PUTS(t, "( ");
	if (n == 0) {
		PUTS(t, "<unknown>");
	} else {
		const char **all = lab;
		const char **heap = NULL;

		if (n > RTR_ARRAY_SIZE(lab)) {
			heap = malloc(n * sizeof(*heap));
			if (heap) {
				rtr_value_enum_labels(v, heap, n);
				all = heap;
			} else {
				n = RTR_ARRAY_SIZE(lab);
			}
		}
		for (size_t i = 0; i < n; i++) {
			if (i)
				PUTS(t, ", ");
			put_escaped(t, all[i], strlen(all[i]));
		}
		free(heap);
	}
	PUTS(t, " : container = ");
	put_int(t, v);
	PUTS(t, " )");
}

static void put_float(struct rtr_text *t, double d)
{
	char b[64];
	int n = rtr__fmt_g(d, b);

	if (!n)
		n = snprintf(b, sizeof(b), "%g", d);
	if (n > (int)sizeof(b) - 1)
		n = (int)sizeof(b) - 1;
	if (n > 0)
		put(t, b, (size_t)n);
}

enum slot_fmt {
	SF_UDEC,
	SF_SDEC,
	SF_HEX,
	SF_INT,
	SF_ENUM,
	SF_FLOAT,
	SF_STRING,
	SF_ARRAY,	/* array of scalars */
	SF_ARRAY_NAMES, /* array of scalars, elements named "[i] = " */
	SF_NONE,	/* not a scalar */
};

static uint8_t slot_fmt(const struct rtr_value *v)
{
	switch (v->kind) {
	case RTR_VAL_UINT:
	case RTR_VAL_SINT:
		if (v->cls->t->kind == TK_ENUM)
			return SF_ENUM;
		if (v->cls->t->base == 16)
			return SF_HEX;
		if (v->cls->t->base != 10)
			return SF_INT;
		return v->kind == RTR_VAL_SINT ? SF_SDEC : SF_UDEC;
	case RTR_VAL_FLOAT:
		return SF_FLOAT;
	default:
		return SF_STRING;
	}
}

/* Formatter of the records of op when they are scalars, else SF_NONE. */
static uint8_t op_fmt(const struct rtr__op *op)
{
	switch (op->code) {
	case OP_INT_BYTE:
	case OP_INT_BITS:
		if (op->t->kind == TK_ENUM)
			return SF_ENUM;
		if (op->t->base == 16)
			return SF_HEX;
		if (op->t->base != 10)
			return SF_INT;
		return op->sign ? SF_SDEC : SF_UDEC;
	case OP_FLOAT:
		return SF_FLOAT;
	case OP_STRING:
	case OP_TEXT_ARRAY:
		return SF_STRING;
	default:
		return SF_NONE;
	}
}

/* Element formatter of the array whose ARRAY_BEGIN is vals[i] when its
 * elements are scalars (one record each), else SF_NONE. */
static uint8_t array_efmt(const struct rtr_value *vals, size_t i, size_t n)
{
	const struct rtr_value *v = &vals[i];
	uint8_t f;

	if ((v->cls->code != OP_ARRAY && v->cls->code != OP_SEQ) || v->len >= n - i - 1 ||
	    vals[i + v->len + 1].kind != RTR_VAL_ARRAY_END)
		return SF_NONE;
	f = op_fmt(v->cls + 1); /* the element op follows the array's */
	for (uint64_t k = 0; k < v->len && f != SF_NONE; k++)
		if (vals[i + 1 + k].cls != v->cls + 1)
			f = SF_NONE;
	return f;
}

static char *w_array(struct rtr_text *t, char *p, const struct rtr_value *v, uint8_t efmt,
		     bool names);

struct pframe {
	uint8_t kind; /* 0 struct, 1 array, 2 variant */
	uint64_t count;
};

static const char *scope_label(uint32_t s)
{
	switch (s) {
	case RTR_SCOPE_PACKET_CONTEXT:
		return "stream.packet.context = ";
	case RTR_SCOPE_EVENT_COMMON_CONTEXT:
		return "stream.event.context = ";
	case RTR_SCOPE_EVENT_CONTEXT:
		return "event.context = ";
	default:
		return "event.fields = ";
	}
}

static inline void put_scalar(struct rtr_text *t, const struct rtr_value *v)
{
	switch (v->kind) {
	case RTR_VAL_UINT:
	case RTR_VAL_SINT:
		if (rtr_unlikely(v->cls->t->kind == TK_ENUM))
			put_enum(t, v);
		else
			put_int(t, v);
		break;
	case RTR_VAL_FLOAT:
		put_float(t, v->v.d);
		break;
	case RTR_VAL_STRING:
		put_escaped(t, v->v.s, (size_t)v->len);
		break;
	default:
		break;
	}
}

static void put_values(struct rtr_text *t, const struct rtr_value *vals, size_t n)
{
	struct pframe st[RTR__MAX_DEPTH * 2 + 8];
	int sp = 0;
	bool names = false;

	for (size_t i = 0; i < n; i++) {
		const struct rtr_value *v = &vals[i];

		if (v->kind == RTR_VAL_STRUCT_END || v->kind == RTR_VAL_ARRAY_END ||
		    v->kind == RTR_VAL_VARIANT_END) {
			if (sp > 0)
				sp--;
			if (v->kind == RTR_VAL_ARRAY_END)
				PUTS(t, " ]");
			else
				PUTS(t, " }");
			continue;
		}
		if (sp == 0) {
			/* scope root */
			if (!t->start_line)
				PUTS(t, ", ");
			t->start_line = false;
			if (t->o.names & RTR_TEXT_NAME_SCOPE)
				putstr(t, scope_label(v->scope));
			names = v->scope == RTR_SCOPE_EVENT_PAYLOAD
				    ? (t->o.names & RTR_TEXT_NAME_PAYLOAD)
				    : (t->o.names & RTR_TEXT_NAME_CONTEXT);
		} else {
			struct pframe *p = &st[sp - 1];

			if (p->kind == 0) {
				if (p->count++)
					PUTS(t, ", ");
				else
					putc1(t, ' ');
				if (names) {
					const struct rtr__op *op = v->cls;
					char *d = room(t, op->name_len + 3);

					if (d) {
						if (op->name_len)
							memcpy(d, op->name, op->name_len);
						memcpy(d + op->name_len, " = ", 3);
						t->len += op->name_len + 3;
					}
				}
			} else if (p->kind == 1) {
				if (p->count)
					PUTS(t, ", ");
				else
					putc1(t, ' ');
				if (names) {
					putc1(t, '[');
					put_u64(t, p->count);
					PUTS(t, "] = ");
				}
				p->count++;
			}
		}
		if (rtr_unlikely(t->capturing)) {
			uint8_t ef =
			    v->kind == RTR_VAL_ARRAY_BEGIN ? array_efmt(vals, i, n) : SF_NONE;

			if ((v->kind == RTR_VAL_ARRAY_BEGIN && ef == SF_NONE) ||
			    v->kind == RTR_VAL_VARIANT_BEGIN) {
				t->capture_bad = true;
			} else if (v->kind != RTR_VAL_STRUCT_BEGIN) {
				if (t->ncap == t->cap_cap) {
					size_t nc = t->cap_cap ? t->cap_cap * 2 : 64;
					uint32_t *a = realloc(t->cap_s, nc * sizeof(*a));
					uint32_t *b = a ? realloc(t->cap_e, nc * sizeof(*b)) : NULL;
					uint32_t *c = b ? realloc(t->cap_v, nc * sizeof(*c)) : NULL;
					uint8_t *d = c ? realloc(t->cap_f, nc) : NULL;

					if (a)
						t->cap_s = a;
					if (b)
						t->cap_e = b;
					if (c)
						t->cap_v = c;
					if (d)
						t->cap_f = d;
					if (!d) {
						t->capture_bad = true;
						t->capturing = false;
						goto print;
					}
					t->cap_cap = nc;
				}
				t->cap_s[t->ncap] = (uint32_t)t->len;
				t->cap_v[t->ncap] = (uint32_t)i;
				if (v->kind == RTR_VAL_ARRAY_BEGIN) {
					/* the whole array is one slot */
					char *q = ensure(t, t->buf + t->len, 16);

					q = q ? w_array(t, q, v, ef, names) : NULL;
					if (!q) {
						t->capture_bad = true;
						t->capturing = false;
						continue;
					}
					t->len = (size_t)(q - t->buf);
					t->cap_f[t->ncap] = names ? SF_ARRAY_NAMES : SF_ARRAY;
					i += (size_t)v->len + 1; /* its ARRAY_END */
				} else {
					put_scalar(t, v);
					t->cap_f[t->ncap] = slot_fmt(v);
				}
				t->cap_e[t->ncap++] = (uint32_t)t->len;
				continue;
			}
		}
	print:
		switch (v->kind) {
		case RTR_VAL_STRUCT_BEGIN:
			putc1(t, '{');
			if (sp < (int)RTR_ARRAY_SIZE(st)) {
				st[sp].kind = 0;
				st[sp++].count = 0;
			}
			break;
		case RTR_VAL_ARRAY_BEGIN:
			putc1(t, '[');
			if (sp < (int)RTR_ARRAY_SIZE(st)) {
				st[sp].kind = 1;
				st[sp++].count = 0;
			}
			break;
		case RTR_VAL_VARIANT_BEGIN:
			PUTS(t, "{ ");
			if (sp < (int)RTR_ARRAY_SIZE(st)) {
				st[sp].kind = 2;
				st[sp++].count = 0;
			}
			break;
		default:
			put_scalar(t, v);
			break;
		}
	}
}

/* ------------------------------------------------------------------ */
/* event header                                                        */

/* Separator before one of the trace:* header fields: ", " inside the
 * line, ':' between them at its start; then the label when names show. */
static void trace_field(struct rtr_text *t, bool dom, const char *label, size_t len)
{
	/* babeltrace2 2.0.4 (pretty/print.c): ", " when not at the start of
	 * the line, then either the name or, without names, ':' after an
	 * earlier trace field; with names, nothing between the items */
	if (!t->start_line)
		PUTS(t, ", ");
	if (label)
		put(t, label, len);
	else if (dom)
		putc1(t, ':');
}
#define TRACE_FIELD(t, dom, pn, lit) trace_field(t, dom, (pn) ? (lit) : NULL, sizeof(lit) - 1)

static void slow_fields(struct rtr_text *t, const struct rtr_msg *m, const struct trace_hdr *h,
			bool *domp);

static const struct trace_hdr *hdr_of(struct rtr_text *t, const struct rtr_stream_info *si)
{
	struct trace_hdr *h;

	if (si->trace_index >= t->nth)
		return NULL;
	h = &t->th[si->trace_index];
	if (!h->done) {
		struct rtr_env_value v;

		h->done = true;
		if (!rtr_reader_trace_env(t->r, si->trace_index, "hostname", &v) && !v.is_int)
			h->hostname = v.s;
		if (!rtr_reader_trace_env(t->r, si->trace_index, "domain", &v) && !v.is_int)
			h->domain = v.s;
		if (!rtr_reader_trace_env(t->r, si->trace_index, "procname", &v) && !v.is_int)
			h->procname = v.s;
		if (!rtr_reader_trace_env(t->r, si->trace_index, "vpid", &v) && v.is_int) {
			h->has_vpid = true;
			h->vpid = v.i;
		}
		if (!(t->o.names & RTR_TEXT_NAME_HEADER)) {
			/* render the trace fields once, in a scratch area of
			 * the output buffer */
			struct rtr_msg fake;
			size_t save;

			memset(&fake, 0, sizeof(fake));
			fake.stream = si;
			rtr__text_flush(t);
			save = t->len;
			t->start_line = true;
			slow_fields(t, &fake, h, &h->pre_dom);
			h->pre = malloc(t->len - save + 1);
			if (h->pre) {
				memcpy(h->pre, t->buf + save, t->len - save);
				h->pre_len = t->len - save;
			}
			t->len = save;
		}
	}
	return h;
}

static const char *loglevel_name(int64_t l)
{
	static const char *n[] = {
	    "TRACE_EMERG",	    "TRACE_ALERT",
	    "TRACE_CRIT",	    "TRACE_ERR",
	    "TRACE_WARNING",	    "TRACE_NOTICE",
	    "TRACE_INFO",	    "TRACE_DEBUG_SYSTEM",
	    "TRACE_DEBUG_PROGRAM",  "TRACE_DEBUG_PROCESS",
	    "TRACE_DEBUG_MODULE",   "TRACE_DEBUG_UNIT",
	    "TRACE_DEBUG_FUNCTION", "TRACE_DEBUG_LINE",
	    "TRACE_DEBUG",
	};
	return l >= 0 && l < 15 ? n[l] : NULL;
}

static void slow_fields(struct rtr_text *t, const struct rtr_msg *m, const struct trace_hdr *h,
			bool *domp)
{
	bool pn = t->o.names & RTR_TEXT_NAME_HEADER;
	unsigned f = t->o.fields;
	bool dom = false;

	if (f & RTR_TEXT_FIELD_TRACE) {
		const char *name = m->stream->trace_name;

		if (name) {
			if (!t->start_line)
				PUTS(t, ", ");
			if (pn)
				PUTS(t, "trace = ");
			putstr(t, name);
			if (pn)
				PUTS(t, ", ");
		}
	}
	if ((f & RTR_TEXT_FIELD_HOSTNAME) && h && h->hostname) {
		TRACE_FIELD(t, dom, pn, "trace:hostname = ");
		putstr(t, h->hostname);
		dom = true;
	}
	if ((f & RTR_TEXT_FIELD_DOMAIN) && h && h->domain) {
		TRACE_FIELD(t, dom, pn, "trace:domain = ");
		putstr(t, h->domain);
		dom = true;
	}
	if ((f & RTR_TEXT_FIELD_PROCNAME) && h && h->procname) {
		TRACE_FIELD(t, dom, pn, "trace:procname = ");
		putstr(t, h->procname);
		dom = true;
	}
	if ((f & RTR_TEXT_FIELD_VPID) && h && h->has_vpid) {
		TRACE_FIELD(t, dom, pn, "trace:vpid = ");
		putc1(t, '(');
		put_i64(t, h->vpid);
		putc1(t, ')');
		dom = true;
	}
	*domp = dom;
}

static void make_tpl(struct rtr_text *t, struct tpl *tp, size_t start, size_t nv,
		     const struct rtr_value *vals)
{
	size_t nlit = t->len - start, o = 0;
	char *lit = calloc(nlit + 64, 1); /* w_lit() reads 32 bytes past */
	uint32_t *val = malloc((t->ncap + 1) * sizeof(*val));
	uint32_t *off = malloc((t->ncap + 2) * sizeof(*off));
	uint8_t *fmt = malloc(t->ncap + 1), *efmt = calloc(t->ncap + 1, 1);
	size_t from = start, extra = 0;

	if (!lit || !val || !off || !fmt || !efmt) {
		free(lit);
		free(val);
		free(off);
		free(fmt);
		free(efmt);
		return;
	}
	for (size_t i = 0; i < t->ncap; i++) {
		const struct rtr_value *v = &vals[t->cap_v[i]];

		off[i] = (uint32_t)o;
		memcpy(lit + o, t->buf + from, t->cap_s[i] - from);
		o += t->cap_s[i] - from;
		from = t->cap_e[i];
		/* record index as if the arrays before were empty */
		val[i] = (uint32_t)(t->cap_v[i] - extra);
		fmt[i] = t->cap_f[i];
		if (fmt[i] == SF_ARRAY || fmt[i] == SF_ARRAY_NAMES) {
			efmt[i] = op_fmt(v->cls + 1);
			extra += (size_t)v->len;
			tp->narr++;
		}
	}
	off[t->ncap] = (uint32_t)o;
	memcpy(lit + o, t->buf + from, t->len - from);
	o += t->len - from;
	off[t->ncap + 1] = (uint32_t)o;
	tp->lit = lit;
	tp->val = val;
	tp->off = off;
	tp->fmt = fmt;
	tp->efmt = efmt;
	tp->nslot = (uint32_t)t->ncap;
	tp->nv = nv - extra;
	tp->ok = true;
}

/* byte needs no escape in a printed string */
/* clang-format off */
static const uint8_t plain_char[256] = {
#define R16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
    R16(0),
    R16(0),
    /* ' ' .. '/': '"' and '\'' escaped */
    1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1,
    /* '0' .. '?': '?' escaped */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    R16(1),
    /* 'P' .. '_': '\\' escaped */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    R16(1),
    /* 'p' .. DEL */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    R16(1),
    R16(1),
    R16(1),
    R16(1),
    R16(1),
    R16(1),
    R16(1),
    R16(1),
#undef R16
};
/* clang-format on */

/* Writes value v (a scalar) formatted as fmt at p; returns the cursor
 * after it, or NULL on allocation failure. Room for 96 bytes was made. */
static char *w_value(struct rtr_text *t, char *p, uint8_t fmt, const struct rtr_value *v)
{
	switch (fmt) {
	case SF_UDEC:
		return w_u64(p, v->v.u);
	case SF_SDEC:
		return w_i64(p, v->v.i);
	case SF_HEX: {
		unsigned len = v->cls->size, rl = (len + 3) & ~3u;
		uint64_t u = v->v.u;

		/* babeltrace2 computes (1 << 64) - 1 on x86 as 0 */
		if (len < 64)
			u &= rl < 64 ? ((uint64_t)1 << rl) - 1 : 0;
		p[0] = '0';
		p[1] = 'x';
		return w_hex(p + 2, u);
	}
	case SF_FLOAT: {
		int n = rtr__fmt_g(v->v.d, p);

		if (rtr_likely(n > 0))
			return p + n;
		t->len = (size_t)(p - t->buf);
		put_float(t, v->v.d);
		return t->buf + t->len;
	}
	case SF_STRING: {
		const uint8_t *c = (const uint8_t *)v->v.s;
		size_t n = (size_t)v->len, k = 0;

		if (n <= 4096) {
			p = ensure(t, p, n + 2);
			if (!p)
				return NULL;
			*p++ = '"';
			for (k = 0; k < n && plain_char[c[k]]; k++)
				p[k] = (char)c[k];
			p += k;
			if (k == n) {
				*p++ = '"';
				return p;
			}
			/* an escape: all of it the slow way */
			p -= k + 1;
		}
		t->len = (size_t)(p - t->buf);
		put_escaped(t, v->v.s, n);
		return t->buf + t->len;
	}
	default:
		t->len = (size_t)(p - t->buf);
		put_scalar(t, v);
		return t->buf + t->len;
	}
}

/* Array of scalars whose ARRAY_BEGIN record is v: "[ a, b ]", or with
 * names "[ [0] = a, [1] = b ]". */
static char *w_array(struct rtr_text *t, char *p, const struct rtr_value *v, uint8_t efmt,
		     bool names)
{
	uint64_t cnt = v->len;

	*p++ = '[';
	for (uint64_t k = 0; k < cnt && p; k++) {
		p = ensure(t, p, 128);
		if (!p)
			return NULL;
		if (k)
			*p++ = ',';
		*p++ = ' ';
		if (names) {
			*p++ = '[';
			p = w_u64(p, k);
			memcpy(p, "] = ", 4);
			p += 4;
		}
		p = w_value(t, p, efmt, &v[1 + k]);
	}
	if (p)
		p = ensure(t, p, 8);
	if (!p)
		return NULL;
	memcpy(p, " ]", 2);
	return p + 2;
}

/* Does template tp apply to message m (same record structure, arrays of
 * any length)? */
static bool tpl_match(const struct tpl *tp, const struct rtr_msg *m)
{
	size_t extra = 0;

	if (!tp->ok)
		return false;
	if (!tp->narr)
		return tp->nv == m->n_values;
	for (uint32_t i = 0; i < tp->nslot; i++) {
		const struct rtr_value *v;

		if (tp->fmt[i] != SF_ARRAY && tp->fmt[i] != SF_ARRAY_NAMES)
			continue;
		if (tp->val[i] + extra >= m->n_values)
			return false;
		v = &m->values[tp->val[i] + extra];
		if (v->kind != RTR_VAL_ARRAY_BEGIN || v->len > m->n_values)
			return false;
		extra += (size_t)v->len;
	}
	return tp->nv + extra == m->n_values;
}

/* One line from its class template (values at known places). p is the
 * output cursor; the line ends the buffer's content. */
static void put_tpl(struct rtr_text *t, const struct tpl *tp, const struct rtr_msg *m, char *p)
{
	size_t extra = 0;

	for (uint32_t i = 0; i <= tp->nslot; i++) {
		size_t ll = tp->off[i + 1] - tp->off[i];
		const struct rtr_value *v;
		uint8_t fmt;

		p = ensure(t, p, ll + 96);
		if (!p)
			return;
		p = w_lit(p, tp->lit + tp->off[i], ll);
		if (i == tp->nslot)
			break;
		v = &m->values[tp->val[i] + extra];
		fmt = tp->fmt[i];
		if (fmt == SF_ARRAY || fmt == SF_ARRAY_NAMES) {
			p = w_array(t, p, v, tp->efmt[i], fmt == SF_ARRAY_NAMES);
			extra += (size_t)v->len;
		} else {
			p = w_value(t, p, fmt, v);
		}
		if (!p)
			return;
	}
	t->len = (size_t)(p - t->buf);
}

/* '[' time of day '.' ns "] (+0." delta ") " when the time is in the
 * cached second and the delta below one second (put_head otherwise).
 * Returns the cursor after it, or NULL. */
static inline char *head_fast(struct rtr_text *t, const struct rtr_msg *m)
{
	uint64_t delta;
	char *p;

	if (!t->fast_head || !m->has_clock || m->ns_error || !t->tm_valid ||
	    m->ns < t->sec_base_ns || m->ns - t->sec_base_ns >= 1000000000 ||
	    t->hs.last_real == UINT64_MAX)
		return NULL;
	delta = (uint64_t)m->ns - t->hs.last_real;
	if (delta >= 1000000000 && !t->o.no_delta)
		return NULL;
	p = ensure(t, t->buf + t->len, 64);
	if (!p)
		return NULL;
	t->hs.delta_real = delta;
	t->hs.last_real = (uint64_t)m->ns;
	t->start_line = true;
	*p++ = '[';
	p = w_lit(p, t->tm_str, t->tm_len);
	p = w9z(p, (uint32_t)(m->ns - t->sec_base_ns));
	if (t->o.no_delta) {
		memcpy(p, "] ", 2);
		return p + 2;
	}
	memcpy(p, "] (+0.", 6);
	p = w9z(p + 6, (uint32_t)delta);
	memcpy(p, ") ", 2);
	return p + 2;
}

/* Timestamp and delta: depend on the previous printed event. */
static void put_head(struct rtr_text *t, const struct rtr_msg *m)
{
	bool pn = t->o.names & RTR_TEXT_NAME_HEADER;

	t->start_line = true;
	if (m->has_clock) {
		if (pn)
			PUTS(t, "timestamp = ");
		else
			putc1(t, '[');
		if (t->o.clock_cycles) {
			put_u64w(t, m->cycles, 20);
			if (t->hs.last_cycles != UINT64_MAX)
				t->hs.delta_cycles = m->cycles - t->hs.last_cycles;
			t->hs.last_cycles = m->cycles;
		} else {
			rtr__put_wall(t, m->ns, m->ns_error, true);
		}
		if (!pn)
			PUTS(t, "] ");
		if (!t->o.no_delta) {
			if (pn) {
				PUTS(t, ", delta = ");
			} else {
				putc1(t, '(');
			}
			if (t->o.clock_cycles) {
				if (t->hs.delta_cycles == UINT64_MAX) {
					PUTS(t, "+????????????");
				} else {
					putc1(t, '+');
					put_u64w(t, t->hs.delta_cycles, 12);
				}
			} else if (t->hs.delta_real < 1000000000) {
				PUTS(t, "+0.");
				put_u64w(t, t->hs.delta_real, 9);
			} else if (t->hs.delta_real != UINT64_MAX) {
				putc1(t, '+');
				put_u64(t, t->hs.delta_real / 1000000000);
				putc1(t, '.');
				put_u64w(t, t->hs.delta_real % 1000000000, 9);
			} else {
				PUTS(t, "+?.?????????");
			}
			if (!pn)
				PUTS(t, ") ");
		}
		t->start_line = !pn;
	}
}

/* The rest of the line: depends on the event only (and on whether its
 * stream has a clock, through start_line). */
static void put_rest(struct rtr_text *t, const struct rtr_msg *m)
{
	bool pn = t->o.names & RTR_TEXT_NAME_HEADER;
	unsigned f = t->o.fields;
	const struct trace_hdr *h;
	bool dom = false;
	struct tpl *tp;
	size_t lit_start = 0;
	uint64_t flushes = 0;

	tp = m->class_index < t->ntpl ? &t->tpls[m->class_index] : NULL;
	if (tp && tpl_match(tp, m)) {
		put_tpl(t, tp, m, t->buf + t->len);
		return;
	}
	h = hdr_of(t, m->stream);
	if (tp && !tp->tried) {
		/* print normally once, noting where the values went */
		room(t, 65536);
		lit_start = t->len;
		flushes = t->flushes;
		t->capturing = true;
		t->capture_bad = false;
		t->ncap = 0;
	}
	if (!pn && h && h->pre) {
		put(t, h->pre, h->pre_len);
		dom = h->pre_dom;
		goto class_fields;
	}
	slow_fields(t, m, h, &dom);
class_fields:
	if ((f & RTR_TEXT_FIELD_LOGLEVEL) && m->loglevel >= 0 && loglevel_name(m->loglevel)) {
		if (!t->start_line)
			PUTS(t, ", ");
		if (pn)
			PUTS(t, "loglevel = ");
		else if (dom)
			putc1(t, ':');
		putstr(t, loglevel_name(m->loglevel));
		PUTS(t, " (");
		put_i64(t, m->loglevel);
		putc1(t, ')');
		dom = true;
	}
	if ((f & RTR_TEXT_FIELD_EMF) && m->emf_uri) {
		if (!t->start_line)
			PUTS(t, ", ");
		if (pn)
			PUTS(t, "model.emf.uri = ");
		else if (dom)
			putc1(t, ':');
		putstr(t, m->emf_uri);
		dom = true;
	}
	if (dom && !pn)
		putc1(t, ' ');
	if (!t->start_line)
		PUTS(t, ", ");
	t->start_line = true;
	if (pn)
		PUTS(t, "name = ");
	putstr(t, m->name ? m->name : "<unknown>");
	if (!pn)
		PUTS(t, ": ");
	else
		PUTS(t, ", ");
	put_values(t, m->values, m->n_values);
	putc1(t, '\n');
	if (t->capturing) {
		t->capturing = false;
		tp->tried = true;
		if (!t->capture_bad && flushes == t->flushes)
			make_tpl(t, tp, lit_start, m->n_values, m->values);
	}
}

static void put_event(struct rtr_text *t, const struct rtr_msg *m)
{
	const struct tpl *tp = m->class_index < t->ntpl ? &t->tpls[m->class_index] : NULL;

	if (tp && tpl_match(tp, m)) {
		char *p = head_fast(t, m);

		if (p) {
			put_tpl(t, tp, m, p);
			return;
		}
	}
	put_head(t, m);
	put_rest(t, m);
}

static void put_discarded(struct rtr_text *t, const struct rtr_msg *m)
{
	const struct rtr_stream_info *si = m->stream;
	const char *what = m->kind == RTR_MSG_DISCARDED_EVENTS ? "event" : "packet";
	size_t save = t->len;
	char *line;
	size_t n;

	/* build the line in the buffer, then move it to stderr */
	rtr__text_flush(t);
	save = t->len;
	PUTS(t, "WARNING: ");
	if (m->count == UINT64_MAX) {
		PUTS(t, "Tracer may have discarded ");
		putstr(t, what);
		putc1(t, 's');
	} else {
		PUTS(t, "Tracer discarded ");
		put_u64(t, m->count);
		putc1(t, ' ');
		putstr(t, what);
		if (m->count != 1)
			putc1(t, 's');
	}
	putc1(t, ' ');
	if (m->has_range) {
		PUTS(t, "between [");
		rtr__put_wall(t, m->begin_ns, m->begin_ns_error, false);
		PUTS(t, "] and [");
		rtr__put_wall(t, m->end_ns, m->end_ns_error, false);
		putc1(t, ']');
	} else {
		PUTS(t, "(unknown time range)");
	}
	PUTS(t, " in trace \"");
	putstr(t, si->trace_name ? si->trace_name : "(unknown)");
	PUTS(t, "\" ");
	if (si->uuid) {
		char u[64];
		const uint8_t *x = si->uuid;

		snprintf(
		    u, sizeof(u),
		    "(UUID: %02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x) ",
		    x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10], x[11], x[12],
		    x[13], x[14], x[15]);
		putstr(t, u);
	} else {
		PUTS(t, "(no UUID) ");
	}
	PUTS(t, "within stream \"");
	putstr(t, si->path ? si->path : "(unknown)");
	PUTS(t, "\" (stream class ID: ");
	put_u64(t, si->stream_class_id);
	PUTS(t, ", stream ID: ");
	put_u64(t, si->stream_id);
	PUTS(t, ").\n");
	if (t->fd < 0)
		return; /* memory mode: the line stays in the buffer */
	line = t->buf + save;
	n = t->len - save;
	fwrite(line, 1, n, t->err);
	fflush(t->err);
	t->len = save;
}

struct rtr_text *rtr__text_new(struct rtr_reader *r, int out_fd, FILE *err,
				 const struct rtr_text_options *o)
{
	struct rtr_text *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->buf = malloc(OUTBUF);
	t->nth = rtr_reader_trace_count(r);
	t->th = calloc(t->nth + 1, sizeof(*t->th));
	if (!t->buf || !t->th) {
		free(t->buf);
		free(t->th);
		free(t);
		return NULL;
	}
	t->ntpl = rtr_reader_class_count(r);
	t->tpls = calloc(t->ntpl + 1, sizeof(*t->tpls));
	if (!t->tpls) {
		free(t->buf);
		free(t->th);
		free(t);
		return NULL;
	}
	t->cap = OUTBUF;
	t->r = r;
	t->fd = out_fd;
	t->err = err;
	t->o = *o;
	t->hs.last_real = t->hs.delta_real = UINT64_MAX;
	t->hs.last_cycles = t->hs.delta_cycles = UINT64_MAX;
	t->fast_head = !(o->names & RTR_TEXT_NAME_HEADER) && !o->clock_cycles && !o->clock_seconds;
	tzset();
	return t;
}

int rtr_text_create(struct rtr_reader *r, int out_fd, FILE *warn, const struct rtr_text_options *o,
		    struct rtr_text **out)
{
	*out = NULL;
	if (out_fd < 0)
		return -EBADF;
	*out = rtr__text_new(r, out_fd, warn, o);
	return *out ? 0 : -ENOMEM;
}

int rtr_text_print(struct rtr_text *t, const struct rtr_msg *m)
{
	if (m->kind == RTR_MSG_EVENT)
		put_event(t, m);
	else
		put_discarded(t, m);
	return t->werr ? -t->werr : 0;
}

int rtr_text_mark(struct rtr_text *t, const char *note)
{
	/* the line just printed still ends the buffer unless a flush took it */
	if (t->len && t->buf[t->len - 1] == '\n') {
		t->len--;
		putc1(t, ' ');
	}
	putstr(t, note);
	putc1(t, '\n');
	return t->werr ? -t->werr : 0;
}

int rtr_text_destroy(struct rtr_text *t)
{
	int e;

	if (!t)
		return 0;
	rtr__text_flush(t);
	e = t->werr;
	for (size_t i = 0; i < t->nth; i++)
		free(t->th[i].pre);
	for (size_t i = 0; i < t->ntpl; i++) {
		free(t->tpls[i].lit);
		free(t->tpls[i].val);
		free(t->tpls[i].off);
		free(t->tpls[i].fmt);
		free(t->tpls[i].efmt);
	}
	free(t->tpls);
	free(t->cap_s);
	free(t->cap_e);
	free(t->cap_v);
	free(t->cap_f);
	free(t->buf);
	free(t->th);
	free(t);
	return e ? -e : 0;
}

/* ------------------------------------------------------------------ */
/* drain                                                               */

int rtr_text_drain(struct rtr_text *t, struct rtr_reader *r,
		   void (*progress)(struct rtr_reader *r, uint64_t n), struct rtr_error *err)
{
	struct rtr_msg m;
	uint64_t n = 0;
	enum rtr_next rc;
	bool used;
	int ret = rtr__par_drain(t, r, progress, err, &used);

	if (used)
		return ret;
	while ((rc = rtr_reader_next(r, &m)) == RTR_NEXT_OK) {
		if ((ret = rtr_text_print(t, &m)))
			return rtr__error(err, ret, "write: %s", strerror(-ret));
		if (progress && !(++n & 0xffff))
			progress(r, n);
	}
	if (rc == RTR_NEXT_ERROR)
		return rtr__error(err, r ? rtr_reader_error(r)->code : -EINVAL, "%s",
				  rtr_reader_error(r)->msg);
	return 0;
}

