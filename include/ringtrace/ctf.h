/* ringtrace — the CTF 1.8 ring buffer clients: their stable ids, their
 * static configurations, the event header encoding and the inline
 * reserve/commit helpers the generated probe code (tracepoint.h) uses.
 * Design: docs/design/ctf-writer.md (layout), docs/design/tracepoints.md
 * (probe code). The host side (packet hook, metadata, index, stream files)
 * is in lib/ctf/ctf-writer.h.
 *
 * TRACE LAYOUT WRITTEN BY THESE CLIENTS (every field byte-packed, the
 * writer's byte order, described exactly by the TSDL of lib/ctf):
 *
 *   packet   = packet header (32 bytes) + packet context (52 bytes)
 *              + event records, back to back, no padding
 *   event    = event header + payload fields, no alignment padding
 *   compact  header: 32 bits = 5-bit id (0..30) | 27-bit timestamp low bits
 *   extended header: 5-bit 31, 3 bits 0, u32 id, u64 timestamp = 13 bytes,
 *                    used when the id is >= 31 or the ring buffer says the
 *                    timestamp delta does not fit in 27 bits (ctx.full_ts)
 *
 * An event with one uint64_t field is 4 + 8 = 12 bytes (96 bits).
 *
 * CONCURRENCY: everything here is the ring buffer's writer fast path; see
 * the contract in ring.h (any thread, signal handlers, nesting bounded).
 */
#ifndef RINGTRACE_CTF_H
#define RINGTRACE_CTF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ringtrace/clock.h>
#include <ringtrace/common.h>
#include <ringtrace/event.h>
#include <ringtrace/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Clients
 * ------------------------------------------------------------------------ */

/*
 * Ring buffer clients of the CTF writer. STABLE: the value travels in
 * struct rtr_event_binding.client and over the control protocol. Never
 * renumber; add at the end.
 */
enum rtr_ctf_client {
	RTR_CTF_CLIENT_NONE = 0,
	RTR_CTF_CLIENT_PERCPU_DISCARD_RSEQ = 1, /* the common one: inlined in probes */
	RTR_CTF_CLIENT_PERCPU_OVERWRITE_RSEQ = 2,
	RTR_CTF_CLIENT_PERCPU_DISCARD_ATOMIC = 3, /* process without rseq registration */
	RTR_CTF_CLIENT_PERCPU_OVERWRITE_ATOMIC = 4,
	RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC = 5, /* one buffer for every CPU */
	RTR_CTF_CLIENT_GLOBAL_OVERWRITE_ATOMIC = 6,
};
#define RTR_CTF_CLIENT_MAX 6

/* The ring buffer's client_id (struct rtr_ring_config) of CTF client n:
 * "CTF" followed by n, so a buffer of another client is refused at map. */
#define RTR_CTF_RING_CLIENT_ID(n) (0x43544600u | (uint32_t)(n))

/* Bytes of the packet header + packet context at the start of every
 * sub-buffer (written by the reader's packet hook, lib/ctf):
 *   magic u32, uuid u8[16], stream_id u32, stream_instance_id u64,
 *   timestamp_begin u64, timestamp_end u64, content_size u64 (bits),
 *   packet_size u64 (bits), packet_seq_num u64, events_discarded u64,
 *   cpu_id u32. */
#define RTR_CTF_PACKET_HEADER_SIZE 84u
#define RTR_CTF_PACKET_MAGIC	   0xC1FC1FC1u

/* Context fields a channel's records may carry right after the event
 * header, in this order, byte-packed (add-context; the stream class's
 * event.context in the metadata): */
#define RTR_CTF_CTX_VPID       0x01u /* int32: the process id */
#define RTR_CTF_CTX_VTID       0x02u /* int32: the thread id */
#define RTR_CTF_CTX_PROCNAME   0x04u /* 16 bytes: the thread's name, NUL-padded */
#define RTR_CTF_CTX_PTHREAD_ID 0x08u /* uint64: pthread_self() */
#define RTR_CTF_CTX_IP	       0x10u /* uint64: the call site's address */
#define RTR_CTF_CTX_ALL	       0x1fu
/* Not a context: in rtr_binding_extra.ctx_mask, the binding's filter is
 * `field OP constant` and its inline form (f_*) is set. */
#define RTR_CTF_X_INLINE_FILTER 0x80000000u

/* Event header. */
#define RTR_CTF_TS_BITS		27u
#define RTR_CTF_COMPACT_ID_MAX	30u /* ids 0..30 fit the compact header */
#define RTR_CTF_EXTENDED_ID	31u /* the 5-bit id announcing the extended header */
#define RTR_CTF_HEADER_COMPACT	4u
#define RTR_CTF_HEADER_EXTENDED 13u

/* Record header size for a reservation: ctx->client_id is the event id. */
static RTR_ALWAYS_INLINE size_t rtr_ctf_record_header_size(const struct rtr_ring_config *cfg,
							   const struct rtr_ring_ctx *ctx)
{
	(void)cfg;
	return (ctx->full_ts || ctx->client_id > RTR_CTF_COMPACT_ID_MAX) ? RTR_CTF_HEADER_EXTENDED
									 : RTR_CTF_HEADER_COMPACT;
}

/*
 * Configuration of client `id_` for the writer side. packet_hook is NULL:
 * writers never produce packet headers, the reader does (lib/ctf's host
 * configurations, rtr_ctf_host_config(), are the same plus the hook; the
 * ring buffer checks that both sides agree through client_id and the other
 * scalar fields).
 */
#define RTR_CTF_RING_CONFIG_INIT(alloc_, mode_, sync_, id_, hook_)                                 \
	{                                                                                          \
		.alloc = (alloc_), .mode = (mode_), .sync = (sync_),                               \
		.wakeup = RTR_RING_WAKEUP_WRITER, .ts_bits = RTR_CTF_TS_BITS, .record_align = 1,   \
		.subbuf_header_size = RTR_CTF_PACKET_HEADER_SIZE,                                  \
		.client_id = RTR_CTF_RING_CLIENT_ID(id_),                                          \
		.cb = {.clock_read = rtr_clock_read,                                               \
		       .record_header_size = rtr_ctf_record_header_size,                           \
		       .packet_hook = (hook_)},                                                    \
	}

/* One writer-side configuration per client (the RSEQ ones are refused by
 * rtr_ring_config_check() where RTR_HAVE_RSEQ is 0). */
static const struct rtr_ring_config rtr_ctf_cfg_percpu_discard_rseq =
    RTR_CTF_RING_CONFIG_INIT(RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_RSEQ,
			     RTR_CTF_CLIENT_PERCPU_DISCARD_RSEQ, NULL);
static const struct rtr_ring_config rtr_ctf_cfg_percpu_overwrite_rseq =
    RTR_CTF_RING_CONFIG_INIT(RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_RSEQ,
			     RTR_CTF_CLIENT_PERCPU_OVERWRITE_RSEQ, NULL);
static const struct rtr_ring_config rtr_ctf_cfg_percpu_discard_atomic =
    RTR_CTF_RING_CONFIG_INIT(RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC,
			     RTR_CTF_CLIENT_PERCPU_DISCARD_ATOMIC, NULL);
static const struct rtr_ring_config rtr_ctf_cfg_percpu_overwrite_atomic =
    RTR_CTF_RING_CONFIG_INIT(RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_ATOMIC,
			     RTR_CTF_CLIENT_PERCPU_OVERWRITE_ATOMIC, NULL);
static const struct rtr_ring_config rtr_ctf_cfg_global_discard_atomic =
    RTR_CTF_RING_CONFIG_INIT(RTR_RING_ALLOC_GLOBAL, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC,
			     RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC, NULL);
static const struct rtr_ring_config rtr_ctf_cfg_global_overwrite_atomic =
    RTR_CTF_RING_CONFIG_INIT(RTR_RING_ALLOC_GLOBAL, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_ATOMIC,
			     RTR_CTF_CLIENT_GLOBAL_OVERWRITE_ATOMIC, NULL);

/* The clients whose fast path probes inline (per-CPU buffers, discard and
 * overwrite: what a session uses unless told otherwise); the global-buffer
 * clients go through one out-of-line call (rtr_ctf__reserve /
 * rtr_ctf__commit). */
#if RTR_HAVE_RSEQ
#define RTR_CTF_CLIENT_INLINE	 RTR_CTF_CLIENT_PERCPU_DISCARD_RSEQ
#define rtr_ctf_cfg_inline	 rtr_ctf_cfg_percpu_discard_rseq
#define RTR_CTF_CLIENT_INLINE_OW RTR_CTF_CLIENT_PERCPU_OVERWRITE_RSEQ
#define rtr_ctf_cfg_inline_ow	 rtr_ctf_cfg_percpu_overwrite_rseq
#else
#define RTR_CTF_CLIENT_INLINE	 RTR_CTF_CLIENT_PERCPU_DISCARD_ATOMIC
#define rtr_ctf_cfg_inline	 rtr_ctf_cfg_percpu_discard_atomic
#define RTR_CTF_CLIENT_INLINE_OW RTR_CTF_CLIENT_PERCPU_OVERWRITE_ATOMIC
#define rtr_ctf_cfg_inline_ow	 rtr_ctf_cfg_percpu_overwrite_atomic
#endif

/* ------------------------------------------------------------------------
 * Event header
 * ------------------------------------------------------------------------ */

/* Writes the event header for event `id` with timestamp `ts` at wp and
 * returns the byte after it: compact (4 bytes) when !full_ts && id <= 30,
 * else extended (13 bytes). Must agree with rtr_ctf_record_header_size(). */
static RTR_ALWAYS_INLINE char *rtr_ctf_event_header_write(char *wp, uint32_t id, uint64_t ts,
							  bool full_ts)
{
	if (rtr_likely(!full_ts && id <= RTR_CTF_COMPACT_ID_MAX)) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		uint32_t h = (id << 27) | ((uint32_t)ts & 0x7ffffffu);
#else
		uint32_t h = id | ((uint32_t)ts << 5);
#endif
		__builtin_memcpy(wp, &h, 4);
		return wp + 4;
	}
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	wp[0] = (char)(RTR_CTF_EXTENDED_ID << 3);
#else
	wp[0] = (char)RTR_CTF_EXTENDED_ID;
#endif
	__builtin_memcpy(wp + 1, &id, 4);
	__builtin_memcpy(wp + 5, &ts, 8);
	return wp + 13;
}

/* ------------------------------------------------------------------------
 * Probe helpers (used by the code RTR_DEFINE_PROBES generates)
 * ------------------------------------------------------------------------ */

/*
 * Out of line, in libringtrace.so (lib/ctf): reserve a record of
 * payload_size bytes for binding `b` through whatever client it uses, write
 * the event header, and return where the payload goes; NULL when nothing
 * was reserved (the loss is counted in the ring buffer's shared counters,
 * also when the client id is unknown). On success the caller writes exactly payload_size bytes and
 * calls rtr_ctf__commit(b, ctx) once.
 */
RTR_EXPORT char *rtr_ctf__reserve(const struct rtr_event_binding *b, size_t payload_size,
				  struct rtr_ring_ctx *ctx);
RTR_EXPORT void rtr_ctf__commit(const struct rtr_event_binding *b, struct rtr_ring_ctx *ctx);

/*
 * A binding's extras (rtr_event_binding.client_priv; NULL for a plain
 * binding, which keeps the probe's fast path): a filter the event must pass
 * before anything is reserved, and contexts written after the event header.
 * Built by the runtime, immutable once published, never freed while a
 * probe may hold it.
 */
struct rtr_binding_extra {
	const void *filter; /* the runtime's verified program, or NULL */
	uint32_t ctx_mask;  /* RTR_CTF_CTX_* */
	uint32_t ctx_size;  /* bytes the contexts take, ctx_src's included */
	/* Values read out of line (per-thread counters, lib/ctf's struct
	 * rtr_ctf_ctx_src) and written after the ctx_mask fields; NULL if
	 * none. Only libringtrace.so reads it (probes never do). */
	const void *ctx_src;
	/* With RTR_CTF_X_INLINE_FILTER (runtimes of event ABI minor >= 2):
	 * the filter is args[f_field] compared with f_const, as an int64
	 * (f_kind 1), uint64 (2) or double (3); the event passes when bit
	 * (1 + the comparison's sign) of f_accept is set, bit 3 standing for
	 * "unordered" (a NaN). The probe evaluates it inline. */
	uint8_t f_kind, f_accept;
	uint16_t f_field;
	union {
		int64_t s;
		uint64_t u;
		double d;
	} f_const;
};

/* Out of line, in libringtrace.so: true when the event whose field values
 * are args passes x's filter (x->filter != NULL). Async-signal-safe. */
RTR_EXPORT int rtr_probe__filter(const struct rtr_binding_extra *x, const union rtr_probe_arg *args);

/* What the probe calls: the inline form when there is one (a rejected
 * event then costs no call), else rtr_probe__filter. */
static inline int rtr_probe__filter_pass(const struct rtr_binding_extra *x,
					 const union rtr_probe_arg *args)
{
	if (__builtin_expect((x->ctx_mask & RTR_CTF_X_INLINE_FILTER) != 0, 1)) {
		const union rtr_probe_arg *v = &args[x->f_field];
		int c;

		if (x->f_kind == 1) {
			c = (v->s > x->f_const.s) - (v->s < x->f_const.s);
		} else if (x->f_kind == 2) {
			c = (v->u > x->f_const.u) - (v->u < x->f_const.u);
		} else {
			if (v->d != v->d || x->f_const.d != x->f_const.d)
				return (x->f_accept >> 3) & 1;
			c = (v->d > x->f_const.d) - (v->d < x->f_const.d);
		}
		return (x->f_accept >> (c + 1)) & 1;
	}
	return rtr_probe__filter(x, args);
}
/* Reserves a record of payload_size bytes plus x's contexts on binding b
 * (out of line, any client), writes the event header and the contexts (ip
 * is the call site) and returns where the payload goes, or NULL (nothing
 * reserved, loss counted). Commit with rtr_ctf__commit(b, ctx).
 * Async-signal-safe. */
RTR_EXPORT char *rtr_probe__reserve(const struct rtr_event_binding *b,
				    const struct rtr_binding_extra *x, size_t payload_size,
				    struct rtr_ring_ctx *ctx, const void *ip);

/* Reserve a record of event `event_id` through configuration cfg (a
 * constant: every configuration test folds) and write its event header.
 * Returns the payload pointer or NULL (nothing reserved, loss counted). */
static RTR_ALWAYS_INLINE char *rtr_ctf_reserve_with(const struct rtr_ring_config *cfg,
						    struct rtr_ring_chan *chan, uint32_t event_id,
						    size_t payload_size, struct rtr_ring_ctx *ctx)
{
	ctx->payload_size = payload_size;
	ctx->client_id = event_id;
	if (rtr_unlikely(rtr_ring_reserve(cfg, chan, ctx) != 0))
		return NULL;
	return rtr_ctf_event_header_write(ctx->wp, event_id, ctx->ts, ctx->full_ts);
}

/*
 * Reserve an event record on binding b: inline fast paths for the per-CPU
 * clients (`fast` never leaves the inlined code, so it stays in registers),
 * one call for the others (`slow`). Returns the payload pointer (after the
 * event header) or NULL (nothing to commit).
 */
static RTR_ALWAYS_INLINE char *rtr_ctf_event_reserve(const struct rtr_event_binding *b,
						     uint32_t client, struct rtr_ring_chan *chan,
						     uint32_t event_id, size_t payload_size,
						     struct rtr_ring_ctx *fast,
						     struct rtr_ring_ctx *slow)
{
	if (rtr_likely(client == RTR_CTF_CLIENT_INLINE))
		return rtr_ctf_reserve_with(&rtr_ctf_cfg_inline, chan, event_id, payload_size,
					    fast);
	if (client == RTR_CTF_CLIENT_INLINE_OW)
		return rtr_ctf_reserve_with(&rtr_ctf_cfg_inline_ow, chan, event_id, payload_size,
					    fast);
	return rtr_ctf__reserve(b, payload_size, slow);
}

/* Commit what rtr_ctf_event_reserve() returned (same arguments). */
static RTR_ALWAYS_INLINE void rtr_ctf_event_commit(const struct rtr_event_binding *b,
						   uint32_t client, struct rtr_ring_ctx *fast,
						   struct rtr_ring_ctx *slow)
{
	if (rtr_likely(client == RTR_CTF_CLIENT_INLINE))
		rtr_ring_commit(&rtr_ctf_cfg_inline, fast);
	else if (client == RTR_CTF_CLIENT_INLINE_OW)
		rtr_ring_commit(&rtr_ctf_cfg_inline_ow, fast);
	else
		rtr_ctf__commit(b, slow);
}

#ifdef __cplusplus
}
#endif

#endif /* RINGTRACE_CTF_H */
