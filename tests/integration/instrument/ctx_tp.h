/* Provider of the context test program (ctx_prog.c). */
#ifndef CTX_TP_H
#define CTX_TP_H
#include <ringtrace/tracepoint.h>
RTR_EVENT(ctxt, mark, RTR_ARGS(int, who, int, seq),
	  RTR_FIELDS(rtr_integer(int, who, who), rtr_integer(int, seq, seq)))
#endif
