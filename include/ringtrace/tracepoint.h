/* ringtrace — instrumentation API (RTR_EVENT, rtr_tracepoint). Being
 * written; see docs/design/tracepoints.md. */
#ifndef RINGTRACE_TRACEPOINT_H
#define RINGTRACE_TRACEPOINT_H
#include <ringtrace/ctf.h>
#endif
