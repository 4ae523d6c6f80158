/* The loop both tracers are measured on (bench/compare-lttng.sh): T threads,
 * each pinned to its own CPU when there are enough, each emitting N events
 * of one uint64_t field as fast as it can. Prints the mean cost per event
 * of a thread's loop:
 *   ns_per_event <x>
 *   events <total>
 * `once`: one event from main() and exit (start-up cost). `idle` instead
 * of the counts: registers with the session daemon (the
 * tracer's constructor) and sleeps until killed (bench/daemon.sh: control
 * latency with many traced programs).
 * A third argument PACE_NS paces each thread to at most one event per
 * PACE_NS ns (the same event rate for both tracers: bench/drain-busy.sh);
 * the figure is then the loop's time per event, pacing included.
 * Built twice: -DBENCH_RTR (ringtrace) and -DBENCH_LTTNG (LTTng-UST). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(BENCH_RTR)
#define RTR_DEFINE_PROBES
#include "bench_rtr_tp.h"
#define TRACE(v) rtr_tracepoint(benchrt, tick, (v))
#elif defined(BENCH_LTTNG)
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "bench_lttng_tp.h"
#define TRACE(v) lttng_ust_tracepoint(benchlt, tick, (v))
#else
#error "build with -DBENCH_RTR or -DBENCH_LTTNG"
#endif

static uint64_t n_per_thread;
static double pace_ns; /* > 0: at most one event per pace_ns per thread */
static pthread_barrier_t start;

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *loop(void *arg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uintptr_t idx = (uintptr_t)arg;
	uint64_t *elapsed = malloc(sizeof(*elapsed));
	uint64_t t0;

	if (cpus > 1) {
		cpu_set_t s;

		CPU_ZERO(&s);
		CPU_SET((int)(idx % (uintptr_t)cpus), &s);
		sched_setaffinity(0, sizeof(s), &s);
	}
	pthread_barrier_wait(&start);
	t0 = now_ns();
	if (pace_ns > 0) {
		/* a program that logs at a given rate: spins (stays on its
		 * CPU, as a busy service would) between batches of 256 */
		for (uint64_t i = 0; i < n_per_thread; i++) {
			if ((i & 255) == 0)
				while ((double)(now_ns() - t0) < (double)i * pace_ns) {
				}
			TRACE(i);
		}
	} else {
		for (uint64_t i = 0; i < n_per_thread; i++)
			TRACE(i);
	}
	*elapsed = now_ns() - t0;
	return elapsed;
}

int main(int argc, char **argv)
{
	unsigned nthreads = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
	pthread_t t[64];
	double sum = 0;

	if (argc > 1 && !strcmp(argv[1], "once")) {
		TRACE(1); /* start-up cost: one event from main(), no thread */
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "idle"))
		for (;;)
			pause();
	n_per_thread = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
	pace_ns = argc > 3 ? strtod(argv[3], NULL) : 0;
	if (nthreads < 1 || nthreads > 64 || n_per_thread == 0) {
		fprintf(stderr, "usage: %s EVENTS_PER_THREAD [THREADS [PACE_NS]]\n", argv[0]);
		return 2;
	}
	pthread_barrier_init(&start, NULL, nthreads);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_create(&t[i], NULL, loop, (void *)(uintptr_t)i);
	for (unsigned i = 0; i < nthreads; i++) {
		uint64_t *e;

		pthread_join(t[i], (void **)&e);
		sum += (double)*e / (double)n_per_thread;
		free(e);
	}
	printf("ns_per_event %.3f\n", sum / nthreads);
	printf("events %llu\n", (unsigned long long)(n_per_thread * nthreads));
	return 0;
}
