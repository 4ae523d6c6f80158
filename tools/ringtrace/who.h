/* `ringtrace stats`: events per process and per thread, when the traces
 * say which (vpid/vtid/pid/tid/procname contexts, or per-process traces
 * with the env vpid/procname). Design: docs/design/reader.md ("stats"). */
#ifndef RTR_WHO_H
#define RTR_WHO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ringtrace/reader.h"

struct rtr_who;

/* Discarded events and lost packets of each trace (by trace index), as the
 * packets say; unknown: a notice without a count. */
struct rtr_who_lost {
	uint64_t discarded, lost_packets;
	bool unknown;
};

/* lost[ntraces] (copied) gives the per-process losses of per-process
 * traces. NULL on no memory. */
struct rtr_who *rtr_who_create(const struct rtr_who_lost *lost, size_t ntraces);
void rtr_who_feed(struct rtr_who *w, struct rtr_reader *r, const struct rtr_msg *m);
/* Prints "Events per process" / "Events per thread" (each only when the
 * traces say). */
void rtr_who_report(struct rtr_who *w, FILE *f);
void rtr_who_destroy(struct rtr_who *w);

#endif /* RTR_WHO_H */
