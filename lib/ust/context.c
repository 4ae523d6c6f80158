/* The event context of a channel (`record --context ip,vtid,vpid,procname,
 * pthread_id,perf:...`): LTTng-UST's fields, written between the event
 * header and the payload, in the mask's bit order (counters first, read by
 * counters.c). Design: docs/design/instrument.md §2.
 *
 * Costs: vtid, vpid and procname are system calls (gettid, getpid,
 * prctl), so each is cached: vtid and procname per thread (initial-exec
 * TLS, no allocation, no lock), vpid per process; the fork child handler
 * clears the caches of the only thread a child has. ip comes from the
 * probe (its return address), pthread_id is pthread_self().
 *
 * Signal safety: a handler that interrupts a fill fills the cache itself
 * (same values); a cache entry is published by its last store (the valid
 * word), after its bytes. Only this thread reads its own entry, so plain
 * stores ordered by a compiler barrier suffice (edge C1: bytes before
 * valid flag, same thread, signal handlers included). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "counters.h"
#include "ctf-writer.h"

#define MAX_SRC 8

struct src {
	struct rtr_ctf_ctx_src s;
	uint32_t mask;
	const struct rtr_ctf_ctx_src *counters; /* NULL: no counter in mask */
};

static struct src srcs[MAX_SRC];
static unsigned nsrcs;
static pthread_mutex_t srcs_lock = PTHREAD_MUTEX_INITIALIZER;

struct tcache {
	int32_t vtid; /* 0: not known yet */
	int name_ok;
	char name[RTR_CTF_PROCNAME_LEN];
};

static __thread struct tcache tc __attribute__((tls_model("initial-exec")));
static int32_t cached_vpid; /* 0: not known yet (relaxed atomics: same value from any thread) */

static int32_t get_vtid(void)
{
	int32_t t = tc.vtid;

	if (rtr_unlikely(!t)) {
		t = (int32_t)syscall(SYS_gettid);
		tc.vtid = t;
	}
	return t;
}

static int32_t get_vpid(void)
{
	int32_t p = __atomic_load_n(&cached_vpid, __ATOMIC_RELAXED);

	if (rtr_unlikely(!p)) {
		p = (int32_t)getpid();
		__atomic_store_n(&cached_vpid, p, __ATOMIC_RELAXED);
	}
	return p;
}

static void get_name(uint8_t *dst)
{
	if (rtr_unlikely(!tc.name_ok)) {
		char n[RTR_CTF_PROCNAME_LEN] = {0};

		if (prctl(PR_GET_NAME, n) != 0)
			n[0] = 0;
		n[RTR_CTF_PROCNAME_LEN - 1] = 0;
		memcpy(tc.name, n, sizeof(n));
		__atomic_signal_fence(__ATOMIC_RELEASE); /* C1: name before flag */
		tc.name_ok = 1;
	}
	memcpy(dst, tc.name, RTR_CTF_PROCNAME_LEN);
}

static void read_ctx(const struct rtr_ctf_ctx_src *s, uint8_t *dst, uintptr_t ip)
{
	const struct src *me = (const struct src *)s;
	uint32_t off = 0;

	if (me->counters) {
		me->counters->read(me->counters, dst, ip);
		off = me->counters->size;
	}
	for (unsigned i = RTR_CTF_COUNTER_COUNT; i < RTR_CTF_CTX_COUNT; i++) {
		if (!(me->mask & (1u << i)))
			continue;
		switch (i) {
		case RTR_CTF_CTX_IP: {
			uint64_t v = ip;

			memcpy(dst + off, &v, 8);
			off += 8;
			break;
		}
		case RTR_CTF_CTX_VTID: {
			int32_t v = get_vtid();

			memcpy(dst + off, &v, 4);
			off += 4;
			break;
		}
		case RTR_CTF_CTX_VPID: {
			int32_t v = get_vpid();

			memcpy(dst + off, &v, 4);
			off += 4;
			break;
		}
		case RTR_CTF_CTX_PROCNAME:
			get_name(dst + off);
			off += RTR_CTF_PROCNAME_LEN;
			break;
		default: {
			uint64_t v = (uint64_t)pthread_self();

			memcpy(dst + off, &v, 8);
			off += 8;
			break;
		}
		}
	}
}

/* vtid alone (the common case): no loop, no switch. */
static void read_vtid(const struct rtr_ctf_ctx_src *s, uint8_t *dst, uintptr_t ip)
{
	int32_t v = get_vtid();

	(void)s;
	(void)ip;
	memcpy(dst, &v, 4);
}

const struct rtr_ctf_ctx_src *rtr__context_src(uint32_t mask)
{
	const struct rtr_ctf_ctx_src *r = NULL;
	const struct rtr_ctf_ctx_src *cnt = NULL;
	uint32_t size;

	mask &= (1u << RTR_CTF_CTX_COUNT) - 1;
	if (!mask)
		return NULL;
	if (!(mask & ~RTR_CTF_CTX_COUNTERS_MASK))
		return rtr__counters_src(mask); /* counters only: as before */
	if (mask & RTR_CTF_CTX_COUNTERS_MASK) {
		cnt = rtr__counters_src(mask & RTR_CTF_CTX_COUNTERS_MASK);
		if (!cnt)
			return NULL;
	}
	size = rtr_ctf_ctx_size(mask);
	if (size > RTR_CTF_CTX_MAX)
		return NULL;
	pthread_mutex_lock(&srcs_lock);
	for (unsigned i = 0; i < nsrcs && !r; i++)
		if (srcs[i].mask == mask)
			r = &srcs[i].s;
	if (!r && nsrcs < MAX_SRC) {
		srcs[nsrcs] = (struct src){
		    .s = {.size = size,
			  .read = mask == (1u << RTR_CTF_CTX_VTID) ? read_vtid : read_ctx},
		    .mask = mask,
		    .counters = cnt};
		r = &srcs[nsrcs++].s;
	}
	pthread_mutex_unlock(&srcs_lock);
	return r;
}

void rtr__context_atfork_child(void)
{
	/* the child's only thread: new tid, new pid; the name stays */
	tc.vtid = 0;
	__atomic_store_n(&cached_vpid, 0, __ATOMIC_RELAXED);
}
