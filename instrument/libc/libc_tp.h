/* The malloc family's events: LTTng-UST's provider, event and field names
 * (liblttng-ust-libc-wrapper's ust_libc.h) for the six it has; the ones it
 * misses (aligned_alloc, reallocarray, valloc, pvalloc) in the same style,
 * so a free never lacks its allocation. */
#ifndef RTR_LIBC_TP_H
#define RTR_LIBC_TP_H
#include <ringtrace/tracepoint.h>

RTR_EVENT(lttng_ust_libc, malloc, RTR_ARGS(size_t, size, void *, ptr),
	  RTR_FIELDS(rtr_integer(size_t, size, size), rtr_integer_hex(unsigned long, ptr, (unsigned long)ptr)))
RTR_EVENT(lttng_ust_libc, free, RTR_ARGS(void *, ptr),
	  RTR_FIELDS(rtr_integer_hex(unsigned long, ptr, (unsigned long)ptr)))
RTR_EVENT(lttng_ust_libc, calloc, RTR_ARGS(size_t, nmemb, size_t, size, void *, ptr),
	  RTR_FIELDS(rtr_integer(size_t, nmemb, nmemb), rtr_integer(size_t, size, size),
		     rtr_integer_hex(unsigned long, ptr, (unsigned long)ptr)))
RTR_EVENT(lttng_ust_libc, realloc, RTR_ARGS(void *, in_ptr, size_t, size, void *, ptr),
	  RTR_FIELDS(rtr_integer_hex(unsigned long, in_ptr, (unsigned long)in_ptr),
		     rtr_integer(size_t, size, size),
		     rtr_integer_hex(unsigned long, ptr, (unsigned long)ptr)))
RTR_EVENT(lttng_ust_libc, memalign, RTR_ARGS(size_t, alignment, size_t, size, void *, ptr),
	  RTR_FIELDS(rtr_integer(size_t, alignment, alignment), rtr_integer(size_t, size, size),
		     rtr_integer_hex(unsigned long, ptr, (unsigned long)ptr)))
RTR_EVENT(lttng_ust_libc, posix_memalign,
	  RTR_ARGS(void *, out_ptr, size_t, alignment, size_t, size, int, result),
	  RTR_FIELDS(rtr_integer_hex(unsigned long, out_ptr, (unsigned long)out_ptr),
		     rtr_integer(size_t, alignment, alignment), rtr_integer(size_t, size, size),
		     rtr_integer(int, result, result)))
RTR_EVENT(lttng_ust_libc, aligned_alloc, RTR_ARGS(size_t, alignment, size_t, size, void *, ptr),
	  RTR_FIELDS(rtr_integer(size_t, alignment, alignment), rtr_integer(size_t, size, size),
		     rtr_integer_hex(unsigned long, ptr, (unsigned long)ptr)))
RTR_EVENT(lttng_ust_libc, reallocarray,
	  RTR_ARGS(void *, in_ptr, size_t, nmemb, size_t, size, void *, ptr),
	  RTR_FIELDS(rtr_integer_hex(unsigned long, in_ptr, (unsigned long)in_ptr),
		     rtr_integer(size_t, nmemb, nmemb), rtr_integer(size_t, size, size),
		     rtr_integer_hex(unsigned long, ptr, (unsigned long)ptr)))
RTR_EVENT(lttng_ust_libc, valloc, RTR_ARGS(size_t, size, void *, ptr),
	  RTR_FIELDS(rtr_integer(size_t, size, size), rtr_integer_hex(unsigned long, ptr, (unsigned long)ptr)))
RTR_EVENT(lttng_ust_libc, pvalloc, RTR_ARGS(size_t, size, void *, ptr),
	  RTR_FIELDS(rtr_integer(size_t, size, size), rtr_integer_hex(unsigned long, ptr, (unsigned long)ptr)))
#endif
