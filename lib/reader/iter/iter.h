/* Iter stage of the CTF reader: traces found under the inputs, their
 * stream files grouped into streams, each stream's packets and items, and
 * the reader that merges them. See docs/design/reader.md ("Streams, merge,
 * memory"). */
#ifndef RTR_READER_ITER_H
#define RTR_READER_ITER_H

#include <stdatomic.h>

#include "ringtrace/reader.h"
#include "compile/compile.h"

struct rtr__trace;

struct rtr__file {
	char *path;    /* as opened */
	char *abspath; /* normalised absolute path (stream name) */
	struct rtr__trace *tr;
	const struct rtr__trace_class *tc;
	const struct rtr__trace_code *code;
	const struct rtr__stream_code *sc;
	uint64_t size;
	int fd;		   /* open only while a window is mapped (lazy: no fd limit) */
	uint64_t dev, ino; /* the file found at open: a replaced file is an error */
	bool uuid_warned;  /* a packet UUID differing from the trace's was reported */
	const uint8_t *mem; /* in-memory stream (tests, fuzzing), or NULL */
	/* first packet, probed at open */
	bool has_instance_id;
	uint64_t instance_id;
	bool has_ts_begin;
	uint64_t ts_begin;
	int64_t ts_begin_ns; /* ts_begin from origin (babeltrace2's rounding) */
	uint32_t dir_seq;    /* rank in readdir() order (babeltrace2's) */
	/* index file entries (offset, ts_end cycles) for seeking */
	uint64_t *idx_off, *idx_end;
	size_t idx_n;
};

/* IT_PKT_END: the end of a packet whose context has timestamp_end, an
 * item of the merge only (never returned): babeltrace2's muxer orders
 * its packet end messages by that time too, which delays what follows
 * in the stream (merge.c). IT_PKT_BEGIN: likewise for timestamp_begin,
 * after the packet's discarded-item notices. */
enum rtr__item {
	IT_NONE = 0,
	IT_EVENT,
	IT_DISC_EVENTS,
	IT_DISC_PACKETS,
	IT_PKT_BEGIN, /* likewise with timestamp_begin, before the events */
	IT_PKT_END
};

struct rtr__pending {
	int kind;
	uint64_t count;
	bool has_range;
	uint64_t begin, end; /* cycles */
};

/* One packet of a stream split over several files, in babeltrace2's
 * reading order (rtr__stream_plan()). */
struct rtr__pkt_ref {
	uint32_t fi;  /* index in files[] */
	uint64_t off; /* byte offset of the packet in the file */
};

struct rtr__stream {
	struct rtr__file **files;
	size_t nfiles, cap_files;
	size_t fi; /* current file */
	/* several files: the packets to read, in order, when that order is
	 * not the files' one after the other (else NULL) */
	struct rtr__pkt_ref *plan;
	size_t nplan, iplan;
	struct rtr__file *f;
	const struct rtr__trace_class *tc;
	const struct rtr__trace_code *code;
	const struct rtr__stream_code *sc;
	struct rtr_stream_info info;
	struct rtr__trace *tr;

	/* mapping window of the current file */
	uint8_t *map;
	uint64_t map_off; /* file offset of map[0] (page aligned) */
	size_t map_len;
	uint64_t released; /* file offset below which pages were dropped */

	/* current packet */
	uint64_t pkt_bits, content_bits;
	bool in_packet;
	bool eof;
	struct rtr__cursor cur; /* decoder over the current packet */

	/* previous packet snapshots */
	bool prev_valid;
	uint64_t prev_disc, prev_ts_end, prev_seq;
	bool prev_has_disc, prev_has_ts_end, prev_has_seq;

	bool fast;	  /* the stream class has fast programs (compile/prog_*) */
	bool mux_items;	  /* merged (rtr_reader_next()): IT_PKT_END items wanted */
	bool pkt_end_due; /* IT_PKT_END after this packet's events */
	bool overran;	  /* an event ended past the content (rtr__stream_overrun) */
	bool pkt_begin_due; /* IT_PKT_BEGIN before this packet's events */
	/* babeltrace2's fix-ups for known tracer bugs (fs.c,
	 * fix_packet_index_tracer_bugs; rtr__stream_quirks()) */
	bool q_event_after_packet, q_lttng_crash, q_barectf;
	bool key_nocs;	  /* the item has no time: keyed at the last time returned */
	uint64_t pkt_gen; /* incremented at each packet */

	/* current item (an event: cur.ec, cur.ev_clock) */
	int item;
	int64_t key_ns; /* merge key */
	int key_type;	/* babeltrace2 message type weight */
	struct rtr__pending pend[2];
	int npend, ipend;
	struct rtr__pending cur_pend;

	uint64_t bytes_done;
	uint64_t npackets;
	uint64_t faults;  /* rtr__sigbus_faults() seen so far */
	char *group_key;  /* its key in rtr_reader.groups */
	void (*warn)(void *arg, const char *msg); /* rtr_reader_options.warn */
	void *warn_arg;
	uint32_t heap_pos;

	/* cycles to ns fast path (1 GHz clock without overflow) */
	bool ns_fast;
	int64_t ns_base;
	uint64_t ns_max;

	/* time range */
	bool has_begin;
	uint64_t seek_begin_cycles;
};

int rtr__stream_start(struct rtr__stream *s);
/* Decodes and counts the events left in the current packet with the fast
 * programs (no values kept); stops at the end of the packet or before an
 * event they do not handle, which rtr__stream_next() then decodes. */
void rtr__stream_count(struct rtr__stream *s, struct rtr__count *c);
/* ---- shrinking stream files (sigbus.c) ---- */
/* Installs, once per process and only where SIGBUS has its default
 * action, a handler that maps zero pages over reads past the end of a
 * file mapping and counts them (rtr_reader_options.guard_sigbus). The
 * stream decoder compares the count with its own snapshot. */
void rtr__sigbus_guard(void);
/* Whether events of cls are kept: the reader's name patterns and log
 * level selection (merge.c; the CTF writer asks it too). */
bool rtr__class_selected(const struct rtr_reader *r, const struct rtr__event_class *cls);
extern atomic_uint_fast64_t rtr__sigbus_fault_count;
static inline uint64_t rtr__sigbus_faults(void)
{
	/* F1: relaxed; what a fault vouches for is re-checked with stat() */
	return (uint64_t)atomic_load_explicit(&rtr__sigbus_fault_count, memory_order_relaxed);
}

/* Moves to the next packet with events or pending items (slow path of
 * rtr__stream_next()). */
enum rtr_next rtr__stream_next_packet(struct rtr__stream *s);
/* A read faulted past the end of a mapped file: r, or RTR_NEXT_ERROR when
 * it is this stream's file that shrank (the error then says so). */
enum rtr_next rtr__stream_shrunk(struct rtr__stream *s, enum rtr_next r);

/* The event at bit AT of the packet (stream clock CLK before it) failed
 * to decode: RTR_NEXT_ERROR, unless the data ended inside it, where it
 * reads on as babeltrace2 does (stream.c). */
enum rtr_next rtr__stream_overrun(struct rtr__stream *s, uint64_t at, uint64_t clk);

static inline __attribute__((always_inline)) enum rtr_next rtr__stream_next1(struct rtr__stream *s)
{
	while (1) {
		enum rtr_next r;

		if (s->eof)
			return RTR_NEXT_END;
		if (s->ipend < s->npend) {
			s->cur_pend = s->pend[s->ipend++];
			s->item = s->cur_pend.kind;
			return RTR_NEXT_OK;
		}
		if (rtr_unlikely(s->pkt_begin_due)) {
			s->pkt_begin_due = false;
			s->item = IT_PKT_BEGIN;
			return RTR_NEXT_OK;
		}
		if (s->in_packet && s->cur.pos < s->cur.end) {
			if (rtr_likely(s->fast) &&
			    rtr_likely(!rtr__prog_event(&s->cur, s->sc, !s->cur.no_emit))) {
				s->item = IT_EVENT;
				return RTR_NEXT_OK;
			}
			{
				uint64_t at = s->cur.pos, clk = s->cur.clock;

				s->cur.overrun = false;
				if (rtr__plan_event(&s->cur, s->sc))
					return rtr__stream_overrun(s, at, clk);
			}
			s->item = IT_EVENT;
			return RTR_NEXT_OK;
		}
		if (rtr_unlikely(s->pkt_end_due)) {
			s->pkt_end_due = false;
			s->item = IT_PKT_END;
			return RTR_NEXT_OK;
		}
		r = rtr__stream_next_packet(s);
		if (r != RTR_NEXT_OK)
			return r;
	}
}

/* Advances to the next item (s->item; an event: s->cur.ec, s->cur.ev_clock
 * and its values). RTR_NEXT_ERROR: the error is recorded in s->cur.err. */
static inline __attribute__((always_inline)) enum rtr_next rtr__stream_next(struct rtr__stream *s)
{
	enum rtr_next r = rtr__stream_next1(s);

	if (rtr_unlikely(rtr__sigbus_faults() != s->faults))
		return rtr__stream_shrunk(s, r);
	return r;
}
void rtr__stream_fini(struct rtr__stream *s);
/* Probes the first packet of a file (not empty): stream class, instance
 * id, begin time; with full, checks every packet header and context too.
 * Returns 0 or a negative errno with e set. */
int rtr__file_probe(struct rtr__file *f, struct rtr_error *e, bool full);
/* A stream of several files (sorted by first timestamp_begin): orders
 * their packets as babeltrace2 merges the files' packet indexes, and
 * drops the packets it drops as duplicates. Returns 0 or a negative errno
 * with e set. */
int rtr__stream_plan(struct rtr__stream *s, struct rtr_error *e);
/* Sets s->q_* from the trace's env (tracer_name and version). */
void rtr__stream_quirks(struct rtr__stream *s);
/* The stream clock once the current packet ends: its timestamp_end, as
 * babeltrace2 sets it, unless a tracer quirk says to keep the clock. */
uint64_t rtr__stream_end_clock(const struct rtr__stream *s);

/* A trace directory, and the reader holding them. */
struct rtr__trace {
	struct rtr__trace_class tc;
	struct rtr__trace_code code;
	char *dir;    /* as found (input-relative) */
	char *suffix; /* path relative to the input argument, or NULL */
	char *name;   /* babeltrace2 trace name */
	char *text;   /* metadata text */
	size_t text_len;
	uint32_t index;
	struct rtr__trace *group; /* first trace of the same UUID */
	bool merged;
	const uint8_t *uuid;
};

struct rtr_reader {
	struct rtr__trace **traces;
	size_t ntr, cap_tr;
	struct rtr__stream **streams;
	size_t nst, cap_st;
	struct rtr__stream **heap;
	size_t nheap;
	struct rtr__stream *last;
	int64_t last_ns; /* time of the last timed item returned (INT64_MIN) */
	bool started;
	struct rtr_reader_options opt;
	char **patterns;
	const struct rtr__event_code **classes;
	size_t nclasses;
	struct rtr_error err;
	uint64_t total_bytes;
	/* streams by (trace group, stream class) and instance id: files of
	 * one stream instance are chained */
	struct rtr__strmap groups;
	/* a later stage seeing every event first (debuginfo/): it may change
	 * the message; false drops it. Unselected classes whose name starts
	 * with "lttng_ust" reach it too, then are dropped (rtr_reader_next). */
	bool (*hook)(void *arg, struct rtr_msg *m);
	void (*hook_free)(void *arg);
	void *hook_arg;
};

/* merge.c: installs the hook (before the first rtr_reader_next()); the
 * reader calls hook_free(arg) when it is closed. */
void rtr__reader_set_hook(struct rtr_reader *r, bool (*hook)(void *arg, struct rtr_msg *m),
			  void (*hook_free)(void *arg), void *arg);

/* open.c: opens a reader on one trace made of the given metadata (plain or
 * packetized) and one stream held in memory (not copied: must outlive the
 * reader), for unit tests and fuzzing. Returns 0 or a negative errno with
 * err set. */
int rtr__reader_open_mem(const uint8_t *metadata, size_t mlen, const uint8_t *data, size_t n,
			 const struct rtr_reader_options *opts, struct rtr_reader **out,
			 struct rtr_error *err);

/* index.c: reads dir/index/<name>.idx into f->idx_* (offset and end time
 * of each packet); leaves f->idx_n at 0 when there is no usable index. */
void rtr__index_read(struct rtr__file *f, const char *dir, const char *name);

#endif /* RTR_READER_ITER_H */
