/* libringtrace-dl.so: dlopen and dlclose calls (record --preload dl, and
 * with --func), as LTTng-UST's liblttng-ust-dl: lttng_ust_dl:dlopen
 * (+ build_id, debug_link) after each dlopen that returned an object with
 * a load bias, lttng_ust_dl:dlclose before each dlclose; then the
 * runtime's look at the mapped objects (lttng_ust_lib:load/unload, which
 * babeltrace2's debug-info filter follows, also for the dependencies a
 * dlopen loads). Design: docs/design/instrument.md §5.
 *
 * glibc resolves a searched name (no '/') and expands $ORIGIN with the
 * RUNPATH and directory of dlopen's caller, found by its return address.
 * A wrapper that calls the real dlopen becomes that caller, and the
 * program's dlopen("libplug.so") through RUNPATH=$ORIGIN/plug fails. So:
 *  - a path without '$': the caller does not matter; called from here;
 *  - otherwise, when the caller is the executable: called through a
 *    trampoline in an anonymous page, an address in no object, for which
 *    glibc takes the executable as the caller (dl-open.c: "by default we
 *    assume this is the main application") — the same answer;
 *  - otherwise (a library's call): a tail call (the caller stays the
 *    library's), no lttng_ust_dl:dlopen, and the runtime is told to look
 *    again (rtr__statedump_pending) at the next dlopen/dlclose, function
 *    event or served command.
 * The path in the event is realpath() of the object's l_name, as LTTng's;
 * memsz and the build id come from memory, the debug link from the file
 * (lib/ust/statedump.c). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define RTR_DEFINE_PROBES
#include "dl_tp.h"

#include "statedump.h"

#define EXPORT __attribute__((visibility("default")))

typedef void *(*dlopen_fn)(const char *, int);
typedef void *(*tramp_fn)(const char *, int, dlopen_fn);

static void *real_dlopen_p, *real_dlclose_p; /* set in the constructor */
static tramp_fn tramp;

#if defined(__x86_64__)
/* endbr64; sub $8,%rsp; call *%rdx; add $8,%rsp; ret */
static const unsigned char tramp_code[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x83, 0xec, 0x08,
					   0xff, 0xd2, 0x48, 0x83, 0xc4, 0x08, 0xc3};
#endif

__attribute__((constructor)) static void dl_init(void)
{
	__atomic_store_n(&rtr__statedump_wanted, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&real_dlopen_p, dlsym(RTLD_NEXT, "dlopen"), __ATOMIC_RELAXED);
	__atomic_store_n(&real_dlclose_p, dlsym(RTLD_NEXT, "dlclose"), __ATOMIC_RELAXED);
#if defined(__x86_64__)
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return;
	memcpy(p, tramp_code, sizeof(tramp_code));
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC)) {
		munmap(p, 4096); /* W^X policy: library callers' way for all */
		return;
	}
	tramp = (tramp_fn)p;
#endif
}

static void *real_sym(void **slot, const char *name)
{
	void *p = __atomic_load_n(slot, __ATOMIC_RELAXED);

	if (rtr_unlikely(!p)) { /* called before the constructor */
		p = dlsym(RTLD_NEXT, name);
		__atomic_store_n(slot, p, __ATOMIC_RELAXED);
	}
	return p;
}

static bool caller_is_executable(void *ra)
{
	Dl_info di;
	struct link_map *lm = NULL;

	return dladdr1(ra, &di, (void **)&lm, RTLD_DL_LINKMAP) && lm && lm == _r_debug.r_map;
}

static void after_open(void *h, int flags)
{
	struct link_map *lm = NULL;

	if (h && rtr_tracepoint_enabled(lttng_ust_dl, dlopen) &&
	    dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_addr) {
		char path[PATH_MAX];
		struct rtr_sd_obj o;

		if (realpath(lm->l_name, path) &&
		    !rtr__statedump_object((uint64_t)lm->l_addr, path, &o)) {
			rtr_tracepoint(lttng_ust_dl, dlopen, (uint64_t)lm->l_addr, o.memsz, flags,
				       path, !!o.bid, !!o.link[0]);
			if (o.bid)
				rtr_tracepoint(lttng_ust_dl, build_id, (uint64_t)lm->l_addr, o.bid,
					       o.bid_len);
			if (o.link[0])
				rtr_tracepoint(lttng_ust_dl, debug_link, (uint64_t)lm->l_addr,
					       o.link, o.crc);
		}
	}
	rtr__statedump_update(0); /* lttng_ust_lib:load of it and its dependencies */
}

EXPORT void *dlopen(const char *file, int flags)
{
	dlopen_fn real;
	void *h;

	*(void **)&real = real_sym(&real_dlopen_p, "dlopen");
	if (rtr_unlikely(!real))
		return NULL;
	if (__atomic_load_n(&rtr__statedump_pending, __ATOMIC_RELAXED))
		rtr__statedump_update(0);
	if (file && strchr(file, '/') && !strchr(file, '$')) {
		h = real(file, flags);
		after_open(h, flags);
		return h;
	}
	if (file && tramp && caller_is_executable(__builtin_return_address(0))) {
		h = tramp(file, flags, real);
		after_open(h, flags);
		return h;
	}
	if (file)
		__atomic_store_n(&rtr__statedump_pending, 1, __ATOMIC_RELAXED);
	return real(file, flags); /* a tail call: the caller stays the program's */
}

EXPORT int dlclose(void *handle)
{
	int (*real)(void *);
	struct link_map *lm = NULL;
	int r;

	*(void **)&real = real_sym(&real_dlclose_p, "dlclose");
	if (rtr_unlikely(!real))
		return -1;
	if (rtr_tracepoint_enabled(lttng_ust_dl, dlclose) &&
	    dlinfo(handle, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_addr)
		rtr_tracepoint(lttng_ust_dl, dlclose, (uint64_t)lm->l_addr);
	r = real(handle);
	rtr__statedump_update(0); /* after: the look sees the objects gone */
	return r;
}
