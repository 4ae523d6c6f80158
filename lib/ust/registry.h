/* ringtrace in-process runtime: registry of instrumented events and their
 * bindings to session channels. Internal to libringtrace.so (and tests).
 * Design: docs/design/tracepoints.md §Runtime. */
#ifndef RTR_UST_REGISTRY_H
#define RTR_UST_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include <ringtrace/event.h>

/* Every event of every registered provider has a process-wide index (its
 * "registration index", stable while the provider stays registered, never
 * reused). Hosts refer to events by it. */

/* Called (with the registry lock held, from the registering thread) when a
 * provider is registered or unregistered, so the control code can tell the
 * session hosts. Keep it short; it must not call back into the registry's
 * locking functions (the *_locked variants are fine). */
struct rtr_registry_listener {
	void (*provider_added)(void *arg, struct rtr_provider *p);
	void (*provider_removed)(void *arg, struct rtr_provider *p);
	void *arg;
};

/* Installs the listener (one; NULL removes it). */
void rtr__registry_set_listener(const struct rtr_registry_listener *l);

/* Lock serialising registration, unregistration and binding changes. */
void rtr__registry_lock(void);
/* true: locked (the control thread must not wait for it: statedump.c) */
bool rtr__registry_trylock(void);
void rtr__registry_unlock(void);

/* Iterates registered providers (lock held by the caller). */
struct rtr_provider *rtr__registry_first_locked(void);

/* Finds an event by registration index (lock held). NULL if unknown/gone. */
const struct rtr_event_desc *rtr__registry_event_locked(uint32_t reg_index);

/* The event ABI minor the event's provider was built with (lock held). */
unsigned rtr__registry_event_minor_locked(uint32_t reg_index);

/* Removes the binding of one event to `chan` (lock held). Returns 0 or
 * -ENOENT (no such event or binding). */
int rtr__registry_unbind_event_locked(uint32_t reg_index, const struct rtr_ring_chan *chan);

/* Adds a binding to an event (lock held): publishes a new binding set with
 * release semantics, then sets the enabled flag. Returns 0, -ENOENT (no such
 * event), -EEXIST (already bound to that channel), -ENOMEM. */
int rtr__registry_bind_locked(uint32_t reg_index, const struct rtr_event_binding *b);

/* Removes every binding of every event to `chan` (lock held). After it
 * returns, no new probe call can reach `chan`; a probe that loaded the old
 * set before may still be writing (callers keep the channel's memory mapped,
 * see docs/design/tracepoints.md). Returns how many bindings were removed. */
unsigned rtr__registry_unbind_chan_locked(const struct rtr_ring_chan *chan);

/* Removes every binding of every event (lock held): tracing stops. */
void rtr__registry_unbind_all_locked(void);

#endif /* RTR_UST_REGISTRY_H */
