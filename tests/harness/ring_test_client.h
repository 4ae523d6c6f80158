/* A small ring buffer client for tests: a 4-byte record header (length,
 * full-timestamp flag) plus an 8-byte timestamp when full, payloads that
 * encode (writer, sequence, length, checksum), and a 48-byte packet header
 * written by the packet hook. Lets tests verify every record they read. */
#ifndef RING_TEST_CLIENT_H
#define RING_TEST_CLIENT_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <ringtrace/ring.h>

#define TC_PACKET_MAGIC 0x7e57b0ffu
#define TC_HDR_FULL     0x80000000u
#define TC_PKT_HDR      48u

struct tc_packet_header {
	uint32_t magic;
	uint32_t cpu;
	uint64_t seq;
	uint64_t begin_ts;
	uint64_t end_ts;
	uint64_t data_size;
	uint64_t lost;
};

/* A clock tests can drive: real monotonic time unless tc_fake_clock is set. */
static _Atomic uint64_t tc_fake_now;
static _Atomic int tc_fake_clock;

static inline uint64_t tc_clock(void)
{
	struct timespec t;

	if (atomic_load_explicit(&tc_fake_clock, memory_order_relaxed))
		return atomic_load_explicit(&tc_fake_now, memory_order_relaxed);
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline size_t tc_header_size(const struct rtr_ring_config *cfg,
				    const struct rtr_ring_ctx *ctx)
{
	(void)cfg;
	return ctx->full_ts ? 12 : 4;
}

static inline void tc_packet_hook(const struct rtr_ring_config *cfg, const struct rtr_ring_buf *buf,
				  void *subbuf, const struct rtr_ring_packet_info *info)
{
	struct tc_packet_header h = {
		.magic = TC_PACKET_MAGIC,
		.cpu = info->cpu,
		.seq = info->seq,
		.begin_ts = info->begin_ts,
		.end_ts = info->end_ts,
		.data_size = info->data_size,
		.lost = info->lost,
	};

	(void)cfg;
	(void)buf;
	memcpy(subbuf, &h, sizeof(h));
}

#define TC_CONFIG(name_, alloc_, mode_, sync_, tsbits_)                                  \
	static const struct rtr_ring_config name_ = {                                    \
		.alloc = alloc_,                                                         \
		.mode = mode_,                                                           \
		.sync = sync_,                                                           \
		.wakeup = RTR_RING_WAKEUP_TIMER,                                         \
		.ts_bits = tsbits_,                                                      \
		.record_align = 1,                                                       \
		.subbuf_header_size = TC_PKT_HDR,                                        \
		.client_id = 0x7e57,                                                     \
		.cb = {.clock_read = tc_clock,                                           \
		       .record_header_size = tc_header_size,                             \
		       .packet_hook = tc_packet_hook},                                   \
	}

/* Payload: writer id, sequence, length, then filler, then a checksum. */
struct tc_payload_head {
	uint32_t writer;
	uint32_t len; /* payload length, >= 24 */
	uint64_t seq;
};

static inline uint64_t tc_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static inline uint64_t tc_checksum(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* Writes a payload of `len` bytes (>= 24) for (writer, seq) at dst. */
static inline void tc_fill_payload(unsigned char *dst, uint32_t writer, uint64_t seq, uint32_t len)
{
	struct tc_payload_head h = {.writer = writer, .len = len, .seq = seq};
	uint64_t filler = tc_mix(seq * 131 + writer), sum;

	memcpy(dst, &h, sizeof(h));
	for (uint32_t i = sizeof(h); i + 8 < len; i++)
		dst[i] = (unsigned char)(filler >> ((i % 8) * 8));
	sum = tc_checksum(dst, len - 8);
	memcpy(dst + len - 8, &sum, 8);
}

/* Writes a reserved record's header: its length word, and the full
 * timestamp when the ring asked for one (a writer preempted for longer
 * than the compact delta covers, as on a loaded machine). */
static inline void tc_put_header(struct rtr_ring_ctx *ctx)
{
	uint32_t h = (uint32_t)ctx->payload_size | (ctx->full_ts ? TC_HDR_FULL : 0);

	rtr_ring_write(ctx, &h, 4);
	if (ctx->full_ts)
		rtr_ring_write(ctx, &ctx->ts, 8);
}

/* Reserve + write + commit one test record. Returns the reserve result. */
static inline int tc_write(const struct rtr_ring_config *cfg, struct rtr_ring_chan *chan,
			   uint32_t writer, uint64_t seq, uint32_t len)
{
	struct rtr_ring_ctx ctx = {.payload_size = len};
	int r = rtr_ring_reserve(cfg, chan, &ctx);

	if (r)
		return r;
	tc_put_header(&ctx);
	tc_fill_payload((unsigned char *)ctx.wp, writer, seq, len);
	rtr_ring_commit(cfg, &ctx);
	return 0;
}

/* One decoded record. */
struct tc_record {
	uint32_t writer;
	uint32_t len;
	uint64_t seq;
	bool full_ts;
	uint64_t ts; /* when full_ts */
};

/* Walks the records of a sub-buffer handed out by the reader, calling fn for
 * each. Returns the number of records, or -1 (with *why) if anything is off:
 * bad packet header, a record straddling the end, a bad checksum. */
typedef void (*tc_record_fn)(void *arg, const struct tc_record *rec);

static inline long tc_walk(const struct rtr_ring_subbuf *sb, tc_record_fn fn, void *arg,
			   const char **why)
{
	struct tc_packet_header h;
	size_t off = TC_PKT_HDR;
	long n = 0;

	memcpy(&h, sb->data, sizeof(h));
	if (h.magic != TC_PACKET_MAGIC || h.data_size != sb->len || h.seq != sb->info.seq) {
		*why = "packet header mismatch";
		return -1;
	}
	while (off < sb->len) {
		uint32_t word, len;
		struct tc_record r = {0};
		struct tc_payload_head ph;
		uint64_t sum;

		if (off + 4 > sb->len) {
			*why = "record header straddles the end";
			return -1;
		}
		memcpy(&word, sb->data + off, 4);
		off += 4;
		len = word & ~TC_HDR_FULL;
		if (word & TC_HDR_FULL) {
			if (off + 8 > sb->len) {
				*why = "timestamp straddles the end";
				return -1;
			}
			memcpy(&r.ts, sb->data + off, 8);
			off += 8;
			r.full_ts = true;
		}
		if (len < 24 || off + len > sb->len) {
			*why = "bad record length";
			return -1;
		}
		memcpy(&ph, sb->data + off, sizeof(ph));
		memcpy(&sum, sb->data + off + len - 8, 8);
		if (ph.len != len || sum != tc_checksum((const unsigned char *)sb->data + off, len - 8)) {
			*why = "torn record (checksum)";
			return -1;
		}
		r.writer = ph.writer;
		r.len = len;
		r.seq = ph.seq;
		if (fn)
			fn(arg, &r);
		off += len;
		n++;
	}
	return n;
}

#endif /* RING_TEST_CLIENT_H */
