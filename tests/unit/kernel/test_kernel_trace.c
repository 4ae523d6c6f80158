/* Unit tests of the CTF kernel trace writer (lib/kernel/ktrace.c): records
 * of two CPUs written through small packets, with time gaps that need the
 * extended header, a timestamp going backwards (clamped), losses in the
 * middle and at the end; read back with lib/reader, which must see every
 * event with its values and time, and the losses where they were said. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringtrace/reader.h>
#include <traceevent/event-parse.h>

#include "kernel-internal.h"
#include "rtr_test.h"

#define NEV 6000

static struct tep_event *load(struct tep_handle *tep, const char *dir, const char *sys,
			      const char *ev)
{
	char path[1024], buf[16384];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s@%s.format", dir, sys, ev);
	f = fopen(path, "r");
	REQUIRE(f != NULL);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	REQUIRE(tep_parse_event(tep, buf, n, sys) == 0);
	return tep_find_event_by_name(tep, sys, ev);
}

static int rm_rf(const char *path)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "formats";
	char tmp[] = "/tmp/rtr-ktrace-XXXXXX", tpath[600];
	struct tep_handle *tep = tep_alloc();
	struct rtr__kmap map;
	struct rtr__ktrace t;
	struct tep_event *sw;
	uint64_t ts[2] = {1000000, 1000500}, want_ts[NEV];
	uint64_t lost_total[2] = {0, 0};
	int parent, r;

	REQUIRE(tep && mkdtemp(tmp));
	tep_set_long_size(tep, 8);
	sw = load(tep, dir, "sched", "sched_switch");
	REQUIRE(sw != NULL);
	REQUIRE(rtr__kmap_init(&map, tep, false) == 0);
	parent = open(tmp, O_RDONLY | O_DIRECTORY);
	REQUIRE(parent >= 0);
	r = rtr__ktrace_create(&t, parent, tmp, "kernel", 2, 1024, 0600, &map, NULL);
	REQUIRE(r == 0);

	for (int i = 0; i < NEV; i++) {
		uint8_t rec[64] = {0};
		uint16_t type = (uint16_t)sw->id;
		int cpu = i % 2;
		int32_t pid = 100 + i % 7, next = i;
		int32_t prio = 120;
		uint64_t step = (i % 500 == 499) ? (1ull << 28) : 977; /* 2^28: extended header */

		uint64_t use;

		if (i == 3001) {
			use = ts[cpu] - 5000; /* backwards: clamped to the previous */
			want_ts[i] = ts[cpu];
		} else {
			ts[cpu] += step;
			use = want_ts[i] = ts[cpu];
		}
		memcpy(rec, &type, 2);
		memcpy(rec + 4, &pid, 4);
		snprintf((char *)rec + 8, 16, "p%d", i % 13);
		memcpy(rec + 24, &pid, 4);
		memcpy(rec + 28, &prio, 4);
		snprintf((char *)rec + 40, 16, "n%d", i);
		memcpy(rec + 56, &next, 4);
		memcpy(rec + 60, &prio, 4);
		REQUIRE(rtr__kstream_record(&t.streams[cpu], use, rec, sizeof(rec)) == 0);
		if (i == 2000 || i == 4001) {
			lost_total[cpu] += 17 + (uint64_t)i;
			REQUIRE(rtr__kstream_lost(&t.streams[cpu], lost_total[cpu]) == 0);
		}
	}
	lost_total[0] += 5; /* after the last packet: an empty one says so */
	REQUIRE(rtr__kstream_lost(&t.streams[0], lost_total[0]) == 0);
	CHECK_EQ_U64(t.streams[1].clamped, 1);
	REQUIRE(rtr__kstream_finish(&t.streams[0], ts[0] + 10) == 0);
	REQUIRE(rtr__kstream_finish(&t.streams[1], ts[1] + 10) == 0);
	CHECK(t.streams[0].packets > 20);

	{
		struct rtr_clock_sync pts[2] = {
		    {.clock = 0, .mono_ns = 0, .real_ns = 1700000000000000000, .window = 0},
		    {.clock = 10000000000ull, .mono_ns = 10000000000ull,
		     .real_ns = 1700000010000000000, .window = 0},
		};
		struct rtr_clock_describe_in din = {.source = RTR_CLOCK_MONOTONIC,
						    .pts = pts,
						    .n = 2,
						    .nominal_freq = 1000000000u};
		struct rtr_clock_meta cm;
		struct rtr__kenv env = {.source = "test", .trace_clock = "mono",
					.clock_check_ns = 12};

		REQUIRE(rtr_clock_describe(&din, &cm) == 0);
		REQUIRE(rtr__ktrace_metadata(&t, &cm, pts, 2, &env) == 0);
	}
	rtr__ktrace_close(&t);

	/* read it back */
	{
		const char *paths[1];
		struct rtr_reader *rd;
		struct rtr_reader_options o = {0};
		struct rtr_msg m;
		struct rtr_error err = {0};
		int seen[2] = {0, 0}, idx[2] = {0, 1};
		uint64_t disc[2] = {0, 0};
		struct rtr_env_value ev;

		snprintf(tpath, sizeof(tpath), "%s/kernel", tmp);
		paths[0] = tpath;
		REQUIRE(rtr_reader_open(paths, 1, &o, &rd, &err) == 0);
		CHECK(!rtr_reader_trace_env(rd, 0, "domain", &ev) && !ev.is_int &&
		      !strcmp(ev.s, "kernel"));
		CHECK(!rtr_reader_trace_env(rd, 0, "tracer_name", &ev) && !ev.is_int &&
		      !strcmp(ev.s, "lttng-modules"));
		CHECK(!rtr_reader_trace_env(rd, 0, "kernel_clock_check_ns", &ev) && ev.is_int &&
		      ev.i == 12);
		while ((r = (int)rtr_reader_next(rd, &m)) == RTR_NEXT_OK) {
			REQUIRE(m.stream && m.stream->stream_id < 2);
			if (m.kind == RTR_MSG_DISCARDED_EVENTS) {
				disc[m.stream->stream_id] += m.count;
				continue;
			}
			REQUIRE(m.kind == RTR_MSG_EVENT);
			CHECK_STR_EQ(m.name, "sched_switch");
			{
				int cpu = (int)m.stream->stream_id;
				int i = idx[cpu];
				char want[16];
				int64_t tid_ctx = -1, next_tid = -1, prev_prio = -1;
				const char *next_comm = NULL;

				for (size_t v = 0; v < m.n_values; v++) {
					const struct rtr_value *x = &m.values[v];
					const char *nm = rtr_value_name(x);

					if (!nm)
						continue;
					if (x->scope == RTR_SCOPE_EVENT_COMMON_CONTEXT &&
					    !strcmp(nm, "tid"))
						tid_ctx = x->v.i;
					else if (!strcmp(nm, "next_tid"))
						next_tid = x->v.i;
					else if (!strcmp(nm, "prev_prio"))
						prev_prio = x->v.i;
					else if (!strcmp(nm, "next_comm") &&
						 x->kind == RTR_VAL_STRING)
						next_comm = x->v.s;
				}
				snprintf(want, sizeof(want), "n%d", i);
				CHECK_EQ_I64(next_tid, i);
				CHECK_EQ_I64(tid_ctx, 100 + i % 7);
				CHECK_EQ_I64(prev_prio, 20);
				CHECK(next_comm && !strncmp(next_comm, want, strlen(want)));
				CHECK_EQ_U64(m.cycles, want_ts[i]);
				idx[cpu] += 2;
				seen[cpu]++;
			}
		}
		CHECK(r == RTR_NEXT_END);
		if (r == RTR_NEXT_ERROR)
			fprintf(stderr, "reader: %s\n", rtr_reader_error(rd)->msg);
		CHECK_EQ_U64(seen[0] + seen[1], NEV);
		CHECK_EQ_U64(disc[0], lost_total[0]);
		CHECK_EQ_U64(disc[1], lost_total[1]);
		rtr_reader_close(rd);
	}
	{
		struct stat st;
		char p[700];

		snprintf(p, sizeof(p), "%s/kernel/channel0_0", tmp);
		CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
		snprintf(p, sizeof(p), "%s/kernel/index/channel0_1.idx", tmp);
		CHECK(stat(p, &st) == 0);
	}
	close(parent);
	rtr__kmap_fini(&map);
	tep_free(tep);
	rm_rf(tmp);
	return rtr_test_done("test_kernel_trace");
}
