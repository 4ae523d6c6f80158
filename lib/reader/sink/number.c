/* Number formatting of the text output that is not inline: decimal
 * fallback and printf's %g. See docs/design/reader.md ("Speed"). */
#include <stdbool.h>

#include "sink/number.h"

const char rtr__digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142"
    "43444546474849505152535455565758596061626364656667686970717273747576777879808182838485"
    "8687888990919293949596979899";

/* exactly 4 / 8 digits, zero-padded; two independent halves */

char *rtr__fmt_u64(char *end, uint64_t v)
{
	static const char d2[] =
	    "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142"
	    "43444546474849505152535455565758596061626364656667686970717273747576777879808182838485"
	    "8687888990919293949596979899";

	while (v >= 100) {
		unsigned k = (unsigned)(v % 100) * 2;

		v /= 100;
		*--end = d2[k + 1];
		*--end = d2[k];
	}
	if (v >= 10) {
		unsigned k = (unsigned)v * 2;

		*--end = d2[k + 1];
		*--end = d2[k];
	} else {
		*--end = (char)('0' + v);
	}
	return end;
}


int rtr__fmt_g(double d, char *out)
{
	static const uint64_t p5[] = {1,     5,	    25,	    125,     625,    3125,
				      15625, 78125, 390625, 1953125, 9765625};
	uint64_t bits, m, q;
	int e, x, n = 0;
	double a = d < 0 ? -d : d;
	char dig[8];

	if (!(a >= 1e-5 && a < 1e15))
		return 0;
	memcpy(&bits, &d, 8);
	m = (bits & (((uint64_t)1 << 52) - 1)) | ((uint64_t)1 << 52);
	e = (int)((bits >> 52) & 0x7ff) - 1075;
	/* estimate the decimal exponent, then fix it */
	x = 0;
	{
		double t = a;

		while (t >= 10.0) {
			t /= 10.0;
			x++;
		}
		while (t < 1.0) {
			t *= 10.0;
			x--;
		}
	}
	for (int tries = 0; tries < 3; tries++) {
		int k = 5 - x;
		bool up;

		if (k >= 0) {
			unsigned __int128 num = (unsigned __int128)m * p5[k];
			int sh = -(e + k);
			unsigned __int128 rem, half;

			if (sh <= 0 || sh >= 120)
				return 0;
			q = (uint64_t)(num >> sh);
			rem = num & ((((unsigned __int128)1) << sh) - 1);
			half = ((unsigned __int128)1) << (sh - 1);
			up = rem > half || (rem == half && (q & 1));
		} else {
			int kk = -k, sh = kk - e;
			uint64_t div, rem;

			if (kk > 10 || sh <= 0 || sh > 60)
				return 0;
			div = p5[kk] << sh;
			if (div >> sh != p5[kk])
				return 0;
			q = m / div;
			rem = m % div;
			up = rem * 2 > div || (rem * 2 == div && (q & 1));
		}
		if (up)
			q++;
		if (q >= 1000000) {
			if (q == 1000000 && up) { /* rounded up to 10^6 */
				q = 100000;
				x++;
				break;
			}
			x++;
			continue;
		}
		if (q < 100000) {
			x--;
			continue;
		}
		break;
	}
	if (q < 100000 || q > 999999)
		return 0;
	for (int i = 5; i >= 0; i--) {
		dig[i] = (char)('0' + q % 10);
		q /= 10;
	}
	{
		int nd = 6;

		while (nd > 1 && dig[nd - 1] == '0')
			nd--;
		if (d < 0)
			out[n++] = '-';
		if (x < -4 || x >= 6) {
			out[n++] = dig[0];
			if (nd > 1) {
				out[n++] = '.';
				for (int i = 1; i < nd; i++)
					out[n++] = dig[i];
			}
			out[n++] = 'e';
			out[n++] = x < 0 ? '-' : '+';
			if (x < 0)
				x = -x;
			if (x >= 100)
				out[n++] = (char)('0' + x / 100);
			out[n++] = (char)('0' + (x / 10) % 10);
			out[n++] = (char)('0' + x % 10);
		} else if (x >= 0) {
			for (int i = 0; i <= x; i++)
				out[n++] = i < 6 ? dig[i] : '0';
			if (nd > x + 1) {
				out[n++] = '.';
				for (int i = x + 1; i < nd; i++)
					out[n++] = dig[i];
			}
		} else {
			out[n++] = '0';
			out[n++] = '.';
			for (int i = 0; i < -x - 1; i++)
				out[n++] = '0';
			for (int i = 0; i < nd; i++)
				out[n++] = dig[i];
		}
	}
	return n;
}

