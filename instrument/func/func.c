/* libringtrace-func.so: function entry and exit of programs built with
 * -finstrument-functions. GCC and Clang call __cyg_profile_func_enter(fn,
 * call_site) after each instrumented function's prologue and
 * __cyg_profile_func_exit(fn, call_site) before each return; this library
 * defines both (preloaded by `record --func`, or linked) and writes
 * LTTng-UST's events (func_tp.h). Design: docs/design/instrument.md §3.
 *
 * The hooks run before the runtime is initialised (other constructors),
 * in fork children, in signal handlers and in dying threads. Each is one
 * relaxed flag load while no session records its events (the same test a
 * tracepoint makes); recording writes the record directly (the probe's
 * loop over its bindings, inlined here) so that the `ip` context, when the
 * channel has it, is the function's address as with LTTng's
 * LTTNG_UST_TP_IP_PARAM, not an address inside this library. Nested calls
 * from a signal handler write nested records (the ring buffer allows
 * nesting). errno is preserved. Nothing here is built with
 * -finstrument-functions, so the hooks cannot recurse.
 *
 * RINGTRACE_FUNC=fast (record --func=fast) writes the fast variant
 * (lttng_ust_cyg_profile_fast: the address on entry only) instead of the
 * full one (lttng_ust_cyg_profile: address and call site on both). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RTR_DEFINE_PROBES
#include "func_tp.h"

#include "emit.h"
#include "statedump.h" /* lib/ust: rtr__statedump_pending */

#define RTR_FUNC_EXPORT __attribute__((visibility("default"), no_instrument_function))

RTR_FUNC_EXPORT void __cyg_profile_func_enter(void *fn, void *call_site);
RTR_FUNC_EXPORT void __cyg_profile_func_exit(void *fn, void *call_site);

static int fast_mode;

__attribute__((constructor)) static void func_init(void)
{
	const char *m = getenv("RINGTRACE_FUNC");

	fast_mode = m && !strcmp(m, "fast");
	/* func_entry's addr is named through the statedump (Trace Compass),
	 * also without the ip context */
	__atomic_store_n(&rtr__statedump_wanted, 1, __ATOMIC_RELAXED);
}

/* A dlopen that libringtrace-dl.so could not follow (a library's searched
 * name): list the new objects before an event of theirs, if no other
 * thread is looking (the runtime writes the statedump itself). */
#define RTR_FUNC_STATEDUMP_ONCE()                                                                  \
	do {                                                                                       \
		if (rtr_unlikely(__atomic_load_n(&rtr__statedump_pending, __ATOMIC_RELAXED)))      \
			rtr__statedump_update(1);                                                  \
	} while (0)

#define ENABLED(p, e)	   RTR_INSTR_ENABLED(p, e)
#define emit(d, ip, v, sz) rtr_instr_emit(d, ip, v, sz)

void __cyg_profile_func_enter(void *fn, void *call_site)
{
	if (ENABLED(lttng_ust_cyg_profile, func_entry) && !fast_mode) {
		unsigned long v[2] = {(unsigned long)fn, (unsigned long)call_site};

		RTR_FUNC_STATEDUMP_ONCE();
		emit(RTR_INSTR_DESC(lttng_ust_cyg_profile, func_entry), fn, v, sizeof(v));
	} else if (ENABLED(lttng_ust_cyg_profile_fast, func_entry) && fast_mode) {
		unsigned long v = (unsigned long)fn;

		RTR_FUNC_STATEDUMP_ONCE();
		emit(RTR_INSTR_DESC(lttng_ust_cyg_profile_fast, func_entry), fn, &v, sizeof(v));
	}
}

void __cyg_profile_func_exit(void *fn, void *call_site)
{
	if (ENABLED(lttng_ust_cyg_profile, func_exit) && !fast_mode) {
		unsigned long v[2] = {(unsigned long)fn, (unsigned long)call_site};

		RTR_FUNC_STATEDUMP_ONCE(); /* after a dlclose: the unload first */
		emit(RTR_INSTR_DESC(lttng_ust_cyg_profile, func_exit), fn, v, sizeof(v));
	} else if (ENABLED(lttng_ust_cyg_profile_fast, func_exit) && fast_mode) {
		RTR_FUNC_STATEDUMP_ONCE();
		emit(RTR_INSTR_DESC(lttng_ust_cyg_profile_fast, func_exit), fn, NULL, 0);
	}
}
