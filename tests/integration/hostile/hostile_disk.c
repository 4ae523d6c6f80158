/* The traced program of the full-disk tests (hostile_driver.c disk_*): it
 * emits hg:tick(seq) pinned to CPU 0 and fills the disk the trace is
 * written to (a small tmpfs) at chosen moments. It follows the trace on
 * disk (the size of its own stream files) to know when the host has
 * written what it emitted. Usage:
 *
 *   hostile_disk end   FILL TRACE SBS A   A events, wait until they are on
 *                                         disk, fill the disk, exit
 *   hostile_disk early FILL TRACE SBS A   A events, fill the disk at once, exit
 *   hostile_disk mid   FILL TRACE SBS A B C
 *                     A events, wait until on disk, fill the disk, B events
 *                     (more than the buffers hold), free the disk, wait
 *                     until the host writes again, C events, exit
 *
 * SBS is record's sub-buffer size: a packet of k events is exactly
 * 84 + 12 k bytes, so the bytes of A events on disk are known.
 * Exits 0, or 3 when the host did not write in time (60 s). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RTR_DEFINE_PROBES
#include "hostile_tp.h"

#define EVENT_BYTES  12u /* compact header + u64 */
#define PACKET_BYTES 84u /* packet header and context */

static uint64_t seq;

static void emit(long n)
{
	for (long i = 0; i < n; i++)
		rtr_tracepoint(hg, tick, seq++);
}

/* Bytes of our stream files (channel0_*) in TRACE/<comm>-<pid>*. */
static uint64_t on_disk(const char *trace)
{
	char prefix[64], path[4096];
	uint64_t sum = 0;
	DIR *d = opendir(trace);
	struct dirent *e;

	snprintf(prefix, sizeof(prefix), "hostile_disk-%d", (int)getpid());
	while (d && (e = readdir(d))) {
		DIR *p;
		struct dirent *f;

		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", trace, e->d_name);
		p = opendir(path);
		while (p && (f = readdir(p))) {
			struct stat st;
			char file[4400];

			if (strncmp(f->d_name, "channel0_", 9))
				continue;
			snprintf(file, sizeof(file), "%s/%s", path, f->d_name);
			if (stat(file, &st) == 0)
				sum += (uint64_t)st.st_size;
		}
		if (p)
			closedir(p);
	}
	if (d)
		closedir(d);
	return sum;
}

/* Waits until more than `than` bytes are on disk (the switch timer writes
 * a partial packet within about a second). */
static int wait_disk(const char *trace, uint64_t than)
{
	for (int i = 0; i < 6000; i++) {
		if (on_disk(trace) > than)
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "hostile_disk: the host wrote nothing for 60 s\n");
	return 3;
}

static void fill(const char *path)
{
	static char block[65536];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	while (fd >= 0 && write(fd, block, sizeof(block)) > 0) {
	}
	while (fd >= 0 && write(fd, block, 1) > 0) {
	}
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	cpu_set_t cpus;
	const char *mode, *fillpath, *trace;
	uint64_t per_packet, bytes_a;
	long a;

	if (argc < 6)
		return 2;
	mode = argv[1];
	fillpath = argv[2];
	trace = argv[3];
	per_packet = ((uint64_t)atol(argv[4]) - PACKET_BYTES) / EVENT_BYTES;
	a = atol(argv[5]);
	if (!per_packet || a <= 0)
		return 2;
	bytes_a =
	    (uint64_t)a * EVENT_BYTES + ((uint64_t)a + per_packet - 1) / per_packet * PACKET_BYTES;
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	emit(a);
	if (!strcmp(mode, "early")) {
		fill(fillpath);
		return 0;
	}
	/* all A events on disk */
	if (wait_disk(trace, bytes_a - 1))
		return 3;
	fill(fillpath);
	if (!strcmp(mode, "end"))
		return 0;
	if (!strcmp(mode, "mid") && argc >= 8) {
		uint64_t before;

		emit(atol(argv[6]));
		sleep(1);
		before = on_disk(trace);
		unlink(fillpath);
		if (wait_disk(trace, before))
			return 3;
		emit(atol(argv[7]));
		return 0;
	}
	return 2;
}
