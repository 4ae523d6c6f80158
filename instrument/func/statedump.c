/* The objects mapped in the process, so that babeltrace2's debug-info
 * filter turns the `ip` context (the function, for func_entry/exit) into a
 * function name and a source line: at the first function event of a
 * session, lttng_ust_statedump:start, one bin_info + build_id per object
 * (dl_iterate_phdr), end; after a dlopen or dlclose, at the next function
 * event, lttng_ust_lib:load + build_id for each new object and
 * lttng_ust_lib:unload for each gone one. Design:
 * docs/design/instrument.md §5.
 *
 * dlopen and dlclose are wrapped only to say "look again". For a name
 * without '/' (searched) the wrapper stores the state word and tail-calls
 * the real dlopen, so glibc still sees the program as the caller: its
 * DT_RUNPATH and $ORIGIN find the library, as without the tracer (a
 * wrapper that did work after the call made the search use this library's
 * instead). A function event of another thread while that load is under
 * way may close the rescan before the object is listed; it is then
 * written at the next dlopen/dlclose (a path, or dlclose, rescans after
 * the call too). The rescan compares the objects with the set already
 * written (mark and sweep, by base address and size).
 *
 * Everything is read from memory: baddr is the address of the first
 * PT_LOAD (dlpi_addr + p_vaddr), memsz the span of the PT_LOADs, is_pic
 * the ELF type at baddr (ET_DYN), the build-id the NT_GNU_BUILD_ID note of
 * a PT_NOTE segment. No .gnu_debuglink (it is not mapped): has_debug_link
 * is 0, and babeltrace2 finds debug information in the binary itself or
 * under /usr/lib/debug/.build-id. The executable's path is
 * /proc/self/exe's target. Nothing allocates (this runs inside hooks and
 * under the loader's lock). One thread dumps at a time (state 3); the
 * others' events meanwhile go on. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define RTR_DEFINE_PROBES
#include "statedump_tp.h"

#include "statedump.h"

#define EXPORT __attribute__((visibility("default")))

enum { ST_NEED = 0, ST_DONE = 1, ST_RESCAN = 2, ST_BUSY = 3 };
int rtr_func_dump_state;

struct obj {
	uint64_t baddr, memsz;
	uint8_t is_pic;
	const uint8_t *bid;
	uint32_t bid_len;
};

/* What has been written (only the dumping thread touches it: ST_BUSY). */
#define MAX_KNOWN 512
static struct {
	uint64_t baddr, memsz;
	int mark;
} known[MAX_KNOWN];
static unsigned nknown;

static void describe(const struct dl_phdr_info *info, struct obj *o)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	int first = 1;

	memset(o, 0, sizeof(*o));
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD) {
			if (first)
				o->baddr = info->dlpi_addr + ph->p_vaddr;
			first = 0;
			if (ph->p_vaddr < lo)
				lo = ph->p_vaddr;
			if (ph->p_vaddr + ph->p_memsz > hi)
				hi = ph->p_vaddr + ph->p_memsz;
		} else if (ph->p_type == PT_NOTE && !o->bid) {
			const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
			const uint8_t *end = p + ph->p_memsz;

			while (p + sizeof(ElfW(Nhdr)) <= end) {
				const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
				size_t nsz = (n->n_namesz + 3) & ~3u, dsz = (n->n_descsz + 3) & ~3u;
				const uint8_t *name = p + sizeof(*n), *desc = name + nsz;

				if (desc + dsz > end)
					break;
				if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
				    !memcmp(name, "GNU", 4) && n->n_descsz && n->n_descsz <= 64) {
					o->bid = desc;
					o->bid_len = n->n_descsz;
					break;
				}
				p = desc + dsz;
			}
		}
	}
	if (hi > lo)
		o->memsz = hi - lo;
	if (o->baddr) {
		const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)o->baddr;

		o->is_pic = !memcmp(eh->e_ident, ELFMAG, SELFMAG) && eh->e_type == ET_DYN;
	}
}

struct walk {
	int n;	    /* objects seen (the first is the executable) */
	int rescan; /* 0: statedump events; 1: lttng_ust_lib:load of new ones */
	char exe[4096];
};

static int dump_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct walk *w = arg;
	struct obj o;
	const char *path = info->dlpi_name;
	unsigned i;

	(void)size;
	if (w->n++ == 0 && (!path || !*path)) {
		ssize_t l = readlink("/proc/self/exe", w->exe, sizeof(w->exe) - 1);

		if (l <= 0)
			return 0;
		w->exe[l] = 0;
		path = w->exe;
	}
	if (!path || path[0] != '/')
		return 0; /* the vDSO and the like: no file to read */
	describe(info, &o);
	if (!o.baddr)
		return 0;
	for (i = 0; i < nknown; i++)
		if (known[i].baddr == o.baddr && known[i].memsz == o.memsz)
			break;
	if (i < nknown) {
		known[i].mark = 1;
		if (w->rescan)
			return 0; /* written before */
	} else if (nknown < MAX_KNOWN) {
		known[nknown].baddr = o.baddr;
		known[nknown].memsz = o.memsz;
		known[nknown++].mark = 1;
	}
	if (!w->rescan) {
		rtr_tracepoint(lttng_ust_statedump, bin_info, o.baddr, o.memsz, path, o.is_pic,
			       !!o.bid, 0);
		if (o.bid)
			rtr_tracepoint(lttng_ust_statedump, build_id, o.baddr, o.bid, o.bid_len);
	} else {
		rtr_tracepoint(lttng_ust_lib, load, o.baddr, o.memsz, path, !!o.bid, 0);
		if (o.bid)
			rtr_tracepoint(lttng_ust_lib, build_id, o.baddr, o.bid, o.bid_len);
	}
	return 0;
}

void rtr_func_statedump(void)
{
	struct walk w;
	int st = __atomic_load_n(&rtr_func_dump_state, __ATOMIC_RELAXED);

	/* only once the statedump events record too (the session binds
	 * events one by one) */
	if (st == ST_DONE || st == ST_BUSY || !rtr_tracepoint_enabled(lttng_ust_statedump, end))
		return;
	if (!__atomic_compare_exchange_n(&rtr_func_dump_state, &st, ST_BUSY, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return; /* another thread dumps */
	w.n = 0;
	w.rescan = st == ST_RESCAN;
	for (unsigned i = 0; i < nknown; i++)
		known[i].mark = 0;
	if (!w.rescan) {
		nknown = 0;
		rtr_tracepoint(lttng_ust_statedump, start);
	}
	dl_iterate_phdr(dump_one, &w);
	if (!w.rescan) {
		rtr_tracepoint(lttng_ust_statedump, end);
	} else {
		/* sweep: objects gone since */
		unsigned j = 0;

		for (unsigned i = 0; i < nknown; i++) {
			if (!known[i].mark) {
				rtr_tracepoint(lttng_ust_lib, unload, known[i].baddr);
				continue;
			}
			known[j++] = known[i];
		}
		nknown = j;
	}
	st = ST_BUSY;
	/* a dlopen during the walk set ST_RESCAN: leave it for the next event */
	__atomic_compare_exchange_n(&rtr_func_dump_state, &st, ST_DONE, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

void rtr_func_statedump_atfork_child(void)
{
	/* a fork child's trace is a trace of its own: dump again there */
	nknown = 0;
	__atomic_store_n(&rtr_func_dump_state, ST_NEED, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------
 * dlopen / dlclose: "look again", then a tail call (the program stays the
 * caller glibc sees)
 * ------------------------------------------------------------------------ */

static void *real_dlopen_p, *real_dlclose_p; /* set in the constructor */

__attribute__((constructor)) static void statedump_init(void)
{
	__atomic_store_n(&real_dlopen_p, dlsym(RTLD_NEXT, "dlopen"), __ATOMIC_RELAXED);
	__atomic_store_n(&real_dlclose_p, dlsym(RTLD_NEXT, "dlclose"), __ATOMIC_RELAXED);
}

static void look_again(void)
{
	int st = ST_DONE;

	/* DONE or BUSY -> RESCAN; NEED stays NEED (a full dump sees all) */
	if (!__atomic_compare_exchange_n(&rtr_func_dump_state, &st, ST_RESCAN, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED) &&
	    st == ST_BUSY)
		__atomic_compare_exchange_n(&rtr_func_dump_state, &st, ST_RESCAN, false,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
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

EXPORT void *dlopen(const char *file, int flags)
{
	void *(*real)(const char *, int);
	void *h;

	*(void **)&real = real_sym(&real_dlopen_p, "dlopen");
	if (rtr_unlikely(!real))
		return NULL;
	look_again();
	if (!file || !strchr(file, '/'))
		return real(file, flags); /* searched: a tail call, see above */
	/* a path: the caller does not matter; rescan after the load too, so
	 * that another thread's event during it cannot close the rescan
	 * before the object is there */
	h = real(file, flags);
	look_again();
	return h;
}

EXPORT int dlclose(void *handle)
{
	int (*real)(void *);
	int r;

	*(void **)&real = real_sym(&real_dlclose_p, "dlclose");
	if (rtr_unlikely(!real))
		return -1;
	r = real(handle);
	look_again(); /* after: the rescan sees the object gone */
	return r;
}
