/* ringtrace clock — unit test: the process-wide source (default before init,
 * init idempotent under concurrency, set_source precedence) and the reads. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <ringtrace/clock.h>

#include "rtr_test.h"

static int init_results[4];

static void *init_thread(void *arg)
{
	int *slot = arg;

	*slot = rtr_clock_init(NULL);
	return NULL;
}

static uint64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(void)
{
	struct rtr_clock_selection sel, probe;
	pthread_t th[4];
	uint64_t a, b, c;

	/* Before any init: monotonic nanoseconds, i.e. bracketed by
	 * clock_gettime reads taken around it. */
	CHECK_EQ_I64(rtr_clock_get_source(), RTR_CLOCK_MONOTONIC);
	a = mono_now();
	b = rtr_clock_read();
	c = mono_now();
	CHECK(a <= b && b <= c);
	b = rtr_clock_read_ordered();
	CHECK(a <= b && b <= mono_now());

	/* The global sits alone on its cache line. */
	CHECK_EQ_U64(sizeof(rtr_clock_global), 64);
	CHECK_EQ_U64((uintptr_t)&rtr_clock_global % 64, 0);

	CHECK_EQ_I64(rtr_clock_set_source(RTR_CLOCK_SOURCE_COUNT), -EINVAL);
	CHECK_EQ_I64(rtr_clock_set_source(-1), -EINVAL);

	/* Concurrent first inits agree, and agree with the probe. */
	unsetenv(RTR_CLOCK_ENV_VAR);
	REQUIRE(rtr_clock_probe(&probe) >= 0);
	for (int i = 0; i < 4; i++)
		REQUIRE(pthread_create(&th[i], NULL, init_thread, &init_results[i]) == 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++)
		CHECK_EQ_I64(init_results[i], probe.source);
	CHECK_EQ_I64(rtr_clock_init(&sel), probe.source);
	CHECK_EQ_I64(sel.source, probe.source);
	CHECK_STR_EQ(sel.reason, probe.reason);
	CHECK_EQ_I64(rtr_clock_get_source(), probe.source);

	/* Init does not re-probe: an env change afterwards has no effect. */
	setenv(RTR_CLOCK_ENV_VAR, probe.source == RTR_CLOCK_TSC ? "monotonic" : "tsc", 1);
	CHECK_EQ_I64(rtr_clock_init(NULL), probe.source);
	unsetenv(RTR_CLOCK_ENV_VAR);

	/* set_source wins over init, now and later. */
	REQUIRE(rtr_clock_set_source(RTR_CLOCK_MONOTONIC) == 0);
	CHECK_EQ_I64(rtr_clock_init(&sel), RTR_CLOCK_MONOTONIC);
	CHECK(sel.forced);
	a = mono_now();
	b = rtr_clock_read();
	CHECK(a <= b && b <= mono_now());

#if RTR_CLOCK_HAVE_TSC
	if (probe.rdtscp) {
		REQUIRE(rtr_clock_set_source(RTR_CLOCK_TSC) == 0);
		CHECK_EQ_I64(rtr_clock_init(NULL), RTR_CLOCK_TSC);
		/* TSC path: raw cycles, and read/ordered agree with the raw
		 * instructions bracketing them. */
		a = rtr_clock_read_tsc_ordered();
		b = rtr_clock_read();
		c = rtr_clock_read_ordered();
		CHECK(a <= b && b <= c);
		CHECK(c <= rtr_clock_read_tsc_ordered());
		/* The TSC source really advances with time (a source stuck at
		 * a constant would pass the ordering checks above). */
		{
			struct timespec d = {0, 20000000};
			uint64_t m0 = mono_now(), t0 = rtr_clock_read();
			uint64_t m1, t1;

			nanosleep(&d, NULL);
			t1 = rtr_clock_read();
			m1 = mono_now();
			printf("TSC advanced %" PRIu64 " over %" PRIu64 " ns\n", t1 - t0, m1 - m0);
			CHECK(t1 - t0 > (m1 - m0) / 10);
		}
	} else {
		CHECK_EQ_I64(rtr_clock_set_source(RTR_CLOCK_TSC), -ENOTSUP);
	}
#else
	CHECK_EQ_I64(rtr_clock_set_source(RTR_CLOCK_TSC), -ENOTSUP);
#endif

	/* Boot id: read once, well-formed, stable. */
	{
		const char *id = rtr_clock_boot_id();
		FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
		char buf[64] = "";

		if (f) {
			if (!fgets(buf, sizeof(buf), f))
				buf[0] = '\0';
			fclose(f);
			buf[strcspn(buf, "\n")] = '\0';
			CHECK_STR_EQ(id, buf);
		}
		CHECK(id == rtr_clock_boot_id());
		CHECK(strlen(id) == 36 || strlen(id) == 0);
	}
	return rtr_test_done("clock_source_test");
}
