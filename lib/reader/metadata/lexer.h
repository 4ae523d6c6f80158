/* TSDL lexer: tokens of metadata text produced on demand (memory does not
 * grow with the text), identifiers interned and literals unescaped into
 * the trace class arena, as babeltrace2 2.0.4's lexer reads them.
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
	uint8_t t;   /* enum rtr__tok */
	uint8_t kw;  /* enum rtr__kw of an identifier */
	uint8_t ovf; /* integer literal overflowed 64 bits */
	uint32_t line;
	const char *s; /* identifier / string content (NUL-terminated) */
	uint32_t len;
	uint64_t v;
};

struct rtr__lexer {
	struct rtr__arena *arena; /* identifiers and literals */
	struct rtr_error *e;
	const char *origin; /* file name in messages */
	const char *ls, *lend; /* rest of the text */
	uint32_t lline;
	bool lex_end; /* the EOF token was produced */
	bool scan;    /* pre-pass: literals are not decoded */
	/* identifiers are interned: one arena copy per distinct name */
	const char **ids;
	size_t nids, capids;
};

/* Sets lx (arena, e and origin set by the caller) on text[0, len): a NUL
 * byte anywhere makes metadata invalid. Returns 0 or a negative errno
 * with lx->e set. lx->ids is the caller's to free. */
int rtr__lex_init(struct rtr__lexer *lx, const char *text, size_t len);
/* Lexes the next token into t (T_EOF at the end). Returns 0 or a
 * negative errno with lx->e set. */
int rtr__lex_one(struct rtr__lexer *lx, struct rtr__token *t);

/* Records in e "origin:line: metadata error: " and the message with code
 * (a negative errno), or the memory-limit message (-ENOMEM) when arena a
 * refused an allocation for its limit. Returns the code recorded. */
int rtr__tsdl_error(struct rtr_error *e, const struct rtr__arena *a, const char *origin,
		    uint32_t line, int code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

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
