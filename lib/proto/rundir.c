/* ringtrace: the session daemon's directory (rundir.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rundir.h"

static int done(int n, size_t cap)
{
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int rtr_rundir_user(char *out, size_t cap)
{
	const char *env = getenv(RTR_RUNDIR_ENV);
	const char *xdg;
	uid_t uid = geteuid();
	char d[64];
	struct stat st;

	if (env && env[0] == '/')
		return done(snprintf(out, cap, "%s", env), cap);
	if (uid == 0)
		return done(snprintf(out, cap, "%s", RTR_RUNDIR_SYSTEM), cap);
	xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg && xdg[0] == '/')
		return done(snprintf(out, cap, "%s/ringtrace", xdg), cap);
	snprintf(d, sizeof(d), "/run/user/%u", (unsigned)uid);
	if (stat(d, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid)
		return done(snprintf(out, cap, "/run/user/%u/ringtrace", (unsigned)uid), cap);
	return done(snprintf(out, cap, "/tmp/ringtrace-%u", (unsigned)uid), cap);
}

int rtr_rundir_system(char *out, size_t cap)
{
	const char *env = getenv(RTR_RUNDIR_ENV);

	if ((env && env[0] == '/') || geteuid() == 0)
		return -ENOENT;
	return done(snprintf(out, cap, "%s", RTR_RUNDIR_SYSTEM), cap);
}
