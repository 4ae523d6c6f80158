/* Unit tests of the tracefs -> LTTng mapping (lib/kernel/map.c): names,
 * field lists and types made from real event formats (copied from a 6.18
 * kernel's tracefs into formats/), and the converters on hand-made
 * records, including short and lying ones. No tracefs needed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <traceevent/event-parse.h>

#include "kernel-internal.h"
#include "rtr_test.h"

static struct tep_handle *tep;
static struct rtr__kmap map;

static struct tep_event *load(const char *dir, const char *sys, const char *ev)
{
	char path[1024], buf[16384];
	FILE *f;
	size_t n;
	struct tep_event *e;

	snprintf(path, sizeof(path), "%s/%s@%s.format", dir, sys, ev);
	f = fopen(path, "r");
	REQUIRE(f != NULL);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	REQUIRE(tep_parse_event(tep, buf, n, sys) == 0);
	e = tep_find_event_by_name(tep, sys, ev);
	REQUIRE(e != NULL);
	return e;
}

static const struct rtr__kplan *plan_of(struct tep_event *e)
{
	return rtr__kmap_plan(&map, (uint16_t)e->id);
}

static const struct rtr_field_desc *fdesc(const struct rtr__kplan *p, const char *name)
{
	for (uint32_t i = 0; i < p->nr_fields; i++)
		if (!strcmp(p->descs[i].name, name))
			return &p->descs[i];
	return NULL;
}

/* Checks field i of p: name, kind, integer size/sign. */
static void check_field(const struct rtr__kplan *p, uint32_t i, const char *name, int kind,
			unsigned bits, int sgn)
{
	REQUIRE(i < p->nr_fields);
	CHECK_STR_EQ(p->descs[i].name, name);
	CHECK_EQ_U64(p->descs[i].kind, kind);
	if (kind == RTR_FIELD_INTEGER || kind == RTR_FIELD_ARRAY) {
		CHECK_EQ_U64(p->descs[i].integer.size_bits, bits);
		if (sgn >= 0)
			CHECK_EQ_U64(p->descs[i].integer.is_signed, (unsigned)sgn);
	}
}

static void put16(uint8_t *r, size_t off, uint16_t v)
{
	memcpy(r + off, &v, 2);
}
static void put32(uint8_t *r, size_t off, uint32_t v)
{
	memcpy(r + off, &v, 4);
}
static void put64(uint8_t *r, size_t off, uint64_t v)
{
	memcpy(r + off, &v, 8);
}
static int32_t get32(const uint8_t *p)
{
	int32_t v;

	memcpy(&v, p, 4);
	return v;
}
static int64_t get64(const uint8_t *p)
{
	int64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void test_names(void)
{
	char b[128];

	CHECK_STR_EQ(rtr__kname("sched", "sched_switch", b, sizeof(b)), "sched_switch");
	CHECK_STR_EQ(rtr__kname("irq", "softirq_entry", b, sizeof(b)), "irq_softirq_entry");
	CHECK_STR_EQ(rtr__kname("irq", "irq_handler_entry", b, sizeof(b)), "irq_handler_entry");
	CHECK_STR_EQ(rtr__kname("timer", "hrtimer_start", b, sizeof(b)), "timer_hrtimer_start");
	CHECK_STR_EQ(rtr__kname("timer", "timer_start", b, sizeof(b)), "timer_start");
	CHECK_STR_EQ(rtr__kname("kmem", "mm_page_alloc", b, sizeof(b)), "kmem_mm_page_alloc");
	CHECK_STR_EQ(rtr__kname("syscalls", "sys_enter_openat", b, sizeof(b)),
		     "syscall_entry_openat");
	CHECK_STR_EQ(rtr__kname("syscalls", "sys_exit_read", b, sizeof(b)), "syscall_exit_read");
	CHECK_STR_EQ(rtr__kname("raw_syscalls", "sys_enter", b, sizeof(b)),
		     "syscall_entry_unknown");
	CHECK_STR_EQ(rtr__kname("raw_syscalls", "sys_exit", b, sizeof(b)), "syscall_exit_unknown");
	CHECK_STR_EQ(rtr__kname("block", "block_rq_issue", b, sizeof(b)), "block_rq_issue");
}

static void test_sched_switch(const char *dir)
{
	struct tep_event *e = load(dir, "sched", "sched_switch");
	const struct rtr__kplan *p = plan_of(e);
	uint8_t rec[64] = {0}, out[256];
	size_t n;
	struct rtr__kctx ctx = {0};

	CHECK_STR_EQ(p->desc.name, "sched_switch");
	REQUIRE(p->nr_fields == 7);
	check_field(p, 0, "prev_comm", RTR_FIELD_ARRAY, 8, 0);
	CHECK_EQ_U64(p->descs[0].array_length, 16);
	CHECK(p->descs[0].integer.text);
	check_field(p, 1, "prev_tid", RTR_FIELD_INTEGER, 32, 1);
	check_field(p, 2, "prev_prio", RTR_FIELD_INTEGER, 32, 1);
	check_field(p, 3, "prev_state", RTR_FIELD_INTEGER, 64, 1);
	check_field(p, 4, "next_comm", RTR_FIELD_ARRAY, 8, 0);
	check_field(p, 5, "next_tid", RTR_FIELD_INTEGER, 32, 1);
	check_field(p, 6, "next_prio", RTR_FIELD_INTEGER, 32, 1);
	CHECK_EQ_U64(p->fixed_size, 16 + 4 + 4 + 8 + 16 + 4 + 4);

	put16(rec, 0, (uint16_t)e->id);
	put32(rec, 4, 1234);
	memcpy(rec + 8, "swapper/0", 10);
	put32(rec, 24, 0);
	put32(rec, 28, 120);
	put64(rec, 32, 1);
	memcpy(rec + 40, "0123456789abcdef", 16); /* no NUL: 15 bytes kept */
	put32(rec, 56, 42);
	put32(rec, 60, 98);
	n = rtr__kplan_encode(&map, p, rec, sizeof(rec), out, &ctx);
	CHECK_EQ_U64(n, 56);
	CHECK(!memcmp(out, "swapper/0\0\0\0\0\0\0\0", 16));
	CHECK_EQ_I64(get32(out + 16), 0);
	CHECK_EQ_I64(get32(out + 20), 20); /* prio - 100 */
	CHECK_EQ_I64(get64(out + 24), 1);
	CHECK(!memcmp(out + 32, "0123456789abcde\0", 16));
	CHECK_EQ_I64(get32(out + 48), 42);
	CHECK_EQ_I64(get32(out + 52), -2);
	CHECK(n <= rtr__kplan_bound(p, sizeof(rec)));

	/* cut short: defaults, counted */
	{
		uint64_t before = atomic_load(&map.malformed);

		n = rtr__kplan_encode(&map, p, rec, 30, out, &ctx);
		CHECK_EQ_U64(n, 56);
		CHECK_EQ_U64(atomic_load(&map.malformed), before + 1);
		CHECK(!memcmp(out, "swapper/0", 10));
		CHECK_EQ_I64(get32(out + 20), 0);	    /* prio beyond the end: 0 */
		CHECK(!memcmp(out + 32, "\0\0\0\0", 4)); /* next_comm: empty */
	}
}

static void test_fork(const char *dir)
{
	struct tep_event *nt = load(dir, "task", "task_newtask");
	struct tep_event *e = load(dir, "sched", "sched_process_fork");
	const struct rtr__kplan *p = plan_of(e), *pn = plan_of(nt);
	uint8_t rec[64] = {0}, nrec[48] = {0}, out[256];
	struct rtr__kctx ctx = {0};
	size_t n;

	CHECK_EQ_U64(p->kind, KKIND_FORK);
	CHECK_EQ_U64(pn->kind, KKIND_NEWTASK);
	REQUIRE(p->nr_fields == 9);
	check_field(p, 0, "parent_comm", RTR_FIELD_ARRAY, 8, 0);
	check_field(p, 1, "parent_tid", RTR_FIELD_INTEGER, 32, 1);
	check_field(p, 2, "parent_pid", RTR_FIELD_INTEGER, 32, 1);
	check_field(p, 3, "parent_ns_inum", RTR_FIELD_INTEGER, 32, 0);
	check_field(p, 4, "child_comm", RTR_FIELD_ARRAY, 8, 0);
	check_field(p, 5, "child_tid", RTR_FIELD_INTEGER, 32, 1);
	check_field(p, 6, "vtids", RTR_FIELD_SEQUENCE, 32, 1);
	CHECK_EQ_U64(p->descs[6].length_type.size_bits, 8);
	check_field(p, 7, "child_pid", RTR_FIELD_INTEGER, 32, 1);
	check_field(p, 8, "child_ns_inum", RTR_FIELD_INTEGER, 32, 0);

	/* parent 500 is a thread of process 400; it starts thread 501 */
	rtr__kmap_tid_set(&map, 500, 400);
	put16(nrec, 0, (uint16_t)nt->id);
	put32(nrec, 8, 501);
	put64(nrec, 32, 0x00010000 | 0x100); /* CLONE_THREAD | CLONE_VM */
	rtr__kplan_note(&map, pn, nrec, sizeof(nrec), &ctx);
	CHECK(ctx.newtask_valid);

	/* __data_loc comms after the fixed part */
	put16(rec, 0, (uint16_t)e->id);
	put32(rec, 8, (uint32_t)(24 | (5u << 16))); /* parent_comm: "app0" */
	put32(rec, 12, 500);
	put32(rec, 16, (uint32_t)(29 | (5u << 16))); /* child_comm: "app1" */
	put32(rec, 20, 501);
	memcpy(rec + 24, "app0\0app1\0", 10);
	n = rtr__kplan_encode(&map, p, rec, 34, out, &ctx);
	CHECK_EQ_U64(n, 16 + 4 + 4 + 4 + 16 + 4 + 1 + 4 + 4 + 4);
	CHECK(!memcmp(out, "app0\0", 5));
	CHECK_EQ_I64(get32(out + 16), 500);
	CHECK_EQ_I64(get32(out + 20), 400);
	CHECK(!memcmp(out + 28, "app1\0", 5));
	CHECK_EQ_I64(get32(out + 44), 501);
	CHECK_EQ_U64(out[48], 1);
	CHECK_EQ_I64(get32(out + 49), 501);
	CHECK_EQ_I64(get32(out + 53), 400); /* a thread: its process's pid */
	CHECK_EQ_I64(rtr__kmap_tgid(&map, 501), 400);

	/* a process (no CLONE_THREAD): its own pid; without task_newtask too */
	put32(rec, 20, 777);
	n = rtr__kplan_encode(&map, p, rec, 34, out, &ctx);
	CHECK_EQ_I64(get32(out + 53), 777);

	/* a __data_loc pointing outside the record: empty, counted */
	{
		uint64_t before = atomic_load(&map.malformed);

		put32(rec, 8, (uint32_t)(60 | (30u << 16)));
		n = rtr__kplan_encode(&map, p, rec, 34, out, &ctx);
		CHECK(!memcmp(out, "\0\0\0\0", 4));
		CHECK_EQ_U64(atomic_load(&map.malformed), before + 1);
		CHECK(n <= rtr__kplan_bound(p, 34));
	}
}

static void test_syscalls(const char *dir)
{
	struct tep_event *e = load(dir, "syscalls", "sys_enter_openat");
	struct tep_event *x = load(dir, "syscalls", "sys_exit_openat");
	struct tep_event *re = load(dir, "raw_syscalls", "sys_enter");
	struct tep_event *rx = load(dir, "raw_syscalls", "sys_exit");
	const struct rtr__kplan *p = plan_of(e);
	uint8_t rec[48] = {0}, out[256];
	size_t n;

	CHECK_STR_EQ(p->desc.name, "syscall_entry_openat");
	REQUIRE(p->nr_fields == 5);
	check_field(p, 0, "dfd", RTR_FIELD_INTEGER, 32, 1);
	check_field(p, 1, "filename", RTR_FIELD_STRING, 0, -1);
	check_field(p, 2, "filename_ptr", RTR_FIELD_INTEGER, 64, 0);
	CHECK_EQ_U64(p->descs[2].integer.base, 16);
	check_field(p, 3, "flags", RTR_FIELD_INTEGER, 32, 1);
	check_field(p, 4, "mode", RTR_FIELD_INTEGER, 16, 0);
	put16(rec, 0, (uint16_t)e->id);
	put64(rec, 16, (uint64_t)-100);
	put64(rec, 24, 0x7ffe1000);
	put64(rec, 32, 0x80241);
	put64(rec, 40, 0644);
	n = rtr__kplan_encode(&map, p, rec, sizeof(rec), out, NULL);
	CHECK_EQ_U64(n, 4 + 1 + 8 + 4 + 2);
	CHECK_EQ_I64(get32(out), -100);
	CHECK_EQ_U64(out[4], 0);
	CHECK_EQ_I64(get64(out + 5), 0x7ffe1000);
	CHECK_EQ_I64(get32(out + 13), 0x80241);
	CHECK_EQ_U64((uint16_t)(out[17] | out[18] << 8), 0644);

	p = plan_of(x);
	CHECK_STR_EQ(p->desc.name, "syscall_exit_openat");
	REQUIRE(p->nr_fields == 1);
	check_field(p, 0, "ret", RTR_FIELD_INTEGER, 64, 1);

	p = plan_of(re);
	CHECK_STR_EQ(p->desc.name, "syscall_entry_unknown");
	REQUIRE(p->nr_fields == 2);
	check_field(p, 0, "id", RTR_FIELD_INTEGER, 32, 1);
	check_field(p, 1, "args", RTR_FIELD_ARRAY, 64, 0);
	CHECK_EQ_U64(p->descs[1].array_length, 6);
	p = plan_of(rx);
	CHECK_STR_EQ(p->desc.name, "syscall_exit_unknown");
	REQUIRE(p->nr_fields == 3);
	check_field(p, 2, "args", RTR_FIELD_ARRAY, 64, 0);
}

static void test_others(const char *dir)
{
	struct tep_event *e = load(dir, "block", "block_rq_issue");
	const struct rtr__kplan *p = plan_of(e);
	const struct rtr_field_desc *d;
	uint8_t rec[80] = {0}, out[256];

	d = fdesc(p, "rwbs");
	REQUIRE(d != NULL);
	CHECK_EQ_U64(d->kind, RTR_FIELD_INTEGER);
	CHECK_EQ_U64(d->integer.size_bits, 32);
	put16(rec, 0, (uint16_t)e->id);
	memcpy(rec + 34, "FWS\0", 4);
	put32(rec, 60, (uint32_t)(64 | (1u << 16)));
	rtr__kplan_encode(&map, p, rec, sizeof(rec), out, NULL);
	{
		/* dev u32, sector u64, nr_sector u32, bytes u32, ioprio u16, rwbs */
		size_t off = 4 + 8 + 4 + 4 + 2;

		CHECK_EQ_I64(get32(out + off), (1 << 10) | 1 | (1 << 5));
	}

	p = plan_of(load(dir, "irq", "softirq_entry"));
	CHECK_STR_EQ(p->desc.name, "irq_softirq_entry");
	check_field(p, 0, "vec", RTR_FIELD_INTEGER, 32, 0);
	p = plan_of(load(dir, "irq", "irq_handler_entry"));
	check_field(p, 1, "name", RTR_FIELD_STRING, 0, -1);
	p = plan_of(load(dir, "timer", "hrtimer_start"));
	CHECK_STR_EQ(p->desc.name, "timer_hrtimer_start");
	d = fdesc(p, "hrtimer");
	REQUIRE(d != NULL);
	CHECK_EQ_U64(d->integer.base, 16);
	p = plan_of(load(dir, "sched", "sched_waking"));
	check_field(p, 0, "comm", RTR_FIELD_ARRAY, 8, 0);
	check_field(p, 1, "tid", RTR_FIELD_INTEGER, 32, 1);
	check_field(p, 2, "prio", RTR_FIELD_INTEGER, 32, 1);
	check_field(p, 3, "target_cpu", RTR_FIELD_INTEGER, 32, 1);
	p = plan_of(load(dir, "sched", "sched_process_exec"));
	check_field(p, 0, "filename", RTR_FIELD_STRING, 0, -1);
	check_field(p, 1, "tid", RTR_FIELD_INTEGER, 32, 1);
	check_field(p, 2, "old_tid", RTR_FIELD_INTEGER, 32, 1);

	/* ftrace:print: char buf[] is the rest of the record */
	e = load(dir, "ftrace", "print");
	p = plan_of(e);
	CHECK_STR_EQ(p->desc.name, "ftrace_print");
	memset(rec, 0, sizeof(rec));
	put16(rec, 0, (uint16_t)e->id);
	memcpy(rec + 16, "hello\n", 6);
	{
		size_t n = rtr__kplan_encode(&map, p, rec, 22, out, NULL);

		CHECK_EQ_U64(n, 8 + 7);
		CHECK(!memcmp(out + 8, "hello\n\0", 7));
	}
	/* an unknown type: the skip plan */
	CHECK_EQ_U64(rtr__kmap_plan(&map, 65000)->ctf_id, UINT32_MAX);
}

/* Every plan on random records: never more than its bound (ASan checks
 * every read stays inside the record). */
static void test_random(void)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint8_t *out = malloc(1 << 16);

	REQUIRE(out != NULL);
	for (int round = 0; round < 20000; round++) {
		size_t k = (size_t)(rtr_test_xorshift(&seed) % map.nr_plans);
		const struct rtr__kplan *p = map.plans[k];
		size_t len = (size_t)(rtr_test_xorshift(&seed) % 200);
		uint8_t *rec = malloc(len ? len : 1);
		struct rtr__kctx ctx = {0};
		size_t n;

		for (size_t i = 0; i < len; i++)
			rec[i] = (uint8_t)rtr_test_xorshift(&seed);
		n = rtr__kplan_encode(&map, p, rec, len, out, &ctx);
		CHECK(n <= rtr__kplan_bound(p, len));
		free(rec);
	}
	free(out);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "formats";

	tep = tep_alloc();
	REQUIRE(tep != NULL);
	tep_set_long_size(tep, 8);
	tep_set_page_size(tep, 4096);
	REQUIRE(rtr__kmap_init(&map, tep, false) == 0);
	test_names();
	test_sched_switch(dir);
	test_fork(dir);
	test_syscalls(dir);
	test_others(dir);
	test_random();
	/* ids are dense in order of first use */
	for (size_t i = 0; i < map.nr_plans; i++)
		CHECK_EQ_U64(map.plans[i]->ctf_id, i);
	rtr__kmap_fini(&map);
	tep_free(tep);
	return rtr_test_done("test_kernel_map");
}
