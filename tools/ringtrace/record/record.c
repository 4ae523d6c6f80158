/* `ringtrace record`: the program's lifetime around a session host
 * (lib/host) — output and socket directories, running the program,
 * signals, the summary. Design: docs/design/runtime.md §8. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "proto.h"
#include "record.h"

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

/* mkdir -p */
static int mkdirs(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static bool dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;

	if (!d)
		return false;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

/* The output directory: -o DIR (created; must be empty) or
 * ./ringtrace-<program>-<YYYYmmdd-HHMMSS>[-N]. */
static int make_output(const struct rtr_record_opts *o, const char *prog, char *out, size_t cap)
{
	if (o->output) {
		int r;

		if (strlen(o->output) >= cap)
			return -ENAMETOOLONG;
		strcpy(out, o->output);
		r = mkdirs(out);
		if (r)
			return r;
		if (!dir_empty(out)) {
			say("output directory %s is not empty", out);
			return -EEXIST;
		}
		return 0;
	} else {
		char base[64], stamp[32], copy[4096];
		time_t now = time(NULL);
		struct tm tm;

		snprintf(copy, sizeof(copy), "%s", prog);
		snprintf(base, sizeof(base), "%s", basename(copy));
		for (char *c = base; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.'))
				*c = '_';
		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
		for (int i = 0; i < 100; i++) {
			if (i == 0)
				snprintf(out, cap, "./ringtrace-%s-%s", base, stamp);
			else
				snprintf(out, cap, "./ringtrace-%s-%s-%d", base, stamp, i);
			if (mkdir(out, 0755) == 0)
				return 0;
			if (errno != EEXIST)
				return -errno;
		}
		return -EEXIST;
	}
}

/* A private directory for the host socket. */
static int make_sock_dir(char *dir, size_t cap)
{
	const char *base = getenv("XDG_RUNTIME_DIR");

	if (!base || !*base || access(base, W_OK) != 0 || strlen(base) > 60)
		base = "/tmp";
	snprintf(dir, cap, "%s/ringtrace-record-XXXXXX", base);
	return mkdtemp(dir) ? 0 : -errno;
}

/* The host's messages, as record's own. */
static void log_line(void *arg, enum rtr_host_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	say("%s", msg);
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

int rtr_record_run(const struct rtr_record_opts *o, char *const argv[])
{
	struct rtr_host_config hc = {0};
	struct rtr_host_totals t;
	struct rtr_host *h = NULL;
	char outdir[4096], sockdir[128], sockpath[160];
	sigset_t mask, oldmask;
	int epfd = -1, sigfd = -1, outfd = -1, errpipe[2] = {-1, -1};
	int status = 0, ret = 1;
	pid_t child = -1;
	bool child_done = false, stop_waiting = false, have_nofile;
	struct rlimit nofile;

	sockdir[0] = 0;
	/* Each traced process holds a memfd and two files per CPU here (the
	 * program gets the original limit back). */
	have_nofile = getrlimit(RLIMIT_NOFILE, &nofile) == 0;
	if (have_nofile && nofile.rlim_cur < nofile.rlim_max) {
		struct rlimit want = nofile;

		want.rlim_cur = nofile.rlim_max > 65536 ? 65536 : nofile.rlim_max;
		if (want.rlim_cur > nofile.rlim_cur)
			setrlimit(RLIMIT_NOFILE, &want);
	}
	if (make_output(o, argv[0], outdir, sizeof(outdir))) {
		say("cannot create the output directory: %s", strerror(errno ? errno : EEXIST));
		return 1;
	}
	outfd = open(outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (outfd < 0 || make_sock_dir(sockdir, sizeof(sockdir))) {
		say("cannot create the output or socket directory: %s", strerror(errno));
		goto out;
	}
	snprintf(sockpath, sizeof(sockpath), "%s/host.sock", sockdir);

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, &oldmask);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sigfd < 0 || epfd < 0) {
		say("setup: %s", strerror(errno));
		goto out_sig;
	}

	hc.patterns = o->patterns;
	hc.npatterns = o->npatterns;
	hc.overwrite = o->overwrite;
	hc.subbuf_size = o->subbuf_size;
	hc.num_subbuf = o->num_subbuf;
	hc.mem_budget = o->mem_budget;
	hc.trace_dirfd = outfd;
	hc.trace_dir = outdir;
	hc.log.fn = log_line;
	hc.verbose = o->verbose;
	hc.eager_drain = o->eager_drain;
	h = rtr_host_create(&hc, sockpath);
	if (!h)
		goto out_sig;
	{
		struct epoll_event e = {.events = EPOLLIN, .data.fd = sigfd};

		epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &e);
		e.data.fd = rtr_host_fd(h);
		epoll_ctl(epfd, EPOLL_CTL_ADD, rtr_host_fd(h), &e);
	}
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		say("pipe: %s", strerror(errno));
		goto out_sig;
	}
	child = fork();
	if (child < 0) {
		say("fork: %s", strerror(errno));
		goto out_sig;
	}
	if (child == 0) {
		int e;

		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (have_nofile)
			setrlimit(RLIMIT_NOFILE, &nofile);
		setenv(RTR_HOST_SOCKET_ENV, sockpath, 1);
		execvp(argv[0], argv);
		e = errno;
		if (write(errpipe[1], &e, sizeof(e)) < 0) {
			/* nothing to report it with */
		}
		_exit(127);
	}
	close(errpipe[1]);
	errpipe[1] = -1;
	{
		int e = 0;
		ssize_t n;

		do
			n = read(errpipe[0], &e, sizeof(e));
		while (n < 0 && errno == EINTR);
		if (n == (ssize_t)sizeof(e)) {
			say("cannot run %s: %s", argv[0], strerror(e));
			waitpid(child, NULL, 0);
			child = -1;
			ret = 127;
			goto out_sig;
		}
	}

	/* Until the program exits; with --wait-all, until every traced
	 * process it started has exited too (or a signal tells us to stop). */
	while (!child_done || (o->wait_all && !stop_waiting && rtr_host_active(h) > 0)) {
		struct epoll_event ev[32];
		int n = epoll_wait(epfd, ev, 32, 1000);

		if (n < 0 && errno != EINTR) {
			say("epoll: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd != sigfd) {
				rtr_host_run(h);
			} else {
				struct signalfd_siginfo si;

				while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (si.ssi_signo == SIGCHLD) {
						if (!child_done &&
						    waitpid(child, &status, WNOHANG) == child) {
							child_done = true;
							rtr_host_process_exited(h, child);
							if (o->wait_all && rtr_host_active(h) > 0 &&
							    o->verbose)
								say("%s exited; waiting for "
								    "the %u traced process(es) "
								    "it left",
								    argv[0], rtr_host_active(h));
						}
						continue;
					}
					if (child_done) {
						/* --wait-all: any signal ends the wait. */
						stop_waiting = true;
						continue;
					}
					/* A signal from the terminal already reached
					 * the program (same process group); one sent
					 * to us is passed on. */
					if (si.ssi_code == SI_USER || si.ssi_code == SI_QUEUE)
						if ((pid_t)si.ssi_pid != child)
							kill(child, (int)si.ssi_signo);
				}
			}
		}
	}
	if (rtr_host_finish(h) == 0)
		ret = 0;
	rtr_host_totals(h, &t);
	if (WIFSIGNALED(status))
		ret = 128 + WTERMSIG(status);
	else if (WIFEXITED(status))
		ret = WEXITSTATUS(status);
	if (!o->quiet) {
		if (WIFSIGNALED(status))
			say("%s was killed by signal %d (%s)", argv[0], WTERMSIG(status),
			    strsignal(WTERMSIG(status)));
		if (t.procs)
			say("trace written to %s (%u process %s)", outdir, t.procs,
			    plural(t.procs, "trace", "traces"));
		else
			say("no event recorded; %s is empty", outdir);
		say("%llu %s recorded, %llu lost", (unsigned long long)t.events,
		    plural(t.events, "event", "events"), (unsigned long long)t.lost);
		if (t.overwritten)
			say("%llu %s overwritten by newer events (overwrite mode)",
			    (unsigned long long)t.overwritten,
			    plural(t.overwritten, "sub-buffer", "sub-buffers"));
		if (t.torn_bytes)
			say("%llu bytes of records being written when a process died were dropped",
			    (unsigned long long)t.torn_bytes);
		if (t.damaged)
			say("%u %s found damaged (see above); the rest of the trace is kept",
			    t.damaged, plural(t.damaged, "buffer", "buffers"));
		if (t.bad_conns)
			say("%u %s refused for not speaking the protocol", t.bad_conns,
			    plural(t.bad_conns, "connection", "connections"));
		if (t.refused)
			say("%u %s not traced (see above)", t.refused,
			    plural(t.refused, "process", "processes"));
		if (o->verbose && t.packets)
			say("%llu %s (%.1f MB) written, %llu of them by the idle-priority drain "
			    "thread (%llu taken back from it)",
			    (unsigned long long)t.packets, plural(t.packets, "packet", "packets"),
			    (double)t.bytes / 1e6, (unsigned long long)t.bg_packets,
			    (unsigned long long)t.taken_back);
		if (t.lost && !o->overwrite)
			say("to lose fewer events, use bigger buffers (--subbuf-size, "
			    "--num-subbuf; now %u x %llu bytes per CPU)",
			    o->num_subbuf, (unsigned long long)o->subbuf_size);
	}
	rtr_host_destroy(h);
	h = NULL;
out_sig:
	if (h)
		rtr_host_destroy(h);
	if (child > 0 && !child_done) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	if (errpipe[0] >= 0)
		close(errpipe[0]);
	if (errpipe[1] >= 0)
		close(errpipe[1]);
	if (sigfd >= 0)
		close(sigfd);
	if (epfd >= 0)
		close(epfd);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
out:
	if (sockdir[0]) {
		unlink(sockpath);
		rmdir(sockdir);
	}
	if (outfd >= 0)
		close(outfd);
	return ret;
}
