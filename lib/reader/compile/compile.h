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
 * implicit clock "default" to tc (timestamp fields without a clock).
 * Returns 0 or a negative errno (-EINVAL, -ENOMEM) with e set; code must
 * be freed with rtr__code_free() either way. */
int rtr__code_build(struct rtr__trace_code *code, struct rtr__trace_class *tc,
		    struct rtr_error *e);
void rtr__code_free(struct rtr__trace_code *code);
/* The event class of stream class sc with this id, or NULL. */
struct rtr__event_code *rtr__sc_find_ec(const struct rtr__stream_code *sc, uint64_t id);

/* prog_build.c: builds the fast programs of every stream class and event
 * class (event header, stream event context, event context + payload).
 * Cannot fail: a scope without a program is decoded by the interpreter. */
void rtr__progs_build(struct rtr__trace_code *code);

/* The decoder's position over one packet and what it has decoded there:
 * the state the plan interpreter (plan_run.c) and the fast programs
 * (prog_run.c) share. The reader (iter/) owns one per stream, points it
 * at each packet it maps, and reads the roles, the clock and the values
 * back. */
struct rtr__cursor {
	/* where, for messages: "path: packet at offset O, byte B: ..." */
	const char *path;
	uint64_t pkt_off; /* file offset of the packet */
	struct rtr_error *err;

	/* the packet's bytes */
	const uint8_t *pkt;  /* packet start */
	uint64_t avail_bits; /* readable from pkt */
	uint64_t pos;	     /* decode position, bits from packet start */
	uint64_t end;	     /* decode limit (bits) */
	uint64_t lim;	     /* fast programs: fixed segments end before */

	/* roles of the current packet / event */
	uint64_t r_magic, r_stream_id, r_instance_id, r_event_id;
	uint64_t r_ts_begin, r_ts_end, r_content, r_psize, r_disc, r_seq;
	uint32_t r_seen;  /* bit per enum rtr__role */
	int64_t uuid_pos; /* bit offset of the uuid array, -1 */

	uint64_t clock; /* the stream clock, wraps reconstructed */

	/* length and tag slots; value records */
	uint64_t *slots;
	uint32_t nslots;
	struct rtr_value *vals;
	size_t nvals, cap_vals;
	size_t npvals;	/* the packet context values at the front of vals */
	bool emit;	/* record values of the scope being decoded */
	bool no_emit;	/* decode without recording values */
	uint8_t all;	/* record hidden fields too (re-encoding) */
	int emit_scope; /* RTR_SCOPE_* of the records */
	uint64_t budget;
	bool overrun; /* the last error: the data ended (packet content) */

	/* the event decoded last */
	const struct rtr__event_code *ec;
	uint64_t ev_clock;
};

/* Counters of a whole-stream scan (stats). */
struct rtr__count {
	uint64_t events;
	uint64_t *per_class; /* by event class gindex, or NULL */
	uint64_t cmin, cmax; /* event clock extremes */
};

/* plan_run.c: the plan interpreter. All return 0 or a negative errno
 * (-EINVAL: malformed data; -ENOMEM) with c->err set (naming the file, the
 * packet, the byte and what was expected). */
/* Decodes scope `scope` of plan pl at c->pos, recording shown values when
 * emit (every value with c->all). */
int rtr__plan_scope(struct rtr__cursor *c, const struct rtr__plan *pl, int scope, bool emit);
/* Decodes ops[i0, n): a whole plan (0, pl->n) or one op's subtree. */
int rtr__plan_ops(struct rtr__cursor *c, const struct rtr__op *ops, uint32_t i0, uint32_t n);
/* Decodes the event at c->pos of a packet of stream class sc: sets c->ec
 * and c->ev_clock, its values after the packet context's. */
int rtr__plan_event(struct rtr__cursor *c, const struct rtr__stream_code *sc);
/* Records code (a negative errno) and the message, located as above, in
 * c->err; returns code. */
int rtr__cursor_error(struct rtr__cursor *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Doubles c->vals (up to a bound). Returns 0 or a negative errno with
 * c->err set. */
int rtr__cursor_grow(struct rtr__cursor *c);

/* prog_run.c: the fast programs. */
/* Decodes one event at c->pos as rtr__plan_event() does. Returns 0, or 1
 * when the interpreter must decode this event (c is then as before the
 * call; every error is left to the interpreter to report). */
int rtr__prog_event(struct rtr__cursor *c, const struct rtr__stream_code *sc, bool keep);
/* Decodes and counts the events from c->pos to the end of the packet
 * content without keeping values; stops before an event the programs do
 * not handle, which rtr__plan_event() then decodes. */
void rtr__prog_count(struct rtr__cursor *c, const struct rtr__stream_code *sc,
		     struct rtr__count *cnt);

#endif /* RTR_READER_COMPILE_H */
