/* ringtrace runtime: provider registry and event bindings (what the
 * rtr_tracepoint() fast path reads). See docs/design/tracepoints.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "statedump.h"

#pragma weak rtr__statedump_poll

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rtr_provider *providers;
static struct rtr_registry_listener listener;

/* reg_index -> event; grows, never shrinks; entries of unregistered
 * providers become NULL. */
static const struct rtr_event_desc **by_index;
static uint8_t *minor_of; /* the event ABI minor its provider was built with */
static uint32_t nr_index, cap_index;

/* Replaced binding sets are kept, never freed: a probe on another thread
 * may still be reading one it loaded before the replacement. They are
 * small and only change when a session starts or stops. */
struct retired {
	struct retired *next;
	struct rtr_binding_set *set;
};
static struct retired *retired_sets;

void rtr__registry_lock(void)
{
	pthread_mutex_lock(&reg_lock);
}

bool rtr__registry_trylock(void)
{
	return pthread_mutex_trylock(&reg_lock) == 0;
}

void rtr__registry_unlock(void)
{
	pthread_mutex_unlock(&reg_lock);
}

void rtr__registry_set_listener(const struct rtr_registry_listener *l)
{
	rtr__registry_lock();
	if (l)
		listener = *l;
	else
		memset(&listener, 0, sizeof(listener));
	rtr__registry_unlock();
}

struct rtr_provider *rtr__registry_first_locked(void)
{
	return providers;
}

const struct rtr_event_desc *rtr__registry_event_locked(uint32_t reg_index)
{
	return reg_index < nr_index ? by_index[reg_index] : NULL;
}

unsigned rtr__registry_event_minor_locked(uint32_t reg_index)
{
	return reg_index < nr_index ? minor_of[reg_index] : 0;
}

static void retire(struct rtr_binding_set *set)
{
	struct retired *r;

	if (!set)
		return;
	r = malloc(sizeof(*r));
	if (!r)
		return; /* leak rather than free under a possible reader */
	r->set = set;
	r->next = retired_sets;
	retired_sets = r;
}

static void publish(struct rtr_event_state *st, struct rtr_binding_set *set)
{
	struct rtr_binding_set *old = atomic_load_explicit(&st->bindings, memory_order_relaxed);

	if (!set || set->nr == 0) {
		/* Stop new probe calls first, then drop the set. */
		__atomic_store_n(&st->enabled, 0, __ATOMIC_RELAXED);
		atomic_store_explicit(&st->bindings, NULL, memory_order_release);
		free(set);
	} else {
		/* Publish the set before the flag that leads probes to it. */
		atomic_store_explicit(&st->bindings, set, memory_order_release);
		__atomic_store_n(&st->enabled, 1, __ATOMIC_RELEASE);
	}
	retire(old);
}

int rtr__registry_bind_locked(uint32_t reg_index, const struct rtr_event_binding *b)
{
	const struct rtr_event_desc *ev = rtr__registry_event_locked(reg_index);
	struct rtr_binding_set *old, *set;
	uint32_t n;

	if (!ev)
		return -ENOENT;
	old = atomic_load_explicit(&ev->state->bindings, memory_order_relaxed);
	n = old ? old->nr : 0;
	for (uint32_t i = 0; i < n; i++)
		if (old->b[i].chan == b->chan)
			return -EEXIST;
	set = malloc(sizeof(*set) + (n + 1) * sizeof(set->b[0]));
	if (!set)
		return -ENOMEM;
	if (n)
		memcpy(set->b, old->b, n * sizeof(set->b[0]));
	set->b[n] = *b;
	set->nr = n + 1;
	publish(ev->state, set);
	return 0;
}

static unsigned unbind_event(const struct rtr_event_desc *ev, const struct rtr_ring_chan *chan)
{
	struct rtr_binding_set *old = atomic_load_explicit(&ev->state->bindings, memory_order_relaxed);
	struct rtr_binding_set *set;
	uint32_t kept = 0, n;

	if (!old)
		return 0;
	n = old->nr;
	set = malloc(sizeof(*set) + n * sizeof(set->b[0]));
	if (!set) {
		/* Cannot build a smaller set: disable the event entirely. */
		publish(ev->state, NULL);
		return n;
	}
	for (uint32_t i = 0; i < n; i++)
		if (chan && old->b[i].chan != chan)
			set->b[kept++] = old->b[i];
	set->nr = kept;
	if (kept == n) {
		free(set);
		return 0;
	}
	publish(ev->state, set);
	return n - kept;
}

unsigned rtr__registry_unbind_chan_locked(const struct rtr_ring_chan *chan)
{
	unsigned removed = 0;

	for (uint32_t i = 0; i < nr_index; i++)
		if (by_index[i])
			removed += unbind_event(by_index[i], chan);
	return removed;
}

void rtr__registry_unbind_all_locked(void)
{
	rtr__registry_unbind_chan_locked(NULL);
}

int rtr__registry_unbind_event_locked(uint32_t reg_index, const struct rtr_ring_chan *chan)
{
	const struct rtr_event_desc *ev = rtr__registry_event_locked(reg_index);

	if (!ev)
		return -ENOENT;
	return unbind_event(ev, chan) ? 0 : -ENOENT;
}

static int grow_index(uint32_t need)
{
	const struct rtr_event_desc **n;
	uint8_t *m;
	uint32_t cap = cap_index ? cap_index : 64;

	if (need <= cap_index)
		return 0;
	while (cap < need)
		cap *= 2;
	n = realloc(by_index, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	by_index = n;
	m = realloc(minor_of, cap);
	if (!m)
		return -ENOMEM;
	minor_of = m;
	cap_index = cap;
	return 0;
}

void rtr_provider_register(struct rtr_provider *p)
{
	if (!p || p->abi_major != RTR_EVENT_ABI_MAJOR)
		return; /* built against an incompatible ringtrace: stays dormant */
	rtr__registry_lock();
	if (p->registered || grow_index(nr_index + p->nr_events)) {
		rtr__registry_unlock();
		return;
	}
	for (uint32_t i = 0; i < p->nr_events; i++) {
		const struct rtr_event_desc *ev = p->events[i];

		ev->state->reg_index = nr_index;
		ev->state->enabled = 0;
		atomic_store_explicit(&ev->state->bindings, NULL, memory_order_relaxed);
		minor_of[nr_index] = (uint8_t)(p->abi_minor > 255 ? 255 : p->abi_minor);
		by_index[nr_index++] = ev;
	}
	p->registered = 1;
	p->next = providers;
	providers = p;
	if (listener.provider_added)
		listener.provider_added(listener.arg, p);
	rtr__registry_unlock();
	/* its events may have been bound by the registration's reply: the
	 * statedump's own provider registers after the handshake (weak: tests
	 * link this file without the runtime) */
	if (rtr__statedump_poll)
		rtr__statedump_poll(true);
}

void rtr_provider_unregister(struct rtr_provider *p)
{
	struct rtr_provider **pp;

	if (!p)
		return;
	rtr__registry_lock();
	if (!p->registered) {
		rtr__registry_unlock();
		return;
	}
	for (uint32_t i = 0; i < p->nr_events; i++) {
		const struct rtr_event_desc *ev = p->events[i];

		publish(ev->state, NULL);
		if (ev->state->reg_index < nr_index && by_index[ev->state->reg_index] == ev)
			by_index[ev->state->reg_index] = NULL;
	}
	for (pp = &providers; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	p->registered = 0;
	if (listener.provider_removed)
		listener.provider_removed(listener.arg, p);
	rtr__registry_unlock();
}
