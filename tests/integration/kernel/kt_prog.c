/* Instrumented program of the kernel integration tests. What it does is
 * known, so the test can find it in the kernel trace:
 *
 *   kt_prog SIDE N
 *     for i in 0..N-1: kt:mark(i, 0); write(devnull, i+1 bytes); kt:mark(i, 1)
 *     forks a child that opens SIDE.child (O_CREAT) and exits 7
 *     creates a thread, wakes it through a condition variable, joins it
 *     sleeps 20 ms
 *   and writes to SIDE: "pid P", "child C", "thread T", "devnull FD",
 *   "childfile PATH".
 *
 *   kt_prog spin N     calls kt_work(i, i * 3) N times (a function of its
 *                      own, for uprobes), prints the sum
 *   kt_prog getppid N  calls getppid() N times, prints its pid
 *   kt_prog counters   kt:mark(0, 0); touches 64 MiB of new memory (16384
 *                      page faults of 4 KiB); kt:mark(0, 1); sleeps 1 ms
 *                      ten times; kt:mark(0, 2); spins 20 ms of CPU;
 *                      kt:mark(0, 3); then a second thread emits
 *                      kt:mark(1, 0..1) around touching 4 MiB
 *   kt_prog loop N     N kt:mark events as fast as it can; prints the ns
 *                      per event
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RTR_DEFINE_PROBES
#include "kt_tp.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int go;
static pid_t thread_tid;

static void *waiter(void *arg)
{
	(void)arg;
	thread_tid = (pid_t)syscall(SYS_gettid);
	pthread_mutex_lock(&lock);
	while (!go)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	return NULL;
}

long kt_work(long a, long b);
__attribute__((noinline)) long kt_work(long a, long b)
{
	__asm__ volatile("" ::: "memory");
	return a + b;
}

/* Touches `bytes` of fresh memory, one write per 4 KiB page. */
static void touch(size_t bytes)
{
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		exit(5);
	madvise(p, bytes, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < bytes; i += 4096)
		p[i] = 1;
	munmap(p, bytes);
}

static void *toucher(void *arg)
{
	(void)arg;
	rtr_tracepoint(kt, mark, 1, 0);
	touch(4u << 20);
	rtr_tracepoint(kt, mark, 1, 1);
	return NULL;
}

static int counters_mode(void)
{
	struct timespec ms = {0, 1000000}, a, b;
	pthread_t th;

	rtr_tracepoint(kt, mark, 0, 0);
	touch(64u << 20);
	rtr_tracepoint(kt, mark, 0, 1);
	for (int i = 0; i < 10; i++)
		nanosleep(&ms, NULL);
	rtr_tracepoint(kt, mark, 0, 2);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	do
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + b.tv_nsec - a.tv_nsec < 20000000L);
	rtr_tracepoint(kt, mark, 0, 3);
	pthread_create(&th, NULL, toucher, NULL);
	pthread_join(th, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	char buf[256], path[512];
	FILE *side;
	int devnull, n;
	pid_t child;
	pthread_t th;
	struct timespec ts = {0, 20 * 1000 * 1000};

	if (argc == 3 && !strcmp(argv[1], "spin")) {
		long sum = 0, cnt = atol(argv[2]);

		for (long i = 0; i < cnt; i++)
			sum += kt_work(i, i * 3);
		printf("%ld\n", sum);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "getppid")) {
		long cnt = atol(argv[2]);

		for (long i = 0; i < cnt; i++)
			syscall(SYS_getppid);
		printf("%d\n", (int)getpid());
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "counters"))
		return counters_mode();
	if (argc == 3 && !strcmp(argv[1], "loop")) {
		long cnt = atol(argv[2]);
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		for (long i = 0; i < cnt; i++)
			rtr_tracepoint(kt, mark, (uint32_t)i, 9);
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("%.1f\n", cnt ? (double)((b.tv_sec - a.tv_sec) * 1000000000L + b.tv_nsec -
						a.tv_nsec) / (double)cnt
				      : 0.0);
		return 0;
	}
	if (argc != 3)
		return 2;
	n = atoi(argv[2]);
	side = fopen(argv[1], "w");
	devnull = open("/dev/null", O_WRONLY);
	if (!side || devnull < 0)
		return 3;
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < n; i++) {
		rtr_tracepoint(kt, mark, (uint32_t)i, 0);
		if (write(devnull, buf, (size_t)(i % 200) + 1) < 0)
			return 4;
		rtr_tracepoint(kt, mark, (uint32_t)i, 1);
	}
	snprintf(path, sizeof(path), "%s.child", argv[1]);
	child = fork();
	if (child == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		_exit(fd >= 0 ? 7 : 8);
	}
	waitpid(child, NULL, 0);
	pthread_create(&th, NULL, waiter, NULL);
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&lock);
	go = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	pthread_join(th, NULL);
	nanosleep(&ts, NULL);
	fprintf(side, "pid %d\nchild %d\nthread %d\ndevnull %d\nchildfile %s\n", (int)getpid(),
		(int)child, (int)thread_tid, devnull, path);
	fclose(side);
	return 0;
}
