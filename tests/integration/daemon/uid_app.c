/* Programs of the per-user buffers test (uid.sh, docs/design/daemon.md §9)
 * that do to the shared buffers what a crash or a hostile program does.
 * Same provider as dmn_app (dmn_tp.h: same descriptions, so the same ids
 * in the per-user registry). Modes:
 *
 *   die N SIDE GO pinned to CPU 0: N x dmn:tick(i), writes N to SIDE, waits
 *                 for the file GO (another program then writes the same
 *                 buffer: uid.sh), then takes a slot in the per-user buffer of CPU 0 exactly as a
 *                 writer's reserve does (the position pair moved by one
 *                 cmpxchg16b) and kills itself with SIGKILL before any
 *                 commit: a writer dead between reserve and commit.
 *   scribble CPU N  N x dmn:tick, then overwrites the whole shared control
 *                 area (header, positions, counters, sub-buffer table) of
 *                 the per-user buffer of CPU with garbage, then N more and
 *                 exits 0: a hostile program of the same user.
 *
 * The buffers are found by their memfd names in /proc/self/maps
 * (`ringtrace-uid:UID:CHANNEL:CPU`, lib/host drain.c); the runtime keeps no
 * descriptor of them (daemon.md §9.2).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ringtrace/ring.h>

#define RTR_DEFINE_PROBES
#include "dmn_tp.h"

/* The mapping of the per-user buffer of cpu, or NULL. */
static struct rtr_ring_ctl *find_buffer(unsigned cpu, size_t *len)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512], want[32];
	struct rtr_ring_ctl *found = NULL;

	snprintf(want, sizeof(want), ":%u (deleted)", cpu);
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char *name = strstr(line, "ringtrace-uid:");
		size_t n = strlen(line);

		if (n && line[n - 1] == '\n')
			line[--n] = 0;
		if (!name || n < strlen(want) || strcmp(line + n - strlen(want), want))
			continue;
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		found = (struct rtr_ring_ctl *)lo;
		*len = hi - lo;
		break;
	}
	if (f)
		fclose(f);
	return found;
}

static void emit(uint32_t from, uint32_t n)
{
	for (uint32_t i = from; i < from + n; i++)
		rtr_tracepoint(dmn, tick, i, (int64_t)i * 3 - 100, i / 4.0, "d");
}

static bool cas16(struct rtr_ring_pos *p, uint64_t off, uint64_t ts, uint64_t noff, uint64_t nts)
{
	bool ok;

	__asm__ __volatile__("lock cmpxchg16b %[m]"
			     : [m] "+m"(*(volatile unsigned __int128 *)p), "=@ccz"(ok), "+a"(off),
			       "+d"(ts)
			     : "b"(noff), "c"(nts)
			     : "memory");
	return ok;
}

int main(int argc, char **argv)
{
	size_t len = 0;

	if (argc >= 5 && !strcmp(argv[1], "die")) {
		uint32_t n = (uint32_t)strtoul(argv[2], NULL, 10), extra = 0;
		cpu_set_t one;
		struct rtr_ring_ctl *ctl;
		FILE *f;

		CPU_ZERO(&one);
		CPU_SET(0, &one);
		if (sched_setaffinity(0, sizeof(one), &one)) {
			perror("sched_setaffinity");
			return 2;
		}
		emit(0, n);
		f = fopen(argv[3], "w");
		if (f) {
			fprintf(f, "%u\n", n);
			fclose(f);
		}
		ctl = find_buffer(0, &len);
		if (!ctl) {
			fprintf(stderr, "uid_app: no per-user buffer of CPU 0 mapped\n");
			return 2;
		}
		for (int k = 0; k < 12000 && access(argv[4], F_OK) != 0; k++)
			usleep(5000);
		/* let a writer of another program that was preempted in the
		 * middle of a record commit it: then our records are all in
		 * the committed prefix */
		usleep(100000);
		for (int tries = 0; tries < 100000; tries++) {
			uint64_t s = ctl->hdr.subbuf_size, h = ctl->hdr.subbuf_header_size;
			uint64_t off = rtr_atomic_load(&ctl->pos.offset, __ATOMIC_ACQUIRE);
			uint64_t ts = rtr_atomic_load(&ctl->pos.last_ts, __ATOMIC_RELAXED);
			uint64_t in = off & (s - 1);

			if (in <= h || in + 64 > s) {
				/* no open sub-buffer with room: one more record
				 * (it is committed, and counted as ours) */
				rtr_tracepoint(dmn, tick, n + extra, 0, 0.0, "x");
				extra++;
				continue;
			}
			if (cas16(&ctl->pos, off, ts, off + 64, ts)) {
				f = fopen(argv[3], "w");
				if (f) {
					fprintf(f, "%u\n", n + extra);
					fclose(f);
				}
				raise(SIGKILL); /* between reserve and commit */
			}
		}
		return 3;
	}
	if (argc >= 4 && !strcmp(argv[1], "scribble")) {
		unsigned cpu = (unsigned)strtoul(argv[2], NULL, 10);
		uint32_t n = (uint32_t)strtoul(argv[3], NULL, 10);
		struct rtr_ring_ctl *ctl;
		uint64_t x = 0x9e3779b97f4a7c15ull;
		size_t ctl_len;

		emit(0, n);
		ctl = find_buffer(cpu, &len);
		if (!ctl) {
			fprintf(stderr, "uid_app: no per-user buffer of CPU %u mapped\n", cpu);
			return 2;
		}
		ctl_len = ctl->hdr.data_offset < len ? ctl->hdr.data_offset : len;
		for (size_t i = 0; i + 8 <= ctl_len; i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy((char *)ctl + i, &x, 8);
		}
		emit(n, n);
		return 0;
	}
	fprintf(stderr, "usage: uid_app die N SIDE GO | scribble CPU N\n");
	return 2;
}
