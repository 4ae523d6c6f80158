/* `ringtrace record --kernel/--probe`: the options, and the kernel session
 * (lib/kernel) around the program's lifetime in record.c. Every function
 * taking a struct rtr_rk * accepts NULL (no kernel recording) and then does
 * nothing, so record.c calls them unconditionally. Design:
 * docs/design/kernel.md §7. */
#ifndef RTR_RECORD_KERNEL_HOOK_H
#define RTR_RECORD_KERNEL_HOOK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "kernel.h"

struct rtr_host;

/* What the command line asked for. */
struct rtr_record_kernel {
	const char **events;
	size_t nevents;
	struct rtr_kernel_probe *probes;
	size_t nprobes;
	bool all;
	uint32_t buffer_kb;
	uint32_t counters; /* --context perf:...: RTR_CTF_COUNTER_* mask */
	uint32_t ctx_mask; /* --context ip,vtid,...: RTR_HOST_CTX_* mask */
	/* storage */
	const char **args;
	size_t nargs;
	int argc;
};

/* The long options (codes from RTR_RK_OPT_FIRST) and "a" + "k:" short. */
enum {
	RTR_RK_OPT_FIRST = 0x4b00,
	RTR_RK_OPT_PROBE = RTR_RK_OPT_FIRST,
	RTR_RK_OPT_PROBE_RET,
	RTR_RK_OPT_PROBE_ARG,
	RTR_RK_OPT_BUFFER,
	RTR_RK_OPT_CONTEXT,
};
#define RTR_RK_LONGOPTS                                                                            \
	{"kernel", required_argument, NULL, 'k'}, {"all", no_argument, NULL, 'a'},                 \
	    {"probe", required_argument, NULL, RTR_RK_OPT_PROBE},                                  \
	    {"probe-ret", required_argument, NULL, RTR_RK_OPT_PROBE_RET},                          \
	    {"probe-arg", required_argument, NULL, RTR_RK_OPT_PROBE_ARG},                          \
	    {"kernel-buffer-size", required_argument, NULL, RTR_RK_OPT_BUFFER},                    \
	    {"context", required_argument, NULL, RTR_RK_OPT_CONTEXT}

/* Sets up *k for argc arguments. Returns 0 or -1 (no memory). */
int rtr_record_kernel_init(struct rtr_record_kernel *k, int argc);
void rtr_record_kernel_free(struct rtr_record_kernel *k);
/* Handles option c: 1 (it was ours), 0 (not ours), -1 (bad argument: said). */
int rtr_record_kernel_option(struct rtr_record_kernel *k, int c, const char *arg);
/* Anything asked for? */
bool rtr_record_kernel_wanted(const struct rtr_record_kernel *k);
void rtr_record_kernel_usage(FILE *f);

struct rtr_rk;

/*
 * Opens the kernel session in the output directory (after the host, whose
 * clock it matches). On failure says why ("kernel events not recorded:
 * ..."): the user-space recording goes on. Returns NULL then, or when
 * nothing was asked.
 */
struct rtr_rk *rtr_rk_open(const struct rtr_record_kernel *k, int outfd, const char *outdir,
			   bool verbose, bool group_readable, bool *failed);
/* In the child, before exec: waits until the parent has started the
 * session (its events follow the child from exec on). */
void rtr_rk_child_wait(struct rtr_rk *rk);
/* In the parent after fork (child <= 0: no program, whole system). */
void rtr_rk_start(struct rtr_rk *rk, pid_t child);
void rtr_rk_stop(struct rtr_rk *rk);
/* After rtr_host_finish: the metadata, with the host's clock. Returns 0 or
 * -1 (said why). */
int rtr_rk_finish(struct rtr_rk *rk, struct rtr_host *h);
void rtr_rk_summary(struct rtr_rk *rk);
void rtr_rk_destroy(struct rtr_rk *rk);

#endif /* RTR_RECORD_KERNEL_HOOK_H */
