/* lib/kernel: kernel events beside the user-space traces. A recording
 * session of its own in a tracefs instance (never the global one), the
 * kernel's per-CPU ring buffers read by one thread per CPU, every record
 * turned into a CTF kernel trace in LTTng's dialect (domain "kernel",
 * lttng-modules event and field names) on the user-space trace clock;
 * uprobes; trace-cmd files converted through the same mapping.
 * Design: docs/design/kernel.md.
 *
 * Threads: the functions of one struct rtr_kernel are called from one
 * thread at a time (the recorder's). The session runs one reader thread
 * per CPU between rtr_kernel_start and rtr_kernel_stop.
 */
#ifndef RTR_KERNEL_H
#define RTR_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ringtrace/clock.h>

enum rtr_kernel_log_level {
	RTR_KERNEL_LOG_ERROR = 0,
	RTR_KERNEL_LOG_WARN,
	RTR_KERNEL_LOG_INFO,
};

/* Where messages go: one line each, no prefix, no newline. fn NULL: to
 * stderr with "ringtrace: " in front. */
struct rtr_kernel_log {
	void (*fn)(void *arg, enum rtr_kernel_log_level level, const char *msg);
	void *arg;
	bool verbose; /* also INFO */
};

/* A dynamic probe: `--probe BINARY:FUNCTION[+OFFSET]` (ret = false) or
 * `--probe-ret BINARY:FUNCTION` (ret = true), with fetch arguments
 * "NAME=FETCHARG" as the kernel's uprobe_events syntax has them. */
struct rtr_kernel_probe {
	const char *spec;
	bool ret;
	const char *const *args;
	size_t nargs;
};

struct rtr_kernel_config {
	const char *const *events; /* "system:event" globs (or "event"), each may be a
				    * comma-separated list; none: no tracepoint */
	size_t nevents;
	const struct rtr_kernel_probe *probes;
	size_t nprobes;
	bool all;		/* every process, not only the program and its children */
	uint32_t buffer_kb;	/* per CPU; 0: 4096 */
	uint32_t packet_kb;	/* CTF packet size; 0: 256 */
	int clock_source;	/* RTR_CLOCK_TSC or RTR_CLOCK_MONOTONIC (the user-space clock) */
	int out_dirfd;		/* the recording's directory; the trace goes to "kernel" in it */
	const char *out_dir;	/* its name (messages) */
	const char *trace_dir_name; /* NULL: "kernel" */
	mode_t file_mode;	    /* of the files; 0: 0600 (directories get x where r is) */
	struct rtr_kernel_log log;
};

struct rtr_kernel_totals {
	uint64_t events;   /* records written */
	uint64_t lost;	   /* records the kernel dropped (buffers full) */
	uint64_t bytes;	   /* of the stream files */
	uint64_t packets;
	uint64_t unknown;  /* records of an event with no format (skipped) */
	uint64_t malformed; /* records shorter than their format */
	uint64_t clamped;   /* timestamps raised to keep a stream in order */
	uint32_t cpus;
	uint32_t probes;
};

struct rtr_kernel;

/*
 * Sets up the session: finds tracefs (mounting it as root when it is not),
 * removes instances and probes left by dead ringtrace processes, creates
 * the instance ringtrace-<pid>-<start> (tracing off, discard mode, the
 * trace clock matching clock_source, buffer size), enables the events,
 * creates the uprobes, checks the clock against the user-space one and
 * creates the trace directory. Returns the session, or NULL with the
 * reason (naming what is missing: root, tracefs, an event, a symbol) in
 * err. Nothing is left behind on failure.
 */
struct rtr_kernel *rtr_kernel_open(const struct rtr_kernel_config *cfg, char *err, size_t errlen);

/*
 * Starts recording: pid > 0 limits the events to process pid and the
 * processes it starts from now on (unless cfg.all); pid <= 0 records the
 * whole system. Starts the readers and turns tracing on. Returns 0 or a
 * negative errno (logged).
 */
int rtr_kernel_start(struct rtr_kernel *k, pid_t pid);

/* Turns tracing off, reads what is left, stops the readers. Idempotent. */
int rtr_kernel_stop(struct rtr_kernel *k);

/*
 * Writes the trace's metadata with the clock description of the
 * recording (the same block as the user-space traces, so that readers
 * merge them on one time line) and its sync points. cm NULL: the session
 * describes the clock from sync points of its own. Returns 0 or a negative
 * errno (logged).
 */
int rtr_kernel_finish(struct rtr_kernel *k, const struct rtr_clock_meta *cm,
		      const struct rtr_clock_sync *pts, size_t npts);

void rtr_kernel_totals(const struct rtr_kernel *k, struct rtr_kernel_totals *t);

/* The trace directory (for messages). */
const char *rtr_kernel_trace_dir(const struct rtr_kernel *k);

/* Stops if needed, removes the uprobes and the instance, frees. NULL is
 * ignored. */
void rtr_kernel_destroy(struct rtr_kernel *k);

/* Parses "system:event,..." patterns (cfg.events) into a list check
 * without tracefs: returns 0 or -EINVAL with the bad pattern in err. */
int rtr_kernel_check_patterns(const char *const *events, size_t n, char *err, size_t errlen);

/*
 * Converts a trace-cmd file (trace.dat) into a CTF kernel trace in
 * directory out (created; must not exist) through the same mapping as a
 * recording. Returns 0 or a negative errno with the reason in err.
 */
int rtr_kernel_convert_tracedat(const char *in, const char *out, const struct rtr_kernel_log *log,
				struct rtr_kernel_totals *t, char *err, size_t errlen);

#endif /* RTR_KERNEL_H */
