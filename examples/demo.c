/* demo: a small multi-threaded program instrumented with ringtrace
 * tracepoints. `make demo` records it with `ringtrace record` and prints
 * the trace (scripts/demo.sh). Run alone, it stays dormant: each
 * tracepoint costs one untaken branch. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RTR_DEFINE_PROBES
#include "demo_tp.h"

#define WORKERS	 3
#define REQUESTS 4

static const char *const keys[] = {"users/ada", "users/grace", "orders/42", "cache/hot"};

static void *worker(void *arg)
{
	uint32_t w = (uint32_t)(uintptr_t)arg;

	for (uint32_t i = 0; i < REQUESTS; i++) {
		uint64_t id = ((uint64_t)w << 32) | (0xbeef0000u + i);
		uint16_t hist[4] = {(uint16_t)(w + i), (uint16_t)(2 * i), 7, (uint16_t)(100 * w)};
		struct timespec d = {0, (long)(200000 * (w + 1) + 50000 * i)};
		double ms = (double)d.tv_nsec / 1e6;

		rtr_tracepoint(demo, request_begin, w, id, (int)((w + i) % 3), keys[(w + i) % 4]);
		nanosleep(&d, NULL);
		rtr_tracepoint(demo, request_end, w, id, ms, hist, (uint8_t)(1 + (i + w) % 4));
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[WORKERS];

	(void)argc;
	rtr_tracepoint(demo, start, argv[0], WORKERS);
	for (uint32_t w = 0; w < WORKERS; w++)
		pthread_create(&t[w], NULL, worker, (void *)(uintptr_t)w);
	for (uint32_t w = 0; w < WORKERS; w++)
		pthread_join(t[w], NULL);
	rtr_tracepoint(demo, done, WORKERS * REQUESTS, -42);
	printf("demo: %d workers served %d requests\n", WORKERS, WORKERS * REQUESTS);
	return 0;
}
