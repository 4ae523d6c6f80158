/* The session host's idle-priority drain thread (lib/host/drainer.c)
 * against a host thread that takes packets back at random moments and,
 * as writers would once the sub-buffer is given back, scribbles over the
 * source right after it wrote the packet itself.
 *
 * Several streams, each a memfd of NSB sub-buffers ("ring") and a stream
 * file. Packet p of a stream fills one sub-buffer with words computed from
 * (stream, p, word index); each is either left to the drain thread (waited
 * for) or taken back after a random delay, while the thread may be in the
 * middle of it. At the end every stream file must hold exactly its packets,
 * byte for byte: a chunk the drain thread copied after the scribbling began
 * must never reach the file. Both outcomes (done by the thread, taken back)
 * must have happened. The first HDR bytes of each packet are garbage in
 * the source (a traced program rewriting its packet header) and come from
 * the host's copy given with the job: the file must hold the copy.
 *
 * RTR_STRESS_SECONDS bounds the run (default 3).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "drainer.h"
#include "rtr_test.h"

#define NSTREAMS 4
#define NSB	 4
#define SB	 (128u << 10) /* bigger than nothing, smaller than a chunk x 2 */
#define HDR	 88u	      /* header bytes given from host memory (11 words) */

struct stream {
	int memfd, out;
	uint8_t *ring;
	struct rtr_drain_slot *slot;
	uint64_t file_len;
	uint64_t packets;
	/* packet i's length, for the final check */
	uint32_t *lens;
	size_t cap;
	bool pending;
	uint64_t pending_len;
	uint32_t pending_sb;
	uint64_t pending_since;
	int mode; /* 0: wait for the thread, 1: take back after pending_delay */
	uint64_t pending_delay;
};

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	return rtr_test_xorshift(&rng_state);
}

static uint64_t word(unsigned s, uint64_t p, uint64_t i)
{
	return ((uint64_t)s << 60) ^ (p << 32) ^ i ^ 0x5a5a0000u;
}

static void fill(struct stream *st, unsigned s, uint32_t sb, uint64_t p, uint64_t len)
{
	uint64_t *w = (uint64_t *)(st->ring + (uint64_t)sb * SB);

	for (uint64_t i = 0; i < len / 8; i++)
		w[i] = word(s, p, i);
}

static void scribble(struct stream *st, uint32_t sb)
{
	memset(st->ring + (uint64_t)sb * SB, 0xee, SB);
}

/* The packet's header, as the host encodes it in its own memory. */
static void header(unsigned s, uint64_t p, uint64_t *hdr)
{
	for (uint64_t i = 0; i < HDR / 8; i++)
		hdr[i] = word(s, p, i);
}

/* The host writes a packet itself: its header from host memory, the rest
 * from the ring. */
static void host_writes(struct stream *st, unsigned s, uint64_t p, uint32_t sb, uint64_t len,
			uint64_t off)
{
	uint64_t done = 0, hdr[HDR / 8];

	header(s, p, hdr);
	if (len >= HDR) {
		REQUIRE(pwrite(st->out, hdr, HDR, (off_t)off) == (ssize_t)HDR);
		done = HDR;
	}

	while (done < len) {
		ssize_t n = pwrite(st->out, st->ring + (uint64_t)sb * SB + done, len - done,
				   (off_t)(off + done));

		REQUIRE(n > 0);
		done += (uint64_t)n;
	}
}

/* The packet of st is finished (written by either side). */
static void finished(struct stream *st)
{
	if (st->packets == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 1024;
		st->lens = realloc(st->lens, st->cap * sizeof(*st->lens));
		REQUIRE(st->lens);
	}
	st->lens[st->packets++] = (uint32_t)st->pending_len;
	st->file_len += st->pending_len;
	st->pending = false;
}

int main(void)
{
	const char *secs = getenv("RTR_STRESS_SECONDS");
	uint64_t end = now_ns() + (uint64_t)(secs ? atof(secs) : 3.0) * 1000000000u;
	struct stream st[NSTREAMS];
	struct rtr_drainer_stats ds;
	struct rtr_drainer *d;
	uint64_t by_thread = 0, by_host = 0, failed = 0, submitted = 0;
	int notify;
	char path[] = "/tmp/stress_drain_XXXXXX";

	memset(st, 0, sizeof(st));
	rng_state ^= (uint64_t)getpid();
	d = rtr_drainer_start(&notify);
	REQUIRE(d);
	for (unsigned s = 0; s < NSTREAMS; s++) {
		st[s].memfd = memfd_create("stress_drain", MFD_CLOEXEC);
		REQUIRE(st[s].memfd >= 0);
		REQUIRE(ftruncate(st[s].memfd, (off_t)NSB * SB) == 0);
		st[s].ring = mmap(NULL, (size_t)NSB * SB, PROT_READ | PROT_WRITE, MAP_SHARED,
				  st[s].memfd, 0);
		REQUIRE(st[s].ring != MAP_FAILED);
		st[s].out = mkstemp(path);
		REQUIRE(st[s].out >= 0);
		unlink(path);
		memcpy(path + strlen(path) - 6, "XXXXXX", 6);
		st[s].slot = rtr_drain_slot_new(d, st[s].memfd, st[s].out);
		REQUIRE(st[s].slot);
	}

	while (now_ns() < end) {
		for (unsigned s = 0; s < NSTREAMS; s++) {
			struct stream *x = &st[s];
			int err = 0;

			if (!x->pending) {
				uint64_t hdr[HDR / 8];

				x->pending_sb = (uint32_t)(x->packets % NSB);
				x->pending_len = 8 * (1 + rnd() % (SB / 8));
				fill(x, s, x->pending_sb, x->packets, x->pending_len);
				/* The traced program rewrites the header in shared
				 * memory: what is written must be the host's copy. */
				if (x->pending_len >= HDR)
					memset(x->ring + (uint64_t)x->pending_sb * SB, 0xa5, HDR);
				header(s, x->packets, hdr);
				x->mode = (int)(rnd() % 2);
				x->pending_delay = rnd() % 300000; /* up to 300 us */
				x->pending_since = now_ns();
				rtr_drain_submit(x->slot, (uint64_t)x->pending_sb * SB, x->file_len,
						 x->pending_len, hdr,
						 x->pending_len >= HDR ? HDR : 0);
				x->pending = true;
				submitted++;
				continue;
			}
			switch (rtr_drain_poll(x->slot, &err)) {
			case RTR_DRAIN_DONE:
				CHECK_EQ_I64(err, 0);
				by_thread++;
				finished(x);
				scribble(x, x->pending_sb); /* the writers' turn */
				continue;
			case RTR_DRAIN_FREE:
				CHECK(!"a pending packet's slot is free");
				failed++;
				x->pending = false;
				continue;
			default:
				break;
			}
			if (x->mode == 0 && now_ns() - x->pending_since < 2000000000u)
				continue;
			if (x->mode == 1 && now_ns() - x->pending_since < x->pending_delay)
				continue;
			if (rtr_drain_take_back(x->slot, &err)) {
				host_writes(x, s, x->packets, x->pending_sb, x->pending_len,
					    x->file_len);
				by_host++;
			} else {
				CHECK_EQ_I64(err, 0);
				by_thread++;
			}
			finished(x);
			/* Given back: the writers reuse it at once, maybe while
			 * the drain thread still copies it. */
			scribble(x, x->pending_sb);
		}
		/* The drain thread only runs when this one leaves a CPU. */
		if (rnd() % 4 == 0)
			sched_yield();
		else if (rnd() % 64 == 0)
			usleep(50);
	}
	/* Settle what is left. */
	for (unsigned s = 0; s < NSTREAMS; s++) {
		int err = 0;

		if (!st[s].pending)
			continue;
		if (rtr_drain_take_back(st[s].slot, &err)) {
			host_writes(&st[s], s, st[s].packets, st[s].pending_sb, st[s].pending_len,
				    st[s].file_len);
			by_host++;
		} else {
			by_thread++;
		}
		finished(&st[s]);
		scribble(&st[s], st[s].pending_sb);
	}
	rtr_drainer_stats(d, &ds);
	for (unsigned s = 0; s < NSTREAMS; s++)
		rtr_drain_slot_release(st[s].slot);
	rtr_drainer_stop(d); /* joins: no late write after this */

	/* Every file holds exactly its packets. */
	{
		uint64_t bad_words = 0, bad_size = 0;

		for (unsigned s = 0; s < NSTREAMS; s++) {
			uint64_t off = 0;
			uint64_t *buf = malloc(SB);
			struct stat sbuf;

			REQUIRE(buf);
			REQUIRE(fstat(st[s].out, &sbuf) == 0);
			if ((uint64_t)sbuf.st_size != st[s].file_len)
				bad_size++;
			for (uint64_t p = 0; p < st[s].packets; p++) {
				uint64_t len = st[s].lens[p];

				REQUIRE(pread(st[s].out, buf, len, (off_t)off) == (ssize_t)len);
				for (uint64_t i = 0; i < len / 8; i++)
					if (buf[i] != word(s, p, i))
						bad_words++;
				off += len;
			}
			free(buf);
			free(st[s].lens);
			munmap(st[s].ring, (size_t)NSB * SB);
			close(st[s].memfd);
			close(st[s].out);
		}
		CHECK_EQ_U64(bad_size, 0);
		CHECK_EQ_U64(bad_words, 0);
	}
	printf("packets %llu: %llu by the drain thread, %llu taken back (thread counted %llu "
	       "done, %llu taken back)\n",
	       (unsigned long long)submitted, (unsigned long long)by_thread,
	       (unsigned long long)by_host, (unsigned long long)ds.done,
	       (unsigned long long)ds.taken);
	CHECK_EQ_U64(failed, 0);
	CHECK_EQ_U64(by_thread + by_host, submitted);
	CHECK_EQ_U64(ds.taken, by_host); /* ds.done may lag: counted after DONE */
	CHECK(by_thread > 0);
	CHECK(by_host > 0);
	return rtr_test_done("stress_drain");
}
