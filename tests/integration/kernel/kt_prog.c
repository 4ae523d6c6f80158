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
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
