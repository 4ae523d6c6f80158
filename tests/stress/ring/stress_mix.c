/* The ring under everything at once (issue 11, "tests that would have
 * caught these"): 8 writer threads on 2 CPUs, per-CPU buffers of 2 x 4 KiB,
 * random record sizes (some larger than a sub-buffer, some nearly as large),
 * writers forced to another CPU between reserve and commit, and a slow
 * consumer (discard mode) or a reader taking snapshots while the writers
 * go on (overwrite mode). Every record carries (writer, sequence, buffer,
 * timestamp, checksum); the reader checks that none is torn, duplicated,
 * misplaced (another buffer, out of its packet's time range, out of order)
 * or a phantom, and at the end of each slice (writers stopped, buffers
 * drained) the books must balance exactly, loss by loss:
 *   discard:   committed == read; -ENOBUFS == lost_full, -ENOSPC == lost_big,
 *              lost_wrap == lost_nobuf == refused_nest == 0;
 *   overwrite: committed == read + overwritten_records; -EIO == lost_wrap,
 *              -ENOSPC == lost_big; overwritten == missing packet numbers.
 * Also `wakeup`: the last two commits of a sub-buffer, one local and one
 * after a migration, race for the completion (item 14); every sub-buffer
 * must wake the reader exactly once.
 *
 * usage: stress_mix discard|overwrite|discard-rseq|discard-atomic|
 *                   overwrite-rseq|overwrite-atomic|wakeup
 * Runs RTR_STRESS_SECONDS (default 3) in slices; discard and overwrite
 * alternate rseq and atomic sync slice by slice. */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "rtr_test.h"
#include "stress_records.h"

/* The test client's configurations, but the writers wake the reader. */
#define SM_CONFIG(name_, mode_, sync_)                                                     \
	static const struct rtr_ring_config name_ = {                                      \
		.alloc = RTR_RING_ALLOC_PER_CPU,                                           \
		.mode = mode_,                                                             \
		.sync = sync_,                                                             \
		.wakeup = RTR_RING_WAKEUP_WRITER,                                          \
		.ts_bits = 27,                                                             \
		.record_align = 1,                                                         \
		.subbuf_header_size = TC_PKT_HDR,                                          \
		.client_id = 0x7e57,                                                       \
		.cb = {.clock_read = tc_clock,                                             \
		       .record_header_size = tc_header_size,                               \
		       .packet_hook = tc_packet_hook},                                     \
	}

SM_CONFIG(cfg_d_rseq, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_RSEQ);
SM_CONFIG(cfg_d_atomic, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC);
SM_CONFIG(cfg_o_rseq, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_RSEQ);
SM_CONFIG(cfg_o_atomic, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_ATOMIC);

#define NWRITERS 8
#define MAX_SEQ  (1u << 20) /* per writer per slice */
#define SUBBUF   4096u
#define NSUBBUF  2u

static const struct rtr_ring_config *cfg;
static struct rtr_ring_chan *chan;
static uint32_t nbufs;
static int cpus[2], ncpus;
static _Atomic int stop_writers, stop_reader;

/* ------------------------------------------------------------------------
 * Books
 * ------------------------------------------------------------------------ */

struct wbook {
	uint64_t produced;
	uint8_t *ok;   /* 1: committed */
	uint8_t *seen; /* times read */
	uint64_t refused[6]; /* by -errno kind: ENOBUFS EIO ENOSPC EBUSY ENODEV other */
	uint64_t migrations;
	uint64_t last[64]; /* per buffer: last seq + 1 */
};

static struct wbook book[NWRITERS];
static uint64_t bad, dups, misplaced, disorder, phantoms, records_read, packets_read;
static uint64_t *last_ts; /* per buffer: last record timestamp read */
static uint64_t *next_pkt; /* per buffer: next packet number (discard) */
static uint64_t pkt_gaps;  /* overwrite: packet numbers skipped */

static int kind_of(int r)
{
	switch (r) {
	case -ENOBUFS: return 0;
	case -EIO: return 1;
	case -ENOSPC: return 2;
	case -EBUSY: return 3;
	case -ENODEV: return 4;
	default: return 5;
	}
}

static void on_rec(void *arg, const struct rtr_ring_subbuf *sb, const struct sr_rec *r)
{
	uint32_t b = sb->info.cpu;
	struct wbook *w;

	(void)arg;
	if (r->h.writer >= NWRITERS || r->h.seq >= MAX_SEQ) {
		phantoms++;
		return;
	}
	w = &book[r->h.writer];
	if (w->seen[r->h.seq]++)
		dups++;
	/* misplaced: reserved in another buffer, or outside its packet */
	if (r->h.buf != b || r->h.ts < sb->info.begin_ts || r->h.ts > sb->info.end_ts)
		misplaced++;
	/* per buffer, timestamps never go back; per (writer, buffer),
	 * sequences only go up */
	if (b < 64) {
		if (r->h.ts < last_ts[b] || r->h.seq + 1 <= w->last[b])
			disorder++;
		last_ts[b] = r->h.ts;
		w->last[b] = r->h.seq + 1;
	}
	records_read++;
}

static void take(struct rtr_ring_buf *buf, const struct rtr_ring_subbuf *sb)
{
	const char *why = "";
	uint32_t b = buf->cpu;

	if (sr_walk(sb, on_rec, NULL, &why) < 0) {
		fprintf(stderr, "buffer %u packet %llu: %s\n", b, (unsigned long long)sb->info.seq,
			why);
		bad++;
	}
	if (cfg->mode == RTR_RING_MODE_DISCARD) {
		if (sb->info.seq != next_pkt[b])
			disorder++;
	} else if (sb->info.seq < next_pkt[b]) {
		disorder++;
	} else {
		pkt_gaps += sb->info.seq - next_pkt[b];
	}
	next_pkt[b] = sb->info.seq + 1;
	packets_read++;
}

/* ------------------------------------------------------------------------
 * Writers
 * ------------------------------------------------------------------------ */

static uint32_t pick_len(uint64_t *rng)
{
	uint64_t d = sr_rand(rng) % 1000;

	if (d < 4)
		return SUBBUF + (uint32_t)(sr_rand(rng) % 4096); /* larger than a sub-buffer */
	if (d < 20)
		return 1500 + (uint32_t)(sr_rand(rng) % 2500); /* nearly a sub-buffer */
	return SR_MIN_LEN + (uint32_t)(sr_rand(rng) % 400);
}

static void *writer_main(void *arg)
{
	int w = (int)(intptr_t)arg;
	struct wbook *bk = &book[w];
	uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(w + 1) ^ (uint64_t)sr_now();
	unsigned int streak = 0;

	sr_allow(cpus, ncpus);
	while (!atomic_load_explicit(&stop_writers, memory_order_relaxed) && bk->produced < MAX_SEQ) {
		struct rtr_ring_ctx ctx = {.payload_size = pick_len(&rng)};
		uint64_t seq = bk->produced++;
		int r = rtr_ring_reserve(cfg, chan, &ctx);

		if (r) {
			bk->refused[kind_of(r)]++;
			/* A program would go on; this one lets the reader (and a
			 * preempted writer holding a sub-buffer) run now and then,
			 * so that successes are not drowned by refusals. */
			if (++streak % 8 == 0)
				usleep(50);
			continue;
		}
		streak = 0;
		sr_fill(&ctx, (uint32_t)w, seq);
		if (ncpus == 2 && sr_rand(&rng) % 8 == 0) {
			/* Forced migration between reserve and commit. */
			int here = sched_getcpu();
			int there = here == cpus[0] ? cpus[1] : cpus[0];

			sr_allow(&there, 1);
			bk->migrations++;
			rtr_ring_commit(cfg, &ctx);
			if (sr_rand(&rng) % 2)
				sr_allow(cpus, ncpus);
		} else {
			rtr_ring_commit(cfg, &ctx);
		}
		bk->ok[seq] = 1;
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * Readers
 * ------------------------------------------------------------------------ */

/* Discard mode: a consumer that is often too slow (the buffers fill),
 * woken by the writers' eventfd or its own 5 ms timeout, flushing the
 * open sub-buffers now and then. */
static void *consumer_main(void *arg)
{
	int efd = *(int *)arg;
	uint64_t rng = 4242, cnt;

	while (!atomic_load(&stop_reader)) {
		struct pollfd p = {.fd = efd, .events = POLLIN};

		(void)poll(&p, 1, 5);
		while (read(efd, &cnt, 8) == 8)
			;
		for (uint32_t b = 0; b < nbufs; b++) {
			struct rtr_ring_subbuf sb;

			while (rtr_ring_get_subbuf(cfg, chan->bufs[b], &sb) == 0) {
				take(chan->bufs[b], &sb);
				CHECK(rtr_ring_put_subbuf(cfg, chan->bufs[b]) == 0);
				if (sr_rand(&rng) % 4 == 0)
					usleep((useconds_t)(sr_rand(&rng) % 300)); /* slow */
			}
			if (sr_rand(&rng) % 16 == 0)
				(void)rtr_ring_flush(cfg, chan->bufs[b], RTR_RING_FLUSH_ACTIVE, false);
		}
		if (chan->bufs[0]->rd.failed)
			break;
	}
	return NULL;
}

/* Overwrite mode: snapshots while the writers go on. */
static void *snapshot_main(void *arg)
{
	uint64_t rng = 777;

	(void)arg;
	while (!atomic_load(&stop_reader)) {
		for (uint32_t b = 0; b < nbufs; b++) {
			struct rtr_ring_subbuf sb;

			(void)rtr_ring_flush(cfg, chan->bufs[b], RTR_RING_FLUSH_ACTIVE, false);
			if (rtr_ring_snapshot_start(cfg, chan->bufs[b]) != 0)
				continue;
			while (rtr_ring_get_subbuf(cfg, chan->bufs[b], &sb) == 0) {
				take(chan->bufs[b], &sb);
				CHECK(rtr_ring_put_subbuf(cfg, chan->bufs[b]) == 0);
			}
		}
		usleep((useconds_t)(sr_rand(&rng) % 2000));
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * One slice: writers and reader run, stop, drain, books
 * ------------------------------------------------------------------------ */

struct totals {
	uint64_t slices, committed, read, refused[6], overwritten_records, migrations;
};

static void run_slice(const struct rtr_ring_config *c, double seconds, struct totals *t)
{
	struct rtr_ring_geometry geo = {.subbuf_size = SUBBUF, .num_subbuf = NSUBBUF};
	pthread_t wt[NWRITERS], rt;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint64_t committed = 0, seen = 0, refused[6] = {0};
	struct rtr_ring_stats sum = {0};
	double t0;

	cfg = c;
	nbufs = rtr_ring_possible_cpus();
	if (nbufs > 64)
		nbufs = 64;
	chan = rtr_ring_chan_alloc(nbufs);
	REQUIRE(chan && efd >= 0);
	for (uint32_t b = 0; b < nbufs; b++) {
		REQUIRE(rtr_ring_buf_create(c, &geo, b, "stress-mix", &chan->bufs[b]) == 0);
		chan->bufs[b]->wake_fd = efd;
	}
	last_ts = calloc(nbufs, sizeof(*last_ts));
	next_pkt = calloc(nbufs, sizeof(*next_pkt));
	REQUIRE(last_ts && next_pkt);
	for (int w = 0; w < NWRITERS; w++) {
		memset(&book[w], 0, sizeof(book[w]));
		book[w].ok = calloc(MAX_SEQ, 1);
		book[w].seen = calloc(MAX_SEQ, 1);
		REQUIRE(book[w].ok && book[w].seen);
	}
	bad = dups = misplaced = disorder = phantoms = records_read = packets_read = pkt_gaps = 0;
	atomic_store(&stop_writers, 0);
	atomic_store(&stop_reader, 0);
	REQUIRE(pthread_create(&rt, NULL, c->mode == RTR_RING_MODE_DISCARD ? consumer_main
									   : snapshot_main,
			       &efd) == 0);
	for (int w = 0; w < NWRITERS; w++)
		REQUIRE(pthread_create(&wt[w], NULL, writer_main, (void *)(intptr_t)w) == 0);
	t0 = sr_now();
	while (sr_now() - t0 < seconds)
		usleep(10000);
	atomic_store(&stop_writers, 1);
	for (int w = 0; w < NWRITERS; w++)
		pthread_join(wt[w], NULL);
	atomic_store(&stop_reader, 1);
	pthread_join(rt, NULL);
	/* Writers gone: close what is open, read everything left. */
	for (uint32_t b = 0; b < nbufs; b++) {
		struct rtr_ring_subbuf sb;
		struct rtr_ring_stats st;

		CHECK(rtr_ring_flush(c, chan->bufs[b], RTR_RING_FLUSH_ACTIVE, true) == 0);
		CHECK(rtr_ring_snapshot_start(c, chan->bufs[b]) == 0);
		while (rtr_ring_get_subbuf(c, chan->bufs[b], &sb) == 0) {
			take(chan->bufs[b], &sb);
			CHECK(rtr_ring_put_subbuf(c, chan->bufs[b]) == 0);
		}
		if (chan->bufs[b]->rd.failed)
			RTR_TEST_FAIL_("buffer %u called corrupt: %s", b,
				       rtr_ring_buf_error(chan->bufs[b]));
		rtr_ring_buf_stats(chan->bufs[b], &st);
		CHECK_EQ_U64(st.produced & (SUBBUF - 1), 0); /* all closed and read */
		sum.records += st.records;
		sum.lost_full += st.lost_full;
		sum.lost_wrap += st.lost_wrap;
		sum.lost_big += st.lost_big;
		sum.refused_nest += st.refused_nest;
		sum.lost_nobuf += st.lost_nobuf;
		sum.overwritten += st.overwritten;
		sum.overwritten_records += st.overwritten_records;
	}
	/* Every record: committed ones seen once (or overwritten), refused
	 * ones never. */
	for (int w = 0; w < NWRITERS; w++) {
		struct wbook *bk = &book[w];

		for (uint64_t s = 0; s < bk->produced; s++) {
			if (bk->ok[s]) {
				committed++;
				if (bk->seen[s])
					seen++;
				else if (c->mode == RTR_RING_MODE_DISCARD)
					RTR_TEST_FAIL_("writer %d record %llu committed, never read", w,
						       (unsigned long long)s);
			} else if (bk->seen[s]) {
				phantoms++;
			}
		}
		for (int k = 0; k < 6; k++)
			refused[k] += bk->refused[k];
		t->migrations += bk->migrations;
	}
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(dups, 0);
	CHECK_EQ_U64(misplaced, 0);
	CHECK_EQ_U64(disorder, 0);
	CHECK_EQ_U64(phantoms, 0);
	CHECK_EQ_U64(seen, records_read);
	CHECK_EQ_U64(sum.records, committed);
	CHECK_EQ_U64(sum.lost_big, refused[2]);
	CHECK_EQ_U64(refused[3] + refused[4] + refused[5], 0);
	CHECK_EQ_U64(sum.refused_nest + sum.lost_nobuf, 0);
	if (c->mode == RTR_RING_MODE_DISCARD) {
		CHECK_EQ_U64(seen, committed);
		CHECK_EQ_U64(sum.lost_full, refused[0]);
		CHECK_EQ_U64(sum.lost_wrap, 0); /* item 13: no drop while there is room */
		CHECK_EQ_U64(refused[1], 0);
	} else {
		CHECK_EQ_U64(seen + sum.overwritten_records, committed);
		CHECK_EQ_U64(sum.lost_wrap, refused[1]);
		CHECK_EQ_U64(sum.lost_full + refused[0], 0);
		CHECK_EQ_U64(sum.overwritten, pkt_gaps);
	}
	t->slices++;
	t->committed += committed;
	t->read += seen;
	for (int k = 0; k < 6; k++)
		t->refused[k] += refused[k];
	t->overwritten_records += sum.overwritten_records;

	for (int w = 0; w < NWRITERS; w++) {
		free(book[w].ok);
		free(book[w].seen);
	}
	free(last_ts);
	free(next_pkt);
	for (uint32_t b = 0; b < nbufs; b++) {
		chan->bufs[b]->wake_fd = -1; /* shared: closed once, below */
		rtr_ring_buf_destroy(chan->bufs[b]);
	}
	rtr_ring_chan_free(chan);
	close(efd);
}

/* ------------------------------------------------------------------------
 * wakeup: the last two commits of a sub-buffer race (item 14)
 * ------------------------------------------------------------------------ */

static struct rtr_ring_ctx w_r1, w_r2, w_r3;
static _Atomic long w_phase;
static _Atomic int w_done;

static const struct rtr_ring_config cfg_wake = {
	.alloc = RTR_RING_ALLOC_PER_CPU,
	.mode = RTR_RING_MODE_DISCARD,
	.sync = RTR_RING_SYNC_RSEQ,
	.wakeup = RTR_RING_WAKEUP_WRITER,
	.ts_bits = 27,
	.record_align = 1,
	.subbuf_header_size = TC_PKT_HDR,
	.client_id = 0x7e57,
	.cb = {.clock_read = tc_clock, .record_header_size = tc_header_size,
	       .packet_hook = tc_packet_hook},
};

static void w_reserve(struct rtr_ring_ctx *c, uint64_t seq)
{
	*c = (struct rtr_ring_ctx){.payload_size = 1990};
	REQUIRE(rtr_ring_reserve(&cfg_wake, chan, c) == 0);
	sr_fill(c, 0, seq);
}

static void *w_remote(void *arg)
{
	(void)arg;
	for (long t = 0;; t++) {
		while (atomic_load(&w_phase) != 4 * t + 1)
			if (atomic_load(&w_done))
				return NULL;
		sr_allow(&cpus[0], 1);
		w_reserve(&w_r2, 2 * (uint64_t)t + 1);
		sr_allow(&cpus[1], 1); /* migrates: its commit will be remote */
		atomic_store(&w_phase, 4 * t + 2);
		while (atomic_load(&w_phase) != 4 * t + 3)
			;
		rtr_ring_commit(&cfg_wake, &w_r2);
		atomic_store(&w_phase, 4 * t + 4);
	}
}

static void run_wakeup(double seconds)
{
	struct rtr_ring_geometry geo = {.subbuf_size = SUBBUF, .num_subbuf = 4};
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	long trials = 0, missed = 0, doubled = 0;
	uint64_t cnt;
	pthread_t th;
	double t0 = sr_now();

	if (!(RTR_HAVE_RSEQ && rtr_rseq_registered()) || ncpus < 2) {
		printf("wakeup: needs rseq and 2 CPUs; not run\n");
		return;
	}
	cfg = &cfg_wake;
	nbufs = rtr_ring_possible_cpus();
	chan = rtr_ring_chan_alloc(nbufs);
	REQUIRE(chan && efd >= 0);
	for (uint32_t b = 0; b < nbufs; b++)
		REQUIRE(rtr_ring_buf_create(&cfg_wake, &geo, b, "wake", &chan->bufs[b]) == 0);
	chan->bufs[cpus[0]]->wake_fd = efd;
	sr_allow(&cpus[0], 1);
	w_reserve(&w_r1, 0);
	REQUIRE(pthread_create(&th, NULL, w_remote, NULL) == 0);
	for (long t = 0; sr_now() - t0 < seconds; t++) {
		struct rtr_ring_subbuf sb;

		atomic_store(&w_phase, 4 * t + 1);
		while (atomic_load(&w_phase) != 4 * t + 2)
			sched_yield();
		w_reserve(&w_r3, 2 * (uint64_t)t + 2); /* closes r1/r2's sub-buffer */
		while (read(efd, &cnt, 8) == 8)
			;
		atomic_store(&w_phase, 4 * t + 3);
		for (volatile unsigned int k = 0, e = (unsigned int)(t * 7919) % 400u; k < e; k++)
			__builtin_ia32_pause(); /* sweep the skew between the two commits */
		rtr_ring_commit(&cfg_wake, &w_r1); /* local, on the buffer's CPU */
		while (atomic_load(&w_phase) != 4 * t + 4)
			;
		cnt = 0;
		if (read(efd, &cnt, 8) != 8)
			cnt = 0;
		if (cnt == 0)
			missed++;
		else if (cnt > 1)
			doubled++;
		while (rtr_ring_get_subbuf(&cfg_wake, chan->bufs[cpus[0]], &sb) == 0) {
			const char *why = "";

			if (sr_walk(&sb, NULL, NULL, &why) < 0)
				RTR_TEST_FAIL_("wakeup: %s", why);
			CHECK(rtr_ring_put_subbuf(&cfg_wake, chan->bufs[cpus[0]]) == 0);
		}
		w_r1 = w_r3;
		trials++;
	}
	atomic_store(&w_done, 1);
	pthread_join(th, NULL);
	rtr_ring_commit(&cfg_wake, &w_r1);
	CHECK_EQ_U64(missed, 0);
	CHECK_EQ_U64(doubled, 0);
	printf("wakeup: %ld trials, %ld completions without a wake-up, %ld with two\n", trials,
	       missed, doubled);
	chan->bufs[cpus[0]]->wake_fd = -1;
	close(efd);
	for (uint32_t b = 0; b < nbufs; b++)
		rtr_ring_buf_destroy(chan->bufs[b]);
	rtr_ring_chan_free(chan);
	sr_allow(cpus, ncpus);
}

int main(int argc, char **argv)
{
	const char *s = argc > 1 ? argv[1] : "";
	bool rseq = RTR_HAVE_RSEQ && rtr_rseq_registered();
	double seconds = getenv("RTR_STRESS_SECONDS") ? atof(getenv("RTR_STRESS_SECONDS")) : 3.0;
	const struct rtr_ring_config *seq[2];
	struct totals t = {0};
	double t0 = sr_now(), slice;
	static const char *const kinds[6] = {"full", "wrap", "big", "nest", "nobuf", "other"};

	ncpus = sr_two_cpus(cpus);
	REQUIRE(ncpus >= 1);
	if (ncpus < 2)
		printf("%s: one CPU only: no forced migrations\n", s);
	if (!strcmp(s, "wakeup")) {
		run_wakeup(seconds);
		return rtr_test_done("stress_mix wakeup");
	}
	if (!strcmp(s, "discard") || !strcmp(s, "discard-rseq") || !strcmp(s, "discard-atomic")) {
		seq[0] = rseq && strcmp(s, "discard-atomic") ? &cfg_d_rseq : &cfg_d_atomic;
		seq[1] = !strcmp(s, "discard") ? &cfg_d_atomic : seq[0];
	} else if (!strcmp(s, "overwrite") || !strcmp(s, "overwrite-rseq") ||
		   !strcmp(s, "overwrite-atomic")) {
		seq[0] = rseq && strcmp(s, "overwrite-atomic") ? &cfg_o_rseq : &cfg_o_atomic;
		seq[1] = !strcmp(s, "overwrite") ? &cfg_o_atomic : seq[0];
	} else {
		fprintf(stderr, "usage: stress_mix discard|overwrite|{discard,overwrite}-{rseq,atomic}|wakeup\n");
		return 2;
	}
	if (strstr(s, "rseq") && !rseq)
		printf("%s: rseq is not available here; running the atomic variant instead\n", s);
	/* Slices of at most 5 s, at least two (one per sync where they alternate). */
	slice = seconds / 2 < 5 ? seconds / 2 : 5;
	while (sr_now() - t0 < seconds - slice / 2 && !rtr_test_failures)
		run_slice(seq[t.slices % 2], slice, &t);
	printf("%s: %llu slices, %d writers on %d CPU(s), %llu forced migrations; %llu records "
	       "committed, %llu read and verified",
	       s, (unsigned long long)t.slices, NWRITERS, ncpus, (unsigned long long)t.migrations,
	       (unsigned long long)t.committed, (unsigned long long)t.read);
	if (seq[0]->mode == RTR_RING_MODE_OVERWRITE)
		printf(", %llu overwritten (counted)", (unsigned long long)t.overwritten_records);
	printf("; refused:");
	for (int k = 0; k < 6; k++)
		printf(" %s %llu", kinds[k], (unsigned long long)t.refused[k]);
	printf("; anomalies %d\n", rtr_test_failures);
	return rtr_test_done(s);
}
