/* Ordering checks of merged traces (order.c): pairs of consecutive events
 * on different CPUs closer than the clock skew bound, and causality
 * errors. Design: docs/design/kernel.md §11. */
#ifndef RTR_ORDER_H
#define RTR_ORDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ringtrace/reader.h"

struct rtr_cli_read;

/* An event, as the checks remember it. */
struct rtr_order_ev {
	int64_t ns;
	int64_t cpu;  /* -1: unknown */
	int64_t tid;  /* stream event context tid, -1: none */
	uint32_t trace;
	char name[64];
};

/* Why an event's order is uncertain: it is dt_ns after prev, which is on
 * another CPU, and dt_ns < bound_ns. */
struct rtr_order_mark {
	int64_t dt_ns;
	int64_t bound_ns;
	struct rtr_order_ev prev;
};

struct rtr_order;

/* Reads the skew bound of every trace of r. NULL: no memory. */
struct rtr_order *rtr_order_create(struct rtr_reader *r);
void rtr_order_destroy(struct rtr_order *o);

/* Feeds the next message of r (in merged order). Returns true when this
 * event is closer than the bound to the previous event, which is on
 * another CPU (mark, if not NULL, says how). */
bool rtr_order_feed(struct rtr_order *o, const struct rtr_msg *m, struct rtr_order_mark *mark);

/* The "Ordering" section of `ringtrace stats`. */
void rtr_order_report(const struct rtr_order *o, FILE *f);
uint64_t rtr_order_errors(const struct rtr_order *o);

/* `view --uncertain`: prints every message of r with t, marking the
 * events whose order is uncertain. Returns as rtr_text_drain(): 0 or a
 * negative errno with err set. */
int rtr_order_view(struct rtr_reader *r, struct rtr_text *t,
		   void (*progress)(struct rtr_reader *r, uint64_t n), struct rtr_error *err);

/* What else `stats` computes in the same merged pass (who.c): each message
 * is given to each(), then report() prints before the Ordering section. */
struct rtr_order_hook {
	void (*each)(void *arg, struct rtr_reader *r, const struct rtr_msg *m);
	void (*report)(void *arg, FILE *f);
	void *arg;
};

/* A merged pass over rd's traces that prints the section (hook may be
 * NULL). Returns 0 or -1 (said why). */
int rtr_order_stats(const char *cmd, struct rtr_cli_read *rd, FILE *f,
		    const struct rtr_order_hook *hook);

#endif /* RTR_ORDER_H */
