/* The base-address statedump: the objects mapped in the process, so that
 * babeltrace2's debug-info filter (and `view --debug-info`) turns the `ip`
 * context into a function name and a source line. Design:
 * docs/design/instrument.md §5.
 *
 * When a session becomes active (START) or the statedump events become
 * bound in one (a provider registered late, an armed session), and the
 * dump is of use (wanted_locked: lttng_ust_statedump:end records on a
 * channel with the ip context, or instrument/func or instrument/dl is
 * loaded), the thread that looks (rtr__statedump_poll: the thread that
 * served the command, one that registered a provider, the constructor, a
 * fork child, the control thread) has a thread of ours write, and waits
 * for it (dump_full_locked): lttng_ust_statedump:start, per object of
 * dl_iterate_phdr with a file path bin_info + build_id (+ debug_link),
 * end. Afterwards rtr__statedump_update() (instrument/dl calls it after
 * dlopen/dlclose) writes lttng_ust_lib:load + build_id (+ debug_link) for
 * objects mapped since and lttng_ust_lib:unload for objects gone (mark and
 * sweep against the set written, by base address and size), as LTTng-UST
 * 2.13's lttng_ust_dl_update. RINGTRACE_WITHOUT_BADDR_STATEDUMP set (as
 * LTTNG_UST_WITHOUT_BADDR_STATEDUMP) turns all of it off.
 *
 * baddr is the address of the first PT_LOAD (dlpi_addr + p_vaddr), memsz
 * the span of the PT_LOADs, is_pic the ELF type at baddr (ET_DYN), the
 * build-id the NT_GNU_BUILD_ID note of a PT_NOTE segment, all read from
 * memory; the debug link is the .gnu_debuglink section of the file (not
 * mapped: elflink.c). The executable's path is /proc/self/exe's target.
 * Nothing allocates.
 *
 * One thread looks at a time (sd_lock); the writers of other events go on.
 * The look takes the registry lock (edge SD1: a START or ENABLE binds its
 * events one by one under it, so the statedump's events are seen all
 * bound or none); the bindings are loaded with acquire (pairs with the
 * registry's release store of a set, tracepoints.md §7). The flags below
 * are relaxed: they only decide when to look (a race costs one dump more
 * or a look later, never a wrong event: the events carry what the walk
 * saw). */
#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RTR_DEFINE_PROBES
#include "statedump_tp.h"

#include <ringtrace/ctf.h>

#include "registry.h"
#include "elflink.h"
#include "statedump.h"

int rtr__statedump_pending;
int rtr__statedump_wanted;

static pthread_mutex_t sd_lock = PTHREAD_MUTEX_INITIALIZER;
static int sd_off = -1; /* RINGTRACE_WITHOUT_BADDR_STATEDUMP set; -1: not read yet */
static int sd_owed;	/* a session started since the last dump */
static int sd_was_on;	/* statedump:end recorded at the last poll */
static bool sd_dumped;	/* `known` is the set written (sd_lock) */

/* What has been written (sd_lock). */
#define MAX_KNOWN 1024
static struct {
	uint64_t baddr, memsz;
	int mark;
} known[MAX_KNOWN];
static unsigned nknown;

/* Read at the first use: the runtime's constructor (priority 101) serves
 * its host before this file's constructors would run. */
static bool turned_off(void)
{
	int off = __atomic_load_n(&sd_off, __ATOMIC_RELAXED);

	if (rtr_unlikely(off < 0)) {
		const char *v = getenv("RINGTRACE_WITHOUT_BADDR_STATEDUMP");

		off = v && *v;
		__atomic_store_n(&sd_off, off, __ATOMIC_RELAXED);
	}
	return off;
}

/* ------------------------------------------------------------------------
 * One object
 * ------------------------------------------------------------------------ */

static void debuglink(const char *path, struct rtr_sd_obj *o)
{
	if (rtr__elf_debuglink(path, o->link, sizeof(o->link), &o->crc))
		o->link[0] = 0;
}

/* baddr and memsz from the program headers */
static void span(const struct dl_phdr_info *info, struct rtr_sd_obj *o)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	int first = 1;

	o->baddr = o->memsz = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (first)
			o->baddr = info->dlpi_addr + ph->p_vaddr;
		first = 0;
		if (ph->p_vaddr < lo)
			lo = ph->p_vaddr;
		if (ph->p_vaddr + ph->p_memsz > hi)
			hi = ph->p_vaddr + ph->p_memsz;
	}
	if (hi > lo)
		o->memsz = hi - lo;
}

static void describe(const struct dl_phdr_info *info, const char *path, struct rtr_sd_obj *o)
{
	memset(o, 0, offsetof(struct rtr_sd_obj, link));
	span(info, o);
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_NOTE && !o->bid) {
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
	if (o->baddr) {
		const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)o->baddr;

		o->is_pic = !memcmp(eh->e_ident, ELFMAG, SELFMAG) && eh->e_type == ET_DYN;
	}
	debuglink(path, o);
}

/* ------------------------------------------------------------------------
 * The walk (sd_lock held)
 * ------------------------------------------------------------------------ */

struct walk {
	int n;	       /* objects seen (the first is the executable) */
	bool full;     /* statedump events; else lttng_ust_lib:load of new ones */
	uint64_t want; /* rtr__statedump_object: this dlpi_addr */
	const char *want_path;
	struct rtr_sd_obj *found;
	char exe[4096];
};

static const char *obj_path(struct dl_phdr_info *info, struct walk *w)
{
	const char *path = info->dlpi_name;

	if (w->n++ == 0 && (!path || !*path)) {
		ssize_t l = readlink("/proc/self/exe", w->exe, sizeof(w->exe) - 1);

		if (l <= 0)
			return NULL;
		w->exe[l] = 0;
		path = w->exe;
	}
	if (!path || path[0] != '/')
		return NULL; /* the vDSO and the like: no file to read */
	return path;
}

static int dump_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct walk *w = arg;
	struct rtr_sd_obj o;
	const char *path = obj_path(info, w);
	unsigned i;

	(void)size;
	if (!path)
		return 0;
	memset(&o, 0, offsetof(struct rtr_sd_obj, link));
	/* first the base and size only: a known object is not read again */
	span(info, &o);
	if (!o.baddr)
		return 0;
	for (i = 0; i < nknown; i++)
		if (known[i].baddr == o.baddr && known[i].memsz == o.memsz)
			break;
	if (i < nknown && !w->full) {
		known[i].mark = 1;
		return 0; /* written before */
	}
	describe(info, path, &o);
	if (i < nknown) {
		known[i].mark = 1;
	} else if (nknown < MAX_KNOWN) {
		known[nknown].baddr = o.baddr;
		known[nknown].memsz = o.memsz;
		known[nknown++].mark = 1;
	}
	if (w->full) {
		rtr_tracepoint(lttng_ust_statedump, bin_info, o.baddr, o.memsz, path, o.is_pic,
			       !!o.bid, !!o.link[0]);
		if (o.bid)
			rtr_tracepoint(lttng_ust_statedump, build_id, o.baddr, o.bid, o.bid_len);
		if (o.link[0])
			rtr_tracepoint(lttng_ust_statedump, debug_link, o.baddr, o.link, o.crc);
	} else {
		rtr_tracepoint(lttng_ust_lib, load, o.baddr, o.memsz, path, !!o.bid, !!o.link[0]);
		if (o.bid)
			rtr_tracepoint(lttng_ust_lib, build_id, o.baddr, o.bid, o.bid_len);
		if (o.link[0])
			rtr_tracepoint(lttng_ust_lib, debug_link, o.baddr, o.link, o.crc);
	}
	return 0;
}

static void walk_locked(bool full)
{
	struct walk w = {.full = full};

	for (unsigned i = 0; i < nknown; i++)
		known[i].mark = 0;
	if (full) {
		nknown = 0;
		rtr_tracepoint(lttng_ust_statedump, start);
	}
	/* pending is cleared before the walk: a dlopen during it sets it again */
	__atomic_store_n(&rtr__statedump_pending, 0, __ATOMIC_RELAXED);
	dl_iterate_phdr(dump_one, &w);
	if (full) {
		rtr_tracepoint(lttng_ust_statedump, end);
		sd_dumped = true;
		return;
	}
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

/* ------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------ */

/* The dump runs in a thread of its own, joined: it is written before the
 * program goes on (the events that follow resolve), and none of its
 * events is the first of a program thread (whose per-thread context cache,
 * procname for one, would be filled too early, before the program names
 * itself; LTTng-UST writes it from its listener thread too). */
static void *dump_thread(void *arg)
{
	(void)arg;
	walk_locked(true);
	return NULL;
}

static void dump_full_locked(void)
{
	sigset_t all, old;
	pthread_t t;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&t, NULL, dump_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		walk_locked(true);
	else
		pthread_join(t, NULL);
}

/* Whether a dump is of use: lttng_ust_statedump:end records on a channel
 * with the ip context (what babeltrace2's debug-info resolves), or a
 * library whose events carry code addresses is loaded (instrument/func,
 * instrument/dl set rtr__statedump_wanted: Trace Compass names func_entry's
 * addr with the statedump). Sessions without either pay nothing but this
 * look at START. Registry lock held: the bindings do not change. */
static bool wanted_locked(void)
{
	const struct rtr_binding_set *set;

	if (!rtr_tracepoint_enabled(lttng_ust_statedump, end))
		return false;
	if (__atomic_load_n(&rtr__statedump_wanted, __ATOMIC_RELAXED))
		return true;
	/* acquire: pairs with the registry's release store of the set */
	set = rtr_atomic_load(&RTR__STATE(lttng_ust_statedump, end).bindings, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; set && i < set->nr; i++) {
		const struct rtr_binding_extra *x = set->b[i].client_priv;

		if (x && (x->ctx_mask & RTR_CTF_CTX_IP))
			return true;
	}
	return false;
}

void rtr__statedump_session_started(void)
{
	__atomic_store_n(&sd_owed, 1, __ATOMIC_RELAXED);
}

void rtr__statedump_poll(bool wait)
{
	bool on;

	if (turned_off())
		return;
	if (!rtr_tracepoint_enabled(lttng_ust_statedump, end) &&
	    !__atomic_load_n(&sd_was_on, __ATOMIC_RELAXED))
		return; /* the common case: nothing to look at, no lock */
	/* A START or an ENABLE binds its events one by one with the registry
	 * lock held: taking it waits for such a loop in another thread to
	 * end, so that the statedump events are seen all bound or none (a
	 * dump in the middle wrote start and end without bin_info). */
	if (wait)
		rtr__registry_lock();
	else if (!rtr__registry_trylock())
		return;
	on = wanted_locked();
	rtr__registry_unlock();
	if (!on) {
		/* off: the next time it records is a new start */
		if (__atomic_load_n(&sd_was_on, __ATOMIC_RELAXED))
			__atomic_store_n(&sd_was_on, 0, __ATOMIC_RELAXED);
		return;
	}
	/* Taken even when nothing is owed: a dump under way in another thread
	 * (the control thread served the enable) is waited for, so that a
	 * program thread that polls goes on only once it is written. */
	if (wait)
		pthread_mutex_lock(&sd_lock);
	else if (pthread_mutex_trylock(&sd_lock))
		return;
	if ((__atomic_load_n(&sd_owed, __ATOMIC_RELAXED) ||
	     !__atomic_load_n(&sd_was_on, __ATOMIC_RELAXED))) {
		__atomic_store_n(&sd_owed, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&sd_was_on, 1, __ATOMIC_RELAXED);
		dump_full_locked();
	}
	pthread_mutex_unlock(&sd_lock);
}

void rtr__statedump_update(int try_only)
{
	if (turned_off())
		return;
	if (try_only) {
		if (pthread_mutex_trylock(&sd_lock))
			return; /* another thread looks; pending stays set if it must */
	} else {
		pthread_mutex_lock(&sd_lock);
	}
	if (sd_dumped)
		walk_locked(false);
	else /* nothing written yet: the first dump will list everything */
		__atomic_store_n(&rtr__statedump_pending, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&sd_lock);
}

static int find_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct walk *w = arg;

	(void)size;
	if (info->dlpi_addr != w->want || !w->found)
		return 0;
	describe(info, w->want_path, w->found);
	w->found = NULL;
	return 1;
}

int rtr__statedump_object(uint64_t load_bias, const char *path, struct rtr_sd_obj *o)
{
	struct walk w = {.want = load_bias, .want_path = path, .found = o};

	dl_iterate_phdr(find_one, &w);
	return w.found ? -1 : 0;
}

void rtr__statedump_atfork_child(void)
{
	/* the child is single-threaded; its trace is a new one: dump again
	 * when its session starts */
	pthread_mutex_init(&sd_lock, NULL);
	nknown = 0;
	sd_dumped = false;
	__atomic_store_n(&sd_was_on, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sd_owed, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&rtr__statedump_pending, 0, __ATOMIC_RELAXED);
}
