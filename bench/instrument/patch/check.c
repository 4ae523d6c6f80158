/* Robustness check of the patch prototype (patch.sh runs it, built with
 * -fpatchable-function-entry=5): MODE bits 1: three threads each run
 * fib(12) 200 times; 2: 1000 longjmps out of deep(5) (6 hooked frames
 * each, never returning); 4: 50 signals whose handler calls leaf(), each
 * followed by fib(10). Prints "ok TOTAL HITS"; the output and the event
 * counts are checked by patch.sh against the counts of the source. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static jmp_buf jb;
static volatile int hits;

__attribute__((noinline)) int leaf(int x);
__attribute__((noinline)) int leaf(int x)
{
	return x + 1;
}

__attribute__((noinline)) void deep(int n);
__attribute__((noinline)) void deep(int n)
{
	if (n == 0)
		longjmp(jb, 1);
	deep(n - 1);
	leaf(n);
}

__attribute__((noinline)) void handler(int s);
__attribute__((noinline)) void handler(int s)
{
	(void)s;
	hits += leaf(1);
}

__attribute__((noinline)) int fib(int n);
__attribute__((noinline)) int fib(int n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

__attribute__((noinline)) void *worker(void *a);
__attribute__((noinline)) void *worker(void *a)
{
	long s = 0;

	(void)a;
	for (int i = 0; i < 200; i++)
		s += fib(12);
	return (void *)s;
}

int main(int argc, char **argv)
{
	int m = argc > 1 ? atoi(argv[1]) : 7;
	pthread_t t[3];
	void *r;
	long tot = 0;

	signal(SIGALRM, handler);
	if (m & 1)
		for (int i = 0; i < 3; i++)
			if (pthread_create(&t[i], NULL, worker, NULL))
				return 1;
	if (m & 2)
		for (int k = 0; k < 1000; k++)
			if (!setjmp(jb))
				deep(5);
	if (m & 4)
		for (int k = 0; k < 50; k++) {
			raise(SIGALRM);
			tot += fib(10);
		}
	if (m & 1)
		for (int i = 0; i < 3; i++) {
			pthread_join(t[i], &r);
			tot += (long)r;
		}
	printf("ok %ld %d\n", tot, hits);
	return 0;
}
