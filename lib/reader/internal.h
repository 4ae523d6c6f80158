/* Private data structures of the CTF reader: trace class model, decode
 * plans, stream iterators. See docs/design/reader.md. */
#ifndef RTR_READER_INTERNAL_H
#define RTR_READER_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringtrace/reader.h"

/* ---- limits (untrusted input) ---- */
#define RTR__MAX_DEPTH	  64	       /* type nesting in metadata and plans */
#define RTR__MAX_METADATA (256u << 20) /* metadata text bytes */
#define RTR__MAX_ARENA	  ((size_t)1 << 30) /* model bytes, whatever the metadata size */
#define RTR__MAX_PLAN_OPS (1u << 22)   /* ops over all plans of a trace */
#define RTR__MAX_STREAMS  100000
/* structs of up to this many members are searched by name directly, larger
 * ones through a hash map (most structs are small; the map would be most
 * of the parser's memory) */
#define RTR__SMALL_STRUCT 16

/* ---- errors ---- */
struct rtr__err {
	char msg[1024];
	int set;
};
void rtr__seterr(struct rtr__err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- arena ---- */
struct rtr__arena_chunk;
struct rtr__arena {
	struct rtr__arena_chunk *head;
	size_t used, cap, total;
	size_t limit; /* bytes (0: RTR__MAX_ARENA), for the model and plans */
	bool over;    /* an allocation was refused for the limit */
};
/* The memory a trace's model and plans may take: RTR__MODEL_FACTOR times
 * its metadata, at least RTR__MODEL_MIN, at most RTR__MAX_ARENA. */
#define RTR__MODEL_FACTOR 16
#define RTR__MODEL_MIN	  (64u << 20)
size_t rtr__model_limit(size_t metadata_len);
void *rtr__arena_alloc(struct rtr__arena *a, size_t n); /* zeroed, NULL on OOM */
char *rtr__arena_strndup(struct rtr__arena *a, const char *s, size_t n);
void rtr__arena_free(struct rtr__arena *a);

/* ---- growable array helper ---- */
int rtr__grow(void **p, size_t *cap, size_t need, size_t elem);

/* ---- name maps (strmap.c) ---- */
/* (namespace, NUL-terminated name) -> number; names are not copied and
 * must outlive the map. */
struct rtr__strmap_slot {
	uint64_t h, ns;
	const char *k;
	uint64_t v;
};
struct rtr__strmap {
	struct rtr__strmap_slot *s;
	size_t n, cap;
};
/* The value of (ns, k), or NULL. */
uint64_t *rtr__strmap_get(const struct rtr__strmap *m, uint64_t ns, const char *k);
/* Adds (ns, k) -> v. Returns 0, 1 if (ns, k) was there (left as it was),
 * -1 out of memory. */
int rtr__strmap_put(struct rtr__strmap *m, uint64_t ns, const char *k, uint64_t v);
void rtr__strmap_free(struct rtr__strmap *m);

/* ---- types ---- */
enum rtr__tkind {
	TK_INT = 1,
	TK_ENUM,
	TK_FLOAT,
	TK_STRING,
	TK_STRUCT,
	TK_VARIANT,
	TK_ARRAY,
	TK_SEQ,
};

enum { RTR__BO_LE = 0, RTR__BO_BE = 1, RTR__BO_NATIVE = 2 };
enum { RTR__ENC_NONE = 0, RTR__ENC_UTF8, RTR__ENC_ASCII };

struct rtr__enum_range {
	const char *label; /* as written */
	uint64_t lo, hi;   /* interpreted as signed if the container is */
};

/* Lookup of the labels of an enumeration value in O((hits + 1) log n):
 * ranges sorted by low bound, a max-of-high-bound tree over them, and
 * each range's label numbered by its first appearance (labels print once,
 * in first-appearance order, as babeltrace2 groups ranges by label). */
struct rtr__enum_ix {
	uint32_t n, leaves;  /* ranges; tree leaves (power of two >= n) */
	const uint64_t *lo;  /* sorted low bounds, as order-preserving keys */
	const uint64_t *max; /* tree: max high key under each node (1-based) */
	const uint32_t *rng; /* range index of each sorted position */
	const uint32_t *first; /* per range: first range with the same label */
};

struct rtr__type;
struct rtr__arena;
/* enumix.c: builds the index of enum t's ranges in arena a (0 or -1 on
 * out of memory); finds the labels of value v: writes up to max label
 * pointers, returns the number of distinct labels. */
int rtr__enum_ix_build(struct rtr__type *t, struct rtr__arena *a);
size_t rtr__enum_ix_labels(const struct rtr__type *t, uint64_t v, const char **labels, size_t max);

struct rtr__member {
	const char *name; /* one leading '_' removed */
	const char *orig; /* as written */
	struct rtr__type *t;
};

struct rtr__type {
	uint8_t kind;
	uint8_t size; /* int/enum/float: bits (1..64) */
	uint8_t sign;
	uint8_t bo;   /* RTR__BO_* */
	uint8_t base; /* 2, 8, 10, 16 */
	uint8_t encoding;
	uint8_t exp_dig, mant_dig;
	uint32_t align; /* bits, power of two */
	int32_t clock;	/* index in trace class clocks, -1 */
	uint32_t n;	/* members, options, enum ranges */
	struct rtr__member *m;
	struct rtr__enum_range *r;
	const struct rtr__enum_ix *ix; /* enum: label lookup */
	const char *path; /* variant tag / sequence length, as written */
	uint64_t len;	  /* fixed array length */
	struct rtr__type *elem;
	uint8_t has_clock_name; /* map = clock.X.value seen before clock X */
	uint8_t visited;	/* fix_clock() went through it (types are shared) */
	const char *clock_name;
	/* plan ops one instance of this type compiles to (1 + members', the
	 * element's once for arrays), saturated: bounds every walk of the
	 * expanded tree (typealiases share types, so the tree can be
	 * exponentially larger than the metadata) */
	uint32_t nops;
};

/* ---- trace class ---- */
struct rtr__clock {
	const char *name;
	const char *description;
	uint8_t uuid[16];
	bool has_uuid;
	uint64_t freq;
	uint64_t precision;
	int64_t offset_s; /* normalised: 0 <= offset < freq */
	uint64_t offset;
	bool absolute;
};

struct rtr__env {
	const char *key;
	bool is_int;
	int64_t i;
	const char *s;
};

struct rtr__op;
struct rtr__plan {
	struct rtr__op *ops;
	uint32_t n;
	uint32_t serial; /* compile order (plan.c's name lookups) */
	bool shown; /* scope printed (babeltrace2 IR) */
};

/* ---- fast programs (prog.c builds them, stream.c runs them) ----
 * A plan flattened into segments: runs of fields whose bit offsets are
 * static once the run's start is aligned ("fixed": one bounds check, then
 * loads at known offsets), strings, variants whose options are all fixed,
 * and any other op run by the plan interpreter. */
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

struct rtr__event_class {
	uint64_t id;
	uint64_t stream_id;
	bool has_stream_id, has_id;
	const char *name;
	int64_t loglevel;
	bool has_loglevel;
	const char *emf_uri;
	struct rtr__type *context, *fields;
	struct rtr__plan p_context, p_fields;
	struct rtr__prog fast; /* event context + payload */
	bool text_vals;	       /* its values may include strings */
	uint32_t line;
	uint32_t gindex; /* dense index over all traces of a reader */
};

struct rtr__stream_class {
	uint64_t id;
	bool has_id;
	struct rtr__type *packet_context, *event_header, *event_context;
	struct rtr__plan p_packet_context, p_event_header, p_event_context;
	struct rtr__prog fast_header, fast_context;
	const struct rtr__hdr *hdr; /* NULL: other header shapes */
	struct rtr__event_class **ecs;
	size_t n_ecs, cap_ecs;
	struct rtr__event_class **ec_by_id; /* dense table when ids are small */
	uint64_t ec_by_id_len;
	int32_t clock; /* default clock, -1 */
	uint32_t nslots;
	bool has_discarded_ctr, has_seq_num, has_ts_begin, has_ts_end;
};

struct rtr__trace_class {
	struct rtr__arena arena;
	uint64_t major, minor;
	uint8_t uuid[16];
	bool has_uuid;
	int bo;
	struct rtr__type *packet_header;
	struct rtr__plan p_packet_header;
	struct rtr__env *env;
	size_t n_env, cap_env;
	struct rtr__clock *clocks;
	size_t n_clocks, cap_clocks;
	struct rtr__stream_class **scs;
	size_t n_scs, cap_scs;
	uint32_t total_ops;
	uint32_t max_slots; /* largest slot table of any stream class */
	bool lttng;	    /* env.tracer_name starts with "lttng" */
	int64_t tracer_major, tracer_minor, tracer_patch;
	const char *tracer_name;
};

/* tsdl.c: parse metadata text into a trace class. 'origin' names the file
 * in messages. Returns 0 or -1 with e set. */
int rtr__tsdl_parse(struct rtr__trace_class *tc, const char *text, size_t len, const char *origin,
		    struct rtr__err *e);
void rtr__trace_class_free(struct rtr__trace_class *tc);
const struct rtr__env *rtr__env_find(const struct rtr__trace_class *tc, const char *key);

/* metadata.c: read a metadata file (plain or packetized) into malloc'd
 * text. Returns 0 or -1 with e set. */
int rtr__metadata_read(const char *path, char **text, size_t *len, struct rtr__err *e);
int rtr__metadata_decode(const uint8_t *buf, size_t n, const char *path, char **text, size_t *len,
			 struct rtr__err *e);

/* ---- plans (plan.c) ---- */
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

/* Builds the fast programs of every stream class and event class of tc
 * (event header, stream event context, event context + payload). Cannot
 * fail: a scope without a program is decoded by the interpreter. */
void rtr__progs_build(struct rtr__trace_class *tc);

int rtr__plans_build(struct rtr__trace_class *tc, struct rtr__err *e);
void rtr__plans_free(struct rtr__trace_class *tc);
struct rtr__event_class *rtr__sc_find_ec(const struct rtr__stream_class *sc, uint64_t id);

/* ---- values ---- */
/* rtr_value is public (reader.h); the op pointer gives type and name. */

/* ---- in-memory traces (unit tests, fuzzing) ---- */
/* Opens a reader on one trace made of the given metadata (plain or
 * packetized) and one stream held in memory (not copied: must outlive the
 * reader). Returns 0 or a negative errno with a message in err. */
int rtr__reader_open_mem(const uint8_t *metadata, size_t mlen, const uint8_t *data, size_t n,
			 const struct rtr_reader_options *opts, struct rtr_reader **out, char *err,
			 size_t errlen);

/* ---- shrinking stream files (sigbus.c) ---- */
/* Installs, once per process and only where SIGBUS has its default
 * action, a handler that maps zero pages over reads past the end of a
 * file mapping and counts them (rtr_reader_options.guard_sigbus). The
 * stream decoder compares the count with its own snapshot. */
void rtr__sigbus_guard(void);
uint64_t rtr__sigbus_faults(void);

/* ---- utilities ---- */
/* printf("%g") for doubles in [1e-5, 1e15); 0 outside (use printf). */
int rtr__fmt_g(double d, char *out);
int64_t rtr__clock_ns(const struct rtr__clock *c, uint64_t cycles, int *ovf);

#endif /* RTR_READER_INTERNAL_H */
