/* A program with no tracepoints and no libringtrace. `kt_plain N`: calls
 * libc's atoi() on "0", "1", ... "N-1" and its own plain_work(i, 2 * i)
 * (for uprobes), then prints its pid, the sums and the ns per iteration.
 * `kt_plain getppid N [SPIN]`: N getppid() system calls, with a 1 ms sleep
 * every 1000 (or SPIN ns of busy loop between calls when given), then
 * prints its pid and its own CPU time in us (a known kernel workload). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

long plain_work(int a, long b);

__attribute__((noinline)) long plain_work(int a, long b)
{
	__asm__ volatile("" ::: "memory");
	return a + b;
}

int main(int argc, char **argv)
{
	/* through a volatile pointer: the call is not inlined or folded */
	int (*volatile to_int)(const char *) = atoi;
	long n = argc == 2 ? atol(argv[1]) : 10, s1 = 0, s2 = 0;
	char buf[32];

	if (argc >= 3 && !strcmp(argv[1], "getppid")) {
		struct timespec ms = {0, 1000000};
		long spin = argc > 3 ? atol(argv[3]) : -1;
		struct rusage ru;

		n = atol(argv[2]);
		for (long i = 0; i < n; i++) {
			syscall(SYS_getppid);
			if (spin >= 0) {
				struct timespec a, b;

				clock_gettime(CLOCK_MONOTONIC, &a);
				do
					clock_gettime(CLOCK_MONOTONIC, &b);
				while ((b.tv_sec - a.tv_sec) * 1000000000L + b.tv_nsec - a.tv_nsec < spin);
			} else if (i % 1000 == 999) {
				nanosleep(&ms, NULL);
			}
		}
		getrusage(RUSAGE_SELF, &ru);
		printf("%d %ld\n", (int)getpid(),
		       (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L +
			   ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
		return 0;
	}
	{
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		for (long i = 0; i < n; i++) {
			snprintf(buf, sizeof(buf), "%ld", i);
			s1 += to_int(buf);
			s2 += plain_work((int)i, 2 * i);
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("%d %ld %ld %.1f\n", (int)getpid(), s1, s2,
		       n ? (double)((b.tv_sec - a.tv_sec) * 1000000000L + b.tv_nsec - a.tv_nsec) /
			       (double)n
			 : 0.0);
	}
	return 0;
}
