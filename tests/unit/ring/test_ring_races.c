/* Regression tests for the ring buffer's races (issue 11, items 12-14),
 * made deterministic with the library's test-only interleaving points
 * (lib/ring/ring-hooks.h): a writer is stopped exactly where its view of
 * the buffer goes stale while another writer moves on, then let go. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ring-hooks.h"
#include "ring_test_client.h"
#include "rtr_test.h"

TC_CONFIG(cfg_disc, RTR_RING_ALLOC_GLOBAL, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC, 27);
TC_CONFIG(cfg_ow, RTR_RING_ALLOC_GLOBAL, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_ATOMIC, 27);
TC_CONFIG(cfg_rseq_disc, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_RSEQ, 27);
TC_CONFIG(cfg_rseq_ow, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_RSEQ, 27);

#define SB 4096u

static struct rtr_ring_chan *chan;
static uint32_t nbufs;

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	REQUIRE(sched_setaffinity(0, sizeof(s), &s) == 0);
	while (sched_getcpu() != cpu)
		sched_yield();
}

static void setup(const struct rtr_ring_config *cfg, uint32_t nsb)
{
	struct rtr_ring_geometry geo = {.subbuf_size = SB, .num_subbuf = nsb};

	nbufs = cfg->alloc == RTR_RING_ALLOC_GLOBAL ? 1 : rtr_ring_possible_cpus();
	chan = rtr_ring_chan_alloc(nbufs);
	REQUIRE(chan);
	for (uint32_t i = 0; i < nbufs; i++)
		REQUIRE(rtr_ring_buf_create(cfg, &geo, i, "races", &chan->bufs[i]) == 0);
	pin(0); /* per-CPU configs: everything on buffer 0 */
}

static void teardown(void)
{
	rtr_ring__hook = NULL;
	for (uint32_t i = 0; i < nbufs; i++)
		rtr_ring_buf_destroy(chan->bufs[i]);
	rtr_ring_chan_free(chan);
}

/* ------------------------------------------------------------------------
 * A stopped writer: the hook parks the thread marked `stale` at `point`
 * (once), until the main thread lets it go.
 * ------------------------------------------------------------------------ */

static enum rtr_ring_hook_point park_point;
static __thread int stale;
static _Atomic int parked, release_it;

static void park_hook(enum rtr_ring_hook_point point, struct rtr_ring_buf *buf, uint64_t *value)
{
	(void)buf;
	(void)value;
	if (!stale || point != park_point || atomic_load(&parked))
		return;
	atomic_store(&parked, 1);
	while (!atomic_load(&release_it))
		usleep(100);
}

struct stale_arg {
	const struct rtr_ring_config *cfg;
	uint32_t len;
	int result;
};

static void *stale_writer(void *p)
{
	struct stale_arg *a = p;

	pin(0);
	stale = 1;
	a->result = tc_write(a->cfg, chan, 9, 0, a->len);
	return NULL;
}

static void start_stale(pthread_t *t, struct stale_arg *a, enum rtr_ring_hook_point point)
{
	park_point = point;
	atomic_store(&parked, 0);
	atomic_store(&release_it, 0);
	rtr_ring__hook = park_hook;
	REQUIRE(pthread_create(t, NULL, stale_writer, a) == 0);
	while (!atomic_load(&parked))
		usleep(100);
}

static void finish_stale(pthread_t t)
{
	atomic_store(&release_it, 1);
	pthread_join(t, NULL);
}

static uint32_t tag_of(uint32_t idx)
{
	return (uint32_t)(atomic_load(&chan->bufs[0]->ctl->sb[idx].wsb_id) >> 32);
}

/* Reads every complete sub-buffer; returns the records, fails on a torn
 * one; *w9 counts the stale writer's records. */
static long read_all(const struct rtr_ring_config *cfg, long *packets, long *w9)
{
	struct rtr_ring_subbuf sb;
	long n = 0;

	while (rtr_ring_get_subbuf(cfg, chan->bufs[0], &sb) == 0) {
		const char *why = "";
		long k = tc_walk(&sb, NULL, NULL, &why);

		if (k < 0)
			RTR_TEST_FAIL_("packet %llu: %s", (unsigned long long)sb.info.seq, why);
		else
			n += k;
		if (w9 && k > 0) {
			/* the stale writer's record is the one of writer 9 */
			const char *p = sb.data + TC_PKT_HDR;

			while (p < sb.data + sb.len) {
				uint32_t word, len;
				struct tc_payload_head ph;

				memcpy(&word, p, 4);
				p += 4 + ((word & TC_HDR_FULL) ? 8 : 0);
				len = word & ~TC_HDR_FULL;
				memcpy(&ph, p, sizeof(ph));
				if (ph.writer == 9)
					(*w9)++;
				p += len;
			}
		}
		(*packets)++;
		CHECK(rtr_ring_put_subbuf(cfg, chan->bufs[0]) == 0);
	}
	return n;
}

/* Item 12: a writer that checked that the previous lap of sub-buffer 0 is
 * complete is stopped before its retag while the others go round the
 * buffer (sub-buffer 0 is now in lap 1). Let go, it must not move the lap
 * tag back to 0; it writes its record where the position now is; the
 * snapshot returns every complete sub-buffer and the reader never calls
 * the buffer corrupt. */
static void test_stale_retag(const struct rtr_ring_config *cfg)
{
	struct stale_arg a = {.cfg = cfg, .len = 100};
	struct rtr_ring_stats st;
	pthread_t t;
	uint64_t seq = 0;
	long packets = 0, w9 = 0, records;

	setup(cfg, 2);
	/* Sub-buffer 0 lap 0 is "open" for nobody yet: the stale writer is
	 * stopped in its make_room (tag 0 -> 0 needs no retag, so first go
	 * round once so that its target is a retag: sub-buffer 0, lap 1). */
	while (atomic_load(&chan->bufs[0]->ctl->pos.offset) < 2 * SB - 200)
		REQUIRE(tc_write(cfg, chan, 0, seq++, 100) == 0);
	/* Fill sub-buffer 1 to its end: the next record opens sub-buffer 0
	 * of lap 1. */
	while ((atomic_load(&chan->bufs[0]->ctl->pos.offset) & (SB - 1)) + 104 <= SB)
		REQUIRE(tc_write(cfg, chan, 0, seq++, 100) == 0);
	start_stale(&t, &a, RTR_RING_HOOK_ROOM_CHECKED);
	/* The others: open sub-buffer 0 of lap 1 (retag to 1), go on to lap 1
	 * of sub-buffer 1 and into sub-buffer 0 of lap 2 (retag to 2). */
	while (atomic_load(&chan->bufs[0]->ctl->pos.offset) < 4 * SB + 1000)
		REQUIRE(tc_write(cfg, chan, 0, seq++, 100) == 0);
	CHECK_EQ_U64(tag_of(0), 2);
	finish_stale(t);
	CHECK_EQ_U64(a.result, 0);
	CHECK_EQ_U64(tag_of(0), 2); /* never backwards */
	CHECK_EQ_U64(tag_of(1), 1);
	/* Finish the sub-buffer, then a snapshot sees both complete ones. */
	while (atomic_load(&chan->bufs[0]->ctl->pos.offset) < 5 * SB + 500)
		REQUIRE(tc_write(cfg, chan, 0, seq++, 100) == 0);
	CHECK(rtr_ring_flush(cfg, chan->bufs[0], RTR_RING_FLUSH_ACTIVE, true) == 0);
	CHECK(rtr_ring_snapshot_start(cfg, chan->bufs[0]) == 0);
	records = read_all(cfg, &packets, &w9);
	CHECK_EQ_U64(packets, 2);
	CHECK_STR_EQ(rtr_ring_buf_error(chan->bufs[0]), "");
	rtr_ring_buf_stats(chan->bufs[0], &st);
	CHECK_EQ_U64(st.lost_wrap, 0);
	/* Books: every committed record read or counted overwritten. */
	CHECK_EQ_U64(st.records, seq + 1);
	CHECK_EQ_U64((uint64_t)records + st.overwritten_records, seq + 1);
	CHECK_EQ_U64(st.overwritten, 6 - 2); /* 6 sub-buffers opened, 2 read */
	teardown();
}

/* Item 13: a writer whose view of the position went stale (stopped right
 * after reading it) while another writer opened the sub-buffer it meant
 * to open must retry, not drop its record as lost_wrap; with a buffer
 * that is really full it still counts lost_full once. */
static void test_stale_position(const struct rtr_ring_config *cfg)
{
	struct stale_arg a = {.cfg = cfg, .len = 100};
	struct rtr_ring_stats st;
	pthread_t t;
	long packets = 0, w9 = 0;

	/* Nearly empty buffer: both want to open sub-buffer 0. */
	setup(cfg, 4);
	start_stale(&t, &a, RTR_RING_HOOK_SLOW_LOADED);
	REQUIRE(tc_write(cfg, chan, 0, 0, 100) == 0);
	finish_stale(t);
	CHECK_EQ_U64(a.result, 0);
	rtr_ring_buf_stats(chan->bufs[0], &st);
	CHECK_EQ_U64(st.lost_wrap, 0);
	CHECK_EQ_U64(st.lost_full, 0);
	CHECK(rtr_ring_flush(cfg, chan->bufs[0], RTR_RING_FLUSH_ACTIVE, true) == 0);
	CHECK_EQ_U64(read_all(cfg, &packets, &w9), 2);
	CHECK_EQ_U64(w9, 1);
	teardown();

	if (cfg->mode != RTR_RING_MODE_DISCARD)
		return;
	/* Full buffer seen by the stale writer; meanwhile the reader frees a
	 * sub-buffer and another writer opens it: retry, and it fits. */
	setup(cfg, 2);
	{
		uint64_t seq = 0;
		struct rtr_ring_subbuf sb;

		while (tc_write(cfg, chan, 0, seq, 100) == 0)
			seq++; /* the first refusal: the buffer is full */
		CHECK_EQ_U64(atomic_load(&chan->bufs[0]->ctl->lost_full), 1);
		/* a full buffer is refused on the fast path's view: the
		 * writer stops where that view is checked */
		start_stale(&t, &a, RTR_RING_HOOK_FULL_LOADED);
		REQUIRE(rtr_ring_get_subbuf(cfg, chan->bufs[0], &sb) == 0);
		CHECK(rtr_ring_put_subbuf(cfg, chan->bufs[0]) == 0);
		REQUIRE(tc_write(cfg, chan, 0, seq++, 100) == 0);
		finish_stale(t);
		CHECK_EQ_U64(a.result, 0);
		CHECK_EQ_U64(atomic_load(&chan->bufs[0]->ctl->lost_full), 1);
		CHECK_EQ_U64(atomic_load(&chan->bufs[0]->ctl->lost_wrap), 0);
		/* Really full, nothing moves: one refusal, counted once. */
		while (tc_write(cfg, chan, 0, seq, 100) == 0)
			seq++;
		start_stale(&t, &a, RTR_RING_HOOK_FULL_LOADED);
		finish_stale(t);
		CHECK_EQ_U64(a.result, -ENOBUFS);
		CHECK_EQ_U64(atomic_load(&chan->bufs[0]->ctl->lost_full), 3);
		CHECK_EQ_U64(atomic_load(&chan->bufs[0]->ctl->lost_wrap), 0);
		/* Full, and the position moves under the stale view (a small
		 * record still fits the open sub-buffer's tail): the stale
		 * writer's record is still refused, and counted exactly once. */
		start_stale(&t, &a, RTR_RING_HOOK_FULL_LOADED);
		REQUIRE(tc_write(cfg, chan, 0, seq++, 24) == 0);
		finish_stale(t);
		CHECK_EQ_U64(a.result, -ENOBUFS);
		CHECK_EQ_U64(atomic_load(&chan->bufs[0]->ctl->lost_full), 4);
		CHECK_EQ_U64(atomic_load(&chan->bufs[0]->ctl->lost_wrap), 0);
	}
	teardown();
}

/* ------------------------------------------------------------------------
 * Item 14: the last two commits of a sub-buffer, one local (rseq) whose
 * store the other CPU does not see yet, one remote after a migration.
 * The hook shows the remote committer the local count from before the
 * local commit, as a store buffer would; the remote committer must still
 * find the sub-buffer complete (after E1) and wake the reader, once.
 * ------------------------------------------------------------------------ */

static _Atomic uint64_t hide_local_above; /* 0: off */

static void hide_hook(enum rtr_ring_hook_point point, struct rtr_ring_buf *buf, uint64_t *value)
{
	uint64_t h = atomic_load(&hide_local_above);

	(void)buf;
	if (point == RTR_RING_HOOK_REMOTE_SAW_LOCAL && h && *value > h)
		*value = h;
}

static void reserve_payload(const struct rtr_ring_config *cfg, struct rtr_ring_ctx *c,
			    uint32_t len, uint64_t seq)
{
	*c = (struct rtr_ring_ctx){.payload_size = len};
	REQUIRE(rtr_ring_reserve(cfg, chan, c) == 0);
	tc_put_header(c);
	tc_fill_payload((unsigned char *)c->wp, 0, seq, len);
}

static void test_missed_completion(void)
{
	const struct rtr_ring_config *cfg = &cfg_rseq_disc;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint64_t cnt = 0, start, before;
	struct rtr_ring_ctx r1, r2, r3;
	long packets = 0;

	if (!(RTR_HAVE_RSEQ && rtr_rseq_registered()) || rtr_ring_possible_cpus() < 2) {
		printf("needs rseq and 2 CPUs: missed-completion case not run\n");
		if (efd >= 0)
			close(efd);
		return;
	}
	REQUIRE(efd >= 0);
	{
		/* the writer wakes the reader through an eventfd */
		static const struct rtr_ring_config wcfg = {
			.alloc = RTR_RING_ALLOC_PER_CPU,
			.mode = RTR_RING_MODE_DISCARD,
			.sync = RTR_RING_SYNC_RSEQ,
			.wakeup = RTR_RING_WAKEUP_WRITER,
			.ts_bits = 27,
			.record_align = 1,
			.subbuf_header_size = TC_PKT_HDR,
			.client_id = 0x7e57,
			.cb = {.clock_read = tc_clock,
			       .record_header_size = tc_header_size,
			       .packet_hook = tc_packet_hook},
		};

		cfg = &wcfg;
		setup(cfg, 4);
		chan->bufs[0]->wake_fd = efd;
		/* r1, r2 in sub-buffer 0 (on CPU 0); r3 does not fit: it closes
		 * sub-buffer 0 (padding committed) and opens sub-buffer 1. */
		reserve_payload(cfg, &r1, 2000, 0);
		reserve_payload(cfg, &r2, 1000, 1);
		reserve_payload(cfg, &r3, 1500, 2);
		start = r1.pos & ~(uint64_t)(SB - 1);
		CHECK_EQ_U64(r3.pos / SB, 1);
		/* local commit of r1 on CPU 0: r2 still missing, no wake-up */
		before = atomic_load(&chan->bufs[0]->ctl->sb[0].cc_local);
		rtr_ring_commit(cfg, &r1);
		CHECK(read(efd, &cnt, 8) != 8);
		/* r2 from CPU 1, made to see the local count without r1's add */
		atomic_store(&hide_local_above, before);
		rtr_ring__hook = hide_hook;
		pin(1);
		rtr_ring_commit(cfg, &r2);
		rtr_ring__hook = NULL;
		atomic_store(&hide_local_above, 0);
		cnt = 0;
		CHECK(read(efd, &cnt, 8) == 8);
		CHECK_EQ_U64(cnt, 1);
		CHECK_EQ_U64(atomic_load(&chan->bufs[0]->ctl->sb[0].commit_mark), start + SB);
		pin(0);
		rtr_ring_commit(cfg, &r3);
		CHECK(rtr_ring_flush(cfg, chan->bufs[0], RTR_RING_FLUSH_ACTIVE, true) == 0);
		CHECK_EQ_U64(read_all(cfg, &packets, NULL), 3);
		CHECK_EQ_U64(packets, 2);
		/* Both see it complete (no hiding): still one wake-up. */
		reserve_payload(cfg, &r1, 2000, 3);
		reserve_payload(cfg, &r2, 1000, 4);
		reserve_payload(cfg, &r3, 1500, 5);
		while (read(efd, &cnt, 8) == 8)
			;
		pin(1);
		rtr_ring_commit(cfg, &r2);
		pin(0);
		rtr_ring_commit(cfg, &r1);
		cnt = 0;
		CHECK(read(efd, &cnt, 8) == 8);
		CHECK_EQ_U64(cnt, 1);
		rtr_ring_commit(cfg, &r3);
		chan->bufs[0]->wake_fd = -1;
		teardown();
	}
	close(efd);
}

int main(void)
{
	bool rseq = RTR_HAVE_RSEQ && rtr_rseq_registered();

	test_stale_retag(&cfg_ow);
	test_stale_position(&cfg_disc);
	test_stale_position(&cfg_ow);
	if (rseq) {
		test_stale_retag(&cfg_rseq_ow);
		test_stale_position(&cfg_rseq_disc);
		test_stale_position(&cfg_rseq_ow);
	} else {
		printf("rseq not available: rseq variants not run\n");
	}
	test_missed_completion();
	return rtr_test_done("test_ring_races");
}
