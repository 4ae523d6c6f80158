// C++ call sites of all_fields_tp.h (header test): the probes are in C.
#include "all_fields_tp.h"

void hdrtest_emit_cxx();

void hdrtest_emit_cxx()
{
	static const uint16_t vals[4] = {1, 2, 3, 4};

	rtr_tracepoint(hdrtest, ints, 1, -2, 3, -4);
	rtr_tracepoint(hdrtest, misc, 0.5, "name", vals, 4);
	rtr_tracepoint(hdrtest, none);
	if (rtr_tracepoint_enabled(hdrtest, none))
		rtr_do_tracepoint(hdrtest, none);
}
