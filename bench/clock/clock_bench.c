/* ringtrace clock — benchmark: ns per rtr_clock_read() per source beside
 * clock_gettime, raw rdtsc/rdtscp, plus skew bounds. docs/design/clock.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ringtrace/clock.h>

#if RTR_CLOCK_HAVE_TSC
#include <x86intrin.h>
#endif

#define RUNS 9

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static volatile uint64_t sink;

/* Each loop sums the values so nothing is optimised away; noinline keeps the
 * loops comparable. */
#define LOOP(fn_name, expr)                                                                        \
	static __attribute__((noinline)) double fn_name(unsigned int n)                            \
	{                                                                                          \
		uint64_t s = 0, t0 = now_ns();                                                     \
		for (unsigned int i = 0; i < n; i++)                                               \
			s += (expr);                                                               \
		uint64_t t1 = now_ns();                                                            \
		sink = s;                                                                          \
		return (double)(t1 - t0) / n;                                                      \
	}

static inline uint64_t cgt(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

LOOP(loop_read, rtr_clock_read())
LOOP(loop_read_ordered, rtr_clock_read_ordered())
LOOP(loop_cgt, cgt())
#if RTR_CLOCK_HAVE_TSC
static inline uint64_t raw_rdtscp(void)
{
	unsigned int aux;

	return __rdtscp(&aux);
}

static inline uint64_t raw_lfence_rdtsc(void)
{
	_mm_lfence();
	return __rdtsc();
}
LOOP(loop_rdtsc, __rdtsc())
LOOP(loop_rdtscp, raw_rdtscp())
LOOP(loop_lfence_rdtsc, raw_lfence_rdtsc())
#endif

enum { M_READ_TSC, M_READ_ORD_TSC, M_READ_MONO, M_CGT, M_RDTSC, M_RDTSCP, M_LFENCE, M_COUNT };
static const char *const mname[M_COUNT] = {
    "read_tsc", "read_ordered_tsc", "read_monotonic", "clock_gettime",
    "rdtsc",	"rdtscp",	    "lfence_rdtsc",
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static double median_d(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t median_u(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

static double run_one(int m, unsigned int n)
{
	switch (m) {
	case M_READ_TSC:
		rtr_clock_set_source(RTR_CLOCK_TSC);
		return loop_read(n);
	case M_READ_ORD_TSC:
		rtr_clock_set_source(RTR_CLOCK_TSC);
		return loop_read_ordered(n);
	case M_READ_MONO:
		rtr_clock_set_source(RTR_CLOCK_MONOTONIC);
		return loop_read(n);
	case M_CGT:
		return loop_cgt(n);
#if RTR_CLOCK_HAVE_TSC
	case M_RDTSC:
		return loop_rdtsc(n);
	case M_RDTSCP:
		return loop_rdtscp(n);
	case M_LFENCE:
		return loop_lfence_rdtsc(n);
#endif
	}
	return -1;
}

/* Medians over 5 runs of the combined bound and of each read's bracket. */
static void skew_bench(const char *name, int source, unsigned int rounds)
{
	uint64_t b[5], rb[5], ob[5], e[5], rtt[5];
	int ok = 0;

	if (rtr_clock_set_source(source) < 0)
		return;
	for (int i = 0; i < 5; i++) {
		struct rtr_clock_skew_opts o = {.rounds = rounds, .budget_ms = 10000};
		struct rtr_clock_skew s;

		if (rtr_clock_measure_skew(&o, &s) < 0 || !s.complete || s.disturbed)
			continue;
		b[ok] = s.bound_ns;
		rb[ok] = s.read_bound_ns;
		ob[ok] = s.ordered_bound_ns;
		rtt[ok] = s.rtt_min_ns;
		e[ok++] = s.elapsed_ns / 1000;
	}
	if (!ok) {
		printf("# skew %s: not measurable (fewer than 2 usable CPUs, or saturated)\n",
		       name);
		return;
	}
	printf("BENCH clock.skew_bound.%s %" PRIu64 " ns\n", name, median_u(b, (size_t)ok));
	printf("BENCH clock.skew_read_bound.%s %" PRIu64 " ns\n", name, median_u(rb, (size_t)ok));
	printf("BENCH clock.skew_ordered_bound.%s %" PRIu64 " ns\n", name,
	       median_u(ob, (size_t)ok));
	printf("BENCH clock.skew_rtt_min.%s %" PRIu64 " ns\n", name, median_u(rtt, (size_t)ok));
	printf("BENCH clock.skew_time.%s %" PRIu64 " us\n", name, median_u(e, (size_t)ok));
}

int main(int argc, char **argv)
{
	unsigned int n = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 0) : 2000000u;
	double res[M_COUNT][RUNS], med[M_COUNT];
	bool have[M_COUNT];
	struct rtr_clock_selection sel;
	int auto_src = rtr_clock_probe(&sel);

	printf("# clock_bench: %u reads per run, median of %d interleaved runs\n", n, RUNS);
	printf("# probe: %s (%s)\n", rtr_clock_source_name(auto_src), sel.reason);
	for (int m = 0; m < M_COUNT; m++)
		have[m] = RTR_CLOCK_HAVE_TSC || (m == M_READ_MONO || m == M_CGT);
	for (int m = 0; m < M_COUNT; m++) /* warm-up */
		if (have[m])
			run_one(m, n / 10 + 1);
	for (int r = 0; r < RUNS; r++)
		for (int m = 0; m < M_COUNT; m++)
			if (have[m])
				res[m][r] = run_one(m, n);
	for (int m = 0; m < M_COUNT; m++) {
		if (!have[m])
			continue;
		med[m] = median_d(res[m], RUNS);
		printf("BENCH clock.%s %.2f ns\n", mname[m], med[m]);
	}
#if RTR_CLOCK_HAVE_TSC
	printf("BENCH clock.ratio.read_tsc_vs_rdtsc %.3f ratio\n", med[M_READ_TSC] / med[M_RDTSC]);
	printf("BENCH clock.ratio.clock_gettime_vs_read_tsc %.3f ratio\n",
	       med[M_CGT] / med[M_READ_TSC]);
	printf("BENCH clock.ratio.read_ordered_tsc_vs_rdtscp %.3f ratio\n",
	       med[M_READ_ORD_TSC] / med[M_RDTSCP]);
	printf("BENCH clock.ratio.rdtscp_vs_rdtsc %.3f ratio\n", med[M_RDTSCP] / med[M_RDTSC]);
#endif
	printf("BENCH clock.ratio.read_monotonic_vs_clock_gettime %.3f ratio\n",
	       med[M_READ_MONO] / med[M_CGT]);

	/* Sync points: cost of taking one, and its read window. */
	if (auto_src == RTR_CLOCK_TSC)
		rtr_clock_set_source(RTR_CLOCK_TSC);
	{
		uint64_t win[31], cost[31];
		struct rtr_clock_calibration cal;

		for (int i = 0; i < 31; i++) {
			struct rtr_clock_sync sp;
			uint64_t t0 = now_ns();

			rtr_clock_sync_take(&sp);
			cost[i] = now_ns() - t0;
			win[i] = sp.window;
		}
		if (rtr_clock_calibrate(100, &cal) == 0) {
			printf("BENCH clock.sync_window.%s %" PRIu64 " ns\n",
			       rtr_clock_source_name(rtr_clock_get_source()),
			       rtr_clock_cycles_to_ns(median_u(win, 31), cal.freq));
			printf("BENCH clock.calibrated_freq %" PRIu64 " Hz\n", cal.freq);
			printf("BENCH clock.calibration_error %" PRIu64 " ppb\n", cal.error_ppb);
		}
		printf("BENCH clock.sync_take %" PRIu64 " ns\n", median_u(cost, 31));
	}

	/* Default rounds (what the host runs at start-up), then 50x more to
	 * show how the tracer read's inversion tail grows with samples. */
	skew_bench("tsc", RTR_CLOCK_TSC, 0);
	skew_bench("monotonic", RTR_CLOCK_MONOTONIC, 0);
	skew_bench("tsc_100k", RTR_CLOCK_TSC, 102400);
	return 0;
}
