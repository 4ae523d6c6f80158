/* The events of function entry/exit, LTTng-UST's names and fields
 * (liblttng-ust-cyg-profile and -fast), so that Trace Compass's call stack
 * view and babeltrace2's debug-info filter read them unchanged. */
#ifndef RTR_FUNC_TP_H
#define RTR_FUNC_TP_H
#include <ringtrace/tracepoint.h>

/* full: function and call site on both, so a reader resynchronises after
 * losses or when recording starts in the middle of a call */
RTR_EVENT_LOGLEVEL(lttng_ust_cyg_profile, func_entry, RTR_LOGLEVEL_DEBUG_FUNCTION,
		   RTR_ARGS(void *, func_addr, void *, call_site),
		   RTR_FIELDS(rtr_integer_hex(unsigned long, addr, (unsigned long)func_addr),
			      rtr_integer_hex(unsigned long, call_site, (unsigned long)call_site)))
RTR_EVENT_LOGLEVEL(lttng_ust_cyg_profile, func_exit, RTR_LOGLEVEL_DEBUG_FUNCTION,
		   RTR_ARGS(void *, func_addr, void *, call_site),
		   RTR_FIELDS(rtr_integer_hex(unsigned long, addr, (unsigned long)func_addr),
			      rtr_integer_hex(unsigned long, call_site, (unsigned long)call_site)))

/* fast: the function on entry only; exit has no payload (a reader pairs by
 * a per-thread stack: valid only without losses) */
RTR_EVENT_LOGLEVEL(lttng_ust_cyg_profile_fast, func_entry, RTR_LOGLEVEL_DEBUG_FUNCTION,
		   RTR_ARGS(void *, func_addr),
		   RTR_FIELDS(rtr_integer_hex(unsigned long, addr, (unsigned long)func_addr)))
RTR_EVENT_LOGLEVEL(lttng_ust_cyg_profile_fast, func_exit, RTR_LOGLEVEL_DEBUG_FUNCTION,
		   RTR_ARGS(void *, func_addr), RTR_FIELDS())
#endif
