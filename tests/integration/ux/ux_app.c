/* A multi-threaded program for the user-view tests: each thread does
 * ITERS rounds of work > step > step > io (begin/end pairs, nested) and
 * emits events at several log levels; with FORK=1 a child process does the
 * same. Prints "pid PID NAME" per process and "tid PID TID" per thread, so
 * that the tests know the real IDs.
 * Built twice: with ringtrace tracepoints (ux_app) and, for LTTng's
 * func_entry/func_exit, with -finstrument-functions and no tracepoints
 * (ux_app_cyg, UX_NO_TP).
 * Usage: ux_app THREADS ITERS [FORK] */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef UX_NO_TP
#define TP(...) ((void)0)
#else
#define RTR_DEFINE_PROBES
#include "ux_tp.h"
#define TP(...) rtr_tracepoint(__VA_ARGS__)
#endif

#define NOINL __attribute__((noinline))

static unsigned long iters;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned long sink;

static NOINL void io(uint64_t bytes)
{
	TP(ux, io_start, bytes);
	sink += bytes;
	TP(ux, io_end, bytes);
}

static NOINL void step(uint32_t depth)
{
	TP(ux, step_entry, depth);
	if (depth == 0)
		step(1);
	else
		io(depth * 512);
	TP(ux, step_exit, depth);
}

static NOINL void *work(void *arg)
{
	uint32_t t = (uint32_t)(uintptr_t)arg;

	(void)t; /* no tracepoints in ux_app_cyg */

	pthread_mutex_lock(&out_lock);
	printf("tid %d %d\n", (int)getpid(), (int)gettid());
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	TP(ux, orphan_end, t);
	for (unsigned long i = 0; i < iters; i++) {
		TP(ux, work_begin, t, i);
		step(0);
		TP(ux, work_end, t, i);
		TP(ux, lvl_emerg, i);
		TP(ux, lvl_err, i);
		TP(ux, lvl_warning, i);
		TP(ux, lvl_debug, i);
	}
	return NULL;
}

static int run(unsigned nthreads)
{
	pthread_t th[64];

	pthread_mutex_lock(&out_lock);
	printf("pid %d %s\n", (int)getpid(), program_invocation_short_name);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	for (unsigned i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, work, (void *)(uintptr_t)i))
			return 1;
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned nthreads = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
	int fork_child = argc > 3 && atoi(argv[3]) == 1;
	pid_t child = -1;
	int st = 0, rc;

	iters = argc > 2 ? strtoul(argv[2], NULL, 10) : 100;
	if (nthreads < 1 || nthreads > 64)
		return 2;
	if (fork_child) {
		fflush(stdout);
		child = fork();
		if (child < 0)
			return 1;
		if (child == 0)
			_exit(run(nthreads));
	}
	rc = run(nthreads);
	if (child > 0 && (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st)))
		rc = 1;
	return rc;
}
