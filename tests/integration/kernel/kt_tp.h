/* Tracepoint provider of the kernel integration tests (kt_prog.c). */
#ifndef KT_TP_H
#define KT_TP_H
#include <stdint.h>
#include <ringtrace/tracepoint.h>

RTR_EVENT(kt, mark,
	RTR_ARGS(uint32_t, seq, uint32_t, step),
	RTR_FIELDS(
		rtr_integer(uint32_t, seq, seq),
		rtr_integer(uint32_t, step, step)))
#endif
