/* `ringtrace record`: the program's lifetime around a session host
 * (lib/host) — output and socket directories, running the program,
 * signals, the summary. Design: docs/design/runtime.md §8. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "kernel_hook.h"
#include "proto.h"
#include "record.h"

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *say_prefix = "ringtrace record: ";

static void say(const char *fmt, ...)
{
	va_list ap;

	fputs(say_prefix, stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* openat2 with `resolve` flags (0: like openat). Returns an fd or -errno. */
static int open_dir_at(int dirfd, const char *name, uint64_t resolve)
{
	struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC, .resolve = resolve};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS) {
		if (resolve)
			return -ENOSYS;
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	return fd < 0 ? -errno : (int)fd;
}

static bool dir_empty(int fd)
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;
	bool empty = true;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return false;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

/*
 * -o DIR: opens it, creating it and its parents (mkdir -p; DIR itself with
 * `mode`) as needed, walking one component at a time from descriptors we
 * opened. As root no component may be a symlink (RESOLVE_NO_SYMLINKS): a
 * user could otherwise point a name root is about to use at a directory
 * of their choice. A directory that existed must be empty and belong to
 * the user (as root: to root). Returns the descriptor or -1 (said why).
 */
int rtr_open_output_dir_as(const char *who, const char *path, mode_t mode)
{
	const char *saved = say_prefix;
	int r;

	say_prefix = who;
	r = rtr_open_output_dir(path, mode);
	say_prefix = saved;
	return r;
}

int rtr_open_output_dir(const char *path, mode_t mode)
{
	bool strict = geteuid() == 0, created = false;
	uint64_t resolve = strict ? RESOLVE_NO_SYMLINKS : 0;
	char buf[4096], *save = NULL, *c, *next;
	struct stat st;
	int dfd;

	if (!*path || strlen(path) >= sizeof(buf)) {
		say("cannot create the output directory %s: %s", path, strerror(ENAMETOOLONG));
		return -1;
	}
	strcpy(buf, path);
	dfd = open_dir_at(AT_FDCWD, path[0] == '/' ? "/" : ".", 0);
	for (c = strtok_r(buf, "/", &save); c && dfd >= 0; c = next) {
		int nfd;

		next = strtok_r(NULL, "/", &save);
		if (!strcmp(c, "."))
			continue;
		created = mkdirat(dfd, c, next ? 0755 : mode) == 0;
		if (!created && errno != EEXIST) {
			say("cannot create the output directory %s: %s", path, strerror(errno));
			close(dfd);
			return -1;
		}
		nfd = open_dir_at(dfd, c, resolve);
		close(dfd);
		dfd = nfd;
		if (dfd == -ELOOP || dfd == -ENOSYS) {
			say("refusing the output directory %s: as root, no part of its path may "
			    "be a symbolic link (%s is); give the real path",
			    path, c);
			return -1;
		}
	}
	if (dfd < 0) {
		say("cannot open the output directory %s: %s", path, strerror(-dfd));
		return -1;
	}
	if (!created) {
		if (fstat(dfd, &st) < 0 || st.st_uid != geteuid()) {
			say("refusing the output directory %s: it belongs to another user", path);
			close(dfd);
			return -1;
		}
		if (!dir_empty(dfd)) {
			say("output directory %s is not empty: give -o a new or empty directory, "
			    "or leave -o out for a new ./ringtrace-PROGRAM-DATE",
			    path);
			close(dfd);
			return -1;
		}
	}
	return dfd;
}

/* The output directory: -o DIR (created; must be empty) or
 * ./ringtrace-<program>-<YYYYmmdd-HHMMSS>[-N], created now. Returns its
 * descriptor (its name in out) or -1 (said why). */
static int make_output(const struct rtr_record_opts *o, const char *prog, mode_t mode, char *out,
		       size_t cap)
{
	if (o->output) {
		snprintf(out, cap, "%s", o->output);
		return rtr_open_output_dir(o->output, mode);
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
			int fd;

			if (i == 0)
				snprintf(out, cap, "./ringtrace-%s-%s", base, stamp);
			else
				snprintf(out, cap, "./ringtrace-%s-%s-%d", base, stamp, i);
			if (mkdir(out, mode) < 0) {
				if (errno == EEXIST)
					continue;
				break;
			}
			fd = open_dir_at(AT_FDCWD, out, RESOLVE_NO_SYMLINKS);
			if (fd == -ENOSYS)
				fd = open_dir_at(AT_FDCWD, out, 0);
			if (fd >= 0)
				return fd;
			errno = -fd;
			break;
		}
		say("cannot create the output directory %s: %s", out, strerror(errno));
		return -1;
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

/* Where the per-boot skew bound is kept: $XDG_RUNTIME_DIR/ringtrace/ (or
 * /run/ringtrace/ for root without it), a directory of ours that nobody
 * else can write; else nowhere (the bound is measured at each start). */
static const char *skew_cache_path(char *buf, size_t cap)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (base && *base && base[0] == '/')
		n = snprintf(buf, cap, "%s/ringtrace", base);
	else if (geteuid() == 0)
		n = snprintf(buf, cap, "/run/ringtrace");
	else
		return NULL;
	if (n <= 0 || (size_t)n + 16 > cap)
		return NULL;
	if (mkdir(buf, 0700) && errno != EEXIST)
		return NULL;
	if (lstat(buf, &st) || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022))
		return NULL;
	strcat(buf, "/clock-skew");
	return buf;
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
	char outdir[4096], sockdir[128], sockpath[160], skewpath[256];
	sigset_t mask, oldmask;
	int epfd = -1, sigfd = -1, outfd = -1, errpipe[2] = {-1, -1};
	int status = 0, ret = 1;
	pid_t child = -1;
	bool child_done = false, stop_waiting = false, have_nofile;
	struct rtr_rk *rk = NULL; /* --kernel/--probe (kernel_hook.c) */
	bool k_failed = false, no_prog = !argv || !argv[0];
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
	outfd = make_output(o, no_prog ? "kernel" : argv[0], o->group_readable ? 0750 : 0700, outdir, sizeof(outdir));
	if (outfd < 0)
		return 1;
	if (make_sock_dir(sockdir, sizeof(sockdir))) {
		say("cannot create the socket directory: %s", strerror(errno));
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
	hc.loglevel_sel = o->loglevel_sel;
	hc.loglevel = o->loglevel;
	hc.overwrite = o->overwrite;
	hc.subbuf_size = o->subbuf_size;
	hc.num_subbuf = o->num_subbuf;
	hc.mem_budget = o->mem_budget;
	hc.trace_dirfd = outfd;
	hc.trace_dir = outdir;
	hc.file_mode = o->group_readable ? 0640 : 0600;
	hc.log.fn = log_line;
	hc.verbose = o->verbose;
	hc.eager_drain = o->eager_drain;
	hc.counters = o->kernel ? o->kernel->counters : 0; /* --context (kernel_hook.c) */
	hc.ctx_mask = o->kernel ? o->kernel->ctx_mask : 0;
	hc.skew_cache = skew_cache_path(skewpath, sizeof(skewpath));
	h = rtr_host_create(&hc, sockpath);
	if (!h)
		goto out_sig;
	{
		struct epoll_event e = {.events = EPOLLIN, .data.fd = sigfd};

		epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &e);
		e.data.fd = rtr_host_fd(h);
		epoll_ctl(epfd, EPOLL_CTL_ADD, rtr_host_fd(h), &e);
	}
	rk = rtr_rk_open(o->kernel, outfd, outdir, o->verbose, o->group_readable, &k_failed);
	if (no_prog) {
		/* --kernel alone: the whole system until a signal */
		if (!rk)
			goto out_sig;
		rtr_rk_start(rk, -1);
		if (!o->quiet)
			say("recording kernel events into %s until SIGINT or SIGTERM", outdir);
		goto loop;
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
		rtr_rk_child_wait(rk);
		execvp(argv[0], argv);
		e = errno;
		if (write(errpipe[1], &e, sizeof(e)) < 0) {
			/* nothing to report it with */
		}
		_exit(127);
	}
	close(errpipe[1]);
	errpipe[1] = -1;
	rtr_rk_start(rk, child);
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
loop:
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
					if (child_done || no_prog) {
						/* --wait-all, --kernel alone: any
						 * signal ends the wait. */
						child_done = true;
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
	rtr_rk_stop(rk);
	rtr_host_finish(h);
	rtr_host_totals(h, &t);
	ret = 0;
	if (WIFSIGNALED(status))
		ret = 128 + WTERMSIG(status);
	else if (WIFEXITED(status))
		ret = WEXITSTATUS(status);
	if (rtr_rk_finish(rk, h) && ret == 0)
		ret = 1;
	/* Not everything recorded reached the disk: say why, whatever -q,
	 * and fail (the program's own failure status is kept). */
	if (t.write_errors) {
		say("could not write all of the trace to %s: %s", outdir,
		    strerror(t.write_errno ? t.write_errno : EIO));
		if (t.unwritten)
			say("%llu %s could not be written (no room until the end)",
			    (unsigned long long)t.unwritten,
			    plural(t.unwritten, "event", "events"));
		if (t.disk_lost)
			say("%llu %s discarded while the disk was full (counted in the trace)",
			    (unsigned long long)t.disk_lost,
			    plural(t.disk_lost, "event was", "events were"));
		if (t.dropped)
			say("%llu %s in packets that could not be written (counted in the trace)",
			    (unsigned long long)t.dropped, plural(t.dropped, "event", "events"));
		if (t.meta_failed)
			say("%u %s no final metadata (see above)", t.meta_failed,
			    plural(t.meta_failed, "trace has", "traces have"));
		if (ret == 0)
			ret = 1;
	}
	if (!o->quiet && no_prog)
		rtr_rk_summary(rk);
	if (!o->quiet && !no_prog) {
		uint64_t not_in = t.dropped + t.unwritten;
		uint64_t held = t.events > not_in ? t.events - not_in : 0;

		if (WIFSIGNALED(status))
			say("%s was killed by signal %d (%s)", argv[0], WTERMSIG(status),
			    strsignal(WTERMSIG(status)));
		if (t.procs)
			say("trace written to %s (%u process %s)", outdir, t.procs,
			    plural(t.procs, "trace", "traces"));
		else if (t.events)
			say("nothing could be written; %s is empty", outdir);
		else if (!rk)
			say("no event recorded; %s is empty", outdir);
		say("%llu %s recorded, %llu lost", (unsigned long long)held,
		    plural(held, "event", "events"), (unsigned long long)(t.lost + not_in));
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
		if (t.bad_counters)
			say("%u %s impossible counters (see above): left out of these numbers",
			    t.bad_counters, plural(t.bad_counters, "buffer had", "buffers had"));
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
		if (t.lost > t.disk_lost && !o->overwrite)
			say("to lose fewer events, use bigger buffers (--subbuf-size, "
			    "--num-subbuf; now %u x %llu bytes per CPU)",
			    o->num_subbuf, (unsigned long long)o->subbuf_size);
	}
	if (!o->quiet && !no_prog)
		rtr_rk_summary(rk);
	rtr_host_destroy(h);
	h = NULL;
out_sig:
	if (h)
		rtr_host_destroy(h);
	rtr_rk_destroy(rk);
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
