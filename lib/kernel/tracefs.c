/* tracefs: finding (or mounting) it, naming our instance after this
 * process, and removing instances and uprobe groups that dead ringtrace
 * processes left behind. Design: docs/design/kernel.md §2. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel-internal.h"

#define PRIVATE_MOUNT "/run/ringtrace/tracefs"

static bool fs_supported(const char *fstype)
{
	FILE *f = fopen("/proc/filesystems", "re");
	char line[256];
	bool found = false;

	if (!f)
		return true; /* cannot tell: let mount say */
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strcspn(line, "\t");

		if (*p)
			p++;
		p[strcspn(p, "\n")] = 0;
		if (!strcmp(p, fstype))
			found = true;
	}
	fclose(f);
	return found;
}

static bool find_mount(char *buf, size_t cap)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	struct mntent *e;
	bool found = false;

	if (!f)
		return false;
	while ((e = getmntent(f))) {
		if (!strcmp(e->mnt_type, "tracefs")) {
			snprintf(buf, cap, "%s", e->mnt_dir);
			found = true;
			/* the standard place wins over any other */
			if (!strcmp(e->mnt_dir, "/sys/kernel/tracing"))
				break;
		}
	}
	endmntent(f);
	return found;
}

static int mkdir_p(const char *path)
{
	char b[256];

	snprintf(b, sizeof(b), "%s", path);
	for (char *s = b + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(b, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return mkdir(b, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

int rtr__tracefs_find(char *buf, size_t cap, char *err, size_t errlen)
{
	char inst[600];

	if (!find_mount(buf, cap)) {
		if (!fs_supported("tracefs")) {
			snprintf(err, errlen,
				 "this kernel has no tracefs (built without CONFIG_TRACING?): "
				 "kernel events cannot be recorded");
			return -ENODEV;
		}
		if (geteuid() != 0) {
			snprintf(err, errlen,
				 "kernel events need root: tracefs is not mounted, and mounting it "
				 "(mount -t tracefs nodev /sys/kernel/tracing) needs root");
			return -EPERM;
		}
		if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0) {
			snprintf(buf, cap, "/sys/kernel/tracing");
		} else {
			int e = errno;

			if (mkdir_p(PRIVATE_MOUNT) == 0 &&
			    mount("nodev", PRIVATE_MOUNT, "tracefs", 0, NULL) == 0) {
				snprintf(buf, cap, "%s", PRIVATE_MOUNT);
			} else {
				snprintf(err, errlen,
					 "cannot mount tracefs on /sys/kernel/tracing (%s) or %s "
					 "(%s): kernel events cannot be recorded",
					 strerror(e), PRIVATE_MOUNT, strerror(errno));
				return -ENODEV;
			}
		}
	}
	snprintf(inst, sizeof(inst), "%s/instances", buf);
	if (access(inst, W_OK) != 0) {
		int e = errno;

		if (e == EACCES || e == EPERM)
			snprintf(err, errlen,
				 "kernel events need root: tracefs (%s) is writable by root "
				 "only",
				 buf);
		else
			snprintf(err, errlen, "tracefs at %s has no instances directory (%s)", buf,
				 strerror(e));
		return -(e == EACCES ? EPERM : e);
	}
	return 0;
}

/* Start time of process pid in clock ticks since boot (field 22 of
 * /proc/<pid>/stat), 0 if it does not exist. */
static uint64_t proc_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	/* fields 3.. follow; the start time is field 22 */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p + 1, ' ');
	}
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

void rtr__kinstance_name(pid_t pid, char *buf, size_t cap)
{
	snprintf(buf, cap, "ringtrace-%d-%" PRIu64, (int)pid, proc_start(pid));
}

/* Does the process that named something ringtrace-<pid>-<start> still
 * run? */
static bool owner_alive(long pid, uint64_t start)
{
	uint64_t now;

	if (pid <= 0)
		return false;
	now = proc_start((pid_t)pid);
	return now != 0 && now == start;
}

static int write_file(const char *path, const char *s, bool append)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | (append ? O_APPEND : O_TRUNC));
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n < 0 ? -errno : 0;
}

int rtr__kinstance_reap(const char *tracefs, const struct rtr_kernel_log *log)
{
	char path[1024];
	DIR *d;
	struct dirent *e;
	int removed = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/instances", tracefs);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		long pid;
		uint64_t start;
		int used = 0;

		if (sscanf(e->d_name, "ringtrace-%ld-%" SCNu64 "%n", &pid, &start, &used) != 2 ||
		    e->d_name[used] != 0 || owner_alive(pid, start))
			continue;
		snprintf(path, sizeof(path), "%s/instances/%s/tracing_on", tracefs, e->d_name);
		write_file(path, "0", false);
		snprintf(path, sizeof(path), "%s/instances/%s", tracefs, e->d_name);
		if (rmdir(path) == 0) {
			removed++;
			rtr__klog(log, RTR_KERNEL_LOG_INFO,
				  "removed the tracefs instance %s left by a ringtrace that is gone",
				  e->d_name);
		} else {
			rtr__klog(log, RTR_KERNEL_LOG_WARN,
				  "cannot remove the stale tracefs instance %s: %s", path,
				  strerror(errno));
		}
	}
	if (d)
		closedir(d);

	/* uprobe groups rtr_<pid>_<start> */
	snprintf(path, sizeof(path), "%s/uprobe_events", tracefs);
	f = fopen(path, "re");
	if (f) {
		char line[4096], dels[64][300];
		int ndel = 0;

		while (fgets(line, sizeof(line), f) && ndel < 64) {
			char grp[128], ev[128];
			long pid;
			uint64_t start;

			if (sscanf(line, "%*c:%127[^/]/%127s", grp, ev) != 2)
				continue;
			if (sscanf(grp, "rtr_%ld_%" SCNu64, &pid, &start) != 2 ||
			    owner_alive(pid, start))
				continue;
			snprintf(dels[ndel++], sizeof(dels[0]), "-:%s/%s", grp, ev);
		}
		fclose(f);
		for (int i = 0; i < ndel; i++) {
			if (write_file(path, dels[i], true) == 0) {
				removed++;
				rtr__klog(log, RTR_KERNEL_LOG_INFO,
					  "removed the uprobe %s left by a ringtrace that is gone",
					  dels[i] + 2);
			}
		}
	}
	return removed;
}
