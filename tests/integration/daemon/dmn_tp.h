/* Tracepoint provider of the session daemon's integration tests. */
#ifndef DMN_TP_H
#define DMN_TP_H
#include <stdint.h>
#include <ringtrace/tracepoint.h>

RTR_EVENT_LOGLEVEL(dmn, start, RTR_LOGLEVEL_INFO,
	RTR_ARGS(int32_t, pid),
	RTR_FIELDS(rtr_integer(int32_t, pid, pid)))

RTR_EVENT_LOGLEVEL(dmn, tick, RTR_LOGLEVEL_DEBUG,
	RTR_ARGS(uint32_t, seq, int64_t, val, double, dval, const char *, name),
	RTR_FIELDS(
		rtr_integer(uint32_t, seq, seq),
		rtr_integer(int64_t, val, val),
		rtr_float(double, dval, dval),
		rtr_string(name, name)))

RTR_EVENT_LOGLEVEL(dmn, warn, RTR_LOGLEVEL_WARNING,
	RTR_ARGS(uint32_t, seq),
	RTR_FIELDS(rtr_integer(uint32_t, seq, seq)))
#endif
