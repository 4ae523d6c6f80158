/* trace.dat input without libtracecmd: says so. */
#include <errno.h>
#include <stdio.h>

#include "kernel.h"

int rtr_kernel_convert_tracedat(const char *in, const char *out, const struct rtr_kernel_log *log,
				struct rtr_kernel_totals *t, char *err, size_t errlen)
{
	(void)out;
	(void)log;
	(void)t;
	snprintf(err, errlen,
		 "%s: this ringtrace was built without libtracecmd (Debian libtracecmd-dev; "
		 "scripts/deps.sh), so it cannot read trace-cmd files",
		 in);
	return -ENOTSUP;
}
