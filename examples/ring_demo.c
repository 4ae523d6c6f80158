/* ring_demo: four threads write records into per-CPU ring buffers while a
 * reader drains full sub-buffers to a file; then the file is read back and
 * summarised. Shows the ring library on its own (`make demo`, issue 2). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ringtrace/ring.h>

struct demo_record {
	uint32_t thread;
	uint32_t len;
	uint64_t seq;
	uint64_t ts;
};

struct demo_packet {
	uint64_t seq, begin_ts, end_ts, size, lost;
	uint32_t cpu, magic;
};

static uint64_t demo_clock(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static size_t demo_header(const struct rtr_ring_config *cfg, const struct rtr_ring_ctx *ctx)
{
	(void)cfg;
	(void)ctx;
	return 0; /* records carry their own full timestamp */
}

static void demo_packet_hook(const struct rtr_ring_config *cfg, const struct rtr_ring_buf *buf,
			     void *subbuf, const struct rtr_ring_packet_info *info)
{
	struct demo_packet p = {info->seq, info->begin_ts, info->end_ts, info->data_size,
				info->lost, info->cpu, 0xdeb0};

	(void)cfg;
	(void)buf;
	memcpy(subbuf, &p, sizeof(p));
}

static const struct rtr_ring_config demo_cfg = {
	.alloc = RTR_RING_ALLOC_PER_CPU,
#if RTR_HAVE_RSEQ
	.sync = RTR_RING_SYNC_RSEQ,
#else
	.sync = RTR_RING_SYNC_ATOMIC,
#endif
	.mode = RTR_RING_MODE_DISCARD,
	.wakeup = RTR_RING_WAKEUP_TIMER,
	.ts_bits = 64,
	.record_align = 8,
	.subbuf_header_size = sizeof(struct demo_packet),
	.client_id = 0xdeb0,
	.cb = {.clock_read = demo_clock, .record_header_size = demo_header,
	       .packet_hook = demo_packet_hook},
};

static struct rtr_ring_chan *chan;

static void *writer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;

	for (uint64_t i = 0; i < 200000; i++) {
		struct rtr_ring_ctx ctx = {.payload_size = sizeof(struct demo_record)};

		if (rtr_ring_reserve(&demo_cfg, chan, &ctx) == 0) {
			struct demo_record r = {id, sizeof(r), i, ctx.ts};

			rtr_ring_write(&ctx, &r, sizeof(r));
			rtr_ring_commit(&demo_cfg, &ctx);
		}
	}
	return NULL;
}

static uint64_t drain(FILE *out)
{
	uint64_t packets = 0;

	for (uint32_t b = 0; b < chan->nr_bufs; b++) {
		struct rtr_ring_subbuf sb;

		while (rtr_ring_get_subbuf(&demo_cfg, chan->bufs[b], &sb) == 0) {
			fflush(out);
			rtr_ring_subbuf_write(chan->bufs[b], &sb, fileno(out));
			rtr_ring_put_subbuf(&demo_cfg, chan->bufs[b]);
			packets++;
		}
	}
	return packets;
}

int main(void)
{
	uint32_t ncpu = (uint32_t)sysconf(_SC_NPROCESSORS_CONF);
	struct rtr_ring_geometry geo = {.subbuf_size = 64 * 1024, .num_subbuf = 32};
	char path[] = "/tmp/ring-demo-XXXXXX";
	int fd = mkstemp(path);
	FILE *out = fd >= 0 ? fdopen(fd, "w+") : NULL;
	pthread_t th[4];
	uint64_t packets = 0, records = 0, per_thread[4] = {0}, lost = 0;
	struct demo_packet p;

	if (!out || !(chan = rtr_ring_chan_alloc(ncpu)))
		return 1;
	for (uint32_t i = 0; i < ncpu; i++)
		if (rtr_ring_buf_create(&demo_cfg, &geo, i, "ring-demo", &chan->bufs[i]))
			return 1;
	printf("ring_demo: %u per-CPU buffers of %u x %llu KiB, %s synchronisation\n", ncpu,
	       geo.num_subbuf, (unsigned long long)geo.subbuf_size / 1024,
	       demo_cfg.sync == RTR_RING_SYNC_RSEQ ? "rseq" : "atomic");
	for (uintptr_t t = 0; t < 4; t++)
		pthread_create(&th[t], NULL, writer, (void *)t);
	for (int i = 0; i < 1000; i++) {
		packets += drain(out);
		usleep(200);
	}
	for (int t = 0; t < 4; t++)
		pthread_join(th[t], NULL);
	for (uint32_t b = 0; b < ncpu; b++) {
		rtr_ring_flush(&demo_cfg, chan->bufs[b], RTR_RING_FLUSH_ACTIVE, true);
		lost += rtr_ring_buf_lost(chan->bufs[b]);
	}
	packets += drain(out);
	printf("ring_demo: 4 threads wrote 800000 records; reader wrote %" PRIu64
	       " packets to %s (%" PRIu64 " records lost, counted)\n",
	       packets, path, lost);

	/* Read the file back: packet headers, then records. */
	rewind(out);
	while (fread(&p, sizeof(p), 1, out) == 1 && p.magic == 0xdeb0) {
		size_t left = p.size - sizeof(p);

		while (left >= sizeof(struct demo_record)) {
			struct demo_record r;

			if (fread(&r, sizeof(r), 1, out) != 1)
				break;
			if (r.thread < 4)
				per_thread[r.thread]++;
			if (records < 3)
				printf("  record: thread %u seq %" PRIu64 " ts %" PRIu64
				       " (packet %" PRIu64 ", cpu %u)\n",
				       r.thread, r.seq, r.ts, p.seq, p.cpu);
			records++;
			left -= sizeof(r);
		}
	}
	printf("ring_demo: read back %" PRIu64 " records: %" PRIu64 " / %" PRIu64 " / %" PRIu64
	       " / %" PRIu64 " per thread\n",
	       records, per_thread[0], per_thread[1], per_thread[2], per_thread[3]);
	fclose(out);
	unlink(path);
	for (uint32_t i = 0; i < ncpu; i++)
		rtr_ring_buf_destroy(chan->bufs[i]);
	rtr_ring_chan_free(chan);
	return records + lost == 800000 ? 0 : 1;
}
