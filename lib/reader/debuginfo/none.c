/* The debug-info stage when libdw/libelf were not found at build time:
 * says so. See docs/design/debuginfo.md. */
#include <errno.h>

#include "base/base.h"
#include "ringtrace/reader.h"

int rtr_reader_debuginfo(struct rtr_reader *r, const struct rtr_debuginfo_options *o,
			 struct rtr_error *err)
{
	(void)r;
	(void)o;
	return rtr__error(err, -ENOTSUP,
			  "debug info: built without libdw/libelf (run scripts/deps.sh, rebuild)");
}
