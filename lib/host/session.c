/* lib/host: sessions — their channels and event rules, which process
 * records which event where (and with which filter), and the operations
 * (start, stop, destroy) fanned out to every process of a session at once
 * with a deadline per process. Design: docs/design/daemon.md §2-§3,
 * docs/design/host.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "armed.h"
#include "ctl.h"
#include "host-internal.h"

#define DEFAULT_SUBBUF	   (256u * 1024u)
#define DEFAULT_NUM_SUBBUF 4u
#define DEFAULT_OP_TIMEOUT (1000ull * 1000000u)

void rtr_host_set_op_timeout(struct rtr_host *h, uint64_t ns)
{
	h->op_timeout_ns = ns ? ns : DEFAULT_OP_TIMEOUT;
}

static int seterr(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int seterr(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

struct rtr__session *rtr__session_find(struct rtr_host *h, uint64_t id)
{
	for (struct rtr__session *s = h->sessions; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

uint64_t rtr_host_session_lookup(const struct rtr_host *h, const char *name)
{
	for (const struct rtr__session *s = h->sessions; s; s = s->next)
		if (!strcmp(s->name, name))
			return s->id;
	return 0;
}

void rtr_host_sessions(const struct rtr_host *h, uint64_t *ids, size_t cap, size_t *n)
{
	size_t k = 0, total = 0;

	for (const struct rtr__session *s = h->sessions; s; s = s->next)
		total++;
	/* h->sessions is newest first: list them oldest first */
	for (size_t want = total; want > 0 && k < cap; want--) {
		size_t i = 0;

		for (const struct rtr__session *s = h->sessions; s; s = s->next, i++)
			if (i == want - 1)
				ids[k++] = s->id;
	}
	*n = k;
}

bool rtr__session_accepts(const struct rtr__session *s, const struct rtr__proc *p)
{
	if (s->record || s->all_uids)
		return true;
	if (!s->nuids)
		return p->uid == geteuid();
	for (size_t i = 0; i < s->nuids; i++)
		if (s->uids[i] == p->uid)
			return true;
	return false;
}

struct rtr__ptrace *rtr__ptrace_of(struct rtr__proc *p, const struct rtr__session *s)
{
	for (struct rtr__ptrace *t = p->traces; t; t = t->next_p)
		if (t->s == s)
			return t;
	return NULL;
}

/* ------------------------------------------------------------------------
 * Rules: which event a channel records, with which filter
 * ------------------------------------------------------------------------ */

static bool rule_selects(const struct rtr__rule *r, const struct rtr_event_desc *ev,
			 const char *full)
{
	return rtr_armed_rule_selects(r->pattern, r->excludes, r->nexcludes,
				      (uint32_t)r->loglevel_type, r->loglevel, ev->loglevel, full);
}

bool rtr__rules_match(struct rtr__session *s, unsigned ci, const struct rtr_event_desc *ev,
		      uint8_t *buf, uint16_t *len)
{
	const struct rtr_fexpr *exprs[64];
	char full[2 * RTR_PROTO_MAX_NAME + 2];
	size_t n = 0;
	bool any = false, unfiltered = false;

	*len = 0;
	snprintf(full, sizeof(full), "%s:%s", ev->provider, ev->name);
	for (struct rtr__rule *r = s->rules; r; r = r->next) {
		if (r->ci != ci || !rule_selects(r, ev, full))
			continue;
		if (!r->filter) {
			unfiltered = true;
			any = true;
		} else if (n < sizeof(exprs) / sizeof(exprs[0])) {
			exprs[n++] = r->filter;
		}
	}
	if (unfiltered)
		return true;
	if (n) {
		char err[160];
		int k = rtr_fexpr_compile(exprs, n, ev, buf, RTR_FILTER_MAX_CODE, err, sizeof(err));

		if (k > 0) {
			*len = (uint16_t)k;
			return true;
		}
		/* no filter applies to this event (a field it lacks): the
		 * rules do not enable it */
	}
	return any;
}

/* ------------------------------------------------------------------------
 * Ids of a process's events in one channel
 * ------------------------------------------------------------------------ */

static int ids_grow(struct rtr__pchan *c, uint32_t n)
{
	int64_t *ids;
	uint8_t *pend;
	uint32_t cap = c->cap_ids ? c->cap_ids : 64;

	if (n <= c->cap_ids)
		return 0;
	while (cap < n)
		cap *= 2;
	ids = realloc(c->ids, cap * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	c->ids = ids;
	pend = realloc(c->pend, cap);
	if (!pend)
		return -ENOMEM;
	c->pend = pend;
	for (uint32_t i = c->cap_ids; i < cap; i++) {
		c->ids[i] = -1;
		c->pend[i] = 0;
	}
	c->cap_ids = cap;
	return 0;
}

#define MAX_EVENT_ID (1u << 20)
/* c->pend[k]: 1 enabled, not sent yet; PEND_SELF: the process, arming the
 * session itself, gave the event its id and bound it. */
#define PEND_SELF 2
/* Filter bytes in one REGISTER_REPLY / ENABLE (messages are <= 64 KiB). */
#define FILT_REPLY_MAX (32u * 1024u)

/* Enable event k of the process in channel c if the rules say so: gives it
 * an id (once: ids are never reused, packets may hold them). Returns true
 * when the event is to be (re)sent to the process now, with the filter in
 * buf/len. */
static bool decide(struct rtr__pchan *c, uint32_t k, uint8_t *buf, uint16_t *len)
{
	struct rtr__proc *p = c->t->p;
	const struct rtr__ev *e = &p->evs[k];

	if (e->checked_bad || ids_grow(c, k + 1))
		return false;
	if (!rtr__rules_match(c->t->s, c->ci, e->desc, buf, len))
		return false;
	if (c->view) {
		/* per-user channel: the id is the per-user registry's, the
		 * same for every program of the user (daemon.md §9.3) */
		struct rtr__pchan *sc = rtr__user_chan(c->t->s, c->ci, p->uid);
		int64_t j;

		if (*len && p->minor < 1)
			return false;
		if (!sc || (j = rtr__user_event(sc->t->p, p, k)) < 0 || ids_grow(sc, (uint32_t)j + 1))
			return false;
		if (sc->ids[j] < 0) {
			if (sc->next_event_id >= MAX_EVENT_ID)
				return false;
			/* U3: the id exists in the registry (and its metadata
			 * generation moved) before any program is told it */
			sc->ids[j] = sc->next_event_id++;
			sc->t->meta_gen++;
			hinfo(p->h, "user %u: %s:%s enabled as id %lld in %s/%s (per-user)",
			      (unsigned)p->uid, e->desc->provider, e->desc->name,
			      (long long)sc->ids[j], c->t->s->name, c->t->s->chans[c->ci].name);
		}
		c->ids[k] = sc->ids[j];
		return true;
	}
	if (*len && p->minor < 1) {
		hwarn_c(p->h, RTR__LOG_PROC,
			"process %d (%s): its ringtrace runtime is too old for filters; %s:%s not "
			"traced in session %s",
			(int)p->pid, p->procname, e->desc->provider, e->desc->name, c->t->s->name);
		return false;
	}
	if (c->ids[k] < 0) {
		if (c->next_event_id >= MAX_EVENT_ID)
			return false;
		c->ids[k] = c->next_event_id++;
		c->t->meta_gen++;
		hinfo(p->h, "process %d: %s:%s enabled as id %lld in %s/%s", (int)p->pid,
		      e->desc->provider, e->desc->name, (long long)c->ids[k], c->t->s->name,
		      c->t->s->chans[c->ci].name);
	}
	return true;
}

/* Sends an ENABLE (entries with filters) to the process. */
static int send_enables(struct rtr__proc *p, const struct rtr_proto_enable_entry *e,
			const uint8_t *const *filt, const uint16_t *flen, uint32_t n)
{
	int r = rtr_proto_enc_enable_ext(&p->h->out, RTR_MSG_ENABLE, ++p->seq, 0, e, filt, flen, n);

	if (r)
		return r;
	return rtr__proc_send(p, NULL, 0);
}

/* Re-examines events [first, last) of channel c (rules changed or new
 * events) and sends what the process must change: enables (new, or with
 * another filter) and disables. */
static void channel_update(struct rtr__pchan *c, uint32_t first, uint32_t last, bool disables)
{
	struct rtr__proc *p = c->t->p;
	struct rtr_proto_enable_entry *en = NULL, *dis = NULL;
	const uint8_t **filt = NULL;
	uint16_t *flen = NULL;
	uint8_t *store = NULL;
	uint32_t n = 0, nd = 0, cap = 64;
	size_t used = 0, store_cap = 0;

	if (p->cmd < 0 || !c->t->s)
		return;
	en = calloc(cap, sizeof(*en));
	dis = calloc(cap, sizeof(*dis));
	filt = calloc(cap, sizeof(*filt));
	flen = calloc(cap, sizeof(*flen));
	store_cap = FILT_REPLY_MAX + RTR_FILTER_MAX_CODE;
	store = malloc(store_cap);
	if (!en || !dis || !filt || !flen || !store)
		goto out;
	for (uint32_t k = first; k <= last && p->cmd >= 0; k++) {
		uint8_t buf[RTR_FILTER_MAX_CODE];
		uint16_t len = 0;
		bool was = k < last && k < c->cap_ids && c->ids[k] >= 0 && c->pend[k] != 1;
		bool on = k < last && decide(c, k, buf, &len);
		bool flush = k == last || n == cap || nd == cap || used > FILT_REPLY_MAX;

		if (flush && n) {
			/* filt[] points into store: rebase after the copy */
			size_t off = 0;

			for (uint32_t i = 0; i < n; i++) {
				filt[i] = flen[i] ? store + off : NULL;
				off += flen[i];
			}
			send_enables(p, en, filt, flen, n);
			n = 0;
			used = 0;
		}
		if (flush && nd) {
			if (rtr_proto_enc_enable_ext(&p->h->out, RTR_MSG_DISABLE, ++p->seq, 0, dis,
						     NULL, NULL, nd) == 0)
				rtr__proc_send(p, NULL, 0);
			nd = 0;
		}
		if (k == last)
			break;
		/* the command socket is ordered: an ENABLE after the CHANNEL
		 * that made the channel finds it (a channel the process could
		 * not map answers the ENABLE with an error, harmlessly) */
		if (on && (!c->seq_hi || c->chan_failed)) {
			c->pend[k] = 1;
			continue;
		}
		if (on) {
			en[n] = (struct rtr_proto_enable_entry){p->evs[k].reg_index, c->handle,
								(uint32_t)c->ids[k]};
			memcpy(store + used, buf, len);
			flen[n] = len;
			used += len;
			n++;
			c->pend[k] = 0;
		} else if (was && disables) {
			dis[nd++] = (struct rtr_proto_enable_entry){p->evs[k].reg_index,
								    c->handle,
								    (uint32_t)c->ids[k]};
		}
	}
out:
	free(en);
	free(dis);
	free(filt);
	free(flen);
	free(store);
}

uint32_t rtr__match_new_events(struct rtr__proc *p, uint32_t first,
			       struct rtr_proto_enable_entry *en, const uint8_t **filt,
			       uint16_t *filt_len, uint32_t cap)
{
	/* Filters of the reply live in the host's arena until the next call;
	 * past FILT_REPLY_MAX bytes the rest goes in a later ENABLE. */
	uint8_t *arena = p->h->filt_arena;
	size_t used = 0;
	uint32_t n = 0;

	if (!arena) {
		arena = p->h->filt_arena = malloc(FILT_REPLY_MAX + RTR_FILTER_MAX_CODE);
		if (!arena)
			return 0;
		p->h->filt_cap = FILT_REPLY_MAX + RTR_FILTER_MAX_CODE;
	}

	for (struct rtr__ptrace *t = p->traces; t; t = t->next_p) {
		if (t->closed)
			continue;
		for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++) {
			struct rtr__pchan *c = t->ch[ci];

			if (!c || c->released)
				continue;
			for (uint32_t k = first; k < p->nr_evs; k++) {
				uint8_t buf[RTR_FILTER_MAX_CODE];
				uint16_t len = 0;

				if (k < c->cap_ids && c->pend[k] == PEND_SELF)
					continue; /* the process bound it itself */
				if (!decide(c, k, buf, &len))
					continue;
				/* the reply is read by another thread than the
				 * CHANNEL: only channels known usable go in it; the
				 * others get an ENABLE on the command socket */
				if (!c->chan_ok || n == cap || used + len > FILT_REPLY_MAX) {
					c->pend[k] = 1;
					continue;
				}
				memcpy(arena + used, buf, len);
				filt[n] = len ? arena + used : NULL;
				filt_len[n] = len;
				used += len;
				en[n++] = (struct rtr_proto_enable_entry){p->evs[k].reg_index,
									  c->handle,
									  (uint32_t)c->ids[k]};
			}
		}
	}
	return n;
}

void rtr__send_pending_enables(struct rtr__pchan *c)
{
	struct rtr__proc *p = c->t->p;
	uint32_t lo = UINT32_MAX, hi = 0;

	if (!c->seq_hi || c->chan_failed)
		return; /* its CHANNEL was not sent yet (or it failed) */

	for (uint32_t k = 0; k < p->nr_evs && k < c->cap_ids; k++)
		if (c->pend[k] == 1) {
			if (k < lo)
				lo = k;
			hi = k + 1;
		}
	if (lo < hi)
		channel_update(c, lo, hi, false);
}

/* ------------------------------------------------------------------------
 * Attaching processes to sessions
 * ------------------------------------------------------------------------ */

struct rtr__pchan *rtr__pchan_new(struct rtr__ptrace *t, unsigned ci, const char **why)
{
	struct rtr__session *s = t->s;
	const struct rtr_host_channel_cfg *cc = &s->chans[ci].c;
	struct rtr__pchan *c = calloc(1, sizeof(*c));

	if (!c) {
		*why = "out of memory";
		return NULL;
	}
	c->t = t;
	c->ci = ci;
	c->handle = t->p->next_handle++;
	c->overwrite = cc->overwrite || s->snapshot;
	c->subbuf_size = cc->subbuf_size;
	c->num_subbuf = cc->num_subbuf;
	c->ctx_mask = cc->ctx_mask;
	c->counters = cc->counters;
	c->flush_age_ns = cc->switch_timer_us ? cc->switch_timer_us * 1000u : 1000000000ull;
	c->wake_fd = -1;
	if (ids_grow(c, t->p->nr_evs + 1) || rtr__pchan_create(c, why)) {
		rtr__pchan_free(c);
		return NULL;
	}
	t->ch[ci] = c;
	t->meta_gen++;
	return c;
}

struct rtr__ptrace *rtr__ptrace_new(struct rtr__proc *p, struct rtr__session *s)
{
	struct rtr__ptrace *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->p = p;
	t->s = s;
	t->dirfd = t->meta_fd = -1;
	t->meta_gen = 1; /* no metadata on disk yet */
	t->created = time(NULL);
	t->next_p = p->traces;
	p->traces = t;
	t->next_s = s->traces;
	s->traces = t;
	return t;
}

static void ptrace_unlink(struct rtr__ptrace *t)
{
	struct rtr__ptrace **pp;

	for (pp = &t->p->traces; *pp; pp = &(*pp)->next_p)
		if (*pp == t) {
			*pp = t->next_p;
			break;
		}
	if (t->s)
		for (pp = &t->s->traces; *pp; pp = &(*pp)->next_s)
			if (*pp == t) {
				*pp = t->next_s;
				break;
			}
}

void rtr__ptrace_free(struct rtr__ptrace *t)
{
	t->p->h->free_gen++;
	ptrace_unlink(t);
	if (t->p->user && !t->p->traces)
		t->p->state = P_DONE; /* the per-user owner goes with its session */
	for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++)
		if (t->ch[ci])
			rtr__pchan_free(t->ch[ci]);
	rtr__output_close(t);
	free(t);
}

/* Adds channel ci of session s to trace t. record: a failure refuses the
 * process (why says why); daemon: that channel is left out. */
static int attach_channel(struct rtr__ptrace *t, unsigned ci, const char **why)
{
	struct rtr__pchan *c;

	if (t->s->chans[ci].c.per_uid) {
		c = rtr__user_view_new(t, ci, why);
	} else {
		if (t->dirfd < 0 && !t->s->snapshot && rtr__output_open(t)) {
			*why = "cannot create the trace directory";
			c = NULL;
		} else {
			c = rtr__pchan_new(t, ci, why);
		}
	}

	if (!c) {
		if (!t->s->record)
			hwarn_c(t->p->h, RTR__LOG_REFUSED,
				"process %d (%s) not traced in channel %s of session %s: %s",
				(int)t->p->pid, t->p->procname, t->s->chans[ci].name, t->s->name,
				*why);
		return -ENOMEM;
	}
	return 0;
}

/* Trace of p in s with every channel defined so far. Returns 0, or a
 * negative errno with why (record: the process is refused). */
static int attach(struct rtr__proc *p, struct rtr__session *s, const char **why)
{
	struct rtr__ptrace *t = rtr__ptrace_new(p, s);
	unsigned got = 0;
	int r = 0;

	if (!t) {
		*why = "out of memory";
		return -ENOMEM;
	}
	for (unsigned ci = 0; ci < s->nchans; ci++) {
		if (!s->chans[ci].defined)
			continue;
		r = attach_channel(t, ci, why);
		if (r && s->record)
			goto fail;
		if (!r)
			got++;
	}
	if (!got && s->nchans) {
		r = -ENOMEM;
		goto fail;
	}
	return 0;
fail:
	t->finished = true;
	rtr__output_discard(t);
	rtr__ptrace_free(t);
	return r ? r : -ENOMEM;
}

unsigned rtr__sessions_attach(struct rtr__proc *p)
{
	unsigned n = 0;

	for (struct rtr__session *s = p->h->sessions; s; s = s->next) {
		const char *why = "";
		bool armed = false;

		for (uint32_t i = 0; i < p->narmed; i++)
			if (p->armed[i] == s->id)
				armed = true;
		/* a session it armed itself: its channels come from it; a
		 * session that does not record gets it when it starts */
		if (armed || !s->active || !rtr__session_accepts(s, p) || rtr__ptrace_of(p, s))
			continue;
		if (attach(p, s, &why) == 0)
			n++;
		else if (s->record)
			return 0;
	}
	return n;
}

/* Sends what p must know of its traces and was not sent yet. */
int rtr__proc_sync(struct rtr__proc *p)
{
	struct rtr_host *h = p->h;
	int r;

	for (struct rtr__ptrace *t = p->traces; t; t = t->next_p) {
		struct rtr__session *s = t->s;

		if (t->closed || !s)
			continue;
		if (!t->session_sent) {
			struct rtr_proto_session ps = {.session_id = s->id,
						       .clock_source = (uint32_t)h->clock.source,
						       .name = s->name};

			if ((r = rtr_proto_enc_session(&h->out, ++p->seq, &ps)) ||
			    (r = rtr__proc_send(p, NULL, 0)))
				return r;
			t->session_sent = true;
		}
		for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++) {
			struct rtr__pchan *c = t->ch[ci];
			const struct rtr__pchan *src = c;
			struct rtr_proto_channel pc;
			int wake_fd;

			if (!c || c->chan_pending || c->chan_ok || c->chan_failed || c->released)
				continue;
			if (c->view) {
				/* the per-user buffers: the same memfds for every
				 * program of the user (daemon.md §9.2) */
				src = rtr__user_chan(s, ci, p->uid);
				if (!src || src->released || !src->bufs)
					continue;
			}
			wake_fd = (p->caps & RTR_PROTO_CAP_WAKEUP) ? src->wake_fd : -1;
			pc = (struct rtr_proto_channel){
			    .session_id = s->id,
			    .chan_handle = c->handle,
			    .client_id = src->client,
			    .nr_bufs = src->nr_bufs,
			    .flags = (wake_fd >= 0 ? RTR_PROTO_CHANNEL_WAKEUP : 0) |
				     (c->view ? RTR_PROTO_CHANNEL_SHARED : 0) |
				     ((c->counters << RTR_PROTO_CHANNEL_COUNTERS_SHIFT) &
				      RTR_PROTO_CHANNEL_COUNTERS_MASK),
			    .num_subbuf = c->num_subbuf,
			    .subbuf_size = c->subbuf_size,
			    .name = s->chans[ci].name,
			    .ctx_mask = p->minor >= 1 ? c->ctx_mask : 0,
			};
			if ((r = rtr_proto_enc_channel(&h->out, ++p->seq, &pc)) ||
			    (r = rtr__proc_send(p, &wake_fd, wake_fd >= 0 ? 1 : 0)))
				return r;
			c->seq_lo = p->seq;
			c->chan_pending = 1;
			for (uint32_t first = 0; first < src->nr_bufs;
			     first += RTR_PROTO_MAX_BUFS_PER_MSG) {
				struct rtr_proto_channel_buffers b = {.chan_handle = c->handle,
								      .first = first};
				int fds[RTR_PROTO_MAX_BUFS_PER_MSG];

				b.count = src->nr_bufs - first;
				if (b.count > RTR_PROTO_MAX_BUFS_PER_MSG)
					b.count = RTR_PROTO_MAX_BUFS_PER_MSG;
				for (uint32_t i = 0; i < b.count; i++)
					fds[i] = src->bufs[first + i]->fd;
				if ((r = rtr_proto_enc_channel_buffers(&h->out, ++p->seq, &b)) ||
				    (r = rtr__proc_send(p, fds, b.count)))
					return r;
				c->chan_pending++;
			}
			c->seq_hi = p->seq;
			/* the events it records, right behind it */
			channel_update(c, 0, p->nr_evs, false);
			if (p->cmd < 0)
				return -ENOTCONN;
		}
		if (s->active && !t->started && !(s->op && s->op->kind == OP_START)) {
			if ((r = rtr_proto_enc_ref(&h->out, RTR_MSG_START, ++p->seq, s->id)) ||
			    (r = rtr__proc_send(p, NULL, 0)))
				return r;
			t->started = true;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Finishing traces
 * ------------------------------------------------------------------------ */

void rtr__ptrace_finish(struct rtr__ptrace *t, bool gone)
{
	struct rtr_host *h = t->p->h;
	struct rtr__session *s = t->s;

	if (t->finished)
		return;
	t->finished = true;
	for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++) {
		struct rtr__pchan *c = t->ch[ci];

		if (!c)
			continue;
		rtr__pchan_finish(c, gone);
		rtr__totals_add(&h->t, &c->tot);
		if (s)
			rtr__totals_add(&s->chans[ci].done, &c->tot);
	}
	/* A process that never recorded an event leaves no directory: an
	 * empty CTF trace only makes readers complain. Any other trace is
	 * complete now: its final metadata is written with the clock known
	 * at this point (every event of it is before). */
	if (t->dirfd >= 0 && !rtr__output_remove_if_empty(t)) {
		int r = rtr__output_final(t);

		h->t.procs++;
		if (r)
			h->t.meta_failed++; /* logged and counted as a write error */
	}
	rtr__output_close(t);
}

/* ------------------------------------------------------------------------
 * Session API
 * ------------------------------------------------------------------------ */

static bool name_ok(const char *n)
{
	size_t len = n ? strlen(n) : 0;

	if (len == 0 || len >= RTR_HOST_MAX_SESSION_NAME || n[0] == '.' || n[0] == '-')
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '_' || *n == '-' || *n == '.'))
			return false;
	return true;
}

static bool ident_ok(const char *n)
{
	size_t len = n ? strlen(n) : 0;

	if (len == 0 || len >= 64 || !((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
				       *n == '_'))
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '_'))
			return false;
	return true;
}

static struct rtr__session *session_new(struct rtr_host *h, const char *name)
{
	struct rtr__session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->h = h;
	s->id = ++h->next_session_id;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->out_dirfd = s->chunk_dirfd = -1;
	s->created_ns = rtr__now_ns();
	s->next = h->sessions;
	h->sessions = s;
	return s;
}

static void rule_free(struct rtr__rule *r)
{
	if (!r)
		return;
	free(r->pattern);
	for (size_t i = 0; i < r->nexcludes; i++)
		free(r->excludes[i]);
	free(r->excludes);
	free(r->filter_text);
	rtr_fexpr_free(r->filter);
	free(r);
}

static void session_free(struct rtr__session *s)
{
	struct rtr__session **pp;

	while (s->traces) {
		struct rtr__ptrace *t = s->traces;

		/* the process keeps going; its trace of this session is over */
		rtr__ptrace_free(t);
	}
	while (s->rules) {
		struct rtr__rule *r = s->rules;

		s->rules = r->next;
		rule_free(r);
	}
	for (pp = &s->h->sessions; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	s->h->armed_gen++;
	if (s->chunk_dirfd >= 0 && s->chunk_dirfd != s->out_dirfd)
		close(s->chunk_dirfd);
	if (s->out_dirfd >= 0 && !s->record)
		close(s->out_dirfd);
	free(s->out_path);
	free(s->uids);
	free(s->op);
	free(s);
}

void rtr__sessions_free(struct rtr_host *h)
{
	while (h->sessions)
		session_free(h->sessions);
}

static int chan_define(struct rtr__session *s, const struct rtr_host_channel_cfg *in, char *err,
		       size_t errlen)
{
	struct rtr_host_channel_cfg c = *in;
	struct rtr__chan_def *d;
	unsigned ci;

	if (!ident_ok(c.name))
		return seterr(err, errlen, -EINVAL,
			      "channel name %s: expected an identifier of at most 63 bytes",
			      c.name ? c.name : "(none)");
	for (ci = 0; ci < s->nchans; ci++)
		if (!strcmp(s->chans[ci].name, c.name))
			return seterr(err, errlen, -EEXIST,
				      "channel %s already exists in session %s (channels cannot "
				      "be changed)",
				      c.name, s->name);
	if (s->nchans >= RTR_HOST_MAX_CHANS)
		return seterr(err, errlen, -ENOSPC, "session %s has %u channels already",
			      s->name, RTR_HOST_MAX_CHANS);
	if (!c.subbuf_size)
		c.subbuf_size = DEFAULT_SUBBUF;
	if (!c.num_subbuf)
		c.num_subbuf = DEFAULT_NUM_SUBBUF;
	if (c.subbuf_size < RTR_RING_MIN_SUBBUF || c.subbuf_size > RTR_RING_MAX_SUBBUF ||
	    (c.subbuf_size & (c.subbuf_size - 1)))
		return seterr(err, errlen, -EINVAL,
			      "sub-buffer size %llu: expected a power of two from 4 KiB to 1 GiB",
			      (unsigned long long)c.subbuf_size);
	if (c.num_subbuf < 2 || c.num_subbuf > RTR_RING_MAX_NUM_SUBBUF ||
	    (c.num_subbuf & (c.num_subbuf - 1)))
		return seterr(err, errlen, -EINVAL,
			      "sub-buffer count %u: expected a power of two from 2 to %u",
			      c.num_subbuf, RTR_RING_MAX_NUM_SUBBUF);
	if (c.per_uid && c.counters)
		return seterr(err, errlen, -ENOTSUP,
			      "per-thread counters are not supported with per-user buffers");
	if (c.tracefile_count && !c.tracefile_size)
		return seterr(err, errlen, -EINVAL,
			      "--tracefile-count needs --tracefile-size (files are counted as they "
			      "fill up)");
	if (c.ctx_mask & ~RTR_HOST_CTX_ALL)
		return seterr(err, errlen, -EINVAL, "unknown context");
	if (c.counters & ~((1u << RTR_CTF_COUNTER_COUNT) - 1))
		return seterr(err, errlen, -EINVAL, "unknown counter");
	if (s->snapshot)
		c.overwrite = true;
	ci = s->nchans++;
	d = &s->chans[ci];
	snprintf(d->name, sizeof(d->name), "%s", c.name);
	c.name = d->name;
	d->c = c;
	d->defined = true;
	return (int)ci;
}

void rtr_host_session_id_base(struct rtr_host *h, uint64_t base)
{
	if (base > h->next_session_id)
		h->next_session_id = base;
}

int rtr_host_session_create(struct rtr_host *h, const struct rtr_host_session_cfg *cfg,
			    uint64_t *id, char *err, size_t errlen)
{
	struct rtr__session *s;

	if (!name_ok(cfg->name))
		return seterr(err, errlen, -EINVAL,
			      "session name %s: expected 1 to 63 of [A-Za-z0-9_.-], not starting "
			      "with '.' or '-'",
			      cfg->name ? cfg->name : "(none)");
	if (rtr_host_session_lookup(h, cfg->name))
		return seterr(err, errlen, -EEXIST, "session %s already exists", cfg->name);
	if (cfg->out_dirfd < 0)
		return seterr(err, errlen, -EINVAL, "no output directory");
	if (cfg->id && rtr__session_find(h, cfg->id))
		return seterr(err, errlen, -EEXIST, "session id %llu already in use",
			      (unsigned long long)cfg->id);
	s = session_new(h, cfg->name);
	if (!s)
		return seterr(err, errlen, -ENOMEM, "out of memory");
	if (cfg->id) {
		h->next_session_id--; /* (session_new took one) */
		s->id = cfg->id;
		if (cfg->id > h->next_session_id)
			h->next_session_id = cfg->id;
	}
	s->out_dirfd = fcntl(cfg->out_dirfd, F_DUPFD_CLOEXEC, 3);
	s->out_path = strdup(cfg->out_path ? cfg->out_path : "?");
	if (cfg->nuids) {
		s->uids = malloc(cfg->nuids * sizeof(*s->uids));
		if (s->uids) {
			memcpy(s->uids, cfg->uids, cfg->nuids * sizeof(*s->uids));
			s->nuids = cfg->nuids;
		}
	}
	if (s->out_dirfd < 0 || !s->out_path || (cfg->nuids && !s->uids)) {
		int e = s->out_dirfd < 0 ? errno : ENOMEM;

		session_free(s);
		return seterr(err, errlen, -e, "session %s: %s", cfg->name, strerror(e));
	}
	s->chunk_dirfd = s->out_dirfd;
	s->snapshot = cfg->snapshot;
	s->all_uids = cfg->all_uids;
	*id = s->id;
	return 0;
}

/* record's implicit session (host.c): named "record", channel0, rules from
 * the patterns, started. */
int rtr__record_session(struct rtr_host *h)
{
	struct rtr_host_channel_cfg cc = {.name = "channel0",
					  .subbuf_size = h->cfg.subbuf_size,
					  .num_subbuf = h->cfg.num_subbuf,
					  .overwrite = h->cfg.overwrite,
					  .ctx_mask = h->cfg.ctx_mask,
					  .counters = h->cfg.counters};
	struct rtr__session *s = session_new(h, "record");
	char err[200];
	int r;

	if (!s)
		return -ENOMEM;
	s->record = true;
	s->active = true;
	s->out_dirfd = s->chunk_dirfd = h->cfg.trace_dirfd;
	s->out_path = strdup(h->cfg.trace_dir ? h->cfg.trace_dir : ".");
	r = chan_define(s, &cc, err, sizeof(err));
	if (r < 0) {
		herr(h, "%s", err);
		return r;
	}
	for (size_t i = 0; i < (h->cfg.npatterns ? h->cfg.npatterns : 1); i++) {
		struct rtr__rule *ru = calloc(1, sizeof(*ru));

		if (!ru)
			return -ENOMEM;
		ru->pattern = strdup(h->cfg.npatterns ? h->cfg.patterns[i] : "*");
		if (!ru->pattern) {
			free(ru);
			return -ENOMEM;
		}
		/* record --loglevel / --loglevel-only */
		ru->loglevel_type = h->cfg.loglevel_sel == RTR_HOST_LL_UPTO   ? RTR_HOST_LOGLEVEL_RANGE
				    : h->cfg.loglevel_sel == RTR_HOST_LL_ONLY ? RTR_HOST_LOGLEVEL_SINGLE
									      : RTR_HOST_LOGLEVEL_ALL;
		ru->loglevel = h->cfg.loglevel;
		ru->next = s->rules;
		s->rules = ru;
	}
	return 0;
}

/* Adds channel ci to every process attached to s. */
static void spread_channel(struct rtr__session *s, unsigned ci)
{
	for (struct rtr__ptrace *t = s->traces; t; t = t->next_s) {
		const char *why = "";

		if (t->closed || t->finished || t->ch[ci] || t->p->user)
			continue;
		if (attach_channel(t, ci, &why) == 0)
			rtr__proc_sync(t->p);
	}
}

/* Attaches s to every live process it records (it just got a channel). */
static bool proc_armed(const struct rtr__proc *p, uint64_t sid)
{
	for (uint32_t i = 0; i < p->narmed; i++)
		if (p->armed[i] == sid)
			return true;
	return false;
}

static void spread_session(struct rtr__session *s)
{
	for (struct rtr__proc *p = s->h->procs; p; p = p->next) {
		const char *why = "";

		if (p->state != P_ACTIVE || p->cmd < 0 || !rtr__session_accepts(s, p) ||
		    rtr__ptrace_of(p, s) || proc_armed(p, s->id))
			continue;
		if (attach(p, s, &why) == 0)
			rtr__proc_sync(p);
	}
}

int rtr_host_channel_enable(struct rtr_host *h, uint64_t sid, const struct rtr_host_channel_cfg *c,
			    char *err, size_t errlen)
{
	struct rtr__session *s = rtr__session_find(h, sid);
	int ci;

	if (!s)
		return seterr(err, errlen, -ENOENT, "no such session");
	ci = chan_define(s, c, err, errlen);
	if (ci < 0)
		return ci;
	if (s->active) {
		spread_channel(s, (unsigned)ci);
		spread_session(s);
	}
	h->armed_gen++;
	return 0;
}

static unsigned channel_index(struct rtr__session *s, const char *name)
{
	for (unsigned ci = 0; ci < s->nchans; ci++)
		if (!strcmp(s->chans[ci].name, name))
			return ci;
	return UINT32_MAX;
}

/* Every process of s re-examines channel ci's events (rules changed). */
static void rules_changed(struct rtr__session *s, unsigned ci, bool disables)
{
	s->rules_gen++;
	for (struct rtr__ptrace *t = s->traces; t; t = t->next_s) {
		struct rtr__pchan *c = t->ch[ci];

		if (!c || t->closed || t->finished || c->released)
			continue;
		channel_update(c, 0, t->p->nr_evs, disables);
	}
}

int rtr_host_rule_add(struct rtr_host *h, uint64_t sid, const struct rtr_host_rule *in,
		      bool *created_default, char *err, size_t errlen)
{
	struct rtr__session *s = rtr__session_find(h, sid);
	const char *chan = in->channel ? in->channel : "channel0";
	struct rtr__rule *r;
	unsigned ci;
	int e;

	if (created_default)
		*created_default = false;
	if (!s)
		return seterr(err, errlen, -ENOENT, "no such session");
	if (!in->pattern || !*in->pattern || strlen(in->pattern) >= 2 * RTR_PROTO_MAX_NAME)
		return seterr(err, errlen, -EINVAL, "expected an event name pattern");
	if (in->loglevel_type < RTR_HOST_LOGLEVEL_ALL ||
	    in->loglevel_type > RTR_HOST_LOGLEVEL_SINGLE ||
	    (in->loglevel_type != RTR_HOST_LOGLEVEL_ALL &&
	     (in->loglevel < 0 || in->loglevel > 14)))
		return seterr(err, errlen, -EINVAL, "log level: expected 0 (EMERG) to 14 (DEBUG)");
	ci = channel_index(s, chan);
	if (ci == UINT32_MAX) {
		struct rtr_host_channel_cfg cc = {.name = chan};

		if (in->channel)
			return seterr(err, errlen, -ENOENT, "no channel %s in session %s", chan,
				      s->name);
		e = rtr_host_channel_enable(h, sid, &cc, err, errlen);
		if (e)
			return e;
		ci = channel_index(s, chan);
		if (created_default)
			*created_default = true;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return seterr(err, errlen, -ENOMEM, "out of memory");
	r->ci = ci;
	r->pattern = strdup(in->pattern);
	r->loglevel_type = in->loglevel_type;
	r->loglevel = in->loglevel;
	if (in->nexcludes) {
		r->excludes = calloc(in->nexcludes, sizeof(*r->excludes));
		for (size_t i = 0; r->excludes && i < in->nexcludes; i++) {
			r->excludes[i] = strdup(in->excludes[i]);
			if (r->excludes[i])
				r->nexcludes++;
		}
	}
	if (!r->pattern || (in->nexcludes && r->nexcludes != in->nexcludes)) {
		rule_free(r);
		return seterr(err, errlen, -ENOMEM, "out of memory");
	}
	if (in->filter) {
		e = rtr_fexpr_parse(in->filter, &r->filter, err, errlen);
		if (e) {
			rule_free(r);
			return e;
		}
		r->filter_text = strdup(in->filter);
	}
	r->next = s->rules;
	s->rules = r;
	rules_changed(s, ci, false);
	h->armed_gen++;
	return 0;
}

int rtr_host_rule_remove(struct rtr_host *h, uint64_t sid, const char *channel,
			 const char *pattern, char *err, size_t errlen)
{
	struct rtr__session *s = rtr__session_find(h, sid);
	bool touched[RTR_HOST_MAX_CHANS] = {false};
	int n = 0;

	if (!s)
		return seterr(err, errlen, -ENOENT, "no such session");
	for (struct rtr__rule **pp = &s->rules; *pp;) {
		struct rtr__rule *r = *pp;

		if (strcmp(r->pattern, pattern) ||
		    (channel && strcmp(s->chans[r->ci].name, channel))) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		touched[r->ci] = true;
		rule_free(r);
		n++;
	}
	if (!n)
		return seterr(err, errlen, -ENOENT, "no rule %s%s%s in session %s", pattern,
			      channel ? " in channel " : "", channel ? channel : "", s->name);
	for (unsigned ci = 0; ci < s->nchans; ci++)
		if (touched[ci])
			rules_changed(s, ci, true);
	h->armed_gen++;
	return n;
}

int rtr_host_context_add(struct rtr_host *h, uint64_t sid, const char *channel, uint32_t mask,
			 char *err, size_t errlen)
{
	struct rtr__session *s = rtr__session_find(h, sid);
	bool any = false;

	if (!s)
		return seterr(err, errlen, -ENOENT, "no such session");
	if (!mask || (mask & ~RTR_HOST_CTX_ALL))
		return seterr(err, errlen, -EINVAL, "unknown context");
	if (!channel && !s->nchans) {
		struct rtr_host_channel_cfg cc = {.name = "channel0"};
		int e = chan_define(s, &cc, err, errlen);

		if (e < 0)
			return e;
	}
	for (unsigned ci = 0; ci < s->nchans; ci++)
		if (!channel || !strcmp(s->chans[ci].name, channel)) {
			s->chans[ci].c.ctx_mask |= mask;
			any = true;
		}
	if (!any)
		return seterr(err, errlen, -ENOENT, "no channel %s in session %s", channel,
			      s->name);
	h->armed_gen++;
	return 0;
}

/* ------------------------------------------------------------------------
 * Operations fanned out to the processes (start, stop, destroy)
 * ------------------------------------------------------------------------ */

static void op_result_init(struct rtr__session *s, struct rtr_host_op_result *res)
{
	memset(res, 0, sizeof(*res));
	res->elapsed_ns = s->op ? rtr__now_ns() - s->op->started_ns : 0;
	for (struct rtr__ptrace *t = s->traces; t; t = t->next_s) {
		if (!t->op_seq && !t->op_failed)
			continue;
		res->procs++;
		if (!t->op_failed) {
			res->answered++;
		} else if (res->nlaggards < RTR_HOST_MAX_LAGGARDS) {
			res->laggards[res->nlaggards].pid = t->p->pid;
			memcpy(res->laggards[res->nlaggards].procname, t->p->procname, 17);
			res->nlaggards++;
		}
	}
}

/* Sends `type` for session s to every process that needs it; each gets a
 * deadline. */
static void op_send(struct rtr__session *s, unsigned type)
{
	struct rtr_host *h = s->h;

	for (struct rtr__ptrace *t = s->traces; t; t = t->next_s) {
		struct rtr__proc *p = t->p;

		t->op_seq = 0;
		t->op_wait = t->op_failed = false;
		if (p->cmd < 0 || t->closed || t->finished || !t->session_sent)
			continue;
		if (type == RTR_MSG_START && t->started)
			continue;
		if (type == RTR_MSG_STOP && !t->started)
			continue;
		if (rtr_proto_enc_ref(&h->out, type, ++p->seq, s->id) || rtr__proc_send(p, NULL, 0))
			continue; /* disconnected */
		t->op_seq = p->seq;
		t->op_wait = true;
		if (type == RTR_MSG_START)
			t->started = true;
		else if (type == RTR_MSG_STOP)
			t->started = false;
		else
			t->closed = true;
	}
}

void rtr__op_reply(struct rtr__proc *p, uint32_t seq, int status)
{
	for (struct rtr__ptrace *t = p->traces; t; t = t->next_p)
		if (t->op_wait && t->op_seq == seq) {
			t->op_wait = false;
			if (status)
				hwarn_c(p->h, RTR__LOG_PROC,
					"process %d (%s): session %s: %s", (int)p->pid,
					p->procname, t->s ? t->s->name : "?", strerror(-status));
		}
	rtr__ops_check(p->h);
}

void rtr__ops_forget_proc(struct rtr__proc *p)
{
	bool any = false;

	for (struct rtr__ptrace *t = p->traces; t; t = t->next_p)
		if (t->op_wait) {
			t->op_wait = false; /* gone: nothing to wait for */
			any = true;
		}
	if (any)
		rtr__ops_check(p->h);
}

/* Everything committed so far in s's buffers readable and on disk, and the
 * metadata of each trace up to date (a stopped session's trace can be read
 * at once). */
static void session_flush_all(struct rtr__session *s)
{
	struct rtr_host *h = s->h;
	struct rtr_clock_meta cm;
	bool have_clock = rtr__hclock_describe(h, true, &cm) == 0;

	for (struct rtr__ptrace *t = s->traces; t; t = t->next_s) {
		if (t->finished)
			continue;
		for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++) {
			struct rtr__pchan *c = t->ch[ci];

			if (!c || c->released || c->overwrite)
				continue;
			rtr__pchan_flush(c);
			rtr__drain_pchan(c, 1u << 16, true);
		}
		if (have_clock && t->dirfd >= 0 && rtr__output_packets(t))
			rtr__output_metadata(t, &cm, h->clock.log.pts, h->clock.log.n);
	}
}

static void fill_stats(struct rtr__session *s, struct rtr_host_session_stats *st);

static void op_complete(struct rtr__session *s)
{
	struct rtr__op *op = s->op;
	struct rtr_host_op_result res;

	/* the processes that did not answer in time */
	for (struct rtr__ptrace *t = s->traces; t; t = t->next_s)
		if (t->op_wait) {
			t->op_wait = false;
			t->op_failed = true;
		}
	op_result_init(s, &res);
	s->op = NULL;
	switch (op->kind) {
	case OP_START:
		break;
	case OP_STOP:
		if (!s->record) /* record finishes everything next */
			session_flush_all(s);
		fill_stats(s, &res.stats);
		break;
	case OP_DESTROY: {
		/* Per-user buffers: once every program that maps them has
		 * exited or answered CLOSE_SESSION (its mappings are then
		 * anonymous memory: a late writer's commit never reaches
		 * them), no writer is left: salvage them, which also
		 * completes a dead writer's sub-buffer still waiting for its
		 * second (daemon.md §9.5). */
		bool writers_gone = true;

		for (struct rtr__ptrace *t = s->traces; t; t = t->next_s)
			if (!t->p->user && !t->p->exited && (!t->op_seq || t->op_failed))
				writers_gone = false;
		/* every trace is finished (flushed: late writers may still
		 * write into the old pages, never into what we read) */
		for (struct rtr__ptrace *t = s->traces; t; t = t->next_s)
			rtr__ptrace_finish(t, t->p->exited || (t->p->user && writers_gone));
		fill_stats(s, &res.stats);
		session_free(s);
		break;
	}
	}
	if (op->fn)
		op->fn(op->arg, &res);
	free(op);
}

void rtr__ops_check(struct rtr_host *h)
{
	uint64_t now = rtr__now_ns();
	bool again = true;

	if (h->in_op_check)
		return;
	h->in_op_check = true;
	while (again) {
		again = false;
		for (struct rtr__session *s = h->sessions; s; s = s->next) {
			bool waiting = false;

			if (!s->op)
				continue;
			for (struct rtr__ptrace *t = s->traces; t; t = t->next_s)
				if (t->op_wait && t->p->cmd >= 0)
					waiting = true;
			if (waiting && now < s->op->deadline)
				continue;
			op_complete(s); /* may free s: restart the scan */
			again = true;
			break;
		}
	}
	h->in_op_check = false;
}

static int op_begin(struct rtr_host *h, uint64_t sid, enum rtr__op_kind kind, rtr_host_done_fn fn,
		    void *arg, char *err, size_t errlen)
{
	struct rtr__session *s = rtr__session_find(h, sid);
	struct rtr__op *op;
	unsigned type;

	if (!s)
		return seterr(err, errlen, -ENOENT, "no such session");
	if (s->op)
		return seterr(err, errlen, -EBUSY,
			      "another command on session %s is in progress", s->name);
	if (kind == OP_START && s->active)
		return seterr(err, errlen, -EALREADY, "session %s is already started", s->name);
	if (kind == OP_STOP && !s->active)
		return seterr(err, errlen, -EALREADY, "session %s is not started", s->name);
	if (kind == OP_START && !s->rules)
		return seterr(err, errlen, -ENOENT,
			      "session %s has no event enabled (enable-event first)", s->name);
	op = calloc(1, sizeof(*op));
	if (!op)
		return seterr(err, errlen, -ENOMEM, "out of memory");
	op->kind = kind;
	op->fn = fn;
	op->arg = arg;
	op->started_ns = rtr__now_ns();
	op->deadline = op->started_ns + (h->op_timeout_ns ? h->op_timeout_ns : DEFAULT_OP_TIMEOUT);
	s->op = op;
	h->armed_gen++;
	switch (kind) {
	case OP_START:
		s->active = true;
		/* every process it records gets its channels (with the
		 * contexts and rules known now) and its enables, then START:
		 * all on each command socket in that order, so the answer to
		 * START says the process records */
		spread_session(s);
		type = RTR_MSG_START;
		break;
	case OP_STOP:
		s->active = false;
		type = RTR_MSG_STOP;
		break;
	default:
		s->active = false;
		type = RTR_MSG_CLOSE_SESSION;
		break;
	}
	op_send(s, type);
	rtr__ops_check(h);
	return 0;
}

int rtr_host_session_start(struct rtr_host *h, uint64_t sid, rtr_host_done_fn fn, void *arg,
			   char *err, size_t errlen)
{
	return op_begin(h, sid, OP_START, fn, arg, err, errlen);
}

int rtr_host_session_stop(struct rtr_host *h, uint64_t sid, rtr_host_done_fn fn, void *arg,
			  char *err, size_t errlen)
{
	return op_begin(h, sid, OP_STOP, fn, arg, err, errlen);
}

int rtr_host_session_destroy(struct rtr_host *h, uint64_t sid, rtr_host_done_fn fn, void *arg,
			     char *err, size_t errlen)
{
	return op_begin(h, sid, OP_DESTROY, fn, arg, err, errlen);
}

/* Starts record's stop and waits for it (at most the op deadline). */
void rtr__record_stop(struct rtr_host *h)
{
	struct rtr__session *s = rtr__session_find(h, RTR_HOST_RECORD_SESSION_ID);

	if (!s || !s->active || s->op)
		return;
	if (op_begin(h, s->id, OP_STOP, NULL, NULL, NULL, 0))
		return;
	while (rtr__session_find(h, RTR_HOST_RECORD_SESSION_ID) && s->op) {
		rtr__run_events(h, 50, true);
		rtr__ops_check(h);
	}
}

/* ------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------ */

static void fill_stats(struct rtr__session *s, struct rtr_host_session_stats *st)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s", s->name);
	st->id = s->id;
	st->active = s->active;
	st->snapshot = s->snapshot;
	st->nchans = s->nchans;
	for (unsigned ci = 0; ci < s->nchans; ci++) {
		struct rtr_host_chan_stats *cs = &st->chans[ci];

		snprintf(cs->name, sizeof(cs->name), "%.63s", s->chans[ci].name);
		cs->subbuf_size = s->chans[ci].c.subbuf_size;
		cs->num_subbuf = s->chans[ci].c.num_subbuf;
		cs->overwrite = s->chans[ci].c.overwrite;
		cs->t = s->chans[ci].done;
	}
	for (struct rtr__ptrace *t = s->traces; t; t = t->next_s) {
		if (t->finished)
			continue;
		st->procs += !t->p->user;
		for (unsigned ci = 0; ci < s->nchans; ci++) {
			struct rtr_host_totals live;

			if (!t->ch[ci])
				continue;
			rtr__totals_live(t->ch[ci], &live);
			rtr__totals_add(&st->chans[ci].t, &live);
		}
	}
}

int rtr_host_session_stats(struct rtr_host *h, uint64_t sid, struct rtr_host_session_stats *st)
{
	struct rtr__session *s = rtr__session_find(h, sid);

	if (!s)
		return -ENOENT;
	fill_stats(s, st);
	return 0;
}

int rtr_host_session_snapshot(struct rtr_host *h, uint64_t sid, uint64_t max_size,
			      struct rtr_host_op_result *res)
{
	struct rtr__session *s = rtr__session_find(h, sid);

	memset(res, 0, sizeof(*res));
	if (!s) {
		res->status = seterr(res->err, sizeof(res->err), -ENOENT, "no such session");
		return res->status;
	}
	res->status = rtr__snapshot(s, max_size, res);
	return res->status;
}

int rtr_host_session_rotate(struct rtr_host *h, uint64_t sid, struct rtr_host_op_result *res)
{
	struct rtr__session *s = rtr__session_find(h, sid);
	char name[64];
	int fd;

	memset(res, 0, sizeof(*res));
	if (!s) {
		res->status = seterr(res->err, sizeof(res->err), -ENOENT, "no such session");
		return res->status;
	}
	if (s->snapshot) {
		res->status = seterr(res->err, sizeof(res->err), -EINVAL,
				     "session %s is a snapshot session: use snapshot record",
				     s->name);
		return res->status;
	}
	/* The traces so far are complete: their files closed, their final
	 * metadata written; the same processes go on in a new chunk. */
	snprintf(name, sizeof(name), "chunk-%u", s->chunk + 1);
	fd = rtr__mkdir_open(h, s->out_dirfd, name);
	if (fd < 0) {
		res->status = seterr(res->err, sizeof(res->err), fd, "cannot create %s/%s: %s",
				     s->out_path, name, strerror(-fd));
		return res->status;
	}
	session_flush_all(s);
	fill_stats(s, &res->stats);
	for (struct rtr__ptrace *t = s->traces; t; t = t->next_s) {
		if (t->finished || t->dirfd < 0)
			continue;
		for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++) {
			struct rtr__pchan *c = t->ch[ci];

			if (!c || c->released)
				continue;
			rtr__settle_all(c);
			for (uint32_t cpu = 0; cpu < c->nr_bufs; cpu++)
				if (c->streams[cpu]) {
					rtr__totals_add_stream(c, cpu); /* its packets so far */
					rtr_ctf_stream_destroy(c->streams[cpu], true);
					c->streams[cpu] = NULL;
				}
		}
		if (!rtr__output_remove_if_empty(t))
			rtr__output_final(t);
		rtr__output_close(t);
		if (rtr__output_open_in(t, fd) == 0)
			for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++) {
				struct rtr__pchan *c = t->ch[ci];

				if (!c || c->released)
					continue;
				for (uint32_t cpu = 0; cpu < c->nr_bufs; cpu++)
					rtr__output_stream(c, cpu, c->bufs[cpu], t->dirfd);
				t->meta_gen++;
			}
	}
	if (s->chunk_dirfd >= 0 && s->chunk_dirfd != s->out_dirfd)
		close(s->chunk_dirfd);
	s->chunk_dirfd = fd;
	s->chunk++;
	snprintf(s->chunk_name, sizeof(s->chunk_name), "%s", name);
	snprintf(res->snap_dir, sizeof(res->snap_dir), "%s", name);
	return 0;
}

const char *rtr_host_session_output(const struct rtr_host *h, uint64_t sid)
{
	for (const struct rtr__session *s = h->sessions; s; s = s->next)
		if (s->id == sid)
			return s->out_path;
	return NULL;
}

int rtr_host_session_describe(struct rtr_host *h, uint64_t sid,
			      void (*line)(void *arg, const char *text), void *arg)
{
	struct rtr__session *s = rtr__session_find(h, sid);
	struct rtr_host_session_stats st;
	char b[1024];
	unsigned n = 0;
	int k;

	if (!s)
		return -ENOENT;
	fill_stats(s, &st);
	snprintf(b, sizeof(b), "  output: %s%s%s", s->out_path, s->chunk ? "/" : "",
		 s->chunk ? s->chunk_name : "");
	line(arg, b);
	for (unsigned ci = 0; ci < s->nchans; ci++) {
		const struct rtr_host_channel_cfg *c = &s->chans[ci].c;

		k = snprintf(b, sizeof(b),
			     "  channel %s: %u x %llu KiB per CPU, %s, per-%s buffers", c->name,
			     c->num_subbuf, (unsigned long long)(c->subbuf_size >> 10),
			     c->overwrite ? "overwrite" : "discard", c->per_uid ? "user" : "process");
		if (c->ctx_mask && k > 0 && (size_t)k < sizeof(b))
			k += snprintf(b + k, sizeof(b) - (size_t)k, ", contexts%s%s%s%s%s",
				      (c->ctx_mask & RTR_HOST_CTX_VPID) ? " vpid" : "",
				      (c->ctx_mask & RTR_HOST_CTX_VTID) ? " vtid" : "",
				      (c->ctx_mask & RTR_HOST_CTX_PROCNAME) ? " procname" : "",
				      (c->ctx_mask & RTR_HOST_CTX_PTHREAD_ID) ? " pthread_id" : "",
				      (c->ctx_mask & RTR_HOST_CTX_IP) ? " ip" : "");
		if (k > 0 && (size_t)k < sizeof(b))
			snprintf(b + k, sizeof(b) - (size_t)k, ": %llu events recorded, %llu lost",
				 (unsigned long long)st.chans[ci].t.events,
				 (unsigned long long)st.chans[ci].t.lost);
		line(arg, b);
	}
	for (struct rtr__rule *r = s->rules; r; r = r->next) {
		k = snprintf(b, sizeof(b), "  event rule '%s' in %s", r->pattern,
			     s->chans[r->ci].name);
		for (size_t i = 0; i < r->nexcludes && k > 0 && (size_t)k < sizeof(b); i++)
			k += snprintf(b + k, sizeof(b) - (size_t)k, "%s%s", i ? ", " : ", excluding ",
				      r->excludes[i]);
		if (r->loglevel_type != RTR_HOST_LOGLEVEL_ALL && k > 0 && (size_t)k < sizeof(b))
			k += snprintf(b + k, sizeof(b) - (size_t)k, ", log level %s%s",
				      r->loglevel_type == RTR_HOST_LOGLEVEL_SINGLE ? "" : "<= ",
				      rtr_loglevel_name(r->loglevel));
		if (r->filter_text && k > 0 && (size_t)k < sizeof(b))
			snprintf(b + k, sizeof(b) - (size_t)k, ", filter '%s'", r->filter_text);
		line(arg, b);
	}
	k = snprintf(b, sizeof(b), "  processes:");
	for (struct rtr__ptrace *t = s->traces; t; t = t->next_s) {
		if (t->finished || t->p->user)
			continue;
		if (n++ < 32 && k > 0 && (size_t)k < sizeof(b))
			k += snprintf(b + k, sizeof(b) - (size_t)k, " %d (%s)", (int)t->p->pid,
				      t->p->procname);
	}
	if (n > 32 && k > 0 && (size_t)k < sizeof(b))
		snprintf(b + k, sizeof(b) - (size_t)k, " and %u more", n - 32);
	else if (!n && k > 0 && (size_t)k < sizeof(b))
		snprintf(b + k, sizeof(b) - (size_t)k, " none");
	line(arg, b);
	return 0;
}

/* ------------------------------------------------------------------------
 * Sessions programs arm themselves (docs/design/daemon.md §1.3)
 * ------------------------------------------------------------------------ */

uint64_t rtr_host_armed_gen(const struct rtr_host *h)
{
	return h->armed_gen;
}

void rtr_host_armed(const struct rtr_host *h, struct rtr_armed *a)
{
	memset(a, 0, sizeof(*a));
	a->gen = h->armed_gen;
	a->daemon_uid = (uint32_t)geteuid();
	for (const struct rtr__session *s = h->sessions; s; s = s->next) {
		struct rtr_armed_session *as;

		if (!s->active || s->record || !s->nchans || a->nsessions >= RTR_ARMED_SESSIONS)
			continue;
		as = &a->s[a->nsessions++];
		as->id = s->id;
		as->name = s->name;
		as->clock = (uint32_t)h->clock.source;
		as->all_uids = s->all_uids;
		for (size_t i = 0; i < s->nuids && i < RTR_ARMED_UIDS; i++)
			as->uids[as->nuids++] = (uint32_t)s->uids[i];
		for (unsigned ci = 0; ci < s->nchans && ci < RTR_ARMED_CHANS; ci++) {
			struct rtr_armed_chan *c = &as->chans[as->nchans++];

			c->name = s->chans[ci].name;
			c->index = ci;
			c->subbuf_size = s->chans[ci].c.subbuf_size;
			c->num_subbuf = s->chans[ci].c.num_subbuf;
			c->overwrite = s->chans[ci].c.overwrite;
			c->ctx_mask = s->chans[ci].c.ctx_mask;
			/* per-user buffers are the daemon's: a program waits
			 * for them instead of arming (daemon.md §9.7) */
			c->per_uid = s->chans[ci].c.per_uid;
		}
		for (const struct rtr__rule *r = s->rules; r && as->nrules < RTR_ARMED_RULES;
		     r = r->next) {
			struct rtr_armed_rule *ar;

			if (r->ci >= as->nchans)
				continue;
			ar = &as->rules[as->nrules++];
			ar->chan = r->ci;
			ar->pattern = r->pattern;
			for (size_t i = 0; i < r->nexcludes && i < RTR_ARMED_EXCLUDES; i++)
				ar->excludes[ar->nexcludes++] = r->excludes[i];
			ar->lltype = (uint32_t)r->loglevel_type;
			ar->ll = (uint32_t)(r->loglevel < 0 ? 0 : r->loglevel);
			ar->filter = r->filter_text;
		}
	}
}

static struct rtr__pchan *pchan_by_handle(struct rtr__proc *p, uint32_t handle)
{
	for (struct rtr__ptrace *t = p->traces; t; t = t->next_p)
		for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++)
			if (t->ch[ci] && t->ch[ci]->handle == handle)
				return t->ch[ci];
	return NULL;
}

static bool is_eventfd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = 0;
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* The process's offer of channel m (of a session it armed). Returns 0 or
 * a negative errno with why. */
static int adopt_channel(struct rtr__proc *p, const struct rtr_proto_channel *m, int wake_fd,
			 const char **why)
{
	struct rtr_host *h = p->h;
	struct rtr__session *s = rtr__session_find(h, m->session_id);
	const struct rtr_ring_config *cfg = rtr_ctf_host_config(m->client_id);
	struct rtr__ptrace *t;
	struct rtr__pchan *c;
	bool armed = false;
	unsigned ci = UINT32_MAX;

	for (uint32_t i = 0; i < p->narmed; i++)
		if (p->armed[i] == m->session_id)
			armed = true;
	if (!armed || !s || s->record || !rtr__session_accepts(s, p)) {
		*why = "no such session for this process";
		return -ENOENT;
	}
	for (unsigned k = 0; k < s->nchans; k++)
		if (!strcmp(s->chans[k].name, m->name))
			ci = k;
	if (ci == UINT32_MAX || !cfg) {
		*why = "no such channel, or unknown ring client";
		return -ENOENT;
	}
	/* The buffers must be exactly what the session's channel says: the
	 * process made them from an armed file (maybe stale, maybe a lie). */
	if (m->subbuf_size != s->chans[ci].c.subbuf_size ||
	    m->num_subbuf != s->chans[ci].c.num_subbuf ||
	    (cfg->mode == RTR_RING_MODE_OVERWRITE) != s->chans[ci].c.overwrite ||
	    cfg->alloc != RTR_RING_ALLOC_PER_CPU ||
	    (cfg->sync == RTR_RING_SYNC_RSEQ && !(p->caps & RTR_PROTO_CAP_RSEQ)) ||
	    m->ctx_mask != s->chans[ci].c.ctx_mask || s->chans[ci].c.counters ||
	    s->chans[ci].c.per_uid ||
	    (m->flags & RTR_PROTO_CHANNEL_COUNTERS_MASK) || m->nr_bufs != h->host_cpus ||
	    m->chan_handle < RTR_PROTO_ARMED_HANDLE || pchan_by_handle(p, m->chan_handle)) {
		*why = "channel does not match the session's";
		return -EINVAL;
	}
	if (wake_fd >= 0 && !is_eventfd(wake_fd)) {
		*why = "wakeup descriptor is not an eventfd";
		return -EINVAL;
	}
	t = rtr__ptrace_of(p, s);
	if (!t) {
		t = rtr__ptrace_new(p, s);
		if (!t) {
			*why = "out of memory";
			return -ENOMEM;
		}
		t->session_sent = true;
		t->started = true; /* it started itself */
		if (!s->snapshot && rtr__output_open(t)) {
			*why = "cannot create the trace directory";
			t->finished = true;
			rtr__ptrace_free(t);
			return -EIO;
		}
	}
	if (t->ch[ci]) {
		*why = "channel armed twice";
		return -EEXIST;
	}
	c = calloc(1, sizeof(*c));
	if (!c || ids_grow(c, p->nr_evs + 1)) {
		free(c);
		*why = "out of memory";
		return -ENOMEM;
	}
	c->t = t;
	c->ci = ci;
	c->handle = m->chan_handle;
	c->client = m->client_id;
	c->cfg = cfg;
	c->overwrite = s->chans[ci].c.overwrite;
	c->subbuf_size = m->subbuf_size;
	c->num_subbuf = m->num_subbuf;
	c->ctx_mask = m->ctx_mask;
	c->flush_age_ns = s->chans[ci].c.switch_timer_us ? s->chans[ci].c.switch_timer_us * 1000u
							 : 1000000000ull;
	c->nr_bufs = m->nr_bufs;
	c->adopted = true;
	c->wake_fd = -1;
	if (rtr__pchan_alloc(c, why)) {
		rtr__pchan_free(c);
		return -ENOMEM;
	}
	if (wake_fd >= 0) {
		c->wake_fd = wake_fd;
		rtr__watch_add(h, &c->w_wake, RTR_WATCH_WAKE, c, c->wake_fd);
	}
	c->chan_pending = 1; /* until every buffer came */
	t->ch[ci] = c;
	t->meta_gen++;
	hinfo(h, "process %d (%s) armed channel %s of session %s itself: %u buffers, client %u",
	      (int)p->pid, p->procname, s->chans[ci].name, s->name, c->nr_bufs, c->client);
	return 0;
}

/* Buffers of a channel being adopted. */
static int adopt_buffers(struct rtr__proc *p, const struct rtr_proto_channel_buffers *m,
			 int *fds, const char **why)
{
	struct rtr__pchan *c = pchan_by_handle(p, m->chan_handle);
	int r = 0;

	if (!c || !c->adopted || c->chan_ok || c->chan_failed || m->first != c->adopt_mapped ||
	    m->count > c->nr_bufs - m->first) {
		*why = "buffers out of sequence";
		return -EPROTO;
	}
	for (uint32_t i = 0; i < m->count && !r; i++) {
		uint32_t cpu = m->first + i;
		int seals = fcntl(fds[i], F_GET_SEALS);
		struct rtr_ring_buf *b;

		/* sealed: the process cannot shrink it under our reader */
		if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
			*why = "buffer is not a memfd sealed against shrinking";
			r = -EPERM;
			break;
		}
		r = rtr_ring_buf_map(c->cfg, fds[i], &b);
		if (r) {
			*why = "buffer refused (wrong client, ABI or geometry)";
			break;
		}
		fds[i] = -1; /* the buffer owns it */
		if (b->cpu != cpu || b->sb_size != c->subbuf_size || b->num_subbuf != c->num_subbuf) {
			rtr_ring_buf_destroy(b);
			*why = "buffer does not have the channel's geometry or index";
			r = -EPROTO;
			break;
		}
		c->bufs[cpu] = b;
		c->adopt_mapped++;
		if (c->t->dirfd >= 0) {
			r = rtr__output_stream(c, cpu, b, c->t->dirfd);
			if (r)
				*why = "cannot create a stream";
		}
	}
	if (r)
		return r;
	if (c->adopt_mapped == c->nr_bufs) {
		struct rtr__session *s = c->t->s;

		c->chan_pending = 0;
		c->chan_ok = true;
		if (s && !s->active && c->t->started && p->cmd >= 0) {
			/* stopped meanwhile: the process must stop too */
			if (rtr_proto_enc_ref(&p->h->out, RTR_MSG_STOP, ++p->seq, s->id) == 0 &&
			    rtr_proto_send(p->cmd, &p->h->out, NULL, 0, MSG_DONTWAIT) == 0)
				c->t->started = false;
		}
		rtr__send_pending_enables(c);
	}
	return 0;
}

void rtr__adopt_message(struct rtr__proc *p, const struct rtr_proto_msg *m, int *fds,
			unsigned nfds)
{
	struct rtr_host *h = p->h;
	const char *why = "";
	uint32_t handle;
	int r;

	if (m->hdr.type == RTR_MSG_CHANNEL) {
		handle = m->u.channel.chan_handle;
		r = adopt_channel(p, &m->u.channel, nfds ? fds[0] : -1, &why);
		if (r == 0 && nfds)
			fds[0] = -1; /* the channel owns it */
	} else {
		handle = m->u.buffers.chan_handle;
		r = adopt_buffers(p, &m->u.buffers, fds, &why);
	}
	rtr_proto_close_fds(fds, nfds);
	/* (the process may be gone: what it sent is adopted all the same) */
	if (rtr_proto_enc_reply(&h->out, m->hdr.seq, m->hdr.type, r, why) == 0 && p->cmd >= 0)
		rtr_proto_send(p->cmd, &h->out, NULL, 0, MSG_DONTWAIT);
	if (!r)
		return;
	hwarn_c(h, RTR__LOG_PROC, "process %d (%s): its armed channel refused: %s", (int)p->pid,
		p->procname, why);
	{
		struct rtr__pchan *c = pchan_by_handle(p, handle);

		if (c && c->adopted && !c->chan_ok) {
			c->chan_failed = true;
			rtr__pchan_finish(c, false);
		}
	}
	/* the process retires the channel (its events go nowhere) */
	if (p->cmd >= 0 && rtr_proto_enc_close_channel(&h->out, ++p->seq, handle) == 0)
		rtr_proto_send(p->cmd, &h->out, NULL, 0, MSG_DONTWAIT);
}

void rtr__preassigned(struct rtr__proc *p, uint32_t first, const struct rtr_proto_enables *pre)
{
	for (uint32_t i = 0; i < pre->count; i++) {
		struct rtr_proto_enable_entry e;
		struct rtr__pchan *c;
		uint32_t k;
		bool used = false;

		rtr_proto_enable_get(pre, i, &e);
		c = pchan_by_handle(p, e.chan_handle);
		for (k = first; k < p->nr_evs; k++)
			if (p->evs[k].reg_index == e.reg_index)
				break;
		if (!c || !c->adopted || k == p->nr_evs || e.event_id >= MAX_EVENT_ID ||
		    ids_grow(c, k + 1) || c->ids[k] >= 0 || p->evs[k].checked_bad)
			continue; /* not ours to accept: the process's records of it
				   * are undecodable, its own loss */
		for (uint32_t j = 0; j < p->nr_evs && j < c->cap_ids; j++)
			if (c->ids[j] == (int64_t)e.event_id)
				used = true;
		if (used)
			continue;
		c->ids[k] = e.event_id;
		c->pend[k] = PEND_SELF;
		if (e.event_id >= c->next_event_id)
			c->next_event_id = e.event_id + 1;
		c->t->meta_gen++;
	}
}

void rtr_host_describe_procs(struct rtr_host *h, void (*line)(void *arg, const char *text),
			     void *arg)
{
	for (struct rtr__proc *p = h->procs; p; p = p->next) {
		char b[200];
		unsigned n = 0;

		if (p->state != P_ACTIVE)
			continue;
		for (struct rtr__ptrace *t = p->traces; t; t = t->next_p)
			n += !t->finished;
		snprintf(b, sizeof(b), "  %d (%s): %u events registered, %u session%s", (int)p->pid,
			 p->procname, p->nr_evs, n, n == 1 ? "" : "s");
		line(arg, b);
	}
}
