/* The parts of LTTng's kernel statedump beyond the threads, read from
 * /proc and /sys (kernel.md §13a): every open file descriptor
 * (lttng_statedump_file_descriptor), block device (_block_device),
 * interrupt action (_interrupt) and IPv4 interface (_network_interface),
 * with lttng-modules' names and fields, so that viewers name files,
 * disks, interrupts and interfaces they did not see being opened. Each
 * payload is built here and appended raw (rtr__kstream_raw). What /proc
 * cannot say is approximated and documented: fmode (the read/write bits
 * of the open flags) and an interrupt's thread (0). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel-internal.h"

/* a payload being built: fields packed (the classes are byte-aligned) */
struct pay {
	uint8_t b[2 * 4096 + 64];
	size_t n;
};

static void put_u32(struct pay *p, uint32_t v)
{
	memcpy(p->b + p->n, &v, 4);
	p->n += 4;
}

/* at most 4095 bytes of s, NUL-terminated */
static void put_str(struct pay *p, const char *s)
{
	size_t l = strlen(s); /* every source is NUL-terminated */

	if (l > 4095)
		l = 4095;

	memcpy(p->b + p->n, s, l);
	p->b[p->n + l] = 0;
	p->n += l + 1;
}

static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n >= 0)
		buf[n] = 0;
	return n;
}

unsigned rtr__kdump_fds(struct rtr__kstream *s, const struct rtr__kplan *p, uint64_t ts,
			int32_t self, int pid)
{
	char dir[64], path[96], target[4096], info[512];
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		struct pay pl = {.n = 0};
		unsigned long flags = 0;
		ssize_t l;
		char *f;
		int fd;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		fd = atoi(e->d_name);
		snprintf(path, sizeof(path), "%s/%d", dir, fd);
		l = readlink(path, target, sizeof(target) - 1);
		if (l < 0)
			continue; /* closed meanwhile */
		target[l] = 0;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
		if (read_small(path, info, sizeof(info)) > 0 && (f = strstr(info, "flags:")))
			flags = strtoul(f + 6, NULL, 8);
		put_u32(&pl, (uint32_t)pid);
		put_u32(&pl, (uint32_t)fd);
		put_u32(&pl, (uint32_t)flags);
		/* the kernel's f_mode: FMODE_READ 1, FMODE_WRITE 2 (from the
		 * access mode; its other bits are not in /proc) */
		put_u32(&pl, (flags & O_ACCMODE) == O_RDONLY ? 1u
			     : (flags & O_ACCMODE) == O_WRONLY ? 2u
							       : 3u);
		put_str(&pl, target);
		if (rtr__kstream_raw(s, p, ts, self, pl.b, pl.n) == 0)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

unsigned rtr__kdump_block_devices(struct rtr__kstream *s, const struct rtr__kplan *p,
				  uint64_t ts, int32_t self)
{
	struct dirent *e;
	unsigned n = 0;
	DIR *d = opendir("/sys/class/block");

	while (d && (e = readdir(d))) {
		char path[512], buf[64];
		unsigned ma, mi;
		struct pay pl = {.n = 0};

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/block/%s/dev", e->d_name);
		if (read_small(path, buf, sizeof(buf)) <= 0 || sscanf(buf, "%u:%u", &ma, &mi) != 2)
			continue;
		/* the kernel's dev_t (MKDEV: 12-bit major, 20-bit minor), as
		 * the block events' dev fields hold it */
		put_u32(&pl, (uint32_t)(ma << 20 | (mi & 0xfffffu)));
		put_str(&pl, e->d_name);
		if (rtr__kstream_raw(s, p, ts, self, pl.b, pl.n) == 0)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

unsigned rtr__kdump_interrupts(struct rtr__kstream *s, const struct rtr__kplan *p, uint64_t ts,
			       int32_t self)
{
	FILE *f = fopen("/proc/interrupts", "re");
	char *line = NULL;
	size_t cap = 0;
	unsigned n = 0;
	int ncpu = -1;

	while (f && getline(&line, &cap, f) > 0) {
		char *q = line, *end, *chip, *acts;
		unsigned long irq;

		if (ncpu < 0) { /* the header: one column per CPU */
			ncpu = 0;
			for (char *t = strtok(line, " \t\n"); t; t = strtok(NULL, " \t\n"))
				ncpu++;
			continue;
		}
		while (*q == ' ')
			q++;
		irq = strtoul(q, &end, 10);
		if (end == q || *end != ':')
			continue; /* NMI:, LOC:, ...: not device interrupts */
		q = end + 1;
		for (int c = 0; c < ncpu; c++) { /* the counts */
			while (*q == ' ')
				q++;
			strtoul(q, &end, 10);
			q = end;
		}
		/* "  CHIP  HWIRQ-TYPE  action1, action2" (columns of spaces) */
		while (*q == ' ')
			q++;
		chip = q;
		q = strchr(q, ' ');
		if (!q)
			continue;
		*q++ = 0;
		while (*q == ' ')
			q++;
		q = strchr(q, ' '); /* past hwirq-type */
		if (!q)
			continue;
		while (*q == ' ')
			q++;
		acts = q;
		acts[strcspn(acts, "\n")] = 0;
		if (!*acts)
			continue; /* no handler */
		for (char *a = strtok(acts, ","); a; a = strtok(NULL, ",")) {
			struct pay pl = {.n = 0};

			while (*a == ' ')
				a++;
			put_u32(&pl, (uint32_t)irq);
			put_str(&pl, chip);
			put_str(&pl, a);
			put_u32(&pl, 0); /* the handler thread: not in /proc */
			if (rtr__kstream_raw(s, p, ts, self, pl.b, pl.n) == 0)
				n++;
		}
	}
	free(line);
	if (f)
		fclose(f);
	return n;
}

unsigned rtr__kdump_net(struct rtr__kstream *s, const struct rtr__kplan *p, uint64_t ts,
			int32_t self)
{
	struct ifaddrs *ifa = NULL;
	unsigned n = 0;

	if (getifaddrs(&ifa))
		return 0;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		struct pay pl = {.n = 0};

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_name)
			continue;
		put_str(&pl, i->ifa_name);
		/* lttng-modules: the address as a big-endian hex integer; the
		 * value (what viewers print) is the same in host order */
		put_u32(&pl, ntohl(((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr.s_addr));
		if (rtr__kstream_raw(s, p, ts, self, pl.b, pl.n) == 0)
			n++;
	}
	freeifaddrs(ifa);
	return n;
}
