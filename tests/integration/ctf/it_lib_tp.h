/* Provider "itlib": the same events, probes defined in a shared library the
 * test program loads with dlopen. */
#ifndef IT_LIB_TP_H
#define IT_LIB_TP_H
#include <stdbool.h>
#include <ringtrace/tracepoint.h>

#define IT_PROV itlib
#include "it_events.h"
#undef IT_PROV
#endif
