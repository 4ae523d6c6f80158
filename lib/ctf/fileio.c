/* Whole-buffer file I/O and atomic file replacement, shared by the CTF
 * writer, the kernel recorder, the session host and `ringtrace recover`
 * (ctf-writer.h, "Files"). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ctf-writer.h"

/* One loop for the four ways: sequential or positional, read or write.
 * A short transfer is continued, EINTR retried; end of file (a read of
 * 0) or a write of 0 is -EIO. */
static int io_all(int fd, void *buf, size_t n, int64_t off, bool wr)
{
	char *p = buf;

	for (size_t done = 0; done < n;) {
		ssize_t r;

		if (off < 0)
			r = wr ? write(fd, p + done, n - done) : read(fd, p + done, n - done);
		else
			r = wr ? pwrite(fd, p + done, n - done, (off_t)(off + (int64_t)done))
			       : pread(fd, p + done, n - done, (off_t)(off + (int64_t)done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (size_t)r;
	}
	return 0;
}

int rtr_ctf_write_all(int fd, const void *buf, size_t n)
{
	return io_all(fd, (void *)(uintptr_t)buf, n, -1, true);
}

int rtr_ctf_pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
	if (off > INT64_MAX)
		return -EINVAL;
	return io_all(fd, (void *)(uintptr_t)buf, n, (int64_t)off, true);
}

int rtr_ctf_pread_all(int fd, void *buf, size_t n, uint64_t off)
{
	if (off > INT64_MAX)
		return -EINVAL;
	return io_all(fd, buf, n, (int64_t)off, false);
}

int rtr_ctf_file_replace(int dirfd, const char *name, const void *buf, size_t n, mode_t mode)
{
	char tmp[300];
	int fd = -EEXIST, r;

	if (!name || !*name || strchr(name, '/') || strlen(name) > 200)
		return -EINVAL;
	/* created exclusively under a name nobody can guess: a symlink or
	 * FIFO planted there is never opened */
	for (int k = 0; k < 8 && fd == -EEXIST; k++) {
		uint64_t rnd = 0;

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint64_t)getpid() << 20 ^ (uint64_t)k ^ (uint64_t)(uintptr_t)&rnd;
		snprintf(tmp, sizeof(tmp), ".%s.%016" PRIx64 ".tmp", name, rnd);
		fd = rtr_ctf_file_create(dirfd, tmp, mode);
	}
	if (fd < 0)
		return fd;
	r = rtr_ctf_write_all(fd, buf, n);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r)
		unlinkat(dirfd, tmp, 0);
	return r;
}
