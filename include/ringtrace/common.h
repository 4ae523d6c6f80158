/* ringtrace — small definitions shared by every public header. */
#ifndef RINGTRACE_COMMON_H
#define RINGTRACE_COMMON_H

/* Symbols of the shared libraries are hidden unless marked RTR_EXPORT
 * (the libraries build with -fvisibility=hidden). */
#if defined(__GNUC__)
#define RTR_EXPORT __attribute__((visibility("default")))
#else
#define RTR_EXPORT
#endif

#define rtr_likely(x)   __builtin_expect(!!(x), 1)
#define rtr_unlikely(x) __builtin_expect(!!(x), 0)

#define RTR_NOINLINE    __attribute__((noinline))
#define RTR_COLD        __attribute__((cold, noinline))
#define RTR_ALWAYS_INLINE inline __attribute__((always_inline))

/* Compiler-only barrier: orders the compiler's accesses, not the CPU's. */
#define rtr_barrier() __asm__ __volatile__("" ::: "memory")

#define RTR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* RINGTRACE_COMMON_H */
