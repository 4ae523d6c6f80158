/* ringtrace provider of the ringtrace-vs-LTTng benchmark: one event with
 * one uint64_t field (12 bytes in the stream with its compact header). */
#ifndef BENCH_RTR_TP_H
#define BENCH_RTR_TP_H
#include <stdint.h>
#include <ringtrace/tracepoint.h>

RTR_EVENT(benchrt, tick,
	RTR_ARGS(uint64_t, value),
	RTR_FIELDS(rtr_integer(uint64_t, value, value)))
#endif
