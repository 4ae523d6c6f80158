/* ringtrace control protocol: the messages between a traced process (the
 * in-process runtime) and a session host (`ringtrace record`, later the
 * session daemon), their encoders, their validating decoders and the socket
 * helpers that carry them with file descriptors. Wire format, message
 * sequences and compatibility rules: docs/design/protocol.md.
 *
 * Transport: AF_UNIX SOCK_SEQPACKET (message boundaries kept, fds passed
 * with SCM_RIGHTS). Every message is one datagram:
 *
 *     header (24 bytes, little-endian) | payload (length bytes, <= 64 KiB)
 *
 * Everything received is untrusted: rtr_proto_parse() checks the header, the
 * payload against the message type (lengths, counts x sizes, strings
 * NUL-terminated inside their bounds, enumerations in range) and the number
 * of file descriptors that came with it; rtr_proto_events_decode() does the
 * same for event descriptions and builds host-memory copies of them. A
 * decoder never reads outside the buffer it was given, never allocates
 * without a bound and never crashes on any input (fuzzed:
 * tests/fuzz/proto/).
 *
 * Thread safety: the encoders and decoders touch only their arguments. The
 * socket helpers are as thread-safe as the sockets they use (the caller
 * serialises senders of one socket if it needs ordering).
 */
#ifndef RTR_PROTO_H
#define RTR_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ringtrace/event.h>

/* ------------------------------------------------------------------------
 * Constants of the wire format (STABLE within a major version)
 * ------------------------------------------------------------------------ */

#define RTR_PROTO_MAGIC		0x31435452u /* bytes "RTC1" */
#define RTR_PROTO_VERSION_MAJOR 1
#define RTR_PROTO_VERSION_MINOR 2
#define RTR_PROTO_HDR_SIZE	24u
#define RTR_PROTO_MAX_PAYLOAD	65536u
#define RTR_PROTO_MAX_MSG	(RTR_PROTO_HDR_SIZE + RTR_PROTO_MAX_PAYLOAD)
/* File descriptors in one message (kernel limit SCM_MAX_FD is 253). */
#define RTR_PROTO_MAX_FDS 64u
/* Buffers (memfds) in one CHANNEL_BUFFERS message. */
#define RTR_PROTO_MAX_BUFS_PER_MSG 64u
/* Strings: bytes including the terminating NUL. */
#define RTR_PROTO_MAX_NAME 256u	 /* provider, event, field, enum, channel names */
#define RTR_PROTO_MAX_TEXT 1024u /* labels, URIs, error texts, versions */
/* Per-process bounds the host enforces on what a program registers. */
#define RTR_PROTO_MAX_FIELDS	   1024u /* fields per event */
#define RTR_PROTO_MAX_ENUM_ENTRIES 4096u
#define RTR_PROTO_MAX_ARRAY_LEN	   (1u << 20)
#define RTR_PROTO_MAX_CPUS	   4096u
/* Entries of ENABLE / REGISTER_REPLY: 3 x u32. */
#define RTR_PROTO_ENABLE_ENTRY_SIZE   12u
#define RTR_PROTO_MAX_ENABLES_PER_MSG ((RTR_PROTO_MAX_PAYLOAD - 16u) / RTR_PROTO_ENABLE_ENTRY_SIZE)

/* Environment of a traced process: the session host's socket (set by
 * `ringtrace record` for the program it runs; inherited by children and
 * exec'd programs), and the registration timeout in ms (default 3000). */
#define RTR_HOST_SOCKET_ENV  "RINGTRACE_HOST_SOCKET"
#define RTR_HOST_TIMEOUT_ENV "RINGTRACE_HOST_TIMEOUT_MS"

/* Message types. STABLE: never renumber; add new ones with new numbers. */
enum rtr_proto_type {
	/* traced process -> host */
	RTR_MSG_HELLO = 1,	     /* on the command socket; 1 fd: the notify socket */
	RTR_MSG_REGISTER_EVENTS = 2, /* on the notify socket; answered by REGISTER_REPLY */
	/* host -> traced process (command socket); each answered by REPLY */
	RTR_MSG_SESSION = 16,	      /* create a session */
	RTR_MSG_CHANNEL = 17,	      /* create a channel; 0 or 1 fd (wakeup eventfd) */
	RTR_MSG_CHANNEL_BUFFERS = 18, /* buffers of a channel; `count` memfds */
	RTR_MSG_ENABLE = 19,	      /* bind events to channels */
	RTR_MSG_START = 20,	      /* session starts recording */
	RTR_MSG_STOP = 21,	      /* session stops recording */
	RTR_MSG_CLOSE_CHANNEL = 22,   /* unbind and release a channel */
	RTR_MSG_CLOSE_SESSION = 23,   /* release a session and its channels */
	RTR_MSG_READY = 24,	      /* end of the registration handshake */
	RTR_MSG_DISABLE = 25,	      /* (1.1) unbind events from channels */
	/* replies */
	RTR_MSG_REPLY = 64,	     /* status of a request; either direction */
	RTR_MSG_REGISTER_REPLY = 65, /* host -> process: status + enables for the new events */
};

/* Header flags. */
#define RTR_PROTO_F_REPLY 0x1u /* the message answers the request with the same seq */
#define RTR_PROTO_F_KNOWN 0x1u /* flags a v1 receiver understands (others: reject) */

/* HELLO capabilities. */
#define RTR_PROTO_CAP_RSEQ   0x1u /* glibc registered rseq: per-CPU RSEQ ring clients usable */
#define RTR_PROTO_CAP_TSC    0x2u /* the runtime can read the TSC clock source */
#define RTR_PROTO_CAP_WAKEUP 0x4u /* accepts a wakeup eventfd per channel */
#define RTR_PROTO_CAP_KNOWN  0x7u

/* HELLO flags. */
#define RTR_PROTO_HELLO_FORKED	  0x1u /* registering again in a fork() child */
#define RTR_PROTO_HELLO_RECONNECT 0x2u /* (1.1) holds channels of a daemon that went away */
#define RTR_PROTO_HELLO_KNOWN	  0x3u

/* (1.1) Flags of the reply to HELLO (after the text, with the host's
 * minor). */
#define RTR_PROTO_HELLO_REPLY_CONFIG 0x1u /* configuration follows, READY ends it */

/* SESSION flags. */
#define RTR_PROTO_SESSION_KNOWN 0x0u

/* CHANNEL flags. */
#define RTR_PROTO_CHANNEL_WAKEUP 0x1u /* an eventfd comes with the message */
/* (1.2) the buffers are shared with the user's other programs (per-user
 * buffers, daemon.md §9): the process keeps nothing of them for a next
 * daemon, and never hands them over as its own */
#define RTR_PROTO_CHANNEL_SHARED 0x2u
/* bits 8..23: per-thread counters every event of the channel carries as
 * its stream event context (RTR_CTF_COUNTER_* of lib/ctf, in bit order) */
#define RTR_PROTO_CHANNEL_COUNTERS_SHIFT 8
#define RTR_PROTO_CHANNEL_COUNTERS_MASK	 0xffff00u
#define RTR_PROTO_CHANNEL_KNOWN		 (0x3u | RTR_PROTO_CHANNEL_COUNTERS_MASK)

/* (1.1) Contexts a channel's records carry (CHANNEL, after the name); the
 * same bits as RTR_CTF_CTX_* (include/ringtrace/ctf.h). */
#define RTR_PROTO_CTX_KNOWN 0x1fu

/* (1.1) Sessions a process arms itself (HELLO). */
#define RTR_PROTO_MAX_ARMED 8u
/* (1.1) Handles of channels a process arms itself start here (the host's
 * own start at 1). */
#define RTR_PROTO_ARMED_HANDLE 0x40000000u

/* (1.1) Bytes of one filter program (lib/proto/filter.h). */
#define RTR_PROTO_MAX_FILTER 8192u

/* READY flags. */
#define RTR_PROTO_READY_KNOWN 0x0u

#define RTR_PROTO_BYTE_ORDER_LE 1
#define RTR_PROTO_BYTE_ORDER_BE 2

/* ------------------------------------------------------------------------
 * Decoded messages. Strings and entry arrays point into the datagram the
 * message was parsed from: keep it alive while using them.
 * ------------------------------------------------------------------------ */

struct rtr_proto_hdr {
	uint32_t magic;
	uint16_t version; /* RTR_PROTO_VERSION_MAJOR */
	uint16_t type;	  /* enum rtr_proto_type */
	uint32_t flags;	  /* RTR_PROTO_F_* */
	uint32_t length;  /* payload bytes */
	uint32_t seq;	  /* request number; a reply repeats its request's */
	uint32_t nfds;	  /* descriptors sent with the message */
};

struct rtr_proto_hello {
	uint16_t minor; /* sender's RTR_PROTO_VERSION_MINOR */
	uint16_t event_abi_major, event_abi_minor;
	uint16_t ring_abi_major, ring_abi_minor;
	uint32_t pid, ppid, uid, gid;
	uint32_t caps;		     /* RTR_PROTO_CAP_* */
	uint32_t flags;		     /* RTR_PROTO_HELLO_* */
	uint16_t nr_cpus;	     /* possible CPUs as the process sees them */
	uint8_t word_bits;	     /* 32 or 64 */
	uint8_t byte_order;	     /* RTR_PROTO_BYTE_ORDER_* */
	const char *procname;	     /* comm, <= 15 chars + NUL */
	const char *runtime_version; /* libringtrace version */
	/* (1.1) sessions the process armed itself from the daemon's armed
	 * file (their CHANNEL and CHANNEL_BUFFERS follow, from the process) */
	uint32_t narmed;
	uint64_t armed[RTR_PROTO_MAX_ARMED];
};

struct rtr_proto_session {
	uint64_t session_id;
	uint32_t clock_source; /* enum rtr_clock_source_id */
	uint32_t flags;
	const char *name;
};

struct rtr_proto_channel {
	uint64_t session_id;
	uint32_t chan_handle; /* host-chosen, unique per process connection */
	uint32_t client_id;   /* ring client (lib/ctf) the buffers were made for */
	uint32_t nr_bufs;     /* one per CPU: index == CPU */
	uint32_t flags;	      /* RTR_PROTO_CHANNEL_* */
	uint32_t num_subbuf;  /* informative; the buffers' headers are checked */
	uint64_t subbuf_size;
	const char *name;
	uint32_t ctx_mask; /* (1.1) RTR_PROTO_CTX_*; 0 when absent */
};

struct rtr_proto_channel_buffers {
	uint32_t chan_handle;
	uint32_t first; /* CPU index of the first buffer in this message */
	uint32_t count; /* buffers (= fds) in this message */
};

struct rtr_proto_enable_entry {
	uint32_t reg_index; /* the process's event registration index */
	uint32_t chan_handle;
	uint32_t event_id; /* the event's id in the channel's stream class */
};

/* ENABLE (and the enables of REGISTER_REPLY): entries read with
 * rtr_proto_enable_get(). */
struct rtr_proto_enables {
	uint32_t count;
	uint32_t entry_size; /* >= RTR_PROTO_ENABLE_ENTRY_SIZE; extra bytes ignored */
	const uint8_t *entries;
	/* (1.1) filters after the entries: u32 count, then per filter u32
	 * entry index (increasing), u16 length (1..RTR_PROTO_MAX_FILTER),
	 * bytes. Read with rtr_proto_filters_next(). */
	uint32_t nfilters;
	const uint8_t *filters;
	size_t filters_len;
};

struct rtr_proto_filter_it {
	size_t off;
	uint32_t left;
};

/* Iterates the filters of an enable list in entry order (start with
 * it = {0, e->nfilters}): returns true and sets the entry index, the
 * bytecode and its length, false at the end. */
bool rtr_proto_filters_next(const struct rtr_proto_enables *e, struct rtr_proto_filter_it *it,
			    uint32_t *entry, const uint8_t **code, uint16_t *len);

struct rtr_proto_session_ref { /* START, STOP, CLOSE_SESSION */
	uint64_t session_id;
};

struct rtr_proto_close_channel {
	uint32_t chan_handle;
};

struct rtr_proto_ready {
	uint32_t flags;
};

struct rtr_proto_reply {
	int32_t status;	   /* 0 or a negative errno */
	uint16_t req_type; /* type of the request answered */
	const char *text;  /* "" or a short explanation */
	/* (1.1) after the text, in replies to HELLO */
	bool ext;
	uint16_t peer_minor;
	uint32_t xflags; /* RTR_PROTO_HELLO_REPLY_* */
};

struct rtr_proto_register_reply {
	int32_t status;
	struct rtr_proto_enables enables;
};

/* REGISTER_EVENTS: the descriptions stay encoded; rtr_proto_events_decode()
 * turns them into struct rtr_event_desc in host memory. */
struct rtr_proto_register_events {
	uint32_t count;
	const uint8_t *data; /* the payload */
	size_t len;
	/* (1.1) ids the process gave events in channels it armed itself:
	 * u32 count, then entries as in ENABLE (reg_index, chan_handle,
	 * event_id), read with rtr_proto_enable_get() on `pre`. */
	struct rtr_proto_enables pre;
};

struct rtr_proto_msg {
	struct rtr_proto_hdr hdr;
	union {
		struct rtr_proto_hello hello;
		struct rtr_proto_session session;
		struct rtr_proto_channel channel;
		struct rtr_proto_channel_buffers buffers;
		struct rtr_proto_enables enable;
		struct rtr_proto_session_ref ref;
		struct rtr_proto_close_channel close_channel;
		struct rtr_proto_ready ready;
		struct rtr_proto_reply reply;
		struct rtr_proto_register_reply register_reply;
		struct rtr_proto_register_events events;
	} u;
};

/* ------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------ */

/*
 * rtr_proto_parse - validate one received datagram of `len` bytes that
 * arrived with `nfds` file descriptors and decode it into *out.
 * Checks: header size, magic, major version, known type and flags,
 * length == len - header, length <= RTR_PROTO_MAX_PAYLOAD, nfds equal to the
 * header's nfds and to what the type expects, every field of the payload
 * (see docs/design/protocol.md §4). Trailing payload bytes after the known
 * fields are accepted (minor-version extensions) and ignored.
 * On failure writes "<type>: offset N: expected ..." to err (errlen > 0).
 * The caller owns the fds either way (closes them on failure).
 * Returns 0, -EPROTO (malformed), -EPROTONOSUPPORT (other major version),
 * -EINVAL (out NULL).
 */
int rtr_proto_parse(const void *data, size_t len, unsigned nfds, struct rtr_proto_msg *out,
		    char *err, size_t errlen);

/* rtr_proto_enable_get - entry i (< e->count) of a decoded enable list. */
void rtr_proto_enable_get(const struct rtr_proto_enables *e, uint32_t i,
			  struct rtr_proto_enable_entry *out);

/* rtr_proto_type_name - "HELLO", ... or "unknown". */
const char *rtr_proto_type_name(unsigned type);

/* ------------------------------------------------------------------------
 * Encoding: a message is built in a struct rtr_proto_out, then sent.
 * ------------------------------------------------------------------------ */

struct rtr_proto_out {
	uint8_t data[RTR_PROTO_MAX_MSG];
	size_t len;    /* header + payload so far */
	bool overflow; /* a put did not fit: the message must not be sent */
};

/* Starts a message of `type` with `seq` and `flags` (header filled by
 * rtr_proto_finish()). */
void rtr_proto_begin(struct rtr_proto_out *o, unsigned type, uint32_t seq, uint32_t flags);
/* Fills the header's length and nfds. Returns 0 or -EMSGSIZE (overflow). */
int rtr_proto_finish(struct rtr_proto_out *o, unsigned nfds);

void rtr_proto_put_u8(struct rtr_proto_out *o, uint8_t v);
void rtr_proto_put_u16(struct rtr_proto_out *o, uint16_t v);
void rtr_proto_put_u32(struct rtr_proto_out *o, uint32_t v);
void rtr_proto_put_u64(struct rtr_proto_out *o, uint64_t v);
/* u16 length (NUL included) + bytes + NUL; NULL encodes "". */
void rtr_proto_put_str(struct rtr_proto_out *o, const char *s);
/* Bytes still free in the payload. */
size_t rtr_proto_room(const struct rtr_proto_out *o);

/* Whole messages. Each returns 0 or -EMSGSIZE / -EINVAL. */
int rtr_proto_enc_hello(struct rtr_proto_out *o, uint32_t seq, const struct rtr_proto_hello *h);
int rtr_proto_enc_session(struct rtr_proto_out *o, uint32_t seq, const struct rtr_proto_session *s);
/* nfds: 1 when flags has RTR_PROTO_CHANNEL_WAKEUP, else 0 (filled in). */
int rtr_proto_enc_channel(struct rtr_proto_out *o, uint32_t seq, const struct rtr_proto_channel *c);
int rtr_proto_enc_channel_buffers(struct rtr_proto_out *o, uint32_t seq,
				  const struct rtr_proto_channel_buffers *b);
int rtr_proto_enc_ref(struct rtr_proto_out *o, unsigned type, uint32_t seq, uint64_t session_id);
int rtr_proto_enc_close_channel(struct rtr_proto_out *o, uint32_t seq, uint32_t chan_handle);
int rtr_proto_enc_ready(struct rtr_proto_out *o, uint32_t seq, uint32_t flags);
int rtr_proto_enc_reply(struct rtr_proto_out *o, uint32_t seq, unsigned req_type, int32_t status,
			const char *text);
/* (1.1) The reply to HELLO with the host's minor and flags. */
int rtr_proto_enc_reply_ext(struct rtr_proto_out *o, uint32_t seq, unsigned req_type,
			    int32_t status, const char *text, uint16_t minor, uint32_t xflags);
/* ENABLE, DISABLE or REGISTER_REPLY (type) with n entries and, for those
 * whose flen[i] > 0, the filter filt[i] (a section appended only when
 * there is one: a v1.0 receiver skips it). status: REGISTER_REPLY only.
 * Returns 0, -EMSGSIZE (does not fit one message), -EINVAL. */
int rtr_proto_enc_enable_ext(struct rtr_proto_out *o, unsigned type, uint32_t seq, int32_t status,
			     const struct rtr_proto_enable_entry *e, const uint8_t *const *filt,
			     const uint16_t *flen, uint32_t n);
/* ENABLE with n entries (n <= RTR_PROTO_MAX_ENABLES_PER_MSG). */
int rtr_proto_enc_enable(struct rtr_proto_out *o, uint32_t seq,
			 const struct rtr_proto_enable_entry *e, uint32_t n);
int rtr_proto_enc_register_reply(struct rtr_proto_out *o, uint32_t seq, int32_t status,
				 const struct rtr_proto_enable_entry *e, uint32_t n);

/*
 * rtr_proto_enc_events - REGISTER_EVENTS holding as many of evs[0..n) as fit
 * in one message (at least one, unless evs[0] alone is too big). *done
 * receives how many were encoded. Events are encoded as registered (reg_index
 * from ev->state). Returns 0, -E2BIG (evs[0] alone does not fit in a message:
 * skip it), -EINVAL.
 */
int rtr_proto_enc_events(struct rtr_proto_out *o, uint32_t seq,
			 const struct rtr_event_desc *const *evs, uint32_t n, uint32_t *done);
/* (1.1) Appends the ids the process chose itself to a REGISTER_EVENTS just
 * encoded. Returns 0 or -EMSGSIZE (then o is unusable: encode fewer). */
int rtr_proto_events_append_pre(struct rtr_proto_out *o, const struct rtr_proto_enable_entry *e,
				uint32_t n);

/* ------------------------------------------------------------------------
 * Event descriptions in host memory
 * ------------------------------------------------------------------------ */

/* Owns the host-memory copies of the event descriptions one process
 * registered; bounded (max_events, max_bytes). */
struct rtr_proto_arena {
	struct rtr_proto_chunk *chunks;
	size_t bytes;	     /* allocated so far */
	size_t max_bytes;    /* 0: 64 MiB */
	uint32_t nr_events;  /* decoded so far */
	uint32_t max_events; /* 0: 65536 */
};

void rtr_proto_arena_init(struct rtr_proto_arena *a, size_t max_bytes, uint32_t max_events);
void rtr_proto_arena_free(struct rtr_proto_arena *a);

/*
 * rtr_proto_events_decode - decode and validate the descriptions of a
 * REGISTER_EVENTS message into `a`. On success *out points to an array (in
 * the arena) of msg->count event pointers; each event's state (in the arena)
 * carries its reg_index, enabled = 0, no bindings.
 * Validation: block lengths, string bounds, names (provider, event, field:
 * [A-Za-z_][A-Za-z0-9_]*, event names may also contain '.', '-', ':'),
 * kinds, integer sizes (8/16/32/64), bases, byte orders, text only on 8-bit
 * elements, float sizes (32/64), enum containers and ranges (start <= end in
 * the container's signedness, values representable in it, >= 1 entry),
 * labels (printable, no '"' or '\\'), array lengths, sequence length types
 * (unsigned), log level (-1..14), field count.
 * Returns 0, -EPROTO (malformed; message in err), -ENOSPC (arena bound
 * reached), -ENOMEM.
 */
int rtr_proto_events_decode(const struct rtr_proto_register_events *msg, struct rtr_proto_arena *a,
			    const struct rtr_event_desc ***out, char *err, size_t errlen);

/* ------------------------------------------------------------------------
 * Sockets
 * ------------------------------------------------------------------------ */

/*
 * rtr_proto_send - send o (finished) with nfds descriptors over a
 * SOCK_SEQPACKET socket. Never raises SIGPIPE (MSG_NOSIGNAL); retries
 * EINTR. `flags` are added to sendmsg's (e.g. MSG_DONTWAIT).
 * Returns 0, -EMSGSIZE (o overflowed, or nfds > RTR_PROTO_MAX_FDS), or
 * -errno of sendmsg (-EAGAIN, -EPIPE, ...).
 */
int rtr_proto_send(int sock, const struct rtr_proto_out *o, const int *fds, unsigned nfds,
		   int flags);

/*
 * rtr_proto_recv - receive one datagram into buf (cap >= RTR_PROTO_MAX_MSG
 * to never truncate) and up to RTR_PROTO_MAX_FDS descriptors (close-on-exec)
 * into fds. Retries EINTR. A truncated datagram or control message is an
 * error: every received fd is closed then. Other control messages are
 * ignored. `flags` are added to recvmsg's (e.g. MSG_DONTWAIT).
 * Returns the datagram length (> 0), 0 on end of stream, -EMSGSIZE
 * (truncated), or -errno (-EAGAIN, ...). *nfds is set in every case (0 on
 * error).
 */
ssize_t rtr_proto_recv(int sock, void *buf, size_t cap, int *fds, unsigned *nfds, int flags);

/* Closes fds[0..n) (ignoring negative entries). */
void rtr_proto_close_fds(const int *fds, unsigned n);

/*
 * rtr_proto_wait - poll one fd for `events` until the absolute deadline
 * (CLOCK_MONOTONIC ns). Returns > 0 ready, 0 timeout, -errno.
 */
int rtr_proto_wait(int fd, short events, uint64_t deadline_ns);

/* CLOCK_MONOTONIC now, ns. */
uint64_t rtr_proto_now_ns(void);

#endif /* RTR_PROTO_H */
