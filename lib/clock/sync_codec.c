/* ringtrace clock — the sync-point log, its decimation, and the compact
 * ASCII encoding stored in the trace env. Design: docs/design/clock.md
 * ("The sync list in the trace"). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock_internal.h"

#define DECODE_MAX_LEN (1u << 20)

/* ---- decimation ----------------------------------------------------------- */

struct heap_ent {
	uint64_t cost;
	size_t idx;
	uint32_t ver;
};

static void heap_push(struct heap_ent *h, size_t *n, struct heap_ent e)
{
	size_t i = (*n)++;

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (h[p].cost <= e.cost)
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = e;
}

static struct heap_ent heap_pop(struct heap_ent *h, size_t *n)
{
	struct heap_ent top = h[0], last = h[--(*n)];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= *n)
			break;
		if (c + 1 < *n && h[c + 1].cost < h[c].cost)
			c++;
		if (last.cost <= h[c].cost)
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n)
		h[i] = last;
	return top;
}

static uint64_t abs_diff_i128(rtr_i128 a, rtr_i128 b)
{
	rtr_i128 d = a > b ? a - b : b - a;

	return d > (rtr_i128)UINT64_MAX ? UINT64_MAX : (uint64_t)d;
}

/* How far point i is from the straight line through p and q (ns), taking the
 * worse of the monotonic and realtime mappings. */
static uint64_t point_cost(const struct rtr_clock_sync *pts, size_t p, size_t i, size_t q)
{
	uint64_t dc = pts[q].clock - pts[p].clock;
	rtr_i128 t = (rtr_i128)(pts[i].clock - pts[p].clock);
	rtr_i128 m = (rtr_i128)pts[p].mono_ns +
		     muldiv_round(t, (int64_t)(pts[q].mono_ns - pts[p].mono_ns), dc);
	rtr_i128 r =
	    (rtr_i128)pts[p].real_ns + muldiv_round(t, pts[q].real_ns - pts[p].real_ns, dc);
	uint64_t em = abs_diff_i128(m, (rtr_i128)pts[i].mono_ns);
	uint64_t er = abs_diff_i128(r, (rtr_i128)pts[i].real_ns);

	return em > er ? em : er;
}

ssize_t rtr_clock_sync_decimate(struct rtr_clock_sync *pts, size_t n, size_t max_points)
{
	size_t *prev, *next, hn = 0, left = n, j = 0;
	uint32_t *ver;
	struct heap_ent *heap;
	unsigned char *gone;

	if (max_points < 2 || rtr_clock_sync_check(pts, n, NULL, 0) < 0)
		return -EINVAL;
	if (n <= max_points)
		return (ssize_t)n;
	prev = malloc(n * sizeof(*prev));
	next = malloc(n * sizeof(*next));
	ver = calloc(n, sizeof(*ver));
	gone = calloc(n, 1);
	heap = malloc(3 * n * sizeof(*heap));
	if (!prev || !next || !ver || !gone || !heap) {
		free(prev);
		free(next);
		free(ver);
		free(gone);
		free(heap);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		prev[i] = i - 1; /* wraps for 0: never used */
		next[i] = i + 1;
	}
	for (size_t i = 1; i + 1 < n; i++)
		heap_push(heap, &hn, (struct heap_ent){point_cost(pts, i - 1, i, i + 1), i, 0});
	while (left > max_points && hn) {
		struct heap_ent e = heap_pop(heap, &hn);
		size_t p, q;

		if (gone[e.idx] || e.ver != ver[e.idx])
			continue; /* stale entry */
		p = prev[e.idx];
		q = next[e.idx];
		gone[e.idx] = 1;
		left--;
		next[p] = q;
		prev[q] = p;
		if (p > 0) {
			ver[p]++;
			heap_push(heap, &hn,
				  (struct heap_ent){point_cost(pts, prev[p], p, q), p, ver[p]});
		}
		if (q + 1 < n) {
			ver[q]++;
			heap_push(heap, &hn,
				  (struct heap_ent){point_cost(pts, p, q, next[q]), q, ver[q]});
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!gone[i])
			pts[j++] = pts[i];
	free(prev);
	free(next);
	free(ver);
	free(gone);
	free(heap);
	return (ssize_t)j;
}

int rtr_clock_sync_log_add(struct rtr_clock_sync_log *log, const struct rtr_clock_sync *pt)
{
	if (!log || !pt || !log->pts || log->cap < 4 || log->n > log->cap)
		return -EINVAL;
	if (log->n) {
		const struct rtr_clock_sync *last = &log->pts[log->n - 1];

		if (pt->clock <= last->clock)
			return 0;
		if (pt->mono_ns < last->mono_ns)
			return -EINVAL;
	}
	if (log->n == log->cap) {
		ssize_t k = rtr_clock_sync_decimate(log->pts, log->n, log->cap / 2);

		if (k < 0)
			return (int)k;
		log->dropped += log->n - (size_t)k;
		log->n = (size_t)k;
	}
	log->pts[log->n++] = *pt;
	return 0;
}

/* ---- encoding ------------------------------------------------------------- */

/* Offsets realtime - monotonic, checked to fit int64 (and their deltas). */
static int offsets_ok(const struct rtr_clock_sync *pts, size_t n)
{
	rtr_i128 prev = 0;

	for (size_t i = 0; i < n; i++) {
		rtr_i128 o = (rtr_i128)pts[i].real_ns - (rtr_i128)pts[i].mono_ns;

		if (o > INT64_MAX || o < INT64_MIN)
			return 0;
		if (i && (o - prev > INT64_MAX || o - prev < INT64_MIN))
			return 0;
		prev = o;
	}
	return 1;
}

static int64_t offset_of(const struct rtr_clock_sync *p)
{
	return (int64_t)((rtr_i128)p->real_ns - (rtr_i128)p->mono_ns);
}

/* Write point i (absolute for i == 0, else delta) into tmp; returns length. */
static int fmt_point(char *tmp, size_t sz, const struct rtr_clock_sync *pts, size_t i)
{
	if (i == 0)
		return snprintf(tmp, sz, "%" PRIu64 ",%" PRIu64 ",%" PRId64 ",%" PRIu64,
				pts[0].clock, pts[0].mono_ns, offset_of(&pts[0]), pts[0].window);
	return snprintf(tmp, sz, ";%" PRIu64 ",%" PRIu64 ",%" PRId64 ",%" PRIu64,
			pts[i].clock - pts[i - 1].clock, pts[i].mono_ns - pts[i - 1].mono_ns,
			offset_of(&pts[i]) - offset_of(&pts[i - 1]), pts[i].window);
}

/* Encoded length of pts (no NUL); writes it if buf is non-NULL (must fit). */
static size_t encode_into(const struct rtr_clock_sync *pts, size_t n, char *buf)
{
	char tmp[128];
	size_t len;
	int k;

	k = snprintf(tmp, sizeof(tmp), "v1:%zu:", n);
	if (buf)
		memcpy(buf, tmp, (size_t)k);
	len = (size_t)k;
	for (size_t i = 0; i < n; i++) {
		k = fmt_point(tmp, sizeof(tmp), pts, i);
		if (buf)
			memcpy(buf + len, tmp, (size_t)k);
		len += (size_t)k;
	}
	if (buf)
		buf[len] = '\0';
	return len;
}

ssize_t rtr_clock_sync_encode(const struct rtr_clock_sync *pts, size_t n, char *buf, size_t bufsize,
			      size_t *kept)
{
	struct rtr_clock_sync *copy;
	size_t len, m;

	if (!buf || rtr_clock_sync_check(pts, n, NULL, 0) < 0 || !offsets_ok(pts, n))
		return -EINVAL;
	len = encode_into(pts, n, NULL);
	if (len < bufsize) {
		encode_into(pts, n, buf);
		if (kept)
			*kept = n;
		return (ssize_t)len;
	}
	if (n <= 2)
		return -ENOSPC;
	copy = malloc(n * sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	memcpy(copy, pts, n * sizeof(*copy));
	m = n;
	/* First guess from the average point size, then shrink by 10 %. */
	{
		size_t target = (size_t)((double)n * (double)bufsize / (double)(len + 1));

		if (target < 2)
			target = 2;
		if (target >= n)
			target = n - 1;
		for (;;) {
			ssize_t k = rtr_clock_sync_decimate(copy, m, target);

			if (k < 0) {
				free(copy);
				return k;
			}
			m = (size_t)k;
			len = encode_into(copy, m, NULL);
			if (len < bufsize)
				break;
			if (m <= 2) {
				free(copy);
				return -ENOSPC;
			}
			target = m - (m / 10 > 1 ? m / 10 : 1);
			if (target < 2)
				target = 2;
		}
	}
	encode_into(copy, m, buf);
	free(copy);
	if (kept)
		*kept = m;
	return (ssize_t)len;
}

/* ---- decoding ------------------------------------------------------------- */

struct cursor {
	const char *s, *p, *end;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int fail(struct cursor *c, const char *fmt, ...)
{
	if (c->errlen) {
		int k = snprintf(c->err, c->errlen, "sync list offset %zu: expected ",
				 (size_t)(c->p - c->s));
		va_list ap;

		if (k > 0 && (size_t)k < c->errlen) {
			va_start(ap, fmt);
			vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

static int expect_char(struct cursor *c, char ch, const char *what)
{
	if (c->p >= c->end || *c->p != ch)
		return fail(c, "'%c' %s", ch, what);
	c->p++;
	return 0;
}

static int parse_u64(struct cursor *c, uint64_t *v, const char *what)
{
	uint64_t x = 0;
	const char *start = c->p;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned int d = (unsigned int)(*c->p - '0');

		if (x > (UINT64_MAX - d) / 10) {
			c->p = start;
			return fail(c, "%s within 64 bits", what);
		}
		x = x * 10 + d;
		c->p++;
	}
	if (c->p == start)
		return fail(c, "digits for %s", what);
	*v = x;
	return 0;
}

static int parse_i64(struct cursor *c, int64_t *v, const char *what)
{
	const char *start = c->p;
	bool neg = false;
	uint64_t u = 0;
	int r;

	if (c->p < c->end && *c->p == '-') {
		neg = true;
		c->p++;
	}
	r = parse_u64(c, &u, what);
	if (r)
		return r;
	if ((!neg && u > (uint64_t)INT64_MAX) || (neg && u > (uint64_t)INT64_MAX + 1)) {
		c->p = start;
		return fail(c, "%s within signed 64 bits", what);
	}
	*v = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

ssize_t rtr_clock_sync_decode(const char *s, size_t len, struct rtr_clock_sync *pts, size_t cap,
			      char *err, size_t errlen)
{
	struct cursor c = {s, s, s, err, errlen};
	uint64_t count, clk = 0, mono = 0, w;
	int64_t off = 0;
	int r;

	if (errlen)
		err[0] = '\0';
	if (!s || (!pts && cap))
		return -EINVAL;
	len = strnlen(s, len);
	if (len > DECODE_MAX_LEN) {
		if (errlen)
			snprintf(err, errlen, "sync list: %zu bytes, expected at most %u", len,
				 DECODE_MAX_LEN);
		return -E2BIG;
	}
	c.end = s + len;
	if ((size_t)(c.end - c.p) < 3 || memcmp(c.p, "v1:", 3) != 0)
		return fail(&c, "version prefix 'v1:'");
	c.p += 3;
	if ((r = parse_u64(&c, &count, "the point count")))
		return r;
	if (count == 0)
		return fail(&c, "a point count >= 1");
	if (count > cap) {
		if (errlen)
			snprintf(err, errlen, "sync list: %" PRIu64 " points, room for %zu", count,
				 cap);
		return -E2BIG;
	}
	if ((r = expect_char(&c, ':', "after the point count")))
		return r;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t dc, dm;
		int64_t doff = 0;
		rtr_i128 real;

		if (i && (r = expect_char(&c, ';', "between points")))
			return r;
		if ((r = parse_u64(&c, &dc, i ? "a clock delta" : "the first clock")))
			return r;
		if ((r = expect_char(&c, ',', "after the clock")))
			return r;
		if ((r = parse_u64(&c, &dm, i ? "a monotonic delta" : "the first monotonic ns")))
			return r;
		if ((r = expect_char(&c, ',', "after the monotonic value")))
			return r;
		if ((r = parse_i64(&c, &doff, i ? "an offset delta" : "the realtime offset")))
			return r;
		if ((r = expect_char(&c, ',', "after the realtime offset")))
			return r;
		if ((r = parse_u64(&c, &w, "the window")))
			return r;
		if (i == 0) {
			clk = dc;
			mono = dm;
			off = doff;
		} else {
			rtr_i128 o = (rtr_i128)off + doff;

			if (dc == 0)
				return fail(&c, "a clock delta > 0 (point %" PRIu64 ")", i);
			if (clk > UINT64_MAX - dc || mono > UINT64_MAX - dm)
				return fail(&c, "point %" PRIu64 " within 64 bits", i);
			if (o > INT64_MAX || o < INT64_MIN)
				return fail(&c, "point %" PRIu64 " offset within 64 bits", i);
			clk += dc;
			mono += dm;
			off = (int64_t)o;
		}
		real = (rtr_i128)mono + off;
		if (real > INT64_MAX || real < INT64_MIN)
			return fail(&c, "point %" PRIu64 " realtime within 64 bits", i);
		pts[i].clock = clk;
		pts[i].mono_ns = mono;
		pts[i].real_ns = (int64_t)real;
		pts[i].window = w;
	}
	if (c.p != c.end)
		return fail(&c, "end of list after %" PRIu64 " points", count);
	return (ssize_t)count;
}
