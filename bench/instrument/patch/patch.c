/* PROTOTYPE (bench only, x86-64): function entry/exit for programs built
 * with `-fpatchable-function-entry=5` (5 one-byte nops at every function's
 * first byte, their addresses in __patchable_function_entries; PIE or
 * not) or `-pg -mfentry -mnop-mcount -mrecord-mcount` (a 5-byte nop,
 * __mcount_loc; not PIE), to
 * compare with libringtrace-func.so (-finstrument-functions) on the same
 * workload: bench/instrument/patch.sh, docs/design/instrument.md §6.
 *
 * Preloaded. The constructor finds the executable's list (section headers
 * of /proc/self/exe), maps a stub page within +-2 GiB of its text
 * (`jmp *entry_tramp`), makes the text writable, rewrites each nop into
 * `call stub`, and makes it read-only again (before main: no thread runs
 * the code meanwhile). entry_tramp saves the argument registers (rdi, rsi,
 * rdx, rcx, r8, r9, rax, xmm0-7), calls on_entry(fn, &slot), restores. The
 * exit is a return-address hook as uftrace's: on_entry writes
 * lttng_ust_cyg_profile:func_entry {addr, call_site}, pushes {slot,
 * original return address, fn} on a per-thread stack and replaces the
 * return address with exit_tramp, which saves rax, rdx, xmm0-1, calls
 * on_exit(rsp) (writes func_exit, pops, returns the original address) and
 * jumps there. on_exit takes the topmost entry whose slot is its own: a
 * longjmp out of instrumented frames leaves stale entries above it, which
 * are dropped then, or by the next on_entry on the same stack (their
 * exits are lost, as with -finstrument-functions).
 * Signal handlers nest on the same stack (LIFO); one on an alternate stack
 * matches its own slots. A full stack (256) leaves the exit unhooked.
 * Not handled: CET shadow stacks (a replaced return address faults),
 * shared libraries' functions (only the executable is patched), C++
 * exceptions unwinding through hooked frames (the unwinder sees
 * exit_tramp as the return address and has no FDE for it: terminate). */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RTR_DEFINE_PROBES
#include "../../../instrument/func/func_tp.h"

#include "emit.h"

#define NOINSTR __attribute__((no_instrument_function))

void patch_entry_tramp(void);
void patch_exit_tramp(void);
uintptr_t patch_on_exit(uintptr_t sp);
void patch_on_entry(uintptr_t ret_in_fn, uintptr_t *slot);

/* Both trampolines align the stack themselves (a signal handler's first
 * call found it 8 bytes off what a call site guarantees: movaps fault). */
__asm__(".text\n"
	".globl patch_entry_tramp\n"
	".type patch_entry_tramp,@function\n"
	"patch_entry_tramp:\n"
	/* [rsp] = fn + 5, [rsp + 8] = fn's return address (the slot) */
	"	push %rbp\n"
	"	mov %rsp, %rbp\n" /* 8(%rbp) = fn + 5, 16(%rbp) = the slot */
	"	push %rdi\n	push %rsi\n	push %rdx\n	push %rcx\n"
	"	push %r8\n	push %r9\n	push %rax\n"
	"	sub $128, %rsp\n"
	"	and $-16, %rsp\n"
	"	movdqu %xmm0, 0(%rsp)\n	movdqu %xmm1, 16(%rsp)\n"
	"	movdqu %xmm2, 32(%rsp)\n	movdqu %xmm3, 48(%rsp)\n"
	"	movdqu %xmm4, 64(%rsp)\n	movdqu %xmm5, 80(%rsp)\n"
	"	movdqu %xmm6, 96(%rsp)\n	movdqu %xmm7, 112(%rsp)\n"
	"	mov 8(%rbp), %rdi\n"
	"	lea 16(%rbp), %rsi\n"
	"	call patch_on_entry\n"
	"	movdqu 0(%rsp), %xmm0\n	movdqu 16(%rsp), %xmm1\n"
	"	movdqu 32(%rsp), %xmm2\n	movdqu 48(%rsp), %xmm3\n"
	"	movdqu 64(%rsp), %xmm4\n	movdqu 80(%rsp), %xmm5\n"
	"	movdqu 96(%rsp), %xmm6\n	movdqu 112(%rsp), %xmm7\n"
	"	lea -56(%rbp), %rsp\n"
	"	pop %rax\n	pop %r9\n	pop %r8\n	pop %rcx\n"
	"	pop %rdx\n	pop %rsi\n	pop %rdi\n"
	"	pop %rbp\n"
	"	ret\n"
	".size patch_entry_tramp, .-patch_entry_tramp\n"
	".globl patch_exit_tramp\n"
	".type patch_exit_tramp,@function\n"
	"patch_exit_tramp:\n"
	/* the function returned here: rsp = slot + 8 */
	"	push %rbp\n"
	"	mov %rsp, %rbp\n" /* rbp = the slot */
	"	push %rax\n	push %rdx\n"
	"	sub $32, %rsp\n"
	"	and $-16, %rsp\n"
	"	movdqu %xmm0, 0(%rsp)\n	movdqu %xmm1, 16(%rsp)\n"
	"	lea 8(%rbp), %rdi\n"
	"	call patch_on_exit\n"
	"	mov %rax, %r11\n"
	"	movdqu 0(%rsp), %xmm0\n	movdqu 16(%rsp), %xmm1\n"
	"	mov -8(%rbp), %rax\n	mov -16(%rbp), %rdx\n"
	"	mov %rbp, %rsp\n"
	"	pop %rbp\n"
	"	jmp *%r11\n"
	".size patch_exit_tramp, .-patch_exit_tramp\n");

static int no_exit; /* PATCH_NO_EXIT set: entries only (to split the cost) */

#define DEPTH 256
struct frame {
	uintptr_t *slot;
	uintptr_t ret, fn;
};
static __thread struct frame stack_[DEPTH] __attribute__((tls_model("initial-exec")));
static __thread unsigned top_ __attribute__((tls_model("initial-exec")));

NOINSTR void patch_on_entry(uintptr_t ret_in_fn, uintptr_t *slot)
{
	uintptr_t fn = ret_in_fn - 5, cs = *slot;
	unsigned t = top_;

	if (RTR_INSTR_ENABLED(lttng_ust_cyg_profile, func_entry)) {
		unsigned long v[2] = {fn, cs};

		rtr_instr_emit(RTR_INSTR_DESC(lttng_ust_cyg_profile, func_entry), (void *)fn, v,
			       sizeof(v));
	}
	/* Entries a longjmp left behind lie at or below our slot on this
	 * stack (a live caller's slot is always above ours): drop them, or a
	 * loop of longjmps fills the stack. Only within 256 KiB: an entry of
	 * another stack (the frames a handler on an alternate stack
	 * interrupted) is left alone unless that stack lies just below. */
	while (t && stack_[t - 1].slot <= slot &&
	       (uintptr_t)slot - (uintptr_t)stack_[t - 1].slot < (256u << 10))
		t--;
	top_ = t;
	if (t == DEPTH || no_exit || !RTR_INSTR_ENABLED(lttng_ust_cyg_profile, func_exit))
		return; /* no exit event for this call */
	/* the slot is reserved first: a signal handler's calls meanwhile
	 * push above it and pop back to it (they never read it) */
	top_ = t + 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	stack_[t].slot = slot;
	stack_[t].ret = cs;
	stack_[t].fn = fn;
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* the entry, then the hook */
	*slot = (uintptr_t)patch_exit_tramp;
}

NOINSTR uintptr_t patch_on_exit(uintptr_t sp)
{
	uintptr_t *slot = (uintptr_t *)(sp - 8);
	unsigned t = top_;
	struct frame f;

	while (t && stack_[t - 1].slot != slot)
		t--; /* stale entries (longjmp) above ours */
	if (!t)
		abort(); /* no entry: cannot return */
	f = stack_[t - 1];
	top_ = t - 1;
	if (RTR_INSTR_ENABLED(lttng_ust_cyg_profile, func_exit)) {
		unsigned long v[2] = {f.fn, f.ret};

		rtr_instr_emit(RTR_INSTR_DESC(lttng_ust_cyg_profile, func_exit), (void *)f.fn, v,
			       sizeof(v));
	}
	return f.ret;
}

/* ------------------------------------------------------------------------
 * Patching the executable at start
 * ------------------------------------------------------------------------ */

/* the section listing the patch areas: GCC's -fpatchable-function-entry
 * (PIE too), or -mrecord-mcount's (-pg -mfentry -mnop-mcount, no PIE) */
static int find_mcount_loc(uint64_t *vaddr, uint64_t *size)
{
	ElfW(Ehdr) eh;
	ElfW(Shdr) sh, ss;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int r = -1;

	if (fd < 0)
		return -1;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    pread(fd, &ss, sizeof(ss), (off_t)(eh.e_shoff + eh.e_shstrndx * sizeof(ss))) != sizeof(ss))
		goto out;
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		static const char pfe[] = "__patchable_function_entries", mcl[] = "__mcount_loc";
		char name[sizeof(pfe)] = {0};

		if (pread(fd, &sh, sizeof(sh), (off_t)(eh.e_shoff + i * sizeof(sh))) != sizeof(sh) ||
		    pread(fd, name, sizeof(name), (off_t)(ss.sh_offset + sh.sh_name)) <= 0)
			continue;
		if (!memcmp(name, pfe, sizeof(pfe)) || !memcmp(name, mcl, sizeof(mcl))) {
			*vaddr = sh.sh_addr;
			*size = sh.sh_size;
			r = 0;
			break;
		}
	}
out:
	close(fd);
	return r;
}

static int exe_bias(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	*(uintptr_t *)arg = info->dlpi_addr;
	return 1; /* the first object is the executable */
}

__attribute__((constructor)) NOINSTR static void patch_init(void)
{
	static const unsigned char nop5[5] = {0x0f, 0x1f, 0x44, 0x00, 0x00},
				   nop1x5[5] = {0x90, 0x90, 0x90, 0x90, 0x90};
	uint64_t va, sz;
	uintptr_t bias = 0, lo = UINTPTR_MAX, hi = 0;
	const uintptr_t *loc;
	size_t n, patched = 0;
	unsigned char *stub = MAP_FAILED;
	long pg = sysconf(_SC_PAGESIZE);

	no_exit = getenv("PATCH_NO_EXIT") != NULL;
	if (find_mcount_loc(&va, &sz))
		return;
	dl_iterate_phdr(exe_bias, &bias);
	loc = (const uintptr_t *)(bias + va);
	n = sz / sizeof(*loc);
	for (size_t i = 0; i < n; i++) {
		if (loc[i] < lo)
			lo = loc[i];
		if (loc[i] > hi)
			hi = loc[i];
	}
	if (!n)
		return;
	/* a stub page near the text: below it, then above */
	for (uintptr_t d = 1u << 20; d < (1u << 30) && stub == MAP_FAILED; d <<= 1) {
		uintptr_t want[2] = {(lo & ~(uintptr_t)(pg - 1)) - d, (hi & ~(uintptr_t)(pg - 1)) + d};

		for (int k = 0; k < 2 && stub == MAP_FAILED; k++) {
			stub = mmap((void *)want[k], (size_t)pg, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			if (stub != MAP_FAILED && (uintptr_t)stub != want[k]) {
				munmap(stub, (size_t)pg);
				stub = MAP_FAILED;
			}
		}
	}
	if (stub == MAP_FAILED)
		return;
	/* jmp *0(%rip); .quad patch_entry_tramp */
	stub[0] = 0xff;
	stub[1] = 0x25;
	memset(stub + 2, 0, 4);
	{
		uintptr_t t = (uintptr_t)patch_entry_tramp;

		memcpy(stub + 6, &t, 8);
	}
	mprotect(stub, (size_t)pg, PROT_READ | PROT_EXEC);
	{
		uintptr_t a = lo & ~(uintptr_t)(pg - 1), b = (hi + 5 + pg - 1) & ~(uintptr_t)(pg - 1);

		if (mprotect((void *)a, b - a, PROT_READ | PROT_WRITE | PROT_EXEC))
			return;
		for (size_t i = 0; i < n; i++) {
			unsigned char *p = (unsigned char *)loc[i];
			int32_t rel = (int32_t)((intptr_t)stub - (intptr_t)(loc[i] + 5));

			if (memcmp(p, nop5, 5) && memcmp(p, nop1x5, 5))
				continue; /* not the nop we expect: leave it */
			p[0] = 0xe8;
			memcpy(p + 1, &rel, 4);
			patched++;
		}
		mprotect((void *)a, b - a, PROT_READ | PROT_EXEC);
	}
	(void)patched;
}
