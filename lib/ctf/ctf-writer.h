/* ringtrace CTF writer, host side (private to the tree; linked into the
 * session host and libringtrace.so): ring client configurations with the
 * packet hook, packet header encoding, TSDL metadata, LTTng-style packet
 * index and the stream writer that drains a ring buffer to a stream file.
 * Design: docs/design/ctf-writer.md.
 *
 * Everything here runs on the consumer side and trusts nothing it reads
 * from a ring buffer or from an event description received from a traced
 * program: bad input gives an error, never a crash or broken TSDL.
 *
 * Thread safety: the functions touch only their arguments. One thread at a
 * time per struct rtr_ctf_meta and per struct rtr_ctf_stream (a stream's
 * drain is the ring buffer's one reader).
 */
#ifndef RTR_CTF_WRITER_H
#define RTR_CTF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <ringtrace/clock.h>
#include <ringtrace/ctf.h>
#include <ringtrace/event.h>
#include <ringtrace/ring.h>

/* ------------------------------------------------------------------------
 * Clients
 * ------------------------------------------------------------------------ */

/*
 * The configuration the host (reader) uses for CTF client `client`
 * (enum rtr_ctf_client): the writer's configuration plus the packet hook.
 * Pass it to rtr_ring_buf_create/map, get/put_subbuf, flush, salvage.
 * Returns NULL for an unknown client.
 */
const struct rtr_ring_config *rtr_ctf_host_config(uint32_t client);

/*
 * The client for a channel: allocation, mode, synchronisation (use
 * RTR_RING_SYNC_ATOMIC for a process without rseq registration).
 * Returns the client id (> 0), -EINVAL (no such combination: RSEQ needs
 * PER_CPU) or -ENOTSUP (RSEQ where RTR_HAVE_RSEQ is 0).
 */
int rtr_ctf_client_select(enum rtr_ring_alloc alloc, enum rtr_ring_mode mode,
			  enum rtr_ring_sync sync);

/* ------------------------------------------------------------------------
 * Per-event counter context (record --context perf:...)
 * ------------------------------------------------------------------------ */

/*
 * A binding whose client has RTR_CTF_CLIENT_CTX set (never one the probes
 * inline, so their fast path is the same with or without it) goes through
 * rtr_ctf__reserve, which calls client_priv's read() (a struct
 * rtr_ctf_ctx_src) before reserving and writes its size bytes between the
 * event header and the payload: the stream event context.
 * read() must be async-signal-safe and fill exactly size bytes.
 */
#define RTR_CTF_CLIENT_CTX  0x100u
#define RTR_CTF_CLIENT_MASK 0xffu
#define RTR_CTF_CTX_MAX	    128u

struct rtr_ctf_ctx_src {
	uint32_t size;
	void (*read)(const struct rtr_ctf_ctx_src *s, uint8_t *dst);
};

/* The counters (bit n of a mask = counter n), one u64 each in the event
 * context, in bit order. STABLE: the mask travels in the CHANNEL message. */
enum rtr_ctf_counter {
	RTR_CTF_COUNTER_PAGE_FAULTS = 0,
	RTR_CTF_COUNTER_CONTEXT_SWITCHES,
	RTR_CTF_COUNTER_CPU_CLOCK,
	RTR_CTF_COUNTER_TASK_CLOCK,
	RTR_CTF_COUNTER_MINOR_FAULTS,
	RTR_CTF_COUNTER_MAJOR_FAULTS,
	RTR_CTF_COUNTER_CPU_MIGRATIONS,
	RTR_CTF_COUNTER_CYCLES, /* hardware: where a PMU exists */
	RTR_CTF_COUNTER_INSTRUCTIONS,
	RTR_CTF_COUNTER_CACHE_MISSES,
	RTR_CTF_COUNTER_BRANCH_MISSES,
	RTR_CTF_COUNTER_COUNT
};

struct rtr_ctf_counter_info {
	const char *name;  /* as given to --context: "page-faults" */
	const char *field; /* the context field: "perf_thread_page_fault" */
	uint32_t type;	   /* perf_event_attr.type */
	uint64_t config;   /* perf_event_attr.config */
};

/* The counter n (NULL if n is out of range). */
const struct rtr_ctf_counter_info *rtr_ctf_counter(unsigned n);

/* The event context fields (u64 each) of mask into out (at least
 * RTR_CTF_COUNTER_COUNT entries). Returns how many. */
uint32_t rtr_ctf_counter_fields(uint32_t mask, struct rtr_field_desc *out);

/* ------------------------------------------------------------------------
 * Packet header and context
 * ------------------------------------------------------------------------ */

/* Identity of one stream (one ring buffer): point buf->client_priv at one
 * of these before the first rtr_ring_get_subbuf(). Host memory only. */
struct rtr_ctf_stream_priv {
	uint8_t trace_uuid[16];	     /* same as the metadata's trace uuid */
	uint32_t stream_class_id;    /* the channel's stream class id */
	uint32_t cpu_id;	     /* packet context cpu_id */
	uint64_t stream_instance_id; /* CPU for per-CPU buffers, 0 for global */
};

/*
 * Writes the RTR_CTF_PACKET_HEADER_SIZE bytes of packet header + context
 * at dst, in the host's byte order: magic, uuid, stream_id,
 * stream_instance_id, timestamp_begin = info->begin_ts, timestamp_end =
 * info->end_ts, content_size = packet_size = info->data_size * 8,
 * packet_seq_num = info->seq, events_discarded = info->lost, cpu_id.
 * `s` NULL: zero uuid, stream 0, instance and cpu_id = info->cpu.
 */
void rtr_ctf_packet_header_encode(void *dst, const struct rtr_ctf_stream_priv *s,
				  const struct rtr_ring_packet_info *info);

/* The ring buffer packet hook (struct rtr_ring_client_cb.packet_hook):
 * rtr_ctf_packet_header_encode(subbuf, buf->client_priv, info). */
void rtr_ctf_packet_hook(const struct rtr_ring_config *cfg, const struct rtr_ring_buf *buf,
			 void *subbuf, const struct rtr_ring_packet_info *info);

/* ------------------------------------------------------------------------
 * TSDL metadata
 * ------------------------------------------------------------------------ */

enum rtr_ctf_byte_order {
	RTR_CTF_BYTE_ORDER_LE = 1,
	RTR_CTF_BYTE_ORDER_BE = 2,
};
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define RTR_CTF_BYTE_ORDER_HOST RTR_CTF_BYTE_ORDER_BE
#else
#define RTR_CTF_BYTE_ORDER_HOST RTR_CTF_BYTE_ORDER_LE
#endif

/* Limits the generator (and rtr_ctf_event_check) enforces. */
#define RTR_CTF_MAX_NAME	 255u  /* bytes of a provider, event, field, env key */
#define RTR_CTF_MAX_FIELDS	 1024u /* per event */
#define RTR_CTF_MAX_ENUM_ENTRIES 65536u
#define RTR_CTF_MAX_STRING	 4096u	    /* env values, labels, descriptions, URIs */
#define RTR_CTF_MAX_EVENTS	 (1u << 20) /* per trace */

/*
 * Checks an event description (from a traced program: untrusted) for what
 * the metadata generator needs: names present and <= RTR_CTF_MAX_NAME
 * bytes, known field kinds, integer sizes 8/16/32/64, bases 2/8/10/16,
 * float 32/64, text only on 8-bit elements, sequence length types
 * unsigned, enums with 1..RTR_CTF_MAX_ENUM_ENTRIES labelled entries whose
 * ranges fit the container and have start <= end, no two fields with the
 * same TSDL name (after the sanitising described in ctf-writer.md, and
 * counting each sequence's `_<name>_length`), loglevel -1..14.
 * On failure writes "event P:E field N: expected ..." to err (if errlen).
 * Returns 0 or -EINVAL.
 */
int rtr_ctf_event_check(const struct rtr_event_desc *ev, char *err, size_t errlen);

/* Builder of one trace's metadata. Everything added is copied or rendered
 * at once: the caller's descriptions need not outlive the call. */
struct rtr_ctf_meta;

/* Returns a builder, or NULL (errno EINVAL: bad byte order; ENOMEM). */
struct rtr_ctf_meta *rtr_ctf_meta_create(const uint8_t uuid[16], enum rtr_ctf_byte_order bo);
/* NULL is ignored. */
void rtr_ctf_meta_destroy(struct rtr_ctf_meta *m);

/* Last error message of the builder ("" if none). */
const char *rtr_ctf_meta_error(const struct rtr_ctf_meta *m);

/*
 * The clock block (copied). The name must be a TSDL identifier
 * ([A-Za-z_][A-Za-z0-9_]*), freq > 0, offset < freq. May be called again
 * (e.g. at the end of a recording, when the sync points are final): the
 * last description wins. Returns 0 or -EINVAL.
 */
int rtr_ctf_meta_set_clock(struct rtr_ctf_meta *m, const struct rtr_clock_desc *clk);

/*
 * env entries. Keys are TSDL identifiers <= RTR_CTF_MAX_NAME bytes; values
 * are escaped when rendered, strings up to RTR_CTF_MAX_STRING bytes (the
 * sync list: RTR_CLOCK_SYNC_STR_MAX). Setting a key again replaces its
 * value; entries render in the order keys were first set.
 * Return 0, -EINVAL (bad key or value), -ENOMEM.
 */
int rtr_ctf_meta_env_string(struct rtr_ctf_meta *m, const char *key, const char *value);
int rtr_ctf_meta_env_int(struct rtr_ctf_meta *m, const char *key, int64_t value);

/* The clock library's keys (rtr_clock_env_entries). Returns as above. */
int rtr_ctf_meta_env_clock(struct rtr_ctf_meta *m, const struct rtr_clock_meta *cm);

/* The sync list, encoded by rtr_clock_sync_encode() under
 * RTR_CLOCK_ENV_SYNC_KEY (decimated to fit RTR_CLOCK_SYNC_STR_MAX).
 * Returns 0, -EINVAL (invalid list), -ENOMEM. */
int rtr_ctf_meta_env_sync_list(struct rtr_ctf_meta *m, const struct rtr_clock_sync *pts, size_t n);

/* The standard keys of a ringtrace user-space trace. */
struct rtr_ctf_std_env {
	const char *hostname;	/* NULL: gethostname() */
	const char *procname;	/* NULL: omitted */
	int64_t vpid;		/* < 0: omitted */
	time_t creation_time;	/* 0: now */
	const char *trace_name; /* NULL: omitted */
};

/*
 * Sets hostname, domain = "ust", tracer_name = "ringtrace", tracer_major,
 * tracer_minor, tracer_patchlevel (this build's version), and when given
 * procname, vpid, trace_name; trace_creation_datetime (ISO 8601, local
 * time with offset, e.g. "20240131T120000+0100"); architecture_bit_width.
 * Returns 0, -EINVAL, -ENOMEM.
 */
int rtr_ctf_meta_env_std(struct rtr_ctf_meta *m, const struct rtr_ctf_std_env *e);

/*
 * A stream class (one per channel): id < 2^32 - 1, name for humans (goes
 * into a comment; sanitised). Returns 0, -EEXIST (id already added),
 * -EINVAL, -ENOMEM.
 */
int rtr_ctf_meta_add_stream(struct rtr_ctf_meta *m, uint32_t id, const char *name);

/*
 * The stream event context of stream class id (added before): the context
 * fields every record of that stream carries after its event header
 * (RTR_CTF_CTX_*, written in that order by the probes; ctf.h). Returns 0,
 * -ENOENT (no such stream), -EINVAL (unknown bits).
 */
int rtr_ctf_meta_stream_context(struct rtr_ctf_meta *m, uint32_t id, uint32_t ctx_mask);

/*
 * An event class: name "provider:event", id (in its stream class; 0..30
 * use the compact header, larger ids the extended one), stream_id (added
 * before), loglevel, model.emf.uri, fields. The description is checked
 * (rtr_ctf_event_check) and rendered now.
 * Returns 0, -EINVAL (bad description: see rtr_ctf_meta_error), -ENOENT
 * (no such stream), -EEXIST (id already used in that stream), -E2BIG
 * (more than RTR_CTF_MAX_EVENTS), -ENOMEM.
 */
int rtr_ctf_meta_add_event(struct rtr_ctf_meta *m, uint32_t id, uint32_t stream_id,
			   const struct rtr_event_desc *ev);

/*
 * Event names as `name` alone instead of "provider:name" (LTTng kernel
 * traces name their events so: "sched_switch"). Applies to the events
 * added after the call.
 */
void rtr_ctf_meta_bare_event_names(struct rtr_ctf_meta *m, bool bare);

/*
 * The stream event context of stream class stream_id (added before): the
 * fields every event of the stream carries between its header and its
 * payload (`event.context := struct { ... }` in the stream block), checked
 * as the fields of an event. Replaces an earlier context.
 * Returns 0, -ENOENT (no such stream), -EINVAL (bad fields), -ENOMEM.
 */
int rtr_ctf_meta_set_event_context(struct rtr_ctf_meta *m, uint32_t stream_id,
				   const struct rtr_field_desc *fields, uint32_t n);

/*
 * Renders the whole metadata text ("/ * CTF 1.8 * /" first line, then the
 * trace, env, clock, stream and event blocks) into a malloc'ed,
 * NUL-terminated string the caller frees. Returns 0, -EINVAL (no clock
 * set), -ENOMEM.
 */
int rtr_ctf_meta_render(const struct rtr_ctf_meta *m, char **text, size_t *len);

/*
 * Renders and writes the metadata to `name` in dirfd (AT_FDCWD allowed),
 * atomically: a temporary file in the same directory (created exclusively
 * under a random name, rtr_ctf_file_create), fsync'ed, renamed.
 * Returns 0, or a negative errno (see rtr_ctf_meta_render, plus I/O).
 */
int rtr_ctf_meta_write(const struct rtr_ctf_meta *m, int dirfd, const char *name);

/* ------------------------------------------------------------------------
 * Packet index (LTTng's index/<stream>.idx): ctf-index.h, shared with the
 * reader (lib/reader/iter/index.c)
 * ------------------------------------------------------------------------ */

#include "ctf-index.h"

/* ------------------------------------------------------------------------
 * Stream writer: one ring buffer -> one stream file + its index
 * ------------------------------------------------------------------------ */

struct rtr_ctf_stream;

struct rtr_ctf_stream_stats {
	uint64_t packets;      /* packets written */
	uint64_t bytes;	       /* bytes written (all of the stream's files) */
	uint64_t events_lost;  /* events_discarded of the last packet written (running total) */
	uint64_t packets_lost; /* gaps in packet_seq_num seen (overwrite mode, salvage) */
	uint64_t salvaged;     /* packets the ring buffer flagged SALVAGED or TRUNCATED */
	/* Records per packet come from the writers' per-sub-buffer counts
	 * (shared memory: bounded by what a packet can hold). */
	uint64_t events_written;   /* records in the packets written */
	uint64_t events_dropped;   /* records of packets given up after a write error:
				    * counted in later packets' events_discarded */
	uint64_t packets_dropped;  /* those packets */
	uint64_t events_unwritten; /* records of a packet held for a full disk and
				    * given up (rtr_ctf_stream_give_up, destroy) */
	uint64_t packets_unwritten;
	uint64_t files_deleted; /* trace file count limit: oldest files removed */
	int write_err; /* last write error (negative errno), 0: none */
};

/*
 * Prepares the stream `name` (a file name, no '/') of the trace directory
 * dirfd for buffer `buf` read with `cfg` (rtr_ctf_host_config()): copies
 * priv and points buf->client_priv at the copy. The stream file and
 * index/<name>.idx are created on the first packet (a buffer that never
 * produced one leaves no file), exclusively (rtr_ctf_file_create): when
 * either name is taken, <name>.1, <name>.2, ... (up to 63); when `index`
 * is not a directory of its own, without index. dirfd must stay open
 * while the stream is.
 * Returns the stream, or NULL (errno: EINVAL bad name/arguments, ENOMEM).
 */
struct rtr_ctf_stream *rtr_ctf_stream_create(int dirfd, const char *name,
					     const struct rtr_ring_config *cfg,
					     struct rtr_ring_buf *buf,
					     const struct rtr_ctf_stream_priv *priv);

/* Mode of the files the stream creates (default 0600; the index directory
 * gets x where r is set: 0700). Call before the first packet. */
void rtr_ctf_stream_set_mode(struct rtr_ctf_stream *s, mode_t mode);

/*
 * Trace file limits, as LTTng's --tracefile-size/--tracefile-count: the
 * stream is written to <name>_0, <name>_1, ... (each with its index file),
 * a new one before a packet that would take the current one past
 * max_bytes (packets are never split: a larger packet gets a file of its
 * own); with max_files, only the newest max_files files are kept (the
 * oldest and its index are deleted when a new one starts). 0: no limit.
 * Before the first packet; -EBUSY after.
 */
int rtr_ctf_stream_set_file_limits(struct rtr_ctf_stream *s, uint64_t max_bytes,
				   uint32_t max_files);
/* Changes each time the stream opens a file (rtr_ctf_packet_job.dst_gen). */
uint32_t rtr_ctf_stream_file_gen(const struct rtr_ctf_stream *s);

/* The stream file's name: the one given, or <name>.N when that was taken
 * when the file was created. */
const char *rtr_ctf_stream_name(const struct rtr_ctf_stream *s);

/*
 * Creating files in a trace directory: `name` (no '/') in dirfd, resolved
 * beneath dirfd with no symlink (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS, O_NOFOLLOW), created exclusively (O_CREAT | O_EXCL):
 * never opens anything that exists, so never follows a planted symlink nor
 * blocks on a planted FIFO. rtr_ctf_file_create returns a write-only
 * descriptor (O_CLOEXEC), rtr_ctf_dir_open a directory descriptor, or a
 * negative errno (-EEXIST: the name is taken; -ELOOP: a symlink).
 */
int rtr_ctf_file_create(int dirfd, const char *name, mode_t mode);
int rtr_ctf_dir_open(int dirfd, const char *name);

/*
 * Whole-buffer I/O (fileio.c): every byte or an error. Short transfers are
 * continued and EINTR retried; an end of file before n bytes (read) or a
 * write of 0 bytes is -EIO. Return 0 or a negative errno.
 */
int rtr_ctf_write_all(int fd, const void *buf, size_t n);
int rtr_ctf_pwrite_all(int fd, const void *buf, size_t n, uint64_t off);
int rtr_ctf_pread_all(int fd, void *buf, size_t n, uint64_t off);

/*
 * Replaces `name` in dirfd (no '/', at most 200 bytes) with buf,
 * atomically: a temporary file in the same directory, created exclusively
 * under a random name (rtr_ctf_file_create), written, fsync'ed and renamed
 * over `name`; nothing is left behind on error. Returns 0 or a negative
 * errno.
 */
int rtr_ctf_file_replace(int dirfd, const char *name, const void *buf, size_t n, mode_t mode);

/*
 * Writes every sub-buffer the ring buffer has ready (at most max_packets;
 * 0: no limit) to the stream file with no user-space copy for the records
 * (rtr_ring_subbuf_write; the header from host memory), and appends one
 * index entry per packet. Returns the number of packets written (>= 0),
 * -EIO (the buffer is corrupt: rtr_ctf_stream_error() says why; the stream
 * stops reading it, earlier packets stay valid), or a negative errno from
 * file creation or writing. A full disk (-ENOSPC, -EDQUOT) keeps the packet
 * held ("stalled": the writers go on until the buffer is full, then their
 * records are counted as discarded) and the next call writes it first;
 * any other error gives the packet up: the files are cut back, and its
 * records are added to the events_discarded of the packets that follow.
 */
int rtr_ctf_stream_drain(struct rtr_ctf_stream *s, uint32_t max_packets);

/*
 * The same one packet at a time, for a caller that has the bytes copied
 * elsewhere (record's idle-priority drain thread):
 * rtr_ctf_stream_begin() gets the next complete sub-buffer, creates the
 * files on the first packet and, when `job` is not NULL, says where the
 * packet's bytes are (src_fd at src_off: the buffer's memfd) and where they
 * go (dst_fd at dst_off: the stream file, positioned writes only); returns
 * 1 (a packet is held), 0 (none ready) or a negative errno as
 * rtr_ctf_stream_drain(); -EBUSY when one is held already.
 * Then exactly one of:
 *   rtr_ctf_stream_write_held(): writes the held packet itself;
 *   rtr_ctf_stream_end(write_err): the bytes were written elsewhere
 *   (write_err 0) or could not be (a negative errno: the file is cut back).
 * Both append the index entry, give the sub-buffer back and return 0 or a
 * negative errno: a full disk keeps the packet held (stalled, below), any
 * other error gives it up, as in rtr_ctf_stream_drain. begin may also
 * return -ENOSPC/-EDQUOT (the files could not be created: held, stalled).
 * rtr_ctf_stream_drain() returns -EBUSY while a packet is held for a job.
 */
struct rtr_ctf_packet_job {
	int src_fd;
	uint64_t src_off;
	int dst_fd;
	uint64_t dst_off;
	uint64_t len;
	/* The first hdr_len bytes to write instead of the memfd's (the packet
	 * header, encoded in host memory; valid while the packet is held). */
	const uint8_t *hdr;
	uint32_t hdr_len;
	/* Changes when the stream moves to a new file (trace file limits):
	 * a copier that kept a duplicate of dst_fd must take the new one. */
	uint32_t dst_gen;
};
int rtr_ctf_stream_begin(struct rtr_ctf_stream *s, struct rtr_ctf_packet_job *job);
int rtr_ctf_stream_write_held(struct rtr_ctf_stream *s);
int rtr_ctf_stream_end(struct rtr_ctf_stream *s, int write_err);
bool rtr_ctf_stream_holding(const struct rtr_ctf_stream *s);
/* A full disk: begin, write_held, end and drain return -ENOSPC or -EDQUOT
 * with the packet still held ("stalled", the files cut back): call
 * rtr_ctf_stream_write_held() (or drain) later to write it, or give it up:
 * rtr_ctf_stream_give_up() releases it and counts its records as
 * unwritten (no later packet can carry them: nothing more is written). */
bool rtr_ctf_stream_stalled(const struct rtr_ctf_stream *s);
/* The ring buffer was found corrupt (-EIO): the stream reads it no more. */
bool rtr_ctf_stream_corrupt(const struct rtr_ctf_stream *s);
void rtr_ctf_stream_give_up(struct rtr_ctf_stream *s);

void rtr_ctf_stream_stats(const struct rtr_ctf_stream *s, struct rtr_ctf_stream_stats *st);

/* Last error message, or "". */
const char *rtr_ctf_stream_error(const struct rtr_ctf_stream *s);

/*
 * Closes the files (fsync'ed when `sync`), clears buf->client_priv, frees
 * the stream (a stalled packet is given up first); the buffer itself is
 * the caller's. Returns 0 or the first
 * negative errno from fsync/close. NULL is ignored (returns 0).
 */
int rtr_ctf_stream_destroy(struct rtr_ctf_stream *s, bool sync);

/* ------------------------------------------------------------------------
 * Probe extras (probe_extra.c): filters and contexts of bindings
 * ------------------------------------------------------------------------ */

/* The caches of context values: at start, and in a fork child. */
void rtr__extra_init(void);
void rtr__extra_fork_child(void);
/* Bytes a set of contexts (RTR_CTF_CTX_*) takes in a record. */
uint32_t rtr__ctx_size(uint32_t ctx_mask);

#endif /* RTR_CTF_WRITER_H */
