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

/* Static assertions that read the same in C99..C2x and C++11..20 under
 * -Wpedantic (C99 accepts _Static_assert as an extension). */
#if defined(__cplusplus)
#define RTR_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define RTR_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#else
#define RTR_STATIC_ASSERT(cond, msg) __extension__ _Static_assert(cond, msg)
#endif

/* Casts in inline code of the public headers: C++ casts in C++ (programs
 * that build with -Wold-style-cast), plain casts in C. RTR_CAST converts a
 * value, RTR_PTR_CAST reinterprets a pointer. */
#ifdef __cplusplus
#define RTR_CAST(T, v)     static_cast<T>(v)
#define RTR_PTR_CAST(T, p) reinterpret_cast<T>(p)
#else
#define RTR_CAST(T, v)     ((T)(v))
#define RTR_PTR_CAST(T, p) ((T)(p))
#endif

/*
 * Atomics in the public headers, usable from C and C++. In C11 and later
 * the shared objects are C11 _Atomic; C++ before C++23 and C99 have no
 * _Atomic, so there they are plain objects of the same size and alignment
 * (true of the integers and pointers used here on every ABI we build for)
 * that the inline code touches only through the GCC/Clang __atomic
 * builtins. `mo` is one of __ATOMIC_RELAXED/ACQUIRE/RELEASE/ACQ_REL/SEQ_CST,
 * whose values are those of C11's memory_order.
 */
#if defined(__cplusplus) || !defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L || \
	defined(__STDC_NO_ATOMICS__)
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
