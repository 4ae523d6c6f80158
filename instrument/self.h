/* The tracer's own calls are not the program's: a wrapper does not record
 * calls whose caller is in libringtrace.so (its executable segments, found
 * once; nothing is excluded before). Calls it makes through other libc
 * functions (strdup...) are still recorded: docs/design/instrument.md §4. */
#ifndef RTR_INSTRUMENT_SELF_H
#define RTR_INSTRUMENT_SELF_H

#include <dlfcn.h>
#include <link.h>
#include <stdint.h>

#include <ringtrace/ctf.h>

static uintptr_t rtr_instr_self_lo, rtr_instr_self_hi;

static int rtr_instr_find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t base = *(uintptr_t *)arg;

	(void)size;
	if ((uintptr_t)info->dlpi_addr != base)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = base + ph->p_vaddr, hi = lo + ph->p_memsz;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		if (!rtr_instr_self_lo || lo < rtr_instr_self_lo)
			rtr_instr_self_lo = lo;
		if (hi > rtr_instr_self_hi)
			rtr_instr_self_hi = hi;
	}
	return 1;
}

/* Call while resolving the real functions, before the release store that
 * publishes them: readers load that flag with acquire before they read
 * the range (each wrapper's edge L1 / P1). Threads resolving at once
 * store the same values. */
static void rtr_instr_find_tracer(void)
{
	Dl_info di;

	if (rtr_instr_self_hi)
		return;
	if (dladdr((void *)rtr_probe__reserve, &di) && di.dli_fbase) {
		uintptr_t base = (uintptr_t)di.dli_fbase;

		dl_iterate_phdr(rtr_instr_find_self, &base);
	}
}

static RTR_ALWAYS_INLINE int rtr_instr_from_tracer(const void *ip)
{
	return (uintptr_t)ip - rtr_instr_self_lo < rtr_instr_self_hi - rtr_instr_self_lo;
}

#endif /* RTR_INSTRUMENT_SELF_H */
