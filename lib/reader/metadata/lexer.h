/* TSDL lexer: metadata text to a token array (literals unescaped and
 * copied into the trace class arena), shared by the parser.
 * See docs/design/reader.md ("Pipeline"). */
#ifndef RTR_READER_METADATA_LEXER_H
#define RTR_READER_METADATA_LEXER_H

#include "base/base.h"

enum rtr__tok {
	T_EOF = 0,
	T_IDENT,
	T_INT,
	T_STRING,
	T_CHAR,
	T_LBRACE,
	T_RBRACE,
	T_LPAREN,
	T_RPAREN,
	T_LBRACK,
	T_RBRACK,
	T_SEMI,
	T_COLON,
	T_COMMA,
	T_EQ,
	T_ASSIGN, /* := */
	T_DOT,
	T_ARROW,
	T_LT,
	T_GT,
	T_ELLIPSIS,
	T_MINUS,
	T_PLUS,
	T_STAR,
	T_QUESTION,
};

enum rtr__kw {
	KW_NONE = 0,
	KW_ALIGN,
	KW_CALLSITE,
	KW_CONST,
	KW_CHAR,
	KW_CLOCK,
	KW_DOUBLE,
	KW_ENUM,
	KW_ENV,
	KW_EVENT,
	KW_FLOATING_POINT,
	KW_FLOAT,
	KW_INTEGER,
	KW_INT,
	KW_LONG,
	KW_SHORT,
	KW_SIGNED,
	KW_STREAM,
	KW_STRING,
	KW_STRUCT,
	KW_TRACE,
	KW_TYPEALIAS,
	KW_TYPEDEF,
	KW_UNSIGNED,
	KW_VARIANT,
	KW_VOID,
	KW_BOOL,
	KW_COMPLEX,
	KW_IMAGINARY,
};

struct rtr__token {
	uint8_t t;  /* enum rtr__tok */
	uint8_t kw; /* enum rtr__kw of an identifier */
	uint8_t ovf; /* integer literal overflowed 64 bits */
	uint32_t line;
	const char *s; /* identifier / string content (NUL-terminated) */
	uint32_t len;
	uint64_t v;
};

/* Splits text[0, len) into tokens, the last one T_EOF: *tk (malloc'd, the
 * caller frees it) and *ntk. Identifiers and literals are copied into
 * arena. Returns 0, or -1 with e set ("origin:line: metadata error: ...")
 * and *tk NULL. */
int rtr__tsdl_lex(const char *text, size_t len, struct rtr__arena *arena, const char *origin,
		  struct rtr__err *e, struct rtr__token **tk, size_t *ntk);

/* Sets e to "origin:line: metadata error: " and the message; returns -1. */
int rtr__tsdl_error(struct rtr__err *e, const char *origin, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline int rtr__hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif /* RTR_READER_METADATA_LEXER_H */
