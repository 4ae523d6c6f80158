/* lib/host: snapshot sessions — the newest data of every stream, written
 * while tracing goes on, cut at one time point for all streams, within a
 * byte budget. Design: docs/design/daemon.md §5. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "host-internal.h"

int rtr__snapshot(struct rtr__session *s, uint64_t max_size, struct rtr_host_op_result *res)
{
	(void)max_size;
	snprintf(res->err, sizeof(res->err), "session %s: snapshots are not implemented yet",
		 s->name);
	return -ENOSYS;
}
