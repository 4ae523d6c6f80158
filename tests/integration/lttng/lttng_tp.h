/* LTTng-UST provider of the live LTTng test (tests/integration/lttng): field
 * kinds LTTng writes, so that traces made on the spot by Debian's
 * lttng-tools exercise the reader beyond the stored corpus. (LTTng's
 * provider-header conventions: included twice by lttng/tracepoint-event.h.) */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER rtrlt

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "lttng_tp.h"

#if !defined(RTR_LTTNG_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define RTR_LTTNG_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_ENUM(rtrlt, state,
	LTTNG_UST_TP_ENUM_VALUES(
		lttng_ust_field_enum_value("IDLE", 0)
		lttng_ust_field_enum_range("BUSY", 1, 9)
		lttng_ust_field_enum_value("DONE", 10)))

LTTNG_UST_TRACEPOINT_EVENT(rtrlt, ints,
	LTTNG_UST_TP_ARGS(uint32_t, worker, uint64_t, seq, int16_t, s16, int64_t, s64),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint32_t, worker, worker)
		lttng_ust_field_integer(uint64_t, seq, seq)
		lttng_ust_field_integer_hex(uint64_t, seq_hex, seq * 2654435761u)
		lttng_ust_field_integer(int16_t, s16, s16)
		lttng_ust_field_integer(int64_t, s64, s64)
		lttng_ust_field_integer_network(uint32_t, net, worker + 0x01020304u)))

LTTNG_UST_TRACEPOINT_EVENT(rtrlt, mixed,
	LTTNG_UST_TP_ARGS(const char *, name, double, ratio, const uint16_t *, vals, uint8_t, n,
			  int, st),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_string(name, name)
		lttng_ust_field_float(double, ratio, ratio)
		lttng_ust_field_float(float, ratio_f, (float)ratio)
		lttng_ust_field_sequence(uint16_t, vals, vals, uint8_t, n)
		lttng_ust_field_array(uint16_t, first2, vals, 2)
		lttng_ust_field_sequence_text(char, text, name, uint8_t, n)
		lttng_ust_field_enum(rtrlt, state, int, st, st)))

LTTNG_UST_TRACEPOINT_LOGLEVEL(rtrlt, mixed, LTTNG_UST_TRACEPOINT_LOGLEVEL_WARNING)

#endif

#include <lttng/tracepoint-event.h>
