/* ringtrace CTF 1.8 reader: open one or more trace directories, iterate
 * their events merged in time order, print them as babeltrace2 does, or
 * write them as JSON or CTF. Design: docs/design/reader.md.
 *
 * The API of lib/reader for the ringtrace tool, its tests and its
 * benchmarks: private to this tree, not installed, no ABI promise (the
 * design note says why).
 *
 * Conventions. A call that can fail returns 0 or a negative errno
 * (-EINVAL: a malformed trace; -ENOMEM; or the system call's), and says
 * what went wrong in a struct rtr_error, naming the file, the byte offset
 * and what was expected. The iterator rtr_reader_next() returns a status
 * (enum rtr_next). Nothing here is safe to call from several threads on
 * one reader unless said so. */
#ifndef RINGTRACE_READER_H
#define RINGTRACE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ringtrace/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What went wrong in a call that failed. The first error of an operation
 * is kept (later ones are consequences). */
struct rtr_error {
	int code; /* 0: none; else a negative errno */
	char msg[1024];
};

/* Status of an iterator step. */
enum rtr_next {
	RTR_NEXT_OK = 0, /* an item was produced */
	RTR_NEXT_END,	 /* no more items */
	RTR_NEXT_ERROR,	 /* the reader's error says what */
};

/* Dynamic scopes of a CTF event, in decoding order. */
enum rtr_scope {
	RTR_SCOPE_PACKET_HEADER = 0,
	RTR_SCOPE_PACKET_CONTEXT,
	RTR_SCOPE_EVENT_HEADER,
	RTR_SCOPE_EVENT_COMMON_CONTEXT, /* stream's event.context */
	RTR_SCOPE_EVENT_CONTEXT,	/* event's context */
	RTR_SCOPE_EVENT_PAYLOAD,	/* event's fields */
	RTR_SCOPE_COUNT
};

enum rtr_value_kind {
	RTR_VAL_UINT = 1, /* v.u; maybe an enumeration (rtr_value_enum_label) */
	RTR_VAL_SINT,	  /* v.i */
	RTR_VAL_FLOAT,	  /* v.d */
	RTR_VAL_STRING,	  /* v.s, len bytes, not NUL-terminated */
	RTR_VAL_STRUCT_BEGIN,
	RTR_VAL_STRUCT_END,
	RTR_VAL_ARRAY_BEGIN, /* len = element count (static or dynamic) */
	RTR_VAL_ARRAY_END,
	RTR_VAL_VARIANT_BEGIN,
	RTR_VAL_VARIANT_END,
};

struct rtr__op;

/* One decoded field. An event's fields form a flat, pre-order sequence:
 * compound values are bracketed by BEGIN/END records. Only fields that
 * babeltrace2 shows are recorded (role and clock fields are hidden unless
 * another shown field depends on them). Valid until the next
 * rtr_reader_next() call. */
struct rtr_value {
	const struct rtr__op *cls; /* private: use the accessors below */
	union {
		uint64_t u;
		int64_t i;
		double d;
		const char *s;
	} v;
	uint64_t len;
	uint32_t kind;	/* enum rtr_value_kind */
	uint32_t scope; /* enum rtr_scope */
};

/* Field name (one leading '_' removed, as babeltrace2 does); NULL for
 * array elements and scope roots. */
const char *rtr_value_name(const struct rtr_value *v);
/* Preferred display base of an integer: 2, 8, 10 or 16. */
int rtr_value_base(const struct rtr_value *v);
/* Integer size in bits (0 for non-integers). */
unsigned rtr_value_bits(const struct rtr_value *v);
/* True if the integer is an enumeration. */
bool rtr_value_is_enum(const struct rtr_value *v);
/* Labels of an enumeration value, in declaration order of the labels:
 * writes up to max pointers to labels, returns the total number. */
size_t rtr_value_enum_labels(const struct rtr_value *v, const char **labels, size_t max);

struct rtr_reader;

/* A stream of one trace, as babeltrace2 names it. */
struct rtr_stream_info {
	const char *trace_name; /* hostname[/relative path] */
	const char *path;	/* first data file, absolute */
	const uint8_t *uuid;	/* 16 bytes or NULL */
	uint64_t stream_class_id;
	uint64_t stream_id;   /* stream instance id, or assigned */
	int64_t cpu_id;	      /* packet context cpu_id, -1 if none */
	uint32_t index;	      /* dense stream number within the reader */
	uint32_t trace_index; /* dense trace number within the reader */
};

enum rtr_msg_kind {
	RTR_MSG_EVENT = 1,
	RTR_MSG_DISCARDED_EVENTS,
	RTR_MSG_DISCARDED_PACKETS,
};

struct rtr_msg {
	enum rtr_msg_kind kind;
	const struct rtr_stream_info *stream;
	/* RTR_MSG_EVENT */
	const char *name; /* event class name, NULL if none */
	uint64_t event_class_id;
	uint32_t class_index; /* dense over all traces, < rtr_reader_class_count() */
	bool has_clock;
	uint64_t cycles; /* clock value */
	int64_t ns;	 /* nanoseconds from origin */
	int ns_error;	 /* ns overflowed (babeltrace2 prints "Error") */
	const struct rtr_value *values;
	size_t n_values;
	int64_t loglevel;    /* -1 if none */
	const char *emf_uri; /* NULL if none */
	/* discarded events / packets */
	uint64_t count; /* UINT64_MAX: unknown ("may have") */
	bool has_range;
	uint64_t begin_cycles, end_cycles;
	int64_t begin_ns, end_ns;
	int begin_ns_error, end_ns_error;
};

/* The first integer before m's payload (its header and contexts) named
 * a or b (b may be NULL): true with *out, or false. */
bool rtr_msg_context_int(const struct rtr_msg *m, const char *a, const char *b, int64_t *out);
/* The first string before m's payload named a, or NULL. */
const struct rtr_value *rtr_msg_context_str(const struct rtr_msg *m, const char *a);

enum {
	RTR_LOGLEVEL_SEL_ALL = 0,
	RTR_LOGLEVEL_SEL_UPTO,
	RTR_LOGLEVEL_SEL_ONLY,
};
/* The level an event class without a loglevel attribute has (LTTng-UST's
 * default, TRACE_DEBUG_LINE). */
#define RTR_LOGLEVEL_UNDECLARED 13

struct rtr_reader_options {
	bool has_begin, has_end;
	int64_t begin_ns, end_ns;    /* inclusive time range */
	const char *const *patterns; /* event-name globs ('*', '?'); NULL = all */
	size_t n_patterns;
	/* Log level selection, LTTng's meaning: RTR_LOGLEVEL_SEL_UPTO keeps
	 * the events whose class has level `loglevel` or a more severe one
	 * (a smaller number: 0 is TRACE_EMERG, 14 TRACE_DEBUG),
	 * RTR_LOGLEVEL_SEL_ONLY those of exactly `loglevel`. A class without a
	 * loglevel attribute counts as 13 (TRACE_DEBUG_LINE, LTTng-UST's
	 * default level). RTR_LOGLEVEL_SEL_ALL (0): no selection. */
	int loglevel_sel;
	int64_t loglevel;
	bool skip_values; /* decode fully but record no values */
	bool all_values;  /* record every field, hidden ones and
			   * headers too (for re-encoding) */
	/* A stream file that another program truncates while it is mapped
	 * ends its stream with an error instead of killing the process with
	 * SIGBUS: installs a process-wide SIGBUS handler (only if SIGBUS has
	 * its default action) that maps zero pages over such reads. For
	 * programs whose own code does not rely on SIGBUS. */
	bool guard_sigbus;
	/* Called (when not NULL) with a one-line message for what the
	 * reader reads anyway but a user should know (e.g. a packet UUID
	 * differing from the trace's); babeltrace2 is silent there. */
	void (*warn)(void *arg, const char *msg);
	void *warn_arg;
};

/* Opens the traces found under each path (a trace directory holds a
 * 'metadata' file; directories are searched recursively, as babeltrace2
 * does). Returns 0 and *out, or a negative errno with err set. Traces
 * with the same UUID are merged into one trace. */
int rtr_reader_open(const char *const *paths, size_t n, const struct rtr_reader_options *opts,
		    struct rtr_reader **out, struct rtr_error *err);
void rtr_reader_close(struct rtr_reader *r);

/* Next message in time order: RTR_NEXT_OK with *msg filled, RTR_NEXT_END,
 * or RTR_NEXT_ERROR (rtr_reader_error() says what). */
enum rtr_next rtr_reader_next(struct rtr_reader *r, struct rtr_msg *msg);
/* The error that stopped the reader (code 0 if none). */
const struct rtr_error *rtr_reader_error(const struct rtr_reader *r);

/* Streams and traces of an open reader. */
size_t rtr_reader_stream_count(const struct rtr_reader *r);
const struct rtr_stream_info *rtr_reader_stream(const struct rtr_reader *r, size_t i);
size_t rtr_reader_trace_count(const struct rtr_reader *r);
/* An environment entry of a trace's metadata. */
struct rtr_env_value {
	bool is_int;
	int64_t i;     /* is_int */
	const char *s; /* !is_int */
};
/* Environment entry `key` of trace `trace`. Returns 0 with *v filled, or
 * -ENOENT (no such trace or key). */
int rtr_reader_trace_env(const struct rtr_reader *r, size_t trace, const char *key,
			 struct rtr_env_value *v);
/* Bytes of stream data consumed so far and in total (progress). */
void rtr_reader_progress(const struct rtr_reader *r, uint64_t *done, uint64_t *total);
/* Metadata text (plain TSDL) and directory of a trace. */
const char *rtr_reader_trace_metadata(const struct rtr_reader *r, size_t trace,
						 size_t *len);
const char *rtr_reader_trace_dir(const struct rtr_reader *r, size_t trace);

/* ---- debug info (babeltrace2's --debug-info) ---- */

struct rtr_debuginfo_options {
	const char *dir;	   /* separate debug info: NULL = /usr/lib/debug */
	const char *target_prefix; /* prepended to the traced binaries' paths */
	bool full_path;		   /* whole paths in `bin` and `src` */
};

/* From now on, rtr_reader_next() adds babeltrace2 2.0's `debug_info`
 * struct { bin, func, src } at the end of the event common context of
 * every event whose stream has `vpid` (signed 32-bit) and `ip` (unsigned)
 * context fields, resolved from the LTTng-UST statedump and library
 * events seen before it (libdw; docs/design/debuginfo.md). Those
 * lttng_ust* events are followed even when the name patterns or the log
 * level leave them out. Call before the first rtr_reader_next(). Defined
 * in the rtr_reader_debuginfo library (it links libdw and libelf).
 * Returns 0 or -ENOMEM with err set. */
int rtr_reader_debuginfo(struct rtr_reader *r, const struct rtr_debuginfo_options *o,
			 struct rtr_error *err);

/* ---- whole-stream scans (statistics) ---- */

/* Event classes of all traces, numbered densely from 0. */
size_t rtr_reader_class_count(const struct rtr_reader *r);
const char *rtr_reader_class_name(const struct rtr_reader *r, size_t k);

struct rtr_stream_stats {
	uint64_t events;
	uint64_t packets;
	uint64_t bytes;
	uint64_t discarded_events;  /* counted by the tracer */
	uint64_t discarded_unknown; /* notices without a count */
	uint64_t lost_packets;	    /* gaps in packet_seq_num */
	bool has_time;
	int64_t first_ns, last_ns;
	uint64_t *class_events; /* caller-allocated, rtr_reader_class_count() */
};

/* Decodes every event of stream i (every field, nothing recorded), in
 * file order, without merging: adds to st. Streams are independent: calls
 * for different i may run in parallel threads; do not mix with
 * rtr_reader_next() on the same reader. Returns 0 or a negative errno
 * with err set. */
int rtr_reader_scan_stream(struct rtr_reader *r, size_t i, struct rtr_stream_stats *st,
			   struct rtr_error *err);

/* ---- salvage of a packet cut short (ringtrace recover) ---- */

struct rtr_packet_salvage {
	uint64_t events;    /* whole records, from the first */
	uint64_t end_bytes; /* bytes from the packet start to the end of the last
			     * of them (0: none) */
	uint64_t last_clock; /* its clock value */
	bool stopped_error;  /* the next record did not decode (cut, or damaged) */
	bool stopped_late;   /* the next record's time is after the packet's end */
};

/* Decodes the records of one packet held in memory (pkt, n bytes, whose
 * header and context decode against metadata, a plain TSDL text, and say
 * the packet is n bytes long: the caller sets content and packet size to
 * the bytes it has) and says how many decode whole, in order, and where
 * the last of them ends. Returns 0 (out filled; err says why decoding
 * stopped early, when it did) or a negative errno with err set (the
 * metadata or the packet header does not decode). */
int rtr_reader_salvage_packet(const char *metadata, size_t mlen, const uint8_t *pkt, size_t n,
			      struct rtr_packet_salvage *out, struct rtr_error *err);

/* ---- CTF output ---- */

/* Writes the traces of r as CTF 1.8 into directory outdir (created; one
 * sub-directory per trace, as found under the inputs): the metadata text as
 * it is, and every stream re-encoded packet by packet keeping only the
 * events that pass r's name patterns and time range. Event timestamps stay
 * exact (packets are split where a dropped event carried a clock wrap).
 * r must have been opened with all_values and not iterated. Returns 0 or
 * a negative errno with err set. */
int rtr_reader_write_ctf(struct rtr_reader *r, const char *outdir, struct rtr_error *err);

/* ---- babeltrace2 text format ---- */

enum {
	RTR_TEXT_NAME_PAYLOAD = 1 << 0,
	RTR_TEXT_NAME_CONTEXT = 1 << 1,
	RTR_TEXT_NAME_SCOPE = 1 << 2,
	RTR_TEXT_NAME_HEADER = 1 << 3,
};
enum {
	RTR_TEXT_FIELD_TRACE = 1 << 0,
	RTR_TEXT_FIELD_HOSTNAME = 1 << 1,
	RTR_TEXT_FIELD_DOMAIN = 1 << 2,
	RTR_TEXT_FIELD_PROCNAME = 1 << 3,
	RTR_TEXT_FIELD_VPID = 1 << 4,
	RTR_TEXT_FIELD_LOGLEVEL = 1 << 5,
	RTR_TEXT_FIELD_EMF = 1 << 6,
	RTR_TEXT_FIELD_CALLSITE = 1 << 7,
};
#define RTR_TEXT_NAMES_DEFAULT (RTR_TEXT_NAME_PAYLOAD | RTR_TEXT_NAME_CONTEXT)
#define RTR_TEXT_FIELDS_DEFAULT                                                                    \
	(RTR_TEXT_FIELD_HOSTNAME | RTR_TEXT_FIELD_PROCNAME | RTR_TEXT_FIELD_VPID)

struct rtr_text_options {
	bool clock_seconds, clock_date, clock_gmt, clock_cycles, no_delta;
	unsigned names;	 /* RTR_TEXT_NAME_* */
	unsigned fields; /* RTR_TEXT_FIELD_* */
};

struct rtr_text;
/* Creates *out, a printer writing events to fd out_fd (own buffering) and
 * warnings to warn. Returns 0, -EBADF (out_fd < 0) or -ENOMEM. */
int rtr_text_create(struct rtr_reader *r, int out_fd, FILE *warn, const struct rtr_text_options *o,
		    struct rtr_text **out);
/* Prints one message. Returns 0 or the negative errno of a failed write
 * (the first one; nothing more is written after it). */
int rtr_text_print(struct rtr_text *t, const struct rtr_msg *m);
/* Prints every remaining message of r (with a helper thread on a large
 * trace and two or more CPUs; RTR_PARALLEL=0/1 forces it off/on).
 * progress (may be NULL) is called every 65536 messages. Returns 0 or a
 * negative errno with err set: the reader's error, or "write: ..." */
int rtr_text_drain(struct rtr_text *t, struct rtr_reader *r,
		   void (*progress)(struct rtr_reader *r, uint64_t n), struct rtr_error *err);
/* Appends note to the line rtr_text_print() just printed (or prints it on
 * a line of its own if that line was already written out). For marks
 * that are not babeltrace2's (`ringtrace view --uncertain`). Returns 0 or
 * the negative errno of a failed write. */
int rtr_text_mark(struct rtr_text *t, const char *note);
/* Flushes and frees t (may be NULL). Returns 0 or the negative errno of a
 * failed write (this one or an earlier one). */
int rtr_text_destroy(struct rtr_text *t);

/* ---- Chrome Trace Event JSON ---- */

struct rtr_json;
/* Starts *out, a JSON document (the Perfetto UI and chrome://tracing open
 * it) on out_file, which stays the caller's. Processes are the traced
 * processes (vpid/pid context, else the trace's env vpid; procname names
 * them), threads their threads (vtid/tid context, else one track per CPU
 * inside the process); begin/end pairs (X_entry/X_exit, X_begin/X_end,
 * X_start/X_end, syscall_entry_X/syscall_exit_X, func_entry/func_exit by
 * address) are "X" slices on their thread, nested; other events and
 * unmatched begins and ends are thread instants with their fields as
 * args. docs/design/reader.md says it all. Returns 0 or -ENOMEM. */
int rtr_json_create(struct rtr_reader *r, FILE *out_file, struct rtr_json **out);
/* Writes one message (a begin is held until its end). Returns 0 or a
 * negative errno (out_file has an error, or no memory). */
int rtr_json_print(struct rtr_json *j, const struct rtr_msg *m);
/* Ends the document, flushes out_file and frees j (may be NULL). Returns
 * 0 or a negative errno (out_file has an error). */
int rtr_json_destroy(struct rtr_json *j);

#ifdef __cplusplus
}
#endif
#endif /* RINGTRACE_READER_H */
