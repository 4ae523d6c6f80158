/* Records for the ring stress tests (stress_mix, stress_kill): each one
 * says who wrote it (writer, sequence), where and when it was reserved
 * (buffer, timestamp), and ends with a checksum of all of it, so the
 * reader can tell a torn, duplicated, misplaced or phantom record. Uses
 * the 4/12-byte record header and the packet header of ring_test_client.h. */
#ifndef STRESS_RECORDS_H
#define STRESS_RECORDS_H

#define _GNU_SOURCE
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "ring_test_client.h"

/* Payload: this head, filler, then the 8-byte checksum of everything before. */
struct sr_head {
	uint32_t writer;
	uint32_t len; /* payload bytes, >= SR_MIN_LEN */
	uint64_t seq;
	uint64_t ts;  /* the reservation's timestamp */
	uint32_t buf; /* buffer the record was reserved in */
	uint32_t pad;
};

#define SR_MIN_LEN ((uint32_t)sizeof(struct sr_head) + 8u)

static inline double sr_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static inline uint64_t sr_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Fills the reserved record of ctx (header + payload of ctx->payload_size). */
static inline void sr_fill(struct rtr_ring_ctx *ctx, uint32_t writer, uint64_t seq)
{
	uint32_t len = (uint32_t)ctx->payload_size;
	uint32_t h = len | (ctx->full_ts ? TC_HDR_FULL : 0);
	struct sr_head head = {.writer = writer, .len = len, .seq = seq, .ts = ctx->ts,
			       .buf = ctx->cpu};
	unsigned char *p;
	uint64_t sum, filler = tc_mix(seq * 0x9e37u + writer);

	rtr_ring_write(ctx, &h, 4);
	if (ctx->full_ts)
		rtr_ring_write(ctx, &ctx->ts, 8);
	p = (unsigned char *)ctx->wp;
	memcpy(p, &head, sizeof(head));
	for (uint32_t i = sizeof(head); i + 8 < len; i++)
		p[i] = (unsigned char)(filler >> ((i % 8) * 8));
	sum = tc_checksum(p, len - 8);
	memcpy(p + len - 8, &sum, 8);
}

/* One record as read back. */
struct sr_rec {
	struct sr_head h;
	bool full_ts;
	uint64_t hdr_ts; /* the header's timestamp when full_ts */
};

typedef void (*sr_fn)(void *arg, const struct rtr_ring_subbuf *sb, const struct sr_rec *r);

/* Walks a packet handed out by the reader. Returns the number of records,
 * or -1 with *why: bad packet header, record out of bounds, bad checksum. */
static inline long sr_walk(const struct rtr_ring_subbuf *sb, sr_fn fn, void *arg, const char **why)
{
	struct tc_packet_header ph;
	size_t off = TC_PKT_HDR;
	long n = 0;

	memcpy(&ph, sb->data, sizeof(ph));
	if (ph.magic != TC_PACKET_MAGIC || ph.data_size != sb->len || ph.seq != sb->info.seq) {
		*why = "packet header mismatch";
		return -1;
	}
	while (off < sb->len) {
		struct sr_rec r = {0};
		uint32_t word, len;
		uint64_t sum;

		if (off + 4 > sb->len) {
			*why = "record header past the end";
			return -1;
		}
		memcpy(&word, sb->data + off, 4);
		off += 4;
		len = word & ~TC_HDR_FULL;
		if (word & TC_HDR_FULL) {
			if (off + 8 > sb->len) {
				*why = "timestamp past the end";
				return -1;
			}
			memcpy(&r.hdr_ts, sb->data + off, 8);
			off += 8;
			r.full_ts = true;
		}
		if (len < SR_MIN_LEN || off + len > sb->len) {
			*why = "bad record length";
			return -1;
		}
		memcpy(&r.h, sb->data + off, sizeof(r.h));
		memcpy(&sum, sb->data + off + len - 8, 8);
		if (r.h.len != len ||
		    sum != tc_checksum((const unsigned char *)sb->data + off, len - 8)) {
			*why = "torn record (checksum)";
			return -1;
		}
		if (r.full_ts && r.hdr_ts != r.h.ts) {
			*why = "header timestamp differs from the reservation's";
			return -1;
		}
		if (fn)
			fn(arg, sb, &r);
		off += len;
		n++;
	}
	return n;
}

/* Up to two CPUs this process may run on (the lowest two of its mask). */
static inline int sr_two_cpus(int cpu[2])
{
	cpu_set_t s;
	int n = 0;

	if (sched_getaffinity(0, sizeof(s), &s) != 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &s))
			cpu[n++] = c;
	return n;
}

static inline void sr_allow(const int *cpus, int n)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	for (int i = 0; i < n; i++)
		CPU_SET(cpus[i], &s);
	(void)sched_setaffinity(0, sizeof(s), &s);
}

#endif /* STRESS_RECORDS_H */
