/* ringtrace clock — unit test: per-thread monotonicity of rtr_clock_read()
 * over millions of reads, with forced migrations between CPUs (backwards
 * steps across a migration must stay within the measured skew bound) and
 * with reads from a signal handler interrupting the reader. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>

#include <ringtrace/clock.h>

#include "rtr_test.h"

#define SEGMENTS      400
#define READS_PER_SEG 10000 /* 4 M reads per source and thread */

static int usable[CPU_SETSIZE], nusable;

/* Signal handler check: the handler's read must not be below the last value
 * the interrupted thread read (same thread, same CPU: program order). */
/* Per thread: the handler runs on the thread it interrupted. */
static __thread volatile uint64_t last_read;
static volatile uint64_t sig_count, sig_backwards;

static void on_alarm(int sig)
{
	uint64_t before = last_read;
	uint64_t t = rtr_clock_read();

	(void)sig;
	if (t < before)
		sig_backwards++;
	sig_count++;
}

static bool pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return sched_setaffinity(0, sizeof(s), &s) == 0;
}

struct result {
	int phase; /* in: which CPU of the rotation to start on */
	uint64_t reads, within_backwards, migrations, mig_backwards, mig_worst, migrated_ok;
};

static void *reader(void *arg)
{
	struct result *res = arg;
	int phase = res->phase;
	uint64_t prev = rtr_clock_read();

	memset(res, 0, sizeof(*res));
	for (int s = 0; s < SEGMENTS; s++) {
		int cpu = usable[(s + phase) % nusable];
		uint64_t t;

		if (nusable > 1) {
			/* sched_setaffinity returns on the new CPU. */
			if (pin(cpu) && sched_getcpu() == cpu)
				res->migrated_ok++;
			t = rtr_clock_read();
			res->migrations++;
			if (t < prev) {
				res->mig_backwards++;
				if (prev - t > res->mig_worst)
					res->mig_worst = prev - t;
			}
			prev = t;
		}
		for (int i = 0; i < READS_PER_SEG; i++) {
			t = rtr_clock_read();
			if (t < prev)
				res->within_backwards++;
			prev = t;
			last_read = t;
		}
		res->reads += READS_PER_SEG;
	}
	return NULL;
}

static void run(int source)
{
	struct rtr_clock_skew skew;
	struct result r = {.phase = 0};
	struct itimerval it = {{0, 200}, {0, 200}}; /* 5 kHz */
	cpu_set_t all;

	if (rtr_clock_set_source(source) < 0) {
		printf("%s: not available here, skipped\n", rtr_clock_source_name(source));
		return;
	}
	/* On a saturated machine the probe may time out or be disturbed (see
	 * clock_skew_test); pause and measure again, as the host would. */
	for (int i = 0;; i++) {
		struct timespec pause = {0, 20000000};
		int rs = rtr_clock_measure_skew(NULL, &skew);

		if (nusable < 2 || (rs == 0 && !skew.disturbed))
			break;
		REQUIRE(i < 10);
		nanosleep(&pause, NULL);
	}
	sig_count = sig_backwards = 0;
	last_read = 0; /* the previous run's value is in the other source's units */
	REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
	reader(&r);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);

	printf("%s: %" PRIu64 " reads, %" PRIu64 " backwards on one CPU; %" PRIu64
	       " migrations (%" PRIu64 " confirmed), %" PRIu64 " backwards across, worst %" PRIu64
	       " units, skew bound %" PRIu64 " units (%" PRIu64 " ns); %" PRIu64
	       " signal-handler reads, %" PRIu64 " backwards\n",
	       rtr_clock_source_name(source), r.reads, r.within_backwards, r.migrations,
	       r.migrated_ok, r.mig_backwards, r.mig_worst, skew.bound, skew.bound_ns, sig_count,
	       sig_backwards);
	CHECK_EQ_U64(r.reads, (uint64_t)SEGMENTS * READS_PER_SEG);
	CHECK_EQ_U64(r.within_backwards, 0);
	if (nusable > 1) {
		CHECK(r.migrated_ok > SEGMENTS / 2);
		CHECK(r.mig_worst <= skew.bound);
	}
	CHECK(sig_count > 0);
	CHECK_EQ_U64(sig_backwards, 0);

	/* Restore the full mask for the next round. */
	CPU_ZERO(&all);
	for (int i = 0; i < nusable; i++)
		CPU_SET(usable[i], &all);
	sched_setaffinity(0, sizeof(all), &all);
}

/* Two threads migrating in opposite phase at once, no signals. */
static void run_concurrent(int source)
{
	struct result r1 = {.phase = 0}, r2 = {.phase = 1};
	pthread_t th;

	if (rtr_clock_set_source(source) < 0)
		return;
	REQUIRE(pthread_create(&th, NULL, reader, &r2) == 0);
	reader(&r1);
	pthread_join(th, NULL);
	printf("%s, 2 threads: backwards on one CPU %" PRIu64 "/%" PRIu64
	       ", across migrations %" PRIu64 "/%" PRIu64 "\n",
	       rtr_clock_source_name(source), r1.within_backwards, r2.within_backwards,
	       r1.mig_backwards, r2.mig_backwards);
	CHECK_EQ_U64(r1.within_backwards + r2.within_backwards, 0);
	CHECK_EQ_U64(r1.reads + r2.reads, 2ull * SEGMENTS * READS_PER_SEG);
}

int main(void)
{
	struct sigaction sa;
	cpu_set_t set;

	REQUIRE(sched_getaffinity(0, sizeof(set), &set) == 0);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			usable[nusable++] = c;
	printf("%d usable CPUs\n", nusable);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);

	run(RTR_CLOCK_TSC);
	run(RTR_CLOCK_MONOTONIC);
	run_concurrent(RTR_CLOCK_TSC);
	return rtr_test_done("clock_monotonic_test");
}
