/* Writes a small CTF kernel trace whose ordering problems are known, with
 * lib/kernel's own writer and real event formats (tests/unit/kernel/
 * formats): a skew bound of 100 ns, three pairs of consecutive events on
 * different CPUs closer than that (of eleven pairs), a task switched in
 * 100 ns before the waking that woke it, a futex wait returning 200 ns
 * before the wake of its address, and one correct wake-up and futex each.
 * order.sh checks that `ringtrace stats` and `view --uncertain` say so.
 * Usage: kt_mktrace FORMATS_DIR OUT_DIR (OUT_DIR/kernel is created) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <traceevent/event-parse.h>

#include "kernel-internal.h"

static struct tep_handle *tep;
static struct rtr__ktrace t;
static const char *fdir;

static int id_of(const char *sys, const char *ev)
{
	struct tep_event *e = tep_find_event_by_name(tep, sys, ev);
	char path[1024], buf[16384];
	FILE *f;
	size_t n;

	if (e)
		return e->id;
	snprintf(path, sizeof(path), "%s/%s@%s.format", fdir, sys, ev);
	f = fopen(path, "r");
	if (!f) {
		perror(path);
		exit(1);
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (tep_parse_event(tep, buf, n, sys) != 0)
		exit(1);
	return tep_find_event_by_name(tep, sys, ev)->id;
}

static void emit(int cpu, uint64_t ts, uint8_t *rec, size_t len, int32_t tid)
{
	memcpy(rec + 4, &tid, 4);
	if (rtr__kstream_record(&t.streams[cpu], ts, rec, len)) {
		fprintf(stderr, "write failed\n");
		exit(1);
	}
}

static void sw(int cpu, uint64_t ts, int32_t prev, int64_t state, int32_t next)
{
	uint8_t r[64] = {0};
	uint16_t id = (uint16_t)id_of("sched", "sched_switch");
	int32_t prio = 120;

	memcpy(r, &id, 2);
	snprintf((char *)r + 8, 16, "t%d", prev);
	memcpy(r + 24, &prev, 4);
	memcpy(r + 28, &prio, 4);
	memcpy(r + 32, &state, 8);
	snprintf((char *)r + 40, 16, "t%d", next);
	memcpy(r + 56, &next, 4);
	memcpy(r + 60, &prio, 4);
	emit(cpu, ts, r, sizeof(r), prev);
}

static void waking(int cpu, uint64_t ts, int32_t by, int32_t tid)
{
	uint8_t r[40] = {0};
	uint16_t id = (uint16_t)id_of("sched", "sched_waking");
	int32_t prio = 120, target = 1 - cpu;

	memcpy(r, &id, 2);
	snprintf((char *)r + 8, 16, "t%d", tid);
	memcpy(r + 24, &tid, 4);
	memcpy(r + 28, &prio, 4);
	memcpy(r + 32, &target, 4);
	emit(cpu, ts, r, sizeof(r), by);
}

static void futex_in(int cpu, uint64_t ts, int32_t tid, uint64_t uaddr, int64_t op)
{
	uint8_t r[64] = {0};
	uint16_t id = (uint16_t)id_of("syscalls", "sys_enter_futex");
	int32_t nr = 202;

	memcpy(r, &id, 2);
	memcpy(r + 8, &nr, 4);
	memcpy(r + 16, &uaddr, 8);
	memcpy(r + 24, &op, 8);
	emit(cpu, ts, r, sizeof(r), tid);
}

static void futex_out(int cpu, uint64_t ts, int32_t tid, int64_t ret)
{
	uint8_t r[24] = {0};
	uint16_t id = (uint16_t)id_of("syscalls", "sys_exit_futex");
	int32_t nr = 202;

	memcpy(r, &id, 2);
	memcpy(r + 8, &nr, 4);
	memcpy(r + 16, &ret, 8);
	emit(cpu, ts, r, sizeof(r), tid);
}

int main(int argc, char **argv)
{
	struct rtr__kmap map;
	const uint64_t T0 = 1000000000; /* 1 s: timestamps below are T0 + ns */
	int dfd;

	if (argc != 3)
		return 2;
	fdir = argv[1];
	tep = tep_alloc();
	tep_set_long_size(tep, 8);
	if (mkdir(argv[2], 0755) && errno != EEXIST)
		return 1;
	dfd = open(argv[2], O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || rtr__kmap_init(&map, tep, false) ||
	    rtr__ktrace_create(&t, dfd, argv[2], "kernel", 2, 65536, 0644, &map, NULL))
		return 1;

	/* consecutive events on different CPUs: 50, 60 and 90 ns apart */
	sw(0, T0 + 1000, 0, 0, 0);
	sw(1, T0 + 1050, 0, 0, 0);
	sw(0, T0 + 1200, 0, 0, 0);
	sw(1, T0 + 1260, 0, 0, 0);
	sw(1, T0 + 1300, 0, 0, 0);
	sw(0, T0 + 1390, 0, 0, 0);
	/* 500 sleeps, is switched in on CPU 1 at 3000, woken at 3100 */
	sw(0, T0 + 2000, 500, 1, 0);
	sw(1, T0 + 3000, 0, 0, 500);
	waking(0, T0 + 3100, 77, 500);
	/* 501: sleeps, woken, switched in: right */
	sw(0, T0 + 4000, 501, 1, 0);
	waking(0, T0 + 5000, 77, 501);
	sw(1, T0 + 5500, 0, 0, 501);
	/* 600 waits on 0x1000 and returns at 7000; 601 wakes it at 7200 */
	futex_in(1, T0 + 6000, 600, 0x1000, 128);
	futex_out(1, T0 + 7000, 600, 0);
	futex_in(0, T0 + 7200, 601, 0x1000, 129);
	futex_out(0, T0 + 7300, 601, 1);
	/* 602 waits on 0x2000, 603 wakes it, 602 returns: right */
	futex_in(1, T0 + 8000, 602, 0x2000, 128);
	futex_in(0, T0 + 8500, 603, 0x2000, 129);
	futex_out(0, T0 + 8600, 603, 1);
	futex_out(1, T0 + 9000, 602, 0);

	for (int c = 0; c < 2; c++)
		rtr__kstream_finish(&t.streams[c], T0 + 10000);
	{
		struct rtr_clock_sync pts[2] = {
		    {.clock = 0, .mono_ns = 0, .real_ns = 1700000000000000000, .window = 0},
		    {.clock = T0 * 10, .mono_ns = T0 * 10, .real_ns = 1700000010000000000, .window = 0},
		};
		struct rtr_clock_describe_in din = {
		    .source = RTR_CLOCK_MONOTONIC, .pts = pts, .n = 2, .nominal_freq = 1000000000u};
		struct rtr_clock_meta cm;
		struct rtr__kenv env = {.source = "test", .trace_clock = "mono", .clock_check_ns = 0};

		if (rtr_clock_describe(&din, &cm))
			return 1;
		cm.env.skew_bound_ns = 100;
		if (rtr__ktrace_metadata(&t, &cm, pts, 2, &env))
			return 1;
	}
	rtr__ktrace_close(&t);
	rtr__kmap_fini(&map);
	tep_free(tep);
	close(dfd);
	return 0;
}
