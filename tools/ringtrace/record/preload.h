/* `ringtrace record --func`, `--preload`: the instrumentation libraries
 * (instrument/) the program gets through LD_PRELOAD. Design:
 * docs/design/instrument.md §3-4. */
#ifndef RTR_RECORD_PRELOAD_H
#define RTR_RECORD_PRELOAD_H

#include <stdbool.h>
#include <stdio.h>

struct rtr_record_preload {
	int func; /* 0: no, 1: full variant, 2: fast variant */
	bool libc, pthread, dl; /* --preload libc,pthread,dl (--func: dl too) */
};

enum { RTR_RP_OPT_FUNC = 0x5000, RTR_RP_OPT_PRELOAD };
/* clang-format off */
#define RTR_RP_LONGOPTS \
	{"func", optional_argument, NULL, RTR_RP_OPT_FUNC}, \
	{"preload", required_argument, NULL, RTR_RP_OPT_PRELOAD}
/* clang-format on */

/* Handles option c: 1 (it was ours), 0 (not ours), -1 (bad argument: said). */
int rtr_record_preload_option(struct rtr_record_preload *p, int c, const char *arg);
/* The event patterns the libraries' events need when the user chose events
 * with -e: adds them to patterns[*n] on (room for 7). With the ip context
 * (ip_ctx), the statedump's and library load events too, so that
 * babeltrace2 --debug-info resolves it. */
void rtr_record_preload_patterns(const struct rtr_record_preload *p, bool ip_ctx,
				 const char **patterns, size_t *n);
/* Anything to preload? */
bool rtr_record_preload_wanted(const struct rtr_record_preload *p);
/* Puts the libraries in this process's environment (LD_PRELOAD, before
 * what the user had there) for the program to inherit. Returns 0 or -1
 * (a library is missing: said). */
int rtr_record_preload_apply(const struct rtr_record_preload *p);
void rtr_record_preload_usage(FILE *f);

#endif /* RTR_RECORD_PRELOAD_H */
