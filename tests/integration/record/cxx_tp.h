/* Provider used from C++ (tests/integration/record/rec_cxx.cpp); its probes
 * are defined in C (cxx_tp.c), as tracepoint.h asks. */
#ifndef CXX_TP_H
#define CXX_TP_H
#include <stdint.h>
#include <ringtrace/tracepoint.h>

RTR_EVENT(cxx, item,
	RTR_ARGS(uint32_t, worker, uint64_t, seq, const char *, name, int32_t, delta),
	RTR_FIELDS(
		rtr_integer(uint32_t, worker, worker),
		rtr_integer(uint64_t, seq, seq),
		rtr_string(name, name),
		rtr_integer(int32_t, delta, delta)))

RTR_EVENT_LOGLEVEL(cxx, done, RTR_LOGLEVEL_INFO,
	RTR_ARGS(uint64_t, total),
	RTR_FIELDS(rtr_integer(uint64_t, total, total)))
#endif
