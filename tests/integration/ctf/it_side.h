/* Expected-output writer of the CTF integration test: formats each payload
 * the way babeltrace2 2.0's text sink prints it (docs/research ctf.md §9:
 * "{ name = value, ... }", hex "0x" + upper-case digits of the field width,
 * octal "0" + digits, "%g" reals, quoted escaped strings, enums
 * "( \"LABEL\" : container = N )", arrays "[ [i] = v, ... ]"), one line per
 * event: "provider:event: <payload>". */
#ifndef IT_SIDE_H
#define IT_SIDE_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct it_line {
	char buf[16384];
	size_t len;
	int nfields; /* at the current nesting level */
	FILE *out;
};

static inline void it_add(struct it_line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void it_add(struct it_line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, sizeof(l->buf) - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len +=
		    (size_t)n < sizeof(l->buf) - l->len ? (size_t)n : sizeof(l->buf) - l->len - 1;
}

static inline void it_begin(struct it_line *l, FILE *out, const char *prov, const char *ev)
{
	l->len = 0;
	l->nfields = 0;
	l->out = out;
	it_add(l, "%s:%s: {", prov, ev);
}

static inline void it_end(struct it_line *l)
{
	it_add(l, l->nfields ? " }" : " }");
	fprintf(l->out, "%s\n", l->buf);
}

static inline void it_name(struct it_line *l, const char *name)
{
	it_add(l, "%s %s = ", l->nfields++ ? "," : "", name);
}

static inline void it_u(struct it_line *l, const char *name, uint64_t v)
{
	it_name(l, name);
	it_add(l, "%" PRIu64, v);
}

static inline void it_s(struct it_line *l, const char *name, int64_t v)
{
	it_name(l, name);
	it_add(l, "%" PRId64, v);
}

static inline uint64_t it_mask(uint64_t v, unsigned bits)
{
	return bits >= 64 ? v : v & ((UINT64_C(1) << bits) - 1);
}

static inline void it_hex_v(struct it_line *l, uint64_t v, unsigned bits)
{
	it_add(l, "0x%" PRIX64, it_mask(v, bits));
}

static inline void it_hex(struct it_line *l, const char *name, uint64_t v, unsigned bits)
{
	it_name(l, name);
	it_hex_v(l, v, bits);
}

/* babeltrace2 masks a signed value shown in octal to its width rounded up
 * to a multiple of 3 bits (an unsigned one is not masked). */
static inline void it_oct(struct it_line *l, const char *name, uint64_t v, unsigned bits,
			  bool is_signed)
{
	it_name(l, name);
	it_add(l, "0%" PRIo64, is_signed ? it_mask(v, (bits + 2) / 3 * 3) : v);
}

static inline void it_real(struct it_line *l, const char *name, double v)
{
	it_name(l, name);
	it_add(l, "%g", v);
}

static inline void it_quoted(struct it_line *l, const char *s, size_t n)
{
	it_add(l, "\"");
	for (size_t i = 0; i < n && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '\\':
			it_add(l, "\\\\");
			break;
		case '\'':
			it_add(l, "\\'");
			break;
		case '"':
			it_add(l, "\\\"");
			break;
		case '?':
			it_add(l, "\\?");
			break;
		case '\a':
			it_add(l, "\\a");
			break;
		case '\b':
			it_add(l, "\\b");
			break;
		case 0x1b:
			it_add(l, "\\e");
			break;
		case '\f':
			it_add(l, "\\f");
			break;
		case '\n':
			it_add(l, "\\n");
			break;
		case '\r':
			it_add(l, "\\r");
			break;
		case '\t':
			it_add(l, "\\t");
			break;
		case '\v':
			it_add(l, "\\v");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				it_add(l, "\\x%02x", c);
			else
				it_add(l, "%c", c);
		}
	}
	it_add(l, "\"");
}

static inline void it_str(struct it_line *l, const char *name, const char *s, size_t max)
{
	it_name(l, name);
	it_quoted(l, s, max);
}

/* label NULL: no mapping */
static inline void it_enum(struct it_line *l, const char *name, const char *label, int64_t v,
			   bool is_signed)
{
	it_name(l, name);
	if (label)
		it_add(l, "( \"%s\" : container = ", label);
	else
		it_add(l, "( <unknown> : container = ");
	if (is_signed)
		it_add(l, "%" PRId64 " )", v);
	else
		it_add(l, "%" PRIu64 " )", (uint64_t)v);
}

/* Arrays: it_arr_begin, then it_elem_* per element, then it_arr_end. */
static inline void it_arr_begin(struct it_line *l, const char *name)
{
	it_name(l, name);
	it_add(l, "[");
}

static inline void it_elem(struct it_line *l, size_t i)
{
	it_add(l, "%s [%zu] = ", i ? "," : "", i);
}

static inline void it_arr_end(struct it_line *l, size_t n)
{
	it_add(l, n ? " ]" : " ]");
}

static inline void it_seq_len(struct it_line *l, const char *name, uint64_t n)
{
	char len_name[300];

	snprintf(len_name, sizeof(len_name), "_%s_length", name);
	it_u(l, len_name, n);
}

#endif /* IT_SIDE_H */
