/* A program NOT linked with libringtrace that dlopen()s a provider library
 * (rec_dlplug), traces through it from several threads, dlclose()s it while
 * those threads are still alive, then keeps running (sleeps, so that every
 * thread is preempted and resumed). The tracer must not kill it: the
 * restartable sequences inlined in the library leave no thread pointing at
 * the library's unmapped memory. Exits 0 when all went well.
 * Usage: rec_dlhost PLUGIN.so THREADS EVENTS_PER_THREAD */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void (*run)(unsigned, unsigned);
static unsigned n;
static pthread_barrier_t emitted, unloaded;

static void *worker(void *arg)
{
	run((unsigned)(uintptr_t)arg, n);
	pthread_barrier_wait(&emitted);
	pthread_barrier_wait(&unloaded);
	for (int i = 0; i < 20; i++)
		usleep(1000); /* preempted and resumed with the library gone */
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned nthreads = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
	pthread_t th[32];
	void *h;

	n = argc > 3 ? (unsigned)atoi(argv[3]) : 1000;
	if (argc < 2 || nthreads < 1 || nthreads > 32)
		return 2;
	h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 3;
	}
	*(void **)&run = dlsym(h, "rec_dlplug_run");
	if (!run)
		return 3;
	pthread_barrier_init(&emitted, NULL, nthreads + 1);
	pthread_barrier_init(&unloaded, NULL, nthreads + 1);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
	pthread_barrier_wait(&emitted);
	run(nthreads, n); /* the main thread too */
	if (dlclose(h))
		return 4;
	pthread_barrier_wait(&unloaded);
	for (int i = 0; i < 20; i++)
		usleep(1000);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	return 0;
}
