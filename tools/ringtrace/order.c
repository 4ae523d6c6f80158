/* Knowing when the order of events might be wrong (issue 14): pairs of
 * consecutive events from different CPUs closer than the clock's skew
 * bound, and causality errors (a task switched in before the waking that
 * woke it; a futex wait returning before the wake), found in the merged
 * order of the reader. Used by `ringtrace stats` (a section) and `ringtrace
 * view --uncertain` (marks). Design: docs/design/kernel.md §11. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "order.h"

#define MAX_ERRORS   20
#define PENDING_NS   1000000 /* a cause sorted this much later still counts */
#define TID_BUCKETS  4096
#define ADDR_BUCKETS 1024

/* Per-tid scheduler and futex state (open hash, chained). */
struct tidst {
	int64_t tid;
	struct tidst *next;
	bool asleep;	    /* switched out not runnable, no waking seen since */
	bool pending;	    /* switched in while asleep: waiting for its waking */
	struct rtr_order_ev pend; /* that switch */
	bool in_futex;	    /* inside a futex syscall */
	uint64_t fx_uaddr;
	int64_t fx_op;
	int64_t fx_enter_ns;
	bool fx_pending; /* its wait returned before any wake of uaddr */
	struct rtr_order_ev fx_pend;
};

struct addrst {
	uint64_t uaddr;
	struct addrst *next;
	int64_t last_wake_ns; /* entry of the last wake of uaddr */
	bool has_wake;
	unsigned npending; /* waiters whose return came before any wake */
};

struct rtr_order {
	struct rtr_reader *r;
	int64_t *bound_ns; /* per trace, -1: unknown */
	size_t ntraces;
	bool have_prev;
	struct rtr_order_ev prev;
	uint64_t pairs, uncertain, events;
	uint64_t sched_checked, futex_checked;
	uint64_t nerrors;
	char *errors[MAX_ERRORS];
	struct tidst *tids[TID_BUCKETS];
	struct addrst *addrs[ADDR_BUCKETS];
	bool any_bound;
	int64_t max_bound;
};

struct rtr_order *rtr_order_create(struct rtr_reader *r)
{
	struct rtr_order *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->r = r;
	o->ntraces = rtr_reader_trace_count(r);
	o->bound_ns = calloc(o->ntraces + 1, sizeof(*o->bound_ns));
	if (!o->bound_ns) {
		free(o);
		return NULL;
	}
	for (size_t i = 0; i < o->ntraces; i++) {
		struct rtr_env_value ev;

		o->bound_ns[i] = -1;
		if (!rtr_reader_trace_env(r, i, "clock_skew_bound_ns", &ev) && ev.is_int && ev.i >= 0) {
			o->bound_ns[i] = ev.i;
			o->any_bound = true;
			if (ev.i > o->max_bound)
				o->max_bound = ev.i;
		}
	}
	return o;
}

void rtr_order_destroy(struct rtr_order *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < TID_BUCKETS; i++)
		for (struct tidst *t = o->tids[i], *n; t; t = n) {
			n = t->next;
			free(t);
		}
	for (size_t i = 0; i < ADDR_BUCKETS; i++)
		for (struct addrst *a = o->addrs[i], *n; a; a = n) {
			n = a->next;
			free(a);
		}
	for (size_t i = 0; i < MAX_ERRORS; i++)
		free(o->errors[i]);
	free(o->bound_ns);
	free(o);
}

static struct tidst *tid_get(struct rtr_order *o, int64_t tid)
{
	size_t h = (size_t)((uint64_t)tid * 0x9E3779B97F4A7C15ull >> 52) % TID_BUCKETS;
	struct tidst *t;

	for (t = o->tids[h]; t; t = t->next)
		if (t->tid == tid)
			return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->tid = tid;
	t->next = o->tids[h];
	o->tids[h] = t;
	return t;
}

static struct addrst *addr_get(struct rtr_order *o, uint64_t a)
{
	size_t h = (size_t)(a * 0x9E3779B97F4A7C15ull >> 54) % ADDR_BUCKETS;
	struct addrst *s;

	for (s = o->addrs[h]; s; s = s->next)
		if (s->uaddr == a)
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->uaddr = a;
	s->next = o->addrs[h];
	o->addrs[h] = s;
	return s;
}

/* Integer payload (or stream context) field `name` of m; false if absent. */
static bool field(const struct rtr_msg *m, const char *name, int scope, int64_t *v)
{
	for (size_t i = 0; i < m->n_values; i++) {
		const struct rtr_value *x = &m->values[i];
		const char *n;

		if ((int)x->scope != scope)
			continue;
		n = rtr_value_name(x);
		if (!n || strcmp(n, name))
			continue;
		if (x->kind == RTR_VAL_SINT)
			*v = x->v.i;
		else if (x->kind == RTR_VAL_UINT)
			*v = (int64_t)x->v.u;
		else
			return false;
		return true;
	}
	return false;
}

static void fill_ev(const struct rtr_msg *m, struct rtr_order_ev *e)
{
	int64_t tid = -1, cpu = -1;

	field(m, "tid", RTR_SCOPE_EVENT_COMMON_CONTEXT, &tid);
	/* the packet context's cpu_id (babeltrace2 shows it, so it is among
	 * the values) */
	if (!field(m, "cpu_id", RTR_SCOPE_PACKET_CONTEXT, &cpu) && m->stream)
		cpu = m->stream->cpu_id;
	e->ns = m->ns;
	e->cpu = cpu;
	e->trace = m->stream ? m->stream->trace_index : 0;
	e->tid = tid;
	snprintf(e->name, sizeof(e->name), "%s", m->name ? m->name : "?");
}

static void add_error(struct rtr_order *o, const char *what, const struct rtr_order_ev *later,
		      const struct rtr_order_ev *cause)
{
	char *s;

	o->nerrors++;
	if (o->nerrors > MAX_ERRORS)
		return;
	if (asprintf(&s,
		     "%s: %s at %" PRId64 ".%09" PRId64 " (cpu %" PRId64 ", tid %" PRId64
		     ") sorts %" PRId64 " ns before its cause, %s at %" PRId64 ".%09" PRId64
		     " (cpu %" PRId64 ", tid %" PRId64 ")",
		     what, later->name, later->ns / 1000000000, later->ns % 1000000000, later->cpu,
		     later->tid, cause->ns - later->ns, cause->name, cause->ns / 1000000000,
		     cause->ns % 1000000000, cause->cpu, cause->tid) < 0)
		return;
	o->errors[o->nerrors - 1] = s;
}

static bool is_waking(const char *n)
{
	return !strcmp(n, "sched_waking") || !strcmp(n, "sched_wakeup") ||
	       !strcmp(n, "sched_wakeup_new");
}

static void causality(struct rtr_order *o, const struct rtr_msg *m, const struct rtr_order_ev *e)
{
	const char *n = m->name;
	int64_t v, op;

	if (!n)
		return;
	if (!strcmp(n, "sched_switch")) {
		int64_t prev, next, state = 0;
		struct tidst *t;

		if (field(m, "prev_tid", RTR_SCOPE_EVENT_PAYLOAD, &prev) &&
		    field(m, "prev_state", RTR_SCOPE_EVENT_PAYLOAD, &state) && prev > 0 &&
		    (t = tid_get(o, prev))) {
			/* not runnable (S, D, ...; the preemption flag 0x100 and
			 * running 0 are not sleeps) */
			t->asleep = (state & 0xff) != 0;
			t->pending = false;
		}
		if (field(m, "next_tid", RTR_SCOPE_EVENT_PAYLOAD, &next) && next > 0 &&
		    (t = tid_get(o, next))) {
			if (t->asleep) {
				/* switched in with no waking since it slept: its
				 * waking may come later in this order */
				t->pending = true;
				t->pend = *e;
			}
			t->asleep = false;
		}
		return;
	}
	if (is_waking(n)) {
		struct tidst *t;

		if (!field(m, "tid", RTR_SCOPE_EVENT_PAYLOAD, &v) || !(t = tid_get(o, v)))
			return;
		o->sched_checked++;
		if (t->pending && e->ns - t->pend.ns <= PENDING_NS) {
			char what[64];

			snprintf(what, sizeof(what), "wake-up of tid %" PRId64, v);
			add_error(o, what, &t->pend, e);
		}
		t->pending = false;
		t->asleep = false;
		return;
	}
	if (!strcmp(n, "syscall_entry_futex")) {
		struct tidst *t;
		int64_t ua;

		if (e->tid <= 0 || !field(m, "uaddr", RTR_SCOPE_EVENT_PAYLOAD, &ua) ||
		    !field(m, "op", RTR_SCOPE_EVENT_PAYLOAD, &op) || !(t = tid_get(o, e->tid)))
			return;
		op &= 0x7f; /* without FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME */
		t->in_futex = true;
		t->fx_uaddr = (uint64_t)ua;
		t->fx_op = op;
		t->fx_enter_ns = e->ns;
		if (op == 1 || op == 10 || op == 5 || op == 3 || op == 4) {
			/* WAKE, WAKE_BITSET, WAKE_OP, REQUEUE, CMP_REQUEUE */
			struct addrst *a = addr_get(o, (uint64_t)ua);

			if (!a)
				return;
			a->has_wake = true;
			a->last_wake_ns = e->ns;
			/* waiters on it that returned before this wake */
			for (size_t i = 0; a->npending && i < TID_BUCKETS; i++)
				for (struct tidst *w = o->tids[i]; w; w = w->next)
					if (w->fx_pending && w->fx_uaddr == (uint64_t)ua) {
						if (e->ns - w->fx_pend.ns <= PENDING_NS) {
							char what[64];

							snprintf(what, sizeof(what),
								 "futex 0x%" PRIx64 " of tid %" PRId64,
								 (uint64_t)ua, w->tid);
							add_error(o, what, &w->fx_pend, e);
						}
						w->fx_pending = false;
						a->npending--;
					}
		}
		return;
	}
	if (!strcmp(n, "syscall_exit_futex")) {
		struct tidst *t;
		int64_t ret;

		if (e->tid <= 0 || !(t = tid_get(o, e->tid)) || !t->in_futex)
			return;
		t->in_futex = false;
		if ((t->fx_op != 0 && t->fx_op != 9) ||
		    !field(m, "ret", RTR_SCOPE_EVENT_PAYLOAD, &ret) || ret != 0)
			return;
		/* a wait (WAIT, WAIT_BITSET) that was woken: a wake of its
		 * address must have started after the wait did */
		{
			struct addrst *a = addr_get(o, t->fx_uaddr);

			o->futex_checked++;
			if (!a || (a->has_wake && a->last_wake_ns >= t->fx_enter_ns))
				return;
			if (!t->fx_pending)
				a->npending++;
			t->fx_pending = true;
			t->fx_pend = *e;
		}
	}
}

bool rtr_order_feed(struct rtr_order *o, const struct rtr_msg *m, struct rtr_order_mark *mark)
{
	struct rtr_order_ev e;
	bool uncertain = false;

	if (m->kind != RTR_MSG_EVENT || !m->has_clock || m->ns_error)
		return false;
	fill_ev(m, &e);
	o->events++;
	if (o->have_prev && e.cpu >= 0 && o->prev.cpu >= 0 && e.cpu != o->prev.cpu) {
		int64_t b1 = e.trace < o->ntraces ? o->bound_ns[e.trace] : -1;
		int64_t b2 = o->prev.trace < o->ntraces ? o->bound_ns[o->prev.trace] : -1;
		int64_t bound = b1 > b2 ? b1 : b2;

		o->pairs++;
		if (bound >= 0 && e.ns - o->prev.ns < bound) {
			o->uncertain++;
			uncertain = true;
			if (mark) {
				mark->dt_ns = e.ns - o->prev.ns;
				mark->bound_ns = bound;
				mark->prev = o->prev;
			}
		}
	}
	causality(o, m, &e);
	o->prev = e;
	o->have_prev = true;
	return uncertain;
}

void rtr_order_report(const struct rtr_order *o, FILE *f)
{
	fprintf(f, "\nOrdering\n");
	if (o->any_bound)
		fprintf(f,
			"  clock skew bound  %" PRId64 " ns (clock_skew_bound_ns; the largest of the "
			"traces)\n",
			o->max_bound);
	else
		fprintf(f, "  clock skew bound  unknown (no clock_skew_bound_ns in the traces)\n");
	fprintf(f, "  uncertain pairs   %" PRIu64 " of %" PRIu64
		   " consecutive events on different CPUs are closer than the bound\n",
		o->uncertain, o->pairs);
	fprintf(f, "  causality errors  %" PRIu64 " (wake-ups checked: %" PRIu64
		   ", futex waits checked: %" PRIu64 ")\n",
		o->nerrors, o->sched_checked, o->futex_checked);
	for (size_t i = 0; i < MAX_ERRORS && i < o->nerrors; i++)
		fprintf(f, "    %s\n", o->errors[i]);
	if (o->nerrors > MAX_ERRORS)
		fprintf(f, "    ... and %" PRIu64 " more\n", o->nerrors - MAX_ERRORS);
}

uint64_t rtr_order_errors(const struct rtr_order *o)
{
	return o->nerrors;
}

int rtr_order_stats(const char *cmd, struct rtr_cli_read *rd, FILE *f,
		    const struct rtr_order_hook *hook)
{
	struct rtr_cli_read c = *rd;
	struct rtr_reader *r;
	struct rtr_order *o;
	struct rtr_msg m;
	int rc;

	c.all_values = false;
	r = rtr_cli_open(cmd, &c, false);
	if (!r)
		return -1;
	o = rtr_order_create(r);
	if (!o) {
		rtr_reader_close(r);
		return -1;
	}
	while ((rc = (int)rtr_reader_next(r, &m)) == RTR_NEXT_OK) {
		rtr_order_feed(o, &m, NULL);
		if (hook)
			hook->each(hook->arg, r, &m);
	}
	if (rc == RTR_NEXT_ERROR) {
		fprintf(stderr, "ringtrace %s: error: %s\n", cmd, rtr_reader_error(r)->msg);
	} else {
		if (hook)
			hook->report(hook->arg, f);
		rtr_order_report(o, f);
	}
	rtr_order_destroy(o);
	rtr_reader_close(r);
	return rc == RTR_NEXT_ERROR ? -1 : 0;
}

int rtr_order_view(struct rtr_reader *r, struct rtr_text *t,
		   void (*progress)(struct rtr_reader *r, uint64_t n), struct rtr_error *err)
{
	struct rtr_order *o = rtr_order_create(r);
	struct rtr_msg m;
	uint64_t n = 0;
	enum rtr_next st;
	int wrc = 0;

	if (!o) {
		err->code = -ENOMEM;
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	while ((st = rtr_reader_next(r, &m)) == RTR_NEXT_OK) {
		struct rtr_order_mark mk;
		bool u = rtr_order_feed(o, &m, &mk);

		wrc = rtr_text_print(t, &m);
		if (!wrc && u) {
			char note[160];

			snprintf(note, sizeof(note),
				 "<order uncertain: %" PRId64 " ns after the event before it, on CPU %" PRId64
				 "; skew bound %" PRId64 " ns>",
				 mk.dt_ns, mk.prev.cpu, mk.bound_ns);
			wrc = rtr_text_mark(t, note);
		}
		if (wrc)
			break;
		if (progress && !(++n & 0xffff))
			progress(r, n);
	}
	rtr_order_destroy(o);
	if (wrc) {
		err->code = wrc;
		snprintf(err->msg, sizeof(err->msg), "write: %s", strerror(-wrc));
		return wrc;
	}
	if (st == RTR_NEXT_ERROR) {
		*err = *rtr_reader_error(r);
		return err->code ? err->code : -EINVAL;
	}
	return 0;
}
