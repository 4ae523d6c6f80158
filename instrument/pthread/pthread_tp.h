/* Mutex and condition variable events: LTTng-UST's provider, event and
 * field names for the mutex ones (liblttng-ust-pthread-wrapper's
 * ust_pthread.h); the condition variable ones, which LTTng lacks, in the
 * same style (_req before the wait, _acq after it: the mutex is held
 * again). */
#ifndef RTR_PTHREAD_TP_H
#define RTR_PTHREAD_TP_H
#include <ringtrace/tracepoint.h>

#define RTR__PT_PTR(name) rtr_integer_hex(unsigned long, name, (unsigned long)name)
RTR_EVENT(lttng_ust_pthread, pthread_mutex_lock_req, RTR_ARGS(void *, mutex),
	  RTR_FIELDS(RTR__PT_PTR(mutex)))
RTR_EVENT(lttng_ust_pthread, pthread_mutex_lock_acq, RTR_ARGS(void *, mutex, int, status),
	  RTR_FIELDS(RTR__PT_PTR(mutex), rtr_integer(int, status, status)))
RTR_EVENT(lttng_ust_pthread, pthread_mutex_trylock, RTR_ARGS(void *, mutex, int, status),
	  RTR_FIELDS(RTR__PT_PTR(mutex), rtr_integer(int, status, status)))
RTR_EVENT(lttng_ust_pthread, pthread_mutex_unlock, RTR_ARGS(void *, mutex, int, status),
	  RTR_FIELDS(RTR__PT_PTR(mutex), rtr_integer(int, status, status)))
RTR_EVENT(lttng_ust_pthread, pthread_cond_wait_req, RTR_ARGS(void *, cond, void *, mutex),
	  RTR_FIELDS(RTR__PT_PTR(cond), RTR__PT_PTR(mutex)))
RTR_EVENT(lttng_ust_pthread, pthread_cond_wait_acq,
	  RTR_ARGS(void *, cond, void *, mutex, int, status),
	  RTR_FIELDS(RTR__PT_PTR(cond), RTR__PT_PTR(mutex), rtr_integer(int, status, status)))
RTR_EVENT(lttng_ust_pthread, pthread_cond_timedwait_req, RTR_ARGS(void *, cond, void *, mutex),
	  RTR_FIELDS(RTR__PT_PTR(cond), RTR__PT_PTR(mutex)))
RTR_EVENT(lttng_ust_pthread, pthread_cond_timedwait_acq,
	  RTR_ARGS(void *, cond, void *, mutex, int, status),
	  RTR_FIELDS(RTR__PT_PTR(cond), RTR__PT_PTR(mutex), rtr_integer(int, status, status)))
RTR_EVENT(lttng_ust_pthread, pthread_cond_signal, RTR_ARGS(void *, cond, int, status),
	  RTR_FIELDS(RTR__PT_PTR(cond), rtr_integer(int, status, status)))
RTR_EVENT(lttng_ust_pthread, pthread_cond_broadcast, RTR_ARGS(void *, cond, int, status),
	  RTR_FIELDS(RTR__PT_PTR(cond), rtr_integer(int, status, status)))
#endif
