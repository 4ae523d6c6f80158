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
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RTR_DEFINE_PROBES
#include "func_tp.h"

#define RTR_FUNC_EXPORT __attribute__((visibility("default"), no_instrument_function))

RTR_FUNC_EXPORT void __cyg_profile_func_enter(void *fn, void *call_site);
RTR_FUNC_EXPORT void __cyg_profile_func_exit(void *fn, void *call_site);

static int fast_mode;

__attribute__((constructor)) static void func_init(void)
{
	const char *m = getenv("RINGTRACE_FUNC");

	fast_mode = m && !strcmp(m, "fast");
}

#define ENABLED(p, e) rtr_unlikely(__atomic_load_n(&RTR__STATE(p, e).enabled, __ATOMIC_RELAXED))

/* Writes one record of sz payload bytes (vals) on each binding of st.
 * The bindings are loaded with acquire: pairs with the runtime's release
 * store of a new set (tracepoints.md §4, §7), as the probes do. */
static RTR_ALWAYS_INLINE void emit(struct rtr_event_state *st, void *fn, const void *vals,
				   size_t sz)
{
	struct rtr_binding_set *set = rtr_atomic_load(&st->bindings, __ATOMIC_ACQUIRE);
	int saved = errno;

	if (rtr_unlikely(!set))
		return;
	for (uint32_t i = 0; i < set->nr; i++) {
		const struct rtr_event_binding *b = &set->b[i];
		uint32_t client = b->client;
		struct rtr_ring_ctx c = {0}, sc;
		char *wp;

		if (rtr_likely(client == RTR_CTF_CLIENT_INLINE))
			wp =
			    rtr_ctf_reserve_with(&rtr_ctf_cfg_inline, b->chan, b->event_id, sz, &c);
		else if (client == RTR_CTF_CLIENT_INLINE_OW)
			wp = rtr_ctf_reserve_with(&rtr_ctf_cfg_inline_ow, b->chan, b->event_id, sz,
						  &c);
		else
			wp = rtr_ctf__reserve_ip(b, sz, &sc, fn); /* context: ip = fn */
		if (rtr_unlikely(!wp))
			continue;
		if (sz)
			memcpy(wp, vals, sz);
		if (rtr_likely(client == RTR_CTF_CLIENT_INLINE))
			rtr_ring_commit(&rtr_ctf_cfg_inline, &c);
		else if (client == RTR_CTF_CLIENT_INLINE_OW)
			rtr_ring_commit(&rtr_ctf_cfg_inline_ow, &c);
		else
			rtr_ctf__commit(b, &sc);
	}
	errno = saved;
}

void __cyg_profile_func_enter(void *fn, void *call_site)
{
	if (ENABLED(lttng_ust_cyg_profile, func_entry) && !fast_mode) {
		unsigned long v[2] = {(unsigned long)fn, (unsigned long)call_site};

		emit(&RTR__STATE(lttng_ust_cyg_profile, func_entry), fn, v, sizeof(v));
	} else if (ENABLED(lttng_ust_cyg_profile_fast, func_entry) && fast_mode) {
		unsigned long v = (unsigned long)fn;

		emit(&RTR__STATE(lttng_ust_cyg_profile_fast, func_entry), fn, &v, sizeof(v));
	}
}

void __cyg_profile_func_exit(void *fn, void *call_site)
{
	if (ENABLED(lttng_ust_cyg_profile, func_exit) && !fast_mode) {
		unsigned long v[2] = {(unsigned long)fn, (unsigned long)call_site};

		emit(&RTR__STATE(lttng_ust_cyg_profile, func_exit), fn, v, sizeof(v));
	} else if (ENABLED(lttng_ust_cyg_profile_fast, func_exit) && fast_mode) {
		emit(&RTR__STATE(lttng_ust_cyg_profile_fast, func_exit), fn, NULL, 0);
	}
}
