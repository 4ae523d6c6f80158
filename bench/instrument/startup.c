/* Start-up probe for bench/instrument/statedump.sh: prints CLOCK_REALTIME
 * in ns when main begins (the shell that execs it printed the time just
 * before), then fires one tracepoint. */
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>

#define RTR_DEFINE_PROBES
#include <ringtrace/tracepoint.h>
RTR_EVENT(sdbench, hello, RTR_ARGS(int, v), RTR_FIELDS(rtr_integer(int, v, v)))

int main(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	printf("main %lld\n", (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec);
	rtr_tracepoint(sdbench, hello, 1);
	return 0;
}
