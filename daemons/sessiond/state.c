/* ringtraced: the state directory (RUNDIR/state/, lib/proto state.h) —
 * one file per session saying where its traces go and whether it
 * records, so that what a daemon killed with SIGKILL leaves can be found
 * and completed (`ringtrace recover --all`). Files are rewritten
 * (atomically: a temporary file renamed) whenever a session's facts
 * change, before the command's answer; a session destroyed, or finished
 * by a clean stop of the daemon, takes its file with it.
 * Design: docs/design/daemon.md §8. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "armed.h"

#include "rundir.h"
#include "sessiond.h"
#include "state.h"

int sd_state_init(struct sd *d)
{
	char path[160];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", d->rundir, RTR_STATE_DIR);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	d->state_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d->state_fd < 0)
		return -errno;
	if (fstat(d->state_fd, &st) < 0 || st.st_uid != geteuid()) {
		close(d->state_fd);
		d->state_fd = -1;
		return -EPERM;
	}
	return 0;
}

static void write_file(struct sd *d, const struct rtr_state_session *s)
{
	char name[200], tmp[220], buf[RTR_STATE_MAX_FILE];
	int n = rtr_state_encode(s, buf, sizeof(buf)), fd;

	if (n < 0 || rtr_state_file_name(s->name, name, sizeof(name)))
		return;
	snprintf(tmp, sizeof(tmp), ".%s.%d.tmp", name, (int)getpid());
	unlinkat(d->state_fd, tmp, 0);
	fd = openat(d->state_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, (size_t)n) != n || close(fd) < 0 ||
	    renameat(d->state_fd, tmp, d->state_fd, name) < 0) {
		sd_log("cannot write the state of session %s: %s", s->name, strerror(errno));
		unlinkat(d->state_fd, tmp, 0);
	}
}

static void remove_file(struct sd *d, const char *session)
{
	char name[200];

	if (!rtr_state_file_name(session, name, sizeof(name)))
		unlinkat(d->state_fd, name, 0);
}

void sd_state_sync(struct sd *d)
{
	uint64_t ids[256];
	bool seen[SD_STATE_MAX] = {false};
	size_t n = 0;

	if (d->state_fd < 0)
		return;
	rtr_host_sessions(d->h, ids, 256, &n);
	for (size_t i = 0; i < n; i++) {
		struct rtr_host_session_stats st;
		const char *out = rtr_host_session_output(d->h, ids[i]);
		struct sd_state_ent *e = NULL;
		struct rtr_state_session s = {0};

		if (rtr_host_session_stats(d->h, ids[i], &st) || !out || out[0] != '/')
			continue;
		for (unsigned k = 0; k < d->nstate; k++)
			if (d->state[k].id == ids[i])
				e = &d->state[k];
		if (!e) {
			if (d->nstate >= SD_STATE_MAX)
				continue;
			e = &d->state[d->nstate++];
			e->id = ids[i];
			e->written = false;
		}
		seen[e - d->state] = true;
		if (e->written && e->active == st.active)
			continue;
		snprintf(s.name, sizeof(s.name), "%s", st.name);
		snprintf(s.output, sizeof(s.output), "%s", out);
		s.snapshot = st.snapshot;
		s.active = st.active;
		s.daemon_pid = (int32_t)getpid();
		s.id = ids[i];
		write_file(d, &s);
		snprintf(e->name, sizeof(e->name), "%s", st.name);
		e->active = st.active;
		e->written = true;
	}
	for (unsigned k = 0; k < d->nstate;) {
		if (seen[k]) {
			k++;
			continue;
		}
		if (d->state[k].written)
			remove_file(d, d->state[k].name);
		d->state[k] = d->state[--d->nstate];
		seen[k] = seen[d->nstate];
	}
}

void sd_state_clear(struct sd *d)
{
	if (d->state_fd < 0)
		return;
	for (unsigned k = 0; k < d->nstate; k++)
		if (d->state[k].written)
			remove_file(d, d->state[k].name);
	d->nstate = 0;
	unlinkat(d->state_fd, "armed", 0);
	close(d->state_fd);
	d->state_fd = -1;
}

/* ------------------------------------------------------------------------
 * A restarted daemon takes over (docs/design/daemon.md §8)
 * ------------------------------------------------------------------------ */

#define STATE_ARMED "armed"

/* A copy of the armed-sessions file (lib/proto armed.h): the channels and
 * rules of every recording session, for the daemon started after this one
 * dies. data NULL: removed (nothing records). */
void sd_state_armed(struct sd *d, const void *data, size_t len)
{
	char tmp[64];
	int fd;

	if (d->state_fd < 0)
		return;
	if (!data) {
		unlinkat(d->state_fd, STATE_ARMED, 0);
		return;
	}
	snprintf(tmp, sizeof(tmp), ".armed.%d.tmp", (int)getpid());
	unlinkat(d->state_fd, tmp, 0);
	fd = openat(d->state_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0 ||
	    renameat(d->state_fd, tmp, d->state_fd, STATE_ARMED) < 0) {
		sd_log("cannot write %s/%s/%s: %s", d->rundir, RTR_STATE_DIR, STATE_ARMED,
		       strerror(errno));
		unlinkat(d->state_fd, tmp, 0);
	}
}

static void noop_done(void *arg, const struct rtr_host_op_result *res)
{
	(void)arg;
	(void)res;
}

/* The traces a dead daemon left in dir are completed by `ringtrace
 * recover --readopt` (the CLI beside this program; it says what it did in
 * the daemon's log) before new ones are written there. Returns its exit
 * status, or -1. */
static int run_recover(const char *dir)
{
	char self[PATH_MAX], cli[PATH_MAX + 16], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	pid_t pid;
	int st;

	if (n <= 0)
		return -1;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	snprintf(cli, sizeof(cli), "%s/ringtrace", self);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* what it did goes to the daemon's log (its stdout) */
		execl(cli, "ringtrace", "recover", "--readopt", dir, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void reload_one(struct sd *d, const struct rtr_state_session *ss,
		       const struct rtr_armed_session *as)
{
	struct rtr_host_session_cfg cfg = {0};
	uid_t uids[RTR_ARMED_UIDS];
	char err[300];
	uint64_t sid;
	int fd, r;

	for (uint32_t k = 0; k < as->nchans; k++)
		if (as->chans[k].index != k) {
			sd_log("session %s of a dead daemon: channels out of order; not reloaded "
			       "(ringtrace recover --all completes its traces)",
			       ss->name);
			return;
		}
	r = run_recover(ss->output);
	if (r && r != 2) /* (2: no trace there yet) */
		sd_log("session %s: `ringtrace recover %s` said %d (its traces may need it run "
		       "again)",
		       ss->name, ss->output, r);
	fd = open(ss->output, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		sd_log("session %s of a dead daemon: cannot open %s: %s", ss->name, ss->output,
		       strerror(errno));
		return;
	}
	for (uint32_t i = 0; i < as->nuids && i < RTR_ARMED_UIDS; i++)
		uids[i] = (uid_t)as->uids[i];
	cfg.name = ss->name;
	cfg.out_dirfd = fd;
	cfg.out_path = ss->output;
	cfg.snapshot = ss->snapshot;
	cfg.uids = uids;
	cfg.nuids = as->nuids;
	cfg.all_uids = as->all_uids;
	cfg.id = ss->id;
	r = rtr_host_session_create(d->h, &cfg, &sid, err, sizeof(err));
	close(fd);
	if (r) {
		sd_log("session %s of a dead daemon not reloaded: %s", ss->name, err);
		return;
	}
	for (uint32_t k = 0; k < as->nchans && !r; k++) {
		struct rtr_host_channel_cfg cc = {
		    .name = as->chans[k].name,
		    .subbuf_size = as->chans[k].subbuf_size,
		    .num_subbuf = as->chans[k].num_subbuf,
		    .overwrite = as->chans[k].overwrite,
		    .ctx_mask = as->chans[k].ctx_mask,
		    .per_uid = as->chans[k].per_uid,
		};

		r = rtr_host_channel_enable(d->h, sid, &cc, err, sizeof(err));
	}
	for (uint32_t k = 0; k < as->nrules && !r; k++) {
		const struct rtr_armed_rule *ar = &as->rules[k];
		struct rtr_host_rule ru = {
		    .channel = ar->chan < as->nchans ? as->chans[ar->chan].name : NULL,
		    .pattern = ar->pattern,
		    .excludes = ar->excludes,
		    .nexcludes = ar->nexcludes,
		    .loglevel_type = (int)ar->lltype,
		    .loglevel = (int)ar->ll,
		    .filter = ar->filter,
		};
		bool created;

		r = rtr_host_rule_add(d->h, sid, &ru, &created, err, sizeof(err));
	}
	if (!r)
		r = rtr_host_session_start(d->h, sid, noop_done, NULL, err, sizeof(err));
	if (r) {
		sd_log("session %s of a dead daemon only partly reloaded: %s", ss->name, err);
		return;
	}
	sd_log("session %s (id %llu) reloaded from the state of daemon pid %d, which died: its "
	       "programs hand their buffers back as they reconnect; new trace directories in %s",
	       ss->name, (unsigned long long)ss->id, (int)ss->daemon_pid, ss->output);
}

void sd_state_reload(struct sd *d)
{
	struct rtr_armed *a = NULL;
	char *raw = NULL, **names = NULL;
	size_t n = 0, cap = 0;
	struct stat st;
	DIR *dir;
	struct dirent *de;
	int fd, dfd;

	/* ids of new sessions never meet a dead daemon's */
	rtr_host_session_id_base(d->h, (uint64_t)time(NULL) << 16);
	if (d->state_fd < 0)
		return;
	fd = openat(d->state_fd, STATE_ARMED, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    st.st_size > 0 && st.st_size <= (1 << 20) && (raw = malloc((size_t)st.st_size)) &&
	    (a = malloc(sizeof(*a))) && read(fd, raw, (size_t)st.st_size) == st.st_size) {
		char err[200];

		if (rtr_armed_parse(raw, (size_t)st.st_size, a, err, sizeof(err))) {
			sd_log("%s/%s/%s: %s; no session reloaded", d->rundir, RTR_STATE_DIR,
			       STATE_ARMED, err);
			free(a);
			a = NULL;
		}
	} else {
		free(a);
		a = NULL;
	}
	if (fd >= 0)
		close(fd);
	dfd = dup(d->state_fd);
	dir = dfd >= 0 ? fdopendir(dfd) : NULL;
	while (dir && (de = readdir(dir))) {
		if (strncmp(de->d_name, "s-", 2))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));

			if (!nn)
				break;
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name)))
			break;
		n++;
	}
	if (dir)
		closedir(dir);
	else if (dfd >= 0)
		close(dfd);
	for (size_t i = 0; i < n; i++) {
		struct rtr_state_session ss;
		char buf[RTR_STATE_MAX_FILE], err[200];
		ssize_t len;
		const struct rtr_armed_session *as = NULL;

		fd = openat(d->state_fd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		len = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
			      st.st_uid == geteuid()
			  ? read(fd, buf, sizeof(buf))
			  : -1;
		if (fd >= 0)
			close(fd);
		if (len <= 0 || rtr_state_parse(buf, (size_t)len, &ss, err, sizeof(err)))
			continue;
		for (uint32_t k = 0; a && k < a->nsessions; k++)
			if (a->s[k].id == ss.id && !strcmp(a->s[k].name, ss.name))
				as = &a->s[k];
		if (!ss.active || !ss.id || !as) {
			sd_log("session %s of daemon pid %d (gone) was %s: its traces are for "
			       "`ringtrace recover --all`",
			       ss.name, (int)ss.daemon_pid,
			       ss.active ? "recording, but its channels are not known"
					 : "not recording");
			continue;
		}
		reload_one(d, &ss, as);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(a);
	free(raw);
}
