/* Calls every event of provider IT_PROV once with values that depend on
 * `round`, and writes what babeltrace2 must print for each to `side`.
 * Included once per provider (IT_PROV and IT_EMIT_FN defined by the
 * includer). */
#include <limits.h>

#include "it_side.h"

#define IT_STR_(x) #x
#define IT_STR(x)  IT_STR_(x)

static const char *it_color_label(int c)
{
	return c == 0 ? "RED" : c == 1 ? "GREEN" : (c >= 2 && c <= 9) ? "BLUE" : NULL;
}

static void IT_EMIT_FN(FILE *side, uint64_t *seqp, int round)
{
	static const int64_t vals[] = {-2, INT64_C(0x123456789ABCDEF0), INT64_MIN, 255, 0, 8};
	static const int colors[] = {0, 1, 5, 10, 255, 2};
	static const int temps[] = {-50, 0, 1000, -101, 32767, -100};
	static const uint64_t bigs[] = {UINT64_MAX, 1ull << 40, (1ull << 41) + 1, 1ull << 41, 0, 7};
	static const double reals[] = {1.5, -0.1, 1e300, 3.14159265358979, 0.0, -2.5e-10};
	/* No empty string where the previous value of the same field was not
	 * empty: babeltrace2 2.0.4 prints the previous value then (fixed
	 * upstream, review.lttng.org/c/babeltrace/+/4528). The bytes of empty
	 * strings are checked by tests/unit/ctf; always-empty fields are here. */
	static const char *const strs[] = {
	    "hello",
	    "quote\" back\\ nl\n tab\t",
	    "\xc3\xbc"
	    "tf-8 \xe2\x9c\x93",
	    "?'",
	    "-",
	    "a much longer string, repeated: 0123456789 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789 0123456789 0123456789"};
	static const char texts[][16] = {"abcdefghijkl", "xy", "z", "12345678", "a\tb", "text!"};
	static const unsigned text_n[] = {5, 2, 1, 8, 3, 1};
	static const size_t seq_n[] = {3, 0, 300, 1, 255, 2};
	static const size_t seq_m[] = {2, 1, 0, 2, 1, 2};
	static const uint8_t blob_bytes[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x7f};
	const char *P = IT_STR(IT_PROV);
	const int k = round % 6;
	const int64_t v = vals[k];
	struct it_line l;
	uint64_t seq;
	uint32_t p32[300];
	int16_t q16[2] = {-2, 0x1234};

	for (int i = 0; i < 300; i++)
		p32[i] = (uint32_t)(i * 1000003u + (unsigned)round);

	seq = (*seqp)++;
	rtr_tracepoint(IT_PROV, ints, seq, v);
	it_begin(&l, side, P, "ints");
	it_u(&l, "seq", seq);
	it_u(&l, "u8", (uint8_t)v);
	it_s(&l, "s8", (int8_t)v);
	it_u(&l, "u16", (uint16_t)v);
	it_s(&l, "s16", (int16_t)v);
	it_u(&l, "u32", (uint32_t)v);
	it_s(&l, "s32", (int32_t)v);
	it_u(&l, "u64", (uint64_t)v);
	it_s(&l, "s64", v);
	it_u(&l, "flag", (uint64_t)(v & 1));
	it_end(&l);

	seq = (*seqp)++;
	rtr_tracepoint(IT_PROV, bases, seq, v);
	it_begin(&l, side, P, "bases");
	it_u(&l, "seq", seq);
	it_hex(&l, "x8", (uint64_t)v, 8);
	it_hex(&l, "x16", (uint64_t)v, 16);
	it_hex(&l, "x32", (uint64_t)v, 32);
	it_hex(&l, "x64", (uint64_t)v, 64);
	it_oct(&l, "o16", (uint16_t)v, 16, false);
	it_oct(&l, "o32", (uint64_t)(int64_t)(int32_t)v, 32, true);
	it_oct(&l, "o64", (uint64_t)v, 64, false);
	it_u(&l, "n16", (uint16_t)v);
	it_s(&l, "n32", (int32_t)v);
	it_u(&l, "n64", (uint64_t)v);
	it_hex(&l, "nx32", (uint64_t)v, 32);
	it_end(&l);

	seq = (*seqp)++;
	rtr_tracepoint(IT_PROV, enums, seq, colors[k], temps[k], bigs[k]);
	it_begin(&l, side, P, "enums");
	it_u(&l, "seq", seq);
	it_enum(&l, "color", it_color_label(colors[k] & 0xff), (uint8_t)colors[k], false);
	{
		int16_t t = (int16_t)temps[k];
		const char *lab = (t >= -100 && t <= -1)  ? "COLD"
				  : t == 0		  ? "ZERO"
				  : (t >= 1 && t <= 1000) ? "HOT"
							  : NULL;

		it_enum(&l, "temp", lab, t, true);
	}
	{
		uint64_t b = bigs[k];
		const char *lab = b == UINT64_MAX			     ? "HUGE"
				  : (b >= (1ull << 40) && b <= (1ull << 41)) ? "MID"
									     : NULL;

		it_enum(&l, "big", lab, (int64_t)b, false);
	}
	it_end(&l);

	seq = (*seqp)++;
	rtr_tracepoint(IT_PROV, floats, seq, reals[k]);
	it_begin(&l, side, P, "floats");
	it_u(&l, "seq", seq);
	it_real(&l, "f", (double)(float)reals[k]);
	it_real(&l, "d", reals[k]);
	it_end(&l);

	seq = (*seqp)++;
	rtr_tracepoint(IT_PROV, strings, seq, strs[k], (round & 1) ? "x" : NULL);
	it_begin(&l, side, P, "strings");
	it_u(&l, "seq", seq);
	it_str(&l, "s", strs[k], SIZE_MAX);
	it_str(&l, "null", (round & 1) ? "x" : "(null)", SIZE_MAX);
	it_str(&l, "empty", "", SIZE_MAX);
	it_end(&l);

	{
		uint8_t b[4] = {(uint8_t)round, 255, 0, 128};
		int32_t w[3] = {-1, INT32_MAX, INT32_MIN + round};
		uint16_t h[2] = {0xBEEF, (uint16_t)round};
		uint64_t q[2] = {UINT64_MAX, (uint64_t)round};

		seq = (*seqp)++;
		rtr_tracepoint(IT_PROV, arrays, seq, b, w, h, q);
		it_begin(&l, side, P, "arrays");
		it_u(&l, "seq", seq);
		it_arr_begin(&l, "b");
		for (size_t i = 0; i < 4; i++) {
			it_elem(&l, i);
			it_add(&l, "%u", b[i]);
		}
		it_arr_end(&l, 4);
		it_arr_begin(&l, "w");
		for (size_t i = 0; i < 3; i++) {
			it_elem(&l, i);
			it_add(&l, "%" PRId32, w[i]);
		}
		it_arr_end(&l, 3);
		it_arr_begin(&l, "h");
		for (size_t i = 0; i < 2; i++) {
			it_elem(&l, i);
			it_hex_v(&l, h[i], 16);
		}
		it_arr_end(&l, 2);
		it_arr_begin(&l, "q");
		for (size_t i = 0; i < 2; i++) {
			it_elem(&l, i);
			it_add(&l, "%" PRIu64, q[i]);
		}
		it_arr_end(&l, 2);
		it_arr_begin(&l, "nullarr");
		for (size_t i = 0; i < 2; i++) {
			it_elem(&l, i);
			it_add(&l, "0");
		}
		it_arr_end(&l, 2);
		it_end(&l);
	}

	seq = (*seqp)++;
	rtr_tracepoint(IT_PROV, texts, seq, texts[k], text_n[k]);
	it_begin(&l, side, P, "texts");
	it_u(&l, "seq", seq);
	it_str(&l, "at", texts[k], 8);
	it_seq_len(&l, "st", text_n[k]);
	it_str(&l, "st", texts[k], text_n[k]);
	it_seq_len(&l, "st0", 0);
	it_str(&l, "st0", "", 0);
	it_end(&l);

	seq = (*seqp)++;
	rtr_tracepoint(IT_PROV, seqs, seq, p32, seq_n[k], q16, seq_m[k]);
	it_begin(&l, side, P, "seqs");
	it_u(&l, "seq", seq);
	{
		size_t n = seq_n[k] > 255 ? 255 : seq_n[k]; /* uint8_t length: clamped */

		it_seq_len(&l, "s32", n);
		it_arr_begin(&l, "s32");
		for (size_t i = 0; i < n; i++) {
			it_elem(&l, i);
			it_add(&l, "%" PRIu32, p32[i]);
		}
		it_arr_end(&l, n);
	}
	it_seq_len(&l, "sx16", seq_m[k]);
	it_arr_begin(&l, "sx16");
	for (size_t i = 0; i < seq_m[k]; i++) {
		it_elem(&l, i);
		it_hex_v(&l, (uint64_t)(int64_t)q16[i], 16);
	}
	it_arr_end(&l, seq_m[k]);
	it_seq_len(&l, "none", 0);
	it_arr_begin(&l, "none");
	it_arr_end(&l, 0);
	it_seq_len(&l, "nullseq", 0);
	it_arr_begin(&l, "nullseq");
	it_arr_end(&l, 0);
	it_end(&l);

	seq = (*seqp)++;
	rtr_tracepoint(IT_PROV, blob, seq, blob_bytes, (size_t)k);
	it_begin(&l, side, P, "blob");
	it_u(&l, "seq", seq);
	it_seq_len(&l, "data", (uint64_t)k);
	it_arr_begin(&l, "data");
	for (int i = 0; i < k; i++) {
		it_elem(&l, (size_t)i);
		it_hex_v(&l, blob_bytes[i], 8);
	}
	it_arr_end(&l, (size_t)k);
	it_end(&l);

	rtr_tracepoint(IT_PROV, noargs);
	it_begin(&l, side, P, "noargs");
	it_end(&l);

	seq = (*seqp)++;
	rtr_tracepoint(IT_PROV, keywords, seq);
	it_begin(&l, side, P, "keywords");
	it_u(&l, "seq", seq);
	it_s(&l, "struct", 1);
	it_s(&l, "string", 2);
	it_s(&l, "align", 3);
	it_s(&l, "event", 4);
	it_s(&l, "_under", 5);
	it_end(&l);

	{
		uint8_t a1 = (uint8_t)(250 + round);
		uint16_t a2 = (uint16_t)(65530 + round);
		uint32_t a3 = 4000000000u + (uint32_t)round;
		uint64_t a4 = UINT64_MAX - 5 + (uint64_t)round;
		int8_t a5 = (int8_t)(-128 + round);
		int16_t a6 = (int16_t)(-32768 + round);
		int32_t a7 = INT32_MAX - 3 - round;
		int64_t a8 = INT64_MIN + round;
		double a9 = 0.25 * round;

		seq = (*seqp)++;
		rtr_tracepoint(IT_PROV, max, seq, a1, a2, a3, a4, a5, a6, a7, a8, a9);
		it_begin(&l, side, P, "max");
		it_u(&l, "seq", seq);
		for (int j = 0; j < 4; j++) {
			char n[8];

			if (j == 3) {
				snprintf(n, sizeof(n), "f28");
				it_u(&l, n, (uint8_t)(a1 + 3));
				it_u(&l, "f29", (uint16_t)(a2 + 3));
				it_u(&l, "f30", (uint32_t)(a3 + 3));
				it_u(&l, "f31", a4 + 3);
				break;
			}
#define IT_FN(i) (snprintf(n, sizeof(n), "f%d", 9 * j + (i)), n)
			it_u(&l, IT_FN(1), (uint8_t)(a1 + j));
			it_u(&l, IT_FN(2), (uint16_t)(a2 + j));
			it_u(&l, IT_FN(3), (uint32_t)(a3 + (uint32_t)j));
			it_u(&l, IT_FN(4), a4 + (uint64_t)j);
			it_s(&l, IT_FN(5), (int8_t)(a5 + j));
			it_s(&l, IT_FN(6), (int16_t)(a6 + j));
			it_s(&l, IT_FN(7), (int32_t)(a7 + j));
			it_s(&l, IT_FN(8), (int64_t)((uint64_t)a8 + (uint64_t)j));
			it_real(&l, IT_FN(9), a9 + j);
#undef IT_FN
		}
		it_end(&l);
	}
}
