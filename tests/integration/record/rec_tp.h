/* Tracepoint provider of the `ringtrace record` integration tests. */
#ifndef REC_TP_H
#define REC_TP_H
#include <stdint.h>
#include <ringtrace/tracepoint.h>

RTR_EVENT(rec, tick,
	RTR_ARGS(uint32_t, thread, uint64_t, seq),
	RTR_FIELDS(
		rtr_integer(uint32_t, thread, thread),
		rtr_integer(uint64_t, seq, seq)))

RTR_EVENT(rec, proc,
	RTR_ARGS(const char *, role, int32_t, pid, int32_t, ppid),
	RTR_FIELDS(
		rtr_string(role, role),
		rtr_integer(int32_t, pid, pid),
		rtr_integer(int32_t, ppid, ppid)))

RTR_EVENT(rec, ignored,
	RTR_ARGS(uint64_t, v),
	RTR_FIELDS(rtr_integer(uint64_t, v, v)))
#endif
