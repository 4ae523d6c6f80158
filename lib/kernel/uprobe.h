/* Uprobes: BINARY:FUNCTION[+OFFSET] resolved to a file offset (ELF
 * symbol tables, then separate debug info and DWARF through libdw),
 * registered in tracefs under a group named after this process and
 * removed at the end. Design: docs/design/kernel.md §6. */
#ifndef RTR_KERNEL_UPROBE_H
#define RTR_KERNEL_UPROBE_H

#include <stddef.h>
#include <stdint.h>

#include "kernel.h"

struct rtr__kprobes;

/* Registers every probe (group: [A-Za-z0-9_]). On failure nothing stays
 * registered and err says which probe and why. Returns 0 or a negative
 * errno. */
int rtr__kprobes_create(struct rtr__kprobes **out, const char *tracefs, const char *group,
			const struct rtr_kernel_probe *probes, size_t n,
			const struct rtr_kernel_log *log, char *err, size_t errlen);
size_t rtr__kprobes_count(const struct rtr__kprobes *p);
/* Event name of probe i in the group (uprobe_<function>, uretprobe_<function>). */
const char *rtr__kprobes_event(const struct rtr__kprobes *p, size_t i);
/* Removes the probes (after the instance using them). NULL is ignored. */
void rtr__kprobes_destroy(struct rtr__kprobes *p, const struct rtr_kernel_log *log);

/* Resolves FUNCTION in the ELF file at path to the file offset of its
 * first instruction plus `add` bytes. Returns 0, or a negative errno with
 * the reason in err (no such file, not ELF, no such function, an IFUNC,
 * offset beyond the function). */
int rtr__elf_resolve(const char *path, const char *func, uint64_t add, uint64_t *file_off,
		     char *err, size_t errlen);

/* The fetch argument for parameter `param` of `func` from DWARF
 * ("name=%si:s32", x86-64 calling convention, entry probes only) into
 * buf. Returns 0 or a negative errno with the reason in err. */
int rtr__dwarf_param_fetcharg(const char *path, const char *func, const char *param, char *buf,
			      size_t cap, char *err, size_t errlen);

/* The path of BINARY: as given if it has a '/', else searched in PATH and
 * the usual library directories. Returns 0 or -ENOENT. */
int rtr__find_binary(const char *name, char *buf, size_t cap);

#endif /* RTR_KERNEL_UPROBE_H */
