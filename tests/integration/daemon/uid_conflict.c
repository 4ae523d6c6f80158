/* A program of uid.sh whose dmn:tick differs from dmn_app's (one field,
 * another type): in per-user buffers where dmn_app registered dmn:tick
 * first, this program's dmn:tick must be refused (for it alone) and its
 * other event, uidc:ok, recorded. docs/design/daemon.md §9.3.
 *
 *   uid_conflict N   N x (dmn:tick(i), uidc:ok(i)), exit
 */
#include <stdint.h>
#include <stdlib.h>

#define RTR_DEFINE_PROBES
#include <ringtrace/tracepoint.h>

RTR_EVENT(dmn, tick,
	RTR_ARGS(uint64_t, seq),
	RTR_FIELDS(rtr_integer(uint64_t, seq, seq)))

RTR_EVENT(uidc, ok,
	RTR_ARGS(uint32_t, seq),
	RTR_FIELDS(rtr_integer(uint32_t, seq, seq)))

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 10;

	for (uint32_t i = 0; i < n; i++) {
		rtr_tracepoint(dmn, tick, i);
		rtr_tracepoint(uidc, ok, i);
	}
	return 0;
}
