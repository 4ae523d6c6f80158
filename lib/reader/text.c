/* babeltrace2 2.0.4 text format (sink.text.pretty), byte for byte, with
 * hand-written number formatting and a large output buffer.
 * See docs/design/reader.md and shared/docs/research/ctf.md §9. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>
#include <sched.h>

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
	size_t nv; /* number of value records (with empty arrays) */
	char *lit; /* literal bytes */
	uint32_t nslot;
	uint32_t *val; /* value index of each slot */
	uint8_t *fmt;  /* formatter of each slot (enum slot_fmt) */
	uint8_t *efmt; /* array slots: formatter of the elements */
	uint32_t *off; /* literal i: lit[off[i], off[i + 1]) */
	uint32_t narr; /* array slots (val[] then counts them as empty) */
};

/* What a line's timestamp and delta depend on from the lines before. */
struct hstate {
	uint64_t last_real; /* -1: none */
	uint64_t delta_real;
	uint64_t last_cycles, delta_cycles;
	bool neg_warned;
};

struct par;

struct rtr_text {
	struct rtr_reader *r;
	int fd;
	FILE *err;
	struct rtr_text_options o;
	char *buf;
	size_t len, cap;
	int werr;
	/* timestamps */
	struct hstate hs;
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
	/* parallel printing: output of batch 'seq' may only be written when
	 * the batches before it are */
	struct par *par;
	uint64_t seq;
	bool has_turn;
	uint32_t *cap_s, *cap_e, *cap_v;
	uint8_t *cap_f;
	size_t ncap, cap_cap;
};

/* ------------------------------------------------------------------ */
/* output                                                              */

static void wait_turn(struct rtr_text *t);

static void flush_out(struct rtr_text *t)
{
	size_t off = 0;

	if (t->fd < 0)
		return; /* memory mode */
	if (t->par && !t->has_turn)
		wait_turn(t);
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
	if (t->hs.last_real != UINT64_MAX)
		t->hs.delta_real = (uint64_t)ts_nsec - t->hs.last_real;
	if (update_last)
		t->hs.last_real = (uint64_t)ts_nsec;
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

		if (neg && !t->hs.neg_warned) {
			flush_out(t);
			fprintf(t->err, "[warning] Fallback to [sec.ns] to print negative time "
					"value. Use --clock-seconds.\n");
			t->hs.neg_warned = true;
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

enum slot_fmt {
	SF_UDEC,
	SF_SDEC,
	SF_HEX,
	SF_INT,
	SF_ENUM,
	SF_FLOAT,
	SF_STRING,
	SF_ARRAY,	/* array of scalars */
	SF_ARRAY_NAMES, /* array of scalars, elements named "[i] = " */
	SF_NONE,	/* not a scalar */
};

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

/* Formatter of the records of op when they are scalars, else SF_NONE. */
static uint8_t op_fmt(const struct rtr__op *op)
{
	switch (op->code) {
	case OP_INT_BYTE:
	case OP_INT_BITS:
		if (op->t->kind == TK_ENUM)
			return SF_ENUM;
		if (op->t->base == 16)
			return SF_HEX;
		if (op->t->base != 10)
			return SF_INT;
		return op->sign ? SF_SDEC : SF_UDEC;
	case OP_FLOAT:
		return SF_FLOAT;
	case OP_STRING:
	case OP_TEXT_ARRAY:
		return SF_STRING;
	default:
		return SF_NONE;
	}
}

/* Element formatter of the array whose ARRAY_BEGIN is vals[i] when its
 * elements are scalars (one record each), else SF_NONE. */
static uint8_t array_efmt(const struct rtr_value *vals, size_t i, size_t n)
{
	const struct rtr_value *v = &vals[i];
	uint8_t f;

	if ((v->cls->code != OP_ARRAY && v->cls->code != OP_SEQ) || v->len >= n - i - 1 ||
	    vals[i + v->len + 1].kind != RTR_VAL_ARRAY_END)
		return SF_NONE;
	f = op_fmt(v->cls + 1); /* the element op follows the array's */
	for (uint64_t k = 0; k < v->len && f != SF_NONE; k++)
		if (vals[i + 1 + k].cls != v->cls + 1)
			f = SF_NONE;
	return f;
}

static char *w_array(struct rtr_text *t, char *p, const struct rtr_value *v, uint8_t efmt,
		     bool names);

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
			uint8_t ef =
			    v->kind == RTR_VAL_ARRAY_BEGIN ? array_efmt(vals, i, n) : SF_NONE;

			if ((v->kind == RTR_VAL_ARRAY_BEGIN && ef == SF_NONE) ||
			    v->kind == RTR_VAL_VARIANT_BEGIN) {
				t->capture_bad = true;
			} else if (v->kind != RTR_VAL_STRUCT_BEGIN) {
				if (t->ncap == t->cap_cap) {
					size_t nc = t->cap_cap ? t->cap_cap * 2 : 64;
					uint32_t *a = realloc(t->cap_s, nc * sizeof(*a));
					uint32_t *b = a ? realloc(t->cap_e, nc * sizeof(*b)) : NULL;
					uint32_t *c = b ? realloc(t->cap_v, nc * sizeof(*c)) : NULL;
					uint8_t *d = c ? realloc(t->cap_f, nc) : NULL;

					if (a)
						t->cap_s = a;
					if (b)
						t->cap_e = b;
					if (c)
						t->cap_v = c;
					if (d)
						t->cap_f = d;
					if (!d) {
						t->capture_bad = true;
						t->capturing = false;
						goto print;
					}
					t->cap_cap = nc;
				}
				t->cap_s[t->ncap] = (uint32_t)t->len;
				t->cap_v[t->ncap] = (uint32_t)i;
				if (v->kind == RTR_VAL_ARRAY_BEGIN) {
					/* the whole array is one slot */
					char *q = ensure(t, t->buf + t->len, 16);

					q = q ? w_array(t, q, v, ef, names) : NULL;
					if (!q) {
						t->capture_bad = true;
						t->capturing = false;
						continue;
					}
					t->len = (size_t)(q - t->buf);
					t->cap_f[t->ncap] = names ? SF_ARRAY_NAMES : SF_ARRAY;
					i += (size_t)v->len + 1; /* its ARRAY_END */
				} else {
					put_scalar(t, v);
					t->cap_f[t->ncap] = slot_fmt(v);
				}
				t->cap_e[t->ncap++] = (uint32_t)t->len;
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
		default:
			put_scalar(t, v);
			break;
		}
	}
}

/* ------------------------------------------------------------------ */
/* event header                                                        */

/* Separator before one of the trace:* header fields: ", " inside the
 * line, ':' between them at its start; then the label when names show. */
static void trace_field(struct rtr_text *t, bool dom, const char *label, size_t len)
{
	if (!t->start_line)
		PUTS(t, ", ");
	else if (dom)
		putc1(t, ':');
	if (label)
		put(t, label, len);
}
#define TRACE_FIELD(t, dom, pn, lit) trace_field(t, dom, (pn) ? (lit) : NULL, sizeof(lit) - 1)

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
		TRACE_FIELD(t, dom, pn, "trace:hostname = ");
		putstr(t, h->hostname);
		dom = true;
	}
	if ((f & RTR_TEXT_FIELD_DOMAIN) && h && h->domain) {
		TRACE_FIELD(t, dom, pn, "trace:domain = ");
		putstr(t, h->domain);
		dom = true;
	}
	if ((f & RTR_TEXT_FIELD_PROCNAME) && h && h->procname) {
		TRACE_FIELD(t, dom, pn, "trace:procname = ");
		putstr(t, h->procname);
		dom = true;
	}
	if ((f & RTR_TEXT_FIELD_VPID) && h && h->has_vpid) {
		TRACE_FIELD(t, dom, pn, "trace:vpid = ");
		putc1(t, '(');
		put_i64(t, h->vpid);
		putc1(t, ')');
		dom = true;
	}
	*domp = dom;
}

static void make_tpl(struct rtr_text *t, struct tpl *tp, size_t start, size_t nv,
		     const struct rtr_value *vals)
{
	size_t nlit = t->len - start, o = 0;
	char *lit = calloc(nlit + 64, 1); /* w_lit() reads 32 bytes past */
	uint32_t *val = malloc((t->ncap + 1) * sizeof(*val));
	uint32_t *off = malloc((t->ncap + 2) * sizeof(*off));
	uint8_t *fmt = malloc(t->ncap + 1), *efmt = calloc(t->ncap + 1, 1);
	size_t from = start, extra = 0;

	if (!lit || !val || !off || !fmt || !efmt) {
		free(lit);
		free(val);
		free(off);
		free(fmt);
		free(efmt);
		return;
	}
	for (size_t i = 0; i < t->ncap; i++) {
		const struct rtr_value *v = &vals[t->cap_v[i]];

		off[i] = (uint32_t)o;
		memcpy(lit + o, t->buf + from, t->cap_s[i] - from);
		o += t->cap_s[i] - from;
		from = t->cap_e[i];
		/* record index as if the arrays before were empty */
		val[i] = (uint32_t)(t->cap_v[i] - extra);
		fmt[i] = t->cap_f[i];
		if (fmt[i] == SF_ARRAY || fmt[i] == SF_ARRAY_NAMES) {
			efmt[i] = op_fmt(v->cls + 1);
			extra += (size_t)v->len;
			tp->narr++;
		}
	}
	off[t->ncap] = (uint32_t)o;
	memcpy(lit + o, t->buf + from, t->len - from);
	o += t->len - from;
	off[t->ncap + 1] = (uint32_t)o;
	tp->lit = lit;
	tp->val = val;
	tp->off = off;
	tp->fmt = fmt;
	tp->efmt = efmt;
	tp->nslot = (uint32_t)t->ncap;
	tp->nv = nv - extra;
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

/* Writes value v (a scalar) formatted as fmt at p; returns the cursor
 * after it, or NULL on allocation failure. Room for 96 bytes was made. */
static char *w_value(struct rtr_text *t, char *p, uint8_t fmt, const struct rtr_value *v)
{
	switch (fmt) {
	case SF_UDEC:
		return w_u64(p, v->v.u);
	case SF_SDEC:
		return w_i64(p, v->v.i);
	case SF_HEX: {
		unsigned len = v->cls->size, rl = (len + 3) & ~3u;
		uint64_t u = v->v.u;

		/* babeltrace2 computes (1 << 64) - 1 on x86 as 0 */
		if (len < 64)
			u &= rl < 64 ? ((uint64_t)1 << rl) - 1 : 0;
		p[0] = '0';
		p[1] = 'x';
		return w_hex(p + 2, u);
	}
	case SF_FLOAT: {
		int n = rtr__fmt_g(v->v.d, p);

		if (rtr_likely(n > 0))
			return p + n;
		t->len = (size_t)(p - t->buf);
		put_float(t, v->v.d);
		return t->buf + t->len;
	}
	case SF_STRING: {
		const uint8_t *c = (const uint8_t *)v->v.s;
		size_t n = (size_t)v->len, k = 0;

		if (n <= 4096) {
			p = ensure(t, p, n + 2);
			if (!p)
				return NULL;
			*p++ = '"';
			for (k = 0; k < n && plain_char[c[k]]; k++)
				p[k] = (char)c[k];
			p += k;
			if (k == n) {
				*p++ = '"';
				return p;
			}
			/* an escape: all of it the slow way */
			p -= k + 1;
		}
		t->len = (size_t)(p - t->buf);
		put_escaped(t, v->v.s, n);
		return t->buf + t->len;
	}
	default:
		t->len = (size_t)(p - t->buf);
		put_scalar(t, v);
		return t->buf + t->len;
	}
}

/* Array of scalars whose ARRAY_BEGIN record is v: "[ a, b ]", or with
 * names "[ [0] = a, [1] = b ]". */
static char *w_array(struct rtr_text *t, char *p, const struct rtr_value *v, uint8_t efmt,
		     bool names)
{
	uint64_t cnt = v->len;

	*p++ = '[';
	for (uint64_t k = 0; k < cnt && p; k++) {
		p = ensure(t, p, 128);
		if (!p)
			return NULL;
		if (k)
			*p++ = ',';
		*p++ = ' ';
		if (names) {
			*p++ = '[';
			p = w_u64(p, k);
			memcpy(p, "] = ", 4);
			p += 4;
		}
		p = w_value(t, p, efmt, &v[1 + k]);
	}
	if (p)
		p = ensure(t, p, 8);
	if (!p)
		return NULL;
	memcpy(p, " ]", 2);
	return p + 2;
}

/* Does template tp apply to message m (same record structure, arrays of
 * any length)? */
static bool tpl_match(const struct tpl *tp, const struct rtr_msg *m)
{
	size_t extra = 0;

	if (!tp->ok)
		return false;
	if (!tp->narr)
		return tp->nv == m->n_values;
	for (uint32_t i = 0; i < tp->nslot; i++) {
		const struct rtr_value *v;

		if (tp->fmt[i] != SF_ARRAY && tp->fmt[i] != SF_ARRAY_NAMES)
			continue;
		if (tp->val[i] + extra >= m->n_values)
			return false;
		v = &m->values[tp->val[i] + extra];
		if (v->kind != RTR_VAL_ARRAY_BEGIN || v->len > m->n_values)
			return false;
		extra += (size_t)v->len;
	}
	return tp->nv + extra == m->n_values;
}

/* One line from its class template (values at known places). p is the
 * output cursor; the line ends the buffer's content. */
static void put_tpl(struct rtr_text *t, const struct tpl *tp, const struct rtr_msg *m, char *p)
{
	size_t extra = 0;

	for (uint32_t i = 0; i <= tp->nslot; i++) {
		size_t ll = tp->off[i + 1] - tp->off[i];
		const struct rtr_value *v;
		uint8_t fmt;

		p = ensure(t, p, ll + 96);
		if (!p)
			return;
		p = w_lit(p, tp->lit + tp->off[i], ll);
		if (i == tp->nslot)
			break;
		v = &m->values[tp->val[i] + extra];
		fmt = tp->fmt[i];
		if (fmt == SF_ARRAY || fmt == SF_ARRAY_NAMES) {
			p = w_array(t, p, v, tp->efmt[i], fmt == SF_ARRAY_NAMES);
			extra += (size_t)v->len;
		} else {
			p = w_value(t, p, fmt, v);
		}
		if (!p)
			return;
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
	    t->hs.last_real == UINT64_MAX)
		return NULL;
	delta = (uint64_t)m->ns - t->hs.last_real;
	if (delta >= 1000000000 && !t->o.no_delta)
		return NULL;
	p = ensure(t, t->buf + t->len, 64);
	if (!p)
		return NULL;
	t->hs.delta_real = delta;
	t->hs.last_real = (uint64_t)m->ns;
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
			if (t->hs.last_cycles != UINT64_MAX)
				t->hs.delta_cycles = m->cycles - t->hs.last_cycles;
			t->hs.last_cycles = m->cycles;
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
				if (t->hs.delta_cycles == UINT64_MAX) {
					PUTS(t, "+????????????");
				} else {
					putc1(t, '+');
					put_u64w(t, t->hs.delta_cycles, 12);
				}
			} else if (t->hs.delta_real < 1000000000) {
				PUTS(t, "+0.");
				put_u64w(t, t->hs.delta_real, 9);
			} else if (t->hs.delta_real != UINT64_MAX) {
				putc1(t, '+');
				put_u64(t, t->hs.delta_real / 1000000000);
				putc1(t, '.');
				put_u64w(t, t->hs.delta_real % 1000000000, 9);
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
	if (tp && tpl_match(tp, m)) {
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

	if (tp && tpl_match(tp, m)) {
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
	t->hs.last_real = t->hs.delta_real = UINT64_MAX;
	t->hs.last_cycles = t->hs.delta_cycles = UINT64_MAX;
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

int rtr_text_mark(struct rtr_text *t, const char *note)
{
	/* the line just printed still ends the buffer unless a flush took it */
	if (t->len && t->buf[t->len - 1] == '\n') {
		t->len--;
		putc1(t, ' ');
	}
	putstr(t, note);
	putc1(t, '\n');
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
		free(t->tpls[i].efmt);
	}
	free(t->tpls);
	free(t->cap_s);
	free(t->cap_e);
	free(t->cap_v);
	free(t->cap_f);
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
/* drain                                                               */

static int par_drain(struct rtr_text *t, struct rtr_reader *r,
		     void (*progress)(struct rtr_reader *r, uint64_t n));

int rtr_text_drain(struct rtr_text *t, struct rtr_reader *r,
		   void (*progress)(struct rtr_reader *r, uint64_t n))
{
	struct rtr_msg m;
	uint64_t n = 0;
	int rc = par_drain(t, r, progress);

	if (rc <= 0)
		return rc;
	while ((rc = rtr_reader_next(r, &m)) == 1) {
		if (rtr_text_print(t, &m))
			return -2;
		if (progress && !(++n & 0xffff))
			progress(r, n);
	}
	return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* parallel printing: the calling thread reads and merges messages into
 * batches (values and strings copied, so the reader may move on), a
 * helper thread and the caller format batches, and batches are written
 * in order. The timestamp state each batch starts from is computed by
 * the reading thread (hstep), so the text is the sequential one.      */

#define PB_EVENTS     4096	 /* messages per batch */
#define PB_BYTES      (2u << 20) /* value and string bytes per batch */
#define PB_VALS	      (PB_BYTES / sizeof(struct rtr_value))
#define PB_STRS	      (PB_BYTES / 4)
#define PB_N	      6		 /* batches in flight */
#define PAR_MIN_BYTES (8u << 20) /* smaller traces print sequentially */

enum { PB_FREE, PB_READY, PB_BUSY };

struct pbatch {
	int state;
	uint64_t seq;
	struct hstate hs; /* printer state before the first message */
	struct rtr_msg *m;
	size_t n;
	struct rtr_value *v; /* values of all messages */
	size_t nv, capv;
	char *str; /* copied strings */
	size_t nstr, capstr;
};

struct par {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct pbatch b[PB_N];
	uint64_t written; /* batches written */
	bool done;	  /* no more batches */
	int werr;	  /* write error of a formatter */
	struct rtr_text *helper;
};

static void wait_turn(struct rtr_text *t)
{
	struct par *p = t->par;

	pthread_mutex_lock(&p->lock);
	while (p->written != t->seq)
		pthread_cond_wait(&p->cv, &p->lock);
	pthread_mutex_unlock(&p->lock);
	t->has_turn = true;
}

/* The state changes put_event()/put_discarded() make to t->hs. */
static void hstep_wall(const struct rtr_text_options *o, struct hstate *h, int64_t ns, int err,
		       bool update_last)
{
	if (err)
		return;
	if (h->last_real != UINT64_MAX)
		h->delta_real = (uint64_t)ns - h->last_real;
	if (update_last)
		h->last_real = (uint64_t)ns;
	if (!o->clock_seconds && ns < 0)
		h->neg_warned = true;
}

static void hstep(const struct rtr_text_options *o, struct hstate *h, const struct rtr_msg *m)
{
	if (m->kind != RTR_MSG_EVENT) {
		if (m->has_range) {
			hstep_wall(o, h, m->begin_ns, m->begin_ns_error, false);
			hstep_wall(o, h, m->end_ns, m->end_ns_error, false);
		}
		return;
	}
	if (!m->has_clock)
		return;
	if (o->clock_cycles) {
		if (h->last_cycles != UINT64_MAX)
			h->delta_cycles = m->cycles - h->last_cycles;
		h->last_cycles = m->cycles;
		return;
	}
	hstep_wall(o, h, m->ns, m->ns_error, true);
}

/* Formats batch b with t and writes it in its turn. Lock not held. */
static void par_format(struct par *p, struct rtr_text *t, struct pbatch *b)
{
	t->hs = b->hs;
	t->seq = b->seq;
	t->has_turn = false;
	for (size_t i = 0; i < b->n && !t->werr; i++)
		rtr_text_print(t, &b->m[i]);
	flush_out(t); /* waits for the turn */
	pthread_mutex_lock(&p->lock);
	if (t->werr && !p->werr)
		p->werr = t->werr;
	p->written = b->seq + 1;
	b->state = PB_FREE;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->lock);
	t->has_turn = false;
}

/* Gives b its default buffers (again, after a big message). Returns 0 or
 * -1. */
static int pb_shrink(struct pbatch *b)
{
	if (!b->v || b->capv > PB_VALS) {
		free(b->v);
		b->capv = PB_VALS;
		b->v = malloc(b->capv * sizeof(*b->v));
	}
	if (!b->str || b->capstr > PB_STRS) {
		free(b->str);
		b->capstr = PB_STRS;
		b->str = malloc(b->capstr);
	}
	return b->v && b->str ? 0 : -1;
}

/* The ready batch of lowest sequence number, or NULL. Lock held. */
static struct pbatch *par_next_ready(struct par *p)
{
	struct pbatch *best = NULL;

	for (int k = 0; k < PB_N; k++)
		if (p->b[k].state == PB_READY && (!best || p->b[k].seq < best->seq))
			best = &p->b[k];
	return best;
}

/* Formats the oldest ready batch with t (the lock is dropped meanwhile),
 * or, when none is ready, waits for a change (unless `done`). Returns
 * false when there was nothing to do. Lock held. */
static bool par_format_or_wait(struct par *p, struct rtr_text *t, bool done)
{
	struct pbatch *b = par_next_ready(p);

	if (!b) {
		if (!done)
			pthread_cond_wait(&p->cv, &p->lock);
		return false;
	}
	b->state = PB_BUSY;
	pthread_mutex_unlock(&p->lock);
	par_format(p, t, b);
	pthread_mutex_lock(&p->lock);
	return true;
}

static void *par_helper(void *arg)
{
	struct par *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (par_format_or_wait(p, p->helper, p->done))
			continue;
		if (p->done && !par_next_ready(p))
			break;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Copies the values and strings of message b->m[b->n] into b (they
 * point into the reader's buffers and mappings) and counts it in. The
 * buffers only grow while the batch is empty (and may_grow), so pointers
 * into them stay valid. Returns 0, 1 if it does not fit (batch full), 2
 * if it alone needs bigger buffers than may_grow allows, -1 (memory). */
static int par_add(const struct rtr_reader *r, struct pbatch *b, bool may_grow)
{
	struct rtr_msg *d = &b->m[b->n];
	const struct rtr_value *src = d->values;
	size_t n = d->n_values, nstr = b->nstr;
	struct rtr_value *v;

	if (d->kind != RTR_MSG_EVENT || !n)
		goto done;
	if (b->nv + n > b->capv) {
		if (b->n)
			return 1;
		if (!may_grow)
			return 2;
		if (rtr__grow((void **)&b->v, &b->capv, n, sizeof(*b->v)))
			return -1;
	}
	v = b->v + b->nv;
	memcpy(v, src, n * sizeof(*v));
	if (d->class_index < r->nclasses && !r->classes[d->class_index]->text_vals)
		goto count;
	for (size_t k = 0; k < n; k++) {
		if (v[k].kind != RTR_VAL_STRING || !v[k].len)
			continue;
		if (nstr + v[k].len > b->capstr) {
			if (b->n)
				return 1;
			if (!may_grow)
				return 2;
			/* alone in the batch: grow, then copy its strings again */
			if (rtr__grow((void **)&b->str, &b->capstr, nstr + v[k].len, 1))
				return -1;
			memcpy(v, src, n * sizeof(*v));
			nstr = b->nstr;
			k = (size_t)-1;
			continue;
		}
		memcpy(b->str + nstr, v[k].v.s, (size_t)v[k].len);
		v[k].v.s = b->str + nstr;
		nstr += (size_t)v[k].len;
	}
	b->nstr = nstr;
count:
	d->values = v;
	b->nv += n;
done:
	b->n++;
	return 0;
}

/* Waits until the first upto batches are written, formatting ready
 * ones meanwhile. Lock not held. */
static void par_wait_written(struct par *p, struct rtr_text *t, uint64_t upto)
{
	pthread_mutex_lock(&p->lock);
	while (p->written < upto && !p->werr)
		par_format_or_wait(p, t, false);
	pthread_mutex_unlock(&p->lock);
}

static bool par_wanted(const struct rtr_text *t, const struct rtr_reader *r)
{
	const char *env = getenv("RTR_PARALLEL");

	if (t->fd < 0 || r->opt.all_values || r->opt.skip_values)
		return false;
	if (env && !strcmp(env, "0"))
		return false;
	if (env && !strcmp(env, "1"))
		return true; /* tests: any trace */
	if (r->total_bytes < PAR_MIN_BYTES)
		return false;
	/* CPUs this process may run on (taskset, cgroup cpusets) */
	{
		cpu_set_t cs;

		if (!sched_getaffinity(0, sizeof(cs), &cs))
			return CPU_COUNT(&cs) >= 2;
	}
	return sysconf(_SC_NPROCESSORS_ONLN) >= 2;
}

/* Prints every message of r with a helper thread. Returns 1 when not
 * used (print sequentially), else as rtr_text_drain(). */
static int par_drain(struct rtr_text *t, struct rtr_reader *r,
		     void (*progress)(struct rtr_reader *r, uint64_t n))
{
	struct par *p;
	struct hstate hs;
	struct rtr_msg held;
	bool carry = false;
	pthread_t th;
	uint64_t seq = 0, count = 0;
	int rc = 1, ret;

	if (!par_wanted(t, r))
		return 1;
	p = calloc(1, sizeof(*p));
	if (!p)
		return 1;
	for (int k = 0; k < PB_N; k++) {
		struct pbatch *b = &p->b[k];

		b->m = malloc(PB_EVENTS * sizeof(*b->m));
		if (!b->m || pb_shrink(b))
			goto nothread;
	}
	p->helper = text_new(r, t->fd, t->err, &t->o);
	if (!p->helper)
		goto nothread;
	flush_out(t); /* what was printed before, in order */
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->helper->par = p;
	if (pthread_create(&th, NULL, par_helper, p)) {
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->cv);
		goto nothread;
	}
	t->par = p;
	hs = t->hs;
	while (rc == 1 || carry) {
		struct pbatch *b = NULL;

		/* a free batch to fill; format ready ones while none is */
		pthread_mutex_lock(&p->lock);
		while (!p->werr) {
			for (int k = 0; k < PB_N && !b; k++)
				if (p->b[k].state == PB_FREE)
					b = &p->b[k];
			if (b)
				break;
			par_format_or_wait(p, t, false);
		}
		pthread_mutex_unlock(&p->lock);
		if (!b)
			break; /* write error */
		if (pb_shrink(b)) {
			rtr__seterr(&r->err, "out of memory");
			rc = -1;
			break;
		}
		b->n = b->nv = b->nstr = 0;
		b->hs = hs;
		if (carry) { /* the message that did not fit in the last batch */
			b->m[0] = held;
			carry = false;
			goto add;
		}
		while (b->n < PB_EVENTS) {
			int a;

			rc = rtr_reader_next(r, &b->m[b->n]);
			if (rc != 1)
				break;
		add:
			a = par_add(r, b, false);
			if (a == 2) {
				/* one big message: alone in memory with its
				 * copy, after the batches before it */
				par_wait_written(p, t, seq);
				for (int k = 0; k < PB_N; k++)
					if (&p->b[k] != b && p->b[k].state == PB_FREE)
						pb_shrink(&p->b[k]);
				a = par_add(r, b, true);
			}
			if (a > 0) {
				held = b->m[b->n];
				carry = true;
				break;
			}
			if (a < 0) {
				rtr__seterr(&r->err, "out of memory");
				rc = -1;
				break;
			}
			hstep(&t->o, &hs, &b->m[b->n - 1]);
			if (progress && !(++count & 0xffff))
				progress(r, count);
		}
		if (!b->n)
			continue;
		pthread_mutex_lock(&p->lock);
		b->seq = seq++;
		b->state = PB_READY;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->lock);
	}
	/* the rest: format what is left, wait for the helper */
	pthread_mutex_lock(&p->lock);
	p->done = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->lock);
	par_wait_written(p, t, seq);
	pthread_join(th, NULL);
	ret = p->werr ? -2 : rc < 0 ? -1 : 0;
	if (p->werr) {
		t->werr = p->werr;
		errno = p->werr;
	}
	t->par = NULL;
	t->has_turn = false;
	t->hs = hs;
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cv);
	goto out;
nothread:
	ret = 1;
out:
	if (p->helper)
		p->helper->par = NULL;
	rtr_text_destroy(p->helper);
	for (int k = 0; k < PB_N; k++) {
		free(p->b[k].m);
		free(p->b[k].v);
		free(p->b[k].str);
	}
	free(p);
	return ret;
}
