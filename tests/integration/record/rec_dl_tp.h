/* Provider of the dlclose test (rec_dlplug.c). */
#ifndef REC_DL_TP_H
#define REC_DL_TP_H
#include <stdint.h>
#include <ringtrace/tracepoint.h>

RTR_EVENT(recdl, tick,
	RTR_ARGS(uint32_t, worker, uint32_t, seq),
	RTR_FIELDS(
		rtr_integer(uint32_t, worker, worker),
		rtr_integer(uint32_t, seq, seq)))
#endif
