/* Compile stage of the CTF reader: the code of each class of a trace
 * (decode plans and fast programs), built from the trace class model.
 * See docs/design/reader.md ("Decode plan", "Speed"). */
#ifndef RTR_READER_COMPILE_H
#define RTR_READER_COMPILE_H

#include "compile/plan.h"
#include "compile/prog.h"
#include "metadata/metadata.h"

/* An event class ready to decode. */
struct rtr__event_code {
	const struct rtr__event_class *cls;
	struct rtr__plan p_context, p_fields;
	struct rtr__prog fast; /* event context + payload */
	bool text_vals;	       /* its values may include strings */
	uint32_t gindex;       /* dense index over all traces of a reader
				* (set by the reader, iter/) */
};

/* A stream class ready to decode. */
struct rtr__stream_code {
	const struct rtr__stream_class *cls;
	struct rtr__plan p_packet_context, p_event_header, p_event_context;
	struct rtr__prog fast_header, fast_context;
	const struct rtr__hdr *hdr;  /* NULL: other header shapes */
	struct rtr__event_code *ecs; /* sorted by id */
	size_t n_ecs;
	struct rtr__event_code **ec_by_id; /* dense table when ids are small */
	uint64_t ec_by_id_len;
	int32_t clock; /* default clock, -1 */
	uint32_t nslots;
	bool has_discarded_ctr, has_seq_num, has_ts_begin, has_ts_end;
};

/* The code of a whole trace class. */
struct rtr__trace_code {
	struct rtr__arena arena; /* fast programs */
	struct rtr__plan p_packet_header;
	struct rtr__stream_code *scs; /* as the trace class's scs */
	size_t n_scs;
	uint32_t total_ops;
	uint32_t max_slots; /* largest slot table of any stream class */
};

/* plan_build.c: compiles the plans of every scope of every class of tc
 * into code (zeroed by the caller), then their fast programs. May add the
 * implicit clock "default" to tc (timestamp fields without a clock). Returns
 * 0 or -1 with e set; code must be freed with rtr__code_free() either way. */
int rtr__code_build(struct rtr__trace_code *code, struct rtr__trace_class *tc,
		    struct rtr__err *e);
void rtr__code_free(struct rtr__trace_code *code);
/* The event class of stream class sc with this id, or NULL. */
struct rtr__event_code *rtr__sc_find_ec(const struct rtr__stream_code *sc, uint64_t id);

/* prog_build.c: builds the fast programs of every stream class and event
 * class (event header, stream event context, event context + payload).
 * Cannot fail: a scope without a program is decoded by the interpreter. */
void rtr__progs_build(struct rtr__trace_code *code);

#endif /* RTR_READER_COMPILE_H */
