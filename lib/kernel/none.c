/* lib/kernel built without libtracefs/libtraceevent/libdw/libelf: every
 * entry point says what is missing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernel.h"

#define MISSING                                                                                    \
	"this ringtrace was built without libtracefs, libtraceevent, libelf and libdw "            \
	"(Debian libtracefs-dev libtraceevent-dev libelf-dev libdw-dev; scripts/deps.sh), "        \
	"so it cannot record kernel events"

struct rtr_kernel *rtr_kernel_open(const struct rtr_kernel_config *cfg, char *err, size_t errlen)
{
	(void)cfg;
	snprintf(err, errlen, "%s", MISSING);
	return NULL;
}

int rtr_kernel_start(struct rtr_kernel *k, pid_t pid)
{
	(void)k;
	(void)pid;
	return -ENOTSUP;
}

int rtr_kernel_stop(struct rtr_kernel *k)
{
	(void)k;
	return 0;
}

int rtr_kernel_finish(struct rtr_kernel *k, const struct rtr_clock_meta *cm,
		      const struct rtr_clock_sync *pts, size_t npts)
{
	(void)k;
	(void)cm;
	(void)pts;
	(void)npts;
	return -ENOTSUP;
}

void rtr_kernel_totals(const struct rtr_kernel *k, struct rtr_kernel_totals *t)
{
	(void)k;
	*t = (struct rtr_kernel_totals){0};
}

const char *rtr_kernel_trace_dir(const struct rtr_kernel *k)
{
	(void)k;
	return "";
}

void rtr_kernel_destroy(struct rtr_kernel *k)
{
	(void)k;
}

int rtr_kernel_check_patterns(const char *const *events, size_t n, char *err, size_t errlen)
{
	(void)events;
	(void)n;
	(void)err;
	(void)errlen;
	return 0;
}

int rtr_kernel_convert_tracedat(const char *in, const char *out, const struct rtr_kernel_log *log,
				struct rtr_kernel_totals *t, char *err, size_t errlen)
{
	(void)in;
	(void)out;
	(void)log;
	(void)t;
	snprintf(err, errlen, "%s", MISSING);
	return -ENOTSUP;
}
