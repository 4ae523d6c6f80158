/* libringtrace-libc.so: the malloc family, wrapped by LD_PRELOAD (record
 * --preload libc), each call recorded as LTTng-UST's lttng_ust_libc events
 * (libc_tp.h) with the caller as the `ip` context. Design:
 * docs/design/instrument.md §4.
 *
 * Bootstrapping. The real functions come from dlsym(RTLD_NEXT), and dlsym
 * may allocate (other glibc versions, TLS set-up): while this thread
 * resolves (`resolving`, initial-exec TLS: no allocation to reach it),
 * allocations come from a static bump buffer; its blocks are never freed
 * (free ignores them), realloc moves them to the real heap and records
 * in_ptr as NULL (as LTTng does) so memory analyses stay balanced. If
 * dlsym fails, glibc's __libc_* functions are the fallback. The table is
 * published with a release store (edge L1) that pairs with the acquire
 * load of every call; a thread that sees it unpublished resolves too (the
 * same values; dlsym is thread-safe).
 *
 * Only the outermost call of a thread is recorded (`nesting`: a realloc
 * implemented with malloc records one event); the write path allocates
 * nothing. Calls made before a session records, in fork children before
 * they re-register, and by dying threads (initial-exec TLS lives as long
 * as the thread) cost one flag test. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RTR_DEFINE_PROBES
#include "libc_tp.h"

#include "emit.h"
#include "self.h"

#define EXPORT	__attribute__((visibility("default")))
#define CALLER	__builtin_return_address(0)
#define ALIGNOF 16u

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

struct real {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*memalign)(size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
};

static struct real real;
static int resolved; /* L1: release after `real` is filled; acquire on use */
static __thread int resolving __attribute__((tls_model("initial-exec")));
static __thread int nesting __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------------------------
 * Static buffer for the allocations made while resolving
 * ------------------------------------------------------------------------ */

#define STATIC_SIZE (64u * 1024u)
static _Alignas(64) unsigned char static_buf[STATIC_SIZE];
static size_t static_used; /* fetch-add: any thread may be resolving */

static int is_static(const void *p)
{
	return (const unsigned char *)p >= static_buf &&
	       (const unsigned char *)p < static_buf + STATIC_SIZE;
}

/* A block with its size in the 16 bytes before it (static_realloc). */
static void *static_alloc(size_t size, size_t align)
{
	size_t need, off, old;

	if (align < ALIGNOF)
		align = ALIGNOF;
	if (size > STATIC_SIZE || align > 4096)
		return NULL;
	need = size + align + ALIGNOF;
	old = __atomic_fetch_add(&static_used, need, __ATOMIC_RELAXED);
	if (old + need > STATIC_SIZE)
		return NULL; /* the caller sees ENOMEM, nothing dies */
	off = (old + ALIGNOF + align - 1) & ~(align - 1);
	memcpy(static_buf + off - ALIGNOF, &size, sizeof(size));
	return static_buf + off;
}

static size_t static_size(const void *p)
{
	size_t s;

	memcpy(&s, (const unsigned char *)p - ALIGNOF, sizeof(s));
	return s;
}

/* ------------------------------------------------------------------------
 * Resolution
 * ------------------------------------------------------------------------ */

static void resolve(void)
{
	struct real r;

	resolving = 1;
	*(void **)&r.malloc = dlsym(RTLD_NEXT, "malloc");
	*(void **)&r.free = dlsym(RTLD_NEXT, "free");
	*(void **)&r.calloc = dlsym(RTLD_NEXT, "calloc");
	*(void **)&r.realloc = dlsym(RTLD_NEXT, "realloc");
	*(void **)&r.memalign = dlsym(RTLD_NEXT, "memalign");
	*(void **)&r.posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
	*(void **)&r.aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
	*(void **)&r.reallocarray = dlsym(RTLD_NEXT, "reallocarray");
	*(void **)&r.valloc = dlsym(RTLD_NEXT, "valloc");
	*(void **)&r.pvalloc = dlsym(RTLD_NEXT, "pvalloc");
	rtr_instr_find_tracer();
	resolving = 0;
	if (!r.malloc || !r.free || !r.calloc || !r.realloc || !r.memalign) {
		/* no next allocator found: glibc's own */
		r.malloc = __libc_malloc;
		r.free = __libc_free;
		r.calloc = __libc_calloc;
		r.realloc = __libc_realloc;
		r.memalign = __libc_memalign;
		r.posix_memalign = NULL;
		r.aligned_alloc = NULL;
		r.reallocarray = NULL;
		r.valloc = NULL;
		r.pvalloc = NULL;
	}
	real = r;
	__atomic_store_n(&resolved, 1, __ATOMIC_RELEASE); /* L1 */
}

/* 1: use `real`; 0: this thread is resolving, use the static buffer. */
static RTR_ALWAYS_INLINE int ready(void)
{
	if (rtr_likely(__atomic_load_n(&resolved, __ATOMIC_ACQUIRE))) /* L1 */
		return 1;
	if (resolving)
		return 0;
	resolve();
	return 1;
}

__attribute__((constructor)) static void libc_init(void)
{
	ready();
}

/* ------------------------------------------------------------------------
 * Wrappers
 * ------------------------------------------------------------------------ */

struct __attribute__((packed)) ev_size_ptr {
	uint64_t size, ptr;
};
struct __attribute__((packed)) ev_3 {
	uint64_t a, b, ptr;
};
struct __attribute__((packed)) ev_4 {
	uint64_t a, b, c, ptr;
};
struct __attribute__((packed)) ev_posix {
	uint64_t out_ptr, alignment, size;
	int32_t result;
};

#define P(x) ((uint64_t)(uintptr_t)(x))
#define EMIT(ev, ip, v)                                                                            \
	do {                                                                                       \
		if (RTR_INSTR_ENABLED(lttng_ust_libc, ev) && !rtr_instr_from_tracer(ip))                     \
			rtr_instr_emit(RTR_INSTR_DESC(lttng_ust_libc, ev), ip, &(v), sizeof(v));      \
	} while (0)

EXPORT void *malloc(size_t size)
{
	void *p;

	if (rtr_unlikely(!ready()))
		return static_alloc(size, ALIGNOF);
	nesting++;
	p = real.malloc(size);
	if (nesting == 1) {
		struct ev_size_ptr v = {size, P(p)};

		EMIT(malloc, CALLER, v);
	}
	nesting--;
	return p;
}

EXPORT void free(void *ptr)
{
	if (rtr_unlikely(is_static(ptr)))
		return;
	if (rtr_unlikely(!ready()))
		return; /* only the static buffer's blocks exist yet */
	nesting++;
	real.free(ptr);
	if (nesting == 1) {
		uint64_t v = P(ptr);

		EMIT(free, CALLER, v);
	}
	nesting--;
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
	void *p;

	if (rtr_unlikely(!ready())) {
		if (size && nmemb > SIZE_MAX / size)
			return NULL;
		return static_alloc(nmemb * size, ALIGNOF); /* static_buf is zero */
	}
	nesting++;
	p = real.calloc(nmemb, size);
	if (nesting == 1) {
		struct ev_3 v = {nmemb, size, P(p)};

		EMIT(calloc, CALLER, v);
	}
	nesting--;
	return p;
}

EXPORT void *realloc(void *in, size_t size)
{
	void *p;
	void *rec_in = in;

	if (rtr_unlikely(!ready())) {
		p = static_alloc(size, ALIGNOF);
		if (p && in && is_static(in)) {
			size_t s = static_size(in);

			memcpy(p, in, s < size ? s : size);
		}
		return p;
	}
	nesting++;
	if (rtr_unlikely(in && is_static(in))) {
		size_t s = static_size(in);

		p = real.malloc(size);
		if (p)
			memcpy(p, in, s < size ? s : size);
		rec_in = NULL; /* the static block was never recorded */
	} else {
		p = real.realloc(in, size);
	}
	if (nesting == 1) {
		struct ev_3 v = {P(rec_in), size, P(p)};

		EMIT(realloc, CALLER, v);
	}
	nesting--;
	return p;
}

EXPORT void *memalign(size_t alignment, size_t size)
{
	void *p;

	if (rtr_unlikely(!ready()))
		return static_alloc(size, alignment);
	nesting++;
	p = real.memalign(alignment, size);
	if (nesting == 1) {
		struct ev_3 v = {alignment, size, P(p)};

		EMIT(memalign, CALLER, v);
	}
	nesting--;
	return p;
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t size)
{
	int r;

	if (rtr_unlikely(!ready())) {
		void *p = static_alloc(size, alignment);

		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	nesting++;
	if (real.posix_memalign) {
		r = real.posix_memalign(out, alignment, size);
	} else {
		void *p = real.memalign(alignment, size);

		r = p ? 0 : ENOMEM;
		if (p)
			*out = p;
	}
	if (nesting == 1) {
		struct ev_posix v = {P(r == 0 ? *out : NULL), alignment, size, r};

		EMIT(posix_memalign, CALLER, v);
	}
	nesting--;
	return r;
}

EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
	void *p;

	if (rtr_unlikely(!ready()))
		return static_alloc(size, alignment);
	nesting++;
	p = real.aligned_alloc ? real.aligned_alloc(alignment, size)
			       : real.memalign(alignment, size);
	if (nesting == 1) {
		struct ev_3 v = {alignment, size, P(p)};

		EMIT(aligned_alloc, CALLER, v);
	}
	nesting--;
	return p;
}

EXPORT void *reallocarray(void *in, size_t nmemb, size_t size)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	if (rtr_unlikely(!ready()) || rtr_unlikely(in && is_static(in)) || !real.reallocarray)
		return realloc(in, nmemb * size);
	nesting++;
	p = real.reallocarray(in, nmemb, size);
	if (nesting == 1) {
		struct ev_4 v = {P(in), nmemb, size, P(p)};

		EMIT(reallocarray, CALLER, v);
	}
	nesting--;
	return p;
}

EXPORT void *valloc(size_t size)
{
	void *p;

	if (rtr_unlikely(!ready()))
		return static_alloc(size, 4096);
	nesting++;
	p = real.valloc ? real.valloc(size) : real.memalign(4096, size);
	if (nesting == 1) {
		struct ev_size_ptr v = {size, P(p)};

		EMIT(valloc, CALLER, v);
	}
	nesting--;
	return p;
}

EXPORT void *pvalloc(size_t size)
{
	void *p;

	if (rtr_unlikely(!ready()))
		return static_alloc((size + 4095) & ~(size_t)4095, 4096);
	nesting++;
	p = real.pvalloc ? real.pvalloc(size) : real.memalign(4096, (size + 4095) & ~(size_t)4095);
	if (nesting == 1) {
		struct ev_size_ptr v = {size, P(p)};

		EMIT(pvalloc, CALLER, v);
	}
	nesting--;
	return p;
}
