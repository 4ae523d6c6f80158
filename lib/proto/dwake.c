/* ringtrace: "a session daemon started" wake-ups. See dwake.h. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dwake.h"
#include "rundir.h"

#define DWAKE_SIZE 4096

/* A run directory of its own ($RINGTRACE_RUNDIR): its daemon is the only
 * one its programs look for (no system daemon, rundir.c), so they wait on
 * a word of their own, named after the directory, and daemons started
 * elsewhere do not wake them. */
static const char *own_rundir(void)
{
	const char *env = getenv(RTR_RUNDIR_ENV);

	return env && env[0] == '/' ? env : NULL;
}

static int path_of(uid_t uid, char *out, size_t cap)
{
	const char *own = own_rundir();
	int n;

	if (own) {
		uint32_t h = 2166136261u; /* FNV-1a */

		for (const char *c = own; *c; c++)
			h = (h ^ (uint8_t)*c) * 16777619u;
		n = snprintf(out, cap, "%s/%s%u-%08x", RTR_DWAKE_DIR, RTR_DWAKE_PREFIX,
			     (unsigned)uid, (unsigned)h);
	} else {
		n = snprintf(out, cap, "%s/%s%u", RTR_DWAKE_DIR, RTR_DWAKE_PREFIX, (unsigned)uid);
	}
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Opens uid's file (creating it when `create`), checked: a regular file
 * owned by uid or root, at least DWAKE_SIZE bytes (grown to that when the
 * caller owns it). Returns the descriptor or -errno. */
static int open_checked(uid_t uid, int flags, int create)
{
	char path[64];
	struct stat st;
	int fd;

	if (path_of(uid, path, sizeof(path)))
		return -ENAMETOOLONG;
	fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (create ? O_CREAT : 0),
		  0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_uid != uid && st.st_uid != 0) ||
	    (st.st_mode & 0022)) {
		close(fd);
		return -EPERM;
	}
	if (st.st_size < DWAKE_SIZE) {
		if (st.st_uid != geteuid() || (flags & O_ACCMODE) == O_RDONLY ||
		    ftruncate(fd, DWAKE_SIZE) < 0) {
			close(fd);
			return -EINVAL;
		}
	}
	return fd;
}

const _Atomic uint32_t *rtr_dwake_map(uid_t uid)
{
	int create = uid == geteuid();
	int fd = open_checked(uid, create ? O_RDWR : O_RDONLY, create);
	void *p;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	p = mmap(NULL, DWAKE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : (const _Atomic uint32_t *)p;
}

void rtr_dwake_sleep(const _Atomic uint32_t *word, uint32_t seen)
{
	/* Shared futex (not FUTEX_PRIVATE_FLAG): the word is in a file
	 * mapping other processes wake. */
	syscall(SYS_futex, (const uint32_t *)word, FUTEX_WAIT, seen, NULL, NULL, 0);
}

static int signal_fd(int fd)
{
	_Atomic uint32_t *w = mmap(NULL, DWAKE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (w == MAP_FAILED)
		return -errno;
	/* The new value is what waiters compare with (release: nothing
	 * else is published through it; the sockets are already there). */
	atomic_fetch_add_explicit(w, 1, memory_order_release);
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	munmap((void *)w, DWAKE_SIZE);
	return 0;
}

int rtr_dwake_signal(uid_t uid, int all_users)
{
	int n = 0, fd = open_checked(uid, O_RDWR, uid == geteuid());
	DIR *d;
	struct dirent *e;

	if (fd >= 0) {
		n += signal_fd(fd) == 0;
		close(fd);
	}
	if (!all_users || geteuid() != 0 || own_rundir() || !(d = opendir(RTR_DWAKE_DIR)))
		return n;
	while ((e = readdir(d))) {
		char *end;
		unsigned long u;

		if (strncmp(e->d_name, RTR_DWAKE_PREFIX, strlen(RTR_DWAKE_PREFIX)) != 0)
			continue;
		u = strtoul(e->d_name + strlen(RTR_DWAKE_PREFIX), &end, 10);
		if (*end || end == e->d_name + strlen(RTR_DWAKE_PREFIX) || u == (unsigned long)uid ||
		    u > UINT32_MAX)
			continue;
		fd = open_checked((uid_t)u, O_RDWR, 0);
		if (fd >= 0) {
			n += signal_fd(fd) == 0;
			close(fd);
		}
	}
	closedir(d);
	return n;
}
