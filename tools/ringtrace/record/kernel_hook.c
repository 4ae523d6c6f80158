/* `ringtrace record --kernel/--probe`: options and the kernel session
 * around the program (docs/design/kernel.md §7). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/perf_event.h>
#include <sys/syscall.h>

#include <ringtrace/clock.h>

#include "ctf-writer.h"

#include "host.h"
#include "kernel_hook.h"

struct rtr_rk {
	struct rtr_kernel *k;
	int gate[2];
	bool started;
	bool group_readable;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("ringtrace record: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void log_line(void *arg, enum rtr_kernel_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	say("%s", msg);
}

int rtr_record_kernel_init(struct rtr_record_kernel *k, int argc)
{
	size_t n = (size_t)argc + 1;

	memset(k, 0, sizeof(*k));
	k->argc = argc;
	k->events = calloc(n, sizeof(*k->events));
	k->probes = calloc(n, sizeof(*k->probes));
	k->args = calloc(n, sizeof(*k->args));
	if (!k->events || !k->probes || !k->args) {
		rtr_record_kernel_free(k);
		return -1;
	}
	return 0;
}

void rtr_record_kernel_free(struct rtr_record_kernel *k)
{
	free(k->events);
	free(k->probes);
	free(k->args);
	memset(k, 0, sizeof(*k));
}

bool rtr_record_kernel_wanted(const struct rtr_record_kernel *k)
{
	return k && (k->nevents || k->nprobes);
}

/* --context's names of the channel context fields (LTTng-UST's, as
 * add-context -t), written in RTR_HOST_CTX_* order whatever the order here */
static const struct {
	const char *name;
	uint32_t bit;
} ctx_names[] = {{"vpid", RTR_HOST_CTX_VPID},
		 {"vtid", RTR_HOST_CTX_VTID},
		 {"procname", RTR_HOST_CTX_PROCNAME},
		 {"pthread_id", RTR_HOST_CTX_PTHREAD_ID},
		 {"ip", RTR_HOST_CTX_IP}};

int rtr_record_kernel_option(struct rtr_record_kernel *k, int c, const char *arg)
{
	switch (c) {
	case 'k': {
		char err[256];

		if (rtr_kernel_check_patterns(&arg, 1, err, sizeof(err))) {
			say("%s", err);
			return -1;
		}
		k->events[k->nevents++] = arg;
		return 1;
	}
	case 'a':
		k->all = true;
		return 1;
	case RTR_RK_OPT_PROBE:
	case RTR_RK_OPT_PROBE_RET:
		k->probes[k->nprobes++] = (struct rtr_kernel_probe){
		    .spec = arg, .ret = c == RTR_RK_OPT_PROBE_RET, .args = k->args + k->nargs};
		return 1;
	case RTR_RK_OPT_PROBE_ARG:
		if (!k->nprobes) {
			say("--probe-arg %s: give it after the --probe or --probe-ret it belongs to",
			    arg);
			return -1;
		}
		/* the arguments of one probe are consecutive in args */
		if (k->probes[k->nprobes - 1].args + k->probes[k->nprobes - 1].nargs !=
		    k->args + k->nargs) {
			say("--probe-arg %s: give the arguments of a probe right after it", arg);
			return -1;
		}
		k->args[k->nargs++] = arg;
		k->probes[k->nprobes - 1].nargs++;
		return 1;
	case RTR_RK_OPT_BUFFER: {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(arg, &end, 10);
		if (!errno && end != arg && arg[0] != '-') {
			if (*end == 'k' || *end == 'K')
				end++;
			else if (*end == 'm' || *end == 'M') {
				v *= 1024;
				end++;
			} else if (*end == 'g' || *end == 'G') {
				v *= 1024 * 1024;
				end++;
			} else if (!*end) {
				v /= 1024; /* bytes */
			}
		}
		if (errno || end == arg || arg[0] == '-' || *end || v < 4 || v > (1ull << 24)) {
			say("--kernel-buffer-size: expected a size from 4k to 16G per CPU, got '%s'",
			    arg);
			return -1;
		}
		k->buffer_kb = (uint32_t)v;
		return 1;
	}
	case RTR_RK_OPT_CONTEXT: {
		char *copy = strdup(arg), *save = NULL;
		int r = 1;

		if (!copy)
			return -1;
		for (char *t = strtok_r(copy, ",", &save); t && r > 0; t = strtok_r(NULL, ",", &save)) {
			const struct rtr_ctf_counter_info *ci = NULL;
			const char *n = !strncmp(t, "perf:thread:", 12) ? t + 12
					: !strncmp(t, "perf:", 5)	? t + 5
									: t;
			unsigned i;

			for (i = 0; i < sizeof(ctx_names) / sizeof(ctx_names[0]); i++)
				if (!strcmp(t, ctx_names[i].name))
					break;
			if (i < sizeof(ctx_names) / sizeof(ctx_names[0])) {
				/* ip, vtid, ...: the channel's ctx_mask, as
				 * add-context (always available) */
				k->ctx_mask |= ctx_names[i].bit;
				continue;
			}
			for (i = 0; (ci = rtr_ctf_counter(i)); i++)
				if (!strcmp(ci->name, n))
					break;
			if (!ci) {
				say("--context %s: unknown; known: ip, vtid, vpid, procname, "
				    "pthread_id, perf:page-faults, "
				    "perf:context-switches, perf:cpu-clock, perf:task-clock, "
				    "perf:minor-faults, perf:major-faults, perf:cpu-migrations, and "
				    "where a PMU exists perf:cycles, perf:instructions, "
				    "perf:cache-misses, perf:branch-misses",
				    t);
				r = -1;
				break;
			}
			{
				/* can this machine count it? (no PMU: the hardware
				 * ones cannot) */
				struct perf_event_attr a = {.size = sizeof(a), .type = ci->type,
							    .config = ci->config,
							    .exclude_hv = 1};
				int fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1,
						      PERF_FLAG_FD_CLOEXEC);

				if (fd < 0 && (errno == EACCES || errno == EPERM)) {
					a.exclude_kernel = 1;
					fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1,
							  PERF_FLAG_FD_CLOEXEC);
				}
				if (fd < 0) {
					say("--context %s: this machine cannot count it (%s%s)", t,
					    strerror(errno),
					    ci->type == PERF_TYPE_HARDWARE && errno == ENOENT
						? ": no hardware performance counters here"
						: "");
					r = -1;
					break;
				}
				close(fd);
			}
			k->counters |= 1u << i;
		}
		free(copy);
		return r;
	}
	default:
		return 0;
	}
}

void rtr_record_kernel_usage(FILE *f)
{
	fprintf(f,
		"\nKernel events (as root; docs/design/kernel.md):\n"
		"  -k, --kernel LIST      record these kernel events too, 'system:event' globs\n"
		"                         separated by commas ('sched:*,syscalls:sys_enter_openat');\n"
		"                         written as an LTTng-style kernel trace in DIR/kernel.\n"
		"                         With no PROGRAM: the whole system until SIGINT/SIGTERM\n"
		"  -a, --all              every process's kernel events (default with a PROGRAM:\n"
		"                         only the PROGRAM and the processes it starts)\n"
		"      --kernel-buffer-size N  kernel ring buffer per CPU (default 4M)\n"
		"      --probe BINARY:FUNCTION[+OFFSET]\n"
		"                         a uprobe on FUNCTION of BINARY (a path, or a program\n"
		"                         or library name), event uprobe_FUNCTION\n"
		"      --probe-ret BINARY:FUNCTION\n"
		"                         a uprobe on its return (ret = return value), event\n"
		"                         uretprobe_FUNCTION\n"
		"      --context LIST     fields every user-space event carries, LTTng-UST's:\n"
		"                         ip (the tracepoint's code address), vtid, vpid,\n"
		"                         procname (the thread's name), pthread_id; and\n"
		"                         counters (its thread's, read when it is written):\n"
		"                         perf:page-faults,\n"
		"                         perf:context-switches, perf:cpu-clock, perf:task-clock,\n"
		"                         perf:minor-faults, perf:major-faults,\n"
		"                         perf:cpu-migrations; where a PMU exists perf:cycles,\n"
		"                         perf:instructions, perf:cache-misses,\n"
		"                         perf:branch-misses\n"
		"      --probe-arg NAME=FETCHARG | NAME\n"
		"                         an argument of the probe before it, in the kernel's\n"
		"                         syntax (n=%%di:s32, s=+0(%%si):string), or a parameter\n"
		"                         name found in the binary's debug info\n");
}

struct rtr_rk *rtr_rk_open(const struct rtr_record_kernel *k, int outfd, const char *outdir,
			   bool verbose, bool group_readable, bool *failed)
{
	struct rtr_kernel_config cfg = {0};
	struct rtr_rk *rk;
	char err[1024];

	*failed = false;
	if (!rtr_record_kernel_wanted(k))
		return NULL;
	rk = calloc(1, sizeof(*rk));
	if (!rk)
		return NULL;
	rk->gate[0] = rk->gate[1] = -1;
	rk->group_readable = group_readable;
	cfg.events = k->events;
	cfg.nevents = k->nevents;
	cfg.probes = k->probes;
	cfg.nprobes = k->nprobes;
	cfg.all = k->all;
	cfg.buffer_kb = k->buffer_kb;
	cfg.clock_source = rtr_clock_get_source();
	cfg.out_dirfd = outfd;
	cfg.out_dir = outdir;
	cfg.file_mode = group_readable ? 0640 : 0600;
	cfg.log.fn = log_line;
	cfg.log.verbose = verbose;
	rk->k = rtr_kernel_open(&cfg, err, sizeof(err));
	if (!rk->k || pipe2(rk->gate, O_CLOEXEC) < 0) {
		say("kernel events not recorded: %s", rk->k ? strerror(errno) : err);
		*failed = true;
		rtr_rk_destroy(rk);
		return NULL;
	}
	return rk;
}

void rtr_rk_child_wait(struct rtr_rk *rk)
{
	char c;

	if (!rk)
		return;
	close(rk->gate[1]);
	while (read(rk->gate[0], &c, 1) < 0 && errno == EINTR)
		;
}

void rtr_rk_start(struct rtr_rk *rk, pid_t child)
{
	if (!rk)
		return;
	if (child <= 0) {
		/* SIGINT/SIGTERM end the recording (blocked: they go to the
		 * signalfd), even where a shell started us with them ignored */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
	}
	if (rtr_kernel_start(rk->k, child) == 0)
		rk->started = true;
	else
		say("kernel events not recorded (see above)");
	/* let the program run (closing the gate is enough) */
	if (rk->gate[1] >= 0)
		close(rk->gate[1]);
	rk->gate[1] = -1;
}

void rtr_rk_stop(struct rtr_rk *rk)
{
	if (rk)
		rtr_kernel_stop(rk->k);
}

int rtr_rk_finish(struct rtr_rk *rk, struct rtr_host *h)
{
	struct rtr_clock_meta cm;
	const struct rtr_clock_sync *pts = NULL;
	size_t n = 0;
	int r;

	if (!rk || !rk->started)
		return 0;
	r = rtr_host_clock(h, &cm, &pts, &n);
	r = rtr_kernel_finish(rk->k, r ? NULL : &cm, pts, n);
	return r ? -1 : 0;
}

void rtr_rk_summary(struct rtr_rk *rk)
{
	struct rtr_kernel_totals t;

	if (!rk || !rk->started)
		return;
	rtr_kernel_totals(rk->k, &t);
	say("kernel trace written to %s: %llu %s recorded, %llu lost", rtr_kernel_trace_dir(rk->k),
	    (unsigned long long)t.events, t.events == 1 ? "event" : "events",
	    (unsigned long long)t.lost);
	if (t.lost)
		say("to lose fewer kernel events, use bigger kernel buffers "
		    "(--kernel-buffer-size)");
	if (t.unknown || t.malformed)
		say("%llu kernel records of unknown events and %llu shorter than their format "
		    "were left out",
		    (unsigned long long)t.unknown, (unsigned long long)t.malformed);
}

void rtr_rk_destroy(struct rtr_rk *rk)
{
	if (!rk)
		return;
	if (rk->gate[0] >= 0)
		close(rk->gate[0]);
	if (rk->gate[1] >= 0)
		close(rk->gate[1]);
	rtr_kernel_destroy(rk->k);
	free(rk);
}
