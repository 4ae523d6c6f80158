/* Instrumented program of the session daemon's integration tests
 * (daemon.sh and friends). The first line of main() emits dmn:start, so a
 * test can check that a program started while a session records is traced
 * from its first event. Modes:
 *
 *   run N          N x (dmn:tick(i), and dmn:warn(i) when i % 10 == 0), exit
 *   wait FILE N    waits (polling every 5 ms) until FILE exists, then as run
 *   loop SIDE      dmn:tick forever; every 1000 events writes the count to
 *                  SIDE (for snapshots and kills)
 *   slow SIDE      as loop, sleeping 10 ms every 1000 events (at most
 *                  100000 events/s: buffers of a few MiB hold seconds)
 *   burst N T      T threads, each N dmn:tick as fast as possible (losses)
 *   hold N SIDE    as run, then writes N to SIDE and sleeps until killed
 *                  (kill -9 of a program with committed events)
 *
 * tick(i): seq = i, val = 3 * i - 100, dval = i / 4.0, name = "n<i % 4>".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RTR_DEFINE_PROBES
#include "dmn_tp.h"

static const char *names[] = {"n0", "n1", "n2", "n3"};

static void emit(uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		rtr_tracepoint(dmn, tick, i, (int64_t)i * 3 - 100, i / 4.0, names[i % 4]);
		if (i % 10 == 0)
			rtr_tracepoint(dmn, warn, i);
	}
}

static uint64_t per_thread;

static void *burst(void *arg)
{
	(void)arg;
	for (uint64_t i = 0; i < per_thread; i++)
		rtr_tracepoint(dmn, tick, (uint32_t)i, (int64_t)i, 0.0, "b");
	return NULL;
}

int main(int argc, char **argv)
{
	rtr_tracepoint(dmn, start, (int32_t)getpid());
	if (argc >= 3 && !strcmp(argv[1], "run")) {
		emit((uint32_t)strtoul(argv[2], NULL, 10));
		return 0;
	}
	if (argc >= 4 && !strcmp(argv[1], "wait")) {
		for (int k = 0; k < 12000 && access(argv[2], F_OK) != 0; k++)
			usleep(5000);
		emit((uint32_t)strtoul(argv[3], NULL, 10));
		return 0;
	}
	if (argc >= 3 && (!strcmp(argv[1], "loop") || !strcmp(argv[1], "slow"))) {
		unsigned nap = !strcmp(argv[1], "slow") ? 10000 : 1000;

		for (uint64_t i = 0;; i++) {
			rtr_tracepoint(dmn, tick, (uint32_t)i, (int64_t)i, 0.0, names[i % 4]);
			if (i % 1000 == 999) {
				FILE *f = fopen(argv[2], "w");

				if (f) {
					fprintf(f, "%llu\n", (unsigned long long)(i + 1));
					fclose(f);
				}
				usleep(nap);
			}
		}
	}
	if (argc >= 4 && !strcmp(argv[1], "hold")) {
		uint32_t n = (uint32_t)strtoul(argv[2], NULL, 10);
		FILE *f;

		emit(n);
		f = fopen(argv[3], "w");
		if (f) {
			fprintf(f, "%u\n", n);
			fclose(f);
		}
		for (;;)
			pause();
	}
	if (argc >= 4 && !strcmp(argv[1], "burst")) {
		int t = atoi(argv[3]);
		pthread_t th[64];

		per_thread = strtoull(argv[2], NULL, 10);
		for (int i = 0; i < t && i < 64; i++)
			pthread_create(&th[i], NULL, burst, NULL);
		for (int i = 0; i < t && i < 64; i++)
			pthread_join(th[i], NULL);
		return 0;
	}
	fprintf(stderr, "usage: dmn_app run N | wait FILE N | loop SIDE | slow SIDE | burst N T | hold N SIDE\n");
	return 2;
}
