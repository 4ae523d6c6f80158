/* Decode plans: one flat array of ops per dynamic scope of a class, one op
 * per field instance in declaration order (a compound op records where its
 * body ends). Built by plan_build.c, run by plan_run.c.
 * See docs/design/reader.md ("Decode plan"). */
#ifndef RTR_READER_COMPILE_PLAN_H
#define RTR_READER_COMPILE_PLAN_H

#include "metadata/metadata.h"

enum rtr__opcode {
	OP_INT_BYTE = 1, /* byte-aligned 8/16/32/64-bit integer */
	OP_INT_BITS,	 /* any integer */
	OP_FLOAT,
	OP_STRING,
	OP_TEXT_ARRAY, /* array/sequence of 8-bit encoded ints = string */
	OP_STRUCT,
	OP_VARIANT,
	OP_ARRAY,
	OP_SEQ,
};

enum rtr__role {
	ROLE_NONE = 0,
	ROLE_MAGIC,
	ROLE_UUID,
	ROLE_STREAM_ID,
	ROLE_STREAM_INSTANCE_ID,
	ROLE_EVENT_ID,
	ROLE_TS_BEGIN,
	ROLE_TS_END,
	ROLE_CONTENT_SIZE,
	ROLE_PACKET_SIZE,
	ROLE_DISCARDED,
	ROLE_SEQ_NUM,
};

struct rtr__var_opt {
	uint64_t lo, hi; /* tag range selecting this option */
	uint32_t op;	 /* index of the option's op */
};

struct rtr__op {
	uint8_t code;
	uint8_t size; /* int/float bits */
	uint8_t sign;
	uint8_t bo;
	uint8_t role;
	uint8_t shown;		    /* emitted as a value record */
	uint8_t dep;		    /* a shown sequence/variant depends on it */
	uint8_t elem_min_bits_zero; /* array/seq: element may be 0 bits */
	uint8_t slow;		    /* int with a save slot, role or clock */
	uint8_t flat;		    /* struct whose members are all leaves */
	uint8_t tagged;		    /* struct {int tag; variant<tag> of flat structs} */
	uint8_t fixed;		    /* flat struct of byte-aligned numbers: static offsets */
	uint32_t off;		    /* member of a fixed struct: bit offset in it */
	uint32_t fixed_bits;	    /* fixed struct: size in bits */
	uint8_t *direct;	    /* variant: option number (+1) by tag value < 256 */
	uint32_t align;
	int32_t save;  /* slot to store the value in, -1 */
	int32_t clock; /* clock index for mapped integers, -1 */
	int32_t src;   /* seq length / variant tag slot */
	uint32_t end;  /* compounds: one past the body */
	uint32_t n_opts;
	uint64_t count; /* fixed array length */
	const struct rtr__type *t;
	const char *name; /* unescaped */
	const char *orig; /* as written */
	uint32_t name_len;
	struct rtr__var_opt *opts;
	uint32_t depth;
	uint32_t scope; /* RTR_SCOPE_* */
};

struct rtr__plan {
	struct rtr__op *ops;
	uint32_t n;
	uint32_t serial; /* compile order (plan_build.c's name lookups) */
	bool shown;	 /* scope printed (babeltrace2 IR) */
};

#endif /* RTR_READER_COMPILE_PLAN_H */
