/* The well-behaved program of the hostile-program suite: emits
 * hg:tick(seq) for seq = 0..N-1, pausing 200 us every 256 events so that
 * its buffers never fill (nothing of it may be lost, whatever runs beside
 * it), and exits 0. Usage: hostile_good N */
#include <stdlib.h>
#include <unistd.h>

#define RTR_DEFINE_PROBES
#include "hostile_tp.h"

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000;

	for (long i = 0; i < n; i++) {
		rtr_tracepoint(hg, tick, (uint64_t)i);
		if ((i & 255) == 255)
			usleep(200);
	}
	return 0;
}
