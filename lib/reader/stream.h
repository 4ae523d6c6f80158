/* Private: one data stream (a chain of stream files), its packet and event
 * decoder state. See docs/design/reader.md. */
#ifndef RTR_READER_STREAM_H
#define RTR_READER_STREAM_H

#include "internal.h"

struct rtr__trace;

struct rtr__file {
	char *path;    /* as opened */
	char *abspath; /* normalised absolute path (stream name) */
	struct rtr__trace *tr;
	struct rtr__trace_class *tc;
	struct rtr__stream_class *sc;
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
	/* index file entries (offset, ts_end cycles) for seeking */
	uint64_t *idx_off, *idx_end;
	size_t idx_n;
};

enum rtr__item { IT_NONE = 0, IT_EVENT, IT_DISC_EVENTS, IT_DISC_PACKETS };

struct rtr__pending {
	int kind;
	uint64_t count;
	bool has_range;
	uint64_t begin, end; /* cycles */
};

struct rtr__stream {
	struct rtr__file **files;
	size_t nfiles, cap_files;
	size_t fi; /* current file */
	struct rtr__file *f;
	struct rtr__trace_class *tc;
	struct rtr__stream_class *sc;
	struct rtr_stream_info info;
	struct rtr__trace *tr;

	/* mapping window of the current file */
	uint8_t *map;
	uint64_t map_off; /* file offset of map[0] (page aligned) */
	size_t map_len;
	uint64_t released; /* file offset below which pages were dropped */

	/* current packet */
	uint64_t pkt_off;   /* file offset */
	const uint8_t *pkt; /* map pointer to the packet start */
	uint64_t pkt_bits, content_bits;
	uint64_t avail_bits; /* bytes mapped from pkt, in bits */
	uint64_t pos;	     /* decode position, bits from packet start */
	uint64_t end;	     /* decode limit (bits) */
	uint64_t lim;	     /* fast programs: fixed segments end before (prog.c) */
	bool in_packet;
	bool eof;

	/* roles of the current packet / event */
	uint64_t r_magic, r_stream_id, r_instance_id, r_event_id;
	uint64_t r_ts_begin, r_ts_end, r_content, r_psize, r_disc, r_seq;
	uint32_t r_seen;  /* bit per role */
	int64_t uuid_pos; /* bit offset of the uuid array, -1 */

	/* previous packet snapshots */
	bool prev_valid;
	uint64_t prev_disc, prev_ts_end, prev_seq;
	bool prev_has_disc, prev_has_ts_end, prev_has_seq;

	/* clock */
	uint64_t clock;

	/* slots and values */
	uint64_t *slots;
	uint32_t nslots;
	struct rtr_value *vals;
	size_t nvals, cap_vals;
	struct rtr_value *pvals; /* packet context values of this packet */
	size_t npvals, cap_pvals;
	bool emit;
	bool no_emit;	  /* decode without recording values */
	bool fast;	  /* the stream class has fast programs (prog.c) */
	uint8_t all;	  /* record hidden fields too (re-encoding) */
	uint64_t pkt_gen; /* incremented at each packet */
	int emit_scope;
	uint64_t budget;

	/* current item */
	int item;
	struct rtr__event_class *ec;
	uint64_t ev_clock;
	int64_t key_ns; /* merge key */
	int key_type;	/* babeltrace2 message type weight */
	struct rtr__pending pend[2];
	int npend, ipend;
	struct rtr__pending cur_pend;

	uint64_t bytes_done;
	uint64_t npackets;
	uint64_t faults; /* rtr__sigbus_faults() seen so far */
	char *group_key; /* its key in rtr_reader.groups */
	void (*warn)(void *arg, const char *msg); /* rtr_reader_options.warn */
	void *warn_arg;
	struct rtr__err *err;
	uint32_t heap_pos;

	/* cycles to ns fast path (1 GHz clock without overflow) */
	bool ns_fast;
	int64_t ns_base;
	uint64_t ns_max;

	/* time range */
	bool has_begin;
	uint64_t seek_begin_cycles;
};

/* Counters of a whole-stream scan (stats). */
struct rtr__count {
	uint64_t events;
	uint64_t *per_class; /* by event class gindex, or NULL */
	uint64_t cmin, cmax; /* event clock extremes */
};

int rtr__stream_start(struct rtr__stream *s);
/* Decodes and counts the events left in the current packet with the fast
 * programs (no values kept); stops at the end of the packet or before an
 * event they do not handle, which rtr__stream_next() then decodes. */
void rtr__stream_count(struct rtr__stream *s, struct rtr__count *c);
/* Advances to the next item. Returns 1 (item ready), 0 (end), -1 error. */
int rtr__stream_next(struct rtr__stream *s);
void rtr__stream_fini(struct rtr__stream *s);
/* Probes the first packet of a file: stream class, instance id, begin
 * time; with full, checks every packet header and context too. Returns
 * 0, 1 (empty file: ignore) or -1. */
int rtr__file_probe(struct rtr__file *f, struct rtr__trace_class *tc, struct rtr__err *e,
		    bool full);

/* A trace directory and the reader holding them (reader.c, ctfwrite.c). */
struct rtr__trace {
	struct rtr__trace_class tc;
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
	bool started;
	struct rtr_reader_options opt;
	char **patterns;
	struct rtr__event_class **classes;
	size_t nclasses;
	struct rtr__err err;
	uint64_t total_bytes;
	/* streams by (trace group, stream class) and instance id: files of
	 * one stream instance are chained */
	struct rtr__strmap groups;
};

#endif /* RTR_READER_STREAM_H */
