/* `ringtrace record`: run a program under a session host of our own and
 * write its trace. Design: docs/design/runtime.md §8. */
#ifndef RTR_RECORD_H
#define RTR_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RTR_RECORD_DEFAULT_SUBBUF     (256u * 1024u)
#define RTR_RECORD_DEFAULT_NUM_SUBBUF 4u

struct rtr_record_opts {
	const char *output;	     /* trace directory; NULL: ./ringtrace-<prog>-<date> */
	const char *const *patterns; /* -e globs; none: every event */
	size_t npatterns;
	int loglevel_sel; /* RTR_HOST_LL_* (--loglevel, --loglevel-only) */
	int loglevel;
	bool overwrite;
	uint64_t subbuf_size;
	uint32_t num_subbuf;
	uint64_t mem_budget; /* 0: default */
	bool verbose;
	bool quiet;	     /* no summary */
	bool wait_all;	     /* go on until every traced process has exited */
	bool eager_drain;    /* no idle-priority drain thread */
	bool group_readable; /* traces readable by the group (default: the user only) */
	const struct rtr_record_kernel *kernel; /* --kernel/--probe (kernel_hook.h); NULL: none */
};

struct rtr_record_kernel;

/*
 * Runs argv[0] with argv (PATH searched) under the host, until it exits,
 * (argv NULL with o->kernel: no program, the whole system's kernel events
 * until SIGINT/SIGTERM/SIGHUP/SIGQUIT),
 * then finishes the traces and prints a summary on stderr. Returns the
 * program's exit status (128 + signal when killed), 127 when it could not
 * be run, or 1 when the recording could not be set up or, the program
 * having succeeded, the trace could not all be written (said why).
 */
int rtr_record_run(const struct rtr_record_opts *o, char *const argv[]);

/*
 * Opens the output directory `path`, creating it and its parents (mkdir -p;
 * itself with `mode`) one component at a time from descriptors; as root no
 * component may be a symlink; an existing directory must be empty and the
 * user's. Returns the descriptor, or -1 after saying why on stderr (with
 * the prefix `who`, e.g. "ringtrace create: ", for the _as variant).
 */
int rtr_open_output_dir(const char *path, mode_t mode);
int rtr_open_output_dir_as(const char *who, const char *path, mode_t mode);

#endif /* RTR_RECORD_H */
