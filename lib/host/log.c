/* lib/host: messages to the caller's log sink, rate-limited per class so
 * that a flood of hostile connections or processes cannot flood the log.
 * Design: docs/design/host.md §1. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>

#include "host-internal.h"

#define LOG_BURST     5u		    /* messages of a class per window */
#define LOG_WINDOW_NS (10000ull * 1000000u) /* 10 s */

static void emit(struct rtr_host *h, enum rtr_host_log_level lvl, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	h->cfg.log.fn(h->cfg.log.arg, lvl, msg);
}

static void say(struct rtr_host *h, enum rtr_host_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(struct rtr_host *h, enum rtr_host_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(h, lvl, fmt, ap);
	va_end(ap);
}

static const char *const class_what[RTR__LOG_CLASSES] = {
    [RTR__LOG_CONN] = "about connections",
    [RTR__LOG_REFUSED] = "about refused processes",
    [RTR__LOG_PROC] = "about processes",
    [RTR__LOG_DISK] = "about writing the traces",
};

/* Says how many messages of class c were not shown, if any. */
static void report_suppressed(struct rtr_host *h, unsigned c)
{
	struct rtr__log_rate *rl = &h->log_rate[c];

	if (rl->suppressed)
		say(h, RTR_HOST_LOG_WARN, "(%u more messages %s not shown)", rl->suppressed,
		    class_what[c]);
	rl->suppressed = 0;
}

void rtr__hlog_c(struct rtr_host *h, unsigned c, enum rtr_host_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (!h->cfg.log.fn)
		return;
	if (c > RTR__LOG_NONE && c < RTR__LOG_CLASSES) {
		struct rtr__log_rate *rl = &h->log_rate[c];
		uint64_t now = rtr__now_ns();

		if (now - rl->start >= LOG_WINDOW_NS) {
			report_suppressed(h, c);
			rl->start = now;
			rl->shown = 0;
		}
		if (rl->shown >= LOG_BURST) {
			rl->suppressed++;
			return;
		}
		rl->shown++;
	}
	va_start(ap, fmt);
	emit(h, lvl, fmt, ap);
	va_end(ap);
}

void rtr__log_tick(struct rtr_host *h, bool final)
{
	uint64_t now = rtr__now_ns();

	if (!h->cfg.log.fn)
		return;
	for (unsigned c = RTR__LOG_NONE + 1; c < RTR__LOG_CLASSES; c++)
		if (final || now - h->log_rate[c].start >= LOG_WINDOW_NS)
			report_suppressed(h, c);
}
