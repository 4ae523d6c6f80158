/* Metadata stage of the CTF reader: the trace class model (types, clocks,
 * environment, stream and event classes) and what builds it from a
 * metadata file. See docs/design/reader.md ("Pipeline", "Type model"). */
#ifndef RTR_READER_METADATA_H
#define RTR_READER_METADATA_H

#include "base/base.h"

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
	uint32_t n, leaves;    /* ranges; tree leaves (power of two >= n) */
	const uint64_t *lo;    /* sorted low bounds, as order-preserving keys */
	const uint64_t *max;   /* tree: max high key under each node (1-based) */
	const uint32_t *rng;   /* range index of each sorted position */
	const uint32_t *first; /* per range: first range with the same label */
};

struct rtr__type;
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

/* One node of a TSDL type; immutable once parsed and shared by aliases. */
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

struct rtr__event_class {
	uint64_t id;
	uint64_t stream_id;
	bool has_stream_id, has_id;
	const char *name;
	int64_t loglevel;
	bool has_loglevel;
	const char *emf_uri;
	struct rtr__type *context, *fields;
	uint32_t line;
};

struct rtr__stream_class {
	uint64_t id;
	bool has_id;
	struct rtr__type *packet_context, *event_header, *event_context;
	struct rtr__event_class **ecs; /* in declaration order */
	size_t n_ecs, cap_ecs;
};

struct rtr__trace_class {
	struct rtr__arena arena; /* types, names, classes */
	uint64_t major, minor;
	uint8_t uuid[16];
	bool has_uuid;
	int bo;
	struct rtr__type *packet_header;
	struct rtr__env *env;
	size_t n_env, cap_env;
	struct rtr__clock *clocks;
	size_t n_clocks, cap_clocks;
	struct rtr__stream_class **scs;
	size_t n_scs, cap_scs;
	bool lttng; /* env.tracer_name starts with "lttng" */
	int64_t tracer_major, tracer_minor, tracer_patch;
	const char *tracer_name;
};

/* parser.c: parses metadata text into tc (zeroed by the caller). 'origin'
 * names the file in messages. Returns 0 or a negative errno (-EINVAL
 * invalid metadata, -ENOMEM) with e set; tc must be freed with
 * rtr__trace_class_free() either way. */
int rtr__tsdl_parse(struct rtr__trace_class *tc, const char *text, size_t len, const char *origin,
		    struct rtr_error *e);

/* model.c */
void rtr__trace_class_free(struct rtr__trace_class *tc);
const struct rtr__env *rtr__env_find(const struct rtr__trace_class *tc, const char *key);
/* Nanoseconds from the origin of clock value `cycles` of clock c, with
 * babeltrace2's arithmetic; *ovf set to 1 (and 0 returned) when it does
 * not fit an int64_t. */
int64_t rtr__clock_ns(const struct rtr__clock *c, uint64_t cycles, int *ovf);

/* file.c: reads a metadata file (plain or packetized) into malloc'd text
 * (*text, *len; the caller frees it); *pkt_bo is the byte order of the
 * packets (RTR__BO_LE or RTR__BO_BE), or -1 for plain text. Returns 0 or
 * a negative errno with e set. _decode() does the same from memory. */
int rtr__metadata_read(const char *path, char **text, size_t *len, int *pkt_bo,
		       struct rtr_error *e);
int rtr__metadata_decode(const uint8_t *buf, size_t n, const char *path, char **text, size_t *len,
			 int *pkt_bo, struct rtr_error *e);

#endif /* RTR_READER_METADATA_H */
