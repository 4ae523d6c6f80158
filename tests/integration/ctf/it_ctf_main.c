/* CTF integration test (issue 4): an instrumented program with every field
 * kind, probes in the program and in a dlopen'ed library, traced in-process
 * (per-CPU buffers, registry bindings, packet hook, stream writer, metadata)
 * and read back with babeltrace2, whose output must equal what the program
 * logged to a side file, with nothing on stderr. Also: event ids past 30 and
 * gaps longer than 2^27 clock units (extended headers).
 * Design: docs/design/tracepoints.md, docs/design/ctf-writer.md. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RTR_DEFINE_PROBES
#include "it_main_tp.h"
#undef RTR_DEFINE_PROBES

#include "ctf-writer.h"
#include "registry.h"
#include "rtr_test.h"

#define IT_PROV	   itmain
#define IT_EMIT_FN it_main_emit
#include "it_emit.h"

#define ROUNDS	  6
#define GAP_ROUND 2
/* Longer than 2^27 clock units whether they are ns (134 ms) or TSC cycles
 * (44 ms at 3 GHz): the compact header cannot carry it. */
#define GAP_NS 300000000LL

struct it_chan {
	const char *name;
	uint32_t stream_id;
	uint32_t client;
	uint32_t id_base;
	uint32_t next_id;
	const struct rtr_ring_config *cfg;
	struct rtr_ring_chan *chan;
	struct rtr_ctf_stream **streams;
};

static uint8_t trace_uuid[16];
static uint32_t ncpus;

static void setup_chan(struct it_chan *c, int dirfd)
{
	struct rtr_ring_geometry geo = {.subbuf_size = 4096, .num_subbuf = 16};

	c->cfg = rtr_ctf_host_config(c->client);
	REQUIRE(c->cfg != NULL);
	c->chan = rtr_ring_chan_alloc(ncpus);
	REQUIRE(c->chan != NULL);
	c->streams = calloc(ncpus, sizeof(*c->streams));
	REQUIRE(c->streams != NULL);
	for (uint32_t cpu = 0; cpu < ncpus; cpu++) {
		struct rtr_ctf_stream_priv priv = {
		    .stream_class_id = c->stream_id,
		    .cpu_id = cpu,
		    .stream_instance_id = cpu,
		};
		char name[64];
		int r;

		memcpy(priv.trace_uuid, trace_uuid, 16);
		r = rtr_ring_buf_create(c->cfg, &geo, cpu, c->name, &c->chan->bufs[cpu]);
		if (r)
			fprintf(stderr, "rtr_ring_buf_create: %s\n", strerror(-r));
		REQUIRE(r == 0);
		snprintf(name, sizeof(name), "%s_%u", c->name, cpu);
		c->streams[cpu] =
		    rtr_ctf_stream_create(dirfd, name, c->cfg, c->chan->bufs[cpu], &priv);
		REQUIRE(c->streams[cpu] != NULL);
	}
}

static void drain_chan(struct it_chan *c, bool final)
{
	for (uint32_t cpu = 0; cpu < ncpus; cpu++) {
		int r;

		if (final)
			CHECK(rtr_ring_flush(c->cfg, c->chan->bufs[cpu], RTR_RING_FLUSH_ACTIVE,
					     true) == 0);
		r = rtr_ctf_stream_drain(c->streams[cpu], 0);
		if (r < 0)
			fprintf(stderr, "drain: %s\n", rtr_ctf_stream_error(c->streams[cpu]));
		CHECK(r >= 0);
	}
}

static void bind_event(struct it_chan *c, struct rtr_ctf_meta *meta,
		       const struct rtr_event_desc *ev)
{
	struct rtr_event_binding b = {
	    .chan = c->chan,
	    .event_id = c->id_base + c->next_id++,
	    .client = c->client,
	};
	int r;

	CHECK(rtr__registry_bind_locked(ev->state->reg_index, &b) == 0);
	r = rtr_ctf_meta_add_event(meta, b.event_id, c->stream_id, ev);
	if (r)
		fprintf(stderr, "add_event: %s\n", rtr_ctf_meta_error(meta));
	CHECK(r == 0);
}

static unsigned count_providers(void)
{
	unsigned n = 0;

	rtr__registry_lock();
	for (struct rtr_provider *p = rtr__registry_first_locked(); p; p = p->next)
		n++;
	rtr__registry_unlock();
	return n;
}

static const struct rtr_event_desc *find_event(const char *prov, const char *name)
{
	const struct rtr_event_desc *found = NULL;

	rtr__registry_lock();
	for (struct rtr_provider *p = rtr__registry_first_locked(); p; p = p->next)
		for (uint32_t i = 0; i < p->nr_events; i++)
			if (!strcmp(p->events[i]->provider, prov) &&
			    !strcmp(p->events[i]->name, name))
				found = p->events[i];
	rtr__registry_unlock();
	return found;
}

static void emit_many(FILE *side, uint64_t *seq)
{
#define IT_MANY_CALL(n)                                                                            \
	do {                                                                                       \
		struct it_line l_;                                                                 \
		uint64_t s_ = (*seq)++;                                                            \
		rtr_tracepoint(itmany, e##n, s_);                                                  \
		it_begin(&l_, side, "itmany", "e" #n);                                             \
		it_u(&l_, "seq", s_);                                                              \
		it_end(&l_);                                                                       \
	} while (0)
	IT_MANY_CALL(0);
	IT_MANY_CALL(1);
	IT_MANY_CALL(2);
	IT_MANY_CALL(3);
	IT_MANY_CALL(4);
	IT_MANY_CALL(5);
	IT_MANY_CALL(6);
	IT_MANY_CALL(7);
	IT_MANY_CALL(8);
	IT_MANY_CALL(9);
	IT_MANY_CALL(10);
	IT_MANY_CALL(11);
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* ------------------------------------------------------------------------
 * Reading babeltrace2's output back
 * ------------------------------------------------------------------------ */

struct lines {
	char **v;
	size_t n, cap;
};

static void lines_add(struct lines *l, const char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		REQUIRE(l->v != NULL);
	}
	l->v[l->n] = strdup(s);
	REQUIRE(l->v[l->n] != NULL);
	l->n++;
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 1 << 20;
			buf = realloc(buf, cap);
			REQUIRE(buf != NULL);
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);

		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* A babeltrace2 line "[S.N] (+D) host:proc:(pid) NAME: { cpu_id = C }, PAYLOAD"
 * becomes "NAME: PAYLOAD"; its timestamp goes to *ts_ns. */
static bool parse_bt_line(const char *line, char *out, size_t cap, int64_t *ts_ns)
{
	long long s, ns;
	const char *p, *name, *colon;
	unsigned cpu;
	int used = 0;

	if (sscanf(line, "[%lld.%9lld]", &s, &ns) != 2)
		return false;
	*ts_ns = s * 1000000000LL + ns;
	p = strstr(line, ") "); /* end of the delta */
	if (!p)
		return false;
	p = strchr(p + 2, ' '); /* end of host:proc:(pid) */
	if (!p)
		return false;
	name = p + 1;
	colon = strstr(name, ": { cpu_id = ");
	if (!colon || sscanf(colon, ": { cpu_id = %u }, %n", &cpu, &used) != 1 || used == 0)
		return false;
	snprintf(out, cap, "%.*s: %s", (int)(colon - name), name, colon + used);
	return true;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(int argc, char **argv)
{
	char work[] = "/tmp/rtr-ctf-it.XXXXXX", trace[300], side_path[300], cmd[1200];
	struct it_chan chans[2] = {
	    {.name = "chan0", .stream_id = 0, .id_base = 0},
	    {.name = "chan1", .stream_id = 1, .id_base = 100}, /* every id extended */
	};
	struct rtr_clock_sync sync[2];
	struct rtr_clock_meta cmeta;
	struct rtr_ctf_meta *meta;
	void (*lib_emit)(FILE *, uint64_t *, int);
	void *lib;
	FILE *side;
	uint64_t seq = 0, gap_seq = 0;
	int64_t gap_outer = 0;
	int dirfd, r;

	if (argc < 2) {
		fprintf(stderr, "usage: %s LIBRARY.so\n", argv[0]);
		return 2;
	}
	if (system("babeltrace2 --version >/dev/null 2>&1") != 0) {
		printf("babeltrace2 not found: skipped\n");
		return 77;
	}
	ncpus = (uint32_t)get_nprocs_conf();
	REQUIRE(mkdtemp(work) != NULL);
	snprintf(trace, sizeof(trace), "%s/trace", work);
	snprintf(side_path, sizeof(side_path), "%s/expected.txt", work);
	REQUIRE(mkdir(trace, 0755) == 0);
	dirfd = open(trace, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	REQUIRE(dirfd >= 0);
	side = fopen(side_path, "w");
	REQUIRE(side != NULL);
	for (int i = 0; i < 16; i++)
		trace_uuid[i] = (uint8_t)(rand() ^ (getpid() >> (i % 4)));

	/* Registration: constructors of this program ran before main. */
	CHECK_EQ_U64(count_providers(), 2);
	{
		const struct rtr_event_desc *e;

		REQUIRE((e = find_event("itmain", "ints")) != NULL);
		CHECK_EQ_I64(e->loglevel, RTR_LOGLEVEL_INFO);
		CHECK_EQ_U64(e->nr_fields, 10);
		REQUIRE((e = find_event("itmain", "enums")) != NULL);
		CHECK_EQ_I64(e->loglevel, RTR_LOGLEVEL_WARNING);
		REQUIRE((e = find_event("itmain", "floats")) != NULL);
		CHECK_EQ_I64(e->loglevel, RTR_LOGLEVEL_DEBUG_LINE);
		REQUIRE((e = find_event("itmain", "strings")) != NULL);
		CHECK_EQ_I64(e->loglevel, RTR_LOGLEVEL_NONE);
		REQUIRE((e = find_event("itmain", "max")) != NULL);
		CHECK_EQ_U64(e->nr_fields, 32);
		REQUIRE((e = find_event("itmain", "noargs")) != NULL);
		CHECK_EQ_U64(e->nr_fields, 0);
		CHECK(!rtr_tracepoint_enabled(itmain, ints));
	}
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		fprintf(stderr, "dlopen: %s\n", dlerror());
	REQUIRE(lib != NULL);
	*(void **)&lib_emit = dlsym(lib, "it_lib_emit");
	REQUIRE(lib_emit != NULL);
	CHECK_EQ_U64(count_providers(), 3); /* itlib registered at dlopen */

	rtr_clock_init(NULL);
	REQUIRE(rtr_clock_sync_take(&sync[0]) == 0);

	chans[0].client = (uint32_t)rtr_ctf_client_select(
	    RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_DISCARD,
	    RTR_HAVE_RSEQ && rtr_rseq_registered() ? RTR_RING_SYNC_RSEQ : RTR_RING_SYNC_ATOMIC);
	chans[1].client = (uint32_t)rtr_ctf_client_select(
	    RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC);
	REQUIRE((int)chans[0].client > 0 && (int)chans[1].client > 0);
	for (int c = 0; c < 2; c++)
		setup_chan(&chans[c], dirfd);

	meta = rtr_ctf_meta_create(trace_uuid, RTR_CTF_BYTE_ORDER_HOST);
	REQUIRE(meta != NULL);
	CHECK(rtr_ctf_meta_add_stream(meta, 0, "chan0") == 0);
	CHECK(rtr_ctf_meta_add_stream(meta, 1, "chan1") == 0);
	rtr__registry_lock();
	for (struct rtr_provider *p = rtr__registry_first_locked(); p; p = p->next)
		for (uint32_t i = 0; i < p->nr_events; i++)
			for (int c = 0; c < 2; c++)
				bind_event(&chans[c], meta, p->events[i]);
	rtr__registry_unlock();
	CHECK(chans[0].next_id > 31); /* ids 31.. of stream 0 use the extended header */
	CHECK(rtr_tracepoint_enabled(itmain, ints));
	CHECK(find_event("itlib", "ints")->state->enabled); /* hidden in the library */

	for (int round = 0; round < ROUNDS; round++) {
		it_main_emit(side, &seq, round);
		lib_emit(side, &seq, round);
		emit_many(side, &seq);
		if (round == GAP_ROUND) {
			/* Two events further apart than a compact header can say. */
			int64_t t0 = now_ns();
			struct timespec d = {.tv_sec = 0, .tv_nsec = GAP_NS};
			struct it_line l;

			gap_seq = seq;
			rtr_tracepoint(itmany, e0, seq);
			it_begin(&l, side, "itmany", "e0");
			it_u(&l, "seq", seq++);
			it_end(&l);
			while (nanosleep(&d, &d) != 0 && errno == EINTR)
				;
			rtr_tracepoint(itmany, e1, seq);
			gap_outer = now_ns() - t0;
			it_begin(&l, side, "itmany", "e1");
			it_u(&l, "seq", seq++);
			it_end(&l);
		}
		for (int c = 0; c < 2; c++)
			drain_chan(&chans[c], false);
	}
	rtr__registry_lock();
	rtr__registry_unbind_all_locked();
	rtr__registry_unlock();
	CHECK(!rtr_tracepoint_enabled(itmain, ints));
	fclose(side);

	for (int c = 0; c < 2; c++) {
		drain_chan(&chans[c], true);
		for (uint32_t cpu = 0; cpu < ncpus; cpu++)
			CHECK_EQ_U64(rtr_ring_buf_lost(chans[c].chan->bufs[cpu]), 0);
	}
	{
		struct timespec d = {.tv_sec = 0, .tv_nsec = 5000000};

		nanosleep(&d, NULL); /* the two sync points span > 1 ms */
	}
	REQUIRE(rtr_clock_sync_take(&sync[1]) == 0);
	{
		struct rtr_clock_describe_in in = {
		    .source = rtr_clock_get_source(),
		    .pts = sync,
		    .n = 2,
		    .nominal_freq = 1000000000,
		};
		struct rtr_ctf_std_env env = {.procname = "it_ctf_main", .vpid = getpid()};

		REQUIRE(rtr_clock_describe(&in, &cmeta) == 0);
		CHECK(rtr_ctf_meta_set_clock(meta, &cmeta.desc) == 0);
		CHECK(rtr_ctf_meta_env_std(meta, &env) == 0);
		CHECK(rtr_ctf_meta_env_clock(meta, &cmeta) == 0);
		CHECK(rtr_ctf_meta_env_sync_list(meta, sync, 2) == 0);
		r = rtr_ctf_meta_write(meta, dirfd, "metadata");
		CHECK(r == 0);
	}

	/* dlclose runs itlib's destructors: unregistered. */
	CHECK(dlclose(lib) == 0);
	CHECK_EQ_U64(count_providers(), 2);

	for (int c = 0; c < 2; c++) {
		for (uint32_t cpu = 0; cpu < ncpus; cpu++) {
			CHECK(rtr_ctf_stream_destroy(chans[c].streams[cpu], false) == 0);
			rtr_ring_buf_destroy(chans[c].chan->bufs[cpu]);
		}
		free(chans[c].streams);
		rtr_ring_chan_free(chans[c].chan);
	}

	/* babeltrace2 reads it: every value, nothing on stderr. */
	snprintf(cmd, sizeof(cmd),
		 "babeltrace2 --clock-seconds --color=never '%s' >'%s/bt.out' 2>'%s/bt.err'", trace,
		 work, work);
	r = system(cmd);
	CHECK(r != -1 && WIFEXITED(r) && WEXITSTATUS(r) == 0);
	{
		char path[400], *err, *out, *expected, *save = NULL;
		struct lines got = {0}, want = {0};
		int64_t ts_before = INT64_MAX, ts_after = INT64_MIN, ts_b_max = INT64_MIN,
			ts_a_min = INT64_MAX;

		snprintf(path, sizeof(path), "%s/bt.err", work);
		err = slurp(path, NULL);
		REQUIRE(err != NULL);
		if (*err)
			fprintf(stderr, "babeltrace2 stderr:\n%s\n", err);
		CHECK(*err == '\0');
		snprintf(path, sizeof(path), "%s/bt.out", work);
		out = slurp(path, NULL);
		expected = slurp(side_path, NULL);
		REQUIRE(out != NULL && expected != NULL);
		for (char *line = strtok_r(out, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char buf[20000];
			int64_t ts;

			if (!parse_bt_line(line, buf, sizeof(buf), &ts)) {
				fprintf(stderr, "unparsable babeltrace2 line: %s\n", line);
				CHECK(0);
				continue;
			}
			lines_add(&got, buf);
			if (strncmp(buf, "itmany:e0: { seq = ", 19) == 0 &&
			    strtoull(buf + 19, NULL, 10) == gap_seq) {
				ts_before = ts;
				ts_b_max = ts_b_max > ts ? ts_b_max : ts;
			}
			if (strncmp(buf, "itmany:e1: { seq = ", 19) == 0 &&
			    strtoull(buf + 19, NULL, 10) == gap_seq + 1) {
				ts_after = ts;
				ts_a_min = ts_a_min < ts ? ts_a_min : ts;
			}
		}
		save = NULL;
		for (char *line = strtok_r(expected, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			lines_add(&want, line); /* once per channel */
			lines_add(&want, line);
		}
		printf("events: expected %zu, babeltrace2 printed %zu\n", want.n, got.n);
		CHECK_EQ_U64(got.n, want.n);
		qsort(got.v, got.n, sizeof(*got.v), cmp_str);
		qsort(want.v, want.n, sizeof(*want.v), cmp_str);
		for (size_t i = 0, bad = 0; i < got.n && i < want.n && bad < 20; i++)
			if (strcmp(got.v[i], want.v[i]) != 0) {
				fprintf(stderr, "mismatch (sorted #%zu):\n  want: %s\n  got:  %s\n",
					i, want.v[i], got.v[i]);
				CHECK(0);
				bad++;
			}
		/* The gap survived: > 2^27 units, so extended headers carried it. */
		CHECK(ts_before != INT64_MAX && ts_after != INT64_MIN);
		printf("gap: slept %lld ns, outer window %" PRId64 " ns, trace says %" PRId64
		       " ns\n",
		       GAP_NS, gap_outer, ts_a_min - ts_b_max);
		CHECK(ts_a_min - ts_b_max >= GAP_NS * 9 / 10);
		CHECK(ts_a_min - ts_b_max <= gap_outer + 1000000);
		lines_free(&got);
		lines_free(&want);
		free(err);
		free(out);
		free(expected);
	}
	rtr_ctf_meta_destroy(meta);
	close(dirfd);
	if (rtr_test_failures == 0 && !getenv("IT_CTF_KEEP"))
		nftw(work, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "trace kept in %s\n", work);
	return rtr_test_done("it_ctf_main");
}
