/* libFuzzer harness of the tracefs -> LTTng mapping (lib/kernel/map.c).
 * The input describes an event format — its system and up to 24 fields,
 * each a type, a name, an offset, a size and a sign taken from the bytes —
 * followed by the bytes of one record. The harness writes the format as
 * the kernel would (well-formed text: libtraceevent's parser is not ours
 * to fuzz, and it crashes on some malformed formats), lets lib/kernel make
 * the plan from whatever fields it has (any offsets, sizes and flags: a
 * trace.dat file can say anything) and encodes the record: the output must
 * stay within the plan's bound and every read inside the record (ASan).
 *
 * Input: byte 0 system, byte 1 field count, then 5 bytes per field (type,
 * name, offset, size, flags), then the record. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <traceevent/event-parse.h>

#include "kernel-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const systems[] = {"sched", "syscalls", "raw_syscalls", "block",
				      "task",  "irq",	   "timer",	   "ftrace"};
static const char *const events[] = {"sched_switch", "sys_enter_openat", "sys_enter",
				     "block_rq_issue", "task_newtask", "softirq_entry",
				     "hrtimer_start", "print", "sys_exit", "sched_process_fork",
				     "sys_exit_read", "x"};
static const char *const types[] = {
    "int", "unsigned int", "long", "unsigned long", "pid_t", "char", "unsigned char",
    "short", "u64", "s64", "bool", "const char *", "void *", "umode_t", "size_t",
    "char %s[16]", "char %s[10]", "char %s[]", "__data_loc char[]", "__data_loc u8[]",
    "__data_loc u32[]", "__rel_loc char[]", "unsigned long %s[6]", "struct foo",
    "u8 %s[3]", "enum hrtimer_mode"};
static const char *const names[] = {
    "prev_comm", "prev_pid", "prev_prio", "prev_state", "next_comm", "next_pid", "next_prio",
    "comm", "pid", "prio", "parent_comm", "parent_pid", "child_comm", "child_pid",
    "clone_flags", "filename", "dfd", "flags", "mode", "__syscall_nr", "id", "args", "ret",
    "rwbs", "buf", "ip", "vec", "hrtimer", "__probe_ip", "data", "x", "y"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char fmt[8192];
	size_t len = 0, nf;
	const uint8_t *p = data;
	struct tep_handle *tep;
	struct tep_event **evs;
	struct rtr__kmap map;
	static uint8_t out[1 << 17];
	const char *sys;

	if (size < 2)
		return 0;
	sys = systems[p[0] % N(systems)];
	nf = p[1] % 25;
	if (size < 2 + 5 * nf)
		return 0;
	len += (size_t)snprintf(fmt + len, sizeof(fmt) - len,
				"name: %s\nID: 42\nformat:\n"
				"\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
				"\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
				"\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
				"\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n",
				events[(p[0] >> 3) % N(events)]);
	for (size_t i = 0; i < nf; i++) {
		const uint8_t *f = p + 2 + 5 * i;
		const char *t = types[f[0] % N(types)];
		const char *n = names[f[1] % N(names)];
		char decl[128];

		const char *hole = strstr(t, "%s");

		if (hole)
			snprintf(decl, sizeof(decl), "%.*s%s%s", (int)(hole - t), t, n, hole + 2);
		else
			snprintf(decl, sizeof(decl), "%s %s", t, n);
		len += (size_t)snprintf(fmt + len, sizeof(fmt) - len,
					"\tfield:%s;\toffset:%u;\tsize:%u;\tsigned:%u;\n", decl,
					(unsigned)f[2] * 2u, (unsigned)(f[3] % 72), f[4] & 1u);
	}
	len += (size_t)snprintf(fmt + len, sizeof(fmt) - len, "\nprint fmt: \"x\"\n");
	tep = tep_alloc();
	if (!tep)
		return 0;
	tep_set_long_size(tep, 8);
	if (tep_parse_event(tep, fmt, len, sys) != 0 || rtr__kmap_init(&map, tep, false) != 0) {
		tep_free(tep);
		return 0;
	}
	evs = tep_list_events(tep, TEP_EVENT_SORT_ID);
	for (int i = 0; evs && evs[i]; i++) {
		const struct rtr__kplan *pl = rtr__kmap_plan(&map, (uint16_t)evs[i]->id);
		const uint8_t *rec = p + 2 + 5 * nf;
		size_t rlen = size - (size_t)(rec - data);
		struct rtr__kctx ctx = {0};
		uint8_t *copy;

		if (pl->ctf_id == UINT32_MAX || rtr__kplan_bound(pl, rlen) > sizeof(out))
			continue;
		/* an exact-size heap copy: ASan sees any read past its end */
		copy = malloc(rlen ? rlen : 1);
		if (!copy)
			break;
		memcpy(copy, rec, rlen);
		rtr__kplan_note(&map, pl, copy, rlen, &ctx);
		if (rtr__kplan_encode(&map, pl, copy, rlen, out, &ctx) > rtr__kplan_bound(pl, rlen))
			abort();
		free(copy);
	}
	rtr__kmap_fini(&map);
	tep_free(tep);
	return 0;
}
