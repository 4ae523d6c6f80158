/* Numbers written into the text output: decimal by SWAR digit
 * conversion, hexadecimal, printf's %g; writers on a char pointer the
 * caller made room for (they may write up to 8 bytes past what they
 * return). See docs/design/reader.md ("Speed"). */
#ifndef RTR_READER_SINK_NUMBER_H
#define RTR_READER_SINK_NUMBER_H

#include <stdint.h>
#include <string.h>

#include "ringtrace/common.h"

/* "00" "01" ... "99" */
extern const char rtr__digit_pairs[201];

/* Writes v in decimal ending just before end; returns its first digit. */
char *rtr__fmt_u64(char *end, uint64_t v);

/* printf("%g") of a double in [1e-5, 1e15), exactly rounded (half to even
 * on the exact binary value, as glibc does); returns the length, or 0 when
 * the value is outside the fast range (use printf). */
int rtr__fmt_g(double d, char *out);

static inline void w4(char *p, uint32_t v)
{
	memcpy(p, rtr__digit_pairs + 2 * (v / 100), 2);
	memcpy(p + 2, rtr__digit_pairs + 2 * (v % 100), 2);
}

static inline void w8(char *p, uint32_t v)
{
	w4(p, v / 10000);
	w4(p + 4, v % 10000);
}

static inline unsigned ndigits(uint64_t v)
{
	unsigned n = 1;

	while (v >= 10000) {
		v /= 10000;
		n += 4;
	}
	if (v >= 1000)
		return n + 3;
	if (v >= 100)
		return n + 2;
	if (v >= 10)
		return n + 1;
	return n;
}


/* 8 decimal digits of v < 10^8 as byte values 0..9, the first digit in
 * the lowest byte (SWAR: two 4-digit halves, then 2, then 1) */
static inline uint64_t digits8(uint32_t v)
{
	uint64_t x = (uint64_t)(v / 10000) | ((uint64_t)(v % 10000) << 32);
	uint64_t q = ((x * 5243) >> 19) & 0x0000007F0000007Full;

	x = q | ((x - 100 * q) << 16);
	q = ((x * 103) >> 10) & 0x000F000F000F000Full;
	return q | ((x - 10 * q) << 8);
}

static inline char *w8z(char *p, uint32_t v) /* exactly 8 digits */
{
	uint64_t x = digits8(v) | 0x3030303030303030ull;

	memcpy(p, &x, 8);
	return p + 8;
}

static inline char *w9z(char *p, uint32_t v) /* exactly 9 digits, v < 10^9 */
{
	*p = (char)('0' + v / 100000000);
	return w8z(p + 1, v % 100000000);
}

static inline char *w_small(char *p, uint32_t v) /* v < 10^8, no leading zeros */
{
	uint64_t d = digits8(v);
	/* leading zero digits are the low zero bytes; keep at least one */
	unsigned lead = (unsigned)__builtin_ctzll(d | ((uint64_t)1 << 56)) >> 3;
	uint64_t x = (d | 0x3030303030303030ull) >> (8 * lead);

	memcpy(p, &x, 8);
	return p + 8 - lead;
}

static inline char *w_u64(char *p, uint64_t v)
{
	if (rtr_likely(v < 100000000))
		return w_small(p, (uint32_t)v);
	if (v < 10000000000000000ull) {
		p = w_small(p, (uint32_t)(v / 100000000));
		return w8z(p, (uint32_t)(v % 100000000));
	}
	p = w_small(p, (uint32_t)(v / 10000000000000000ull));
	v %= 10000000000000000ull;
	p = w8z(p, (uint32_t)(v / 100000000));
	return w8z(p, (uint32_t)(v % 100000000));
}

static inline char *w_i64(char *p, int64_t v)
{
	if (v < 0) {
		*p++ = '-';
		return w_u64(p, (uint64_t)0 - (uint64_t)v);
	}
	return w_u64(p, (uint64_t)v);
}

static inline char *w_hex(char *p, uint64_t v) /* upper case, no prefix */
{
	unsigned n = (64 - (unsigned)__builtin_clzll(v | 1) + 3) / 4;

	for (unsigned i = n; i-- > 0;) {
		p[i] = "0123456789ABCDEF"[v & 15];
		v >>= 4;
	}
	return p + n;
}

/* copies n bytes from s, which is readable 32 bytes past its end */
static inline char *w_lit(char *p, const char *s, size_t n)
{
	if (rtr_likely(n <= 32)) {
		memcpy(p, s, 32);
	} else if (n <= 64) {
		memcpy(p, s, 32);
		memcpy(p + 32, s + 32, 32);
	} else {
		memcpy(p, s, n);
	}
	return p + n;
}

#endif /* RTR_READER_SINK_NUMBER_H */
