/* The reader's error record: the first error of an operation wins.
 * See docs/design/reader.md ("Errors"). */
#include <stdio.h>

#include "base/base.h"

void rtr__seterr(struct rtr__err *e, const char *fmt, ...)
{
	va_list ap;

	if (!e || e->set)
		return;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->set = 1;
}
