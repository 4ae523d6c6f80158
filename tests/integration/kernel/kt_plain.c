/* A program with no tracepoints and no libringtrace. `kt_plain N`: calls
 * libc's atoi() on "0", "1", ... "N-1" and its own plain_work(i, 2 * i)
 * (for uprobes), then prints its pid and the sums. `kt_plain getppid N`:
 * N getppid() system calls, with a 1 ms sleep every 1000, then prints its
 * pid (a known kernel workload). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

	if (argc == 3 && !strcmp(argv[1], "getppid")) {
		struct timespec ms = {0, 1000000};

		n = atol(argv[2]);
		for (long i = 0; i < n; i++) {
			syscall(SYS_getppid);
			if (i % 1000 == 999)
				nanosleep(&ms, NULL);
		}
		printf("%d\n", (int)getpid());
		return 0;
	}
	for (long i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%ld", i);
		s1 += to_int(buf);
		s2 += plain_work((int)i, 2 * i);
	}
	printf("%d %ld %ld\n", (int)getpid(), s1, s2);
	return 0;
}
