/* TSDL lexer: whitespace and comments skipped, identifiers (keywords
 * marked, interned), integer, string and character literals, punctuation.
 * See docs/design/reader.md ("Pipeline"). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metadata/lexer.h"

static const struct {
	const char *s;
	enum rtr__kw k;
} kwtab[] = {
    {"align", KW_ALIGN},
    {"callsite", KW_CALLSITE},
    {"const", KW_CONST},
    {"char", KW_CHAR},
    {"clock", KW_CLOCK},
    {"double", KW_DOUBLE},
    {"enum", KW_ENUM},
    {"env", KW_ENV},
    {"event", KW_EVENT},
    {"floating_point", KW_FLOATING_POINT},
    {"float", KW_FLOAT},
    {"integer", KW_INTEGER},
    {"int", KW_INT},
    {"long", KW_LONG},
    {"short", KW_SHORT},
    {"signed", KW_SIGNED},
    {"stream", KW_STREAM},
    {"string", KW_STRING},
    {"struct", KW_STRUCT},
    {"trace", KW_TRACE},
    {"typealias", KW_TYPEALIAS},
    {"typedef", KW_TYPEDEF},
    {"unsigned", KW_UNSIGNED},
    {"variant", KW_VARIANT},
    {"void", KW_VOID},
    {"_Bool", KW_BOOL},
    {"_Complex", KW_COMPLEX},
    {"_Imaginary", KW_IMAGINARY},
};

int rtr__tsdl_error(struct rtr_error *e, const struct rtr__arena *a, const char *origin,
		    uint32_t line, int code, const char *fmt, ...)
{
	char m[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	if (a->over) /* not "out of memory": the limit was reached */
		return rtr__error(e, -ENOMEM,
				  "%s:%u: metadata error: modelling this metadata takes more than "
				  "%zu MiB (%d times its size): refused",
				  origin, line, a->limit >> 20, RTR__MODEL_FACTOR);
	return rtr__error(e, code, "%s:%u: metadata error: %s", origin, line, m);
}

/* Static functions here return 0 or a negative errno, the error recorded
 * in the lexer's e. */
#define perr_at(p, line, ...)                                                                      \
	rtr__tsdl_error((p)->e, (p)->arena, (p)->origin, line, -EINVAL, __VA_ARGS__)
#define perr_oom(p, line)                                                                          \
	rtr__tsdl_error((p)->e, (p)->arena, (p)->origin, line, -ENOMEM, "out of memory")

static uint64_t hash_bytes(const char *b, size_t n)
{
	uint64_t h = 1469598103934665603u;

	for (size_t k = 0; k < n; k++)
		h = (h ^ (uint8_t)b[k]) * 1099511628211u;
	return h;
}

/* The arena copy of identifier [b, b + n): one per distinct name, so that
 * a name repeated a million times costs one copy. NULL on out of memory. */
static const char *intern(struct rtr__lexer *p, const char *b, size_t n)
{
	size_t i;
	const char *c;

	if (2 * (p->nids + 1) > p->capids) {
		size_t nc = p->capids ? 2 * p->capids : 256;
		const char **nt = calloc(nc, sizeof(*nt));

		if (!nt)
			return NULL;
		for (size_t k = 0; k < p->capids; k++) {
			if (!p->ids[k])
				continue;
			i = (size_t)hash_bytes(p->ids[k], strlen(p->ids[k])) & (nc - 1);
			while (nt[i])
				i = (i + 1) & (nc - 1);
			nt[i] = p->ids[k];
		}
		free(p->ids);
		p->ids = nt;
		p->capids = nc;
	}
	i = (size_t)hash_bytes(b, n) & (p->capids - 1);
	while (p->ids[i]) {
		if (!strncmp(p->ids[i], b, n) && p->ids[i][n] == 0)
			return p->ids[i];
		i = (i + 1) & (p->capids - 1);
	}
	c = rtr__arena_strndup(p->arena, b, n);
	if (c) {
		p->ids[i] = c;
		p->nids++;
	}
	return c;
}

/* Decodes the escapes of a string/char literal body [s, e) into the arena,
 * as babeltrace2 2.0.4's lexer does: the C escapes \a \b \f \n \r \t \v
 * \\ \' \" \?, up to three octal digits (\101) or up to three hex digits
 * after \x (\x414 is 0x14 once cut to a byte); any other escape is an
 * error. The text is a C string: a decoded NUL (\0, or \x without a
 * digit) ends it. */
static char *unescape(struct rtr__lexer *p, const char *s, const char *e, uint32_t line,
		      uint32_t *outlen)
{
	char *o = rtr__arena_alloc(p->arena, (size_t)(e - s) + 1);
	size_t n = 0;
	bool cut = false;

	if (!o) {
		perr_oom(p, line);
		return NULL;
	}
	while (s < e) {
		char c = *s++;

		if (c == '\n')
			line++;
		if (c == '\\') { /* the lexer checked that a character follows */
			c = *s++;
			switch (c) {
			case 'a':
				c = '\a';
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'v':
				c = '\v';
				break;
			case '\\':
			case '\'':
			case '"':
			case '?':
				break;
			case 'x': {
				unsigned v = 0;
				int k = 0, h;

				while (k < 3 && s < e && (h = rtr__hexval(*s)) >= 0) {
					v = v * 16 + (unsigned)h;
					s++;
					k++;
				}
				c = (char)(v & 0xff);
				break;
			}
			default:
				if (c >= '0' && c <= '7') {
					unsigned v = (unsigned)(c - '0');
					int k = 1;

					while (k < 3 && s < e && *s >= '0' && *s <= '7') {
						v = v * 8 + (unsigned)(*s++ - '0');
						k++;
					}
					c = (char)(v & 0xff);
					break;
				}
				perr_at(p, line, "invalid escape sequence '\\%c' in literal", c);
				return NULL;
			}
		}
		if (c == 0)
			cut = true;
		if (!cut)
			o[n++] = c;
	}
	o[n] = 0;
	*outlen = (uint32_t)n;
	return o;
}

/* Sets the lexer on the metadata text. Metadata is text: a NUL byte
 * anywhere, even in a comment, makes it invalid (CTF test suite:
 * metadata-with-null-char). */
int rtr__lex_init(struct rtr__lexer *p, const char *src, size_t len)
{
	const char *nul = memchr(src, 0, len);

	p->ls = src;
	p->lend = src + len;
	p->lline = 1;
	if (nul) {
		uint32_t line = 1;

		for (const char *c = src; c < nul; c++)
			line += *c == '\n';
		return perr_at(p, line, "NUL byte in metadata text (offset %zu)",
			       (size_t)(nul - src));
	}
	return 0;
}

/* Lexes the next token into t. Returns 0, or -1 with the error set. */
int rtr__lex_one(struct rtr__lexer *p, struct rtr__token *t)
{
	const char *s = p->ls, *end = p->lend;
	uint32_t line = p->lline;

	memset(t, 0, sizeof(*t));
	while (1) {
		/* whitespace and comments */
		while (s < end) {
			if (*s == '\n') {
				line++;
				s++;
			} else if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\f' ||
				   *s == '\v') {
				s++;
			} else if (*s == '/' && s + 1 < end && s[1] == '*') {
				const char *c = s + 2;

				while (c + 1 < end && !(c[0] == '*' && c[1] == '/')) {
					if (*c == '\n')
						line++;
					c++;
				}
				if (c + 1 >= end)
					return perr_at(p, line, "unterminated comment");
				s = c + 2;
			} else if (*s == '/' && s + 1 < end && s[1] == '/') {
				while (s < end && *s != '\n')
					s++;
			} else {
				break;
			}
		}
		t->line = line;
		t->s = s;
		if (s >= end) {
			t->t = T_EOF;
			t->s = "";
			p->lex_end = true;
			break;
		}
		if (isalpha((unsigned char)*s) || *s == '_') {
			const char *b = s;

			while (s < end && (isalnum((unsigned char)*s) || *s == '_'))
				s++;
			t->t = T_IDENT;
			t->s = intern(p, b, (size_t)(s - b));
			if (!t->s)
				return perr_oom(p, line);
			t->len = (uint32_t)(s - b);
			for (size_t k = 0; k < RTR_ARRAY_SIZE(kwtab); k++)
				if (strcmp(kwtab[k].s, t->s) == 0)
					t->kw = kwtab[k].k;
		} else if (isdigit((unsigned char)*s)) {
			const char *b = s;
			uint64_t v = 0;
			int base = 10, ovf = 0, d;

			if (*s == '0' && s + 1 < end && (s[1] == 'x' || s[1] == 'X')) {
				base = 16;
				s += 2;
				if (s >= end || rtr__hexval(*s) < 0)
					return perr_at(p, line, "incomplete hexadecimal literal");
			} else if (*s == '0') {
				base = 8;
			}
			while (s < end && (d = rtr__hexval(*s)) >= 0 && d < base) {
				if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
					ovf = 1;
				v = v * (uint64_t)base + (uint64_t)d;
				s++;
			}
			while (s < end && (*s == 'u' || *s == 'U' || *s == 'l' || *s == 'L'))
				s++;
			if (s < end && (isalnum((unsigned char)*s) || *s == '_')) {
				/* "1x", "089": let the parser see the junk as
				 * an identifier, as babeltrace2 does */
			}
			t->t = T_INT;
			t->v = v;
			t->ovf = (uint8_t)ovf;
			t->s = b;
			t->len = (uint32_t)(s - b);
		} else if (*s == '"' || *s == '\'') {
			char q = *s++;
			const char *b = s;

			uint32_t nl = 0;

			/* raw newlines belong to the literal (babeltrace2's
			 * lexer); a backslash escapes any character but a
			 * newline; a NUL byte is never text */
			while (s < end && *s != q) {
				if (*s == '\\') {
					if (s + 1 >= end)
						break;
					if (s[1] == '\n')
						return perr_at(
						    p, line + nl,
						    "backslash before a newline in literal");
					s++;
				}
				if (*s == 0)
					return perr_at(p, line + nl, "NUL byte in metadata text");
				if (*s == '\n')
					nl++;
				s++;
			}
			if (s >= end)
				return perr_at(p, line, "unterminated literal");
			t->t = q == '"' ? T_STRING : T_CHAR;
			t->s = p->scan ? "" : unescape(p, b, s, line, &t->len);
			if (!t->s) /* unescape() recorded why */
				return p->e && p->e->code ? p->e->code : -EINVAL;
			line += nl;
			if (t->t == T_CHAR)
				t->v = t->len ? (unsigned char)t->s[0] : 0;
			s++;
		} else {
			t->len = 1;
			switch (*s) {
			case '{':
				t->t = T_LBRACE;
				break;
			case '}':
				t->t = T_RBRACE;
				break;
			case '(':
				t->t = T_LPAREN;
				break;
			case ')':
				t->t = T_RPAREN;
				break;
			case '[':
				t->t = T_LBRACK;
				break;
			case ']':
				t->t = T_RBRACK;
				break;
			case ';':
				t->t = T_SEMI;
				break;
			case ',':
				t->t = T_COMMA;
				break;
			case '=':
				t->t = T_EQ;
				break;
			case '<':
				t->t = T_LT;
				break;
			case '>':
				t->t = T_GT;
				break;
			case '+':
				t->t = T_PLUS;
				break;
			case '*':
				t->t = T_STAR;
				break;
			case '?':
				t->t = T_QUESTION;
				break;
			case ':':
				if (s + 1 < end && s[1] == '=') {
					t->t = T_ASSIGN;
					t->len = 2;
				} else {
					t->t = T_COLON;
				}
				break;
			case '.':
				if (s + 2 < end && s[1] == '.' && s[2] == '.') {
					t->t = T_ELLIPSIS;
					t->len = 3;
				} else {
					t->t = T_DOT;
				}
				break;
			case '-':
				if (s + 1 < end && s[1] == '>') {
					t->t = T_ARROW;
					t->len = 2;
				} else {
					t->t = T_MINUS;
				}
				break;
			default:
				if (*s == 0)
					return perr_at(p, line, "NUL byte in metadata text");
				return perr_at(p, line, "unexpected character 0x%02x",
					       (unsigned char)*s);
			}
			s += t->len;
		}
		break;
	}
	p->ls = s;
	p->lline = line;
	return 0;
}
