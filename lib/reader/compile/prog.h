/* Fast programs: a plan flattened into segments, run without the plan
 * interpreter for the common event shapes. Built by prog_build.c, run by
 * prog_run.c. See docs/design/reader.md ("Speed").
 *
 * Segments: runs of fields whose bit offsets are static once the run's
 * start is aligned ("fixed": one bounds check, then loads at known
 * offsets), strings, variants whose options are all fixed, arrays of
 * fixed elements, and any other op run by the plan interpreter. */
#ifndef RTR_READER_COMPILE_PROG_H
#define RTR_READER_COMPILE_PROG_H

#include "ringtrace/reader.h"
#include "compile/plan.h"

struct rtr__leaf {
	const struct rtr__op *op;
	uint64_t len; /* record len (variant begin: option op index) */
	uint32_t off; /* bits from the segment start */
	uint8_t kind; /* RTR_VAL_* record kind */
	uint8_t size; /* int/float bits */
	uint8_t bo;   /* RTR__BO_LE or RTR__BO_BE */
	uint8_t sign;
	uint8_t wide;  /* may straddle more than 8 bytes: read bit by bit */
	uint64_t mask; /* numbers: (1 << size) - 1 */
	uint8_t scope;
	uint8_t role;
	int32_t save;  /* slot, -1 */
	int32_t clock; /* clock index (updates the stream clock), -1 */
	uint32_t idx;  /* value leaf: its record in the segment's records */
};

enum rtr__segkind { SEG_FIXED = 1, SEG_STRING, SEG_VARIANT, SEG_ARRAY, SEG_GENERIC };

struct rtr__seg {
	uint8_t kind;
	uint8_t scope;
	uint32_t align; /* bits, aligned to at the segment start */
	uint32_t bits;	/* fixed: size; array: element stride */
	uint32_t nslow, nrec, nval;
	const struct rtr__leaf *slow; /* fixed: leaves to decode (slot, role, clock) */
	const struct rtr_value *rec;  /* fixed: records when values are kept, values 0 */
	const struct rtr__leaf *val;  /* fixed: the number records' values */
	const struct rtr__op *ops;    /* string, variant, generic: plan of op */
	uint32_t opi;		      /* index of the op in ops */
	const struct rtr__seg **opt;  /* variant: fixed segment of each op->opts
				       * entry; array: opt[0] is the element's */
};

struct rtr__prog {
	const struct rtr__seg *seg;
	uint32_t n;
	bool ok; /* built; else the plan interpreter runs the scope(s) */
	/* nothing to decode when values are not kept: aligned, bounds
	 * checked and skipped (no segment or one fixed one without slots,
	 * roles or clocks) */
	bool skip;
	uint32_t skip_align, skip_bits;
};

/* Event header "struct { tag; variant <tag> { fixed options } }" (LTTng's
 * compact and large headers, barectf's): per option, the event id and
 * the timestamp at static offsets from the header start. */
struct rtr__hopt {
	uint32_t bits; /* header size with this option */
	bool has_id, has_ts;
	struct rtr__leaf id, ts;
	uint64_t id_mask, ts_mask; /* (1 << size) - 1 */
};

struct rtr__hdr {
	uint32_t align, max_bits;
	struct rtr__leaf tag; /* at offset 0 */
	uint64_t tag_mask;
	bool tag_is_id;
	/* tag, ids and timestamps little endian, each within one 64-bit
	 * load, a direct option table for tags < 256, and every option gives
	 * the event id: decoded inline (hdr_simple(), the stats loop) */
	bool simple;
	const struct rtr__op *var;
	const struct rtr__hopt *opt; /* per var->opts entry */
};

#endif /* RTR_READER_COMPILE_PROG_H */
