/* Unit tests of the Chrome Trace Event JSON writer (lib/reader/sink/json.c)
 * on in-memory traces: processes and threads from the env and the vtid
 * context, CPU tracks without it, begin/end pairing (nesting, overlaps,
 * unmatched begins and ends, pairs split across threads, func_entry/exit by
 * address, system calls), and the log level selection of the reader. The
 * conventions are docs/design/reader.md's. */
#include <stdlib.h>
#include <string.h>

#include "iter/iter.h"
#include "rtr_test.h"

/* id 0 p:a_begin, 1 p:a_end, 2 p:b_entry, 3 p:b_exit, 4 p:c_start,
 * 5 p:x_end, 6 lttng_ust_cyg_profile:func_entry, 7 ..:func_exit,
 * 8 k:syscall_entry_read, 9 k:syscall_exit_read, 10 p:plain */
#define EVENTS                                                                                     \
	"event { id = 0; name = \"p:a_begin\"; loglevel = 6; fields := struct { uint8_t v; }; };\n"  \
	"event { id = 1; name = \"p:a_end\"; loglevel = 6; fields := struct { uint8_t v; }; };\n"    \
	"event { id = 2; name = \"p:b_entry\"; loglevel = 12; fields := struct { uint8_t v; }; };\n" \
	"event { id = 3; name = \"p:b_exit\"; loglevel = 12; fields := struct { uint8_t v; }; };\n"  \
	"event { id = 4; name = \"p:c_start\"; fields := struct { uint8_t v; }; };\n"                \
	"event { id = 5; name = \"p:x_end\"; loglevel = 4; fields := struct { uint8_t v; }; };\n"    \
	"event { id = 6; name = \"lttng_ust_cyg_profile:func_entry\"; fields := struct { uint8_t "   \
	"addr; }; };\n"                                                                              \
	"event { id = 7; name = \"lttng_ust_cyg_profile:func_exit\"; fields := struct { uint8_t "    \
	"addr; }; };\n"                                                                              \
	"event { id = 8; name = \"k:syscall_entry_read\"; fields := struct { uint8_t v; }; };\n"     \
	"event { id = 9; name = \"k:syscall_exit_read\"; fields := struct { uint8_t v; }; };\n"      \
	"event { id = 10; name = \"p:plain\"; loglevel = 0; fields := struct { uint8_t v; }; };\n"

#define HDR                                                                                        \
	"/* CTF 1.8 */\n"                                                                          \
	"typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"                 \
	"typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"               \
	"typealias integer { size = 64; align = 8; signed = false; map = clock.c.value; } := "     \
	"ts64;\n"                                                                                  \
	"clock { name = c; freq = 1000000000; };\n"                                                \
	"trace { major = 1; minor = 8; byte_order = le; };\n"                                      \
	"env { hostname = \"h\"; vpid = 42; procname = \"myprog\"; };\n"

static const char meta_vtid[] =
    HDR "stream { event.header := struct { uint8_t id; ts64 timestamp; };\n"
	"  event.context := struct { uint32_t vtid; }; };\n" EVENTS;
static const char meta_plain[] =
    HDR "stream { event.header := struct { uint8_t id; ts64 timestamp; }; };\n" EVENTS;

struct ev {
	uint8_t id;
	uint64_t ts;
	uint32_t vtid;
	uint8_t v;
};

static size_t encode(const struct ev *e, size_t n, bool vtid, uint8_t *d)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		d[k++] = e[i].id;
		memcpy(d + k, &e[i].ts, 8);
		k += 8;
		if (vtid) {
			memcpy(d + k, &e[i].vtid, 4);
			k += 4;
		}
		d[k++] = e[i].v;
	}
	return k;
}

/* The JSON of every event of the trace; malloc'd. */
static char *convert(const char *meta, const struct ev *e, size_t n, bool vtid,
		     const struct rtr_reader_options *o)
{
	static uint8_t d[16384];
	size_t len;
	struct rtr_reader *r;
	struct rtr_json *j;
	struct rtr_msg m;
	struct rtr_error err = {0};
	char *buf = NULL;
	size_t sz = 0;
	FILE *f = open_memstream(&buf, &sz);

	REQUIRE(f);
	REQUIRE(n * 14 <= sizeof(d));
	len = encode(e, n, vtid, d);
	if (rtr__reader_open_mem((const uint8_t *)meta, strlen(meta), d, len, o, &r, &err)) {
		fprintf(stderr, "open: %s\n", err.msg);
		REQUIRE(0);
	}
	REQUIRE(rtr_json_create(r, f, &j) == 0);
	while (rtr_reader_next(r, &m) == RTR_NEXT_OK)
		REQUIRE(rtr_json_print(j, &m) == 0);
	REQUIRE(rtr_json_destroy(j) == 0);
	rtr_reader_close(r);
	fclose(f);
	return buf;
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
		n++;
	return n;
}

static void test_pairs(void)
{
	const struct ev e[] = {
	    /* thread 7: a > b nested, then c_start never ended */
	    {0, 1000, 7, 1},
	    {2, 2000, 7, 2},
	    {3, 3000, 7, 3},
	    {1, 5000, 7, 4},
	    {4, 5500, 7, 5},
	    /* thread 8: a and b overlap without nesting: a is a slice, b's
	     * begin and end stay instants; an end with no begin */
	    {0, 6000, 8, 6},
	    {2, 7000, 8, 7},
	    {1, 8000, 8, 8},
	    {3, 9000, 8, 9},
	    {5, 9500, 8, 10},
	    /* a begin on thread 7 and its end on thread 9: no pair */
	    {0, 10000, 7, 11},
	    {1, 11000, 9, 12},
	    /* func_entry/func_exit by address: f(1) > f(2), then an exit of
	     * an address never entered */
	    {6, 12000, 9, 1},
	    {6, 13000, 9, 2},
	    {7, 14000, 9, 2},
	    {7, 15000, 9, 1},
	    {7, 15500, 9, 3},
	    /* a system call */
	    {8, 16000, 9, 0},
	    {9, 17500, 9, 0},
	};
	char *out = convert(meta_vtid, e, sizeof(e) / sizeof(e[0]), true, NULL);

	/* processes and threads: the env's pid and name, the vtid context */
	CHECK(strstr(out, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":42,\"tid\":42,"
			  "\"args\":{\"name\":\"myprog\"}}"));
	CHECK(!strstr(out, "CPU"));
	CHECK(!strstr(out, "\"pid\":0,"));
	/* thread 7: p:a [1000, 5000] containing p:b [2000, 3000] */
	CHECK(strstr(out, "{\"name\":\"p:b\",\"cat\":\"p\",\"ph\":\"X\",\"ts\":1.000,\"dur\":1.000,"
			  "\"pid\":42,\"tid\":7,\"args\":{\"begin\":{\"vtid\":7,\"v\":2},\"end\":{"
			  "\"vtid\":7,\"v\":3},\"events\":[\"p:b_entry\",\"p:b_exit\"]}}"));
	CHECK(strstr(out, "{\"name\":\"p:a\",\"cat\":\"p\",\"ph\":\"X\",\"ts\":0.000,\"dur\":4.000,"
			  "\"pid\":42,\"tid\":7,"));
	/* thread 8: only a paired */
	CHECK(strstr(out, "\"ph\":\"X\",\"ts\":5.000,\"dur\":2.000,\"pid\":42,\"tid\":8,"));
	CHECK(strstr(out, "{\"name\":\"p:b_entry\",\"cat\":\"p\",\"ph\":\"i\",\"s\":\"t\","
			  "\"ts\":6.000,\"pid\":42,\"tid\":8,"));
	CHECK(strstr(out, "{\"name\":\"p:b_exit\",\"cat\":\"p\",\"ph\":\"i\",\"s\":\"t\","
			  "\"ts\":8.000,\"pid\":42,\"tid\":8,"));
	CHECK(strstr(out, "{\"name\":\"p:x_end\",\"cat\":\"p\",\"ph\":\"i\""));
	/* split across threads and never ended: instants */
	CHECK(strstr(out, "{\"name\":\"p:a_begin\",\"cat\":\"p\",\"ph\":\"i\",\"s\":\"t\","
			  "\"ts\":9.000,\"pid\":42,\"tid\":7,"));
	CHECK(strstr(out, "{\"name\":\"p:a_end\",\"cat\":\"p\",\"ph\":\"i\",\"s\":\"t\","
			  "\"ts\":10.000,\"pid\":42,\"tid\":9,"));
	CHECK(strstr(out, "{\"name\":\"p:c_start\",\"cat\":\"p\",\"ph\":\"i\",\"s\":\"t\","
			  "\"ts\":4.500,"));
	/* functions by address, nested */
	CHECK(strstr(out, "{\"name\":\"func 0x2\",\"cat\":\"lttng_ust_cyg_profile\",\"ph\":\"X\","
			  "\"ts\":12.000,\"dur\":1.000,\"pid\":42,\"tid\":9,"));
	CHECK(strstr(out, "{\"name\":\"func 0x1\",\"cat\":\"lttng_ust_cyg_profile\",\"ph\":\"X\","
			  "\"ts\":11.000,\"dur\":3.000,"));
	CHECK(strstr(out, "{\"name\":\"lttng_ust_cyg_profile:func_exit\",\"cat\":"
			  "\"lttng_ust_cyg_profile\",\"ph\":\"i\",\"s\":\"t\",\"ts\":14.500,"));
	CHECK(strstr(out, "{\"name\":\"k:syscall read\",\"cat\":\"k\",\"ph\":\"X\",\"ts\":15.000,"
			  "\"dur\":1.500,"));
	/* threads without a name of their own get their process's */
	CHECK(strstr(out, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":42,\"tid\":8,"
			  "\"args\":{\"name\":\"myprog\"}}"));
	CHECK_EQ_U64(count(out, "\"ph\":\"X\""), 6);
	CHECK_EQ_U64(count(out, "\"ph\":\"i\""), 7);
	free(out);
}

static void test_cpu_tracks(void)
{
	/* no vtid: a CPU track in the traced process, and no pairs there
	 * (a CPU interleaves threads) */
	const struct ev e[] = {{0, 1000, 0, 1}, {1, 2000, 0, 2}, {10, 3000, 0, 3}};
	char *out = convert(meta_plain, e, 3, false, NULL);

	CHECK(strstr(out, "\"ph\":\"M\",\"pid\":42,\"tid\":42,\"args\":{\"name\":\"myprog\"}}"));
	CHECK(strstr(out, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":42,\"tid\":4194304,"
			  "\"args\":{\"name\":\"CPU 0\"}}"));
	CHECK_EQ_U64(count(out, "\"ph\":\"X\""), 0);
	CHECK_EQ_U64(count(out, "\"ph\":\"i\""), 3);
	free(out);
}

static void test_depth_bound(void)
{
	/* 300 begins on one thread: 256 held, the rest instants at once;
	 * the held ones become instants at the end: all 300 instants */
	struct ev e[300];
	char *out;

	for (int i = 0; i < 300; i++)
		e[i] = (struct ev){0, 1000 + (uint64_t)i, 5, (uint8_t)i};
	out = convert(meta_vtid, e, 300, true, NULL);
	CHECK_EQ_U64(count(out, "\"name\":\"p:a_begin\""), 300);
	CHECK_EQ_U64(count(out, "\"ph\":\"X\""), 0);
	free(out);
}

static void test_loglevel(void)
{
	const struct ev e[] = {{0, 1000, 1, 1}, {2, 2000, 1, 2}, {4, 3000, 1, 3},
			       {5, 4000, 1, 4}, {10, 5000, 1, 5}};
	struct rtr_reader_options o;
	char *out;

	/* up to TRACE_WARNING (4): x_end (4) and plain (0) */
	memset(&o, 0, sizeof(o));
	o.loglevel_sel = RTR_LOGLEVEL_SEL_UPTO;
	o.loglevel = 4;
	out = convert(meta_vtid, e, 5, true, &o);
	CHECK_EQ_U64(count(out, "\"ph\":\"i\""), 2);
	CHECK(strstr(out, "p:x_end") && strstr(out, "p:plain"));
	free(out);
	/* exactly TRACE_DEBUG_LINE (13): c_start, which declares no level */
	o.loglevel_sel = RTR_LOGLEVEL_SEL_ONLY;
	o.loglevel = 13;
	out = convert(meta_vtid, e, 5, true, &o);
	CHECK_EQ_U64(count(out, "\"ph\":\"i\""), 1);
	CHECK(strstr(out, "p:c_start"));
	free(out);
	/* up to TRACE_DEBUG_FUNCTION (12): all but c_start */
	o.loglevel_sel = RTR_LOGLEVEL_SEL_UPTO;
	o.loglevel = 12;
	out = convert(meta_vtid, e, 5, true, &o);
	CHECK_EQ_U64(count(out, "\"ph\":\"i\""), 4);
	CHECK(!strstr(out, "p:c_start"));
	free(out);
}

int main(void)
{
	test_pairs();
	test_cpu_tracks();
	test_depth_bound();
	test_loglevel();
	return rtr_test_done("test_json");
}
