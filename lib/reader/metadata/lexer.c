/* TSDL lexer: whitespace and comments skipped, identifiers (keywords
 * marked), integer, string and character literals, punctuation.
 * See docs/design/reader.md ("Pipeline"). */
#include <ctype.h>
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

struct lexer {
	struct rtr__arena *arena;
	struct rtr__err *e;
	const char *origin;
	struct rtr__token *tk;
	size_t ntk, cap;
};

int rtr__tsdl_error(struct rtr__err *e, const char *origin, uint32_t line, const char *fmt, ...)
{
	char m[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	rtr__seterr(e, "%s:%u: metadata error: %s", origin, line, m);
	return -1;
}

#define perr_at(p, line, ...) rtr__tsdl_error((p)->e, (p)->origin, line, __VA_ARGS__)

static int push_tok(struct lexer *p, struct rtr__token *t)
{
	if (rtr__grow((void **)&p->tk, &p->cap, p->ntk + 1, sizeof(*t)))
		return perr_at(p, t->line, "out of memory");
	p->tk[p->ntk++] = *t;
	return 0;
}

static char *unescape(struct lexer *p, const char *s, const char *e, uint32_t *outlen)
{
	char *o = rtr__arena_alloc(p->arena, (size_t)(e - s) + 1);
	size_t n = 0;

	if (!o)
		return NULL;
	while (s < e) {
		char c = *s++;

		if (c == '\\' && s < e) {
			c = *s++;
			switch (c) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case 'a':
				c = '\a';
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'v':
				c = '\v';
				break;
			case 'e':
				c = 27;
				break;
			case 'x': {
				int v = 0, k = 0, h;

				while (k < 2 && s < e && (h = rtr__hexval(*s)) >= 0) {
					v = v * 16 + h;
					s++;
					k++;
				}
				c = (char)v;
				break;
			}
			default:
				if (c >= '0' && c <= '7') {
					int v = c - '0', k = 1;

					while (k < 3 && s < e && *s >= '0' && *s <= '7') {
						v = v * 8 + (*s++ - '0');
						k++;
					}
					c = (char)v;
				}
				break;
			}
		}
		o[n++] = c;
	}
	o[n] = 0;
	*outlen = (uint32_t)n;
	return o;
}

static int lex(struct lexer *p, const char *src, size_t len)
{
	const char *s = src, *end = src + len;
	uint32_t line = 1;

	while (1) {
		struct rtr__token t = {0};

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
		t.line = line;
		t.s = s;
		if (s >= end) {
			t.t = T_EOF;
			t.s = "";
			return push_tok(p, &t);
		}
		if (isalpha((unsigned char)*s) || *s == '_') {
			const char *b = s;

			while (s < end && (isalnum((unsigned char)*s) || *s == '_'))
				s++;
			t.t = T_IDENT;
			t.s = rtr__arena_strndup(p->arena, b, (size_t)(s - b));
			if (!t.s)
				return perr_at(p, line, "out of memory");
			t.len = (uint32_t)(s - b);
			for (size_t k = 0; k < RTR_ARRAY_SIZE(kwtab); k++)
				if (strcmp(kwtab[k].s, t.s) == 0)
					t.kw = kwtab[k].k;
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
			t.t = T_INT;
			t.v = v;
			t.ovf = (uint8_t)ovf;
			t.s = b;
			t.len = (uint32_t)(s - b);
		} else if (*s == '"' || *s == '\'') {
			char q = *s++;
			const char *b = s;

			while (s < end && *s != q) {
				if (*s == '\\' && s + 1 < end)
					s++;
				if (*s == '\n')
					return perr_at(p, line, "newline in literal");
				s++;
			}
			if (s >= end)
				return perr_at(p, line, "unterminated literal");
			t.t = q == '"' ? T_STRING : T_CHAR;
			t.s = unescape(p, b, s, &t.len);
			if (!t.s)
				return perr_at(p, line, "out of memory");
			if (t.t == T_CHAR)
				t.v = t.len ? (unsigned char)t.s[0] : 0;
			s++;
		} else {
			t.len = 1;
			switch (*s) {
			case '{':
				t.t = T_LBRACE;
				break;
			case '}':
				t.t = T_RBRACE;
				break;
			case '(':
				t.t = T_LPAREN;
				break;
			case ')':
				t.t = T_RPAREN;
				break;
			case '[':
				t.t = T_LBRACK;
				break;
			case ']':
				t.t = T_RBRACK;
				break;
			case ';':
				t.t = T_SEMI;
				break;
			case ',':
				t.t = T_COMMA;
				break;
			case '=':
				t.t = T_EQ;
				break;
			case '<':
				t.t = T_LT;
				break;
			case '>':
				t.t = T_GT;
				break;
			case '+':
				t.t = T_PLUS;
				break;
			case '*':
				t.t = T_STAR;
				break;
			case '?':
				t.t = T_QUESTION;
				break;
			case ':':
				if (s + 1 < end && s[1] == '=') {
					t.t = T_ASSIGN;
					t.len = 2;
				} else {
					t.t = T_COLON;
				}
				break;
			case '.':
				if (s + 2 < end && s[1] == '.' && s[2] == '.') {
					t.t = T_ELLIPSIS;
					t.len = 3;
				} else {
					t.t = T_DOT;
				}
				break;
			case '-':
				if (s + 1 < end && s[1] == '>') {
					t.t = T_ARROW;
					t.len = 2;
				} else {
					t.t = T_MINUS;
				}
				break;
			default:
				if (*s == 0)
					return perr_at(p, line, "NUL byte in metadata text");
				return perr_at(p, line, "unexpected character 0x%02x",
					       (unsigned char)*s);
			}
			s += t.len;
		}
		if (push_tok(p, &t))
			return -1;
	}
}

int rtr__tsdl_lex(const char *text, size_t len, struct rtr__arena *arena, const char *origin,
		  struct rtr__err *e, struct rtr__token **tk, size_t *ntk)
{
	struct lexer p = {.arena = arena, .e = e, .origin = origin};

	if (lex(&p, text, len)) {
		free(p.tk);
		*tk = NULL;
		*ntk = 0;
		return -1;
	}
	*tk = p.tk;
	*ntk = p.ntk;
	return 0;
}
