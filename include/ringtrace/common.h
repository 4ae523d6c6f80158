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

/* A conversion that C++ -Wold-style-cast accepts in headers both use. */
#ifdef __cplusplus
#define RTR_CAST(T, v) static_cast<T>(v)
#else
#define RTR_CAST(T, v) ((T)(v))
#endif

/*
 * Atomics in the public headers, usable from C and C++. In C the shared
 * objects are C11 _Atomic; C++ before C++23 has no _Atomic, so there they
 * are plain objects of the same size and alignment (true of the integers
 * and pointers used here on every ABI we build for) that the inline code
 * touches only through the GCC/Clang __atomic builtins. `mo` is one of
 * __ATOMIC_RELAXED/ACQUIRE/RELEASE/ACQ_REL/SEQ_CST, whose values are those
 * of C11's memory_order.
 */
/* C++ and C99 have no _Atomic: there the same objects are plain and only
 * ever touched through the builtins (same size and alignment for the types
 * used here, all lock-free). */
#if defined(__cplusplus) || !defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L
#define RTR_ATOMIC(T)                   T
#define rtr_atomic_load(p, mo)          __atomic_load_n((p), (mo))
#define rtr_atomic_store(p, v, mo)      __atomic_store_n((p), (v), (mo))
#define rtr_atomic_fetch_add(p, v, mo)  __atomic_fetch_add((p), (v), (mo))
#else
#include <stdatomic.h>
#define RTR_ATOMIC(T)                   _Atomic(T)
#define rtr_atomic_load(p, mo)          atomic_load_explicit((p), (memory_order)(mo))
#define rtr_atomic_store(p, v, mo)      atomic_store_explicit((p), (v), (memory_order)(mo))
#define rtr_atomic_fetch_add(p, v, mo)  atomic_fetch_add_explicit((p), (v), (memory_order)(mo))
#endif

#endif /* RINGTRACE_COMMON_H */
