/* lib/host: messages to the caller's log sink. Design: docs/design/host.md. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>

#include "host-internal.h"

void rtr__hlog(struct rtr_host *h, enum rtr_host_log_level lvl, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!h->cfg.log.fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	h->cfg.log.fn(h->cfg.log.arg, lvl, msg);
}
