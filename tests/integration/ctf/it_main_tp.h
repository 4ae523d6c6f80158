/* Provider "itmain": every field kind, probes defined in the test program. */
#ifndef IT_MAIN_TP_H
#define IT_MAIN_TP_H
#include <stdbool.h>
#include <ringtrace/tracepoint.h>

#define IT_PROV itmain
#include "it_events.h"
#undef IT_PROV

/* Many small events, so that the ids of one stream class go past 30 and
 * need the extended event header. */
#define IT_MANY(n) RTR_EVENT(itmany, e##n, RTR_ARGS(uint64_t, seq), \
			     RTR_FIELDS(rtr_integer(uint64_t, seq, seq)))
IT_MANY(0) IT_MANY(1) IT_MANY(2) IT_MANY(3) IT_MANY(4) IT_MANY(5)
IT_MANY(6) IT_MANY(7) IT_MANY(8) IT_MANY(9) IT_MANY(10) IT_MANY(11)
#undef IT_MANY
#endif
