/* ringtraced: the session daemon — run directory, lock, daemonizing, the
 * event loop and the control clients. Design: docs/design/daemon.md §1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "armed.h"
#include "ctl.h"
#include "dwake.h"
#include "rundir.h"
#include "sessiond.h"

#ifndef RTR_VERSION_STRING
#define RTR_VERSION_STRING "0.1.0"
#endif

#define CLIENT_IDLE_NS (5000ull * 1000000u) /* a client must ask within 5 s */
#define MAX_CLIENTS    256

static bool log_verbose;

void sd_log(const char *fmt, ...)
{
	char line[1200];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = (int)strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S ", &tm);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere to say it */
	}
}

static void host_log(void *arg, enum rtr_host_log_level level, const char *msg)
{
	(void)arg;
	if (level == RTR_HOST_LOG_INFO && !log_verbose)
		return;
	sd_log("%s", msg);
}

/* ------------------------------------------------------------------------
 * The run directory
 * ------------------------------------------------------------------------ */

/* Creates (or checks) the run directory: ours, a directory, not a symlink,
 * nobody else may write into it. */
static int setup_rundir(struct sd *d, char *why, size_t whylen)
{
	mode_t mode = d->root ? 0755 : 0700;
	struct stat st;

	if (mkdir(d->rundir, mode) < 0 && errno != EEXIST) {
		snprintf(why, whylen, "cannot create %s: %s", d->rundir, strerror(errno));
		return -1;
	}
	if (lstat(d->rundir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
		snprintf(why, whylen,
			 "%s is not a directory of this user (a symlink, or planted by another "
			 "user?); remove it",
			 d->rundir);
		return -1;
	}
	if ((st.st_mode & 0777) != mode && chmod(d->rundir, mode) < 0) {
		snprintf(why, whylen, "cannot set the mode of %s: %s", d->rundir, strerror(errno));
		return -1;
	}
	return 0;
}

/* One daemon per run directory: an exclusive lock on daemon.lock, which
 * holds the pid. Returns the descriptor, -1 (another runs: *other = its
 * pid) or -2 (error). */
static int take_lock(struct sd *d, pid_t *other, char *why, size_t whylen)
{
	char path[160], buf[32];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", d->rundir, RTR_DAEMON_LOCK);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
		return -2;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = 0;
		*other = (pid_t)atoi(buf);
		close(fd);
		return -1;
	}
	return fd;
}

static void write_pid(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) < 0) {
		/* the lock still holds; only the pid is not shown */
	}
}

/* The control socket, bound under a temporary name and renamed once it
 * listens (a client never finds it not listening). */
static int listen_ctl(struct sd *d, char *why, size_t whylen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char tmp[160];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.ctl.%d", d->rundir, (int)getpid());
	snprintf(d->sock_ctl, sizeof(d->sock_ctl), "%s/%s", d->rundir, RTR_CTL_SOCK);
	if (strlen(tmp) >= sizeof(sa.sun_path)) {
		snprintf(why, whylen, "run directory path too long: %s", d->rundir);
		return -1;
	}
	strcpy(sa.sun_path, tmp);
	unlink(tmp);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(why, whylen, "cannot bind %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* root: members of the tracing group may control it */
	if (d->root && d->tracing_gid != (gid_t)-1) {
		if (chown(tmp, 0, d->tracing_gid) < 0 || chmod(tmp, 0660) < 0)
			sd_log("cannot give the tracing group the control socket: %s",
			       strerror(errno));
	} else {
		chmod(tmp, 0600);
	}
	if (listen(fd, 64) < 0 || rename(tmp, d->sock_ctl) < 0) {
		snprintf(why, whylen, "cannot listen on %s: %s", d->sock_ctl, strerror(errno));
		unlink(tmp);
		close(fd);
		return -1;
	}
	return fd;
}

/* ------------------------------------------------------------------------
 * Clients
 * ------------------------------------------------------------------------ */

static void ep_add(struct sd *d, int fd, void *ptr)
{
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = ptr};

	epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &e);
}

void sd_client_free(struct sd *d, struct sd_client *c)
{
	struct sd_client **pp;

	if (c->busy) { /* the operation's callback frees it */
		c->gone = true;
		if (c->fd >= 0) {
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			c->fd = -1;
		}
		return;
	}
	for (pp = &d->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->fd >= 0) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	d->nclients--;
	free(c);
}

/* May this peer control the daemon? Its own user; for root's daemon also
 * root and members of the tracing group. */
static bool peer_allowed(struct sd *d, int fd, struct ucred *cr)
{
	socklen_t l = sizeof(*cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &l) < 0)
		return false;
	if (cr->uid == geteuid())
		return true;
	if (!d->root)
		return false;
	if (cr->uid == 0)
		return true;
	if (d->tracing_gid != (gid_t)-1) {
		gid_t groups[256];
		socklen_t gl = sizeof(groups);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl) == 0)
			for (size_t i = 0; i < gl / sizeof(gid_t); i++)
				if (groups[i] == d->tracing_gid)
					return true;
		if (cr->gid == d->tracing_gid)
			return true;
	}
	return false;
}

static void accept_clients(struct sd *d)
{
	for (int k = 0; k < 16; k++) {
		int fd = accept4(d->ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct sd_client *c;
		struct ucred cr;

		if (fd < 0)
			return;
		if (d->nclients >= MAX_CLIENTS || !peer_allowed(d, fd, &cr)) {
			struct sd_client tmp = {.fd = fd};

			if (d->nclients < MAX_CLIENTS) {
				sd_reply_begin(d, &tmp, -EPERM, NULL);
				rtr_ctl_put_str(&d->out, RTR_CTA_ERROR,
						"this session daemon belongs to another user");
				if (rtr_ctl_finish(&d->out) == 0)
					rtr_proto_send(fd, &d->out, NULL, 0, MSG_DONTWAIT);
				sd_log("refused a control connection from uid %u (pid %d)",
				       (unsigned)cr.uid, (int)cr.pid);
			}
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->uid = cr.uid;
		c->pid = cr.pid;
		c->deadline = rtr_proto_now_ns() + CLIENT_IDLE_NS;
		c->next = d->clients;
		d->clients = c;
		d->nclients++;
		ep_add(d, fd, c);
	}
}

static void client_read(struct sd *d, struct sd_client *c)
{
	int fds[RTR_PROTO_MAX_FDS];
	struct rtr_ctl_msg *m;
	unsigned nfds;
	char err[200];
	ssize_t n;

	if (c->busy) {
		/* one request at a time: a second one waits; EOF means the
		 * client went away (its answer goes nowhere) */
		char b;

		if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
			sd_client_free(d, c);
		return;
	}
	n = rtr_proto_recv(c->fd, d->in, sizeof(d->in), fds, &nfds, MSG_DONTWAIT);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		sd_client_free(d, c);
		return;
	}
	m = malloc(sizeof(*m));
	if (!m) {
		rtr_proto_close_fds(fds, nfds);
		sd_client_free(d, c);
		return;
	}
	if (rtr_ctl_parse(d->in, (size_t)n, nfds, m, err, sizeof(err)) || m->type == RTR_CTL_REPLY) {
		rtr_proto_close_fds(fds, nfds);
		sd_log("bad control message from pid %d: %s", (int)c->pid,
		       err[0] ? err : "a reply");
		sd_client_free(d, c);
		free(m);
		return;
	}
	c->seq = m->seq;
	c->type = m->type;
	c->deadline = UINT64_MAX;
	sd_command(d, c, m, nfds ? fds[0] : -1);
	free(m);
}

static void clients_tick(struct sd *d)
{
	uint64_t now = rtr_proto_now_ns();

	for (struct sd_client *c = d->clients, *n; c; c = n) {
		n = c->next;
		if (!c->busy && now > c->deadline)
			sd_client_free(d, c);
	}
}

/* ------------------------------------------------------------------------
 * Start and the loop
 * ------------------------------------------------------------------------ */

/* The armed-sessions file (docs/design/daemon.md §1.3): what programs that
 * start arm themselves. Rewritten (atomically) whenever it changes;
 * removed when nothing records. */
void sd_write_armed(struct sd *d)
{
	uint64_t gen = rtr_host_armed_gen(d->h);
	struct rtr_armed *a;
	char path[160], tmp[160];
	int fd;

	if (gen == d->armed_gen && d->armed_written)
		return;
	a = malloc(sizeof(*a));
	if (!a)
		return;
	rtr_host_armed(d->h, a);
	snprintf(path, sizeof(path), "%s/%s", d->rundir, RTR_ARMED_FILE);
	if (!a->nsessions) {
		unlink(path);
		sd_state_armed(d, NULL, 0);
		goto done;
	}
	if (rtr_armed_encode(a, &d->armed_out)) {
		sd_log("the armed-sessions file does not fit 64 KiB; programs starting now wait "
		       "for the daemon");
		unlink(path);
		goto done;
	}
	snprintf(tmp, sizeof(tmp), "%s/.armed.%d", d->rundir, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, d->root ? 0644 : 0600);
	if (fd < 0 || fchmod(fd, d->root ? 0644 : 0600) < 0 ||
	    write(fd, d->armed_out.data, d->armed_out.len) != (ssize_t)d->armed_out.len ||
	    close(fd) < 0 ||
	    rename(tmp, path) < 0) {
		sd_log("cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	sd_state_armed(d, d->armed_out.data, d->armed_out.len);
done:
	d->armed_gen = gen;
	d->armed_written = true;
	free(a);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: ringtraced [-f] [-v] [--rundir DIR] [--mem-limit N]\n"
		   "\n"
		   "The ringtrace session daemon: one per user (root's serves the system).\n"
		   "Control it with `ringtrace create`, `enable-event`, `start`, ... (they\n"
		   "start it when none runs). Programs linked with libringtrace find it by\n"
		   "itself, whether they started before or after it.\n"
		   "\n"
		   "  -f, --foreground  stay in the foreground, log on stderr\n"
		   "  -v, --verbose     log what happens with each process\n"
		   "  --rundir DIR      run directory (default: $XDG_RUNTIME_DIR/ringtrace,\n"
		   "                    /run/ringtrace for root; RINGTRACE_RUNDIR)\n"
		   "  --mem-limit N     buffer memory for all processes (default 1G)\n");
}


int main(int argc, char **argv)
{
	static const struct option opts[] = {{"foreground", no_argument, NULL, 'f'},
					     {"verbose", no_argument, NULL, 'v'},
					     {"rundir", required_argument, NULL, 'r'},
					     {"mem-limit", required_argument, NULL, 'm'},
					     {"help", no_argument, NULL, 'h'},
					     {"version", no_argument, NULL, 'V'},
					     {NULL, 0, NULL, 0}};
	struct sd *d = calloc(1, sizeof(*d));
	struct rtr_host_config hc = {0};
	char why[512] = "", tmp_app[160];
	bool foreground = false;
	int ready[2] = {-1, -1};
	uint64_t mem = 0;
	sigset_t mask;
	pid_t other = 0;
	int c, rc = 1;

	if (!d)
		return 1;
	d->ctl_fd = d->epfd = d->sig_fd = d->lock_fd = d->log_fd = d->state_fd = -1;
	while ((c = getopt_long(argc, argv, "fvh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			foreground = true;
			break;
		case 'v':
			d->verbose = log_verbose = true;
			break;
		case 'r':
			if (optarg[0] != '/' || strlen(optarg) > 80) {
				fprintf(stderr, "ringtraced: --rundir wants an absolute path of at "
						"most 80 bytes\n");
				return 2;
			}
			snprintf(d->rundir, sizeof(d->rundir), "%s", optarg);
			break;
		case 'm':
			if (rtr_size_parse(optarg, &mem) || !mem) {
				fprintf(stderr, "ringtraced: bad --mem-limit %s\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ringtraced %s\n", RTR_VERSION_STRING);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	d->root = geteuid() == 0;
	d->tracing_gid = (gid_t)-1;
	if (d->root) {
		struct group *g = getgrnam("tracing");

		if (g)
			d->tracing_gid = g->gr_gid;
	}
	if (!d->rundir[0] && rtr_rundir_user(d->rundir, sizeof(d->rundir))) {
		fprintf(stderr, "ringtraced: run directory path too long\n");
		return 1;
	}
	if (strlen(d->rundir) > 80) {
		fprintf(stderr, "ringtraced: run directory path too long: %s\n", d->rundir);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!foreground) {
		pid_t pid;
		char msg[600];
		ssize_t n;

		/* The first process waits until the daemon listens (or says
		 * why it cannot), so that whoever started it can use it. */
		if (pipe2(ready, O_CLOEXEC) < 0) {
			perror("ringtraced: pipe");
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			perror("ringtraced: fork");
			return 1;
		}
		if (pid > 0) {
			close(ready[1]);
			n = read(ready[0], msg, sizeof(msg) - 1);
			msg[n > 0 ? n : 0] = 0;
			if (!strncmp(msg, "ok ", 3)) {
				printf("%s\n", msg + 3);
				return 0;
			}
			fprintf(stderr, "ringtraced: %s\n", n > 0 ? msg : "could not start");
			return !strncmp(msg, "already", 7) ? 3 : 1;
		}
		close(ready[0]);
		setsid();
		pid = fork();
		if (pid < 0)
			_exit(1);
		if (pid > 0)
			_exit(0);
	}
	if (setup_rundir(d, why, sizeof(why)))
		goto fail;
	d->lock_fd = take_lock(d, &other, why, sizeof(why));
	if (d->lock_fd == -1) {
		snprintf(why, sizeof(why), "already running in %s (pid %d)", d->rundir, (int)other);
		rc = 3;
		goto fail;
	}
	if (d->lock_fd < 0)
		goto fail;
	write_pid(d->lock_fd);
	{
		int r = sd_state_init(d);

		if (r)
			sd_log("no state directory in %s (%s): a crash of this daemon leaves "
			       "`ringtrace recover --all` nothing to find",
			       d->rundir, strerror(-r));
	}
	if (!foreground) {
		char path[160];
		int fd = -1, null = open("/dev/null", O_RDWR | O_CLOEXEC);

		snprintf(path, sizeof(path), "%s/%s", d->rundir, RTR_DAEMON_LOG);
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		if (null >= 0)
			close(null);
		if (chdir("/") < 0) {
			/* stays where it was */
		}
	}
	{
		/* each traced process holds descriptors here (buffers, files) */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	d->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->sig_fd < 0 || d->epfd < 0) {
		snprintf(why, sizeof(why), "setup: %s", strerror(errno));
		goto fail;
	}
	hc.daemon = true;
	hc.any_uid = d->root;
	hc.sock_mode = d->root ? 0666 : 0600;
	hc.mem_budget = mem;
	hc.log.fn = host_log;
	hc.verbose = d->verbose;
	snprintf(tmp_app, sizeof(tmp_app), "%s/.app.%d", d->rundir, (int)getpid());
	snprintf(d->sock_app, sizeof(d->sock_app), "%s/%s", d->rundir, RTR_APP_SOCK);
	unlink(tmp_app);
	d->h = rtr_host_create(&hc, tmp_app);
	if (!d->h) {
		snprintf(why, sizeof(why), "cannot start the session host (see %s/%s)", d->rundir,
			 RTR_DAEMON_LOG);
		goto fail;
	}
	/* before anyone can connect: a dead daemon's sessions again */
	sd_state_reload(d);
	d->ctl_fd = listen_ctl(d, why, sizeof(why));
	if (d->ctl_fd < 0)
		goto fail;
	/* Programs watching the directory see app.sock appear listening. */
	if (rtr_host_move_socket(d->h, d->sock_app)) {
		snprintf(why, sizeof(why), "cannot create %s: %s", d->sock_app, strerror(errno));
		goto fail;
	}
	ep_add(d, rtr_host_fd(d->h), d->h);
	ep_add(d, d->ctl_fd, &d->ctl_fd);
	ep_add(d, d->sig_fd, &d->sig_fd);
	sd_log("ringtraced %s started (pid %d) in %s", RTR_VERSION_STRING, (int)getpid(),
	       d->rundir);
	/* Programs that found no daemon sleep until one listens (dwake.h):
	 * this user's, and every user's for root's daemon. */
	rtr_dwake_signal(geteuid(), d->root);
	if (ready[1] >= 0) {
		char msg[300];
		int n = snprintf(msg, sizeof(msg), "ok ringtraced started (pid %d, %s)",
				 (int)getpid(), d->rundir);

		if (write(ready[1], msg, (size_t)n) < 0) {
			/* the starter went away */
		}
		close(ready[1]);
		ready[1] = -1;
	} else {
		fprintf(stderr, "ringtraced: listening in %s (pid %d)\n", d->rundir,
			(int)getpid());
	}

	while (!d->stop) {
		struct epoll_event ev[32];
		int n = epoll_wait(d->epfd, ev, 32, 1000);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;

			if (p == d->h) {
				rtr_host_run(d->h);
			} else if (p == &d->ctl_fd) {
				accept_clients(d);
			} else if (p == &d->sig_fd) {
				struct signalfd_siginfo si;

				while (read(d->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					sd_log("signal %d: finishing every session and stopping",
					       (int)si.ssi_signo);
					d->stop = true;
				}
			} else {
				struct sd_client *cl;

				/* the client may have been freed by an earlier
				 * event of this batch */
				for (cl = d->clients; cl && cl != p; cl = cl->next)
					;
				if (cl)
					client_read(d, cl);
			}
		}
		clients_tick(d);
		sd_write_armed(d);
		sd_state_sync(d);
	}
	rc = 0;
	unlink(d->sock_ctl);
	{
		char path[160];

		snprintf(path, sizeof(path), "%s/%s", d->rundir, RTR_ARMED_FILE);
		unlink(path);
	}
	rtr_host_finish(d->h);
	sd_state_clear(d); /* every trace is complete */
	sd_log("stopped");
fail:
	if (why[0]) {
		if (ready[1] >= 0) {
			if (write(ready[1], why, strlen(why)) < 0) {
				/* nobody to tell */
			}
		} else {
			fprintf(stderr, "ringtraced: %s\n", why);
		}
		if (d->lock_fd >= 0)
			sd_log("%s", why);
	}
	while (d->clients) {
		d->clients->busy = false;
		sd_client_free(d, d->clients);
	}
	rtr_host_destroy(d->h);
	if (d->ctl_fd >= 0) {
		close(d->ctl_fd);
		unlink(d->sock_ctl);
	}
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	free(d);
	return rc;
}
