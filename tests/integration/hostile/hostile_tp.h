/* Tracepoint provider of the hostile-program suite's well-behaved
 * programs (hostile_good, hostile_disk, hostile_toctou). */
#ifndef HOSTILE_TP_H
#define HOSTILE_TP_H
#include <stdint.h>
#include <ringtrace/tracepoint.h>

RTR_EVENT(hg, tick,
	RTR_ARGS(uint64_t, seq),
	RTR_FIELDS(rtr_integer(uint64_t, seq, seq)))
#endif
