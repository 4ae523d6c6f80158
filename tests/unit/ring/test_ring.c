/* Unit tests of the ring buffer: position arithmetic, padding, sub-buffer
 * switch, wrap, loss counters, flush, overwrite snapshots, salvage, output. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rtr_test.h"
#include "ring_test_client.h"

TC_CONFIG(cfg_atomic_global, RTR_RING_ALLOC_GLOBAL, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC, 27);
TC_CONFIG(cfg_atomic_ow, RTR_RING_ALLOC_GLOBAL, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_ATOMIC, 27);
TC_CONFIG(cfg_rseq, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_RSEQ, 27);
TC_CONFIG(cfg_rseq_ow, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_RSEQ, 27);
TC_CONFIG(cfg_ts8, RTR_RING_ALLOC_GLOBAL, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC, 8);
TC_CONFIG(cfg_atomic_pcpu, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC, 27);
TC_CONFIG(cfg_rseq_ow_atomic, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_ATOMIC, 27);

#define SB 4096u

struct setup {
	struct rtr_ring_chan *chan;
	struct rtr_ring_buf *buf; /* the buffer tests write to */
	uint32_t nr;
};

/* A channel whose every slot points at one buffer (index 0), so single
 * threaded tests see one buffer whatever CPU they run on. Per-CPU rseq
 * configs instead get a buffer per CPU and the test pins itself to CPU 0. */
static struct setup make(const struct rtr_ring_config *cfg, uint32_t num_subbuf)
{
	struct rtr_ring_geometry geo = {.subbuf_size = SB, .num_subbuf = num_subbuf};
	struct setup s = {0};
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);

	s.nr = cfg->alloc == RTR_RING_ALLOC_GLOBAL ? 1 : (uint32_t)ncpu;
	s.chan = rtr_ring_chan_alloc(s.nr);
	REQUIRE(s.chan);
	for (uint32_t i = 0; i < s.nr; i++) {
		REQUIRE(rtr_ring_buf_create(cfg, &geo, i, "test", &s.chan->bufs[i]) == 0);
	}
	s.buf = s.chan->bufs[0];
	if (cfg->alloc == RTR_RING_ALLOC_PER_CPU) {
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(0, &one);
		REQUIRE(sched_setaffinity(0, sizeof(one), &one) == 0);
	}
	return s;
}

static void unmake(struct setup *s)
{
	for (uint32_t i = 0; i < s->nr; i++)
		rtr_ring_buf_destroy(s->chan->bufs[i]);
	rtr_ring_chan_free(s->chan);
	s->chan = NULL;
}

struct collect {
	uint64_t next_seq[64];
	long records;
	bool ordered;
	uint64_t last_len;
};

static void on_rec(void *arg, const struct tc_record *r)
{
	struct collect *c = arg;

	if (r->writer >= 64 || r->seq != c->next_seq[r->writer])
		c->ordered = false;
	else
		c->next_seq[r->writer]++;
	c->last_len = r->len;
	c->records++;
}

/* Drains every complete sub-buffer of buf, checking each. Returns packets. */
static long drain(const struct rtr_ring_config *cfg, struct rtr_ring_buf *buf, struct collect *c,
		  uint64_t *first_seq, uint64_t *last_seq)
{
	struct rtr_ring_subbuf sb;
	long packets = 0;

	while (rtr_ring_get_subbuf(cfg, buf, &sb) == 0) {
		const char *why = "";
		long n = tc_walk(&sb, on_rec, c, &why);

		if (n < 0)
			RTR_TEST_FAIL_("walk: %s", why);
		if (packets == 0 && first_seq)
			*first_seq = sb.info.seq;
		if (last_seq)
			*last_seq = sb.info.seq;
		packets++;
		CHECK(rtr_ring_put_subbuf(cfg, buf) == 0);
	}
	return packets;
}

static void test_config_check(void)
{
	struct rtr_ring_config bad = cfg_rseq;
	struct rtr_ring_geometry geo = {.subbuf_size = SB, .num_subbuf = 4};
	const char *why = NULL;

	CHECK(rtr_ring_config_check(&cfg_rseq, &geo, &why) == 0);
	bad.alloc = RTR_RING_ALLOC_GLOBAL;
	CHECK(rtr_ring_config_check(&bad, &geo, &why) == -EINVAL && why);
	geo.subbuf_size = 5000;
	CHECK(rtr_ring_config_check(&cfg_rseq, &geo, &why) == -EINVAL);
	geo.subbuf_size = SB;
	geo.num_subbuf = 3;
	CHECK(rtr_ring_config_check(&cfg_rseq, &geo, &why) == -EINVAL);
	geo.num_subbuf = 1;
	CHECK(rtr_ring_config_check(&cfg_rseq, &geo, &why) == -EINVAL);
	bad = cfg_rseq;
	bad.record_align = 3;
	geo.num_subbuf = 4;
	CHECK(rtr_ring_config_check(&bad, &geo, &why) == -EINVAL);
}

/* Records fill a sub-buffer, the one that does not fit goes to the next,
 * padding completes the first: data sizes and seqs must say exactly that. */
static void test_switch_and_padding(const struct rtr_ring_config *cfg)
{
	struct setup s = make(cfg, 4);
	struct collect c = {.ordered = true};
	struct rtr_ring_subbuf sb;
	/* 48-byte packet header + n * (4 + 100) bytes; 39 records = 4104 > 4096,
	 * so 38 fit (48 + 3952 = 4000) and the 39th opens sub-buffer 1. */
	for (uint64_t i = 0; i < 39; i++)
		REQUIRE(tc_write(cfg, s.chan, 0, i, 100) == 0);
	REQUIRE(rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0);
	CHECK_EQ_U64(sb.info.seq, 0);
	CHECK_EQ_U64(sb.len, 48 + 38 * 104);
	CHECK_EQ_U64(sb.data - s.buf->data, 0);
	{
		const char *why = "";
		CHECK(tc_walk(&sb, on_rec, &c, &why) == 38);
	}
	CHECK(rtr_ring_get_subbuf(cfg, s.buf, &sb) == -EBUSY);
	CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	CHECK(rtr_ring_put_subbuf(cfg, s.buf) == -EINVAL);
	/* The second sub-buffer is open: not readable until closed. */
	CHECK(rtr_ring_get_subbuf(cfg, s.buf, &sb) == -EAGAIN);
	CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_ACTIVE, false) == 0);
	REQUIRE(rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0);
	CHECK_EQ_U64(sb.info.seq, 1);
	CHECK_EQ_U64(sb.len, 48 + 104);
	CHECK_EQ_U64(sb.data - s.buf->data, SB);
	{
		const char *why = "";
		CHECK(tc_walk(&sb, on_rec, &c, &why) == 1);
	}
	CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	CHECK(c.ordered && c.records == 39);
	/* Padding was accounted: both sub-buffers' counts are exactly one lap. */
	CHECK_EQ_U64(atomic_load(&s.buf->ctl->sb[0].cc_local) + atomic_load(&s.buf->ctl->sb[0].cc_remote), SB);
	CHECK_EQ_U64(atomic_load(&s.buf->ctl->sb[1].cc_local) + atomic_load(&s.buf->ctl->sb[1].cc_remote), SB);
	{
		struct rtr_ring_stats st;

		rtr_ring_buf_stats(s.buf, &st);
		CHECK_EQ_U64(st.records, 39);
		CHECK_EQ_U64(st.produced, 2 * SB);
		CHECK_EQ_U64(st.consumed, 2 * SB);
	}
	unmake(&s);
}

/* A record that ends exactly at the sub-buffer end completes it at commit. */
static void test_exact_fit(const struct rtr_ring_config *cfg)
{
	struct setup s = make(cfg, 2);
	struct rtr_ring_subbuf sb;
	uint32_t len = SB - TC_PKT_HDR - 4; /* header 4 bytes: fills it exactly */

	REQUIRE(tc_write(cfg, s.chan, 0, 0, len) == 0);
	REQUIRE(rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0);
	CHECK_EQ_U64(sb.len, SB);
	CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	CHECK_EQ_U64(atomic_load(&s.buf->ctl->pos.offset), SB);
	/* Too big for any sub-buffer: refused and counted, nothing reserved. */
	CHECK(tc_write(cfg, s.chan, 0, 1, SB) == -ENOSPC);
	CHECK_EQ_U64(atomic_load(&s.buf->ctl->lost_big), 1);
	CHECK_EQ_U64(atomic_load(&s.buf->ctl->pos.offset), SB);
	unmake(&s);
}

/* Discard mode: no reader, the buffer fills, records are dropped and
 * counted; once the reader frees a sub-buffer writing resumes. Then many
 * laps with the reader keeping up: positions run free, seqs never skip. */
static void test_discard_full_and_wrap(const struct rtr_ring_config *cfg)
{
	struct setup s = make(cfg, 4);
	struct collect c = {.ordered = true};
	uint64_t written = 0, lost = 0, first = 0, last = 0, seq = 0;
	long packets;

	for (int i = 0; i < 400; i++) {
		int r = tc_write(cfg, s.chan, 0, seq, 200);

		if (r == 0) {
			written++;
			seq++;
		} else {
			CHECK(r == -ENOBUFS);
			lost++;
		}
	}
	/* 4 sub-buffers of (4096-48)/204 = 19 records; the 4th stays open
	 * and a 5th cannot be opened. */
	CHECK_EQ_U64(written, 4 * 19);
	CHECK_EQ_U64(lost, 400 - 4 * 19);
	CHECK_EQ_U64(atomic_load(&s.buf->ctl->lost_full), lost);
	packets = drain(cfg, s.buf, &c, &first, &last);
	CHECK_EQ_U64(packets, 3);
	/* The packet that closed after the losses reports them. */
	CHECK(tc_write(cfg, s.chan, 0, seq++, 200) == 0);
	written++;
	{
		struct rtr_ring_subbuf sb;

		REQUIRE(rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0);
		CHECK_EQ_U64(sb.info.seq, 3);
		CHECK_EQ_U64(sb.info.lost, lost);
		CHECK(tc_walk(&sb, on_rec, &c, &(const char *){""}) == 19);
		CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	}
	/* Many laps, reader keeping up. */
	for (int lap = 0; lap < 50; lap++) {
		for (int i = 0; i < 40; i++) {
			CHECK(tc_write(cfg, s.chan, 0, seq++, 100 + (uint32_t)(i % 7) * 13) == 0);
			written++;
		}
		drain(cfg, s.buf, &c, NULL, &last);
	}
	CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_ACTIVE, false) == 0);
	drain(cfg, s.buf, &c, NULL, &last);
	CHECK(c.ordered);
	CHECK_EQ_U64((uint64_t)c.records, written);
	CHECK_EQ_U64(last + 1, atomic_load(&s.buf->ctl->pos.offset) / SB);
	CHECK(atomic_load(&s.buf->ctl->pos.offset) > 8ull * 4 * SB); /* wrapped many times */
	unmake(&s);
}

/* Timestamps: a clock that goes backwards is clamped; a gap of 2^ts_bits
 * forces a full timestamp. */
static void test_timestamps(void)
{
	const struct rtr_ring_config *cfg = &cfg_ts8;
	struct setup s;
	struct rtr_ring_ctx ctx = {.payload_size = 24};

	atomic_store(&tc_fake_clock, 1);
	atomic_store(&tc_fake_now, 1000);
	s = make(cfg, 2);
	REQUIRE(rtr_ring_reserve(cfg, s.chan, &ctx) == 0);
	CHECK_EQ_U64(ctx.ts, 1000);
	rtr_ring_commit(cfg, &ctx);
	atomic_store(&tc_fake_now, 900); /* backwards */
	REQUIRE(rtr_ring_reserve(cfg, s.chan, &ctx) == 0);
	CHECK_EQ_U64(ctx.ts, 1000);
	CHECK(!ctx.full_ts);
	rtr_ring_commit(cfg, &ctx);
	atomic_store(&tc_fake_now, 1000 + 255);
	REQUIRE(rtr_ring_reserve(cfg, s.chan, &ctx) == 0);
	CHECK(!ctx.full_ts);
	CHECK_EQ_U64(ctx.header_size, 4);
	rtr_ring_commit(cfg, &ctx);
	atomic_store(&tc_fake_now, 1255 + 256);
	REQUIRE(rtr_ring_reserve(cfg, s.chan, &ctx) == 0);
	CHECK(ctx.full_ts);
	CHECK_EQ_U64(ctx.header_size, 12);
	rtr_ring_commit(cfg, &ctx);
	CHECK_EQ_U64(atomic_load(&s.buf->ctl->pos.last_ts), 1511);
	atomic_store(&tc_fake_clock, 0);
	unmake(&s);
}

/* Flush modes: ACTIVE closes a packet only if it holds records; EMPTY
 * produces a header-only packet even when nothing is open. */
static void test_flush(const struct rtr_ring_config *cfg)
{
	struct setup s = make(cfg, 4);
	struct rtr_ring_subbuf sb;

	CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_ACTIVE, false) == 0);
	CHECK(rtr_ring_get_subbuf(cfg, s.buf, &sb) == -EAGAIN);
	CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_EMPTY, false) == 0);
	REQUIRE(rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0);
	CHECK_EQ_U64(sb.len, TC_PKT_HDR);
	CHECK(sb.info.begin_ts <= sb.info.end_ts);
	CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	CHECK(tc_write(cfg, s.chan, 0, 0, 64) == 0);
	CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_ACTIVE, true) == 0);
	REQUIRE(rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0);
	CHECK_EQ_U64(sb.info.seq, 1);
	CHECK_EQ_U64(sb.len, TC_PKT_HDR + 4 + 64);
	CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	unmake(&s);
}

/* Nesting: a fifth reservation while four are open is refused and counted. */
static void test_nesting_bound(void)
{
	const struct rtr_ring_config *cfg = &cfg_atomic_global;
	struct setup s = make(cfg, 4);
	struct rtr_ring_ctx ctx[RTR_RING_MAX_NESTING + 1];

	for (int i = 0; i < RTR_RING_MAX_NESTING; i++) {
		ctx[i] = (struct rtr_ring_ctx){.payload_size = 24};
		REQUIRE(rtr_ring_reserve(cfg, s.chan, &ctx[i]) == 0);
	}
	ctx[RTR_RING_MAX_NESTING] = (struct rtr_ring_ctx){.payload_size = 24};
	CHECK(rtr_ring_reserve(cfg, s.chan, &ctx[RTR_RING_MAX_NESTING]) == -EBUSY);
	CHECK_EQ_U64(atomic_load(&s.buf->ctl->refused_nest), 1);
	for (int i = RTR_RING_MAX_NESTING - 1; i >= 0; i--) {
		tc_put_header(&ctx[i]);
		tc_fill_payload((unsigned char *)ctx[i].wp, 0, (uint64_t)i, 24);
		rtr_ring_commit(cfg, &ctx[i]);
	}
	CHECK_EQ_U64(rtr_ring_nesting, 0);
	unmake(&s);
}

/* Overwrite mode: three laps without a reader, then a snapshot yields the
 * newest sub-buffers, intact, with contiguous sequence numbers. */
static void test_overwrite_snapshot(const struct rtr_ring_config *cfg)
{
	struct setup s = make(cfg, 4);
	struct collect c = {.ordered = true};
	struct rtr_ring_subbuf sb;
	uint64_t seq = 0, expect_seq, last_rec_seq = 0;
	long packets = 0;

	for (int i = 0; i < 12 * 19 + 5; i++)
		REQUIRE(tc_write(cfg, s.chan, 0, seq++, 200) == 0);
	{
		struct rtr_ring_stats st;

		rtr_ring_buf_stats(s.buf, &st);
		CHECK(st.overwritten >= 8);
	}
	CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_ACTIVE, false) == 0);
	CHECK(rtr_ring_snapshot_start(cfg, s.buf) == 0);
	expect_seq = atomic_load(&s.buf->ctl->pos.offset) / SB - 4;
	while (rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0) {
		const char *why = "";
		struct collect one = {.ordered = true};

		CHECK_EQ_U64(sb.info.seq, expect_seq);
		expect_seq++;
		if (tc_walk(&sb, on_rec, &one, &why) < 0)
			RTR_TEST_FAIL_("snapshot walk: %s", why);
		c.records += one.records;
		packets++;
		CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	}
	(void)last_rec_seq;
	CHECK_EQ_U64(packets, 4);
	CHECK_EQ_U64((uint64_t)c.records, 3 * 19 + 5);
	/* Writers go on after a snapshot: still intact, still in order. */
	for (int i = 0; i < 30; i++)
		REQUIRE(tc_write(cfg, s.chan, 0, seq++, 200) == 0);
	CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_ACTIVE, false) == 0);
	CHECK(rtr_ring_snapshot_start(cfg, s.buf) == 0);
	packets = drain(cfg, s.buf, &(struct collect){.ordered = true}, NULL, NULL);
	CHECK(packets >= 2);
	unmake(&s);
}

/* Salvage after writers died: a trailing reserved-but-uncommitted record is
 * cut off; an uncommitted record followed by a committed one cuts at the
 * committed prefix; every record before is kept. */
static void test_salvage(const struct rtr_ring_config *cfg)
{
	struct setup s = make(cfg, 4);
	struct rtr_ring_ctx torn = {.payload_size = 64}, after = {.payload_size = 64};
	struct rtr_ring_subbuf sb;
	struct collect c = {.ordered = true};

	for (uint64_t i = 0; i < 25; i++) /* 19 in sub-buffer 0, 6 in 1 */
		REQUIRE(tc_write(cfg, s.chan, 0, i, 200) == 0);
	REQUIRE(rtr_ring_reserve(cfg, s.chan, &torn) == 0);
	memset(torn.wp, 0xee, 20); /* half written, never committed */
	REQUIRE(rtr_ring_reserve(cfg, s.chan, &after) == 0);
	{
		tc_put_header(&after);
		tc_fill_payload((unsigned char *)after.wp, 1, 0, 64);
		rtr_ring_commit(cfg, &after);
	}
	rtr_ring_nesting = 0; /* the torn reservation's thread "died" */
	CHECK(rtr_ring_salvage(cfg, s.buf) == 0);
	REQUIRE(rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0);
	CHECK_EQ_U64(sb.info.seq, 0);
	CHECK(tc_walk(&sb, on_rec, &c, &(const char *){""}) == 19);
	CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	REQUIRE(rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0);
	CHECK_EQ_U64(sb.info.seq, 1);
	CHECK(sb.info.flags & RTR_RING_PACKET_TRUNCATED);
	CHECK_EQ_U64(sb.len, TC_PKT_HDR + 6 * 204);
	CHECK(tc_walk(&sb, on_rec, &c, &(const char *){""}) == 6);
	CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	CHECK(c.ordered && c.records == 25);
	{
		struct rtr_ring_stats st;

		rtr_ring_buf_stats(s.buf, &st);
		CHECK_EQ_U64(st.salvage_dropped_bytes, 2 * (4 + 64));
	}
	CHECK(rtr_ring_get_subbuf(cfg, s.buf, &sb) == -EAGAIN);
	unmake(&s);
}

/* ------------------------------------------------------------------------
 * A dead writer's slot while other writers go on (per-user buffers,
 * rtr_ring_stalled / rtr_ring_unstall; docs/design/daemon.md §9.5)
 * ------------------------------------------------------------------------ */

static void test_unstall(const struct rtr_ring_config *cfg)
{
	struct setup s = make(cfg, 4);
	struct rtr_ring_ctx torn;
	struct rtr_ring_subbuf sb;
	struct collect c0 = {.ordered = true}, c1 = {.ordered = true};
	uint64_t pos = 0, cc = 0, dropped = 0;

	CHECK(rtr_ring_stalled(cfg, s.buf, &pos, &cc) == -EAGAIN); /* nothing yet */
	for (uint64_t i = 0; i < 25; i++) /* 19 in sub-buffer 0, 6 in 1 */
		REQUIRE(tc_write(cfg, s.chan, 0, i, 200) == 0);
	torn = (struct rtr_ring_ctx){.payload_size = 64};
	REQUIRE(rtr_ring_reserve(cfg, s.chan, &torn) == 0);
	memset(torn.wp, 0xee, 20);
	rtr_ring_nesting = 0; /* its writer "died"; another goes on */
	for (uint64_t i = 0; i < 20; i++) /* closes sub-buffer 1, into 2 */
		REQUIRE(tc_write(cfg, s.chan, 1, i, 200) == 0);
	REQUIRE(rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0);
	CHECK(tc_walk(&sb, on_rec, &c0, &(const char *){""}) == 19);
	CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	CHECK(rtr_ring_get_subbuf(cfg, s.buf, &sb) == -EAGAIN); /* stalled */
	REQUIRE(rtr_ring_stalled(cfg, s.buf, &pos, &cc) == 0);
	CHECK_EQ_U64(pos, SB);
	CHECK(cc < SB && cc > 6 * 204); /* lap 0: complete at SB */
	/* a commit since the look: the writer lives, nothing changes */
	CHECK(rtr_ring_unstall(cfg, s.buf, pos, cc - 1, &dropped) == -EAGAIN);
	CHECK_EQ_U64(dropped, 0);
	CHECK(rtr_ring_get_subbuf(cfg, s.buf, &sb) == -EAGAIN);
	/* not left by the writers: the open sub-buffer is never taken */
	CHECK(rtr_ring_unstall(cfg, s.buf, 2 * SB, 2 * SB, &dropped) == -EAGAIN);
	CHECK(rtr_ring_unstall(cfg, s.buf, pos, cc, &dropped) == 0);
	CHECK(dropped > 64);
	REQUIRE(rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0);
	CHECK_EQ_U64(sb.info.seq, 1);
	CHECK(sb.info.flags & RTR_RING_PACKET_TRUNCATED);
	CHECK(sb.info.flags & RTR_RING_PACKET_SALVAGED);
	CHECK_EQ_U64(sb.len, TC_PKT_HDR + 6 * 204); /* the committed prefix only */
	CHECK(tc_walk(&sb, on_rec, &c0, &(const char *){""}) == 6);
	CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	CHECK(c0.ordered && c0.records == 25);
	{
		struct rtr_ring_stats st;

		rtr_ring_buf_stats(s.buf, &st);
		CHECK_EQ_U64(st.salvage_dropped_bytes, dropped);
	}
	/* the writers go round twice more: every lap of that sub-buffer
	 * completes again (no count left over), nothing else stalls */
	for (uint64_t i = 20; i < 200; i++) {
		REQUIRE(tc_write(cfg, s.chan, 1, i, 200) == 0);
		drain(cfg, s.buf, &c1, NULL, NULL);
	}
	CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_ACTIVE, false) == 0);
	drain(cfg, s.buf, &c1, NULL, NULL);
	CHECK(rtr_ring_stalled(cfg, s.buf, &pos, &cc) == -EAGAIN);
	CHECK(rtr_ring_get_subbuf(cfg, s.buf, &sb) == -EAGAIN);
	{
		struct rtr_ring_stats st;

		rtr_ring_buf_stats(s.buf, &st);
		CHECK_EQ_U64(st.lost_full, 0);
		CHECK_EQ_U64(st.produced, st.consumed);
	}
	/* writer 1's records after the cut are gone, the rest all there */
	CHECK(c1.records > 150 && c1.records < 200);
	unmake(&s);
}

/* Overwrite mode: writers refuse to lap a sub-buffer a dead writer left
 * incomplete (lost_wrap); once it is completed they go round again. */
static void test_unstall_overwrite(const struct rtr_ring_config *cfg)
{
	struct setup s = make(cfg, 4);
	struct rtr_ring_ctx torn = {.payload_size = 64};
	struct rtr_ring_stats st;
	uint64_t pos = 0, cc = 0, dropped = 0, wrap;

	for (uint64_t i = 0; i < 25; i++)
		REQUIRE(tc_write(cfg, s.chan, 0, i, 200) == 0);
	REQUIRE(rtr_ring_reserve(cfg, s.chan, &torn) == 0);
	rtr_ring_nesting = 0;
	for (uint64_t i = 0; i < 200; i++)
		(void)tc_write(cfg, s.chan, 1, i, 200); /* refused once round */
	rtr_ring_buf_stats(s.buf, &st);
	CHECK(st.lost_wrap > 0);
	REQUIRE(rtr_ring_stalled(cfg, s.buf, &pos, &cc) == 0);
	CHECK_EQ_U64(pos, SB);
	CHECK(rtr_ring_unstall(cfg, s.buf, pos, cc, &dropped) == 0);
	wrap = st.lost_wrap;
	for (uint64_t i = 200; i < 400; i++)
		CHECK(tc_write(cfg, s.chan, 1, i, 200) == 0);
	rtr_ring_buf_stats(s.buf, &st);
	CHECK_EQ_U64(st.lost_wrap, wrap);
	CHECK(rtr_ring_stalled(cfg, s.buf, &pos, &cc) == -EAGAIN);
	unmake(&s);
}

/* ------------------------------------------------------------------------
 * Salvage never hands out a torn record (issue 11, item 11)
 * ------------------------------------------------------------------------ */

/* Reserves a test record and writes half of it (what a writer killed
 * before its commit leaves behind). */
static void reserve_torn(const struct rtr_ring_config *cfg, struct rtr_ring_chan *chan,
			 struct rtr_ring_ctx *ctx, uint32_t len)
{
	*ctx = (struct rtr_ring_ctx){.payload_size = len};
	REQUIRE(rtr_ring_reserve(cfg, chan, ctx) == 0);
	tc_put_header(ctx);
	memset(ctx->wp, 0xab, len / 2);
}

/* The slot a writer died in is exactly as long as the padding the closer
 * committed: the commit count then equals the data size, which once made
 * salvage return the torn record as valid. It must cut the packet at the
 * committed prefix and count the rest as dropped. */
static void test_salvage_padding_tie(const struct rtr_ring_config *cfg)
{
	struct setup s = make(cfg, 4);
	struct rtr_ring_ctx a;
	struct rtr_ring_subbuf sb;
	struct rtr_ring_stats st;
	struct collect c = {.ordered = true};

	/* A: 104-byte slot at 48, never committed. B: 30 slots of 128 bytes
	 * end at 48 + 104 + 3840 = 3992; B's next record (204 bytes) does
	 * not fit in the 104 left: it closes sub-buffer 0 with 104 bytes of
	 * padding (= A's slot) and goes to sub-buffer 1. */
	reserve_torn(cfg, s.chan, &a, 100);
	for (uint64_t i = 0; i < 30; i++)
		REQUIRE(tc_write(cfg, s.chan, 1, i, 124) == 0);
	REQUIRE(tc_write(cfg, s.chan, 1, 30, 200) == 0);
	CHECK_EQ_U64(atomic_load(&s.buf->ctl->sb[0].data_size), 3992);
	rtr_ring_nesting = 0; /* A's thread "died" */
	CHECK(rtr_ring_salvage(cfg, s.buf) == 0);
	REQUIRE(rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0);
	CHECK_EQ_U64(sb.info.seq, 0);
	CHECK(sb.info.flags & RTR_RING_PACKET_TRUNCATED);
	CHECK_EQ_U64(sb.len, TC_PKT_HDR); /* A's slot was the first: nothing before it */
	CHECK(tc_walk(&sb, on_rec, &c, &(const char *){""}) == 0);
	CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	REQUIRE(rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0);
	CHECK_EQ_U64(sb.info.seq, 1);
	CHECK(!(sb.info.flags & RTR_RING_PACKET_TRUNCATED));
	CHECK(tc_walk(&sb, on_rec, &c, &(const char *){""}) == 1);
	CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	rtr_ring_buf_stats(s.buf, &st);
	CHECK_EQ_U64(st.salvage_dropped_bytes, 3992 - TC_PKT_HDR);
	unmake(&s);
}

/* The class: a single thread with nested writers (signal handlers:
 * reservations committed last-in first-out), sizes drawn so that slots
 * often equal some padding, flushes in between, killed with some
 * reservations open. Whatever salvage keeps must be intact and committed;
 * it must keep every committed record reserved before the first one left
 * open, and every record of a sub-buffer that holds no open one. */
struct model_rec {
	uint64_t pos;     /* slot position (sub-buffer = pos / SB) */
	uint32_t slot;
	bool committed;
	bool seen;
};

static void on_model(void *arg, const struct tc_record *r)
{
	struct model_rec *m = arg;

	if (r->writer != 0 || r->seq >= 512 || !m[r->seq].committed || m[r->seq].seen)
		m[511].seen = true; /* phantom, torn or twice: flagged on a sentinel */
	else
		m[r->seq].seen = true;
}

static void test_salvage_model(const struct rtr_ring_config *cfg, int rounds)
{
	uint64_t rng = 0x5a17a6e0ull, ties = 0, cut = 0;

	for (int round = 0; round < rounds; round++) {
		struct setup s = make(cfg, 4);
		struct model_rec m[512] = {{0}};
		struct rtr_ring_ctx stack[RTR_RING_MAX_NESTING];
		uint32_t depth = 0, n = 0;
		uint64_t first_open = UINT64_MAX, open_sb[RTR_RING_MAX_NESTING];
		uint32_t seqs[RTR_RING_MAX_NESTING];
		struct rtr_ring_subbuf sb;
		struct rtr_ring_stats st;
		uint64_t lost_bytes = 0;

		/* Every other round steers to the case that once went wrong: a
		 * slot left open at the bottom (`keep`), the rest of its
		 * sub-buffer filled so that exactly its length remains, then a
		 * record that does not fit closes it with that much padding. */
		bool steer = round % 2 == 1;
		uint32_t keep = steer ? 1 : 0;

		if (steer) {
			uint32_t len = 24 + 8 * (uint32_t)(rtr_test_xorshift(&rng) % 12);

			stack[0] = (struct rtr_ring_ctx){.payload_size = len};
			REQUIRE(rtr_ring_reserve(cfg, s.chan, &stack[0]) == 0);
			m[n].pos = stack[0].pos;
			m[n].slot = stack[0].slot_size;
			seqs[0] = n++;
			depth = 1;
		}
		/* Stay below 3 sub-buffers: no wrap, no full buffer. */
		while (n < 500 && atomic_load(&s.buf->ctl->pos.offset) < 3 * SB - 400) {
			uint64_t dice = rtr_test_xorshift(&rng) % 16;

			if (dice < 7 && depth < RTR_RING_MAX_NESTING) {
				/* reserve (possibly nested): payload 24..336 step 8 */
				uint32_t len = 24 + 8 * (uint32_t)(rtr_test_xorshift(&rng) % 40);
				uint64_t off = atomic_load(&s.buf->ctl->pos.offset);
				uint64_t rem = SB - (off & (SB - 1));

				if (steer && m[seqs[0]].pos / SB == off / SB) {
					uint64_t want = m[seqs[0]].slot;

					if (rem == want)
						len = 400; /* closes with padding == the open slot */
					else if (rem >= want + 4 + 24 && rem - want - 4 <= 400)
						len = (uint32_t)(rem - want - 4);
				}

				stack[depth] = (struct rtr_ring_ctx){.payload_size = len};
				REQUIRE(rtr_ring_reserve(cfg, s.chan, &stack[depth]) == 0);
				m[n].pos = stack[depth].pos;
				m[n].slot = stack[depth].slot_size;
				seqs[depth] = n++;
				depth++;
			} else if (dice < 15 && depth > keep) {
				/* the innermost one completes */
				struct rtr_ring_ctx *ctx = &stack[--depth];
				uint32_t h = (uint32_t)ctx->payload_size;

				tc_put_header(ctx);
				tc_fill_payload((unsigned char *)ctx->wp, 0, seqs[depth], h);
				rtr_ring_commit(cfg, ctx);
				m[seqs[depth]].committed = true;
			} else if (dice == 15) {
				CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_ACTIVE, false) == 0);
			}
		}
		/* The thread dies with `depth` reservations open: write half. */
		for (uint32_t i = 0; i < depth; i++) {
			memset(stack[i].wp, 0xcd, stack[i].payload_size / 2 + 4);
			open_sb[i] = m[seqs[i]].pos / SB;
			if (m[seqs[i]].pos < first_open)
				first_open = m[seqs[i]].pos;
		}
		/* Count ties: an open slot as long as its sub-buffer's padding. */
		for (uint32_t i = 0; i < depth; i++) {
			uint64_t idx = open_sb[i] % 4, ds;

			if (atomic_load(&s.buf->ctl->sb[idx].end_pos) != open_sb[i] * SB)
				continue;
			ds = atomic_load(&s.buf->ctl->sb[idx].data_size);
			if (SB - ds == m[seqs[i]].slot)
				ties++;
		}
		rtr_ring_nesting = 0;
		CHECK(rtr_ring_salvage(cfg, s.buf) == 0);
		while (rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0) {
			const char *why = "";

			if (tc_walk(&sb, on_model, m, &why) < 0)
				RTR_TEST_FAIL_("round %d: salvaged packet %llu: %s", round,
					       (unsigned long long)sb.info.seq, why);
			CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
		}
		CHECK(!m[511].seen);
		for (uint32_t i = 0; i < n; i++) {
			bool shares_open = false;

			if (!m[i].committed || m[i].seen)
				continue;
			for (uint32_t k = 0; k < depth; k++)
				if (open_sb[k] == m[i].pos / SB)
					shares_open = true;
			if (m[i].pos < first_open || !shares_open)
				RTR_TEST_FAIL_("round %d: committed record %u (pos %llu) lost", round,
					       i, (unsigned long long)m[i].pos);
			lost_bytes += m[i].slot;
			cut++;
		}
		rtr_ring_buf_stats(s.buf, &st);
		CHECK(st.salvage_dropped_bytes >= lost_bytes);
		unmake(&s);
	}
	/* The generator does reach the case that once went wrong. */
	CHECK(ties > 0);
	printf("salvage model (%s): %d rounds, %llu open slots equal to their padding, "
	       "%llu committed records cut with an open one\n",
	       cfg->sync == RTR_RING_SYNC_RSEQ ? "rseq" : "atomic", rounds,
	       (unsigned long long)ties, (unsigned long long)cut);
}

/* ------------------------------------------------------------------------
 * Every refusal is visible to the reader (issue 11, item 15)
 * ------------------------------------------------------------------------ */

static uint64_t chan_visible_lost(const struct setup *s)
{
	uint64_t v = 0;

	for (uint32_t i = 0; i < s->nr; i++)
		if (s->chan->bufs[i])
			v += rtr_ring_buf_lost(s->chan->bufs[i]);
	return v;
}

struct norseq_arg {
	const struct rtr_ring_config *cfg;
	struct setup *s;
	int unregistered;
	uint64_t refused, written;
};

/* Drops this thread's rseq registration and leaves in its area what glibc
 * leaves when registration fails (cpu_id -2). */
static int drop_rseq(void)
{
#if RTR_HAVE_RSEQ
	struct rseq *rs = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);

	if (!rtr_rseq_registered())
		return 1; /* process without rseq: already the case */
	for (unsigned int len = 32; len >= 20; len -= 4)
		if (syscall(SYS_rseq, rs, len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == 0) {
			rs->cpu_id = (uint32_t)RSEQ_CPU_ID_REGISTRATION_FAILED;
			return 1;
		}
#endif
	return 0;
}

static void *norseq_thread(void *p)
{
	struct norseq_arg *a = p;

	a->unregistered = drop_rseq();
	if (!a->unregistered)
		return NULL;
	for (uint64_t i = 0; i < 100; i++) {
		if (tc_write(a->cfg, a->s->chan, 5, i, 40) == 0)
			a->written++;
		else
			a->refused++;
	}
	return NULL;
}

static void test_losses_visible(void)
{
	/* A hole: no buffer for the CPU the writer runs on (pinned to 0). */
	{
		struct setup s = make(&cfg_atomic_pcpu, 4);
		uint64_t refused = 0;

		if (s.nr < 2) {
			printf("one CPU: hole case not run\n");
		} else {
			rtr_ring_buf_destroy(s.chan->bufs[0]);
			s.chan->bufs[0] = NULL;
			for (uint64_t i = 0; i < 1000; i++)
				if (tc_write(&cfg_atomic_pcpu, s.chan, 0, i, 64) == -ENODEV)
					refused++;
			CHECK_EQ_U64(refused, 1000);
			CHECK_EQ_U64(chan_visible_lost(&s), 1000);
			CHECK_EQ_U64(atomic_load(&s.chan->lost_nobuf), 0);
		}
		unmake(&s);
	}
	/* A disabled channel: refused at the next slow path, counted. */
	{
		struct setup s = make(&cfg_atomic_global, 4);
		uint64_t refused = 0, written = 0;
		struct rtr_ring_stats st;

		atomic_store(&s.chan->disabled, 1);
		for (uint64_t i = 0; i < 100; i++) {
			int r = tc_write(&cfg_atomic_global, s.chan, 0, i, 64);

			if (r == 0)
				written++;
			else if (r == -ENODEV)
				refused++;
		}
		CHECK(refused > 0);
		CHECK_EQ_U64(refused + written, 100);
		rtr_ring_buf_stats(s.buf, &st);
		CHECK_EQ_U64(st.lost_nobuf, refused);
		CHECK_EQ_U64(rtr_ring_buf_lost(s.buf), refused);
		/* A client's own refusal (e.g. an unknown binding) too. */
		rtr_ring_chan_count_lost(s.chan);
		CHECK_EQ_U64(rtr_ring_buf_lost(s.buf), refused + 1);
		CHECK_EQ_U64(rtr_ring_nesting, 0);
		unmake(&s);
	}
	/* A thread whose rseq registration failed: an RSEQ channel refuses
	 * and counts its records; an ATOMIC per-CPU channel takes them. */
	if (RTR_HAVE_RSEQ) {
		const struct rtr_ring_config *cfgs[2] = {&cfg_rseq, &cfg_atomic_pcpu};

		for (int k = 0; k < 2; k++) {
			struct setup s = make(cfgs[k], 4);
			struct norseq_arg a = {.cfg = cfgs[k], .s = &s};
			pthread_t t;

			REQUIRE(pthread_create(&t, NULL, norseq_thread, &a) == 0);
			pthread_join(t, NULL);
			if (!a.unregistered) {
				printf("cannot drop a thread's rseq registration here: case not run\n");
			} else if (k == 0) {
				CHECK_EQ_U64(a.refused, 100);
				CHECK_EQ_U64(chan_visible_lost(&s), 100);
			} else {
				CHECK_EQ_U64(a.written, 100);
				CHECK_EQ_U64(chan_visible_lost(&s), 0);
			}
			unmake(&s);
		}
	}
}

/* ------------------------------------------------------------------------
 * Overwrite mode counts overwritten records exactly
 * ------------------------------------------------------------------------ */

/* Writers lap a reader that reads now and then: every committed record is
 * read exactly once or counted in overwritten_records, and every
 * sub-buffer missing from the sequence numbers is counted in overwritten. */
static void test_overwrite_books(const struct rtr_ring_config *cfg)
{
	struct setup s = make(cfg, 4);
	struct collect c = {.ordered = true};
	struct rtr_ring_subbuf sb;
	struct rtr_ring_stats st;
	uint64_t rng = 77, seq = 0, packets = 0, next_pkt = 0, gaps = 0;

	for (int step = 0; step < 3000; step++) {
		uint32_t len = 24 + (uint32_t)(rtr_test_xorshift(&rng) % 300);

		REQUIRE(tc_write(cfg, s.chan, 0, seq++, len) == 0);
		if (rtr_test_xorshift(&rng) % 97 == 0) {
			/* read one or two, snapshot now and then */
			if (rtr_test_xorshift(&rng) % 4 == 0) {
				CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_ACTIVE, false) == 0);
				CHECK(rtr_ring_snapshot_start(cfg, s.buf) == 0);
			}
			for (int k = 0; k < 2 && rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0; k++) {
				CHECK(tc_walk(&sb, on_rec, &c, &(const char *){""}) >= 0);
				gaps += sb.info.seq - next_pkt;
				next_pkt = sb.info.seq + 1;
				packets++;
				CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
			}
		}
	}
	CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_ACTIVE, false) == 0);
	CHECK(rtr_ring_snapshot_start(cfg, s.buf) == 0);
	while (rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0) {
		CHECK(tc_walk(&sb, on_rec, &c, &(const char *){""}) >= 0);
		gaps += sb.info.seq - next_pkt;
		next_pkt = sb.info.seq + 1;
		packets++;
		CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	}
	rtr_ring_buf_stats(s.buf, &st);
	CHECK_EQ_U64(st.records, seq);
	CHECK(st.overwritten_records > 0);
	CHECK_EQ_U64((uint64_t)c.records + st.overwritten_records, seq);
	CHECK_EQ_U64(st.overwritten, gaps);
	CHECK_EQ_U64(next_pkt, atomic_load(&s.buf->ctl->pos.offset) / SB);
	unmake(&s);
}

/* Overwrite mode, the write position exactly at a sub-buffer's start (a
 * flush, or salvage, closed the last one): the sub-buffer a buffer behind
 * is still intact and must be read, by a reader far behind, by a snapshot
 * and by salvage, which must also repair it when a writer died in it (it
 * once skipped it: left incomplete, it stalled the snapshot for good). */
static void test_overwrite_boundary(const struct rtr_ring_config *cfg)
{
	struct rtr_ring_subbuf sb;
	struct rtr_ring_stats st;
	uint64_t seq = 0, first = 0, last = 0;
	long packets;

	/* A reader far behind, no snapshot. */
	{
		struct setup s = make(cfg, 4);
		struct collect c = {.ordered = true};

		while (atomic_load(&s.buf->ctl->pos.offset) < 11 * SB)
			REQUIRE(tc_write(cfg, s.chan, 0, seq++, 200) == 0);
		CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_ACTIVE, true) == 0);
		CHECK_EQ_U64(atomic_load(&s.buf->ctl->pos.offset), 12 * SB);
		packets = drain(cfg, s.buf, &c, &first, &last);
		CHECK_EQ_U64(packets, 4);
		CHECK_EQ_U64(first, 8);
		CHECK_EQ_U64(last, 11);
		rtr_ring_buf_stats(s.buf, &st);
		CHECK_EQ_U64(st.overwritten, 8);
		CHECK_EQ_U64((uint64_t)c.records + st.overwritten_records, seq);
		unmake(&s);
	}
	/* A writer died at the start of sub-buffer 8; three more were written
	 * and the last closed: salvage must cut 8, and all four are read. */
	{
		struct setup s = make(cfg, 4);
		struct rtr_ring_ctx torn;
		struct collect c = {.ordered = true};

		seq = 0;
		while (atomic_load(&s.buf->ctl->pos.offset) + 204 <= 8 * SB)
			REQUIRE(tc_write(cfg, s.chan, 0, seq++, 200) == 0);
		reserve_torn(cfg, s.chan, &torn, 200); /* opens sub-buffer 8 */
		CHECK_EQ_U64(torn.pos, 8 * SB + TC_PKT_HDR);
		while (atomic_load(&s.buf->ctl->pos.offset) < 11 * SB + 500)
			REQUIRE(tc_write(cfg, s.chan, 1, seq++, 200) == 0);
		rtr_ring_nesting = 0;
		CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_ACTIVE, true) == 0);
		CHECK(rtr_ring_salvage(cfg, s.buf) == 0);
		CHECK(rtr_ring_snapshot_start(cfg, s.buf) == 0);
		REQUIRE(rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0);
		CHECK_EQ_U64(sb.info.seq, 8);
		CHECK(sb.info.flags & RTR_RING_PACKET_TRUNCATED);
		CHECK(tc_walk(&sb, on_rec, &c, &(const char *){""}) == 0);
		CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
		packets = drain(cfg, s.buf, &c, NULL, &last);
		CHECK_EQ_U64(packets, 3);
		CHECK_EQ_U64(last, 11);
		CHECK_STR_EQ(rtr_ring_buf_error(s.buf), "");
		unmake(&s);
	}
}

/* Output helpers: zero-copy write to a file and read-style copy give the
 * same bytes as the mapping. */
static void test_output(void)
{
	const struct rtr_ring_config *cfg = &cfg_atomic_global;
	struct setup s = make(cfg, 2);
	struct rtr_ring_subbuf sb;
	char path[] = "/tmp/rtr-ring-out-XXXXXX";
	int fd = mkstemp(path);
	char copy[SB], back[SB];

	REQUIRE(fd >= 0);
	unlink(path);
	for (uint64_t i = 0; i < 5; i++)
		REQUIRE(tc_write(cfg, s.chan, 3, i, 300) == 0);
	CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_ACTIVE, false) == 0);
	REQUIRE(rtr_ring_get_subbuf(cfg, s.buf, &sb) == 0);
	CHECK_EQ_I64(rtr_ring_subbuf_write(s.buf, &sb, fd), (int64_t)sb.len);
	CHECK_EQ_U64(rtr_ring_subbuf_read(&sb, copy, sizeof(copy)), sb.len);
	CHECK(pread(fd, back, sb.len, 0) == (ssize_t)sb.len);
	CHECK(memcmp(back, sb.data, sb.len) == 0);
	CHECK(memcmp(copy, sb.data, sb.len) == 0);
	CHECK(tc_walk(&sb, NULL, NULL, &(const char *){""}) == 5);
	CHECK(rtr_ring_put_subbuf(cfg, s.buf) == 0);
	close(fd);
	unmake(&s);
}

/* Mapping from the fd: a second handle sees the same buffer; a mismatched
 * config or a file that is not a ring buffer is refused. */
static void test_map(void)
{
	const struct rtr_ring_config *cfg = &cfg_atomic_global;
	struct setup s = make(cfg, 4);
	struct rtr_ring_buf *b2 = NULL;
	struct rtr_ring_subbuf sb;
	int fd = dup(s.buf->fd), junk;

	CHECK(rtr_ring_buf_map(&cfg_atomic_ow, fd, &b2) == -EPROTO);
	REQUIRE(rtr_ring_buf_map(cfg, fd, &b2) == 0);
	CHECK_EQ_U64(b2->sb_size, SB);
	CHECK_EQ_U64(b2->num_subbuf, 4);
	REQUIRE(tc_write(cfg, s.chan, 0, 0, 100) == 0);
	CHECK(rtr_ring_flush(cfg, b2, RTR_RING_FLUSH_ACTIVE, false) == 0);
	REQUIRE(rtr_ring_get_subbuf(cfg, b2, &sb) == 0);
	CHECK(tc_walk(&sb, NULL, NULL, &(const char *){""}) == 1);
	CHECK(rtr_ring_put_subbuf(cfg, b2) == 0);
	rtr_ring_buf_destroy(b2);

	junk = memfd_create("junk", 0);
	REQUIRE(junk >= 0);
	CHECK(ftruncate(junk, 65536) == 0);
	CHECK(pwrite(junk, "not a ring buffer at all", 24, 0) == 24);
	CHECK(rtr_ring_buf_map(cfg, junk, &b2) == -EPROTO);
	close(junk);
	unmake(&s);
}

/* A corrupted control area gives -EIO with a message, never a crash. */
static void test_corruption(void)
{
	const struct rtr_ring_config *cfg = &cfg_atomic_global;
	struct setup s = make(cfg, 4);
	struct rtr_ring_subbuf sb;

	REQUIRE(tc_write(cfg, s.chan, 0, 0, 100) == 0);
	CHECK(rtr_ring_flush(cfg, s.buf, RTR_RING_FLUSH_ACTIVE, false) == 0);
	atomic_store(&s.buf->ctl->sb[0].data_size, 1ull << 40);
	CHECK(rtr_ring_get_subbuf(cfg, s.buf, &sb) == -EIO);
	CHECK(strstr(rtr_ring_buf_error(s.buf), "data size") != NULL);
	CHECK(rtr_ring_get_subbuf(cfg, s.buf, &sb) == -EIO); /* sticky */
	unmake(&s);

	s = make(cfg, 4);
	atomic_store(&s.buf->ctl->pos.offset, 1ull << 50);
	CHECK(rtr_ring_get_subbuf(cfg, s.buf, &sb) == -EIO);
	CHECK(strlen(rtr_ring_buf_error(s.buf)) > 0);
	unmake(&s);
}

int main(void)
{
	test_config_check();
	test_switch_and_padding(&cfg_atomic_global);
	test_exact_fit(&cfg_atomic_global);
	test_discard_full_and_wrap(&cfg_atomic_global);
	test_timestamps();
	test_flush(&cfg_atomic_global);
	test_nesting_bound();
	test_overwrite_snapshot(&cfg_atomic_ow);
	test_salvage(&cfg_atomic_global);
	test_salvage_padding_tie(&cfg_atomic_global);
	test_salvage_padding_tie(&cfg_atomic_ow);
	test_unstall(&cfg_atomic_global);
	test_unstall(&cfg_atomic_pcpu);
	test_unstall_overwrite(&cfg_atomic_ow);
	test_salvage_model(&cfg_atomic_global, 300);
	test_salvage_model(&cfg_atomic_ow, 100);
	test_losses_visible();
	test_overwrite_books(&cfg_atomic_ow);
	test_overwrite_books(&cfg_rseq_ow_atomic);
	test_overwrite_boundary(&cfg_atomic_ow);
	test_output();
	test_map();
	test_corruption();
	if (RTR_HAVE_RSEQ && rtr_rseq_registered()) {
		test_switch_and_padding(&cfg_rseq);
		test_exact_fit(&cfg_rseq);
		test_discard_full_and_wrap(&cfg_rseq);
		test_flush(&cfg_rseq);
		test_overwrite_snapshot(&cfg_rseq_ow);
		test_salvage(&cfg_rseq);
		test_salvage_padding_tie(&cfg_rseq);
		test_salvage_padding_tie(&cfg_rseq_ow);
		test_salvage_model(&cfg_rseq, 300);
		test_overwrite_books(&cfg_rseq_ow);
		test_overwrite_boundary(&cfg_rseq_ow);
	} else {
		printf("rseq not available: per-CPU rseq variants not run\n");
	}
	return rtr_test_done("test_ring");
}
