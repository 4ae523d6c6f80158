/* ringtrace clock — helpers shared by the lib/clock sources (private).
 * Design: docs/design/clock.md. */
#ifndef RTR_CLOCK_INTERNAL_H
#define RTR_CLOCK_INTERNAL_H

#include <stdint.h>
#include <time.h>

#include <ringtrace/clock.h>

#if !defined(__SIZEOF_INT128__)
#error "lib/clock needs a 64-bit target with __int128"
#endif

#define RTR_NSEC_PER_SEC 1000000000u

typedef unsigned __int128 rtr_u128;
typedef __int128 rtr_i128;

static inline uint64_t ts_to_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * RTR_NSEC_PER_SEC + (uint64_t)ts->tv_nsec;
}

static inline int64_t ts_to_ns_signed(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * RTR_NSEC_PER_SEC + (int64_t)ts->tv_nsec;
}

static inline uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts_to_ns(&ts);
}

/* Saturate a 128-bit signed value into int64. */
static inline int64_t sat_i64(rtr_i128 v)
{
	if (v > INT64_MAX)
		return INT64_MAX;
	if (v < INT64_MIN)
		return INT64_MIN;
	return (int64_t)v;
}

/* round(p / c) for a signed 128-bit p and c > 0, halves away from zero. */
static inline rtr_i128 div_round(rtr_i128 p, uint64_t c)
{
	rtr_i128 h = (rtr_i128)(c / 2);

	return p >= 0 ? (p + h) / (rtr_i128)c : -((-p + h) / (rtr_i128)c);
}

/* round(a * b / c): |a| < 2^64, b signed 64-bit (so |a*b| < 2^127), c > 0. */
static inline rtr_i128 muldiv_round(rtr_i128 a, int64_t b, uint64_t c)
{
	return div_round(a * (rtr_i128)b, c);
}

/* Read len bytes at most from path into a NUL-terminated malloc'd buffer.
 * Returns the length, or a negative errno; *out is NULL on error. */
ssize_t rtr__clock_read_file(const char *path, size_t max, char **out);

/* Skew probe, first-CPU-vs-each layout: offsets of m CPUs relative to CPU
 * index 0, d_c in [lo[c], hi[c]] (lo[0] = hi[0] = 0 by convention). Finds
 * the pair (i < j) whose difference d_j - d_i has the widest possible
 * magnitude; i = j = -1 when m < 2. */
struct rtr__clock_star {
	int i, j;
	int64_t lo, hi; /* d_j - d_i in [lo, hi] */
	uint64_t bound;
};
void rtr__clock_skew_star(const int64_t *lo, const int64_t *hi, size_t m,
			  struct rtr__clock_star *out);

#endif /* RTR_CLOCK_INTERNAL_H */
