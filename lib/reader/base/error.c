/* The reader's error record: a negative errno and a message, the first
 * error of an operation kept. See docs/design/reader.md ("Errors"). */
#include <errno.h>
#include <stdio.h>

#include "base/base.h"

int rtr__error(struct rtr_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (code >= 0) /* a caller's slip: still an error */
		code = -EINVAL;
	if (!e || e->code)
		return code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->code = code;
	return code;
}
