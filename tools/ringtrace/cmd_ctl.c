/* ringtrace create, enable-channel, enable-event, disable-event,
 * add-context, start, stop, snapshot record, rotate, destroy, list, status,
 * daemon: the session daemon's control commands, named and spelled as
 * LTTng's. Each command is one request to the user's ringtraced (started
 * when none runs, and said so); its answer names the session and the
 * daemon. Design: docs/design/daemon.md §6. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctl.h"
#include "record.h"
#include "rundir.h"

#define REPLY_TIMEOUT_MS 120000

static const char *cmd_name = "ringtrace";

static void err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ringtrace %s: error: ", cmd_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ------------------------------------------------------------------------
 * Reaching the daemon
 * ------------------------------------------------------------------------ */

static int try_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* ringtraced next to this program, else on the PATH. */
static void daemon_path(char *out, size_t cap)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = 0;
		snprintf(out, cap, "%s/ringtraced", dirname(self));
		if (access(out, X_OK) == 0)
			return;
	}
	snprintf(out, cap, "ringtraced");
}

/* Starts ringtraced (it returns once it listens). Returns 0 or -1. */
static int start_daemon(const char *rundir)
{
	char path[PATH_MAX], msg[512] = "";
	int pfd[2], st = 0;
	pid_t pid;
	ssize_t n, got = 0;

	daemon_path(path, sizeof(path));
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		dup2(pfd[1], STDERR_FILENO);
		execlp(path, path, (char *)NULL);
		fprintf(stderr, "cannot run %s: %s", path, strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], msg + got, sizeof(msg) - 1 - (size_t)got)) > 0)
		got += n;
	msg[got] = 0;
	close(pfd[0]);
	waitpid(pid, &st, 0);
	while (got && msg[got - 1] == '\n')
		msg[--got] = 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		fprintf(stderr, "ringtrace: no session daemon was running; %s\n", msg);
		return 0;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
		return 0; /* another one started meanwhile */
	err("could not start the session daemon in %s: %s", rundir, msg[0] ? msg : "it failed");
	return -1;
}

static int connect_daemon(void)
{
	char dir[108], path[160];
	int fd;

	if (rtr_rundir_user(dir, sizeof(dir))) {
		err("run directory path too long");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, RTR_CTL_SOCK);
	fd = try_connect(path);
	if (fd >= 0)
		return fd;
	if (fd != -ENOENT && fd != -ECONNREFUSED) {
		err("cannot reach the session daemon at %s: %s", path, strerror(-fd));
		return -1;
	}
	if (start_daemon(dir))
		return -1;
	fd = try_connect(path);
	if (fd < 0)
		err("cannot reach the session daemon at %s: %s", path, strerror(-fd));
	return fd;
}

/* Sends the request in o (with fd when >= 0), prints the answer. Returns
 * the command's exit status. */
static int transact(struct rtr_proto_out *o, int fd)
{
	static uint8_t buf[RTR_PROTO_MAX_MSG];
	struct rtr_ctl_msg *m = malloc(sizeof(*m));
	int s = connect_daemon(), fds[RTR_PROTO_MAX_FDS], rc = 1, r;
	unsigned nfds = 0;
	char e[200];
	ssize_t n;
	uint64_t status = 0;
	uint32_t it = 0;
	const char *line;

	if (s < 0 || !m) {
		free(m);
		if (s >= 0)
			close(s);
		return 1;
	}
	if (rtr_ctl_finish(o)) {
		err("request too long");
		goto out;
	}
	/* A daemon that refuses this connection (another user's) answers at
	 * once and closes: the request may then fail with EPIPE, and the
	 * reply is still to be read. */
	r = rtr_proto_send(s, o, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, MSG_NOSIGNAL);
	if (r && r != -EPIPE && r != -ECONNRESET) {
		err("cannot send the request: %s", strerror(-r));
		goto out;
	}
	{
		struct pollfd pf = {.fd = s, .events = POLLIN};

		if (poll(&pf, 1, REPLY_TIMEOUT_MS) <= 0) {
			err("the session daemon did not answer in %d s", REPLY_TIMEOUT_MS / 1000);
			goto out;
		}
	}
	n = rtr_proto_recv(s, buf, sizeof(buf), fds, &nfds, 0);
	/* A daemon that closed with our request unread makes the kernel
	 * report ECONNRESET once, ahead of the reply it queued before. */
	if (n == -ECONNRESET)
		n = rtr_proto_recv(s, buf, sizeof(buf), fds, &nfds, MSG_DONTWAIT);
	rtr_proto_close_fds(fds, nfds);
	if (n <= 0) {
		err("the session daemon closed the connection");
		goto out;
	}
	if (rtr_ctl_parse(buf, (size_t)n, 0, m, e, sizeof(e)) || m->type != RTR_CTL_REPLY) {
		err("bad answer from the session daemon: %s", e[0] ? e : "not a reply");
		goto out;
	}
	rtr_ctl_u64(m, RTR_CTA_STATUS, &status);
	while ((line = rtr_ctl_next_str(m, RTR_CTA_TEXT, &it)))
		printf("%s\n", line);
	fflush(stdout);
	if (status) {
		const char *why = rtr_ctl_str(m, RTR_CTA_ERROR);
		const char *who = rtr_ctl_str(m, RTR_CTA_DAEMON);

		err("%s (%s)", why ? why : strerror(-(int)(int64_t)status), who ? who : "?");
		goto out;
	}
	rc = 0;
out:
	close(s);
	free(m);
	return rc;
}

/* ------------------------------------------------------------------------
 * Option helpers
 * ------------------------------------------------------------------------ */

static uint32_t context_of(const char *s)
{
	if (!strcmp(s, "vpid") || !strcmp(s, "pid"))
		return 0x01;
	if (!strcmp(s, "vtid") || !strcmp(s, "tid"))
		return 0x02;
	if (!strcmp(s, "procname"))
		return 0x04;
	if (!strcmp(s, "pthread_id"))
		return 0x08;
	if (!strcmp(s, "ip"))
		return 0x10;
	return 0;
}

static void usage_of(const char *cmd, const char *u)
{
	fprintf(stderr, "Usage: ringtrace %s %s\n", cmd, u);
}

/* ------------------------------------------------------------------------
 * Commands
 * ------------------------------------------------------------------------ */

static int c_create(int argc, char **argv)
{
	static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
					   {"snapshot", no_argument, NULL, 'S'},
					   {"uid", required_argument, NULL, 'U'},
					   {"all-users", no_argument, NULL, 'A'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	static struct rtr_proto_out o;
	const char *out = NULL, *name = NULL;
	char path[PATH_MAX], autoname[64];
	bool snapshot = false, all = false;
	uint64_t uids[64];
	size_t nuids = 0;
	int c, fd, rc;

	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'S':
			snapshot = true;
			break;
		case 'U':
			if (nuids < 64)
				uids[nuids++] = strtoull(optarg, NULL, 10);
			break;
		case 'A':
			all = true;
			break;
		default:
			usage_of("create", "[NAME] [-o DIR | --output DIR] [--snapshot] [--uid UID]... "
					   "[--all-users]");
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind < argc)
		name = argv[optind++];
	if (optind < argc) {
		usage_of("create", "[NAME] [-o DIR] [--snapshot]");
		return 2;
	}
	if (!name) {
		time_t now = time(NULL);
		struct tm tm;

		localtime_r(&now, &tm);
		strftime(autoname, sizeof(autoname), "auto-%Y%m%d-%H%M%S", &tm);
		name = autoname;
	}
	if (!out) {
		const char *home = getenv("HOME");
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;

		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
		snprintf(path, sizeof(path), "%s/ringtrace-traces/%s-%s",
			 home && *home ? home : ".", name, stamp);
		out = path;
	} else if (out[0] != '/') {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd))) {
			err("cannot get the current directory: %s", strerror(errno));
			return 1;
		}
		if ((size_t)snprintf(path, sizeof(path), "%.2048s/%.2000s", cwd, out) >=
		    sizeof(path)) {
			err("output path too long");
			return 1;
		}
		out = path;
	}
	/* The directory is created and opened here, with the user's rights;
	 * the daemon gets the descriptor. */
	fd = rtr_open_output_dir_as("ringtrace create: error: ", out, 0750);
	if (fd < 0)
		return 1;
	rtr_ctl_begin(&o, RTR_CTL_CREATE, 1);
	rtr_ctl_put_str(&o, RTR_CTA_SESSION, name);
	rtr_ctl_put_str(&o, RTR_CTA_OUTPUT, out);
	rtr_ctl_put_u64(&o, RTR_CTA_SNAPSHOT, snapshot);
	for (size_t i = 0; i < nuids; i++)
		rtr_ctl_put_u64(&o, RTR_CTA_UID, uids[i]);
	if (all)
		rtr_ctl_put_u64(&o, RTR_CTA_ALL_UIDS, 1);
	rc = transact(&o, fd);
	close(fd);
	if (rc)
		rmdir(out); /* ours, still empty */
	return rc;
}

static int c_enable_channel(int argc, char **argv)
{
	static const struct option lo[] = {{"session", required_argument, NULL, 's'},
					   {"subbuf-size", required_argument, NULL, 'B'},
					   {"num-subbuf", required_argument, NULL, 'N'},
					   {"overwrite", no_argument, NULL, 'O'},
					   {"discard", no_argument, NULL, 'D'},
					   {"buffers-pid", no_argument, NULL, 'P'},
					   {"buffers-uid", no_argument, NULL, 'Q'},
					   {"buffer-ownership", required_argument, NULL, 'W'},
					   {"switch-timer", required_argument, NULL, 'T'},
					   {"tracefile-size", required_argument, NULL, 'C'},
					   {"tracefile-count", required_argument, NULL, 'K'},
					   {"userspace", no_argument, NULL, 'u'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	static struct rtr_proto_out o;
	uint64_t v;
	int c;

	rtr_ctl_begin(&o, RTR_CTL_ENABLE_CHANNEL, 1);
	while ((c = getopt_long(argc, argv, "s:uhC:W:", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			rtr_ctl_put_str(&o, RTR_CTA_SESSION, optarg);
			break;
		case 'B':
		case 'N':
		case 'T':
		case 'C':
		case 'K':
			if (rtr_size_parse(optarg, &v)) {
				err("bad number %s", optarg);
				return 2;
			}
			rtr_ctl_put_u64(&o,
					c == 'B'   ? RTR_CTA_SUBBUF_SIZE
					: c == 'N' ? RTR_CTA_NUM_SUBBUF
					: c == 'T' ? RTR_CTA_SWITCH_TIMER
					: c == 'C' ? RTR_CTA_TRACEFILE_SIZE
						   : RTR_CTA_TRACEFILE_COUNT,
					v);
			break;
		case 'O':
			rtr_ctl_put_u64(&o, RTR_CTA_OVERWRITE, 1);
			break;
		case 'D':
			break;
		case 'P':
			break;
		case 'Q':
			rtr_ctl_put_u64(&o, RTR_CTA_PER_UID, 1);
			break;
		case 'W':
			if (!strcmp(optarg, "user"))
				rtr_ctl_put_u64(&o, RTR_CTA_PER_UID, 1);
			else if (strcmp(optarg, "process")) {
				err("--buffer-ownership: user or process");
				return 2;
			}
			break;
		case 'u':
			break;
		default:
			usage_of("enable-channel",
				 "[-s SESSION] [--subbuf-size N] [--num-subbuf N] [--overwrite | "
				 "--discard] [--buffers-pid | --buffers-uid] [--switch-timer US] "
				 "[--tracefile-size N] [--tracefile-count N] CHANNEL");
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind + 1 != argc) {
		usage_of("enable-channel", "[OPTIONS] CHANNEL");
		return 2;
	}
	rtr_ctl_put_str(&o, RTR_CTA_CHANNEL, argv[optind]);
	return transact(&o, -1);
}

/* enable-event and disable-event: one request per comma-separated name. */
static int c_event(int argc, char **argv, bool enable)
{
	static const struct option lo[] = {{"session", required_argument, NULL, 's'},
					   {"channel", required_argument, NULL, 'c'},
					   {"all", no_argument, NULL, 'a'},
					   {"exclude", required_argument, NULL, 'x'},
					   {"loglevel", required_argument, NULL, 'L'},
					   {"loglevel-only", required_argument, NULL, 'Y'},
					   {"filter", required_argument, NULL, 'f'},
					   {"userspace", no_argument, NULL, 'u'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	static struct rtr_proto_out o;
	const char *session = NULL, *chan = NULL, *filter = NULL, *names = NULL;
	char *excl = NULL, *list, *save = NULL, *tok;
	int c, lltype = 0, ll = 0, rc = 0;
	bool all = false;

	while ((c = getopt_long(argc, argv, "s:c:af:uhx:", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			session = optarg;
			break;
		case 'c':
			chan = optarg;
			break;
		case 'a':
			all = true;
			break;
		case 'x':
			excl = optarg;
			break;
		case 'L':
		case 'Y':
			ll = rtr_loglevel_parse(optarg);
			if (ll < 0) {
				err("unknown log level %s (EMERG ... DEBUG, or 0..14)", optarg);
				return 2;
			}
			lltype = c == 'L' ? 1 : 2;
			break;
		case 'f':
			filter = optarg;
			break;
		case 'u':
			break;
		default:
			usage_of(enable ? "enable-event" : "disable-event",
				 enable ? "[-s SESSION] [-c CHANNEL] [-a] [--exclude NAMES] "
					  "[--loglevel LEVEL | --loglevel-only LEVEL] [--filter EXPR] "
					  "NAME[,NAME...]"
					: "[-s SESSION] [-c CHANNEL] [-a] NAME[,NAME...]");
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind < argc)
		names = argv[optind++];
	if (optind < argc || (!names && !all) || (names && all)) {
		usage_of(enable ? "enable-event" : "disable-event", "[OPTIONS] NAME[,NAME...] | -a");
		return 2;
	}
	list = strdup(all ? "*" : names);
	if (!list)
		return 1;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		rtr_ctl_begin(&o, enable ? RTR_CTL_ENABLE_EVENT : RTR_CTL_DISABLE_EVENT, 1);
		if (session)
			rtr_ctl_put_str(&o, RTR_CTA_SESSION, session);
		if (chan)
			rtr_ctl_put_str(&o, RTR_CTA_CHANNEL, chan);
		rtr_ctl_put_str(&o, RTR_CTA_PATTERN, tok);
		if (enable) {
			if (excl) {
				char *e = strdup(excl), *s2 = NULL;

				for (char *x = e ? strtok_r(e, ",", &s2) : NULL; x;
				     x = strtok_r(NULL, ",", &s2))
					rtr_ctl_put_str(&o, RTR_CTA_EXCLUDE, x);
				free(e);
			}
			if (lltype) {
				rtr_ctl_put_u64(&o, RTR_CTA_LOGLEVEL_TYPE, (uint64_t)lltype);
				rtr_ctl_put_u64(&o, RTR_CTA_LOGLEVEL, (uint64_t)ll);
			}
			if (filter)
				rtr_ctl_put_str(&o, RTR_CTA_FILTER, filter);
		}
		rc |= transact(&o, -1);
	}
	free(list);
	return rc;
}

static int c_add_context(int argc, char **argv)
{
	static const struct option lo[] = {{"session", required_argument, NULL, 's'},
					   {"channel", required_argument, NULL, 'c'},
					   {"type", required_argument, NULL, 't'},
					   {"userspace", no_argument, NULL, 'u'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	static struct rtr_proto_out o;
	uint32_t mask = 0;
	int c;

	rtr_ctl_begin(&o, RTR_CTL_ADD_CONTEXT, 1);
	while ((c = getopt_long(argc, argv, "s:c:t:uh", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			rtr_ctl_put_str(&o, RTR_CTA_SESSION, optarg);
			break;
		case 'c':
			rtr_ctl_put_str(&o, RTR_CTA_CHANNEL, optarg);
			break;
		case 't': {
			uint32_t m = context_of(optarg);

			if (!m) {
				err("unknown context %s (vpid, vtid, procname, pthread_id, ip)",
				    optarg);
				return 2;
			}
			mask |= m;
			break;
		}
		case 'u':
			break;
		default:
			usage_of("add-context", "[-s SESSION] [-c CHANNEL] -t TYPE [-t TYPE]...");
			return c == 'h' ? 0 : 2;
		}
	}
	if (!mask || optind != argc) {
		usage_of("add-context", "[-s SESSION] [-c CHANNEL] -t TYPE [-t TYPE]...");
		return 2;
	}
	rtr_ctl_put_u64(&o, RTR_CTA_CONTEXT, mask);
	return transact(&o, -1);
}

/* start, stop, destroy, rotate, status: [NAME] or -s NAME. */
static int c_simple(int argc, char **argv, unsigned type)
{
	static const struct option lo[] = {{"session", required_argument, NULL, 's'},
					   {"all", no_argument, NULL, 'a'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	static struct rtr_proto_out o;
	const char *name = NULL;
	bool all = false;
	int c;

	while ((c = getopt_long(argc, argv, "s:ah", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			name = optarg;
			break;
		case 'a':
			if (type == RTR_CTL_DESTROY) {
				all = true;
				break;
			}
			/* fall through */
		default:
			usage_of(cmd_name, "[NAME | -s NAME]");
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind < argc && !name)
		name = argv[optind++];
	if (optind < argc) {
		usage_of(cmd_name, "[NAME | -s NAME]");
		return 2;
	}
	if (all) {
		/* destroy -a: every session, most recent first */
		int rc = 0;

		for (int k = 0; k < 1024; k++) {
			rtr_ctl_begin(&o, RTR_CTL_DESTROY, 1);
			c = transact(&o, -1);
			if (c)
				break;
			rc |= c;
		}
		return rc;
	}
	rtr_ctl_begin(&o, type, 1);
	if (name)
		rtr_ctl_put_str(&o, RTR_CTA_SESSION, name);
	return transact(&o, -1);
}

static int c_snapshot(int argc, char **argv)
{
	static const struct option lo[] = {{"session", required_argument, NULL, 's'},
					   {"max-size", required_argument, NULL, 'm'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	static struct rtr_proto_out o;
	uint64_t v;
	int c;

	if (argc < 2 || strcmp(argv[1], "record")) {
		usage_of("snapshot", "record [-s SESSION] [-m | --max-size N]");
		return 2;
	}
	argc--;
	argv++;
	rtr_ctl_begin(&o, RTR_CTL_SNAPSHOT, 1);
	while ((c = getopt_long(argc, argv, "s:m:h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			rtr_ctl_put_str(&o, RTR_CTA_SESSION, optarg);
			break;
		case 'm':
			if (rtr_size_parse(optarg, &v) || !v) {
				err("bad size %s", optarg);
				return 2;
			}
			rtr_ctl_put_u64(&o, RTR_CTA_MAX_SIZE, v);
			break;
		default:
			usage_of("snapshot", "record [-s SESSION] [-m | --max-size N]");
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc) {
		usage_of("snapshot", "record [-s SESSION] [-m N]");
		return 2;
	}
	return transact(&o, -1);
}

static int c_daemon(int argc, char **argv)
{
	char path[PATH_MAX];

	daemon_path(path, sizeof(path));
	argv[0] = path;
	(void)argc;
	execvp(path, argv);
	err("cannot run %s: %s", path, strerror(errno));
	return 127;
}

int rtr_cmd_ctl(const char *cmd, int argc, char **argv);

int rtr_cmd_ctl(const char *cmd, int argc, char **argv)
{
	cmd_name = cmd;
	if (!strcmp(cmd, "create"))
		return c_create(argc, argv);
	if (!strcmp(cmd, "enable-channel"))
		return c_enable_channel(argc, argv);
	if (!strcmp(cmd, "enable-event"))
		return c_event(argc, argv, true);
	if (!strcmp(cmd, "disable-event"))
		return c_event(argc, argv, false);
	if (!strcmp(cmd, "add-context"))
		return c_add_context(argc, argv);
	if (!strcmp(cmd, "start"))
		return c_simple(argc, argv, RTR_CTL_START);
	if (!strcmp(cmd, "stop"))
		return c_simple(argc, argv, RTR_CTL_STOP);
	if (!strcmp(cmd, "destroy"))
		return c_simple(argc, argv, RTR_CTL_DESTROY);
	if (!strcmp(cmd, "rotate"))
		return c_simple(argc, argv, RTR_CTL_ROTATE);
	if (!strcmp(cmd, "status"))
		return c_simple(argc, argv, RTR_CTL_STATUS);
	if (!strcmp(cmd, "list")) {
		static struct rtr_proto_out o;

		rtr_ctl_begin(&o, RTR_CTL_LIST, 1);
		return transact(&o, -1);
	}
	if (!strcmp(cmd, "snapshot"))
		return c_snapshot(argc, argv);
	if (!strcmp(cmd, "daemon"))
		return c_daemon(argc, argv);
	return 2;
}
