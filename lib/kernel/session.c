/* The kernel recording session: our tracefs instance, its events and
 * clock, one reader thread per CPU draining the kernel's ring buffer into
 * the CTF kernel trace, and the end of it all. Design:
 * docs/design/kernel.md §2 and §5. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <poll.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <traceevent/event-parse.h>
#include <traceevent/kbuffer.h>
#include <tracefs/tracefs.h>

#include "kernel-internal.h"
#include "uprobe.h"

#define DEFAULT_BUFFER_KB 4096u
#define DEFAULT_PACKET_KB 256u
#define POLL_MS		  100
#define PIPE_BYTES	  (1u << 20)
#define CLOCK_MARKERS	  8
#define SYNC_CAP	  4096

struct reader {
	struct rtr_kernel *k;
	uint32_t cpu;
	pthread_t thread;
	bool started;
	int fd, stats_fd;
	int pipe[2];
	size_t pipe_bytes;
	struct kbuffer *kb;
	uint8_t *buf;
	uint64_t lost_seen;
	pid_t tid;
	int err;
};

struct rtr_kernel {
	struct rtr_kernel_config cfg;
	struct rtr_kernel_log log;
	char tracefs[512];
	char name[96];	/* instance name */
	char group[96]; /* uprobe group */
	char inst_dir[700];
	struct tracefs_instance *inst;
	struct tep_handle *tep;
	struct rtr__kmap map;
	unsigned dumped; /* threads in the statedump */
	bool map_ready;
	struct rtr__ktrace trace;
	bool trace_ready;
	struct reader *readers;
	uint32_t ncpu;
	int stop_fd;
	sem_t ready; /* a reader has its tid */
	bool ready_init;
	atomic_bool stopping;
	bool started, stopped;
	size_t page_size;
	const char *clock_name;
	int64_t clock_check_ns;
	struct rtr__kprobes *probes;
	struct rtr_clock_selection sel;
	struct rtr_clock_sync *pts;
	struct rtr_clock_sync_log sync;
	uint64_t end_ts;
	uint64_t events_enabled;
	/* "system/event" of every event enabled in the instance (formats) */
	char **enabled;
	size_t nenabled, cap_enabled;
	/* event lists of the systems looked at (tracefs_system_events) */
	char **cache_sys;
	char ***cache_evs;
	size_t ncache;
};

#define fail rtr__kfail

static int inst_write(struct rtr_kernel *k, const char *file, const char *val)
{
	char path[900];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", k->inst_dir, file);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

static int inst_read(struct rtr_kernel *k, const char *file, char *buf, size_t cap)
{
	char path[900];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", k->inst_dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

/* ------------------------------------------------------------------------
 * Event patterns
 * ------------------------------------------------------------------------ */

static bool pattern_char_ok(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '*' || c == '?' || c == ':' ||
	       c == '[' || c == ']' || c == '-';
}

/* Calls fn(k, sys_glob, ev_glob) for every comma-separated pattern. */
static int for_patterns(const char *const *pats, size_t n, char *err, size_t errlen,
			int (*fn)(void *arg, const char *sys, const char *ev, const char *whole),
			void *arg)
{
	for (size_t i = 0; i < n; i++) {
		char *copy = strdup(pats[i] ? pats[i] : ""), *save = NULL;
		int r = 0;

		if (!copy)
			return -ENOMEM;
		for (char *p = strtok_r(copy, ",", &save); p && !r; p = strtok_r(NULL, ",", &save)) {
			char *colon;

			while (*p == ' ')
				p++;
			for (const char *c = p; *c; c++)
				if (!pattern_char_ok(*c)) {
					fail(err, errlen,
					     "--kernel: bad event pattern '%s' (expected "
					     "system:event, '*' and '?' wildcards)",
					     p);
					r = -EINVAL;
					break;
				}
			if (r)
				break;
			if (!*p) {
				fail(err, errlen, "--kernel: empty event pattern in '%s'", pats[i]);
				r = -EINVAL;
				break;
			}
			colon = strchr(p, ':');
			if (colon && strchr(colon + 1, ':')) {
				fail(err, errlen, "--kernel: bad event pattern '%s' (one ':' at most)", p);
				r = -EINVAL;
				break;
			}
			if (colon) {
				char whole[256];

				snprintf(whole, sizeof(whole), "%s", p);
				*colon = 0;
				r = fn ? fn(arg, *p ? p : "*", *(colon + 1) ? colon + 1 : "*", whole)
				       : 0;
				*colon = ':';
			} else {
				r = fn ? fn(arg, "*", p, p) : 0;
			}
		}
		free(copy);
		if (r)
			return r;
	}
	return 0;
}

int rtr_kernel_check_patterns(const char *const *events, size_t n, char *err, size_t errlen)
{
	return for_patterns(events, n, err, errlen, NULL, NULL);
}

struct enable_ctx {
	struct rtr_kernel *k;
	char **systems;
	char *err;
	size_t errlen;
	bool fork_enabled, newtask_enabled;
};

static int enable_one(struct rtr_kernel *k, const char *sys, const char *ev)
{
	char file[600];
	int r;

	snprintf(file, sizeof(file), "events/%s/%s/enable", sys, ev);
	r = inst_write(k, file, "1");
	if (r)
		return r;
	k->events_enabled++;
	if (k->nenabled == k->cap_enabled) {
		size_t cap = k->cap_enabled ? 2 * k->cap_enabled : 64;
		char **n = realloc(k->enabled, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		k->enabled = n;
		k->cap_enabled = cap;
	}
	snprintf(file, sizeof(file), "%s/%s", sys, ev);
	k->enabled[k->nenabled] = strdup(file);
	if (!k->enabled[k->nenabled])
		return -ENOMEM;
	k->nenabled++;
	return 0;
}

/* The events of `sys`, listed once (listing `syscalls` takes ~0.1 s). */
static char **system_events(struct rtr_kernel *k, const char *sys)
{
	char **n1, ***n2;

	for (size_t i = 0; i < k->ncache; i++)
		if (!strcmp(k->cache_sys[i], sys))
			return k->cache_evs[i];
	n1 = realloc(k->cache_sys, (k->ncache + 1) * sizeof(*n1));
	if (n1)
		k->cache_sys = n1;
	n2 = realloc(k->cache_evs, (k->ncache + 1) * sizeof(*n2));
	if (n2)
		k->cache_evs = n2;
	if (!n1 || !n2)
		return NULL;
	k->cache_sys[k->ncache] = strdup(sys);
	k->cache_evs[k->ncache] = tracefs_system_events(k->tracefs, sys);
	return k->cache_evs[k->ncache++];
}

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static int enable_pattern(void *arg, const char *sys_glob, const char *ev_glob, const char *whole)
{
	struct enable_ctx *c = arg;
	int matched = 0, failed = 0, r = 0;
	char why[200] = "";

	for (char **s = c->systems; s && *s; s++) {
		char **evs, *one[2] = {(char *)ev_glob, NULL};

		if (!strcmp(*s, "ftrace") || fnmatch(sys_glob, *s, 0))
			continue;
		if (!has_glob(ev_glob)) {
			/* one event: no need to list the system */
			char f[600];
			struct stat st;

			snprintf(f, sizeof(f), "%s/events/%s/%s/enable", c->k->tracefs, *s, ev_glob);
			if (stat(f, &st) != 0)
				continue;
			evs = one;
		} else {
			evs = system_events(c->k, *s);
		}
		for (char **e = evs; e && *e; e++) {
			if (fnmatch(ev_glob, *e, 0))
				continue;
			matched++;
			r = enable_one(c->k, *s, *e);
			if (r) {
				failed++;
				snprintf(why, sizeof(why), "%s:%s: %s", *s, *e, strerror(-r));
				continue;
			}
			if (!strcmp(*s, "sched") && !strcmp(*e, "sched_process_fork"))
				c->fork_enabled = true;
			if (!strcmp(*s, "task") && !strcmp(*e, "task_newtask"))
				c->newtask_enabled = true;
		}
	}
	if (!matched) {
		fail(c->err, c->errlen,
		     "--kernel: no kernel event matches '%s' (the list is in %s/available_events)",
		     whole, c->k->tracefs);
		return -ENOENT;
	}
	if (failed == matched) {
		fail(c->err, c->errlen, "--kernel: cannot enable '%s' (%s)", whole, why);
		return -EINVAL;
	}
	if (failed)
		rtr__klog(&c->k->log, RTR_KERNEL_LOG_WARN,
			  "%d of the %d events matching '%s' cannot be enabled (%s)", failed,
			  matched, whole, why);
	return 0;
}

/* ------------------------------------------------------------------------
 * The clock
 * ------------------------------------------------------------------------ */

static int set_clock(struct rtr_kernel *k, char *err, size_t errlen)
{
	char avail[512];
	const char *want = k->cfg.clock_source == RTR_CLOCK_TSC ? "x86-tsc" : "mono";
	bool found = false;
	int r;

	r = inst_read(k, "trace_clock", avail, sizeof(avail));
	if (r) {
		fail(err, errlen, "cannot read %s/trace_clock: %s", k->inst_dir, strerror(-r));
		return r;
	}
	for (char *save = NULL, *t = strtok_r(avail, " \n", &save); t;
	     t = strtok_r(NULL, " \n", &save)) {
		size_t l = strlen(t);

		if (t[0] == '[' && l > 2 && t[l - 1] == ']') {
			t[l - 1] = 0;
			t++;
		}
		if (!strcmp(t, want))
			found = true;
	}
	if (!found) {
		fail(err, errlen,
		     "the kernel has no '%s' trace clock to match the user-space clock (%s)", want,
		     k->cfg.clock_source == RTR_CLOCK_TSC ? "TSC" : "CLOCK_MONOTONIC");
		return -ENOTSUP;
	}
	r = inst_write(k, "trace_clock", want);
	if (r) {
		fail(err, errlen, "cannot set the kernel trace clock to %s: %s", want, strerror(-r));
		return r;
	}
	k->clock_name = want;
	return 0;
}

static uint64_t user_clock(const struct rtr_kernel *k)
{
	if (k->cfg.clock_source == RTR_CLOCK_TSC)
		return rtr_clock_read_ordered();
	return rtr_clock_read_monotonic();
}

/* Writes markers into the instance, each between two user-space clock
 * reads, and checks where the kernel put them. Returns the widest
 * bracket in ns (>= 0), or -1 when a marker fell outside its bracket or
 * could not be read back (warned). Leaves the buffer empty. */
static int64_t check_clock(struct rtr_kernel *k)
{
	uint64_t lo[CLOCK_MARKERS], hi[CLOCK_MARKERS], got[CLOCK_MARKERS] = {0};
	bool seen[CLOCK_MARKERS] = {false};
	char path[900], page[65536];
	struct rtr_clock_sync a, b;
	struct kbuffer *kb = NULL;
	int mfd, nseen = 0;
	uint64_t widest = 0;
	double per_ns = 1.0;
	int64_t ret = -1;

	snprintf(path, sizeof(path), "%s/trace_marker", k->inst_dir);
	mfd = open(path, O_WRONLY | O_CLOEXEC);
	if (mfd < 0)
		return -1;
	rtr_clock_sync_take(&a);
	inst_write(k, "tracing_on", "1");
	for (int i = 0; i < CLOCK_MARKERS; i++) {
		char m[32];
		int n = snprintf(m, sizeof(m), "rtrck%d", i);

		lo[i] = user_clock(k);
		if (write(mfd, m, (size_t)n) < 0) {
			/* seen[] stays false */
		}
		hi[i] = user_clock(k);
	}
	inst_write(k, "tracing_on", "0");
	close(mfd);
	rtr_clock_sync_take(&b);
	if (b.mono_ns > a.mono_ns && b.clock > a.clock)
		per_ns = (double)(b.clock - a.clock) / (double)(b.mono_ns - a.mono_ns);
	kb = kbuffer_alloc(tep_get_long_size(k->tep) == 4 ? KBUFFER_LSIZE_4 : KBUFFER_LSIZE_8,
			   tep_is_file_bigendian(k->tep) ? KBUFFER_ENDIAN_BIG
							 : KBUFFER_ENDIAN_LITTLE);
	for (uint32_t cpu = 0; kb && cpu < k->ncpu; cpu++) {
		int fd;
		ssize_t n;

		snprintf(path, sizeof(path), "%s/per_cpu/cpu%u/trace_pipe_raw", k->inst_dir, cpu);
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		while ((n = read(fd, page, k->page_size)) > 0) {
			unsigned long long ts;
			void *d;

			if (kbuffer_load_subbuffer(kb, page) < 0)
				break;
			for (d = kbuffer_read_event(kb, &ts); d; d = kbuffer_next_event(kb, &ts)) {
				int sz = kbuffer_event_size(kb);
				const char *hit = sz > 0 ? memmem(d, (size_t)sz, "rtrck", 5) : NULL;

				if (hit && hit + 5 < (const char *)d + sz && isdigit((unsigned char)hit[5])) {
					int i = hit[5] - '0';

					if (i < CLOCK_MARKERS && !seen[i]) {
						seen[i] = true;
						got[i] = ts;
						nseen++;
					}
				}
			}
		}
		close(fd);
	}
	if (kb)
		kbuffer_free(kb);
	inst_write(k, "trace", ""); /* clears the buffer */
	if (nseen < CLOCK_MARKERS) {
		rtr__klog(&k->log, RTR_KERNEL_LOG_WARN,
			  "kernel clock check: %d of %d markers read back; the alignment of kernel "
			  "and user-space events is not verified",
			  nseen, CLOCK_MARKERS);
		return -1;
	}
	ret = 0;
	for (int i = 0; i < CLOCK_MARKERS; i++) {
		if (got[i] < lo[i] || got[i] > hi[i]) {
			int64_t off = got[i] < lo[i] ? -(int64_t)(lo[i] - got[i])
						     : (int64_t)(got[i] - hi[i]);

			rtr__klog(&k->log, RTR_KERNEL_LOG_WARN,
				  "kernel clock check: the kernel's %s clock is %lld ns off the "
				  "user-space clock; kernel and user-space events may be out of order",
				  k->clock_name, (long long)((double)off / per_ns));
			ret = -1;
		}
		if (hi[i] - lo[i] > widest)
			widest = hi[i] - lo[i];
	}
	return ret < 0 ? ret : (int64_t)((double)widest / per_ns + 0.5);
}

static void take_sync(struct rtr_kernel *k)
{
	struct rtr_clock_sync pt;

	if (k->pts && rtr_clock_sync_take(&pt) == 0)
		rtr_clock_sync_log_add(&k->sync, &pt);
}

/* ------------------------------------------------------------------------
 * Open
 * ------------------------------------------------------------------------ */

static uint32_t count_cpus(const char *inst_dir)
{
	char path[900];
	uint32_t n = 0;

	for (;; n++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/per_cpu/cpu%u", inst_dir, n);
		if (stat(path, &st) != 0)
			break;
	}
	return n;
}

static char *read_all(const char *path, size_t *len)
{
	size_t cap = 16384, n = 0;
	char *b = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (!b || fd < 0) {
		free(b);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((r = read(fd, b + n, cap - n - 1)) > 0) {
		n += (size_t)r;
		if (n + 1 == cap) {
			char *nb = realloc(b, cap * 2);

			if (!nb)
				break;
			b = nb;
			cap *= 2;
		}
	}
	close(fd);
	b[n] = 0;
	*len = n;
	return b;
}

/* The formats of the events enabled (and ftrace:print, for the clock
 * check), not of whole systems: `syscalls` alone has 720, and libtracefs'
 * loader also reads kallsyms; parsing only these takes milliseconds. */
static int load_tep(struct rtr_kernel *k, char *err, size_t errlen)
{
	char path[1024], *text;
	size_t len;

	k->tep = tep_alloc();
	if (!k->tep)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/events/header_page", k->tracefs);
	text = read_all(path, &len);
	if (!text || tep_parse_header_page(k->tep, text, len, (int)sizeof(long)) != 0) {
		free(text);
		fail(err, errlen, "cannot read %s", path);
		return -EIO;
	}
	free(text);
	tep_set_long_size(k->tep, (int)sizeof(long));
	tep_set_page_size(k->tep, (int)k->page_size);
	tep_set_file_bigendian(k->tep, __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? TEP_BIG_ENDIAN
									     : TEP_LITTLE_ENDIAN);
	for (size_t i = 0; i <= k->nenabled; i++) {
		const char *se = i < k->nenabled ? k->enabled[i] : "ftrace/print";
		char sys[256];

		snprintf(sys, sizeof(sys), "%s", se);
		sys[strcspn(sys, "/")] = 0;
		snprintf(path, sizeof(path), "%s/events/%s/format", k->tracefs, se);
		text = read_all(path, &len);
		if (!text || tep_parse_event(k->tep, text, len, sys) != 0) {
			/* an event we cannot decode is skipped (counted as unknown) */
			rtr__klog(&k->log, RTR_KERNEL_LOG_WARN,
				  "cannot parse the format of %s: its events are left out", se);
		}
		free(text);
	}
	return 0;
}

struct rtr_kernel *rtr_kernel_open(const struct rtr_kernel_config *cfg, char *err, size_t errlen)
{
	struct rtr_kernel *k = calloc(1, sizeof(*k));
	struct enable_ctx ec = {0};
	char **systems = NULL;
	char num[32];
	int r;

	if (err && errlen)
		err[0] = 0;
	if (!k) {
		fail(err, errlen, "no memory");
		return NULL;
	}
	k->cfg = *cfg;
	k->log = cfg->log;
	k->stop_fd = -1;
	k->clock_check_ns = -1;
	if (!k->cfg.buffer_kb)
		k->cfg.buffer_kb = DEFAULT_BUFFER_KB;
	if (!k->cfg.packet_kb)
		k->cfg.packet_kb = DEFAULT_PACKET_KB;
	if (k->cfg.packet_kb < 16)
		k->cfg.packet_kb = 16;
	k->page_size = (size_t)sysconf(_SC_PAGESIZE);
	if (rtr_kernel_check_patterns(cfg->events, cfg->nevents, err, errlen))
		goto fail;
	r = rtr__tracefs_find(k->tracefs, sizeof(k->tracefs), err, errlen);
	if (r)
		goto fail;
	/* libtracefs must look where we found it */
	tracefs_set_tracing_dir(k->tracefs);
	rtr__kinstance_reap(k->tracefs, &k->log);
	rtr__kinstance_name(getpid(), k->name, sizeof(k->name));
	snprintf(k->group, sizeof(k->group), "rtr_%s", k->name + strlen("ringtrace-"));
	for (char *c = k->group; *c; c++)
		if (*c == '-')
			*c = '_';
	k->inst = tracefs_instance_create(k->name);
	if (!k->inst) {
		fail(err, errlen, "cannot create the tracefs instance %s/instances/%s: %s",
		     k->tracefs, k->name, strerror(errno));
		goto fail;
	}
	snprintf(k->inst_dir, sizeof(k->inst_dir), "%s/instances/%s", k->tracefs, k->name);
	inst_write(k, "tracing_on", "0");
	k->ncpu = count_cpus(k->inst_dir);
	if (!k->ncpu) {
		fail(err, errlen, "%s has no per_cpu directories", k->inst_dir);
		goto fail;
	}
	if (set_clock(k, err, errlen))
		goto fail;
	snprintf(num, sizeof(num), "%u", k->cfg.buffer_kb);
	r = inst_write(k, "buffer_size_kb", num);
	if (r) {
		fail(err, errlen, "cannot set %u KiB kernel buffers per CPU: %s", k->cfg.buffer_kb,
		     strerror(-r));
		goto fail;
	}
	/* discard mode: keep the beginning, count what does not fit */
	inst_write(k, "options/overwrite", "0");
	inst_write(k, "buffer_percent", "25");

	/* uprobes first: their events must exist before they are enabled */
	if (cfg->nprobes) {
		r = rtr__kprobes_create(&k->probes, k->tracefs, k->group, cfg->probes,
					cfg->nprobes, &k->log, err, errlen);
		if (r)
			goto fail;
		for (size_t i = 0; i < rtr__kprobes_count(k->probes); i++) {
			r = enable_one(k, k->group, rtr__kprobes_event(k->probes, i));
			if (r) {
				fail(err, errlen, "cannot enable the uprobe %s: %s",
				     rtr__kprobes_event(k->probes, i), strerror(-r));
				goto fail;
			}
		}
	}
	systems = tracefs_event_systems(k->tracefs);
	if (!systems) {
		fail(err, errlen, "cannot list the kernel's events in %s/events", k->tracefs);
		goto fail;
	}
	ec.k = k;
	ec.systems = systems;
	ec.err = err;
	ec.errlen = errlen;
	if (for_patterns(cfg->events, cfg->nevents, err, errlen, enable_pattern, &ec))
		goto fail;
	if (!k->events_enabled) {
		fail(err, errlen, "--kernel: no kernel event to record");
		goto fail;
	}
	/* sched_process_fork says whether the child is a thread only
	 * through task_newtask's clone flags */
	if (ec.fork_enabled && !ec.newtask_enabled && enable_one(k, "task", "task_newtask") == 0)
		k->events_enabled--;
	else
		ec.newtask_enabled = true; /* the user's: written */
	if (load_tep(k, err, errlen))
		goto fail;
	if (rtr__kmap_init(&k->map, k->tep, true)) {
		fail(err, errlen, "no memory");
		goto fail;
	}
	k->map_ready = true;
	k->map.uprobe_group = k->probes ? k->group : NULL;
	if (!ec.newtask_enabled) {
		struct tep_event *nt = tep_find_event_by_name(k->tep, "task", "task_newtask");

		if (nt) {
			const struct rtr__kplan *p = rtr__kmap_plan(&k->map, (uint16_t)nt->id);

			((struct rtr__kplan *)p)->hidden = 1;
		}
	}
	k->clock_check_ns = check_clock(k);
	rtr__klog(&k->log, RTR_KERNEL_LOG_INFO,
		  "kernel: instance %s, clock %s (checked: %lld ns), %u CPUs, %" PRIu64
		  " events enabled",
		  k->name, k->clock_name, (long long)k->clock_check_ns, k->ncpu, k->events_enabled);
	r = rtr__ktrace_create(&k->trace, cfg->out_dirfd, cfg->out_dir,
			       cfg->trace_dir_name ? cfg->trace_dir_name : "kernel", k->ncpu,
			       (size_t)k->cfg.packet_kb * 1024, k->cfg.file_mode, &k->map, &k->log);
	k->trace_ready = true;
	if (r) {
		fail(err, errlen, "cannot create the kernel trace %s: %s", k->trace.dir,
		     strerror(-r));
		goto fail;
	}
	k->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	k->pts = calloc(SYNC_CAP, sizeof(*k->pts));
	if (k->stop_fd < 0 || !k->pts) {
		fail(err, errlen, "setup: %s", strerror(errno));
		goto fail;
	}
	k->sync = (struct rtr_clock_sync_log){.pts = k->pts, .cap = SYNC_CAP};
	sem_init(&k->ready, 0, 0);
	k->ready_init = true;
	rtr_clock_init(&k->sel);
	tracefs_list_free(systems);
	return k;
fail:
	tracefs_list_free(systems);
	if (err && errlen && !err[0])
		fail(err, errlen, "cannot set up kernel recording");
	rtr_kernel_destroy(k);
	return NULL;
}

/* ------------------------------------------------------------------------
 * Readers
 * ------------------------------------------------------------------------ */

static uint64_t stat_value(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* Events the kernel dropped on this CPU so far. */
static uint64_t read_lost(struct reader *rd)
{
	char buf[1024];
	ssize_t n = pread(rd->stats_fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return rd->lost_seen;
	buf[n] = 0;
	return stat_value(buf, "overrun:") + stat_value(buf, "commit overrun:") +
	       stat_value(buf, "dropped events:");
}

static void decode_page(struct reader *rd, uint8_t *page)
{
	struct rtr__kstream *s = &rd->k->trace.streams[rd->cpu];
	unsigned long long ts;
	void *d;
	int missed;

	if (kbuffer_load_subbuffer(rd->kb, page) < 0)
		return;
	missed = kbuffer_missed_events(rd->kb);
	if (missed > 0)
		rtr__kstream_lost(s, s->discarded + (uint64_t)missed);
	for (d = kbuffer_read_event(rd->kb, &ts); d; d = kbuffer_next_event(rd->kb, &ts)) {
		int sz = kbuffer_event_size(rd->kb);

		if (sz > 0 && rtr__kstream_record(s, ts, d, (size_t)sz) < 0)
			break;
	}
}

static void account_lost(struct reader *rd)
{
	uint64_t lost = read_lost(rd);

	if (lost > rd->lost_seen) {
		struct rtr__kstream *s = &rd->k->trace.streams[rd->cpu];

		rtr__kstream_lost(s, s->discarded + (lost - rd->lost_seen));
		rd->lost_seen = lost;
	}
}

/* Moves every full page the kernel has into the pipe and decodes it.
 * Returns the bytes read. */
static size_t drain_full_pages(struct reader *rd)
{
	size_t total = 0;

	for (;;) {
		ssize_t n = splice(rd->fd, NULL, rd->pipe[1], NULL, rd->pipe_bytes,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		ssize_t got = 0;

		if (n <= 0)
			break;
		while (got < n) {
			ssize_t m = read(rd->pipe[0], rd->buf + got, (size_t)(n - got));

			if (m <= 0) {
				if (m < 0 && errno == EINTR)
					continue;
				break;
			}
			got += m;
		}
		for (ssize_t off = 0; off + (ssize_t)rd->k->page_size <= got;
		     off += (ssize_t)rd->k->page_size)
			decode_page(rd, rd->buf + off);
		total += (size_t)got;
		if (got < n)
			break;
	}
	return total;
}

/* After tracing is off: the partly filled pages too. */
static void drain_rest(struct reader *rd)
{
	ssize_t n;

	drain_full_pages(rd);
	while ((n = read(rd->fd, rd->buf, rd->k->page_size)) > 0)
		decode_page(rd, rd->buf);
	account_lost(rd);
}

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct rtr_kernel *k = rd->k;

	rd->tid = (pid_t)syscall(SYS_gettid);
	sem_post(&k->ready);
	for (;;) {
		struct pollfd p[2] = {{.fd = rd->fd, .events = POLLIN},
				      {.fd = k->stop_fd, .events = POLLIN}};
		size_t got;

		if (poll(p, 2, POLL_MS) < 0 && errno != EINTR)
			break;
		got = drain_full_pages(rd);
		account_lost(rd);
		if (atomic_load_explicit(&k->stopping, memory_order_acquire))
			break;
		/* A wake-up with nothing to take: do not spin on it. */
		if (!got && (p[0].revents & POLLIN))
			usleep(POLL_MS * 1000 / 10);
	}
	return NULL;
}

static int reader_open(struct rtr_kernel *k, struct reader *rd, uint32_t cpu)
{
	char path[900];

	rd->k = k;
	rd->cpu = cpu;
	rd->pipe[0] = rd->pipe[1] = -1;
	snprintf(path, sizeof(path), "%s/per_cpu/cpu%u/trace_pipe_raw", k->inst_dir, cpu);
	rd->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rd->fd < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/per_cpu/cpu%u/stats", k->inst_dir, cpu);
	rd->stats_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (rd->stats_fd < 0)
		return -errno;
	if (pipe2(rd->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	{
		int sz = fcntl(rd->pipe[1], F_SETPIPE_SZ, PIPE_BYTES);

		if (sz < 0)
			sz = fcntl(rd->pipe[1], F_GETPIPE_SZ);
		rd->pipe_bytes = sz > 0 ? (size_t)sz : 65536;
	}
	rd->pipe_bytes -= rd->pipe_bytes % k->page_size;
	rd->buf = malloc(rd->pipe_bytes);
	rd->kb = kbuffer_alloc(tep_get_long_size(k->tep) == 4 ? KBUFFER_LSIZE_4 : KBUFFER_LSIZE_8,
			       tep_is_file_bigendian(k->tep) ? KBUFFER_ENDIAN_BIG
							     : KBUFFER_ENDIAN_LITTLE);
	if (!rd->buf || !rd->kb)
		return -ENOMEM;
	rd->lost_seen = read_lost(rd);
	return 0;
}

static void reader_close(struct reader *rd)
{
	if (rd->fd >= 0)
		close(rd->fd);
	if (rd->stats_fd >= 0)
		close(rd->stats_fd);
	if (rd->pipe[0] >= 0)
		close(rd->pipe[0]);
	if (rd->pipe[1] >= 0)
		close(rd->pipe[1]);
	if (rd->kb)
		kbuffer_free(rd->kb);
	free(rd->buf);
	rd->fd = rd->stats_fd = rd->pipe[0] = rd->pipe[1] = -1;
	rd->kb = NULL;
	rd->buf = NULL;
}

/* One thread's /proc/PID/task/TID/stat -> a process_state payload.
 * Returns false when the thread is gone or the file does not parse. */
static bool task_state(int pid, int tid, uint8_t out[RTR__KSTATEDUMP_PROC_SIZE])
{
	char path[64], buf[1024], comm[16] = {0}, *lp, *rp, state;
	unsigned long long flags = 0;
	int32_t v[12] = {0}, ppid = 0, cpu = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	/* "tid (comm) state ppid pgrp session tty tpgid flags ...": comm
	 * may hold spaces and parentheses, the last ')' ends it */
	lp = strchr(buf, '(');
	rp = strrchr(buf, ')');
	if (!lp || !rp || rp < lp || rp[1] != ' ')
		return false;
	memcpy(comm, lp + 1, (size_t)(rp - lp - 1) < 16 ? (size_t)(rp - lp - 1) : 16);
	{
		char *f = rp + 2, *end;
		unsigned field = 3; /* state is field 3 */

		state = *f;
		for (; *f && field <= 39; field++) {
			if (field == 4)
				ppid = (int32_t)strtol(f, NULL, 10);
			else if (field == 9)
				flags = strtoull(f, NULL, 10);
			else if (field == 39)
				cpu = (int32_t)strtol(f, NULL, 10);
			end = strchr(f, ' ');
			if (!end)
				break;
			f = end + 1;
		}
	}
	/* LTTng's values: type 1 = kernel thread (PF_KTHREAD), 0 = user;
	 * mode 5 = unknown; submode 0 = none; status 2 = waiting for a CPU
	 * (running or runnable), 5 = waiting, 4 = zombie, 7 = dead. */
	v[0] = v[1] = tid;
	v[2] = v[3] = pid;
	v[4] = v[5] = ppid;
	memcpy(out, v, 24);
	memcpy(out + 24, comm, 16);
	v[6] = (flags & 0x00200000ull) ? 1 : 0;
	v[7] = 5;
	v[8] = 0;
	v[9] = state == 'R' ? 2 : state == 'Z' ? 4 : (state == 'X' || state == 'x') ? 7
	       : (state == 'S' || state == 'D' || state == 'I') ? 5 : 0;
	v[10] = cpu;
	memcpy(out + 40, v + 6, 20);
	return true;
}

/* A whole-system recording begins with LTTng's statedump: every thread
 * that exists, so that viewers (Trace Compass) know the threads that are
 * not scheduled while it records. Written into CPU 0's stream before its
 * reader starts and before tracing is on: every kernel event comes after
 * it, in its stream and in time. A thread born between the dump and
 * tracing_on is learned from its first event, as without a dump. Returns
 * the threads dumped. */
static unsigned statedump(struct rtr_kernel *k)
{
	struct rtr__kstatedump_plans pl;
	struct rtr__kstream *s = &k->trace.streams[0];
	int32_t self = (int32_t)syscall(SYS_gettid);
	unsigned n = 0, nfd = 0, nbd, nirq, nnet;
	struct dirent *e;
	DIR *proc;

	if (rtr__kmap_statedump(&k->map, &pl) ||
	    rtr__kstream_raw(s, pl.start, user_clock(k), self, NULL, 0)) {
		rtr__klog(&k->log, RTR_KERNEL_LOG_WARN, "kernel: no statedump (out of memory)");
		return 0;
	}
	proc = opendir("/proc");
	while (proc && (e = readdir(proc))) {
		char path[64];
		struct dirent *t;
		DIR *task;
		int pid = atoi(e->d_name);

		if (pid <= 0 || !isdigit((unsigned char)e->d_name[0]))
			continue;
		nfd += rtr__kdump_fds(s, pl.file_descriptor, user_clock(k), self, pid);
		snprintf(path, sizeof(path), "/proc/%d/task", pid);
		task = opendir(path);
		while (task && (t = readdir(task))) {
			uint8_t rec[RTR__KSTATEDUMP_PROC_SIZE];
			int tid = atoi(t->d_name);

			if (tid > 0 && task_state(pid, tid, rec) &&
			    rtr__kstream_raw(s, pl.process_state, user_clock(k), self, rec,
					     sizeof(rec)) == 0)
				n++;
		}
		if (task)
			closedir(task);
	}
	if (proc)
		closedir(proc);
	nbd = rtr__kdump_block_devices(s, pl.block_device, user_clock(k), self);
	nirq = rtr__kdump_interrupts(s, pl.interrupt, user_clock(k), self);
	nnet = rtr__kdump_net(s, pl.network_interface, user_clock(k), self);
	rtr__kstream_raw(s, pl.end, user_clock(k), self, NULL, 0);
	rtr__klog(&k->log, RTR_KERNEL_LOG_INFO,
		  "kernel: statedump of %u threads, %u file descriptors, %u block devices, %u "
		  "interrupt actions, %u interfaces",
		  n, nfd, nbd, nirq, nnet);
	return n;
}

int rtr_kernel_start(struct rtr_kernel *k, pid_t pid)
{
	int r;

	if (k->started)
		return -EALREADY;
	k->readers = calloc(k->ncpu, sizeof(*k->readers));
	if (!k->readers)
		return -ENOMEM;
	for (uint32_t i = 0; i < k->ncpu; i++)
		k->readers[i].fd = k->readers[i].stats_fd = k->readers[i].pipe[0] =
		    k->readers[i].pipe[1] = -1;
	if (pid > 0 && !k->cfg.all) {
		char p[32];

		snprintf(p, sizeof(p), "%d", (int)pid);
		r = inst_write(k, "set_event_pid", p);
		if (!r)
			r = inst_write(k, "options/event-fork", "1");
		if (r) {
			rtr__klog(&k->log, RTR_KERNEL_LOG_ERROR,
				  "kernel: cannot limit the events to process %d: %s", (int)pid,
				  strerror(-r));
			return r;
		}
	}
	for (uint32_t i = 0; i < k->ncpu; i++) {
		r = reader_open(k, &k->readers[i], i);
		if (r) {
			rtr__klog(&k->log, RTR_KERNEL_LOG_ERROR,
				  "kernel: cannot read CPU %u's buffer in %s: %s", i, k->inst_dir,
				  strerror(-r));
			goto fail;
		}
	}
	take_sync(k);
	if (pid <= 0 || k->cfg.all)
		k->dumped = statedump(k);
	for (uint32_t i = 0; i < k->ncpu; i++) {
		r = pthread_create(&k->readers[i].thread, NULL, reader_main, &k->readers[i]);
		if (r) {
			r = -r;
			goto fail;
		}
		k->readers[i].started = true;
	}
	for (uint32_t i = 0; i < k->ncpu; i++)
		sem_wait(&k->ready);
	if (pid <= 0 || k->cfg.all) {
		/* Whole system: not our readers and main thread (their reads
		 * would fill the trace with events about itself). Kernels
		 * before 5.8 have no such file: then they are recorded. */
		char p[32 * 65];
		size_t n = (size_t)snprintf(p, sizeof(p), "%d", (int)getpid());

		for (uint32_t i = 0; i < k->ncpu && n < sizeof(p) - 32; i++)
			n += (size_t)snprintf(p + n, sizeof(p) - n, " %d", (int)k->readers[i].tid);
		inst_write(k, "set_event_notrace_pid", p);
	}
	r = inst_write(k, "tracing_on", "1");
	if (r) {
		rtr__klog(&k->log, RTR_KERNEL_LOG_ERROR, "kernel: cannot turn tracing on: %s",
			  strerror(-r));
		goto fail;
	}
	k->started = true;
	return 0;
fail:
	k->started = true;
	rtr_kernel_stop(k);
	return r;
}

int rtr_kernel_stop(struct rtr_kernel *k)
{
	uint64_t one = 1;

	if (!k->started || k->stopped)
		return 0;
	k->stopped = true;
	inst_write(k, "tracing_on", "0");
	k->end_ts = user_clock(k);
	/* release: the readers see `stopping` after the tracing_on write */
	atomic_store_explicit(&k->stopping, true, memory_order_release);
	if (write(k->stop_fd, &one, sizeof(one)) < 0) {
		/* the readers wake within POLL_MS anyway */
	}
	for (uint32_t i = 0; i < k->ncpu; i++) {
		struct reader *rd = &k->readers[i];

		if (rd->started)
			pthread_join(rd->thread, NULL);
		rd->started = false;
		if (rd->fd >= 0)
			drain_rest(rd);
		rtr__kstream_finish(&k->trace.streams[i], k->end_ts);
		reader_close(rd);
	}
	take_sync(k);
	return 0;
}

int rtr_kernel_finish(struct rtr_kernel *k, const struct rtr_clock_meta *cm,
		      const struct rtr_clock_sync *pts, size_t npts)
{
	struct rtr_clock_meta own;
	struct rtr__kenv env = {.source = "tracefs",
				.trace_clock = k->clock_name,
				.clock_check_ns = k->clock_check_ns};

	rtr_kernel_stop(k);
	if (!cm) {
		struct rtr_clock_describe_in din = {
		    .source = k->cfg.clock_source,
		    .sel = &k->sel,
		    .pts = k->sync.pts,
		    .n = k->sync.n,
		    .nominal_freq = k->cfg.clock_source == RTR_CLOCK_MONOTONIC ? 1000000000u : 0,
		};

		if (k->sync.n >= 1 &&
		    k->sync.pts[k->sync.n - 1].mono_ns - k->sync.pts[0].mono_ns < 2000000u) {
			usleep(2500);
			take_sync(k);
			din.n = k->sync.n;
		}
		if (k->sync.n < 1 || rtr_clock_describe(&din, &own)) {
			rtr__klog(&k->log, RTR_KERNEL_LOG_ERROR,
				  "kernel: cannot describe the trace clock");
			return -EINVAL;
		}
		cm = &own;
		pts = k->sync.pts;
		npts = k->sync.n;
	}
	return rtr__ktrace_metadata(&k->trace, cm, pts, npts, &env);
}

void rtr_kernel_totals(const struct rtr_kernel *k, struct rtr_kernel_totals *t)
{
	memset(t, 0, sizeof(*t));
	t->cpus = k->ncpu;
	t->probes = (uint32_t)rtr__kprobes_count(k->probes);
	for (uint32_t i = 0; k->trace_ready && k->trace.streams && i < k->trace.nr_streams; i++) {
		const struct rtr__kstream *s = &k->trace.streams[i];

		t->events += s->events;
		t->lost += s->discarded;
		t->bytes += s->file_off;
		t->packets += s->packets;
		t->clamped += s->clamped;
	}
	if (k->map_ready) {
		t->unknown = atomic_load_explicit(&k->map.unknown, memory_order_relaxed);
		t->malformed = atomic_load_explicit(&k->map.malformed, memory_order_relaxed);
	}
}

const char *rtr_kernel_trace_dir(const struct rtr_kernel *k)
{
	return k->trace.dir;
}

void rtr_kernel_destroy(struct rtr_kernel *k)
{
	if (!k)
		return;
	rtr_kernel_stop(k);
	if (k->readers) {
		for (uint32_t i = 0; i < k->ncpu; i++)
			reader_close(&k->readers[i]);
		free(k->readers);
	}
	if (k->inst) {
		inst_write(k, "tracing_on", "0");
		/* the instance goes first: that disables its events, so the
		 * uprobes can be removed after */
		if (tracefs_instance_destroy(k->inst) < 0)
			rtr__klog(&k->log, RTR_KERNEL_LOG_WARN,
				  "cannot remove the tracefs instance %s: %s (it is removed at "
				  "the next start)",
				  k->inst_dir, strerror(errno));
		tracefs_instance_free(k->inst);
	}
	rtr__kprobes_destroy(k->probes, &k->log);
	if (k->trace_ready) {
		rtr__ktrace_close(&k->trace);
		/* never started: no trace, no empty directory */
		if (!k->started)
			unlinkat(k->cfg.out_dirfd,
				 k->cfg.trace_dir_name ? k->cfg.trace_dir_name : "kernel",
				 AT_REMOVEDIR);
	}
	if (k->map_ready)
		rtr__kmap_fini(&k->map);
	if (k->tep)
		tep_free(k->tep);
	if (k->stop_fd >= 0)
		close(k->stop_fd);
	for (size_t i = 0; i < k->nenabled; i++)
		free(k->enabled[i]);
	free(k->enabled);
	for (size_t i = 0; i < k->ncache; i++) {
		free(k->cache_sys[i]);
		tracefs_list_free(k->cache_evs[i]);
	}
	free(k->cache_sys);
	free(k->cache_evs);
	free(k->pts);
	if (k->ready_init)
		sem_destroy(&k->ready);
	free(k);
}
