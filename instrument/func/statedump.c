/* The objects mapped in the process, so that babeltrace2's debug-info
 * filter turns the `ip` context (the function, for func_entry/exit) into a
 * function name and a source line: at the first function event of a
 * session, lttng_ust_statedump:start, one bin_info + build_id per object
 * (dl_iterate_phdr), end; and lttng_ust_dl:dlopen/build_id/dlclose around
 * dlopen/dlclose (wrapped here). Design: docs/design/instrument.md §5.
 *
 * Everything is read from memory: baddr is the address of the first
 * PT_LOAD (dlpi_addr + p_vaddr), memsz the span of the PT_LOADs, is_pic
 * the ELF type at baddr (ET_DYN), the build-id the NT_GNU_BUILD_ID note of
 * a PT_NOTE segment. No .gnu_debuglink (it is not mapped): has_debug_link
 * is 0, and babeltrace2 finds debug information in the binary itself or
 * under /usr/lib/debug/.build-id. The executable's path is
 * /proc/self/exe's target. The dump allocates nothing (it runs inside
 * hooks and under the loader's lock). */
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

int rtr_func_dumped; /* 1 once dumped (relaxed: a second dump is harmless) */

struct obj {
	uint64_t baddr, memsz;
	uint8_t is_pic;
	const uint8_t *bid;
	uint32_t bid_len;
};

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

static int dump_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	int *n = arg;
	struct obj o;
	char exe[4096];
	const char *path = info->dlpi_name;

	(void)size;
	if ((*n)++ == 0 && (!path || !*path)) {
		ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		if (l <= 0)
			return 0;
		exe[l] = 0;
		path = exe;
	}
	if (!path || path[0] != '/')
		return 0; /* the vDSO and the like: no file to read */
	describe(info, &o);
	if (!o.baddr)
		return 0;
	rtr_tracepoint(lttng_ust_statedump, bin_info, o.baddr, o.memsz, path, o.is_pic, !!o.bid, 0);
	if (o.bid)
		rtr_tracepoint(lttng_ust_statedump, build_id, o.baddr, o.bid, o.bid_len);
	return 0;
}

void rtr_func_statedump(void)
{
	int n = 0;

	/* only once the statedump events record too (the session binds
	 * events one by one) */
	if (!rtr_tracepoint_enabled(lttng_ust_statedump, end))
		return;
	if (__atomic_exchange_n(&rtr_func_dumped, 1, __ATOMIC_RELAXED))
		return;
	rtr_tracepoint(lttng_ust_statedump, start);
	dl_iterate_phdr(dump_one, &n);
	rtr_tracepoint(lttng_ust_statedump, end);
}

void rtr_func_statedump_atfork_child(void)
{
	/* a fork child's trace is a trace of its own: dump again there */
	__atomic_store_n(&rtr_func_dumped, 0, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------
 * dlopen / dlclose
 * ------------------------------------------------------------------------ */

struct find {
	uintptr_t l_addr;
	struct obj o;
	int found;
};

static int find_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find *f = arg;

	(void)size;
	if ((uintptr_t)info->dlpi_addr != f->l_addr || !info->dlpi_name || !info->dlpi_name[0])
		return 0;
	describe(info, &f->o);
	f->found = 1;
	return 1;
}

static int lookup(void *handle, struct find *f, const char **path)
{
	struct link_map *lm = NULL;

	if (!handle || dlinfo(handle, RTLD_DI_LINKMAP, &lm) || !lm)
		return 0;
	f->l_addr = lm->l_addr;
	f->found = 0;
	*path = lm->l_name;
	dl_iterate_phdr(find_one, f);
	return f->found && f->o.baddr;
}

EXPORT void *dlopen(const char *file, int flags)
{
	static void *real_p; /* relaxed: every thread finds the same */
	void *(*real_dlopen)(const char *, int);
	void *h;

	*(void **)&real_dlopen = __atomic_load_n(&real_p, __ATOMIC_RELAXED);
	if (!real_dlopen) {
		*(void **)&real_dlopen = dlsym(RTLD_NEXT, "dlopen");
		__atomic_store_n(&real_p, *(void **)&real_dlopen, __ATOMIC_RELAXED);
	}
	if (!real_dlopen)
		return NULL;
	h = real_dlopen(file, flags);
	if (h && rtr_tracepoint_enabled(lttng_ust_dl, dlopen)) {
		struct find f;
		const char *path;

		if (lookup(h, &f, &path)) {
			rtr_do_tracepoint(lttng_ust_dl, dlopen, f.o.baddr, f.o.memsz, flags, path,
					  !!f.o.bid, 0);
			if (f.o.bid)
				rtr_tracepoint(lttng_ust_dl, build_id, f.o.baddr, f.o.bid,
					       f.o.bid_len);
		}
	}
	return h;
}

EXPORT int dlclose(void *handle)
{
	static void *real_p;
	int (*real_dlclose)(void *);

	*(void **)&real_dlclose = __atomic_load_n(&real_p, __ATOMIC_RELAXED);
	if (!real_dlclose) {
		*(void **)&real_dlclose = dlsym(RTLD_NEXT, "dlclose");
		__atomic_store_n(&real_p, *(void **)&real_dlclose, __ATOMIC_RELAXED);
	}
	if (!real_dlclose)
		return -1;
	if (rtr_tracepoint_enabled(lttng_ust_dl, dlclose)) {
		struct find f;
		const char *path;

		if (lookup(handle, &f, &path))
			rtr_do_tracepoint(lttng_ust_dl, dlclose, f.o.baddr);
	}
	return real_dlclose(handle);
}
