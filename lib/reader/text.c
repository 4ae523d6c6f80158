/* babeltrace2 2.0.4 text format (sink.text.pretty), byte for byte, with
 * hand-written number formatting and a large output buffer.
 * See docs/design/reader.md and shared/docs/research/ctf.md §9. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include "stream.h"

#define OUTBUF (1u << 20)

struct trace_hdr {
	bool done;
	const char *hostname, *domain, *procname;
	bool has_vpid;
	int64_t vpid;
	/* without header names: the trace fields, printed the same for every
	 * event of the trace */
	char *pre;
	size_t pre_len;
	bool pre_dom;
};

/* Line template of an event class whose fields are all scalars: the text
 * between the values never changes. */
struct tpl {
	bool tried, ok;
	size_t nv; /* number of value records it applies to */
	char *lit; /* literal bytes */
	uint32_t nslot;
	uint32_t *val; /* value index of each slot */
	uint8_t *fmt;  /* formatter of each slot (enum slot_fmt) */
	uint32_t *off; /* literal i: lit[off[i], off[i + 1]) */
};

struct rtr_text {
	struct rtr_reader *r;
	int fd;
	FILE *err;
	struct rtr_text_options o;
	char *buf;
	size_t len, cap;
	int werr;
	/* timestamps */
	uint64_t last_real; /* -1: none */
	uint64_t delta_real;
	uint64_t last_cycles, delta_cycles;
	bool neg_warned;
	time_t tm_sec_cached;
	bool tm_valid;
	struct tm tm_cached;
	char tm_str[48];     /* "[YYYY-MM-DD ]HH:MM:SS." of tm_sec_cached */
	bool fast_head;	     /* options that head_fast() prints */
	int64_t sec_base_ns; /* tm_sec_cached in ns (fast path), or INT64_MAX */
	size_t tm_len;
	struct trace_hdr *th;
	size_t nth;
	bool start_line;
	struct tpl *tpls;
	size_t ntpl;
	uint64_t flushes;
	bool capturing, capture_bad;
	uint32_t *cap_s, *cap_e, *cap_v;
	size_t ncap, cap_cap;
};

/* ------------------------------------------------------------------ */
/* output                                                              */

static void flush_out(struct rtr_text *t)
{
	size_t off = 0;

	if (t->fd < 0)
		return; /* memory mode */
	t->flushes++;
	while (off < t->len && !t->werr) {
		ssize_t w = write(t->fd, t->buf + off, t->len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			t->werr = errno;
			break;
		}
		off += (size_t)w;
	}
	t->len = 0;
}

static RTR_NOINLINE char *grow_mem(struct rtr_text *t, size_t n)
{
	size_t nc = t->cap * 2;
	char *nb;

	while (nc < t->len + n)
		nc *= 2;
	nb = realloc(t->buf, nc);
	if (!nb)
		return NULL;
	t->buf = nb;
	t->cap = nc;
	return t->buf + t->len;
}

static inline char *room(struct rtr_text *t, size_t n)
{
	if (rtr_unlikely(t->len + n > t->cap)) {
		if (t->fd < 0) /* memory mode: the buffer grows */
			return grow_mem(t, n);
		flush_out(t);
		if (n > t->cap) {
			char *nb = realloc(t->buf, n);

			if (!nb)
				return NULL;
			t->buf = nb;
			t->cap = n;
		}
	}
	return t->buf + t->len;
}

static inline void put(struct rtr_text *t, const char *s, size_t n)
{
	char *p = room(t, n);

	if (!p)
		return;
	if (n > 16 && n <= 32) {
		/* overlapping 16-byte copies */
		memcpy(p, s, 16);
		memcpy(p + n - 16, s + n - 16, 16);
	} else if (n > 32 && n <= 64) {
		memcpy(p, s, 32);
		memcpy(p + n - 32, s + n - 32, 32);
	} else if (n <= 16) {
		/* short copies dominate: avoid a libc call */
		if (n >= 8) {
			uint64_t a, b;

			memcpy(&a, s, 8);
			memcpy(&b, s + n - 8, 8);
			memcpy(p, &a, 8);
			memcpy(p + n - 8, &b, 8);
		} else if (n >= 4) {
			uint32_t a, b;

			memcpy(&a, s, 4);
			memcpy(&b, s + n - 4, 4);
			memcpy(p, &a, 4);
			memcpy(p + n - 4, &b, 4);
		} else {
			for (size_t i = 0; i < n; i++)
				p[i] = s[i];
		}
	} else {
		memcpy(p, s, n);
	}
	t->len += n;
}

#define PUTS(t, lit) put(t, lit, sizeof(lit) - 1)

static inline void putc1(struct rtr_text *t, char c)
{
	char *p = room(t, 1);

	if (p) {
		*p = c;
		t->len++;
	}
}

static inline void putstr(struct rtr_text *t, const char *s)
{
	put(t, s, strlen(s));
}

static char *fmt_u64(char *end, uint64_t v)
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

static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142"
    "43444546474849505152535455565758596061626364656667686970717273747576777879808182838485"
    "8687888990919293949596979899";

/* exactly 4 / 8 digits, zero-padded; two independent halves */
static inline void w4(char *p, uint32_t v)
{
	memcpy(p, digit_pairs + 2 * (v / 100), 2);
	memcpy(p + 2, digit_pairs + 2 * (v % 100), 2);
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

static inline void put_u64(struct rtr_text *t, uint64_t v)
{
	char *d = room(t, 24);
	unsigned n;

	if (!d)
		return;
	if (v < 100000000) {
		char b[8];

		n = ndigits(v);
		w8(b, (uint32_t)v);
		for (unsigned i = 0; i < n; i++)
			d[i] = b[8 - n + i];
	} else if (v < 10000000000000000ull) {
		uint32_t hi = (uint32_t)(v / 100000000);
		char b[8];
		unsigned nh = ndigits(hi);

		w8(b, hi);
		for (unsigned i = 0; i < nh; i++)
			d[i] = b[8 - nh + i];
		w8(d + nh, (uint32_t)(v % 100000000));
		n = nh + 8;
	} else {
		n = ndigits(v);
		fmt_u64(d + n, v);
	}
	t->len += n;
}

static inline void put_i64(struct rtr_text *t, int64_t v)
{
	if (v < 0) {
		putc1(t, '-');
		put_u64(t, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(t, (uint64_t)v);
	}
}

/* zero-padded to width digits */
static inline void put_u64w(struct rtr_text *t, uint64_t v, int width)
{
	unsigned n = ndigits(v);
	char *d = room(t, 32), *s;

	if (!d)
		return;
	if (width == 9 && v < 1000000000) {
		d[0] = (char)('0' + v / 100000000);
		w8(d + 1, (uint32_t)(v % 100000000));
		t->len += 9;
		return;
	}
	if (n < (unsigned)width)
		n = (unsigned)width;
	s = fmt_u64(d + n, v);
	while (s > d)
		*--s = '0';
	t->len += n;
}

/* ---- unchecked writers: the caller made room (ensure()); they may
 * write up to 8 bytes past what they return --------------------------- */

/* Makes n bytes writable at the cursor p: returns the cursor (moved if
 * the buffer was flushed or grown), NULL on allocation failure. */
static inline char *ensure(struct rtr_text *t, char *p, size_t n)
{
	if (rtr_likely((size_t)(t->buf + t->cap - p) >= n))
		return p;
	t->len = (size_t)(p - t->buf);
	if (!room(t, n))
		return NULL;
	return t->buf + t->len;
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

static void put_hex(struct rtr_text *t, uint64_t v)
{
	char b[20], *e = b + sizeof(b), *s = e;

	do {
		*--s = "0123456789ABCDEF"[v & 15];
		v >>= 4;
	} while (v);
	put(t, s, (size_t)(e - s));
}

static void put_oct(struct rtr_text *t, uint64_t v)
{
	char b[24], *e = b + sizeof(b), *s = e;

	do {
		*--s = (char)('0' + (v & 7));
		v >>= 3;
	} while (v);
	put(t, s, (size_t)(e - s));
}

static void put_escaped(struct rtr_text *t, const char *s, size_t n)
{
	size_t i = 0;

	putc1(t, '"');
	while (i < n) {
		size_t j = i;

		/* run of plain characters */
		while (j < n) {
			unsigned char c = (unsigned char)s[j];

			if (c < 32 || c == 127 || c == '\\' || c == '\'' || c == '"' || c == '?')
				break;
			j++;
		}
		if (j > i)
			put(t, s + i, j - i);
		if (j >= n)
			break;
		switch (s[j]) {
		case '\\':
			PUTS(t, "\\\\");
			break;
		case '\'':
			PUTS(t, "\\'");
			break;
		case '"':
			PUTS(t, "\\\"");
			break;
		case '?':
			PUTS(t, "\\?");
			break;
		case '\0':
			PUTS(t, "\\0");
			break;
		case '\a':
			PUTS(t, "\\a");
			break;
		case '\b':
			PUTS(t, "\\b");
			break;
		case 27:
			PUTS(t, "\\e");
			break;
		case '\f':
			PUTS(t, "\\f");
			break;
		case '\n':
			PUTS(t, "\\n");
			break;
		case '\r':
			PUTS(t, "\\r");
			break;
		case '\t':
			PUTS(t, "\\t");
			break;
		case '\v':
			PUTS(t, "\\v");
			break;
		default: {
			char h[5];

			h[0] = '\\';
			h[1] = 'x';
			h[2] = "0123456789abcdef"[((unsigned char)s[j] >> 4) & 15];
			h[3] = "0123456789abcdef"[(unsigned char)s[j] & 15];
			put(t, h, 4);
			break;
		}
		}
		i = j + 1;
	}
	putc1(t, '"');
}

/* ------------------------------------------------------------------ */
/* timestamps                                                          */

static void put_wall(struct rtr_text *t, int64_t ts_nsec, int ns_error, bool update_last)
{
	int64_t ts_sec;
	uint64_t sec_abs, nsec_abs;
	bool neg;

	if (ns_error) {
		PUTS(t, "Error");
		return;
	}
	if (t->last_real != UINT64_MAX)
		t->delta_real = (uint64_t)ts_nsec - t->last_real;
	if (update_last)
		t->last_real = (uint64_t)ts_nsec;
	/* same second as the previous time of day: no division */
	if (t->tm_valid && !t->o.clock_seconds && ts_nsec >= t->sec_base_ns &&
	    ts_nsec - t->sec_base_ns < 1000000000) {
		put(t, t->tm_str, t->tm_len);
		put_u64w(t, (uint64_t)(ts_nsec - t->sec_base_ns), 9);
		return;
	}
	ts_sec = ts_nsec / 1000000000;
	ts_nsec = ts_nsec % 1000000000;
	if (ts_sec >= 0 && ts_nsec >= 0) {
		neg = false;
		sec_abs = (uint64_t)ts_sec;
		nsec_abs = (uint64_t)ts_nsec;
	} else if (ts_sec > 0 && ts_nsec < 0) {
		neg = false;
		sec_abs = (uint64_t)(ts_sec - 1);
		nsec_abs = (uint64_t)(1000000000 + ts_nsec);
	} else if (ts_sec == 0 && ts_nsec < 0) {
		neg = true;
		sec_abs = 0;
		nsec_abs = (uint64_t)-ts_nsec;
	} else if (ts_sec < 0 && ts_nsec > 0) {
		neg = true;
		sec_abs = (uint64_t) - (ts_sec + 1);
		nsec_abs = (uint64_t)(1000000000 - ts_nsec);
	} else if (ts_sec < 0 && ts_nsec == 0) {
		neg = true;
		sec_abs = (uint64_t)-ts_sec;
		nsec_abs = 0;
	} else {
		neg = true;
		sec_abs = (uint64_t)-ts_sec;
		nsec_abs = (uint64_t)-ts_nsec;
	}
	if (!t->o.clock_seconds) {
		time_t ts = (time_t)sec_abs;
		struct tm *tm = &t->tm_cached;

		if (neg && !t->neg_warned) {
			flush_out(t);
			fprintf(t->err, "[warning] Fallback to [sec.ns] to print negative time "
					"value. Use --clock-seconds.\n");
			t->neg_warned = true;
			goto seconds;
		}
		if (!t->tm_valid || ts != t->tm_sec_cached) {
			struct tm *res = t->o.clock_gmt ? gmtime_r(&ts, tm) : localtime_r(&ts, tm);
			char *b = t->tm_str;
			size_t n = 0;

			if (!res) {
				t->tm_valid = false;
				goto seconds;
			}
			t->tm_valid = true;
			t->tm_sec_cached = ts;
			/* the fast path above only serves non-negative times */
			if (!neg && ts <= INT64_MAX / 1000000000)
				t->sec_base_ns = (int64_t)ts * 1000000000;
			else
				t->sec_base_ns = INT64_MAX;
			if (t->o.clock_date)
				n = strftime(b, 32, "%Y-%m-%d ", tm);
			b[n++] = (char)('0' + tm->tm_hour / 10);
			b[n++] = (char)('0' + tm->tm_hour % 10);
			b[n++] = ':';
			b[n++] = (char)('0' + tm->tm_min / 10);
			b[n++] = (char)('0' + tm->tm_min % 10);
			b[n++] = ':';
			b[n++] = (char)('0' + tm->tm_sec / 10);
			b[n++] = (char)('0' + tm->tm_sec % 10);
			b[n++] = '.';
			t->tm_len = n;
		}
		put(t, t->tm_str, t->tm_len);
		put_u64w(t, nsec_abs, 9);
		return;
	}
seconds:
	if (neg)
		putc1(t, '-');
	put_u64(t, sec_abs);
	putc1(t, '.');
	put_u64w(t, nsec_abs, 9);
}

/* ------------------------------------------------------------------ */
/* fields                                                              */

static void put_int(struct rtr_text *t, const struct rtr_value *v)
{
	int base = v->cls->t->base;
	unsigned len = v->cls->size;
	uint64_t u = v->v.u;

	if (rtr_likely(base == 10)) {
		if (v->kind == RTR_VAL_SINT)
			put_i64(t, v->v.i);
		else
			put_u64(t, u);
		return;
	}
	switch (base) {
	case 2:
		PUTS(t, "0b");
		if (len < 64)
			u <<= 64 - len;
		for (unsigned b = 0; b < len; b++) {
			putc1(t, (u >> 63) ? '1' : '0');
			u <<= 1;
		}
		break;
	case 8:
		if (v->kind == RTR_VAL_SINT && len < 64) {
			unsigned rl = ((len - 1) / 3 + 1) * 3;

			if (rl < 64)
				u &= ((uint64_t)1 << rl) - 1;
		}
		putc1(t, '0');
		put_oct(t, u);
		break;
	case 16:
		if (len < 64) {
			unsigned rl = (len + 3) & ~3u;

			/* babeltrace2 computes (1 << 64) - 1 on x86 as 0 */
			u &= rl < 64 ? ((uint64_t)1 << rl) - 1 : 0;
		}
		PUTS(t, "0x");
		put_hex(t, u);
		break;
	default:
		if (v->kind == RTR_VAL_SINT)
			put_i64(t, v->v.i);
		else
			put_u64(t, u);
		break;
	}
}

static void put_enum(struct rtr_text *t, const struct rtr_value *v)
{
	const char *lab[16];
	size_t n = rtr_value_enum_labels(v, lab, RTR_ARRAY_SIZE(lab));

	PUTS(t, "( ");
	if (n == 0) {
		PUTS(t, "<unknown>");
	} else {
		const char **all = lab;
		const char **heap = NULL;

		if (n > RTR_ARRAY_SIZE(lab)) {
			heap = malloc(n * sizeof(*heap));
			if (heap) {
				rtr_value_enum_labels(v, heap, n);
				all = heap;
			} else {
				n = RTR_ARRAY_SIZE(lab);
			}
		}
		for (size_t i = 0; i < n; i++) {
			if (i)
				PUTS(t, ", ");
			put_escaped(t, all[i], strlen(all[i]));
		}
		free(heap);
	}
	PUTS(t, " : container = ");
	put_int(t, v);
	PUTS(t, " )");
}

/* printf("%g") of a double in [1e-5, 1e15), exactly rounded (half to
 * even on the exact binary value, as glibc does); returns the length, or
 * 0 when the value is outside the fast range. */
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

static void put_float(struct rtr_text *t, double d)
{
	char b[64];
	int n = rtr__fmt_g(d, b);

	if (!n)
		n = snprintf(b, sizeof(b), "%g", d);
	if (n > (int)sizeof(b) - 1)
		n = (int)sizeof(b) - 1;
	if (n > 0)
		put(t, b, (size_t)n);
}

struct pframe {
	uint8_t kind; /* 0 struct, 1 array, 2 variant */
	uint64_t count;
};

static const char *scope_label(uint32_t s)
{
	switch (s) {
	case RTR_SCOPE_PACKET_CONTEXT:
		return "stream.packet.context = ";
	case RTR_SCOPE_EVENT_COMMON_CONTEXT:
		return "stream.event.context = ";
	case RTR_SCOPE_EVENT_CONTEXT:
		return "event.context = ";
	default:
		return "event.fields = ";
	}
}

static inline void put_scalar(struct rtr_text *t, const struct rtr_value *v)
{
	switch (v->kind) {
	case RTR_VAL_UINT:
	case RTR_VAL_SINT:
		if (rtr_unlikely(v->cls->t->kind == TK_ENUM))
			put_enum(t, v);
		else
			put_int(t, v);
		break;
	case RTR_VAL_FLOAT:
		put_float(t, v->v.d);
		break;
	case RTR_VAL_STRING:
		put_escaped(t, v->v.s, (size_t)v->len);
		break;
	default:
		break;
	}
}

static void put_values(struct rtr_text *t, const struct rtr_value *vals, size_t n)
{
	struct pframe st[RTR__MAX_DEPTH * 2 + 8];
	int sp = 0;
	bool names = false;

	for (size_t i = 0; i < n; i++) {
		const struct rtr_value *v = &vals[i];

		if (v->kind == RTR_VAL_STRUCT_END || v->kind == RTR_VAL_ARRAY_END ||
		    v->kind == RTR_VAL_VARIANT_END) {
			if (sp > 0)
				sp--;
			if (v->kind == RTR_VAL_ARRAY_END)
				PUTS(t, " ]");
			else
				PUTS(t, " }");
			continue;
		}
		if (sp == 0) {
			/* scope root */
			if (!t->start_line)
				PUTS(t, ", ");
			t->start_line = false;
			if (t->o.names & RTR_TEXT_NAME_SCOPE)
				putstr(t, scope_label(v->scope));
			names = v->scope == RTR_SCOPE_EVENT_PAYLOAD
				    ? (t->o.names & RTR_TEXT_NAME_PAYLOAD)
				    : (t->o.names & RTR_TEXT_NAME_CONTEXT);
		} else {
			struct pframe *p = &st[sp - 1];

			if (p->kind == 0) {
				if (p->count++)
					PUTS(t, ", ");
				else
					putc1(t, ' ');
				if (names) {
					const struct rtr__op *op = v->cls;
					char *d = room(t, op->name_len + 3);

					if (d) {
						if (op->name_len)
							memcpy(d, op->name, op->name_len);
						memcpy(d + op->name_len, " = ", 3);
						t->len += op->name_len + 3;
					}
				}
			} else if (p->kind == 1) {
				if (p->count)
					PUTS(t, ", ");
				else
					putc1(t, ' ');
				if (names) {
					putc1(t, '[');
					put_u64(t, p->count);
					PUTS(t, "] = ");
				}
				p->count++;
			}
		}
		if (rtr_unlikely(t->capturing)) {
			if (v->kind == RTR_VAL_ARRAY_BEGIN || v->kind == RTR_VAL_VARIANT_BEGIN) {
				t->capture_bad = true;
			} else if (v->kind != RTR_VAL_STRUCT_BEGIN) {
				if (t->ncap == t->cap_cap) {
					size_t nc = t->cap_cap ? t->cap_cap * 2 : 64;
					uint32_t *a = realloc(t->cap_s, nc * sizeof(*a));
					uint32_t *b = a ? realloc(t->cap_e, nc * sizeof(*b)) : NULL;
					uint32_t *c = b ? realloc(t->cap_v, nc * sizeof(*c)) : NULL;

					if (a)
						t->cap_s = a;
					if (b)
						t->cap_e = b;
					if (c)
						t->cap_v = c;
					if (!c) {
						t->capture_bad = true;
						t->capturing = false;
						goto print;
					}
					t->cap_cap = nc;
				}
				t->cap_s[t->ncap] = (uint32_t)t->len;
				put_scalar(t, v);
				t->cap_e[t->ncap] = (uint32_t)t->len;
				t->cap_v[t->ncap++] = (uint32_t)i;
				continue;
			}
		}
	print:
		switch (v->kind) {
		case RTR_VAL_STRUCT_BEGIN:
			putc1(t, '{');
			if (sp < (int)RTR_ARRAY_SIZE(st)) {
				st[sp].kind = 0;
				st[sp++].count = 0;
			}
			break;
		case RTR_VAL_ARRAY_BEGIN:
			putc1(t, '[');
			if (sp < (int)RTR_ARRAY_SIZE(st)) {
				st[sp].kind = 1;
				st[sp++].count = 0;
			}
			break;
		case RTR_VAL_VARIANT_BEGIN:
			PUTS(t, "{ ");
			if (sp < (int)RTR_ARRAY_SIZE(st)) {
				st[sp].kind = 2;
				st[sp++].count = 0;
			}
			break;
		case RTR_VAL_UINT:
		case RTR_VAL_SINT:
			if (rtr_unlikely(v->cls->t->kind == TK_ENUM))
				put_enum(t, v);
			else
				put_int(t, v);
			break;
		case RTR_VAL_FLOAT:
			put_float(t, v->v.d);
			break;
		case RTR_VAL_STRING:
			put_escaped(t, v->v.s, (size_t)v->len);
			break;
		default:
			break;
		}
	}
}

/* ------------------------------------------------------------------ */
/* event header                                                        */

static void slow_fields(struct rtr_text *t, const struct rtr_msg *m, const struct trace_hdr *h,
			bool *domp);

static const struct trace_hdr *hdr_of(struct rtr_text *t, const struct rtr_stream_info *si)
{
	struct trace_hdr *h;

	if (si->trace_index >= t->nth)
		return NULL;
	h = &t->th[si->trace_index];
	if (!h->done) {
		const char *s;
		int64_t i;

		h->done = true;
		if (rtr_reader_trace_env(t->r, si->trace_index, "hostname", NULL, &s) == 2)
			h->hostname = s;
		if (rtr_reader_trace_env(t->r, si->trace_index, "domain", NULL, &s) == 2)
			h->domain = s;
		if (rtr_reader_trace_env(t->r, si->trace_index, "procname", NULL, &s) == 2)
			h->procname = s;
		if (rtr_reader_trace_env(t->r, si->trace_index, "vpid", &i, NULL) == 1) {
			h->has_vpid = true;
			h->vpid = i;
		}
		if (!(t->o.names & RTR_TEXT_NAME_HEADER)) {
			/* render the trace fields once, in a scratch area of
			 * the output buffer */
			struct rtr_msg fake;
			size_t save;

			memset(&fake, 0, sizeof(fake));
			fake.stream = si;
			flush_out(t);
			save = t->len;
			t->start_line = true;
			slow_fields(t, &fake, h, &h->pre_dom);
			h->pre = malloc(t->len - save + 1);
			if (h->pre) {
				memcpy(h->pre, t->buf + save, t->len - save);
				h->pre_len = t->len - save;
			}
			t->len = save;
		}
	}
	return h;
}

static const char *loglevel_name(int64_t l)
{
	static const char *n[] = {
	    "TRACE_EMERG",	    "TRACE_ALERT",
	    "TRACE_CRIT",	    "TRACE_ERR",
	    "TRACE_WARNING",	    "TRACE_NOTICE",
	    "TRACE_INFO",	    "TRACE_DEBUG_SYSTEM",
	    "TRACE_DEBUG_PROGRAM",  "TRACE_DEBUG_PROCESS",
	    "TRACE_DEBUG_MODULE",   "TRACE_DEBUG_UNIT",
	    "TRACE_DEBUG_FUNCTION", "TRACE_DEBUG_LINE",
	    "TRACE_DEBUG",
	};
	return l >= 0 && l < 15 ? n[l] : NULL;
}

static void slow_fields(struct rtr_text *t, const struct rtr_msg *m, const struct trace_hdr *h,
			bool *domp)
{
	bool pn = t->o.names & RTR_TEXT_NAME_HEADER;
	unsigned f = t->o.fields;
	bool dom = false;

	if (f & RTR_TEXT_FIELD_TRACE) {
		const char *name = m->stream->trace_name;

		if (name) {
			if (!t->start_line)
				PUTS(t, ", ");
			if (pn)
				PUTS(t, "trace = ");
			putstr(t, name);
			if (pn)
				PUTS(t, ", ");
		}
	}
	if ((f & RTR_TEXT_FIELD_HOSTNAME) && h && h->hostname) {
		if (!t->start_line)
			PUTS(t, ", ");
		if (pn)
			PUTS(t, "trace:hostname = ");
		putstr(t, h->hostname);
		dom = true;
	}
	if ((f & RTR_TEXT_FIELD_DOMAIN) && h && h->domain) {
		if (!t->start_line)
			PUTS(t, ", ");
		else if (dom)
			putc1(t, ':');
		if (pn)
			PUTS(t, "trace:domain = ");
		putstr(t, h->domain);
		dom = true;
	}
	if ((f & RTR_TEXT_FIELD_PROCNAME) && h && h->procname) {
		if (!t->start_line)
			PUTS(t, ", ");
		else if (dom)
			putc1(t, ':');
		if (pn)
			PUTS(t, "trace:procname = ");
		putstr(t, h->procname);
		dom = true;
	}
	if ((f & RTR_TEXT_FIELD_VPID) && h && h->has_vpid) {
		if (!t->start_line)
			PUTS(t, ", ");
		else if (dom)
			putc1(t, ':');
		if (pn)
			PUTS(t, "trace:vpid = ");
		putc1(t, '(');
		put_i64(t, h->vpid);
		putc1(t, ')');
		dom = true;
	}
	*domp = dom;
}

enum slot_fmt { SF_UDEC, SF_SDEC, SF_HEX, SF_INT, SF_ENUM, SF_FLOAT, SF_STRING };

static uint8_t slot_fmt(const struct rtr_value *v)
{
	switch (v->kind) {
	case RTR_VAL_UINT:
	case RTR_VAL_SINT:
		if (v->cls->t->kind == TK_ENUM)
			return SF_ENUM;
		if (v->cls->t->base == 16)
			return SF_HEX;
		if (v->cls->t->base != 10)
			return SF_INT;
		return v->kind == RTR_VAL_SINT ? SF_SDEC : SF_UDEC;
	case RTR_VAL_FLOAT:
		return SF_FLOAT;
	default:
		return SF_STRING;
	}
}

static void make_tpl(struct rtr_text *t, struct tpl *tp, size_t start, size_t nv,
		     const struct rtr_value *vals)
{
	size_t nlit = t->len - start, o = 0;
	char *lit = calloc(nlit + 64, 1); /* w_lit() reads 32 bytes past */
	uint32_t *val = malloc((t->ncap + 1) * sizeof(*val));
	uint32_t *off = malloc((t->ncap + 2) * sizeof(*off));
	uint8_t *fmt = malloc(t->ncap + 1);
	size_t from = start;

	if (!lit || !val || !off || !fmt) {
		free(lit);
		free(val);
		free(off);
		free(fmt);
		return;
	}
	for (size_t i = 0; i < t->ncap; i++) {
		off[i] = (uint32_t)o;
		memcpy(lit + o, t->buf + from, t->cap_s[i] - from);
		o += t->cap_s[i] - from;
		from = t->cap_e[i];
		val[i] = t->cap_v[i];
		fmt[i] = slot_fmt(&vals[val[i]]);
	}
	off[t->ncap] = (uint32_t)o;
	memcpy(lit + o, t->buf + from, t->len - from);
	o += t->len - from;
	off[t->ncap + 1] = (uint32_t)o;
	tp->lit = lit;
	tp->val = val;
	tp->off = off;
	tp->fmt = fmt;
	tp->nslot = (uint32_t)t->ncap;
	tp->nv = nv;
	tp->ok = true;
}

/* byte needs no escape in a printed string */
/* clang-format off */
static const uint8_t plain_char[256] = {
#define R16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
    R16(0),
    R16(0),
    /* ' ' .. '/': '"' and '\'' escaped */
    1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1,
    /* '0' .. '?': '?' escaped */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    R16(1),
    /* 'P' .. '_': '\\' escaped */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    R16(1),
    /* 'p' .. DEL */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    R16(1),
    R16(1),
    R16(1),
    R16(1),
    R16(1),
    R16(1),
    R16(1),
    R16(1),
#undef R16
};
/* clang-format on */

/* One line from its class template (values at known places). p is the
 * output cursor; the line ends the buffer's content. */
static void put_tpl(struct rtr_text *t, const struct tpl *tp, const struct rtr_msg *m, char *p)
{
	for (uint32_t i = 0; i <= tp->nslot; i++) {
		size_t ll = tp->off[i + 1] - tp->off[i];
		const struct rtr_value *v;

		p = ensure(t, p, ll + 96);
		if (!p)
			return;
		p = w_lit(p, tp->lit + tp->off[i], ll);
		if (i == tp->nslot)
			break;
		v = &m->values[tp->val[i]];
		switch (tp->fmt[i]) {
		case SF_UDEC:
			p = w_u64(p, v->v.u);
			break;
		case SF_SDEC:
			p = w_i64(p, v->v.i);
			break;
		case SF_HEX: {
			unsigned len = v->cls->size, rl = (len + 3) & ~3u;
			uint64_t u = v->v.u;

			/* babeltrace2 computes (1 << 64) - 1 on x86 as 0 */
			if (len < 64)
				u &= rl < 64 ? ((uint64_t)1 << rl) - 1 : 0;
			p[0] = '0';
			p[1] = 'x';
			p = w_hex(p + 2, u);
			break;
		}
		case SF_FLOAT: {
			int n = rtr__fmt_g(v->v.d, p);

			if (rtr_likely(n > 0)) {
				p += n;
				break;
			}
			t->len = (size_t)(p - t->buf);
			put_float(t, v->v.d);
			p = t->buf + t->len;
			break;
		}
		case SF_STRING: {
			const uint8_t *c = (const uint8_t *)v->v.s;
			size_t n = (size_t)v->len, k;

			if (n <= 4096) {
				p = ensure(t, p, n + 2);
				if (!p)
					return;
				*p++ = '"';
				for (k = 0; k < n && plain_char[c[k]]; k++)
					p[k] = (char)c[k];
				p += k;
				if (k == n) {
					*p++ = '"';
					break;
				}
			}
			t->len = (size_t)(p - t->buf);
			if (n <= 4096) { /* an escape: the rest the slow way */
				t->len -= k + 1;
				put_escaped(t, v->v.s, n);
			} else {
				put_escaped(t, v->v.s, n);
			}
			p = t->buf + t->len;
			break;
		}
		default:
			t->len = (size_t)(p - t->buf);
			put_scalar(t, v);
			p = t->buf + t->len;
			break;
		}
	}
	t->len = (size_t)(p - t->buf);
}

/* '[' time of day '.' ns "] (+0." delta ") " when the time is in the
 * cached second and the delta below one second (put_head otherwise).
 * Returns the cursor after it, or NULL. */
static inline char *head_fast(struct rtr_text *t, const struct rtr_msg *m)
{
	uint64_t delta;
	char *p;

	if (!t->fast_head || !m->has_clock || m->ns_error || !t->tm_valid ||
	    m->ns < t->sec_base_ns || m->ns - t->sec_base_ns >= 1000000000 ||
	    t->last_real == UINT64_MAX)
		return NULL;
	delta = (uint64_t)m->ns - t->last_real;
	if (delta >= 1000000000 && !t->o.no_delta)
		return NULL;
	p = ensure(t, t->buf + t->len, 64);
	if (!p)
		return NULL;
	t->delta_real = delta;
	t->last_real = (uint64_t)m->ns;
	t->start_line = true;
	*p++ = '[';
	p = w_lit(p, t->tm_str, t->tm_len);
	p = w9z(p, (uint32_t)(m->ns - t->sec_base_ns));
	if (t->o.no_delta) {
		memcpy(p, "] ", 2);
		return p + 2;
	}
	memcpy(p, "] (+0.", 6);
	p = w9z(p + 6, (uint32_t)delta);
	memcpy(p, ") ", 2);
	return p + 2;
}

/* Timestamp and delta: depend on the previous printed event. */
static void put_head(struct rtr_text *t, const struct rtr_msg *m)
{
	bool pn = t->o.names & RTR_TEXT_NAME_HEADER;

	t->start_line = true;
	if (m->has_clock) {
		if (pn)
			PUTS(t, "timestamp = ");
		else
			putc1(t, '[');
		if (t->o.clock_cycles) {
			put_u64w(t, m->cycles, 20);
			if (t->last_cycles != UINT64_MAX)
				t->delta_cycles = m->cycles - t->last_cycles;
			t->last_cycles = m->cycles;
		} else {
			put_wall(t, m->ns, m->ns_error, true);
		}
		if (!pn)
			PUTS(t, "] ");
		if (!t->o.no_delta) {
			if (pn) {
				PUTS(t, ", delta = ");
			} else {
				putc1(t, '(');
			}
			if (t->o.clock_cycles) {
				if (t->delta_cycles == UINT64_MAX) {
					PUTS(t, "+????????????");
				} else {
					putc1(t, '+');
					put_u64w(t, t->delta_cycles, 12);
				}
			} else if (t->delta_real < 1000000000) {
				PUTS(t, "+0.");
				put_u64w(t, t->delta_real, 9);
			} else if (t->delta_real != UINT64_MAX) {
				putc1(t, '+');
				put_u64(t, t->delta_real / 1000000000);
				putc1(t, '.');
				put_u64w(t, t->delta_real % 1000000000, 9);
			} else {
				PUTS(t, "+?.?????????");
			}
			if (!pn)
				PUTS(t, ") ");
		}
		t->start_line = !pn;
	}
}

/* The rest of the line: depends on the event only (and on whether its
 * stream has a clock, through start_line). */
static void put_rest(struct rtr_text *t, const struct rtr_msg *m)
{
	bool pn = t->o.names & RTR_TEXT_NAME_HEADER;
	unsigned f = t->o.fields;
	const struct trace_hdr *h;
	bool dom = false;
	struct tpl *tp;
	size_t lit_start = 0;
	uint64_t flushes = 0;

	tp = m->class_index < t->ntpl ? &t->tpls[m->class_index] : NULL;
	if (tp && tp->ok && tp->nv == m->n_values) {
		put_tpl(t, tp, m, t->buf + t->len);
		return;
	}
	h = hdr_of(t, m->stream);
	if (tp && !tp->tried) {
		/* print normally once, noting where the values went */
		room(t, 65536);
		lit_start = t->len;
		flushes = t->flushes;
		t->capturing = true;
		t->capture_bad = false;
		t->ncap = 0;
	}
	if (!pn && h && h->pre) {
		put(t, h->pre, h->pre_len);
		dom = h->pre_dom;
		goto class_fields;
	}
	slow_fields(t, m, h, &dom);
class_fields:
	if ((f & RTR_TEXT_FIELD_LOGLEVEL) && m->loglevel >= 0 && loglevel_name(m->loglevel)) {
		if (!t->start_line)
			PUTS(t, ", ");
		if (pn)
			PUTS(t, "loglevel = ");
		else if (dom)
			putc1(t, ':');
		putstr(t, loglevel_name(m->loglevel));
		PUTS(t, " (");
		put_i64(t, m->loglevel);
		putc1(t, ')');
		dom = true;
	}
	if ((f & RTR_TEXT_FIELD_EMF) && m->emf_uri) {
		if (!t->start_line)
			PUTS(t, ", ");
		if (pn)
			PUTS(t, "model.emf.uri = ");
		else if (dom)
			putc1(t, ':');
		putstr(t, m->emf_uri);
		dom = true;
	}
	if (dom && !pn)
		putc1(t, ' ');
	if (!t->start_line)
		PUTS(t, ", ");
	t->start_line = true;
	if (pn)
		PUTS(t, "name = ");
	putstr(t, m->name ? m->name : "<unknown>");
	if (!pn)
		PUTS(t, ": ");
	else
		PUTS(t, ", ");
	put_values(t, m->values, m->n_values);
	putc1(t, '\n');
	if (t->capturing) {
		t->capturing = false;
		tp->tried = true;
		if (!t->capture_bad && flushes == t->flushes)
			make_tpl(t, tp, lit_start, m->n_values, m->values);
	}
}

static void put_event(struct rtr_text *t, const struct rtr_msg *m)
{
	const struct tpl *tp = m->class_index < t->ntpl ? &t->tpls[m->class_index] : NULL;

	if (tp && tp->ok && tp->nv == m->n_values) {
		char *p = head_fast(t, m);

		if (p) {
			put_tpl(t, tp, m, p);
			return;
		}
	}
	put_head(t, m);
	put_rest(t, m);
}

static void put_discarded(struct rtr_text *t, const struct rtr_msg *m)
{
	const struct rtr_stream_info *si = m->stream;
	const char *what = m->kind == RTR_MSG_DISCARDED_EVENTS ? "event" : "packet";
	size_t save = t->len;
	char *line;
	size_t n;

	/* build the line in the buffer, then move it to stderr */
	flush_out(t);
	save = t->len;
	PUTS(t, "WARNING: ");
	if (m->count == UINT64_MAX) {
		PUTS(t, "Tracer may have discarded ");
		putstr(t, what);
		putc1(t, 's');
	} else {
		PUTS(t, "Tracer discarded ");
		put_u64(t, m->count);
		putc1(t, ' ');
		putstr(t, what);
		if (m->count != 1)
			putc1(t, 's');
	}
	putc1(t, ' ');
	if (m->has_range) {
		PUTS(t, "between [");
		put_wall(t, m->begin_ns, m->begin_ns_error, false);
		PUTS(t, "] and [");
		put_wall(t, m->end_ns, m->end_ns_error, false);
		putc1(t, ']');
	} else {
		PUTS(t, "(unknown time range)");
	}
	PUTS(t, " in trace \"");
	putstr(t, si->trace_name ? si->trace_name : "(unknown)");
	PUTS(t, "\" ");
	if (si->uuid) {
		char u[64];
		const uint8_t *x = si->uuid;

		snprintf(
		    u, sizeof(u),
		    "(UUID: %02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x) ",
		    x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10], x[11], x[12],
		    x[13], x[14], x[15]);
		putstr(t, u);
	} else {
		PUTS(t, "(no UUID) ");
	}
	PUTS(t, "within stream \"");
	putstr(t, si->path ? si->path : "(unknown)");
	PUTS(t, "\" (stream class ID: ");
	put_u64(t, si->stream_class_id);
	PUTS(t, ", stream ID: ");
	put_u64(t, si->stream_id);
	PUTS(t, ").\n");
	if (t->fd < 0)
		return; /* memory mode: the line stays in the buffer */
	line = t->buf + save;
	n = t->len - save;
	fwrite(line, 1, n, t->err);
	fflush(t->err);
	t->len = save;
}

static struct rtr_text *text_new(struct rtr_reader *r, int out_fd, FILE *err,
				 const struct rtr_text_options *o)
{
	struct rtr_text *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->buf = malloc(OUTBUF);
	t->nth = rtr_reader_trace_count(r);
	t->th = calloc(t->nth + 1, sizeof(*t->th));
	if (!t->buf || !t->th) {
		free(t->buf);
		free(t->th);
		free(t);
		return NULL;
	}
	t->ntpl = rtr_reader_class_count(r);
	t->tpls = calloc(t->ntpl + 1, sizeof(*t->tpls));
	if (!t->tpls) {
		free(t->buf);
		free(t->th);
		free(t);
		return NULL;
	}
	t->cap = OUTBUF;
	t->r = r;
	t->fd = out_fd;
	t->err = err;
	t->o = *o;
	t->last_real = t->delta_real = UINT64_MAX;
	t->last_cycles = t->delta_cycles = UINT64_MAX;
	t->fast_head = !(o->names & RTR_TEXT_NAME_HEADER) && !o->clock_cycles && !o->clock_seconds;
	tzset();
	return t;
}

struct rtr_text *rtr_text_create(struct rtr_reader *r, int out_fd, FILE *err,
				 const struct rtr_text_options *o)
{
	return out_fd < 0 ? NULL : text_new(r, out_fd, err, o);
}

int rtr_text_print(struct rtr_text *t, const struct rtr_msg *m)
{
	if (m->kind == RTR_MSG_EVENT)
		put_event(t, m);
	else
		put_discarded(t, m);
	if (t->werr) {
		errno = t->werr;
		return -1;
	}
	return 0;
}

int rtr_text_destroy(struct rtr_text *t)
{
	int e;

	if (!t)
		return 0;
	flush_out(t);
	e = t->werr;
	for (size_t i = 0; i < t->nth; i++)
		free(t->th[i].pre);
	for (size_t i = 0; i < t->ntpl; i++) {
		free(t->tpls[i].lit);
		free(t->tpls[i].val);
		free(t->tpls[i].off);
		free(t->tpls[i].fmt);
	}
	free(t->tpls);
	free(t->cap_s);
	free(t->cap_e);
	free(t->cap_v);
	free(t->buf);
	free(t->th);
	free(t);
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* drain (a two-thread pipeline copying batches of messages to a
 * formatting thread was measured slower: the copies cost more than the
 * formatting they offload)                                            */

static bool parallel_ok(struct rtr_reader *r);
static int parallel_drain(struct rtr_text *t, struct rtr_reader *r,
			  void (*progress)(struct rtr_reader *r, uint64_t n));

int rtr_text_drain(struct rtr_text *t, struct rtr_reader *r,
		   void (*progress)(struct rtr_reader *r, uint64_t n))
{
	struct rtr_msg m;
	uint64_t n = 0;
	int rc;

	if (parallel_ok(r)) {
		rc = parallel_drain(t, r, progress);
		if (rc <= 0)
			return rc;
	}
	while ((rc = rtr_reader_next(r, &m)) == 1) {
		if (rtr_text_print(t, &m))
			return -2;
		if (progress && !(++n & 0xffff))
			progress(r, n);
	}
	return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* parallel view (RTR_PARALLEL=1): one worker thread per stream decodes its events and
 * formats everything after the delta into chunks of text; the calling
 * thread merges the chunks' entries in babeltrace2's order and writes
 * timestamp, delta and the pre-formatted rest of each line. Used for big
 * multi-stream traces whose times cannot be negative (the one-time
 * negative-time warning needs the sequential order).                  */

#define PCHUNK_EV   4096
#define PCHUNK_TEXT (1u << 20)
#define PCHUNKS	    3

struct pent {
	int64_t key_ns;
	int64_t ns;
	uint64_t cycles;
	uint64_t ecid;
	uint32_t off, len;
	uint8_t item;
	uint8_t key_type;
	uint8_t has_clock;
};

struct pchunk {
	struct rtr_text *fmt; /* memory-mode formatter holding the text */
	struct pent *e;
	size_t n, pos;
	int end; /* 0: more follow, 1: end of stream, -1: error after these */
	struct pchunk *next;
};

struct pstream {
	struct rtr_reader *r;
	struct rtr__stream *s;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct pchunk *free_list, *full_head, *full_tail, *cur;
	struct pchunk chunks[PCHUNKS];
	bool stop, started;
	pthread_t th;
	struct rtr__err err;
	bool pn;
};

static void *pworker(void *arg)
{
	struct pstream *ps = arg;
	struct rtr__stream *s = ps->s;

	while (1) {
		struct pchunk *c;

		pthread_mutex_lock(&ps->lock);
		while (!ps->free_list && !ps->stop)
			pthread_cond_wait(&ps->cv, &ps->lock);
		if (ps->stop) {
			pthread_mutex_unlock(&ps->lock);
			break;
		}
		c = ps->free_list;
		ps->free_list = c->next;
		pthread_mutex_unlock(&ps->lock);
		c->n = c->pos = 0;
		c->end = 0;
		c->fmt->len = 0;
		while (c->n < PCHUNK_EV && c->fmt->len < PCHUNK_TEXT) {
			struct rtr_msg m;
			struct pent *e;
			int rc = rtr__stream_advance(ps->r, s);

			if (rc <= 0) {
				c->end = rc == 0 ? 1 : -1;
				break;
			}
			e = &c->e[c->n++];
			e->key_ns = s->key_ns;
			e->key_type = (uint8_t)s->key_type;
			e->item = (uint8_t)s->item;
			e->ecid = s->item == IT_EVENT ? s->ec->id : 0;
			rtr__fill_msg(s, &m);
			e->off = (uint32_t)c->fmt->len;
			if (m.kind == RTR_MSG_EVENT) {
				e->ns = m.ns;
				e->cycles = m.cycles;
				e->has_clock = m.has_clock;
				c->fmt->start_line = m.has_clock ? !ps->pn : true;
				put_rest(c->fmt, &m);
			} else {
				put_discarded(c->fmt, &m);
			}
			e->len = (uint32_t)(c->fmt->len - e->off);
		}
		pthread_mutex_lock(&ps->lock);
		c->next = NULL;
		if (ps->full_tail)
			ps->full_tail->next = c;
		else
			ps->full_head = c;
		ps->full_tail = c;
		pthread_cond_broadcast(&ps->cv);
		pthread_mutex_unlock(&ps->lock);
		if (c->end)
			break;
	}
	return NULL;
}

/* Makes ps->cur point at an entry: 1, 0 at the end, -1 error. */
static int phead(struct pstream *ps)
{
	while (!ps->cur || ps->cur->pos == ps->cur->n) {
		if (ps->cur) {
			int end = ps->cur->end;

			if (end)
				return end == 1 ? 0 : -1;
			pthread_mutex_lock(&ps->lock);
			ps->cur->next = ps->free_list;
			ps->free_list = ps->cur;
			ps->cur = NULL;
			pthread_cond_broadcast(&ps->cv);
			pthread_mutex_unlock(&ps->lock);
		}
		pthread_mutex_lock(&ps->lock);
		while (!ps->full_head)
			pthread_cond_wait(&ps->cv, &ps->lock);
		ps->cur = ps->full_head;
		ps->full_head = ps->cur->next;
		if (!ps->full_head)
			ps->full_tail = NULL;
		pthread_mutex_unlock(&ps->lock);
	}
	return 1;
}

static int pcmp(const struct pstream *a, const struct pstream *b)
{
	const struct pent *x = &a->cur->e[a->cur->pos], *y = &b->cur->e[b->cur->pos];
	const struct rtr_stream_info *p = &a->s->info, *q = &b->s->info;
	int c;

	if (x->key_ns != y->key_ns)
		return x->key_ns < y->key_ns ? -1 : 1;
	if (p->uuid && !q->uuid)
		return -1;
	if (!p->uuid && q->uuid)
		return 1;
	if (p->uuid && (c = memcmp(p->uuid, q->uuid, 16)))
		return c;
	if ((c = strcmp(p->trace_name, q->trace_name)))
		return c;
	if (p->stream_class_id != q->stream_class_id)
		return p->stream_class_id < q->stream_class_id ? -1 : 1;
	if (p->stream_id != q->stream_id)
		return p->stream_id < q->stream_id ? -1 : 1;
	if (x->key_type != y->key_type)
		return x->key_type < y->key_type ? -1 : 1;
	if (x->item == IT_EVENT && y->item == IT_EVENT && x->ecid != y->ecid)
		return x->ecid < y->ecid ? -1 : 1;
	return p->index < q->index ? -1 : p->index > q->index;
}

static void pheap_down(struct pstream **h, size_t n, size_t i)
{
	struct pstream *x = h[i];

	while (1) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && pcmp(h[c + 1], h[c]) < 0)
			c++;
		if (pcmp(x, h[c]) <= 0)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

static void pheap_up(struct pstream **h, size_t i)
{
	struct pstream *x = h[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (pcmp(h[p], x) <= 0)
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = x;
}

static bool parallel_ok(struct rtr_reader *r)
{
	const char *env = getenv("RTR_PARALLEL");
	uint64_t done, total;

	/* opt-in: on this project's shared 2-core machines the extra thread
	 * measured no faster (formatting in workers adds ~35% CPU) */
	if (!env || strcmp(env, "1"))
		return false;
	if (r->started || r->nst < 2 || r->nst > 16 || r->opt.all_values || r->opt.skip_values)
		return false;
	for (size_t i = 0; i < r->nst; i++) {
		struct rtr__stream *s = r->streams[i];

		if (s->sc->clock >= 0) {
			const struct rtr__clock *c = &s->tc->clocks[s->sc->clock];
			int ovf;

			if (c->freq != 1000000000u || rtr__clock_ns(c, 0, &ovf) < 0 || ovf)
				return false;
		}
	}
	rtr_reader_progress(r, &done, &total);
	(void)total;
	return true;
}

static struct rtr_text *text_new(struct rtr_reader *r, int fd, FILE *err,
				 const struct rtr_text_options *o);

static int parallel_drain(struct rtr_text *t, struct rtr_reader *r,
			  void (*progress)(struct rtr_reader *r, uint64_t n))
{
	size_t n = r->nst, nh = 0;
	struct pstream *ps = calloc(n, sizeof(*ps));
	struct pstream **heap = calloc(n, sizeof(*heap));
	uint64_t count = 0;
	int rc = 0;

	if (!ps || !heap) {
		free(ps);
		free(heap);
		return 1; /* not started: caller goes sequential */
	}
	rtr__reader_start(r);
	for (size_t i = 0; i < n; i++) {
		struct pstream *p = &ps[i];

		p->r = r;
		p->s = r->streams[i];
		p->s->err = &p->err; /* each worker reports its own error */
		p->pn = t->o.names & RTR_TEXT_NAME_HEADER;
		pthread_mutex_init(&p->lock, NULL);
		pthread_cond_init(&p->cv, NULL);
		for (int k = 0; k < PCHUNKS; k++) {
			struct pchunk *c = &p->chunks[k];

			c->fmt = text_new(r, -1, t->err, &t->o);
			c->e = malloc(PCHUNK_EV * sizeof(*c->e));
			if (!c->fmt || !c->e) {
				rc = -1;
				rtr__seterr(&r->err, "out of memory");
				break;
			}
			c->next = p->free_list;
			p->free_list = c;
		}
		if (!rc && pthread_create(&p->th, NULL, pworker, p) == 0)
			p->started = true;
		else if (!rc) {
			rc = -1;
			rtr__seterr(&r->err, "cannot start a thread");
		}
	}
	for (size_t i = 0; i < n && !rc; i++) {
		int h = phead(&ps[i]);

		if (h < 0) {
			rtr__seterr(&r->err, "%s", ps[i].err.msg);
			rc = -1;
		} else if (h) {
			heap[nh++] = &ps[i];
			pheap_up(heap, nh - 1);
		}
	}
	while (!rc && nh) {
		struct pstream *p = heap[0];
		struct pchunk *c = p->cur;
		const struct pent *e = &c->e[c->pos];
		int h;

		if (e->item == IT_EVENT) {
			struct rtr_msg m;

			m.has_clock = e->has_clock;
			m.ns = e->ns;
			m.ns_error = 0;
			m.cycles = e->cycles;
			put_head(t, &m);
			put(t, c->fmt->buf + e->off, e->len);
		} else {
			flush_out(t);
			fwrite(c->fmt->buf + e->off, 1, e->len, t->err);
			fflush(t->err);
		}
		if (t->werr) {
			rc = -2;
			break;
		}
		c->pos++;
		h = phead(p);
		if (h < 0) {
			rtr__seterr(&r->err, "%s", p->err.msg);
			rc = -1;
			break;
		}
		if (h) {
			pheap_down(heap, nh, 0);
		} else {
			heap[0] = heap[--nh];
			if (nh)
				pheap_down(heap, nh, 0);
		}
		if (progress && !(++count & 0xffff))
			progress(r, count);
	}
	for (size_t i = 0; i < n; i++) {
		struct pstream *p = &ps[i];

		if (p->started) {
			pthread_mutex_lock(&p->lock);
			p->stop = true;
			pthread_cond_broadcast(&p->cv);
			pthread_mutex_unlock(&p->lock);
			pthread_join(p->th, NULL);
		}
		for (int k = 0; k < PCHUNKS; k++) {
			rtr_text_destroy(p->chunks[k].fmt);
			free(p->chunks[k].e);
		}
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->cv);
		p->s->err = &r->err;
	}
	free(ps);
	free(heap);
	if (rc == -2)
		errno = t->werr;
	return rc;
}
