/* The mapping from tracefs events to LTTng's kernel event classes: names,
 * field lists, CTF types and the converter of each field, made once per
 * event type from its runtime format. Design: docs/design/kernel.md §3. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <traceevent/event-parse.h>

#include "ctf-writer.h"
#include "kernel-internal.h"

#define NR_TYPES     65536u
#define CLONE_THREAD_FLAG 0x00010000ull

/* ------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------ */

const char *rtr__kname(const char *system, const char *name, char *buf, size_t cap)
{
	size_t sl = strlen(system);

	if (!strcmp(system, "syscalls") && !strncmp(name, "sys_enter_", 10))
		snprintf(buf, cap, "syscall_entry_%s", name + 10);
	else if (!strcmp(system, "syscalls") && !strncmp(name, "sys_exit_", 9))
		snprintf(buf, cap, "syscall_exit_%s", name + 9);
	else if (!strcmp(system, "raw_syscalls") && !strcmp(name, "sys_enter"))
		snprintf(buf, cap, "syscall_entry_unknown");
	else if (!strcmp(system, "raw_syscalls") && !strcmp(name, "sys_exit"))
		snprintf(buf, cap, "syscall_exit_unknown");
	else if (!strncmp(name, system, sl) && name[sl] == '_')
		snprintf(buf, cap, "%s", name);
	else
		snprintf(buf, cap, "%s_%s", system, name);
	return buf;
}

/* ------------------------------------------------------------------------
 * Plan builder
 * ------------------------------------------------------------------------ */

struct outfield {
	char name[96];
	struct rtr_field_desc d;
	struct rtr__kfield k;
};

struct builder {
	struct outfield *f;
	size_t n, cap;
	bool oom;
};

static struct outfield *add(struct builder *b, const char *name)
{
	struct outfield *o;

	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		struct outfield *n = realloc(b->f, cap * sizeof(*n));

		if (!n) {
			b->oom = true;
			return NULL;
		}
		b->f = n;
		b->cap = cap;
	}
	o = &b->f[b->n++];
	memset(o, 0, sizeof(*o));
	snprintf(o->name, sizeof(o->name), "%s", name);
	return o;
}

static struct rtr_integer_type itype(unsigned bytes, bool sgn, unsigned base)
{
	return (struct rtr_integer_type){.size_bits = (uint8_t)(bytes * 8),
					 .is_signed = sgn,
					 .base = (uint8_t)base};
}

/* An integer output field from source field sf (or a missing one). */
static void out_int(struct builder *b, const char *name, const struct tep_format_field *sf,
		    unsigned out_bytes, bool out_signed, unsigned base, int64_t addend)
{
	struct outfield *o = add(b, name);

	if (!o)
		return;
	o->d.kind = RTR_FIELD_INTEGER;
	o->d.integer = itype(out_bytes, out_signed, base);
	o->k.op = KOP_INT;
	o->k.out_size = (uint8_t)out_bytes;
	o->k.addend = addend;
	if (sf && (sf->size == 1 || sf->size == 2 || sf->size == 4 || sf->size == 8)) {
		o->k.src_off = (uint32_t)sf->offset;
		o->k.src_size = (uint32_t)sf->size;
		o->k.in_size = (uint8_t)sf->size;
		o->k.in_signed = (sf->flags & TEP_FIELD_IS_SIGNED) != 0;
	} else {
		o->k.flags |= RTR__KF_MISSING;
	}
}

static void src_loc(struct outfield *o, const struct tep_format_field *sf)
{
	if (!sf) {
		o->k.flags |= RTR__KF_MISSING;
		return;
	}
	o->k.src_off = (uint32_t)sf->offset;
	o->k.src_size = (uint32_t)sf->size;
	if (sf->flags & TEP_FIELD_IS_DYNAMIC)
		o->k.flags |= RTR__KF_DATA_LOC;
	if (sf->flags & TEP_FIELD_IS_RELATIVE)
		o->k.flags |= RTR__KF_REL_LOC;
}

static void out_comm16(struct builder *b, const char *name, const struct tep_format_field *sf)
{
	struct outfield *o = add(b, name);

	if (!o)
		return;
	o->d.kind = RTR_FIELD_ARRAY;
	o->d.array_length = 16;
	o->d.integer = itype(1, false, 10);
	o->d.integer.text = 1;
	o->k.op = KOP_COMM16;
	src_loc(o, sf);
}

static void out_string(struct builder *b, const char *name, const struct tep_format_field *sf)
{
	struct outfield *o = add(b, name);

	if (!o)
		return;
	o->d.kind = RTR_FIELD_STRING;
	o->k.op = KOP_STRING;
	src_loc(o, sf);
}

static void out_op(struct builder *b, const char *name, enum rtr__kop op,
		   const struct tep_format_field *sf, unsigned out_bytes, bool sgn, unsigned base)
{
	struct outfield *o = add(b, name);

	if (!o)
		return;
	o->d.kind = RTR_FIELD_INTEGER;
	o->d.integer = itype(out_bytes, sgn, base);
	o->k.op = (uint8_t)op;
	o->k.out_size = (uint8_t)out_bytes;
	src_loc(o, sf);
	if (sf && (sf->size == 1 || sf->size == 2 || sf->size == 4 || sf->size == 8)) {
		o->k.in_size = (uint8_t)sf->size;
		o->k.in_signed = (sf->flags & TEP_FIELD_IS_SIGNED) != 0;
	}
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static bool is_char_type(const char *type)
{
	return strstr(type, "char") != NULL;
}

/* The generic rule: every non-common field, typed from the format. */
static void generic_field(struct builder *b, const struct tep_event *ev,
			  const struct tep_format_field *sf)
{
	bool sched = !strcmp(ev->system, "sched");
	char name[96];
	struct outfield *o;

	snprintf(name, sizeof(name), "%s", sf->name);
	/* LTTng's sched events say tid where ftrace says pid. */
	if (sched && (!strcmp(name, "pid") || ends_with(name, "_pid"))) {
		size_t l = strlen(name);

		name[l - 3] = 't';
	}
	if ((sf->flags & (TEP_FIELD_IS_DYNAMIC | TEP_FIELD_IS_ARRAY)) &&
	    (sched || !strcmp(ev->system, "task") || !strcmp(ev->system, "signal")) &&
	    (!strcmp(sf->name, "comm") || ends_with(sf->name, "_comm")) &&
	    is_char_type(sf->type)) {
		out_comm16(b, name, sf);
		return;
	}
	if (!strcmp(ev->system, "block") && !strcmp(sf->name, "rwbs") &&
	    (sf->flags & TEP_FIELD_IS_ARRAY)) {
		out_op(b, name, KOP_RWBS, sf, 4, false, 10);
		return;
	}
	if (sf->flags & TEP_FIELD_IS_DYNAMIC) {
		unsigned es = sf->elementsize;

		if ((sf->flags & TEP_FIELD_IS_STRING) || is_char_type(sf->type) || es == 0) {
			out_string(b, name, sf);
			return;
		}
		if (es != 1 && es != 2 && es != 4 && es != 8)
			es = 1;
		o = add(b, name);
		if (!o)
			return;
		o->d.kind = RTR_FIELD_SEQUENCE;
		o->d.integer = itype(es, (sf->flags & TEP_FIELD_IS_SIGNED) != 0, es == 1 ? 16 : 10);
		o->d.length_type = itype(4, false, 10);
		o->k.op = KOP_DYN_ARRAY;
		o->k.in_size = o->k.out_size = (uint8_t)es;
		src_loc(o, sf);
		return;
	}
	if ((sf->flags & TEP_FIELD_IS_ARRAY) && sf->size == 0 && is_char_type(sf->type)) {
		/* char x[] at the end (ftrace:print's buf): the rest of the
		 * record */
		out_string(b, name, sf);
		return;
	}
	if (sf->flags & TEP_FIELD_IS_ARRAY) {
		unsigned n = sf->arraylen ? sf->arraylen : (unsigned)sf->size;
		unsigned es = n ? (unsigned)sf->size / n : 1;
		bool text = (sf->flags & TEP_FIELD_IS_STRING) || (es == 1 && is_char_type(sf->type));

		if (es != 1 && es != 2 && es != 4 && es != 8) {
			es = 1;
			n = (unsigned)sf->size;
		}
		o = add(b, name);
		if (!o)
			return;
		o->d.kind = RTR_FIELD_ARRAY;
		o->d.array_length = n;
		o->d.integer = itype(es, !text && (sf->flags & TEP_FIELD_IS_SIGNED), 10);
		o->d.integer.text = text;
		o->k.op = KOP_ARRAY;
		o->k.in_size = o->k.out_size = (uint8_t)es;
		o->k.count = n;
		src_loc(o, sf);
		return;
	}
	if ((sf->flags & TEP_FIELD_IS_POINTER) || strchr(sf->type, '*') ||
	    !strncmp(sf->name, "__probe_", 8)) {
		/* addresses (uprobes' __probe_ip, __probe_func, __probe_ret_ip) */
		out_int(b, name, sf, 8, false, 16, 0);
		return;
	}
	if (sf->size == 1 || sf->size == 2 || sf->size == 4 || sf->size == 8) {
		int64_t addend = 0;

		if (sched && ends_with(sf->name, "prio") && sf->size == 4)
			addend = -100; /* LTTng: prio - MAX_RT_PRIO */
		out_int(b, name, sf, (unsigned)sf->size, (sf->flags & TEP_FIELD_IS_SIGNED) != 0,
			10, addend);
		return;
	}
	/* Anything else (a struct copied whole): its bytes. */
	o = add(b, name);
	if (!o)
		return;
	o->d.kind = RTR_FIELD_ARRAY;
	o->d.array_length = (uint32_t)sf->size;
	o->d.integer = itype(1, false, 16);
	o->k.op = KOP_ARRAY;
	o->k.in_size = o->k.out_size = 1;
	o->k.count = (uint32_t)sf->size;
	src_loc(o, sf);
}

/* Syscall argument types from their C type (ftrace stores each argument in
 * an 8-byte slot and says the type in the format). */
static void syscall_arg(struct builder *b, const struct tep_format_field *sf)
{
	static const char *const strings[] = {
	    "filename", "pathname", "oldname", "newname", "path",     "specialfile",
	    "dev_name", "dir_name", "type",    "symname", "library", "uname",
	};
	char t[128], *p;
	const char *ty;

	snprintf(t, sizeof(t), "%s", sf->type);
	/* drop qualifiers */
	for (const char *q = "const "; (p = strstr(t, q));)
		memmove(p, p + strlen(q), strlen(p + strlen(q)) + 1);
	for (const char *q = "__user "; (p = strstr(t, q));)
		memmove(p, p + strlen(q), strlen(p + strlen(q)) + 1);
	ty = t;
	if (strchr(ty, '*')) {
		if (!strncmp(ty, "char *", 6) && strstr(sf->type, "const")) {
			for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
				if (!strcmp(sf->name, strings[i])) {
					char pn[96];
					struct outfield *o = add(b, sf->name);

					/* The kernel gives the pointer, not the
					 * string (no kprobes/eprobes to fetch it). */
					if (o) {
						o->d.kind = RTR_FIELD_STRING;
						o->k.op = KOP_EMPTY_STRING;
					}
					snprintf(pn, sizeof(pn), "%s_ptr", sf->name);
					out_int(b, pn, sf, 8, false, 16, 0);
					return;
				}
		}
		out_int(b, sf->name, sf, 8, false, 16, 0);
		return;
	}
	if (!strcmp(ty, "int") || !strcmp(ty, "pid_t") || !strcmp(ty, "key_serial_t") ||
	    !strcmp(ty, "clockid_t") || !strcmp(ty, "timer_t") || !strcmp(ty, "mqd_t") ||
	    !strcmp(ty, "key_t") || !strcmp(ty, "s32") || !strcmp(ty, "__s32") ||
	    !strcmp(ty, "int32_t"))
		out_int(b, sf->name, sf, 4, true, 10, 0);
	else if (!strcmp(ty, "unsigned int") || !strcmp(ty, "unsigned") || !strcmp(ty, "u32") ||
		 !strcmp(ty, "__u32") || !strcmp(ty, "uid_t") || !strcmp(ty, "gid_t") ||
		 !strcmp(ty, "qid_t") || !strcmp(ty, "rwf_t") || !strcmp(ty, "uint32_t"))
		out_int(b, sf->name, sf, 4, false, 10, 0);
	else if (!strcmp(ty, "umode_t") || !strcmp(ty, "unsigned short") || !strcmp(ty, "u16") ||
		 !strcmp(ty, "__u16") || !strcmp(ty, "old_uid_t") || !strcmp(ty, "old_gid_t"))
		out_int(b, sf->name, sf, 2, false, 10, 0);
	else if (!strcmp(ty, "short") || !strcmp(ty, "s16"))
		out_int(b, sf->name, sf, 2, true, 10, 0);
	else if (!strcmp(ty, "long") || !strcmp(ty, "loff_t") || !strcmp(ty, "off_t") ||
		 !strcmp(ty, "s64") || !strcmp(ty, "__s64") || !strcmp(ty, "time_t") ||
		 !strcmp(ty, "ssize_t") || !strcmp(ty, "long long"))
		out_int(b, sf->name, sf, 8, true, 10, 0);
	else if (!strcmp(ty, "char") || !strcmp(ty, "unsigned char") || !strcmp(ty, "u8"))
		out_int(b, sf->name, sf, 1, false, 10, 0);
	else
		out_int(b, sf->name, sf, 8, false, 10, 0);
}

static const struct tep_format_field *field(const struct tep_event *ev, const char *name)
{
	for (const struct tep_format_field *f = ev->format.fields; f; f = f->next)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

static void build_fork(struct builder *b, const struct tep_event *ev)
{
	const struct tep_format_field *pc = field(ev, "parent_comm"), *pp = field(ev, "parent_pid"),
				      *cc = field(ev, "child_comm"), *cp = field(ev, "child_pid");
	struct outfield *o;

	out_comm16(b, "parent_comm", pc);
	out_int(b, "parent_tid", pp, 4, true, 10, 0);
	out_op(b, "parent_pid", KOP_TGID_PARENT, pp, 4, true, 10);
	out_op(b, "parent_ns_inum", KOP_NS_INUM, NULL, 4, false, 10);
	b->f[b->n - 1].k.flags &= (uint8_t)~RTR__KF_MISSING;
	out_comm16(b, "child_comm", cc);
	out_int(b, "child_tid", cp, 4, true, 10, 0);
	o = add(b, "vtids");
	if (o) {
		o->d.kind = RTR_FIELD_SEQUENCE;
		o->d.integer = itype(4, true, 10);
		o->d.length_type = itype(1, false, 10);
		o->k.op = KOP_VTIDS;
		src_loc(o, cp);
		o->k.in_size = 4;
	}
	out_op(b, "child_pid", KOP_TGID_CHILD, cp, 4, true, 10);
	out_op(b, "child_ns_inum", KOP_NS_INUM, NULL, 4, false, 10);
	b->f[b->n - 1].k.flags &= (uint8_t)~RTR__KF_MISSING;
}

static void build_raw_syscall(struct builder *b, const struct tep_event *ev, bool enter)
{
	const struct tep_format_field *args = field(ev, "args");
	struct outfield *o;

	out_int(b, "id", field(ev, "id"), 4, true, 10, 0);
	if (!enter)
		out_int(b, "ret", field(ev, "ret"), 8, true, 10, 0);
	o = add(b, "args");
	if (!o)
		return;
	o->d.kind = RTR_FIELD_ARRAY;
	o->d.array_length = 6;
	o->d.integer = itype(8, false, 10);
	if (enter && args && args->size == 48) {
		o->k.op = KOP_ARRAY;
		o->k.in_size = o->k.out_size = 8;
		o->k.count = 6;
		src_loc(o, args);
	} else {
		/* sys_exit has no arguments; LTTng repeats the entry's */
		o->k.op = KOP_ZEROS;
		o->k.out_size = 8;
		o->k.count = 6;
	}
}

static void build_fields(struct builder *b, const struct tep_event *ev, bool renames)
{
	if (!strcmp(ev->system, "sched") && !strcmp(ev->name, "sched_process_fork") && renames) {
		build_fork(b, ev);
		return;
	}
	if (!strcmp(ev->system, "raw_syscalls") &&
	    (!strcmp(ev->name, "sys_enter") || !strcmp(ev->name, "sys_exit"))) {
		build_raw_syscall(b, ev, !strcmp(ev->name, "sys_enter"));
		return;
	}
	if (!strcmp(ev->system, "syscalls") && !strncmp(ev->name, "sys_enter_", 10)) {
		for (const struct tep_format_field *f = ev->format.fields; f; f = f->next)
			if (strcmp(f->name, "__syscall_nr"))
				syscall_arg(b, f);
		return;
	}
	if (!strcmp(ev->system, "syscalls") && !strncmp(ev->name, "sys_exit_", 9)) {
		out_int(b, "ret", field(ev, "ret"), 8, true, 10, 0);
		return;
	}
	for (const struct tep_format_field *f = ev->format.fields; f; f = f->next) {
		if (renames) {
			generic_field(b, ev, f);
		} else {
			/* fall-back: names as the kernel has them */
			size_t before = b->n;

			generic_field(b, ev, f);
			if (b->n > before)
				snprintf(b->f[before].name, sizeof(b->f[before].name), "%s",
					 f->name);
		}
	}
}

static size_t fixed_size_of(const struct outfield *o)
{
	switch (o->k.op) {
	case KOP_INT:
	case KOP_TGID_PARENT:
	case KOP_TGID_CHILD:
	case KOP_NS_INUM:
	case KOP_RWBS:
		return o->k.out_size;
	case KOP_COMM16:
		return 16;
	case KOP_EMPTY_STRING:
		return 1;
	case KOP_ARRAY:
	case KOP_ZEROS:
		return (size_t)o->k.count * o->k.out_size;
	case KOP_VTIDS:
		return 5;
	default:
		return 0; /* variable */
	}
}

static void plan_free(struct rtr__kplan *p)
{
	if (!p)
		return;
	free(p->fields);
	free(p->descs);
	free(p->names);
	free(p);
}

/* Makes the plan of ev (NULL on failure: no memory, or no valid layout). */
/* A plan named lname with the fields of b (b->f is freed). NULL when out
 * of memory or when the metadata writer refuses the description. */
static struct rtr__kplan *plan_assemble(const char *lname, struct builder *b)
{
	size_t namelen = strlen(lname) + 1;
	struct rtr__kplan *p;
	char *s, err[256];

	if (b->oom) {
		free(b->f);
		return NULL;
	}
	for (size_t i = 0; i < b->n; i++)
		namelen += strlen(b->f[i].name) + 1;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->names = malloc(namelen)) ||
	    (b->n && (!(p->fields = calloc(b->n, sizeof(*p->fields))) ||
		      !(p->descs = calloc(b->n, sizeof(*p->descs)))))) {
		plan_free(p);
		free(b->f);
		return NULL;
	}
	s = p->names;
	strcpy(s, lname);
	p->desc.provider = "kernel";
	p->desc.name = s;
	s += strlen(lname) + 1;
	p->desc.loglevel = RTR_LOGLEVEL_NONE;
	p->nr_fields = (uint32_t)b->n;
	for (size_t i = 0; i < b->n; i++) {
		size_t fs = fixed_size_of(&b->f[i]);

		strcpy(s, b->f[i].name);
		p->descs[i] = b->f[i].d;
		p->descs[i].name = s;
		s += strlen(b->f[i].name) + 1;
		p->fields[i] = b->f[i].k;
		p->fixed_size += (uint32_t)fs;
		if (!fs)
			p->nr_var++;
	}
	p->desc.fields = p->descs;
	p->desc.nr_fields = p->nr_fields;
	free(b->f);
	if (rtr_ctf_event_check(&p->desc, err, sizeof(err))) {
		plan_free(p);
		return NULL;
	}
	return p;
}

static struct rtr__kplan *plan_make(struct rtr__kmap *m, const struct tep_event *ev)
{
	char lname[256];
	struct rtr__kplan *p = NULL;

	if (m->uprobe_group && !strcmp(ev->system, m->uprobe_group))
		snprintf(lname, sizeof(lname), "%s", ev->name);
	else
		rtr__kname(ev->system, ev->name, lname, sizeof(lname));
	for (int attempt = 0; attempt < 2 && !p; attempt++) {
		struct builder b = {0};

		build_fields(&b, ev, attempt == 0);
		if (b.oom) {
			free(b.f);
			return NULL;
		}
		p = plan_assemble(lname, &b);
	}
	if (p) {
		p->type = (uint16_t)ev->id;
		if (!strcmp(ev->system, "task") && !strcmp(ev->name, "task_newtask"))
			p->kind = KKIND_NEWTASK;
		else if (!strcmp(ev->system, "sched") && !strcmp(ev->name, "sched_process_fork") &&
			 p->nr_fields == 9)
			p->kind = KKIND_FORK;
	}
	return p;
}

/* ------------------------------------------------------------------------
 * The map
 * ------------------------------------------------------------------------ */

static uint32_t own_ns_inum(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 ? (uint32_t)st.st_ino : 0;
}

int rtr__kmap_init(struct rtr__kmap *m, struct tep_handle *tep, bool live)
{
	memset(m, 0, sizeof(*m));
	m->tep = tep;
	m->by_type = calloc(NR_TYPES, sizeof(*m->by_type));
	if (!m->by_type)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->tid_lock, NULL);
	m->none.ctf_id = UINT32_MAX;
	m->use_proc = live;
	m->ns_inum = live ? own_ns_inum() : 0;
	return 0;
}

void rtr__kmap_fini(struct rtr__kmap *m)
{
	for (size_t i = 0; i < m->nr_plans; i++)
		plan_free(m->plans[i]);
	free(m->plans);
	free(m->by_type);
	free(m->tid_keys);
	free(m->tid_vals);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->tid_lock);
	memset(m, 0, sizeof(*m));
}

const struct rtr__kplan *rtr__kmap_plan_slow(struct rtr__kmap *m, uint16_t type)
{
	struct rtr__kplan *p;
	struct tep_event *ev;

	pthread_mutex_lock(&m->lock);
	p = atomic_load_explicit(&m->by_type[type], memory_order_relaxed);
	if (p)
		goto out;
	ev = tep_find_event(m->tep, type);
	p = ev ? plan_make(m, ev) : NULL;
	if (p && m->nr_plans == m->cap_plans) {
		size_t cap = m->cap_plans ? 2 * m->cap_plans : 64;
		struct rtr__kplan **n = realloc(m->plans, cap * sizeof(*n));

		if (n) {
			m->plans = n;
			m->cap_plans = cap;
		}
	}
	if (p && m->nr_plans < m->cap_plans) {
		p->ctf_id = m->next_id++;
		m->plans[m->nr_plans++] = p;
	} else {
		plan_free(p);
		p = &m->none;
	}
	/* P1: pairs with A1 in rtr__kmap_plan (the plan is complete). */
	atomic_store_explicit(&m->by_type[type], p, memory_order_release);
out:
	pthread_mutex_unlock(&m->lock);
	return p;
}

/* Adds plan p (made by this thread) to m's classes: a CTF id, listed in
 * the metadata. Returns p, or NULL (p freed) when out of memory. */
static struct rtr__kplan *plan_register(struct rtr__kmap *m, struct rtr__kplan *p)
{
	pthread_mutex_lock(&m->lock);
	if (m->nr_plans == m->cap_plans) {
		size_t cap = m->cap_plans ? 2 * m->cap_plans : 64;
		struct rtr__kplan **n = realloc(m->plans, cap * sizeof(*n));

		if (n) {
			m->plans = n;
			m->cap_plans = cap;
		}
	}
	if (m->nr_plans < m->cap_plans) {
		p->ctf_id = m->next_id++;
		m->plans[m->nr_plans++] = p;
	} else {
		plan_free(p);
		p = NULL;
	}
	pthread_mutex_unlock(&m->lock);
	return p;
}

/* A class made by ringtrace whose events are written raw: spec holds
 * name, type pairs ("i4" int32, "u4" uint32, "u4x"/"u4o" in hex/octal, "s"
 * a string), NULL-terminated. */
static const struct rtr__kplan *raw_class(struct rtr__kmap *m, const char *name,
					  const char *const *spec)
{
	struct builder b = {0};
	struct rtr__kplan *p;

	for (size_t i = 0; spec[i] && spec[i + 1]; i += 2) {
		const char *t = spec[i + 1];

		if (t[0] == 's') {
			out_string(&b, spec[i], NULL);
		} else {
			out_int(&b, spec[i], NULL, (unsigned)(t[1] - '0'), t[0] == 'i',
				t[2] == 'x' ? 16 : t[2] == 'o' ? 8 : 10, 0);
		}
	}
	p = plan_assemble(name, &b);
	return p ? plan_register(m, p) : NULL;
}

int rtr__kmap_statedump(struct rtr__kmap *m, struct rtr__kstatedump_plans *out)
{
	static const char *const ints[] = {"tid",  "vtid",   "pid",	"vpid", "ppid", "vppid",
					   NULL,   "type",   "mode",	"submode", "status", "cpu"};
	struct builder b = {0};
	struct builder none1 = {0}, none2 = {0};

	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		struct outfield *o;

		if (!ints[i]) {
			out_comm16(&b, "name", NULL);
			continue;
		}
		o = add(&b, ints[i]);
		if (!o)
			break;
		o->d.kind = RTR_FIELD_INTEGER;
		o->d.integer = itype(4, true, 10);
		o->k.op = KOP_INT;
		o->k.out_size = 4;
		o->k.flags |= RTR__KF_MISSING; /* written raw, never decoded */
	}
	struct rtr__kplan *s = plan_assemble("lttng_statedump_start", &none1);
	struct rtr__kplan *ps = plan_assemble("lttng_statedump_process_state", &b);
	struct rtr__kplan *e = plan_assemble("lttng_statedump_end", &none2);

	out->start = s ? plan_register(m, s) : NULL;
	out->process_state = ps ? plan_register(m, ps) : NULL;
	out->end = e ? plan_register(m, e) : NULL;
	out->file_descriptor = raw_class(m, "lttng_statedump_file_descriptor",
					 (const char *const[]){"pid", "i4", "fd", "i4", "flags", "u4o",
							       "fmode", "u4x", "filename", "s", NULL});
	out->block_device = raw_class(m, "lttng_statedump_block_device",
				      (const char *const[]){"dev", "u4", "diskname", "s", NULL});
	out->interrupt = raw_class(m, "lttng_statedump_interrupt",
				   (const char *const[]){"irq", "u4", "name", "s", "action", "s",
							 "thread", "i4", NULL});
	out->network_interface =
	    raw_class(m, "lttng_statedump_network_interface",
		      (const char *const[]){"name", "s", "address_ipv4", "u4x", NULL});
	return out->start && out->process_state && out->end && out->file_descriptor &&
			   out->block_device && out->interrupt && out->network_interface
		   ? 0
		   : -ENOMEM;
}

/* ------------------------------------------------------------------------
 * tid -> tgid
 * ------------------------------------------------------------------------ */

static size_t tid_slot(const struct rtr__kmap *m, int32_t tid)
{
	uint64_t h = (uint64_t)(uint32_t)tid * 0x9E3779B97F4A7C15ull;

	return (size_t)(h >> 20) & (m->tid_cap - 1);
}

static void tid_put_locked(struct rtr__kmap *m, int32_t tid, int32_t tgid)
{
	if (tid <= 0)
		return;
	if ((m->tid_n + 1) * 2 > m->tid_cap) {
		size_t cap = m->tid_cap ? 2 * m->tid_cap : 1024;
		int32_t *k = calloc(cap, sizeof(*k)), *v = calloc(cap, sizeof(*v));
		int32_t *ok = m->tid_keys, *ov = m->tid_vals;
		size_t ocap = m->tid_cap;

		if (!k || !v) {
			free(k);
			free(v);
			return;
		}
		m->tid_keys = k;
		m->tid_vals = v;
		m->tid_cap = cap;
		m->tid_n = 0;
		for (size_t i = 0; i < ocap; i++)
			if (ok[i] > 0)
				tid_put_locked(m, ok[i], ov[i]);
		free(ok);
		free(ov);
	}
	for (size_t i = tid_slot(m, tid);; i = (i + 1) & (m->tid_cap - 1)) {
		if (m->tid_keys[i] == tid || m->tid_keys[i] == 0) {
			if (m->tid_keys[i] == 0)
				m->tid_n++;
			m->tid_keys[i] = tid;
			m->tid_vals[i] = tgid;
			return;
		}
	}
}

void rtr__kmap_tid_set(struct rtr__kmap *m, int32_t tid, int32_t tgid)
{
	pthread_mutex_lock(&m->tid_lock);
	tid_put_locked(m, tid, tgid);
	pthread_mutex_unlock(&m->tid_lock);
}

static int32_t proc_tgid(int32_t tid)
{
	char path[64], buf[512];
	int fd;
	ssize_t n;
	const char *p;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strstr(buf, "\nTgid:");
	return p ? (int32_t)strtol(p + 6, NULL, 10) : 0;
}

int32_t rtr__kmap_tgid(struct rtr__kmap *m, int32_t tid)
{
	int32_t v = 0;

	if (tid <= 0)
		return tid;
	pthread_mutex_lock(&m->tid_lock);
	if (m->tid_cap)
		for (size_t i = tid_slot(m, tid); m->tid_keys[i]; i = (i + 1) & (m->tid_cap - 1))
			if (m->tid_keys[i] == tid) {
				v = m->tid_vals[i];
				break;
			}
	if (!v && m->use_proc) {
		v = proc_tgid(tid);
		if (v)
			tid_put_locked(m, tid, v);
	}
	pthread_mutex_unlock(&m->tid_lock);
	return v ? v : tid;
}

/* ------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------ */

static uint64_t rd(const uint8_t *p, unsigned size, bool sgn)
{
	switch (size) {
	case 1: {
		uint8_t v = p[0];

		return sgn ? (uint64_t)(int64_t)(int8_t)v : v;
	}
	case 2: {
		uint16_t v;

		memcpy(&v, p, 2);
		return sgn ? (uint64_t)(int64_t)(int16_t)v : v;
	}
	case 4: {
		uint32_t v;

		memcpy(&v, p, 4);
		return sgn ? (uint64_t)(int64_t)(int32_t)v : v;
	}
	default: {
		uint64_t v;

		memcpy(&v, p, 8);
		return v;
	}
	}
}

static uint8_t *wr(uint8_t *d, uint64_t v, unsigned size)
{
	switch (size) {
	case 1:
		*d = (uint8_t)v;
		break;
	case 2: {
		uint16_t x = (uint16_t)v;

		memcpy(d, &x, 2);
		break;
	}
	case 4: {
		uint32_t x = (uint32_t)v;

		memcpy(d, &x, 4);
		break;
	}
	default:
		memcpy(d, &v, 8);
		break;
	}
	return d + size;
}

/* The bytes of a char[N] or __data_loc/__rel_loc field; false if they are
 * not inside the record. */
static bool src_bytes(const struct rtr__kfield *f, const uint8_t *rec, size_t len,
		      const uint8_t **out, size_t *n)
{
	if (f->flags & RTR__KF_MISSING)
		return false;
	if ((size_t)f->src_off + f->src_size > len)
		return false;
	if (f->flags & RTR__KF_DATA_LOC) {
		uint32_t w;
		size_t off, l;

		if (f->src_size < 4)
			return false;
		memcpy(&w, rec + f->src_off, 4);
		off = w & 0xffffu;
		l = w >> 16;
		if (f->flags & RTR__KF_REL_LOC)
			off += (size_t)f->src_off + 4;
		if (off > len || l > len - off)
			return false;
		*out = rec + off;
		*n = l;
		return true;
	}
	*out = rec + f->src_off;
	*n = f->src_size ? f->src_size : len - f->src_off; /* char x[]: to the end */
	return true;
}

static unsigned rwbs_mask(const uint8_t *s, size_t n)
{
	unsigned m = 0;

	for (size_t i = 0; i < n && s[i]; i++) {
		switch (s[i]) {
		case 'W':
			m |= 1u << 0;
			break;
		case 'D':
			m |= 1u << 1;
			break;
		case 'R':
			m |= 1u << 2;
			break;
		case 'A':
			m |= 1u << 3;
			break;
		case 'S':
			m |= 1u << 5;
			break;
		case 'M':
			m |= 1u << 6;
			break;
		case 'E':
			m |= 1u << 7;
			break;
		case 'F':
			/* leading F: preflush; trailing F: FUA */
			m |= i == 0 ? 1u << 10 : 1u << 9;
			break;
		default:
			break;
		}
	}
	return m;
}

void rtr__kplan_note(struct rtr__kmap *m, const struct rtr__kplan *p, const uint8_t *rec,
		     size_t len, struct rtr__kctx *ctx)
{
	(void)m;
	if (p->kind != KKIND_NEWTASK)
		return;
	ctx->newtask_valid = false;
	for (uint32_t i = 0; i < p->nr_fields; i++) {
		const struct rtr__kfield *f = &p->fields[i];
		const char *n = p->descs[i].name;

		if (f->op != KOP_INT || (f->flags & RTR__KF_MISSING) ||
		    (size_t)f->src_off + f->in_size > len)
			continue;
		if (!strcmp(n, "tid") || !strcmp(n, "pid"))
			ctx->newtask_pid = (int32_t)rd(rec + f->src_off, f->in_size, true);
		else if (!strcmp(n, "clone_flags")) {
			ctx->newtask_flags = rd(rec + f->src_off, f->in_size, false);
			ctx->newtask_valid = true;
		}
	}
}

size_t rtr__kplan_encode(struct rtr__kmap *m, const struct rtr__kplan *p, const uint8_t *rec,
			 size_t len, uint8_t *dst, struct rtr__kctx *ctx)
{
	uint8_t *d = dst;
	bool bad = false;
	int32_t parent_tgid = 0;

	for (uint32_t i = 0; i < p->nr_fields; i++) {
		const struct rtr__kfield *f = &p->fields[i];
		const uint8_t *s = NULL;
		size_t n = 0;
		bool have_int = !(f->flags & RTR__KF_MISSING) && f->in_size &&
				(size_t)f->src_off + f->in_size <= len;
		uint64_t v = have_int ? rd(rec + f->src_off, f->in_size, f->in_signed) : 0;

		if (!have_int && f->in_size && !(f->flags & RTR__KF_MISSING))
			bad = true;
		switch (f->op) {
		case KOP_INT:
			d = wr(d, have_int ? v + (uint64_t)f->addend : 0, f->out_size);
			break;
		case KOP_COMM16:
			memset(d, 0, 16);
			if (src_bytes(f, rec, len, &s, &n)) {
				for (size_t k = 0; k < n && k < 15 && s[k]; k++)
					d[k] = s[k];
			} else if (!(f->flags & RTR__KF_MISSING)) {
				bad = true;
			}
			d += 16;
			break;
		case KOP_STRING:
			if (src_bytes(f, rec, len, &s, &n)) {
				for (size_t k = 0; k < n && s[k]; k++)
					*d++ = s[k];
			} else if (!(f->flags & RTR__KF_MISSING)) {
				bad = true;
			}
			*d++ = 0;
			break;
		case KOP_EMPTY_STRING:
			*d++ = 0;
			break;
		case KOP_ARRAY:
			if ((size_t)f->count * f->in_size <= f->src_size &&
			    src_bytes(f, rec, len, &s, &n) &&
			    n >= (size_t)f->count * f->in_size) {
				memcpy(d, s, (size_t)f->count * f->out_size);
			} else {
				memset(d, 0, (size_t)f->count * f->out_size);
				if (!(f->flags & RTR__KF_MISSING))
					bad = true;
			}
			d += (size_t)f->count * f->out_size;
			break;
		case KOP_DYN_ARRAY: {
			uint32_t cnt = 0;

			if (src_bytes(f, rec, len, &s, &n) && f->in_size)
				cnt = (uint32_t)(n / f->in_size);
			else if (!(f->flags & RTR__KF_MISSING))
				bad = true;
			d = wr(d, cnt, 4);
			if (cnt)
				memcpy(d, s, (size_t)cnt * f->in_size);
			d += (size_t)cnt * f->in_size;
			break;
		}
		case KOP_ZEROS:
			memset(d, 0, (size_t)f->count * f->out_size);
			d += (size_t)f->count * f->out_size;
			break;
		case KOP_TGID_PARENT:
			parent_tgid = have_int ? rtr__kmap_tgid(m, (int32_t)v) : 0;
			d = wr(d, (uint64_t)(int64_t)parent_tgid, f->out_size);
			break;
		case KOP_TGID_CHILD: {
			int32_t child = have_int ? (int32_t)v : 0, tgid = child;

			if (ctx && ctx->newtask_valid && ctx->newtask_pid == child) {
				if ((ctx->newtask_flags & CLONE_THREAD_FLAG) && parent_tgid > 0)
					tgid = parent_tgid;
				ctx->newtask_valid = false;
			} else if (child > 0 && m->use_proc) {
				int32_t t = rtr__kmap_tgid(m, child);

				tgid = t > 0 ? t : child;
			}
			if (child > 0)
				rtr__kmap_tid_set(m, child, tgid);
			d = wr(d, (uint64_t)(int64_t)tgid, f->out_size);
			break;
		}
		case KOP_NS_INUM:
			d = wr(d, m->ns_inum, f->out_size);
			break;
		case KOP_VTIDS:
			*d++ = 1;
			d = wr(d, v, 4);
			break;
		case KOP_RWBS:
			if (src_bytes(f, rec, len, &s, &n))
				v = rwbs_mask(s, n);
			else
				v = 0;
			d = wr(d, v, f->out_size);
			break;
		default:
			break;
		}
	}
	if (bad)
		atomic_fetch_add_explicit(&m->malformed, 1, memory_order_relaxed);
	return (size_t)(d - dst);
}
