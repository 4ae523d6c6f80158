/* Provider library of the dlclose test: loaded with dlopen() by a program
 * that is not linked with libringtrace (rec_dlhost.c), then unloaded. */
#define RTR_DEFINE_PROBES
#include "rec_dl_tp.h"

__attribute__((visibility("default"))) void rec_dlplug_run(unsigned worker, unsigned n);

void rec_dlplug_run(unsigned worker, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		rtr_tracepoint(recdl, tick, worker, i);
}
