/* Events using every field kind, declared for provider IT_PROV (defined by
 * the includer). No include guard: included once per provider header.
 * Integration test of issue 4 (docs/design/tracepoints.md). */

RTR_ENUM(IT_PROV, color,
	 RTR_ENUM_VALUES(rtr_enum_value("RED", 0), rtr_enum_value("GREEN", 1),
			 rtr_enum_range("BLUE", 2, 9)))
RTR_ENUM(IT_PROV, temp,
	 RTR_ENUM_VALUES(rtr_enum_range("COLD", -100, -1), rtr_enum_value("ZERO", 0),
			 rtr_enum_range("HOT", 1, 1000)))
RTR_ENUM(IT_PROV, big,
	 RTR_ENUM_VALUES(rtr_enum_value("HUGE", UINT64_MAX),
			 rtr_enum_range("MID", 1ull << 40, 1ull << 41)))

RTR_EVENT(IT_PROV, ints,
	RTR_ARGS(uint64_t, seq, int64_t, v),
	RTR_FIELDS(
		rtr_integer(uint64_t, seq, seq),
		rtr_integer(uint8_t, u8, v),
		rtr_integer(int8_t, s8, v),
		rtr_integer(uint16_t, u16, v),
		rtr_integer(int16_t, s16, v),
		rtr_integer(uint32_t, u32, v),
		rtr_integer(int32_t, s32, v),
		rtr_integer(uint64_t, u64, v),
		rtr_integer(int64_t, s64, v),
		rtr_integer(bool, flag, v & 1)))
RTR_LOGLEVEL(IT_PROV, ints, RTR_LOGLEVEL_INFO)

RTR_EVENT(IT_PROV, bases,
	RTR_ARGS(uint64_t, seq, int64_t, v),
	RTR_FIELDS(
		rtr_integer(uint64_t, seq, seq),
		rtr_integer_hex(uint8_t, x8, v),
		rtr_integer_hex(int16_t, x16, v),
		rtr_integer_hex(uint32_t, x32, v),
		rtr_integer_hex(int64_t, x64, v),
		rtr_integer_oct(uint16_t, o16, v),
		rtr_integer_oct(int32_t, o32, v),
		rtr_integer_oct(uint64_t, o64, v),
		rtr_integer_network(uint16_t, n16, v),
		rtr_integer_network(int32_t, n32, v),
		rtr_integer_network(uint64_t, n64, v),
		rtr_integer_network_hex(uint32_t, nx32, v)))

/* log level declared before its event */
RTR_LOGLEVEL(IT_PROV, enums, RTR_LOGLEVEL_WARNING)
RTR_EVENT(IT_PROV, enums,
	RTR_ARGS(uint64_t, seq, int, c, int, t, uint64_t, b),
	RTR_FIELDS(
		rtr_integer(uint64_t, seq, seq),
		rtr_enum(IT_PROV, color, uint8_t, color, c),
		rtr_enum(IT_PROV, temp, int16_t, temp, t),
		rtr_enum(IT_PROV, big, uint64_t, big, b)))

RTR_EVENT_LOGLEVEL(IT_PROV, floats, RTR_LOGLEVEL_DEBUG_LINE,
	RTR_ARGS(uint64_t, seq, double, d),
	RTR_FIELDS(
		rtr_integer(uint64_t, seq, seq),
		rtr_float(float, f, d),
		rtr_float(double, d, d)))

RTR_EVENT(IT_PROV, strings,
	RTR_ARGS(uint64_t, seq, const char *, s, const char *, nul),
	RTR_FIELDS(
		rtr_integer(uint64_t, seq, seq),
		rtr_string(s, s),
		rtr_string(null, nul),
		rtr_string(empty, "")))

RTR_EVENT(IT_PROV, arrays,
	RTR_ARGS(uint64_t, seq, const uint8_t *, b, const int32_t *, w, const uint16_t *, h,
		 const uint64_t *, q),
	RTR_FIELDS(
		rtr_integer(uint64_t, seq, seq),
		rtr_array(uint8_t, b, b, 4),
		rtr_array(int32_t, w, w, 3),
		rtr_array_hex(uint16_t, h, h, 2),
		rtr_array(uint64_t, q, q, 2),
		rtr_array(int8_t, nullarr, NULL, 2)))

RTR_EVENT(IT_PROV, texts,
	RTR_ARGS(uint64_t, seq, const char *, t, unsigned, n),
	RTR_FIELDS(
		rtr_integer(uint64_t, seq, seq),
		rtr_array_text(char, at, t, 8),
		rtr_sequence_text(char, st, t, uint32_t, n),
		rtr_sequence_text(char, st0, t, uint16_t, 0)))

RTR_EVENT(IT_PROV, seqs,
	RTR_ARGS(uint64_t, seq, const uint32_t *, p, size_t, n, const int16_t *, q, size_t, m),
	RTR_FIELDS(
		rtr_integer(uint64_t, seq, seq),
		rtr_sequence(uint32_t, s32, p, uint8_t, n),
		rtr_sequence_hex(int16_t, sx16, q, uint16_t, m),
		rtr_sequence(uint64_t, none, p, uint64_t, 0),
		rtr_sequence(uint8_t, nullseq, NULL, uint8_t, 5)))

RTR_EVENT(IT_PROV, blob,
	RTR_ARGS(uint64_t, seq, const void *, p, size_t, n),
	RTR_FIELDS(
		rtr_integer(uint64_t, seq, seq),
		rtr_blob(data, p, n)))

RTR_EVENT(IT_PROV, noargs, RTR_ARGS(), RTR_FIELDS())

/* TSDL keywords as field names (escaped with '_' in the metadata) */
RTR_EVENT(IT_PROV, keywords,
	RTR_ARGS(uint64_t, seq),
	RTR_FIELDS(
		rtr_integer(uint64_t, seq, seq),
		rtr_integer(int, struct, 1),
		rtr_integer(int, string, 2),
		rtr_integer(int, align, 3),
		rtr_integer(int, event, 4),
		rtr_integer(int, _under, 5)))

/* The documented bounds: 10 arguments, 32 fields. */
RTR_EVENT(IT_PROV, max,
	RTR_ARGS(uint64_t, seq, uint8_t, a1, uint16_t, a2, uint32_t, a3, uint64_t, a4,
		 int8_t, a5, int16_t, a6, int32_t, a7, int64_t, a8, double, a9),
	RTR_FIELDS(
		rtr_integer(uint64_t, seq, seq),
		rtr_integer(uint8_t, f1, a1), rtr_integer(uint16_t, f2, a2),
		rtr_integer(uint32_t, f3, a3), rtr_integer(uint64_t, f4, a4),
		rtr_integer(int8_t, f5, a5), rtr_integer(int16_t, f6, a6),
		rtr_integer(int32_t, f7, a7), rtr_integer(int64_t, f8, a8),
		rtr_float(double, f9, a9),
		rtr_integer(uint8_t, f10, a1 + 1), rtr_integer(uint16_t, f11, a2 + 1),
		rtr_integer(uint32_t, f12, a3 + 1), rtr_integer(uint64_t, f13, a4 + 1),
		rtr_integer(int8_t, f14, a5 + 1), rtr_integer(int16_t, f15, a6 + 1),
		rtr_integer(int32_t, f16, a7 + 1), rtr_integer(int64_t, f17, a8 + 1),
		rtr_float(double, f18, a9 + 1),
		rtr_integer(uint8_t, f19, a1 + 2), rtr_integer(uint16_t, f20, a2 + 2),
		rtr_integer(uint32_t, f21, a3 + 2), rtr_integer(uint64_t, f22, a4 + 2),
		rtr_integer(int8_t, f23, a5 + 2), rtr_integer(int16_t, f24, a6 + 2),
		rtr_integer(int32_t, f25, a7 + 2), rtr_integer(int64_t, f26, a8 + 2),
		rtr_float(double, f27, a9 + 2),
		rtr_integer(uint8_t, f28, a1 + 3), rtr_integer(uint16_t, f29, a2 + 3),
		rtr_integer(uint32_t, f30, a3 + 3), rtr_integer(uint64_t, f31, a4 + 3)))
