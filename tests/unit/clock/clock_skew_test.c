/* ringtrace clock — unit test: the cross-CPU skew bound is finite,
 * repeatable within a factor of two (above a small floor), covers the
 * usable CPUs, skips CPUs outside the affinity mask, and stays in budget. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include <ringtrace/clock.h>

#include "clock_internal.h"
#include "rtr_test.h"

/*
 * Floor for the factor-of-two comparison. Small bounds are made of a few TSC
 * increments (this machine's TSC advances in steps of 26 cycles, ~10 ns) and
 * one cache-line transfer's jitter: 20 ns against 45 ns is noise, not a
 * change of skew. Bounds above the floor must agree within 2x.
 */
#define FLOOR_NS 50

/*
 * Attempts at a pair of back-to-back measurements. In a VM the bound follows
 * the one-way cache-line latency between the two vCPUs, which changes when
 * the host moves them (seen here: ~25, ~60 and ~230 ns regimes, each stable
 * for seconds to minutes); a move between the two measurements of a pair is
 * not a lack of repeatability, so a pair straddling one is retried. The test
 * fails if no attempt agrees.
 */
#define ATTEMPTS 6

/*
 * With both CPUs saturated by other work (make check runs tests two at a
 * time; a stress test may keep both CPUs busy), the workers may not get to
 * run together within the 50 ms budget: the result is -ETIMEDOUT or
 * `disturbed`, by design (the host then measures again later). Do the same
 * here: pause, then measure again.
 */
static int measure(const struct rtr_clock_skew_opts *o, struct rtr_clock_skew *s)
{
	for (int i = 0; i < ATTEMPTS; i++) {
		int r = rtr_clock_measure_skew(o, s);
		struct timespec pause = {0, 20000000};

		if (r != -ETIMEDOUT && !(r == 0 && s->disturbed))
			return r;
		printf("measurement %s (machine saturated?), again\n",
		       r ? "timed out" : "disturbed");
		nanosleep(&pause, NULL);
	}
	return -ETIMEDOUT;
}

static void show(const char *what, const struct rtr_clock_skew *s)
{
	printf("%s: bound %" PRIu64 " units = %" PRIu64 " ns (read %" PRIu64 " ns, ordered %" PRIu64
	       " ns; CPUs %d-%d, offset in [%" PRId64 ", %" PRId64 "]), best rtt %" PRIu64
	       " ns%s, %u usable, %u skipped, %u/%u pairs, %u round trips, %" PRIu64 " us\n",
	       what, s->bound, s->bound_ns, s->read_bound_ns, s->ordered_bound_ns, s->cpu_a,
	       s->cpu_b, s->offset_lo, s->offset_hi, s->rtt_min_ns,
	       s->disturbed ? " (disturbed)" : "", s->cpus_usable, s->cpus_skipped,
	       s->pairs_measured, s->pairs_total, s->rounds_done, s->elapsed_ns / 1000);
}

static uint64_t absu(int64_t v)
{
	return (uint64_t)(v < 0 ? -v : v);
}

/* Invariants of one result, whatever the machine. */
static void check_result(const struct rtr_clock_skew *a, int source, bool ordered)
{
	CHECK_EQ_I64(a->source, source);
	CHECK(a->ordered == ordered);
	CHECK(a->complete);
	CHECK_EQ_U64(a->pairs_measured, a->pairs_total);
	CHECK(a->cpu_a >= 0 && a->cpu_b >= 0 && a->cpu_a != a->cpu_b);
	/* Finite: well below a millisecond on any sane machine. */
	CHECK(a->bound_ns < 1000000);
	CHECK(a->bound == (a->read_bound > a->ordered_bound ? a->read_bound : a->ordered_bound));
	if (ordered)
		CHECK_EQ_U64(a->read_bound, a->ordered_bound);
	/* The bound covers the reported bracket. */
	CHECK(a->bound >= absu(a->offset_hi) && a->bound >= absu(a->offset_lo));
	CHECK(a->freq > 0);
	CHECK_EQ_U64(a->bound_ns, rtr_clock_cycles_to_ns(a->bound, a->freq));
	/* An ordered round trip takes at least as long as the bracket is wide
	 * (t3 - t1 >= (t2 - t1) - (t2 - t3)) for the pair that set the bound. */
	CHECK(a->rtt_min > 0);
	/* All rounds unless the budget ran out on a loaded machine. */
	CHECK(a->rounds_done <= (ordered ? 1 : 2) * 2048u * a->pairs_total);
	CHECK(a->rounds_done >= (ordered ? 1 : 2) * a->pairs_total);
}

static void repeatable(int source, bool ordered)
{
	struct rtr_clock_skew_opts o = {.ordered = ordered};
	struct rtr_clock_skew a, b;
	char name[64];

	if (rtr_clock_set_source(source) < 0)
		return;
	snprintf(name, sizeof(name), "%s%s", rtr_clock_source_name(source),
		 ordered ? " ordered" : "");
	for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
		uint64_t lo, hi;

		REQUIRE(measure(&o, &a) == 0);
		REQUIRE(measure(&o, &b) == 0);
		show(name, &a);
		show(name, &b);
		if (a.cpus_usable < 2) {
			CHECK(!a.complete && a.bound == 0);
			return;
		}
		check_result(&a, source, ordered);
		check_result(&b, source, ordered);
		lo = a.bound_ns < b.bound_ns ? a.bound_ns : b.bound_ns;
		hi = a.bound_ns < b.bound_ns ? b.bound_ns : a.bound_ns;
		if (lo < FLOOR_NS)
			lo = FLOOR_NS;
		if (hi <= 2 * lo)
			return;
		printf("%s: %" PRIu64 " and %" PRIu64 " ns differ by more than 2x (attempt %d)\n",
		       name, a.bound_ns, b.bound_ns, attempt);
	}
	RTR_TEST_FAIL_("%s: no two back-to-back bounds within 2x in %d attempts", name, ATTEMPTS);
}

/* The first-vs-each combination (used above 8 CPUs) on synthetic CPUs. */
static void star_math(void)
{
	/* CPU 0 is the reference; CPU 1 is 10..30 ahead, CPU 2 40..50 behind,
	 * CPU 3 within 5. The worst pair is (1, 2): d_2 - d_1 in
	 * [-50 - 30, -40 - 10] = [-80, -50], bound 80. */
	const int64_t lo[4] = {0, 10, -50, -5}, hi[4] = {0, 30, -40, 5};
	struct rtr__clock_star st;

	rtr__clock_skew_star(lo, hi, 4, &st);
	CHECK_EQ_I64(st.i, 1);
	CHECK_EQ_I64(st.j, 2);
	CHECK_EQ_I64(st.lo, -50 - 30);
	CHECK_EQ_I64(st.hi, -40 - 10);
	CHECK_EQ_U64(st.bound, 80);
	/* Two CPUs: just the measured bracket. */
	rtr__clock_skew_star(lo, hi, 2, &st);
	CHECK_EQ_I64(st.i, 0);
	CHECK_EQ_I64(st.j, 1);
	CHECK_EQ_I64(st.lo, 10);
	CHECK_EQ_I64(st.hi, 30);
	CHECK_EQ_U64(st.bound, 30);
	/* An inverted bracket (reads ahead of the handoff) still counts. */
	{
		const int64_t l2[2] = {0, 40}, h2[2] = {0, -60};

		rtr__clock_skew_star(l2, h2, 2, &st);
		CHECK_EQ_U64(st.bound, 60);
	}
	rtr__clock_skew_star(lo, hi, 1, &st);
	CHECK_EQ_I64(st.i, -1);
	CHECK_EQ_U64(st.bound, 0);
}

int main(void)
{
	struct rtr_clock_skew s;
	cpu_set_t all, one;

	star_math();
	repeatable(RTR_CLOCK_TSC, false);
	repeatable(RTR_CLOCK_TSC, true);
	repeatable(RTR_CLOCK_MONOTONIC, false);

	/* Both pair layouts measure the same machine. */
	rtr_clock_set_source(RTR_CLOCK_MONOTONIC);
	{
		struct rtr_clock_skew_opts o = {.pairs = 2, .rounds = 500};

		REQUIRE(measure(&o, &s) == 0 || s.cpus_usable < 2);
		show("monotonic, first-vs-each", &s);
		if (s.cpus_usable >= 2)
			CHECK_EQ_U64(s.pairs_total, s.cpus_usable - 1);
	}

	/* A tiny budget never hangs: partial or timed out, never more. */
	{
		struct rtr_clock_skew_opts o = {.budget_ms = 1, .rounds = 1000000};
		int r = rtr_clock_measure_skew(&o, &s);

		show("1 ms budget, 1e6 rounds", &s);
		CHECK(r == 0 || r == -ETIMEDOUT);
		CHECK(s.rounds_done < 1000000);
		CHECK(s.elapsed_ns < 2000000000ull); /* budget + grace, generously */
	}

	/* Restricted to one CPU: nothing to pair, the rest counted as skipped. */
	REQUIRE(sched_getaffinity(0, sizeof(all), &all) == 0);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all)) {
			CPU_SET(c, &one);
			break;
		}
	REQUIRE(sched_setaffinity(0, sizeof(one), &one) == 0);
	CHECK_EQ_I64(rtr_clock_measure_skew(NULL, &s), 0);
	show("one CPU", &s);
	CHECK_EQ_U64(s.cpus_usable, 1);
	CHECK_EQ_U64(s.pairs_total, 0);
	CHECK(!s.complete);
	CHECK_EQ_U64(s.bound, 0);
	CHECK_EQ_U64(s.cpus_skipped, (unsigned int)CPU_COUNT(&all) - 1);
	sched_setaffinity(0, sizeof(all), &all);

	CHECK_EQ_I64(rtr_clock_measure_skew(NULL, NULL), -EINVAL);
	return rtr_test_done("clock_skew_test");
}
