/* Provider of the probe unit tests (tests/unit/ctf/test_ctf_probe.c). */
#ifndef UT_TP_H
#define UT_TP_H
#include <ringtrace/tracepoint.h>
#endif

RTR_EVENT(ut, one,
	RTR_ARGS(uint64_t, v),
	RTR_FIELDS(rtr_integer(uint64_t, v, v)))
RTR_EVENT(ut, str,
	RTR_ARGS(const char *, s),
	RTR_FIELDS(rtr_string(s, s)))
RTR_EVENT(ut, seq8,
	RTR_ARGS(const uint32_t *, p, size_t, n),
	RTR_FIELDS(rtr_sequence(uint32_t, q, p, uint8_t, n)))
RTR_EVENT(ut, arr,
	RTR_ARGS(const int16_t *, p),
	RTR_FIELDS(rtr_array(int16_t, a, p, 3)))
RTR_EVENT(ut, net,
	RTR_ARGS(uint32_t, v),
	RTR_FIELDS(rtr_integer_network(uint32_t, v, v), rtr_integer_network(int16_t, w, v)))
RTR_EVENT(ut, mixed,
	RTR_ARGS(uint8_t, a, double, d, const char *, s, const void *, b, size_t, n),
	RTR_FIELDS(
		rtr_integer(uint8_t, a, a),
		rtr_float(double, d, d),
		rtr_float(float, f, d),
		rtr_string(s, s),
		rtr_blob(b, b, n),
		rtr_array_text(char, t, s, 4)))
RTR_EVENT(ut, noargs, RTR_ARGS(), RTR_FIELDS())
