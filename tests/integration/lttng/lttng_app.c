/* A multi-threaded program instrumented with LTTng-UST (not ringtrace): the
 * live LTTng test records it with Debian's lttng-tools and compares what
 * `ringtrace view`/`stats` read with what babeltrace2 reads.
 * Usage: lttng_app THREADS EVENTS_PER_THREAD */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "lttng_tp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long n_per_thread;

static void *work(void *arg)
{
	uint32_t w = (uint32_t)(uintptr_t)arg;
	uint16_t vals[8];
	char name[32] = {0};

	for (unsigned long i = 0; i < n_per_thread; i++) {
		lttng_ust_tracepoint(rtrlt, ints, w, i, (int16_t)(i * 37), -(int64_t)i * 1000003);
		if (i % 4 == 0) {
			uint8_t n = (uint8_t)(i % 8 + 1);

			for (unsigned j = 0; j < 8; j++)
				vals[j] = (uint16_t)(i * 31 + j);
			snprintf(name, sizeof(name), "w%u-%lu", w, i);
			lttng_ust_tracepoint(rtrlt, mixed, name, (double)i / 7.0, vals, n,
					     (int)(i % 12));
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned nthreads = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
	pthread_t th[64];

	n_per_thread = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
	if (nthreads < 1 || nthreads > 64)
		return 2;
	for (unsigned i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, work, (void *)(uintptr_t)i);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	return 0;
}
