/* Timestamps of the text output: time of day cached per second, the
 * one-time fallback to seconds for negative times, deltas; and the state
 * changes printing them makes, replayed without printing by the parallel
 * printer. See docs/design/reader.md ("Speed"). */
#include <inttypes.h>

#include "sink/text.h"

void rtr__put_wall(struct rtr_text *t, int64_t ts_nsec, int ns_error, bool update_last)
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
			rtr__text_flush(t);
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

/* The state changes put_event()/put_discarded() make to t->hs. */
static void hstep_wall(const struct rtr_text_options *o, struct rtr__hstate *h, int64_t ns, int err,
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

void rtr__hstep(const struct rtr_text_options *o, struct rtr__hstate *h, const struct rtr_msg *m)
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

