/* The write path every library of instrument/ shares: one record of a
 * fixed-size, byte-packed payload of integer fields on each binding of an
 * event, attributed to code address `ip` (the `ip` context, when the
 * channel has it: the function for func_entry, the caller for a wrapped
 * malloc). It is the probe's loop of include/ringtrace/tracepoint.h
 * (tracepoints.md §4) with ip passed explicitly, inlined into the hook:
 * plain bindings take the inline clients; bindings with extras (a filter,
 * contexts, counters: ctf.h struct rtr_binding_extra, daemon.md §3.2/§4)
 * go through rtr_probe__filter and rtr_probe__reserve, the probes' own
 * out-of-line path. The bindings are loaded with acquire: pairs with the
 * registry's release store of a new set (tracepoints.md §7). errno is
 * preserved. */
#ifndef RTR_INSTRUMENT_EMIT_H
#define RTR_INSTRUMENT_EMIT_H

#include <errno.h>
#include <string.h>

#include <ringtrace/tracepoint.h>

#define RTR_INSTR_ENABLED(p, e)                                                                    \
	rtr_unlikely(__atomic_load_n(&RTR__STATE(p, e).enabled, __ATOMIC_RELAXED))
/* The description of event p:e, defined in this file (RTR_DEFINE_PROBES). */
#define RTR_INSTR_DESC(p, e) (&rtr__desc_##p##_##e)

/* The filter's view of a packed payload: its integer fields in order, each
 * size_bits/8 bytes (sign-extended when signed). Only integer fields are
 * written by the hooks; any other kind reads as 0, as the probes' arrays. */
__attribute__((no_instrument_function, noinline, unused)) static void
rtr_instr_args(const struct rtr_event_desc *d, const void *vals, size_t sz,
	       union rtr_probe_arg *out)
{
	const unsigned char *v = vals;
	size_t off = 0;

	for (uint32_t i = 0; i < d->nr_fields; i++) {
		const struct rtr_field_desc *f = &d->fields[i];
		size_t n = f->integer.size_bits / 8u;

		out[i].u = 0;
		if (f->kind != RTR_FIELD_INTEGER || !n || n > 8 || off + n > sz)
			continue;
		if (f->integer.is_signed) {
			int64_t s = 0;

			switch (n) {
			case 1: {
				int8_t x;
				memcpy(&x, v + off, 1);
				s = x;
				break;
			}
			case 2: {
				int16_t x;
				memcpy(&x, v + off, 2);
				s = x;
				break;
			}
			case 4: {
				int32_t x;
				memcpy(&x, v + off, 4);
				s = x;
				break;
			}
			default:
				memcpy(&s, v + off, 8);
				break;
			}
			out[i].s = s;
		} else {
			uint64_t u = 0;

			memcpy(&u, v + off, n); /* little-endian (x86-64, aarch64) */
			out[i].u = u;
		}
		off += n;
	}
}

#define RTR_INSTR_MAX_FIELDS 8

__attribute__((no_instrument_function)) static RTR_ALWAYS_INLINE void
rtr_instr_emit(const struct rtr_event_desc *d, const void *ip, const void *vals, size_t sz)
{
	struct rtr_binding_set *set = rtr_atomic_load(&d->state->bindings, __ATOMIC_ACQUIRE);
	int saved = errno;

	if (rtr_unlikely(!set))
		return;
	for (uint32_t i = 0; i < set->nr; i++) {
		const struct rtr_event_binding *b = &set->b[i];
		const struct rtr_binding_extra *x =
		    (const struct rtr_binding_extra *)b->client_priv;
		uint32_t client = b->client;
		struct rtr_ring_ctx c = {0}, sc;
		char *wp;

		if (rtr_likely(x == NULL)) {
			wp = rtr_ctf_event_reserve(b, client, b->chan, b->event_id, sz, &c, &sc);
		} else {
			if (x->filter) {
				union rtr_probe_arg a[RTR_INSTR_MAX_FIELDS];

				if (d->nr_fields > RTR_INSTR_MAX_FIELDS)
					continue; /* cannot happen: the hooks' events are small */
				rtr_instr_args(d, vals, sz, a);
				if (!rtr_probe__filter(x, a))
					continue;
			}
			wp = rtr_probe__reserve(b, x, sz, &sc, ip);
		}
		if (rtr_unlikely(!wp))
			continue;
		if (sz)
			memcpy(wp, vals, sz);
		if (rtr_likely(x == NULL))
			rtr_ctf_event_commit(b, client, &c, &sc);
		else
			rtr_ctf__commit(b, &sc);
	}
	errno = saved;
}

#endif /* RTR_INSTRUMENT_EMIT_H */
