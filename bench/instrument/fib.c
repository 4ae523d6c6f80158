/* The recursive call-heavy workload of bench/instrument/func.sh, built
 * once with -finstrument-functions: fib(N) calls fib 2*F(N+1)-1 times.
 * Prints the ns per call (the hooks' cost included) and the call count. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

__attribute__((noinline)) long fib(int n);
__attribute__((noinline)) long fib(int n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 25;
	struct timespec a, b;
	long f0 = 0, f1 = 1, r, calls;

	for (int i = 0; i < n + 1; i++) { /* f1 = F(n + 1) */
		long t = f0 + f1;

		f0 = f1;
		f1 = t;
	}
	calls = 2 * f0 - 1;
	clock_gettime(CLOCK_MONOTONIC, &a);
	r = fib(n);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("fib %ld\ncalls %ld\nns_per_call %.2f\n", r, calls,
	       (double)((b.tv_sec - a.tv_sec) * 1000000000L + b.tv_nsec - a.tv_nsec) / (double)calls);
	return 0;
}
