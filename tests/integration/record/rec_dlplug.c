/* Provider library of the dlclose test: the record tests' provider
 * (rec_tp.h), defined in a library that a program not linked with
 * libringtrace loads with dlopen() and unloads (rec_dlhost.c). */
#define RTR_DEFINE_PROBES
#include "rec_tp.h"

__attribute__((visibility("default"))) void rec_dlplug_run(unsigned worker, unsigned n);

void rec_dlplug_run(unsigned worker, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		rtr_tracepoint(rec, tick, worker, i);
}
