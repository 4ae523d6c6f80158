/* trace-cmd files (trace.dat) to the CTF kernel trace, through the same
 * mapping as a recording; read with libtracecmd in a child process, so
 * that a file that makes the library crash is an error, not a crash of
 * ringtrace. Design: docs/design/kernel.md §10. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <trace-cmd/trace-cmd.h>
#include <traceevent/event-parse.h>

#include "kernel-internal.h"

#define PACKET_SIZE (256u * 1024u)

#define fail rtr__kfail

/* libtracecmd exports these without declaring them in its installed
 * header: looked up, so that a library without them still works. */
static const char *tc_string(struct tracecmd_input *h, const char *sym)
{
	const char *(*fn)(struct tracecmd_input *) =
	    (const char *(*)(struct tracecmd_input *))dlsym(RTLD_DEFAULT, sym);

	return fn ? fn(h) : NULL;
}

/* Events lost on `cpu` according to the statistics trace-cmd saved at the
 * end ("CPU: n" blocks of the per_cpu stats files). */
static uint64_t stats_lost(const char *stats, int cpu)
{
	char head[32];
	const char *p, *end;
	uint64_t lost = 0;

	if (!stats)
		return 0;
	snprintf(head, sizeof(head), "CPU: %d\n", cpu);
	p = strstr(stats, head);
	if (!p)
		return 0;
	p += strlen(head);
	end = strstr(p, "CPU: ");
	if (!end)
		end = p + strlen(p);
	{
		static const char *const keys[] = {"\noverrun: ", "\ncommit overrun: ",
						   "\ndropped events: "};

		for (size_t i = 0; i < 3; i++) {
			const char *k = strstr(p - 1, keys[i]);

			if (k && k < end)
				lost += strtoull(k + strlen(keys[i]), NULL, 10);
		}
	}
	return lost;
}

struct clockinfo {
	char name[32];
	char desc[64];
	uint64_t freq;
};

static void clock_of(const char *tc, struct clockinfo *c)
{
	const char *n = tc && *tc ? tc : "local";

	c->freq = 1000000000u;
	snprintf(c->name, sizeof(c->name), "%s", n);
	for (char *p = c->name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			*p = '_';
	if (c->name[0] >= '0' && c->name[0] <= '9')
		c->name[0] = '_';
	if (!strcmp(n, "x86-tsc")) {
		struct rtr_clock_calibration cal;

		/* raw cycles: the frequency of this machine's TSC (right when
		 * the file was recorded here) */
		if (rtr_clock_init(NULL) == RTR_CLOCK_TSC && rtr_clock_calibrate(20, &cal) == 0 &&
		    cal.freq)
			c->freq = cal.freq;
		snprintf(c->desc, sizeof(c->desc), "trace-cmd x86-tsc, this machine's TSC Hz");
	} else {
		snprintf(c->desc, sizeof(c->desc), "trace-cmd clock %.20s, ns, origin unknown", n);
	}
}

/* The conversion itself (in the child). Returns 0 or a negative errno. */
static int convert(const char *in, int parent_fd, const char *parent, const char *name,
		   const struct rtr_kernel_log *log, struct rtr_kernel_totals *tot, char *err,
		   size_t errlen)
{
	struct tracecmd_input *h = tracecmd_open(in, 0);
	struct tep_handle *tep;
	struct rtr__kmap map;
	struct rtr__ktrace t;
	struct clockinfo ci;
	const char *stats, *uname_s;
	int ncpu, r;
	uint64_t last_ts = 0;

	if (!h) {
		fail(err, errlen, "%s: not a trace-cmd file libtracecmd can read", in);
		return -EINVAL;
	}
	tep = tracecmd_get_tep(h);
	ncpu = tep ? tep_get_cpus(tep) : 0;
	if (!tep || ncpu <= 0 || ncpu > 65536) {
		fail(err, errlen, "%s: no CPU data", in);
		tracecmd_close(h);
		return -EINVAL;
	}
	if (tep_is_file_bigendian(tep) != tep_is_local_bigendian(tep)) {
		fail(err, errlen, "%s: recorded on a machine of the other byte order (not supported)",
		     in);
		tracecmd_close(h);
		return -ENOTSUP;
	}
	clock_of(tc_string(h, "tracecmd_get_trace_clock"), &ci);
	stats = tc_string(h, "tracecmd_get_cpustats");
	uname_s = tc_string(h, "tracecmd_get_uname");
	if (rtr__kmap_init(&map, tep, false)) {
		tracecmd_close(h);
		return -ENOMEM;
	}
	r = rtr__ktrace_create(&t, parent_fd, parent, name, (uint32_t)ncpu, PACKET_SIZE, 0644,
			       &map, log);
	if (r) {
		fail(err, errlen, "cannot create %s/%s: %s", parent, name, strerror(-r));
		goto out;
	}
	for (int cpu = 0; cpu < ncpu && !r; cpu++) {
		struct rtr__kstream *s = &t.streams[cpu];
		struct tep_record *rec;
		uint64_t known = 0, unknown_pages = 0, total, rest = 0, share = 0;

		/* Pass 1: what the pages say. A page may say "events were lost"
		 * without a count (-1): the statistics saved at the end give the
		 * total, and what the counted pages do not explain is shared
		 * among those pages, so each loss stays where it happened. */
		for (rec = tracecmd_read_cpu_first(h, cpu); rec; rec = tracecmd_read_data(h, cpu)) {
			if (rec->missed_events > 0)
				known += (uint64_t)rec->missed_events;
			else if (rec->missed_events < 0)
				unknown_pages++;
			tracecmd_free_record(rec);
		}
		total = stats_lost(stats, cpu);
		if (total > known) {
			rest = total - known;
			share = unknown_pages ? rest / unknown_pages : 0;
		}
		/* Pass 2: the records, and the losses where the pages say. */
		for (rec = tracecmd_read_cpu_first(h, cpu); rec; rec = tracecmd_read_data(h, cpu)) {
			uint64_t lost = 0;

			if (rec->missed_events > 0) {
				lost = (uint64_t)rec->missed_events;
			} else if (rec->missed_events < 0 && unknown_pages) {
				lost = --unknown_pages ? share : rest;
				rest -= lost;
			}
			if (lost)
				rtr__kstream_lost(s, s->discarded + lost);
			if (rec->size > 0)
				r = rtr__kstream_record(s, rec->ts, rec->data, (size_t)rec->size);
			if (rec->ts > last_ts)
				last_ts = rec->ts;
			tracecmd_free_record(rec);
			if (r)
				break;
		}
		/* discard mode: only the statistics say it, after the last page */
		if (!r && rest)
			rtr__kstream_lost(s, s->discarded + rest);
	}
	for (int cpu = 0; cpu < ncpu; cpu++) {
		int e = rtr__kstream_finish(&t.streams[cpu], last_ts);

		if (!r)
			r = e;
	}
	if (!r) {
		struct rtr_clock_meta cm;
		char host[256] = "", release[256] = "";
		struct rtr__kenv env = {.source = "trace-cmd", .trace_clock = ci.name,
					.clock_check_ns = -1, .no_clock_env = true};

		memset(&cm, 0, sizeof(cm));
		snprintf(cm.desc.name, sizeof(cm.desc.name), "%s", ci.name);
		snprintf(cm.desc.description, sizeof(cm.desc.description), "%s", ci.desc);
		cm.desc.freq = ci.freq;
		cm.desc.absolute = false;
		if (uname_s && sscanf(uname_s, "%*s %255s %255s", host, release) == 2) {
			env.hostname = host;
			env.kernel_release = release;
		}
		r = rtr__ktrace_metadata(&t, &cm, NULL, 0, &env);
		if (r)
			fail(err, errlen, "cannot write the metadata of %s/%s", parent, name);
	} else if (!err[0]) {
		fail(err, errlen, "cannot write %s/%s: %s", parent, name, strerror(-r));
	}
	if (tot) {
		memset(tot, 0, sizeof(*tot));
		tot->cpus = (uint32_t)ncpu;
		for (int cpu = 0; cpu < ncpu; cpu++) {
			tot->events += t.streams[cpu].events;
			tot->lost += t.streams[cpu].discarded;
			tot->bytes += t.streams[cpu].file_off;
			tot->packets += t.streams[cpu].packets;
			tot->clamped += t.streams[cpu].clamped;
		}
		tot->unknown = atomic_load(&map.unknown);
		tot->malformed = atomic_load(&map.malformed);
	}
	rtr__ktrace_close(&t);
out:
	rtr__kmap_fini(&map);
	tracecmd_close(h);
	return r;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

/* Removes what a failed conversion left of its output directory. */
static void rm_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int rtr_kernel_convert_tracedat(const char *in, const char *out, const struct rtr_kernel_log *log,
				struct rtr_kernel_totals *t, char *err, size_t errlen)
{
	char pbuf[PATH_MAX], nbuf[PATH_MAX];
	int pfd, pipefd[2], status = 0;
	struct {
		int ret;
		struct rtr_kernel_totals t;
		char err[1024];
	} res;
	pid_t pid;
	struct stat st;
	ssize_t n;

	err[0] = 0;
	if (stat(in, &st) != 0) {
		fail(err, errlen, "%s: %s", in, strerror(errno));
		return -errno;
	}
	snprintf(pbuf, sizeof(pbuf), "%s", out);
	snprintf(nbuf, sizeof(nbuf), "%s", out);
	pfd = open(dirname(pbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0) {
		fail(err, errlen, "%s: %s", pbuf, strerror(errno));
		return -errno;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		close(pfd);
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		close(pfd);
		close(pipefd[0]);
		close(pipefd[1]);
		return -errno;
	}
	if (pid == 0) {
		close(pipefd[0]);
		memset(&res, 0, sizeof(res));
		res.ret = convert(in, pfd, pbuf, basename(nbuf), log, &res.t, res.err,
				  sizeof(res.err));
		if (write(pipefd[1], &res, sizeof(res)) < 0)
			_exit(2);
		_exit(0);
	}
	close(pipefd[1]);
	memset(&res, 0, sizeof(res));
	do
		n = read(pipefd[0], &res, sizeof(res));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	close(pfd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status) || n != (ssize_t)sizeof(res)) {
		fail(err, errlen,
		     "%s: libtracecmd failed reading it (%s %d): the file is damaged or not a "
		     "trace-cmd file",
		     in, WIFSIGNALED(status) ? "signal" : "status",
		     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		rm_tree(out);
		return -EINVAL;
	}
	if (res.ret) {
		snprintf(err, errlen, "%s", res.err);
		rm_tree(out);
		return res.ret;
	}
	if (t)
		*t = res.t;
	return 0;
}
