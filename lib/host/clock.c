/* lib/host: the recording's clock — the source chosen once, the cross-CPU
 * skew, sync points (one per second) and the clock description fitted over
 * them. Design: docs/design/host.md §2, docs/design/clock.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host-internal.h"

#define SYNC_LOG_CAP 4096

static void take(struct rtr__hclock *c)
{
	struct rtr_clock_sync pt;

	if (rtr_clock_sync_take(&pt) == 0) {
		rtr_clock_sync_log_add(&c->log, &pt);
		c->last_ns = rtr__now_ns();
	}
}

/* A skew bound kept in the cache file serves this long (the CPUs' clocks do
 * not move apart while the machine runs; the file is per boot anyway). */
#define SKEW_CACHE_AGE_S 3600

int rtr__hclock_init(struct rtr__hclock *c, const char *skew_cache)
{
	memset(c, 0, sizeof(*c));
	c->pts = calloc(SYNC_LOG_CAP, sizeof(*c->pts));
	if (!c->pts)
		return -ENOMEM;
	c->log = (struct rtr_clock_sync_log){.pts = c->pts, .cap = SYNC_LOG_CAP};
	c->source = rtr_clock_init(&c->sel);
	take(c);
	c->have_skew = rtr_clock_measure_skew_cached(skew_cache, SKEW_CACHE_AGE_S, NULL, &c->skew,
						     &c->skew_cached) == 0;
	/* Once measured, the skew took tens of ms: a second point now lets the
	 * frequency be fitted from the start (metadata written early); from
	 * the cache, the first point of the recording is what matters. */
	if (!c->skew_cached)
		take(c);
	return 0;
}

void rtr__hclock_fini(struct rtr__hclock *c)
{
	free(c->pts);
	c->pts = NULL;
}

int rtr_host_clock(struct rtr_host *h, struct rtr_clock_meta *cm,
		   const struct rtr_clock_sync **pts, size_t *n)
{
	int r = rtr__hclock_describe(h, false, cm);

	if (r)
		return r;
	*pts = h->clock.log.pts;
	*n = h->clock.log.n;
	return 0;
}

void rtr__hclock_sync(struct rtr__hclock *c)
{
	take(c);
}

int rtr__hclock_describe(struct rtr_host *h, bool now, struct rtr_clock_meta *out)
{
	struct rtr__hclock *c = &h->clock;
	struct rtr_clock_describe_in din = {
	    .source = c->source,
	    .sel = &c->sel,
	    .nominal_freq = c->source == RTR_CLOCK_MONOTONIC ? 1000000000u : 0,
	    .skew = c->have_skew ? &c->skew : NULL,
	};
	int r;

	if (now || c->log.n < 2 ||
	    c->log.pts[c->log.n - 1].mono_ns - c->log.pts[0].mono_ns < 2000000u) {
		/* At least 2 ms between the first and the last point, so that
		 * the frequency can be fitted even for a very short run (one
		 * that started with a cached skew bound has one point). */
		take(c);
		if (c->log.n >= 1 &&
		    (c->log.n < 2 ||
		     c->log.pts[c->log.n - 1].mono_ns - c->log.pts[0].mono_ns < 2000000u)) {
			usleep(2500);
			take(c);
		}
	}
	if (c->log.n < 1)
		return -EINVAL;
	din.pts = c->log.pts;
	din.n = c->log.n;
	r = rtr_clock_describe(&din, out);
	if (r && now) {
		if (!c->failed_said)
			herr(h, "cannot describe the trace clock; the trace's time base may be "
				"off");
		c->failed_said = true;
		din.nominal_freq = 1000000000u;
		memset(out, 0, sizeof(*out));
		r = rtr_clock_describe(&din, out);
	}
	return r;
}
