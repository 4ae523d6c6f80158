/* The write path every library of instrument/ shares: one record of a
 * fixed-size, byte-packed payload on each binding of an event, attributed
 * to code address `ip` (the `ip` context, when the channel has it: the
 * function for func_entry, the caller for a wrapped malloc). It is the
 * probe's loop (tracepoints.md §4) with ip passed explicitly, inlined into
 * the hook. The bindings are loaded with acquire: pairs with the registry's
 * release store of a new set (tracepoints.md §7). errno is preserved. */
#ifndef RTR_INSTRUMENT_EMIT_H
#define RTR_INSTRUMENT_EMIT_H

#include <errno.h>
#include <string.h>

#include <ringtrace/tracepoint.h>

#define RTR_INSTR_ENABLED(p, e)                                                                    \
	rtr_unlikely(__atomic_load_n(&RTR__STATE(p, e).enabled, __ATOMIC_RELAXED))

__attribute__((no_instrument_function)) static RTR_ALWAYS_INLINE void
rtr_instr_emit(struct rtr_event_state *st, const void *ip, const void *vals, size_t sz)
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
			wp = rtr_ctf__reserve_ip(b, sz, &sc, ip);
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

#endif /* RTR_INSTRUMENT_EMIT_H */
