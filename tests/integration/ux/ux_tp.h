/* Tracepoint provider of the user-view tests (tests/integration/ux):
 * begin/end pairs of every naming convention the JSON export pairs, an end
 * without a begin, and events at several log levels. */
#ifndef UX_TP_H
#define UX_TP_H
#include <stdint.h>
#include <ringtrace/tracepoint.h>

RTR_EVENT_LOGLEVEL(ux, work_begin, RTR_LOGLEVEL_INFO,
	RTR_ARGS(uint32_t, thread, uint64_t, iter),
	RTR_FIELDS(rtr_integer(uint32_t, thread, thread), rtr_integer(uint64_t, iter, iter)))
RTR_EVENT_LOGLEVEL(ux, work_end, RTR_LOGLEVEL_INFO,
	RTR_ARGS(uint32_t, thread, uint64_t, iter),
	RTR_FIELDS(rtr_integer(uint32_t, thread, thread), rtr_integer(uint64_t, iter, iter)))
RTR_EVENT_LOGLEVEL(ux, step_entry, RTR_LOGLEVEL_DEBUG_FUNCTION,
	RTR_ARGS(uint32_t, depth),
	RTR_FIELDS(rtr_integer(uint32_t, depth, depth)))
RTR_EVENT_LOGLEVEL(ux, step_exit, RTR_LOGLEVEL_DEBUG_FUNCTION,
	RTR_ARGS(uint32_t, depth),
	RTR_FIELDS(rtr_integer(uint32_t, depth, depth)))
/* no log level: counts as TRACE_DEBUG_LINE */
RTR_EVENT(ux, io_start,
	RTR_ARGS(uint64_t, bytes),
	RTR_FIELDS(rtr_integer(uint64_t, bytes, bytes)))
RTR_EVENT(ux, io_end,
	RTR_ARGS(uint64_t, bytes),
	RTR_FIELDS(rtr_integer(uint64_t, bytes, bytes)))
RTR_EVENT_LOGLEVEL(ux, orphan_end, RTR_LOGLEVEL_NOTICE,
	RTR_ARGS(uint32_t, thread),
	RTR_FIELDS(rtr_integer(uint32_t, thread, thread)))
RTR_EVENT_LOGLEVEL(ux, lvl_emerg, RTR_LOGLEVEL_EMERG,
	RTR_ARGS(uint64_t, n), RTR_FIELDS(rtr_integer(uint64_t, n, n)))
RTR_EVENT_LOGLEVEL(ux, lvl_err, RTR_LOGLEVEL_ERR,
	RTR_ARGS(uint64_t, n), RTR_FIELDS(rtr_integer(uint64_t, n, n)))
RTR_EVENT_LOGLEVEL(ux, lvl_warning, RTR_LOGLEVEL_WARNING,
	RTR_ARGS(uint64_t, n), RTR_FIELDS(rtr_integer(uint64_t, n, n)))
RTR_EVENT_LOGLEVEL(ux, lvl_debug, RTR_LOGLEVEL_DEBUG,
	RTR_ARGS(uint64_t, n), RTR_FIELDS(rtr_integer(uint64_t, n, n)))
#endif
