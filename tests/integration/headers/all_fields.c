/* Probes of all_fields_tp.h and C call sites (header test). */
#define RTR_DEFINE_PROBES
#include "all_fields_tp.h"

void hdrtest_emit(void);

void hdrtest_emit(void)
{
	static const uint16_t vals[4] = {1, 2, 3, 4};

	rtr_tracepoint(hdrtest, ints, 1, -2, 3, -4);
	rtr_tracepoint(hdrtest, misc, 0.5, "name", vals, 4);
	rtr_tracepoint(hdrtest, none);
}
