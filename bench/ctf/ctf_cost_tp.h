#ifndef COST_TP_H
#define COST_TP_H
#include <ringtrace/tracepoint.h>
#endif
RTR_EVENT(cost, tick, RTR_ARGS(uint64_t, v), RTR_FIELDS(rtr_integer(uint64_t, v, v)))
