/* libringtrace-pthread.so: mutexes and condition variables, wrapped by
 * LD_PRELOAD (record --preload pthread), recorded as lttng_ust_pthread
 * events (pthread_tp.h) with the caller as the `ip` context. Design:
 * docs/design/instrument.md §4.
 *
 * The real functions come from dlsym(RTLD_NEXT) (the condition variables
 * by dlvsym at GLIBC_2.3.2, the current layout, not the 2.2.5 one), looked
 * up in the constructor or at the first call, published by a release store
 * (edge P1) that pairs with the acquire load of every call. A mutex call
 * made by dlsym itself while this thread resolves (glibc's dlsym uses
 * internal locks, so only another libc could) cannot reach the real
 * function: it returns 0 without locking, in the only thread that runs
 * at constructor time. Since
 * glibc 2.34 libc's own locking uses internal names and is not seen here;
 * the program's and other libraries' is. The tracer's own calls are left
 * out (self.h). The events are written after the call (the mutex is held,
 * or the wait is over): _req before a call that may block. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#define RTR_DEFINE_PROBES
#include "pthread_tp.h"

#include "emit.h"
#include "self.h"

#define EXPORT __attribute__((visibility("default")))
#define CALLER __builtin_return_address(0)

struct real {
	int (*lock)(pthread_mutex_t *);
	int (*trylock)(pthread_mutex_t *);
	int (*unlock)(pthread_mutex_t *);
	int (*wait)(pthread_cond_t *, pthread_mutex_t *);
	int (*timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
	int (*signal)(pthread_cond_t *);
	int (*broadcast)(pthread_cond_t *);
};

static struct real real;
static int resolved; /* P1: release after `real`; acquire on use */
static __thread int resolving __attribute__((tls_model("initial-exec")));

static void *sym(const char *name, const char *version)
{
	void *p = version ? dlvsym(RTLD_NEXT, name, version) : NULL;

	return p ? p : dlsym(RTLD_NEXT, name);
}

static void resolve(void)
{
	struct real r;

	resolving = 1;
	*(void **)&r.lock = sym("pthread_mutex_lock", NULL);
	*(void **)&r.trylock = sym("pthread_mutex_trylock", NULL);
	*(void **)&r.unlock = sym("pthread_mutex_unlock", NULL);
	*(void **)&r.wait = sym("pthread_cond_wait", "GLIBC_2.3.2");
	*(void **)&r.timedwait = sym("pthread_cond_timedwait", "GLIBC_2.3.2");
	*(void **)&r.signal = sym("pthread_cond_signal", "GLIBC_2.3.2");
	*(void **)&r.broadcast = sym("pthread_cond_broadcast", "GLIBC_2.3.2");
	rtr_instr_find_tracer();
	resolving = 0;
	real = r;
	__atomic_store_n(&resolved, 1, __ATOMIC_RELEASE); /* P1 */
}

/* 1: `real` is usable; 0: this thread is resolving. */
static RTR_ALWAYS_INLINE int ready(void)
{
	if (rtr_likely(__atomic_load_n(&resolved, __ATOMIC_ACQUIRE))) /* P1 */
		return 1;
	if (resolving)
		return 0;
	resolve();
	return 1;
}

__attribute__((constructor)) static void pthread_wrap_init(void)
{
	ready();
}

struct __attribute__((packed)) ev_p {
	uint64_t p;
};
struct __attribute__((packed)) ev_ps {
	uint64_t p;
	int32_t status;
};
struct __attribute__((packed)) ev_pp {
	uint64_t a, b;
};
struct __attribute__((packed)) ev_pps {
	uint64_t a, b;
	int32_t status;
};

#define P(x) ((uint64_t)(uintptr_t)(x))
#define EMIT(ev, ip, v)                                                                            \
	do {                                                                                       \
		if (RTR_INSTR_ENABLED(lttng_ust_pthread, ev) && !rtr_instr_from_tracer(ip))        \
			rtr_instr_emit(RTR_INSTR_DESC(lttng_ust_pthread, ev), ip, &(v), sizeof(v));   \
	} while (0)

EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	const void *ip = CALLER;
	int r;

	if (rtr_unlikely(!ready()))
		return 0; /* inside dlsym, see above */
	{
		struct ev_p v = {P(m)};

		EMIT(pthread_mutex_lock_req, ip, v);
	}
	r = real.lock ? real.lock(m) : ENOSYS;
	{
		struct ev_ps v = {P(m), r};

		EMIT(pthread_mutex_lock_acq, ip, v);
	}
	return r;
}

EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
	const void *ip = CALLER;
	int r;

	if (rtr_unlikely(!ready()))
		return 0; /* inside dlsym, see above */
	r = real.trylock ? real.trylock(m) : ENOSYS;
	{
		struct ev_ps v = {P(m), r};

		EMIT(pthread_mutex_trylock, ip, v);
	}
	return r;
}

EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
	const void *ip = CALLER;
	int r;

	if (rtr_unlikely(!ready()))
		return 0; /* inside dlsym, see above */
	r = real.unlock ? real.unlock(m) : ENOSYS;
	{
		struct ev_ps v = {P(m), r};

		EMIT(pthread_mutex_unlock, ip, v);
	}
	return r;
}

EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	const void *ip = CALLER;
	int r;

	if (rtr_unlikely(!ready()))
		return 0; /* inside dlsym: see above */
	{
		struct ev_pp v = {P(c), P(m)};

		EMIT(pthread_cond_wait_req, ip, v);
	}
	r = real.wait ? real.wait(c, m) : ENOSYS;
	{
		struct ev_pps v = {P(c), P(m), r};

		EMIT(pthread_cond_wait_acq, ip, v);
	}
	return r;
}

EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t)
{
	const void *ip = CALLER;
	int r;

	if (rtr_unlikely(!ready()))
		return 0;
	{
		struct ev_pp v = {P(c), P(m)};

		EMIT(pthread_cond_timedwait_req, ip, v);
	}
	r = real.timedwait ? real.timedwait(c, m, t) : ENOSYS;
	{
		struct ev_pps v = {P(c), P(m), r};

		EMIT(pthread_cond_timedwait_acq, ip, v);
	}
	return r;
}

EXPORT int pthread_cond_signal(pthread_cond_t *c)
{
	const void *ip = CALLER;
	int r;

	if (rtr_unlikely(!ready()))
		return 0;
	r = real.signal ? real.signal(c) : ENOSYS;
	{
		struct ev_ps v = {P(c), r};

		EMIT(pthread_cond_signal, ip, v);
	}
	return r;
}

EXPORT int pthread_cond_broadcast(pthread_cond_t *c)
{
	const void *ip = CALLER;
	int r;

	if (rtr_unlikely(!ready()))
		return 0;
	r = real.broadcast ? real.broadcast(c) : ENOSYS;
	{
		struct ev_ps v = {P(c), r};

		EMIT(pthread_cond_broadcast, ip, v);
	}
	return r;
}
