/* Shared library of the CTF integration test, loaded with dlopen: defines
 * the probes of provider "itlib" (registered by its constructors at dlopen)
 * and emits its events. See docs/design/tracepoints.md. */
#include <stdint.h>
#include <stdio.h>

#define RTR_DEFINE_PROBES
#include "it_lib_tp.h"
#undef RTR_DEFINE_PROBES

#define IT_PROV	   itlib
#define IT_EMIT_FN it_lib_emit_impl
#include "it_emit.h"

__attribute__((visibility("default"))) void it_lib_emit(FILE *side, uint64_t *seq, int round);

void it_lib_emit(FILE *side, uint64_t *seq, int round)
{
	it_lib_emit_impl(side, seq, round);
}
