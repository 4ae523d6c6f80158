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
#include <sys/stat.h>
#include <unistd.h>

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
	close(d->state_fd);
	d->state_fd = -1;
}
