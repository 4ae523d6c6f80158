/* A provider with events of every field kind, for the header test. */
#ifndef ALL_FIELDS_TP_H
#define ALL_FIELDS_TP_H
#include <ringtrace/tracepoint.h>

RTR_ENUM(hdrtest, color,
	RTR_ENUM_VALUES(rtr_enum_value("RED", 0), rtr_enum_range("OTHER", 1, 9)))

RTR_EVENT(hdrtest, ints,
	RTR_ARGS(uint8_t, a, int16_t, b, uint32_t, c, int64_t, d),
	RTR_FIELDS(
		rtr_integer(uint8_t, u8, a),
		rtr_integer(int16_t, s16, b),
		rtr_integer_hex(uint32_t, x32, c),
		rtr_integer_oct(int64_t, o64, d),
		rtr_integer_network(uint32_t, net, c),
		rtr_integer_network_hex(uint16_t, net16, a),
		rtr_enum(hdrtest, color, int, color, a)))

RTR_EVENT_LOGLEVEL(hdrtest, misc, RTR_LOGLEVEL_WARNING,
	RTR_ARGS(double, ratio, const char *, name, const uint16_t *, vals, uint8_t, n),
	RTR_FIELDS(
		rtr_float(double, ratio, ratio),
		rtr_float(float, ratio_f, ratio),
		rtr_string(name, name),
		rtr_array(uint16_t, first2, vals, 2),
		rtr_array_hex(uint16_t, first2x, vals, 2),
		rtr_array_text(char, name4, name, 4),
		rtr_sequence(uint16_t, vals, vals, uint8_t, n),
		rtr_sequence_hex(uint16_t, valsx, vals, uint8_t, n),
		rtr_sequence_text(char, text, name, uint8_t, n),
		rtr_blob(blob, vals, n)))

RTR_EVENT(hdrtest, none, RTR_ARGS(), RTR_FIELDS())
#endif
