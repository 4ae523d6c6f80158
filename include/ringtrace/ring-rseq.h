/* ringtrace — restartable-sequence primitives behind the per-CPU ring buffer
 * fast path. Not a public API of its own; see docs/design/ring-buffer.md §4.
 *
 * A restartable sequence (rseq, Linux 4.18+) is a short run of instructions
 * ending in one "commit" instruction; if the thread is preempted, migrated
 * or interrupted by a signal before the commit, the kernel moves it to an
 * abort handler instead of resuming it. A per-CPU variable updated only
 * inside such sequences needs no lock-prefixed instruction: the commit
 * either happens on the expected CPU with nothing else on that CPU in
 * between, or not at all. glibc (2.35+) registers the per-thread rseq area
 * and publishes its place as __rseq_offset from the thread pointer.
 *
 * Contract of every primitive here:
 *   - returns RTR_RSEQ_OK when the commit instruction ran on CPU `cpu`;
 *   - RTR_RSEQ_CPU when the thread is not (or no longer) on `cpu`;
 *   - RTR_RSEQ_CHANGED when the compared word did not hold `expect`;
 *   - RTR_RSEQ_ABORT when the kernel aborted the sequence (retry);
 *   - nothing is written unless RTR_RSEQ_OK is returned.
 * They are async-signal-safe and never block or make a system call.
 */
#ifndef RINGTRACE_RING_RSEQ_H
#define RINGTRACE_RING_RSEQ_H

#include <stddef.h>
#include <stdint.h>

#include <ringtrace/common.h>

#define RTR_RSEQ_OK      0
#define RTR_RSEQ_CPU     1
#define RTR_RSEQ_CHANGED 2
#define RTR_RSEQ_ABORT   3

#if defined(__x86_64__) && defined(__GLIBC__) && \
	(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define RTR_HAVE_RSEQ 1
#else
#define RTR_HAVE_RSEQ 0
#endif

#if RTR_HAVE_RSEQ

#include <sys/rseq.h>

/* The abort signature glibc registered (RSEQ_SIG in <bits/rseq.h>). It is
 * placed in the 4 bytes before each abort handler, as the displacement of a
 * `ud1` instruction so that disassemblers show an invalid opcode. */
#define RTR_RSEQ_SIG_ASM ".byte 0x0f, 0xb9, 0x3d\n\t.long 0x53053053\n\t"

/* Offsets inside struct rseq (linux/rseq.h): cpu_id at 4, rseq_cs at 8. */

/* True when glibc registered an rseq area for the calling thread's process.
 * (Registration can be turned off with GLIBC_TUNABLES=glibc.pthread.rseq=0.) */
static inline int rtr_rseq_registered(void)
{
	return __rseq_size > 0;
}

/* The CPU the calling thread runs on, read from its rseq area (a plain load:
 * ~0.5 ns). Negative when rseq is not registered for this thread. Only call
 * when rtr_rseq_registered(). */
static inline int32_t rtr_rseq_cpu(void)
{
	int32_t cpu;

	__asm__ __volatile__("movl %%fs:4(%1), %0" : "=r"(cpu) : "r"(__rseq_offset));
	return cpu;
}

typedef long long rtr_v2di __attribute__((vector_size(16), may_alias));

/* Points the thread's rseq_cs back at nothing. Every sequence below does it
 * on each way out (the success path inside its asm, right after the commit),
 * because its descriptor lives in the object that inlined it: a shared
 * library unloaded by dlclose() would otherwise leave threads whose rseq_cs
 * points into unmapped memory, and the kernel kills such a thread with
 * SIGSEGV at its next preemption. (After an abort the kernel has cleared it.) */
static RTR_ALWAYS_INLINE void rtr_rseq_clear_cs(void)
{
	__asm__ __volatile__("movq $0, %%fs:8(%0)" : : "r"(__rseq_offset) : "memory");
}

/* The frame every sequence below shares. BEGIN: a struct rseq_cs descriptor
 * (version 0, flags 0, start 1f, length 2f-1f, abort 4f) in section
 * __rseq_cs; at 1: the thread's rseq_cs is pointed at it, then the CPU is
 * checked (rs = __rseq_offset, cpu = expected CPU). The body follows; its
 * last instruction is the commit, and END places label 2 right after it,
 * clears rseq_cs, then the abort handler (signature + jump) in section
 * __rseq_failure. */
#define RTR_RSEQ_ASM_BEGIN(wrong_cpu)                                                    \
	".pushsection __rseq_cs, \"aw\"\n\t"                                             \
	".balign 32\n\t"                                                                 \
	"3:\n\t"                                                                         \
	".long 0x0, 0x0\n\t"                                                             \
	".quad 1f, (2f - 1f), 4f\n\t"                                                    \
	".popsection\n\t"                                                                \
	"1:\n\t"                                                                         \
	"leaq 3b(%%rip), %%rax\n\t"                                                      \
	"movq %%rax, %%fs:8(%[rs])\n\t"                                                  \
	"cmpl %[cpu], %%fs:4(%[rs])\n\t"                                                 \
	"jnz %l[" #wrong_cpu "]\n\t"
#define RTR_RSEQ_ASM_END(aborted)                                                        \
	"2:\n\t"                                                                         \
	"movq $0, %%fs:8(%[rs])\n\t"                                                     \
	".pushsection __rseq_failure, \"ax\"\n\t" RTR_RSEQ_SIG_ASM "4:\n\t"                 \
	"jmp %l[" #aborted "]\n\t"                                                       \
	".popsection\n\t"

/*
 * If the first 8 bytes of the 16-byte aligned `pair` hold `expect`, store
 * the 16 bytes `val` there with one instruction, on CPU `cpu` only. The
 * single 16-byte store cannot be split by preemption, so both halves change
 * together as far as any thread on this CPU can tell; each aligned 8-byte
 * half is also read atomically from other CPUs.
 */
static RTR_ALWAYS_INLINE int rtr_rseq_cmpstore16(uint32_t cpu, volatile void *pair,
						 uint64_t expect, rtr_v2di val)
{
	__asm__ goto(RTR_RSEQ_ASM_BEGIN(wrong_cpu)
		     "cmpq %[expect], (%[pair])\n\t"
		     "jnz %l[changed]\n\t"
		     "movdqa %[val], (%[pair])\n\t"
		     RTR_RSEQ_ASM_END(aborted)
		     :
		     : [rs] "r"(__rseq_offset), [cpu] "r"(cpu), [expect] "r"(expect),
		       [pair] "r"(pair), [val] "x"(val)
		     : "memory", "cc", "rax"
		     : wrong_cpu, changed, aborted);
	return RTR_RSEQ_OK;
wrong_cpu:
	rtr_rseq_clear_cs();
	return RTR_RSEQ_CPU;
changed:
	rtr_rseq_clear_cs();
	return RTR_RSEQ_CHANGED;
aborted:
	return RTR_RSEQ_ABORT;
}

/* Adds the two 64-bit lanes of `inc` to the 16-byte aligned pair at `pair`
 * on CPU `cpu` only (load, paddq, one 16-byte store as the commit) and
 * returns the new pair in *out. Two counters for the price of one sequence.
 * On x86 the store is ordered after every earlier store of this thread
 * (TSO), so it publishes them like a release store would. */
static RTR_ALWAYS_INLINE int rtr_rseq_add16(uint32_t cpu, volatile void *pair, rtr_v2di inc,
					    rtr_v2di *out)
{
	rtr_v2di tmp;

	__asm__ goto(RTR_RSEQ_ASM_BEGIN(wrong_cpu)
		     "movdqa (%[pair]), %[tmp]\n\t"
		     "paddq %[inc], %[tmp]\n\t"
		     "movdqa %[tmp], (%[pair])\n\t"
		     RTR_RSEQ_ASM_END(aborted)
		     : [tmp] "=&x"(tmp)
		     : [rs] "r"(__rseq_offset), [cpu] "r"(cpu), [pair] "r"(pair), [inc] "x"(inc)
		     : "memory", "cc", "rax"
		     : wrong_cpu, aborted);
	*out = tmp;
	return RTR_RSEQ_OK;
wrong_cpu:
	rtr_rseq_clear_cs();
	return RTR_RSEQ_CPU;
aborted:
	return RTR_RSEQ_ABORT;
}

#else /* !RTR_HAVE_RSEQ */

static inline int rtr_rseq_registered(void)
{
	return 0;
}

static inline int32_t rtr_rseq_cpu(void)
{
	return -1;
}

#endif /* RTR_HAVE_RSEQ */

#endif /* RINGTRACE_RING_RSEQ_H */
