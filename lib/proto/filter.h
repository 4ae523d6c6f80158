/* ringtrace event filters: the bytecode a session host compiles from a
 * filter expression for one event (lib/host/fexpr.c), sends with the
 * event's enable, and the traced process verifies against the event's own
 * description and runs before reserving a record. Design:
 * docs/design/daemon.md §4.
 *
 * Program layout (little-endian):
 *
 *   u8  version (1)   u8 nconst (<= 64)   u16 ninsn (1..512)
 *   u16 strtab_len (<= 4096)               u16 reserved (0)
 *   nconst x 8 bytes  constants (int64, uint64 or double bits)
 *   ninsn  x 4 bytes  instructions: op u8, a u8, b u16
 *   strtab            strings: u16 length, bytes, NUL
 *
 * A stack machine with four value types (signed and unsigned 64-bit
 * integers, doubles, strings) and booleans. Jumps go forward only, so a
 * program runs at most ninsn instructions; rtr_filter_verify() proves that
 * every path keeps the stack within RTR_FILTER_MAX_STACK, that every
 * instruction finds the operand types it needs (the same on every path
 * into it), that field loads match the event's field kinds and that every
 * path ends in RET with one boolean. A verified program cannot read
 * outside its arguments, loop or fail; rtr_filter_run() then needs no
 * check at all.
 *
 * Thread safety: a struct rtr_filter is immutable once verified; run it
 * from any thread, signal handlers included (no lock, no allocation; the
 * context values it may read are the caller's).
 */
#ifndef RTR_FILTER_H
#define RTR_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ringtrace/event.h>

#define RTR_FILTER_VERSION    1
#define RTR_FILTER_MAX_CONST  64u
#define RTR_FILTER_MAX_INSN   512u
#define RTR_FILTER_MAX_STRTAB 4096u
#define RTR_FILTER_MAX_CODE                                                                        \
	(8u + RTR_FILTER_MAX_CONST * 8u + RTR_FILTER_MAX_INSN * 4u + RTR_FILTER_MAX_STRTAB)
#define RTR_FILTER_MAX_STACK 16u
/* Strings longer than this compare by their first RTR_FILTER_MAX_STRLEN
 * bytes (bounds the cost of a glob on a huge payload). */
#define RTR_FILTER_MAX_STRLEN 65536u

enum rtr_filter_op {
	RTR_FOP_RET = 1,	/* stack: [bool] -> result */
	RTR_FOP_LOAD_S64 = 2,	/* b: field index; integer/enum field, signed */
	RTR_FOP_LOAD_U64 = 3,	/* b: field index; unsigned */
	RTR_FOP_LOAD_DBL = 4,	/* b: field index; float field */
	RTR_FOP_LOAD_STR = 5,	/* b: field index; string field */
	RTR_FOP_LOAD_CTX = 6,	/* b: enum rtr_filter_ctx */
	RTR_FOP_CONST_S64 = 7,	/* b: constant index */
	RTR_FOP_CONST_U64 = 8,	/* b: constant index */
	RTR_FOP_CONST_DBL = 9,	/* b: constant index */
	RTR_FOP_CONST_STR = 10, /* b: offset of a string in the table */
	RTR_FOP_CMP = 11,	/* a: enum rtr_filter_cmp; pops 2 (same class), pushes bool */
	RTR_FOP_GLOB = 12,	/* a: 0 ==, 1 !=; [str, pattern] -> bool ('*' any, '\' escapes) */
	RTR_FOP_TO_DBL = 13,	/* a: 0 top, 1 the one below; b: 1 if unsigned; integer -> double */
	RTR_FOP_NOT = 14,	/* [bool] -> [bool] */
	RTR_FOP_AND = 15,	/* [bool]: false -> jump to b keeping it; true -> pop */
	RTR_FOP_OR = 16,	/* [bool]: true -> jump to b keeping it; false -> pop */
	RTR_FOP_TRUE = 17,	/* -> [true] */
	RTR_FOP_FALSE = 18,	/* -> [false] */
	RTR_FOP_INT_NZ = 19,	/* [integer] -> [value != 0] */
};

enum rtr_filter_cmp {
	RTR_FCMP_EQ = 0,
	RTR_FCMP_NE = 1,
	RTR_FCMP_LT = 2,
	RTR_FCMP_GT = 3,
	RTR_FCMP_LE = 4,
	RTR_FCMP_GE = 5,
};

/* Context values a filter may read ($ctx.NAME). */
enum rtr_filter_ctx {
	RTR_FCTX_VPID = 1,	 /* s64 */
	RTR_FCTX_VTID = 2,	 /* s64 */
	RTR_FCTX_PROCNAME = 3,	 /* string */
	RTR_FCTX_PTHREAD_ID = 4, /* u64 */
};

/* One argument of a probe, in field order: what the filter loads
 * (include/ringtrace/event.h). */
#define rtr_filter_val rtr_probe_arg

/* A verified program, ready to run: decoded (host byte order). */
struct rtr_filter {
	uint16_t ninsn;
	uint16_t nconst;
	uint16_t strtab_len;
	uint8_t max_stack;
	/* Shortcut for `field OP constant` (the common case): kind 1 s64,
	 * 2 u64, 3 double; 0: run the program. */
	uint8_t simple_kind;
	uint8_t simple_cmp;
	uint16_t simple_field;
	uint32_t ctx_needed; /* 1 << enum rtr_filter_ctx it reads */
	uint64_t simple_const;
	const struct rtr_filter_insn {
		uint8_t op, a;
		uint16_t b;
	} *insn;
	const uint64_t *consts;
	const char *strtab;
	/* storage follows */
};

/*
 * rtr_filter_verify - checks `len` bytes of bytecode for event `ev` (its
 * fields give the load types) and builds a runnable copy (malloc'ed; free
 * with rtr_filter_free). On failure writes why (with the instruction
 * number) to err. Returns 0, -EINVAL (malformed or ill-typed), -ENOMEM.
 */
int rtr_filter_verify(const void *code, size_t len, const struct rtr_event_desc *ev,
		      struct rtr_filter **out, char *err, size_t errlen);
void rtr_filter_free(struct rtr_filter *f);

/*
 * rtr_filter_run - true when the event passes. args[i] is field i of the
 * event (as filled by the probe); ctx may be NULL when the program reads
 * no context (rtr_filter_ctx_needed()). Never fails on a verified program.
 */
struct rtr_filter_ctxvals {
	int64_t vpid, vtid;
	uint64_t pthread_id;
	const char *procname;
	size_t procname_len;
};
bool rtr_filter_run(const struct rtr_filter *f, const union rtr_filter_val *args,
		    const struct rtr_filter_ctxvals *ctx);
/* The context ids a program reads (bit 1 << id). */
uint32_t rtr_filter_ctx_needed(const struct rtr_filter *f);

/* '*' matches any run of bytes, '\' makes the next byte literal. s has
 * slen bytes (not NUL-terminated), pat is NUL-terminated. */
bool rtr_filter_glob(const char *pat, const char *s, size_t slen);

/*
 * rtr_filter_inline - when f is `field OP constant` on a payload field (no
 * context), its inline form: *kind (1 int64, 2 uint64, 3 double), *field,
 * *konst (the constant's bits) and *accept (bit 1 + sign of the comparison
 * of the field with the constant, bit 3: unordered), as struct
 * rtr_binding_extra's f_* (ringtrace/ctf.h). Returns false otherwise.
 */
bool rtr_filter_inline(const struct rtr_filter *f, uint8_t *kind, uint16_t *field,
		       uint64_t *konst, uint8_t *accept);

/* ------------------------------------------------------------------------
 * Building programs (the host's compiler)
 * ------------------------------------------------------------------------ */

struct rtr_filter_builder {
	uint64_t consts[RTR_FILTER_MAX_CONST];
	struct rtr_filter_insn insn[RTR_FILTER_MAX_INSN];
	char strtab[RTR_FILTER_MAX_STRTAB];
	unsigned nconst, ninsn, strtab_len;
	bool overflow;
};

void rtr_filter_build_init(struct rtr_filter_builder *b);
/* Appends an instruction; returns its index (patch b later for jumps). */
unsigned rtr_filter_emit(struct rtr_filter_builder *b, uint8_t op, uint8_t a, uint16_t arg);
uint16_t rtr_filter_add_const(struct rtr_filter_builder *b, uint64_t v);
uint16_t rtr_filter_add_str(struct rtr_filter_builder *b, const char *s, size_t len);
/* Serialises; returns the size (> 0) or -E2BIG. */
int rtr_filter_build_finish(const struct rtr_filter_builder *b, uint8_t *out, size_t cap);

#endif /* RTR_FILTER_H */
