/* Events per process and per thread for `ringtrace stats`, counted in the
 * merged pass (order.c's hook). Which process and thread an event is of:
 *   process: the vpid (or pid) context, else the trace's env vpid (a
 *            per-process trace: ringtrace's, LTTng's per-PID buffers);
 *   thread:  the vtid (or tid) context; none: no per-thread table;
 *   names:   the trace's env procname for its process; the procname
 *            context for threads (and for a process, its main thread's).
 * Discarded events are counted per stream, and a stream is one process's
 * only in a per-process trace: so a process's losses are known when all
 * its events come from its own traces, and said unknown ("-") otherwise;
 * a thread's never are (its CPU's stream is shared with other threads).
 * Same conventions as the JSON export (lib/reader/sink/json.c). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "who.h"

struct ent {
	int64_t pid, tid; /* tid -1: the process's row */
	bool used;
	bool from_ctx; /* some event named its process by context only */
	uint64_t events;
	uint64_t traces_mask; /* its own traces (env vpid) it came from, by index;
			       * beyond the 64th its losses are said unknown */
	char name[64];
	bool env_name;
};

struct tinfo {
	bool known, has_vpid;
	int64_t vpid;
	char procname[64];
};

struct rtr_who {
	struct ent *tab;
	size_t n, cap;
	struct tinfo *ti;
	size_t nti;
	struct rtr_who_lost *lost;
	size_t nlost;
	bool any_pid, any_tid, oom;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static struct ent *get(struct rtr_who *w, int64_t pid, int64_t tid)
{
	size_t m, i;

	if (2 * (w->n + 1) > w->cap) {
		size_t nc = w->cap ? 2 * w->cap : 64;
		struct ent *n = calloc(nc, sizeof(*n));

		if (!n) {
			w->oom = true;
			return NULL;
		}
		for (size_t k = 0; k < w->cap; k++) {
			if (!w->tab[k].used)
				continue;
			i = mix((uint64_t)w->tab[k].pid * 31 + (uint64_t)w->tab[k].tid) & (nc - 1);
			while (n[i].used)
				i = (i + 1) & (nc - 1);
			n[i] = w->tab[k];
		}
		free(w->tab);
		w->tab = n;
		w->cap = nc;
	}
	m = w->cap - 1;
	for (i = mix((uint64_t)pid * 31 + (uint64_t)tid) & m; w->tab[i].used; i = (i + 1) & m)
		if (w->tab[i].pid == pid && w->tab[i].tid == tid)
			return &w->tab[i];
	w->tab[i].used = true;
	w->tab[i].pid = pid;
	w->tab[i].tid = tid;
	w->n++;
	return &w->tab[i];
}

struct rtr_who *rtr_who_create(const struct rtr_who_lost *lost, size_t ntraces)
{
	struct rtr_who *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->lost = calloc(ntraces + 1, sizeof(*w->lost));
	if (!w->lost) {
		free(w);
		return NULL;
	}
	if (ntraces)
		memcpy(w->lost, lost, ntraces * sizeof(*lost));
	w->nlost = ntraces;
	return w;
}

static void set_name(char *dst, const char *s, size_t n)
{
	if (n > 63)
		n = 63;
	memcpy(dst, s, n);
	dst[n] = 0;
}

static struct tinfo *tinfo(struct rtr_who *w, struct rtr_reader *r, uint32_t t)
{
	struct rtr_env_value v;
	struct tinfo *x;

	if (t >= w->nti) {
		size_t nn = (size_t)t + 8;
		struct tinfo *n = realloc(w->ti, nn * sizeof(*n));

		if (!n) {
			w->oom = true;
			return NULL;
		}
		memset(n + w->nti, 0, (nn - w->nti) * sizeof(*n));
		w->ti = n;
		w->nti = nn;
	}
	x = &w->ti[t];
	if (x->known)
		return x;
	x->known = true;
	if (!rtr_reader_trace_env(r, t, "vpid", &v) && v.is_int && v.i >= 0) {
		x->has_vpid = true;
		x->vpid = v.i;
	}
	if (!rtr_reader_trace_env(r, t, "procname", &v) && !v.is_int)
		set_name(x->procname, v.s, strlen(v.s));
	return x;
}

void rtr_who_feed(struct rtr_who *w, struct rtr_reader *r, const struct rtr_msg *m)
{
	struct tinfo *ti;
	const struct rtr_value *pn;
	int64_t pid, tid;
	bool has_tid, ctx_pid;
	struct ent *p, *t;

	if (m->kind != RTR_MSG_EVENT || !(ti = tinfo(w, r, m->stream->trace_index)))
		return;
	has_tid = rtr_msg_context_int(m, "vtid", "tid", &tid);
	ctx_pid = rtr_msg_context_int(m, "vpid", "pid", &pid);
	if (!ctx_pid) {
		if (!ti->has_vpid)
			return; /* neither says: no process */
		pid = ti->vpid;
	}
	w->any_pid = true;
	p = get(w, pid, -1);
	if (!p)
		return;
	p->events++;
	if (!(ti->has_vpid && ti->vpid == pid)) {
		p->from_ctx = true;
	} else if (m->stream->trace_index < 64) {
		p->traces_mask |= 1ull << m->stream->trace_index;
	} else {
		p->from_ctx = true; /* beyond what is tracked: said unknown */
	}
	pn = rtr_msg_context_str(m, "procname");
	if (ti->has_vpid && ti->vpid == pid && ti->procname[0] && !p->env_name) {
		strcpy(p->name, ti->procname);
		p->env_name = true;
	} else if (!p->env_name && pn && (!p->name[0] || (has_tid && tid == pid))) {
		set_name(p->name, pn->v.s, (size_t)pn->len);
	}
	if (!has_tid)
		return;
	w->any_tid = true;
	t = get(w, pid, tid);
	if (!t)
		return;
	t->events++;
	if (pn && !t->name[0])
		set_name(t->name, pn->v.s, (size_t)pn->len);
}

static int cmp_ent(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return 0;
}

void rtr_who_report(struct rtr_who *w, FILE *f)
{
	struct ent *rows;
	size_t n = 0;

	if (w->oom) {
		fprintf(f, "\nEvents per process: not counted (out of memory)\n");
		return;
	}
	if (!w->any_pid)
		return;
	rows = malloc((w->n + 1) * sizeof(*rows));
	if (!rows)
		return;
	for (size_t i = 0; i < w->cap; i++)
		if (w->tab[i].used)
			rows[n++] = w->tab[i];
	qsort(rows, n, sizeof(*rows), cmp_ent);
	fprintf(f, "\nEvents per process\n");
	fprintf(f, "%14s %10s %6s %10s  %s\n", "EVENTS", "DISCARDED", "LOST", "PID", "NAME");
	for (size_t i = 0; i < n; i++) {
		const struct ent *e = &rows[i];
		uint64_t d = 0, l = 0;
		bool unknown = e->from_ctx;

		if (e->tid != -1)
			continue;
		for (size_t t = 0; t < w->nlost && t < 64 && !unknown; t++)
			if (e->traces_mask & (1ull << t)) {
				d += w->lost[t].discarded;
				l += w->lost[t].lost_packets;
				unknown |= w->lost[t].unknown;
			}
		if (unknown)
			fprintf(f, "%14" PRIu64 " %10s %6s %10" PRId64 "  %s\n", e->events, "-", "-",
				e->pid, e->name[0] ? e->name : "-");
		else
			fprintf(f, "%14" PRIu64 " %10" PRIu64 " %6" PRIu64 " %10" PRId64 "  %s\n",
				e->events, d, l, e->pid, e->name[0] ? e->name : "-");
	}
	if (w->any_tid) {
		fprintf(f, "\nEvents per thread\n");
		fprintf(f, "%14s %10s %10s  %s\n", "EVENTS", "PID", "TID", "NAME");
		for (size_t i = 0; i < n; i++) {
			const struct ent *e = &rows[i];

			if (e->tid == -1)
				continue;
			fprintf(f, "%14" PRIu64 " %10" PRId64 " %10" PRId64 "  %s\n", e->events, e->pid,
				e->tid, e->name[0] ? e->name : "-");
		}
	}
	free(rows);
}

void rtr_who_destroy(struct rtr_who *w)
{
	if (!w)
		return;
	free(w->tab);
	free(w->ti);
	free(w->lost);
	free(w);
}
