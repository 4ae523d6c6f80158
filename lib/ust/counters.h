/* Per-thread perf counters as a stream event context (counters.c). */
#ifndef RTR_UST_COUNTERS_H
#define RTR_UST_COUNTERS_H

#include <stdint.h>

struct rtr_ctf_ctx_src;

/* The context source of counter mask (RTR_CTF_COUNTER_* bits), shared by
 * the channels with that mask; NULL for an empty mask or too many masks.
 * Lives as long as the process. */
const struct rtr_ctf_ctx_src *rtr__counters_src(uint32_t mask);

/* In a fork child: the calling thread's counters were the parent's. */
void rtr__counters_atfork_child(void);

#endif /* RTR_UST_COUNTERS_H */
