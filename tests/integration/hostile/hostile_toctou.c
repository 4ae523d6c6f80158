/* A traced program that records hg:tick(0..N-1) normally while a second
 * thread keeps rewriting the packet header area (the first
 * subbuf_header_size bytes) of every sub-buffer of its own ring buffers:
 * what the host copies to disk from shared memory after writing a header
 * there would be garbage. The trace must read fine. Usage:
 * hostile_toctou N */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ringtrace/ring.h>

#define RTR_DEFINE_PROBES
#include "hostile_tp.h"

static atomic_int done;
static atomic_ulong rewrites;

/* The process's ring buffer mappings ("memfd:ringtrace..."). */
static int find_buffers(char **start, int cap)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0;

	if (!f)
		return 0;
	while (n < cap && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (strstr(line, "memfd:ringtrace") && sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
		    hi - lo >= sizeof(struct rtr_ring_ctl))
			start[n++] = (char *)lo;
	}
	fclose(f);
	return n;
}

static void *rewriter(void *arg)
{
	char *bufs[64];
	int n = 0;

	(void)arg;
	for (int tries = 0; tries < 200 && !n; tries++) {
		n = find_buffers(bufs, 64);
		if (!n)
			usleep(10000);
	}
	if (!n) {
		fprintf(stderr, "hostile_toctou: no ring buffer mapped\n");
		atomic_store(&rewrites, 1);
		return NULL;
	}
	while (!atomic_load(&done))
		for (int i = 0; i < n; i++) {
			const struct rtr_ring_shm_header *h = (const void *)bufs[i];
			char *data = bufs[i] + h->data_offset;

			for (uint32_t k = 0; k < h->nr_phys; k++)
				memset(data + (uint64_t)k * h->subbuf_size, 0xa5,
				       h->subbuf_header_size);
			atomic_fetch_add(&rewrites, 1);
			usleep(20); /* often, without taking a CPU for itself */
		}
	return NULL;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	pthread_t t;

	if (pthread_create(&t, NULL, rewriter, NULL))
		return 1;
	while (atomic_load(&rewrites) == 0)
		usleep(1000);
	for (long i = 0; i < n; i++) {
		rtr_tracepoint(hg, tick, (uint64_t)i);
		if ((i & 1023) == 1023)
			usleep(200);
	}
	atomic_store(&done, 1);
	pthread_join(t, NULL);
	fprintf(stderr, "hostile_toctou: %lu rewrites\n", (unsigned long)atomic_load(&rewrites));
	return 0;
}
