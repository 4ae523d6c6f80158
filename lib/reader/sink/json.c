/* Chrome Trace Event JSON (the Perfetto UI and chrome://tracing open it).
 * Processes are the traced processes, threads their threads; begin/end
 * event pairs become complete ("X") slices on their thread, nested; every
 * other event is a thread instant with its fields as args. Conventions
 * (which fields name processes and threads, which event names pair):
 * docs/design/reader.md ("Chrome Trace Event JSON"). */
#define _GNU_SOURCE /* open_memstream */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtrace/reader.h"

/* Linux's PID_MAX_LIMIT: no real process or thread has an ID at or above
 * it, so the tracks made up when a trace does not say (a track per CPU, a
 * process per trace) use IDs from there on. */
#define SYNTH_ID 4194304
/* Open slices kept per thread, and in all, with the bytes they hold; a
 * begin past these stays an instant (a trace that only begins, on many
 * threads, must not grow the converter's memory without bound). */
#define MAX_DEPTH      256
#define MAX_OPEN       (1u << 20)
#define MAX_OPEN_BYTES (256u << 20)

/* A begin waiting for its end. */
struct open_slice {
	char *key;  /* pairing key: base name (+ '@' address for func_entry) */
	char *name; /* slice name */
	char *args; /* the begin's args, as a JSON object body */
	size_t name_len;
	int64_t ns;
	const char *full; /* the begin event's name (instant if unmatched) */
};

/* A (pid, tid) track. */
struct thread {
	int64_t pid, tid;
	bool used;
	bool cpu_track; /* made-up track of one CPU (no thread ID in the trace) */
	char *name;	/* thread name (procname context), or NULL */
	struct open_slice *stack;
	size_t depth, cap;
};

/* A process (pid). */
struct proc {
	int64_t pid;
	bool used;
	bool named_env; /* name from the trace's environment (best) */
	char *name;
};

/* What a trace's environment says about its process. */
struct trace_info {
	bool known;
	bool has_vpid;
	int64_t vpid;
	const char *procname; /* the reader's string, or NULL */
	const char *label;    /* for the made-up process of a trace without one */
};

struct rtr_json {
	struct rtr_reader *r;
	FILE *f;
	int64_t origin;
	bool has_origin;
	struct thread *th; /* open hash by (pid, tid) */
	size_t nth, capth;
	struct proc *pr; /* open hash by pid */
	size_t npr, cappr;
	struct trace_info *ti;
	size_t nti;
	/* scratch stream for the args of a begin */
	FILE *mf;
	char *mbuf;
	size_t msize;
	size_t open_n, open_bytes; /* begins held, in all threads */
	int err;    /* first allocation failure */
	bool first; /* no element in traceEvents yet */
};

/* Starts the next element of traceEvents. */
static void sep(struct rtr_json *j)
{
	fputs(j->first ? "\n{" : ",\n{", j->f);
	j->first = false;
}

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (len > n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < len; k++)
		if ((s[k] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* A JSON string body (RFC 8259): quotes, backslashes and control
 * characters escaped, valid UTF-8 passed through, each byte of invalid
 * UTF-8 replaced by U+FFFD so that the document always parses. */
static void json_body(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
		} else if (c == '\n') {
			fputs("\\n", f);
		} else if (c == '\t') {
			fputs("\\t", f);
		} else if (c == '\r') {
			fputs("\\r", f);
		} else if (c == '\b') {
			fputs("\\b", f);
		} else if (c == '\f') {
			fputs("\\f", f);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
		} else if (c < 0x80) {
			fputc(c, f);
		} else {
			size_t len = utf8_len((const unsigned char *)s + i, n - i);

			if (len) {
				fwrite(s + i, 1, len, f);
				i += len - 1;
			} else {
				fputs("\\ufffd", f);
			}
		}
	}
}

static void json_str(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	json_body(f, s, n);
	fputc('"', f);
}

static void json_int(FILE *f, const struct rtr_value *v)
{
	int base = rtr_value_base(v);

	if (rtr_value_is_enum(v)) {
		const char *lab[8];
		size_t n = rtr_value_enum_labels(v, lab, 8);
		char b[64];

		fputc('"', f);
		for (size_t i = 0; i < n && i < 8; i++) {
			if (i)
				fputc('|', f);
			json_body(f, lab[i], strlen(lab[i]));
		}
		if (v->kind == RTR_VAL_SINT)
			snprintf(b, sizeof(b), "%s(%" PRId64 ")\"", n ? " " : "", v->v.i);
		else
			snprintf(b, sizeof(b), "%s(%" PRIu64 ")\"", n ? " " : "", v->v.u);
		fputs(b, f);
		return;
	}
	if (base == 16) {
		fprintf(f, "\"0x%" PRIx64 "\"", v->v.u);
	} else if (v->kind == RTR_VAL_SINT) {
		if (v->v.i > (1LL << 53) || v->v.i < -(1LL << 53))
			fprintf(f, "\"%" PRId64 "\"", v->v.i);
		else
			fprintf(f, "%" PRId64, v->v.i);
	} else if (v->v.u > (1ULL << 53)) {
		fprintf(f, "\"%" PRIu64 "\"", v->v.u);
	} else {
		fprintf(f, "%" PRIu64, v->v.u);
	}
}

/* Writes values [i, end of the compound) as JSON; returns the next index. */
static size_t json_value(FILE *f, const struct rtr_value *v, size_t i, size_t n)
{
	switch (v[i].kind) {
	case RTR_VAL_UINT:
	case RTR_VAL_SINT:
		json_int(f, &v[i]);
		return i + 1;
	case RTR_VAL_FLOAT:
		if (isfinite(v[i].v.d))
			fprintf(f, "%.17g", v[i].v.d);
		else
			fprintf(f, "\"%g\"", v[i].v.d);
		return i + 1;
	case RTR_VAL_STRING:
		json_str(f, v[i].v.s, (size_t)v[i].len);
		return i + 1;
	case RTR_VAL_STRUCT_BEGIN: {
		bool first = true;

		fputc('{', f);
		i++;
		while (i < n && v[i].kind != RTR_VAL_STRUCT_END) {
			const char *nm = rtr_value_name(&v[i]);

			if (!first)
				fputc(',', f);
			first = false;
			json_str(f, nm ? nm : "", nm ? strlen(nm) : 0);
			fputc(':', f);
			i = json_value(f, v, i, n);
		}
		fputc('}', f);
		return i + 1;
	}
	case RTR_VAL_ARRAY_BEGIN: {
		bool first = true;

		fputc('[', f);
		i++;
		while (i < n && v[i].kind != RTR_VAL_ARRAY_END) {
			if (!first)
				fputc(',', f);
			first = false;
			i = json_value(f, v, i, n);
		}
		fputc(']', f);
		return i + 1;
	}
	case RTR_VAL_VARIANT_BEGIN:
		i = json_value(f, v, i + 1, n);
		return i + 1; /* skip VARIANT_END */
	default:
		fputs("null", f);
		return i + 1;
	}
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static struct thread *thread_get(struct rtr_json *j, int64_t pid, int64_t tid)
{
	size_t m, i;

	if (2 * (j->nth + 1) > j->capth) {
		size_t nc = j->capth ? 2 * j->capth : 64;
		struct thread *n = calloc(nc, sizeof(*n));

		if (!n)
			return NULL;
		for (size_t k = 0; k < j->capth; k++) {
			struct thread *t = &j->th[k];

			if (!t->used)
				continue;
			i = mix((uint64_t)t->pid * 31 + (uint64_t)t->tid) & (nc - 1);
			while (n[i].used)
				i = (i + 1) & (nc - 1);
			n[i] = *t;
		}
		free(j->th);
		j->th = n;
		j->capth = nc;
	}
	m = j->capth - 1;
	for (i = mix((uint64_t)pid * 31 + (uint64_t)tid) & m; j->th[i].used; i = (i + 1) & m)
		if (j->th[i].pid == pid && j->th[i].tid == tid)
			return &j->th[i];
	j->th[i].used = true;
	j->th[i].pid = pid;
	j->th[i].tid = tid;
	j->nth++;
	return &j->th[i];
}

static struct proc *proc_get(struct rtr_json *j, int64_t pid)
{
	size_t m, i;

	if (2 * (j->npr + 1) > j->cappr) {
		size_t nc = j->cappr ? 2 * j->cappr : 16;
		struct proc *n = calloc(nc, sizeof(*n));

		if (!n)
			return NULL;
		for (size_t k = 0; k < j->cappr; k++) {
			if (!j->pr[k].used)
				continue;
			i = mix((uint64_t)j->pr[k].pid) & (nc - 1);
			while (n[i].used)
				i = (i + 1) & (nc - 1);
			n[i] = j->pr[k];
		}
		free(j->pr);
		j->pr = n;
		j->cappr = nc;
	}
	m = j->cappr - 1;
	for (i = mix((uint64_t)pid) & m; j->pr[i].used; i = (i + 1) & m)
		if (j->pr[i].pid == pid)
			return &j->pr[i];
	j->pr[i].used = true;
	j->pr[i].pid = pid;
	j->npr++;
	return &j->pr[i];
}

/* An unsigned integer of the payload named a (func_entry's addr). */
static bool find_payload_uint(const struct rtr_msg *m, const char *a, uint64_t *out)
{
	for (size_t i = 0; i < m->n_values; i++) {
		const struct rtr_value *v = &m->values[i];
		const char *n;

		if (v->scope != RTR_SCOPE_EVENT_PAYLOAD || v->kind != RTR_VAL_UINT)
			continue;
		n = rtr_value_name(v);
		if (n && !strcmp(n, a)) {
			*out = v->v.u;
			return true;
		}
	}
	return false;
}

static struct trace_info *trace_info(struct rtr_json *j, uint32_t ti)
{
	struct rtr_env_value v;
	struct trace_info *t;

	if (ti >= j->nti) {
		size_t nn = (size_t)ti + 8;
		struct trace_info *n = realloc(j->ti, nn * sizeof(*n));

		if (!n)
			return NULL;
		memset(n + j->nti, 0, (nn - j->nti) * sizeof(*n));
		j->ti = n;
		j->nti = nn;
	}
	t = &j->ti[ti];
	if (t->known)
		return t;
	t->known = true;
	if (!rtr_reader_trace_env(j->r, ti, "vpid", &v) && v.is_int && v.i >= 0) {
		t->has_vpid = true;
		t->vpid = v.i;
	}
	if (!rtr_reader_trace_env(j->r, ti, "procname", &v) && !v.is_int)
		t->procname = v.s;
	return t;
}

static char *dup_n(struct rtr_json *j, const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (!d) {
		j->err = -ENOMEM;
		return NULL;
	}
	memcpy(d, s, n);
	d[n] = 0;
	return d;
}

/* Process and thread of an event (docs/design/reader.md):
 *   pid: the vpid (or pid) context; else the trace's env vpid; else the
 *        thread ID when there is one (a kernel trace without pid
 *        context); else a made-up process per trace;
 *   tid: the vtid (or tid) context; else a made-up track per CPU inside
 *        the process. */
static struct thread *event_thread(struct rtr_json *j, const struct rtr_msg *m)
{
	struct trace_info *ti = trace_info(j, m->stream->trace_index);
	const struct rtr_value *pn = rtr_msg_context_str(m, "procname");
	int64_t pid = 0, tid = 0, cpu;
	bool has_tid = rtr_msg_context_int(m, "vtid", "tid", &tid);
	bool cpu_track = false;
	struct thread *t;
	struct proc *p;

	if (!ti)
		return NULL;
	if (!rtr_msg_context_int(m, "vpid", "pid", &pid)) {
		if (ti->has_vpid)
			pid = ti->vpid;
		else if (has_tid)
			pid = tid;
		else
			pid = SYNTH_ID + (int64_t)m->stream->trace_index;
	}
	if (!has_tid) {
		if (!rtr_msg_context_int(m, "cpu_id", NULL, &cpu))
			cpu = m->stream->cpu_id >= 0 ? m->stream->cpu_id : (int64_t)m->stream->index;
		tid = SYNTH_ID + cpu;
		cpu_track = true;
	}
	t = thread_get(j, pid, tid);
	p = proc_get(j, pid);
	if (!t || !p) {
		j->err = -ENOMEM;
		return NULL;
	}
	if (cpu_track && !t->cpu_track) {
		char b[48];

		t->cpu_track = true;
		snprintf(b, sizeof(b), "CPU %" PRId64, tid - SYNTH_ID);
		if (!t->name)
			t->name = dup_n(j, b, strlen(b));
	}
	/* the procname context is the thread's name (the kernel's comm) */
	if (pn && !t->name)
		t->name = dup_n(j, pn->v.s, (size_t)pn->len);
	if (!p->named_env) {
		if (ti->has_vpid && ti->vpid == pid && ti->procname) {
			free(p->name);
			p->name = dup_n(j, ti->procname, strlen(ti->procname));
			p->named_env = true;
		} else if (!p->name && pid >= SYNTH_ID) {
			const char *tn = m->stream->trace_name;

			p->name = dup_n(j, tn ? tn : "trace", tn ? strlen(tn) : 5);
		} else if (pn && (!p->name || tid == pid)) {
			/* the main thread's name is the process's */
			free(p->name);
			p->name = dup_n(j, pn->v.s, (size_t)pn->len);
		}
	}
	return t;
}

/* "key":microseconds, exact to the nanosecond */
static void json_us(FILE *f, const char *key, int64_t ns)
{
	bool neg = ns < 0;
	uint64_t a = neg ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

	fprintf(f, "\"%s\":%s%" PRIu64 ".%03u", key, neg ? "-" : "", a / 1000,
		(unsigned)(a % 1000));
}

static void json_ts(struct rtr_json *j, const char *key, int64_t ns)
{
	json_us(j->f, key, (int64_t)((uint64_t)ns - (uint64_t)j->origin));
}

/* The event's fields (every scope's top-level fields) as the members of a
 * JSON object, without the braces. */
static void json_args(FILE *f, const struct rtr_msg *m)
{
	bool first = true;

	for (size_t i = 0; i < m->n_values;) {
		const struct rtr_value *v = &m->values[i];
		const char *nm = rtr_value_name(v);

		if ((v->kind == RTR_VAL_STRUCT_BEGIN || v->kind == RTR_VAL_STRUCT_END) && !nm) {
			i++; /* scope root: descend */
			continue;
		}
		if (!first)
			fputc(',', f);
		first = false;
		json_str(f, nm ? nm : "", nm ? strlen(nm) : 0);
		fputc(':', f);
		i = json_value(f, m->values, i, m->n_values);
	}
}

/* Pairing convention. Returns +1 for a begin, -1 for an end, 0 for
 * neither; *base_len is the length of the name without its suffix (the
 * slice's name). Suffixes: _entry/_exit, _begin/_end, _start/_end; LTTng's
 * kernel system calls syscall_entry_X/syscall_exit_X (and compat_). */
static int pair_kind(const char *name, size_t *base_len)
{
	static const struct {
		const char *suf;
		int kind;
	} tab[] = {{"_entry", 1}, {"_begin", 1}, {"_start", 1}, {"_exit", -1}, {"_end", -1}};
	size_t n = strlen(name);

	for (size_t k = 0; k < sizeof(tab) / sizeof(tab[0]); k++) {
		size_t s = strlen(tab[k].suf);

		if (n > s && !strcmp(name + n - s, tab[k].suf) && name[n - s - 1] != ':') {
			*base_len = n - s;
			return tab[k].kind;
		}
	}
	return 0;
}

/* The pairing key and the slice name of a begin or end: the name without
 * its suffix; for system calls "syscall_X"; for func_entry/func_exit the
 * function's address too (key base@addr, name "func 0xADDR"). */
static int slice_key(struct rtr_json *j, const struct rtr_msg *m, const char *name, int *kind,
		     char **key, char **sname)
{
	const char *colon = strchr(name, ':');
	const char *ev = colon ? colon + 1 : name;
	size_t bl = 0;
	char b[600];
	uint64_t addr;

	*key = *sname = NULL;
	*kind = 0;
	if (!strncmp(ev, "syscall_entry_", 14) || !strncmp(ev, "syscall_exit_", 13) ||
	    !strncmp(ev, "compat_syscall_entry_", 21) || !strncmp(ev, "compat_syscall_exit_", 20)) {
		bool compat = ev[0] == 'c';
		const char *p = ev + (compat ? 7 : 0);

		*kind = p[8] == 'e' && p[9] == 'n' ? 1 : -1;
		p += *kind > 0 ? 14 : 13;
		snprintf(b, sizeof(b), "%.*s%ssyscall %s", (int)(ev - name), name,
			 compat ? "compat " : "", p);
		*key = dup_n(j, b, strlen(b));
		*sname = dup_n(j, b, strlen(b));
		return *key && *sname ? 0 : -1;
	}
	*kind = pair_kind(name, &bl);
	if (!*kind)
		return 0;
	if ((!strcmp(ev, "func_entry") || !strcmp(ev, "func_exit")) &&
	    find_payload_uint(m, "addr", &addr)) {
		snprintf(b, sizeof(b), "%.*s@%" PRIx64, (int)bl, name, addr);
		*key = dup_n(j, b, strlen(b));
		snprintf(b, sizeof(b), "func 0x%" PRIx64, addr);
		*sname = dup_n(j, b, strlen(b));
	} else {
		*key = dup_n(j, name, bl);
		*sname = dup_n(j, name, bl);
	}
	return *key && *sname ? 0 : -1;
}

static void put_cat(FILE *f, const char *name)
{
	const char *colon = strchr(name, ':');

	fputs(",\"cat\":", f);
	json_str(f, name, colon ? (size_t)(colon - name) : strlen(name));
}

/* A thread instant; args is a JSON object body (NULL: the message's). */
static void put_instant(struct rtr_json *j, const struct rtr_msg *m, const struct thread *t,
			const char *name, bool has_clock, int64_t ns, const char *args)
{
	sep(j);
	fputs("\"name\":", j->f);
	json_str(j->f, name, strlen(name));
	put_cat(j->f, name);
	fputs(",\"ph\":\"i\",\"s\":\"t\",", j->f);
	if (has_clock)
		json_ts(j, "ts", ns);
	else
		fputs("\"ts\":0", j->f);
	fprintf(j->f, ",\"pid\":%" PRId64 ",\"tid\":%" PRId64 ",\"args\":{", t->pid, t->tid);
	if (args)
		fputs(args, j->f);
	else
		json_args(j->f, m);
	fputs("}}", j->f);
}

static void free_slice(struct rtr_json *j, struct open_slice *s)
{
	j->open_n--;
	j->open_bytes -= strlen(s->args) + strlen(s->key) + strlen(s->name);
	free(s->key);
	free(s->name);
	free(s->args);
}

/* The args of m as a string (the scratch stream). */
static char *args_string(struct rtr_json *j, const struct rtr_msg *m)
{
	char *s;

	if (!j->mf) {
		j->mf = open_memstream(&j->mbuf, &j->msize);
		if (!j->mf) {
			j->err = -ENOMEM;
			return NULL;
		}
	}
	rewind(j->mf);
	json_args(j->mf, m);
	fputc(0, j->mf);
	if (fflush(j->mf) || ferror(j->mf)) {
		j->err = -ENOMEM;
		return NULL;
	}
	s = strdup(j->mbuf);
	if (!s)
		j->err = -ENOMEM;
	return s;
}

static void json_event(struct rtr_json *j, const struct rtr_msg *m)
{
	const char *name = m->name ? m->name : "<unknown>";
	struct thread *t;
	char *key = NULL, *sname = NULL;
	int kind = 0;

	if (!j->has_origin && m->has_clock) {
		j->origin = m->ns;
		j->has_origin = true;
	}
	t = event_thread(j, m);
	if (!t)
		return;
	/* pairs only on a thread: a CPU track interleaves threads */
	if (m->has_clock && !m->ns_error && !t->cpu_track &&
	    slice_key(j, m, name, &kind, &key, &sname))
		return;
	if (kind > 0 && t->depth < MAX_DEPTH && j->open_n < MAX_OPEN &&
	    j->open_bytes < MAX_OPEN_BYTES) {
		struct open_slice *s;

		if (t->depth == t->cap) {
			size_t nc = t->cap ? 2 * t->cap : 8;
			struct open_slice *ns = realloc(t->stack, nc * sizeof(*ns));

			if (!ns) {
				j->err = -ENOMEM;
				goto out;
			}
			t->stack = ns;
			t->cap = nc;
		}
		s = &t->stack[t->depth];
		s->args = args_string(j, m);
		if (!s->args)
			goto out;
		s->key = key;
		s->name = sname;
		j->open_n++;
		j->open_bytes += strlen(s->args) + strlen(key) + strlen(sname);
		s->ns = m->ns;
		s->full = m->name; /* the reader's class name: lives as long as it */
		t->depth++;
		return;
	}
	if (kind < 0) {
		size_t d = t->depth;

		while (d > 0 && strcmp(t->stack[d - 1].key, key))
			d--;
		if (d > 0) {
			struct open_slice *s = &t->stack[d - 1];

			/* begins opened inside it and never ended: instants */
			for (size_t k = t->depth; k > d; k--) {
				struct open_slice *u = &t->stack[k - 1];

				put_instant(j, m, t, u->full ? u->full : "<unknown>", true, u->ns,
					    u->args);
				free_slice(j, u);
			}
			sep(j);
	fputs("\"name\":", j->f);
			json_str(j->f, s->name, strlen(s->name));
			put_cat(j->f, name);
			fputs(",\"ph\":\"X\",", j->f);
			json_ts(j, "ts", s->ns);
			fputc(',', j->f);
			json_us(j->f, "dur", m->ns - s->ns);
			fprintf(j->f, ",\"pid\":%" PRId64 ",\"tid\":%" PRId64 ",\"args\":{\"begin\":{",
				t->pid, t->tid);
			fputs(s->args, j->f);
			fputs("},\"end\":{", j->f);
			json_args(j->f, m);
			fputs("},\"events\":[", j->f);
			json_str(j->f, s->full ? s->full : "<unknown>",
				 s->full ? strlen(s->full) : 9);
			fputc(',', j->f);
			json_str(j->f, name, strlen(name));
			fputs("]}}", j->f);
			free_slice(j, s);
			t->depth = d - 1;
			goto out;
		}
	}
	put_instant(j, m, t, name, m->has_clock, m->ns, NULL);
out:
	free(key);
	free(sname);
}

static void json_discarded(struct rtr_json *j, const struct rtr_msg *m)
{
	struct trace_info *ti = trace_info(j, m->stream->trace_index);
	bool proc = ti && ti->has_vpid;

	/* on the traced process when the trace is one process's; global
	 * otherwise (an LTTng per-user trace: the events of any process) */
	sep(j);
	fprintf(j->f, "\"name\":\"%s\",\"cat\":\"ringtrace\",\"ph\":\"i\",\"s\":\"%s\",",
		m->kind == RTR_MSG_DISCARDED_EVENTS ? "discarded events" : "lost packets",
		proc ? "p" : "g");
	if (m->has_range && j->has_origin)
		json_ts(j, "ts", m->end_ns);
	else
		fputs("\"ts\":0", j->f);
	fprintf(j->f, ",\"pid\":%" PRId64 ",\"tid\":%" PRId64 ",\"args\":{\"count\":",
		proc ? ti->vpid : 0, proc ? ti->vpid : 0);
	if (m->count == UINT64_MAX)
		fputs("\"unknown\"", j->f);
	else
		fprintf(j->f, "%" PRIu64, m->count);
	fputs(",\"stream\":", j->f);
	json_str(j->f, m->stream->path, strlen(m->stream->path));
	fputs("}}", j->f);
	if (proc && !proc_get(j, ti->vpid))
		j->err = -ENOMEM;
}

int rtr_json_create(struct rtr_reader *r, FILE *out_file, struct rtr_json **out)
{
	struct rtr_json *j = calloc(1, sizeof(*j));

	*out = j;
	if (!j)
		return -ENOMEM;
	j->r = r;
	j->f = out_file;
	j->first = true;
	fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", j->f);
	return 0;
}

/* the error of a FILE that failed: errno from the failed write when set */
static int file_error(void)
{
	return errno ? -errno : -EIO;
}

int rtr_json_print(struct rtr_json *j, const struct rtr_msg *m)
{
	if (m->kind == RTR_MSG_EVENT)
		json_event(j, m);
	else
		json_discarded(j, m);
	if (j->err)
		return j->err;
	return ferror(j->f) ? file_error() : 0;
}

static void put_meta(struct rtr_json *j, const char *what, int64_t pid, int64_t tid,
		     const char *name)
{
	FILE *f = j->f;

	sep(j);
	fprintf(f, "\"name\":\"%s\",\"ph\":\"M\",\"pid\":%" PRId64 ",\"tid\":%" PRId64
		   ",\"args\":{\"name\":",
		what, pid, tid);
	json_str(f, name, strlen(name));
	fputs("}}", f);
}

int rtr_json_destroy(struct rtr_json *j)
{
	int ret;

	if (!j)
		return 0;
	/* begins never ended: instants; then the names of processes and
	 * threads (metadata events may come anywhere in the array) */
	for (size_t i = 0; i < j->capth; i++) {
		struct thread *t = &j->th[i];

		if (!t->used)
			continue;
		for (size_t k = 0; k < t->depth; k++) {
			struct open_slice *s = &t->stack[k];

			put_instant(j, NULL, t, s->full ? s->full : "<unknown>", true, s->ns,
				    s->args);
			free_slice(j, s);
		}
		free(t->stack);
		if (!t->name) {
			/* no per-thread name in the trace: the process's (a
			 * thread has its process's name unless it renames
			 * itself) */
			struct proc *p = proc_get(j, t->pid);

			if (p && p->name)
				t->name = dup_n(j, p->name, strlen(p->name));
		}
		if (t->name) {
			put_meta(j, "thread_name", t->pid, t->tid, t->name);
			if (t->cpu_track) {
				sep(j);
				fprintf(j->f,
					"\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%" PRId64
					",\"tid\":%" PRId64 ",\"args\":{\"sort_index\":%" PRId64 "}}",
					t->pid, t->tid, t->tid - SYNTH_ID);
			}
		}
		free(t->name);
	}
	for (size_t i = 0; i < j->cappr; i++) {
		struct proc *p = &j->pr[i];

		if (!p->used)
			continue;
		if (p->name)
			put_meta(j, "process_name", p->pid, p->pid, p->name);
		free(p->name);
	}
	fprintf(j->f,
		"\n],\"otherData\":{\"generator\":\"ringtrace convert\",\"origin_ns\":%" PRId64
		"}}\n",
		j->origin);
	ret = fflush(j->f) || ferror(j->f) ? file_error() : 0;
	if (j->err && !ret)
		ret = j->err;
	if (j->mf)
		fclose(j->mf);
	free(j->mbuf);
	free(j->th);
	free(j->pr);
	free(j->ti);
	free(j);
	return ret;
}
