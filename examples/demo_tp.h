/* Tracepoint provider of the demo program (examples/demo.c): a few event
 * kinds — integers in several bases, a string, an enum, a sequence, a
 * float. See include/ringtrace/tracepoint.h. */
#ifndef DEMO_TP_H
#define DEMO_TP_H
#include <stdint.h>
#include <ringtrace/tracepoint.h>

RTR_ENUM(demo, op,
	 RTR_ENUM_VALUES(rtr_enum_value("READ", 0), rtr_enum_value("WRITE", 1),
			 rtr_enum_value("DELETE", 2)))

RTR_EVENT_LOGLEVEL(demo, start, RTR_LOGLEVEL_INFO,
	RTR_ARGS(const char *, name, uint32_t, workers),
	RTR_FIELDS(
		rtr_string(program, name),
		rtr_integer(uint32_t, workers, workers)))

RTR_EVENT(demo, request_begin,
	RTR_ARGS(uint32_t, worker, uint64_t, id, int, op, const char *, key),
	RTR_FIELDS(
		rtr_integer(uint32_t, worker, worker),
		rtr_integer_hex(uint64_t, id, id),
		rtr_enum(demo, op, uint8_t, op, op),
		rtr_string(key, key)))

RTR_EVENT(demo, request_end,
	RTR_ARGS(uint32_t, worker, uint64_t, id, double, ms, const uint16_t *, hist, uint8_t, n),
	RTR_FIELDS(
		rtr_integer(uint32_t, worker, worker),
		rtr_integer_hex(uint64_t, id, id),
		rtr_float(double, latency_ms, ms),
		rtr_sequence(uint16_t, probes, hist, uint8_t, n)))

RTR_EVENT_LOGLEVEL(demo, done, RTR_LOGLEVEL_NOTICE,
	RTR_ARGS(uint64_t, requests, int64_t, balance),
	RTR_FIELDS(
		rtr_integer(uint64_t, requests, requests),
		rtr_integer(int64_t, balance, balance)))
#endif
