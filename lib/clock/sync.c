/* ringtrace clock — sync points, frequency fit, piecewise conversion to
 * CLOCK_MONOTONIC/REALTIME, calibration and the CTF clock description.
 * Design: docs/design/clock.md ("Sync points", "Conversion", "Metadata"). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock_internal.h"

#define SYNC_TRIES   16
#define FIT_MIN_SPAN 1000000u /* 1 ms of CLOCK_MONOTONIC */

/* Narrowest window of ordered reads around one clock_gettime(id). Returns the
 * kernel clock's ns; *mid and *win get the window's midpoint and width. */
static uint64_t min_window(clockid_t id, uint64_t *mid, uint64_t *win)
{
	uint64_t best_w = UINT64_MAX, best_c = 0, best_ns = 0;

	for (int i = 0; i < SYNC_TRIES || best_w == UINT64_MAX; i++) {
		uint64_t c0 = rtr_clock_read_ordered();
		uint64_t ns = clock_ns(id);
		uint64_t c1 = rtr_clock_read_ordered();

		/* c1 < c0 only if we migrated between CPUs whose clocks differ. */
		if (c1 >= c0 && c1 - c0 < best_w) {
			best_w = c1 - c0;
			best_c = c0 + best_w / 2;
			best_ns = ns;
		}
		if (i > 10000) { /* cannot happen; never spin forever */
			best_w = 0;
			best_c = c0;
			best_ns = ns;
			break;
		}
	}
	*mid = best_c;
	*win = best_w;
	return best_ns;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC, min-window over monotonic reads. */
static int64_t real_minus_mono(void)
{
	uint64_t best_w = UINT64_MAX;
	int64_t best = 0;

	for (int i = 0; i < SYNC_TRIES; i++) {
		struct timespec a, r, b;
		uint64_t m0, m1;

		clock_gettime(CLOCK_MONOTONIC, &a);
		clock_gettime(CLOCK_REALTIME, &r);
		clock_gettime(CLOCK_MONOTONIC, &b);
		m0 = ts_to_ns(&a);
		m1 = ts_to_ns(&b);
		if (m1 - m0 < best_w) {
			best_w = m1 - m0;
			best = ts_to_ns_signed(&r) - (int64_t)(m0 + best_w / 2);
		}
	}
	return best;
}

int rtr_clock_sync_take(struct rtr_clock_sync *out)
{
	uint64_t mid, win, mono;

	if (!out)
		return -EINVAL;
	if (rtr_clock_get_source() == RTR_CLOCK_MONOTONIC) {
		/* The trace clock is CLOCK_MONOTONIC itself: exact. */
		mono = clock_ns(CLOCK_MONOTONIC);
		mid = mono;
		win = 0;
	} else {
		mono = min_window(CLOCK_MONOTONIC, &mid, &win);
	}
	out->clock = mid;
	out->mono_ns = mono;
	out->real_ns = (int64_t)mono + real_minus_mono();
	out->window = win;
	return 0;
}

int rtr_clock_sync_check(const struct rtr_clock_sync *pts, size_t n, char *err, size_t errlen)
{
	if (!pts || n == 0) {
		if (errlen)
			snprintf(err, errlen, "sync list: expected at least one point");
		return -EINVAL;
	}
	for (size_t i = 1; i < n; i++) {
		if (pts[i].clock <= pts[i - 1].clock) {
			if (errlen)
				snprintf(err, errlen,
					 "sync point %zu: expected clock > %" PRIu64
					 ", got %" PRIu64,
					 i, pts[i - 1].clock, pts[i].clock);
			return -EINVAL;
		}
		if (pts[i].mono_ns < pts[i - 1].mono_ns) {
			if (errlen)
				snprintf(err, errlen,
					 "sync point %zu: expected mono_ns >= %" PRIu64
					 ", got %" PRIu64,
					 i, pts[i - 1].mono_ns, pts[i].mono_ns);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- fit and map ---------------------------------------------------------- */

static void fit_finish(struct rtr_clock_fit *out, const struct rtr_clock_sync *pts, size_t n);

static int64_t linear_mono(const struct rtr_clock_fit *f, uint64_t ts)
{
	rtr_i128 d = (rtr_i128)ts - (rtr_i128)f->base_clock;

	return sat_i64((rtr_i128)f->base_mono_ns + muldiv_round(d, RTR_NSEC_PER_SEC, f->freq));
}

int rtr_clock_fit_sync(const struct rtr_clock_sync *pts, size_t n, uint64_t nominal_freq,
		       struct rtr_clock_fit *out)
{
	const struct rtr_clock_sync *a, *b;

	if (!out || rtr_clock_sync_check(pts, n, NULL, 0) < 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	a = &pts[0];
	b = &pts[n - 1];
	if (n >= 2 && b->mono_ns - a->mono_ns >= FIT_MIN_SPAN) {
		rtr_i128 f = div_round((rtr_i128)(b->clock - a->clock) * RTR_NSEC_PER_SEC,
				       b->mono_ns - a->mono_ns);

		if (f <= 0 || f > (rtr_i128)UINT64_MAX)
			return -ERANGE;
		out->freq = (uint64_t)f;
		out->from_points = true;
	} else if (nominal_freq) {
		out->freq = nominal_freq;
	} else {
		return -ERANGE;
	}
	out->base_clock = a->clock;
	out->base_mono_ns = a->mono_ns;
	out->base_real_ns = a->real_ns;
	fit_finish(out, pts, n);
	return 0;
}

/* Residual of the line and widest window, for the freq already in f. */
static void fit_finish(struct rtr_clock_fit *out, const struct rtr_clock_sync *pts, size_t n)
{
	out->residual_ns = 0;
	out->window_max = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t d = linear_mono(out, pts[i].clock) - (int64_t)pts[i].mono_ns;
		uint64_t ad = d < 0 ? (uint64_t)(-(d + 1)) + 1 : (uint64_t)d;

		if (ad > out->residual_ns)
			out->residual_ns = ad;
		if (pts[i].window > out->window_max)
			out->window_max = pts[i].window;
	}
}

int rtr_clock_map_init(struct rtr_clock_map *map, const struct rtr_clock_sync *pts, size_t n,
		       uint64_t nominal_freq)
{
	int r;

	if (!map)
		return -EINVAL;
	r = rtr_clock_fit_sync(pts, n, nominal_freq, &map->fit);
	if (r < 0)
		return r;
	map->pts = pts;
	map->n = n;
	return 0;
}

/* Index of the last point with clock <= ts; -1 when ts is before the first. */
static ssize_t find_segment(const struct rtr_clock_map *map, uint64_t ts)
{
	size_t lo = 0, hi = map->n;

	if (ts < map->pts[0].clock)
		return -1;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (map->pts[mid].clock <= ts)
			lo = mid;
		else
			hi = mid;
	}
	return (ssize_t)lo;
}

/* Shared by mono (real == false) and real: value at point i, and the
 * interpolation to ts. */
static int64_t map_common(const struct rtr_clock_map *map, uint64_t ts, bool real)
{
	const struct rtr_clock_sync *p;
	ssize_t i = find_segment(map, ts);
	rtr_i128 base, d;

	if (i < 0) {
		p = &map->pts[0];
		base = real ? (rtr_i128)p->real_ns : (rtr_i128)p->mono_ns;
		d = (rtr_i128)ts - (rtr_i128)p->clock;
		return sat_i64(base + muldiv_round(d, RTR_NSEC_PER_SEC, map->fit.freq));
	}
	p = &map->pts[i];
	base = real ? (rtr_i128)p->real_ns : (rtr_i128)p->mono_ns;
	d = (rtr_i128)ts - (rtr_i128)p->clock;
	if ((size_t)i == map->n - 1)
		return sat_i64(base + muldiv_round(d, RTR_NSEC_PER_SEC, map->fit.freq));
	{
		const struct rtr_clock_sync *q = &map->pts[i + 1];
		int64_t dv = real ? q->real_ns - p->real_ns : (int64_t)(q->mono_ns - p->mono_ns);

		return sat_i64(base + muldiv_round(d, dv, q->clock - p->clock));
	}
}

int64_t rtr_clock_map_mono(const struct rtr_clock_map *map, uint64_t ts)
{
	return map_common(map, ts, false);
}

int64_t rtr_clock_map_real(const struct rtr_clock_map *map, uint64_t ts)
{
	return map_common(map, ts, true);
}

int64_t rtr_clock_map_linear_real(const struct rtr_clock_map *map, uint64_t ts)
{
	const struct rtr_clock_fit *f = &map->fit;
	rtr_i128 d = (rtr_i128)ts - (rtr_i128)f->base_clock;

	return sat_i64((rtr_i128)f->base_real_ns + muldiv_round(d, RTR_NSEC_PER_SEC, f->freq));
}

uint64_t rtr_clock_cycles_to_ns(uint64_t delta, uint64_t freq)
{
	rtr_u128 v;

	if (!freq)
		return UINT64_MAX;
	v = ((rtr_u128)delta * RTR_NSEC_PER_SEC + freq - 1) / freq;
	return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

uint64_t rtr_clock_ns_to_cycles(uint64_t ns, uint64_t freq)
{
	rtr_u128 v = ((rtr_u128)ns * freq + RTR_NSEC_PER_SEC - 1) / RTR_NSEC_PER_SEC;

	return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

/* ---- calibration ---------------------------------------------------------- */

int rtr_clock_calibrate(unsigned int duration_ms, struct rtr_clock_calibration *out)
{
	uint64_t c0, w0, r0, c1, w1, r1, cm0, wm0, m0, cm1, wm1, m1, dc;
	struct timespec req;

	if (!out || !duration_ms)
		return -EINVAL;
	r0 = min_window(CLOCK_MONOTONIC_RAW, &c0, &w0);
	m0 = min_window(CLOCK_MONOTONIC, &cm0, &wm0);
	req.tv_sec = duration_ms / 1000;
	req.tv_nsec = (long)(duration_ms % 1000) * 1000000L;
	while (nanosleep(&req, &req) != 0 && errno == EINTR)
		;
	r1 = min_window(CLOCK_MONOTONIC_RAW, &c1, &w1);
	m1 = min_window(CLOCK_MONOTONIC, &cm1, &wm1);
	if (c1 <= c0 || r1 <= r0 || cm1 <= cm0 || m1 <= m0)
		return -ERANGE;
	dc = c1 - c0;
	out->freq = (uint64_t)div_round((rtr_i128)dc * RTR_NSEC_PER_SEC, r1 - r0);
	out->freq_mono = (uint64_t)div_round((rtr_i128)(cm1 - cm0) * RTR_NSEC_PER_SEC, m1 - m0);
	/* Each end is known within half its window (plus 1 unit of rounding). */
	out->error_ppb =
	    (uint64_t)div_round((rtr_i128)(w0 / 2 + w1 / 2 + 2) * RTR_NSEC_PER_SEC, dc);
	out->duration_ns = r1 - r0;
	return 0;
}

/* ---- description ---------------------------------------------------------- */

static void sanitize_ident(char *dst, size_t dstsz, const char *src)
{
	size_t i = 0;

	for (; src && src[i] && i + 1 < dstsz; i++) {
		char c = src[i];

		dst[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')
			     ? c
			     : '_';
	}
	dst[i] = '\0';
}

static int64_t clamp_i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

int rtr_clock_describe(const struct rtr_clock_describe_in *in, struct rtr_clock_meta *out)
{
	struct rtr_clock_desc *d;
	struct rtr_clock_env *e;
	struct rtr_clock_fit fit;
	uint64_t nominal, prec, skew = 0;
	rtr_i128 o, os;
	int r;

	if (!in || !out || !rtr_clock_source_name(in->source))
		return -EINVAL;
	if (in->skew && in->skew->source != in->source)
		return -EINVAL;
	nominal = in->source == RTR_CLOCK_MONOTONIC ? RTR_NSEC_PER_SEC : in->nominal_freq;
	r = rtr_clock_fit_sync(in->pts, in->n, nominal, &fit);
	if (r < 0)
		return r;
	if (in->source == RTR_CLOCK_MONOTONIC && fit.freq != RTR_NSEC_PER_SEC) {
		/* Units are ns by definition (real points give exactly 1e9). */
		fit.freq = RTR_NSEC_PER_SEC;
		fit.from_points = false;
		fit_finish(&fit, in->pts, in->n);
	}

	memset(out, 0, sizeof(*out));
	d = &out->desc;
	e = &out->env;
	snprintf(d->name, sizeof(d->name), "%s", rtr_clock_source_name(in->source));
	snprintf(d->description, sizeof(d->description), "%s",
		 in->source == RTR_CLOCK_TSC ? "x86 invariant TSC, raw cycles"
					     : "CLOCK_MONOTONIC (vDSO), ns");
	d->freq = fit.freq;
	/* Clock units from the epoch to timestamp 0, through the first point:
	 * real0 * freq / 1e9 - clock0. */
	o = div_round((rtr_i128)fit.base_real_ns * (rtr_i128)fit.freq, RTR_NSEC_PER_SEC) -
	    (rtr_i128)fit.base_clock;
	os = o / (rtr_i128)fit.freq;
	if (o % (rtr_i128)fit.freq < 0)
		os -= 1; /* floor, so that 0 <= offset < freq */
	d->offset_s = sat_i64(os);
	d->offset = (uint64_t)(o - os * (rtr_i128)fit.freq);
	if (in->skew)
		skew = in->skew->bound;
	prec = skew + (fit.window_max + 1) / 2 + rtr_clock_ns_to_cycles(fit.residual_ns, fit.freq);
	d->precision = prec;
	snprintf(d->uuid, sizeof(d->uuid), "%s", rtr_clock_boot_id());
	d->absolute = true;

	e->source = rtr_clock_source_name(in->source);
	e->tsc_invariant = in->sel ? in->sel->tsc_invariant : 0;
	e->degraded = in->sel ? in->sel->degraded : 0;
	sanitize_ident(e->kernel_clocksource, sizeof(e->kernel_clocksource),
		       in->sel ? in->sel->kernel_clocksource : "");
	e->skew_bound_ns = in->skew ? clamp_i64(rtr_clock_cycles_to_ns(skew, fit.freq)) : -1;
	e->skew_cpus = in->skew ? in->skew->cpus_usable : 0;
	e->skew_cpus_skipped = in->skew ? in->skew->cpus_skipped : 0;
	e->sync_window_max_ns = clamp_i64(rtr_clock_cycles_to_ns(fit.window_max, fit.freq));
	e->fit_residual_ns = clamp_i64(fit.residual_ns);
	e->precision_ns = clamp_i64(rtr_clock_cycles_to_ns(prec, fit.freq));
	e->sync_points = (int64_t)in->n;
	return 0;
}

size_t rtr_clock_env_entries(const struct rtr_clock_meta *meta, struct rtr_clock_env_entry *out,
			     size_t cap)
{
	const struct rtr_clock_env *e = &meta->env;
	const struct rtr_clock_env_entry all[RTR_CLOCK_ENV_MAX] = {
	    {"clock_source", e->source ? e->source : "", 0},
	    {"clock_tsc_invariant", NULL, e->tsc_invariant},
	    {"clock_degraded", NULL, e->degraded},
	    {"clock_kernel_clocksource", e->kernel_clocksource, 0},
	    {"clock_skew_bound_ns", NULL, e->skew_bound_ns},
	    {"clock_skew_cpus", NULL, e->skew_cpus},
	    {"clock_skew_cpus_skipped", NULL, e->skew_cpus_skipped},
	    {"clock_sync_window_max_ns", NULL, e->sync_window_max_ns},
	    {"clock_fit_residual_ns", NULL, e->fit_residual_ns},
	    {"clock_precision_ns", NULL, e->precision_ns},
	    {"clock_sync_points", NULL, e->sync_points},
	};

	for (size_t i = 0; i < RTR_CLOCK_ENV_MAX && i < cap; i++)
		out[i] = all[i];
	return RTR_CLOCK_ENV_MAX;
}
