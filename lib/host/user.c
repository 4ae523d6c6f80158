/* lib/host: per-user buffers (`enable-channel --buffers-uid`) — one set of
 * per-CPU buffers per (session, channel, user), created by the host and
 * mapped by every program of that user; the per-user event registry (one
 * id and one metadata for the stream); dead writers' stalled sub-buffers.
 * Design: docs/design/daemon.md §9.
 *
 * The buffers belong to an *owner*: an rtr__proc with `user` set, no
 * process behind it (pid 0, no sockets), one per (session, uid), in the
 * host's process list as a disconnected process, so that the timer drains
 * it, the checkpoint rewrites its metadata and the drain thread serves it
 * like any other; its only trace is `uid-UID/` in the session's output,
 * with one rtr__pchan per per-user channel; its events are the registry.
 * A program's channel of a per-user channel is a *view*: its handle and the
 * registry's ids for its own events, no buffers (nr_bufs 0). Views never
 * keep a pointer to the owner: they find it by (session, channel, uid), so
 * that owner and views can be freed in any order. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host-internal.h"

/* Event descriptions of one user in one session. */
#define USER_DESC_MAX (16u << 20)
/* A sub-buffer left incomplete this long, with a writer dead since it was
 * entered, is completed (daemon.md §9.5). */
#define STALL_NS (1000ull * 1000000u)

struct rtr__pchan *rtr__user_chan(struct rtr__session *s, unsigned ci, uid_t uid)
{
	if (!s || ci >= RTR_HOST_MAX_CHANS)
		return NULL;
	for (struct rtr__ptrace *t = s->traces; t; t = t->next_s)
		if (t->p->user && t->p->uid == uid && !t->finished)
			return t->ch[ci];
	return NULL;
}

static struct rtr__ptrace *owner_trace(struct rtr__session *s, uid_t uid, const char **why)
{
	struct rtr_host *h = s->h;
	struct rtr__proc *o;
	struct rtr__ptrace *t;

	for (t = s->traces; t; t = t->next_s)
		if (t->p->user && t->p->uid == uid)
			return t->finished ? NULL : t;
	o = calloc(1, sizeof(*o));
	if (!o) {
		*why = "out of memory";
		return NULL;
	}
	o->h = h;
	o->user = true;
	o->state = P_DISCONNECTED;
	o->pid = 0;
	o->uid = uid;
	o->cmd = o->notify = o->pidfd = -1;
	/* no RSEQ: writers of several processes share each buffer, and only
	 * the ATOMIC clients are safe for any mix of them (§9.2) */
	o->caps = RTR_PROTO_CAP_WAKEUP;
	o->minor = RTR_PROTO_VERSION_MINOR;
	o->registered_ns = rtr__now_ns();
	o->next_handle = 1;
	snprintf(o->procname, sizeof(o->procname), "uid-%u", (unsigned)uid);
	rtr_proto_arena_init(&o->arena, USER_DESC_MAX, 0);
	t = rtr__ptrace_new(o, s);
	if (!t) {
		free(o);
		*why = "out of memory";
		return NULL;
	}
	o->next = h->procs;
	h->procs = o;
	if (!s->snapshot && rtr__output_open(t)) {
		*why = "cannot create the per-user trace directory";
		t->finished = true; /* the owner goes at the next tick */
		rtr__ptrace_free(t);
		return NULL;
	}
	hinfo(h, "session %s: per-user buffers of user %u in %s", s->name, (unsigned)uid,
	      t->dirname[0] ? t->dirname : "(snapshots)");
	return t;
}

struct rtr__pchan *rtr__user_view_new(struct rtr__ptrace *t, unsigned ci, const char **why)
{
	struct rtr__session *s = t->s;
	struct rtr__ptrace *ot = owner_trace(s, t->p->uid, why);
	struct rtr__pchan *sc, *c;

	if (t->p->minor < 2) {
		*why = "its ringtrace runtime is too old for per-user buffers";
		return NULL;
	}
	if (!ot)
		return NULL;
	sc = ot->ch[ci];
	if (!sc) {
		sc = rtr__pchan_new(ot, ci, why);
		if (!sc)
			return NULL;
		sc->stall_pos = malloc(sc->nr_bufs * sizeof(*sc->stall_pos));
		sc->stall_cc = calloc(sc->nr_bufs, sizeof(*sc->stall_cc));
		sc->stall_since = calloc(sc->nr_bufs, sizeof(*sc->stall_since));
		sc->seen_off = calloc(sc->nr_bufs, sizeof(*sc->seen_off));
		sc->open_deaths =
		    calloc((size_t)sc->nr_bufs * sc->num_subbuf, sizeof(*sc->open_deaths));
		if (!sc->stall_pos || !sc->stall_cc || !sc->stall_since || !sc->seen_off ||
		    !sc->open_deaths) {
			*why = "out of memory";
			return NULL; /* (freed with the owner's trace) */
		}
		for (uint32_t i = 0; i < sc->nr_bufs; i++)
			sc->stall_pos[i] = UINT64_MAX;
	}
	if (sc->released || !sc->bufs) {
		*why = "the per-user buffers are gone";
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		*why = "out of memory";
		return NULL;
	}
	c->t = t;
	c->ci = ci;
	c->view = true;
	c->handle = t->p->next_handle++;
	c->client = sc->client;
	c->cfg = sc->cfg;
	c->overwrite = sc->overwrite;
	c->subbuf_size = sc->subbuf_size;
	c->num_subbuf = sc->num_subbuf;
	c->ctx_mask = sc->ctx_mask;
	c->flush_age_ns = sc->flush_age_ns;
	c->wake_fd = -1;
	c->nr_bufs = 0; /* the buffers are the owner's */
	c->ids = NULL;
	if (t->p->nr_evs) {
		c->ids = malloc(t->p->nr_evs * sizeof(*c->ids));
		c->pend = calloc(t->p->nr_evs, 1);
		if (!c->ids || !c->pend) {
			free(c->ids);
			free(c->pend);
			free(c);
			*why = "out of memory";
			return NULL;
		}
		for (uint32_t i = 0; i < t->p->nr_evs; i++)
			c->ids[i] = -1;
		c->cap_ids = t->p->nr_evs;
	}
	t->ch[ci] = c;
	return c;
}

/* The description of ev as on the wire, without its reg_index: two
 * programs' events have the same signature iff these bytes are equal. */
static int encode(const struct rtr_event_desc *ev, struct rtr_proto_out *o)
{
	uint32_t done = 0;
	int r = rtr_proto_enc_events(o, 0, &ev, 1, &done);

	if (r || done != 1)
		return r ? r : -E2BIG;
	/* header, count u32, then the event: block_len u32, reg_index u32 */
	if (o->len < RTR_PROTO_HDR_SIZE + 12)
		return -EPROTO;
	memset(o->data + RTR_PROTO_HDR_SIZE + 8, 0, 4);
	return 0;
}

int64_t rtr__user_event(struct rtr__proc *owner, struct rtr__proc *p, uint32_t k)
{
	struct rtr_host *h = p->h;
	struct rtr__ev *e = &p->evs[k];
	const struct rtr_event_desc *d = e->desc;
	struct rtr_proto_out *o = malloc(sizeof(*o));
	const uint8_t *sig;
	uint32_t sig_len;
	int64_t found = -1;

	if (!o || encode(d, o)) {
		free(o);
		return -1;
	}
	sig = o->data + RTR_PROTO_HDR_SIZE + 4;
	sig_len = (uint32_t)(o->len - RTR_PROTO_HDR_SIZE - 4);
	for (uint32_t j = 0; j < owner->nr_evs; j++) {
		const struct rtr__ev *u = &owner->evs[j];

		if (strcmp(u->desc->provider, d->provider) || strcmp(u->desc->name, d->name))
			continue;
		if (u->sig_len == sig_len && !memcmp(u->sig, sig, sig_len)) {
			found = j;
		} else if (!e->conflict_said) {
			e->conflict_said = true;
			hwarn_c(h, RTR__LOG_PROC,
				"process %d (%s): event %s:%s differs from the one user %u's "
				"programs registered first (fields, types or log level); not traced "
				"in the per-user buffers of session %s",
				(int)p->pid, p->procname, d->provider, d->name, (unsigned)p->uid,
				owner->traces && owner->traces->s ? owner->traces->s->name : "?");
		}
		free(o);
		return found;
	}
	/* New in the registry: a copy the owner keeps (the program's own
	 * description goes when it exits), decoded back from the bytes just
	 * encoded, so it is checked like anything a program sends. */
	{
		struct rtr_proto_msg m;
		const struct rtr_event_desc **evs = NULL;
		char err[160];
		struct rtr__ev *n;
		int r;

		memset(o->data + RTR_PROTO_HDR_SIZE + 8, 0, 4);
		r = rtr_proto_parse(o->data, o->len, 0, &m, err, sizeof(err));
		if (!r)
			r = rtr_proto_events_decode(&m.u.events, &owner->arena, &evs, err,
						    sizeof(err));
		if (r) {
			if (!e->conflict_said)
				hwarn_c(h, RTR__LOG_PROC,
					"user %u: event %s:%s not added to the per-user registry: %s",
					(unsigned)p->uid, d->provider, d->name,
					r == -ENOSPC ? "too many events" : strerror(-r));
			e->conflict_said = true;
			free(o);
			return -1;
		}
		if (owner->nr_evs == owner->cap_evs) {
			uint32_t cap = owner->cap_evs ? owner->cap_evs * 2 : 64;

			n = realloc(owner->evs, cap * sizeof(*n));
			if (!n) {
				free(o);
				return -1;
			}
			owner->evs = n;
			owner->cap_evs = cap;
		}
		n = &owner->evs[owner->nr_evs];
		memset(n, 0, sizeof(*n));
		n->sig = malloc(sig_len);
		if (!n->sig) {
			free(o);
			return -1;
		}
		memcpy(n->sig, sig, sig_len);
		n->sig_len = sig_len;
		n->desc = evs[0];
		n->reg_index = owner->nr_evs;
		found = owner->nr_evs++;
	}
	free(o);
	return found;
}

void rtr__user_view_gone(struct rtr__pchan *view, bool gone)
{
	struct rtr__pchan *sc;

	if (!gone || !view->view || !view->seq_hi || !view->t->s)
		return; /* never given the buffers, or still running */
	sc = rtr__user_chan(view->t->s, view->ci, view->t->p->uid);
	if (sc)
		sc->deaths++; /* it may have died between a reserve and its commit */
}

/*
 * A writer killed between reserve and commit leaves its sub-buffer
 * incomplete for good: in discard mode the reader waits for it and the
 * writers, once round, discard everything; in overwrite mode they refuse to
 * lap it. With per-process buffers salvage repairs that once the process
 * is gone; per-user buffers have other writers still running, so the
 * oldest incomplete sub-buffer that the writers have left is completed here
 * when (a) it has not moved for STALL_NS and (b) a program mapping these
 * buffers died since that sub-buffer was entered (a writer holding a slot
 * in it may be that one). It is cut at its committed prefix, as salvage
 * cuts; the bytes after are counted (torn bytes), the packet is flagged
 * salvaged. daemon.md §9.5 has the argument and the residual risk.
 */
void rtr__user_unstall(struct rtr__pchan *c, uint64_t now)
{
	struct rtr_host *h = c->t->p->h;
	uint64_t before = c->deaths_tick;

	if (c->released || !c->bufs || !c->stall_pos)
		return;
	/* sampled before the positions: a sub-buffer entered after this
	 * sample's positions can only hold slots of writers that die after it */
	c->deaths_tick = c->deaths;
	for (uint32_t cpu = 0; cpu < c->nr_bufs; cpu++) {
		struct rtr_ring_buf *b = c->bufs[cpu];
		struct rtr_ring_stats st;
		uint64_t pos, cc, dropped = 0, q;
		uint32_t n = 0;
		int r;

		if (!b || c->damaged[cpu])
			continue;
		rtr_ring_buf_stats(b, &st);
		/* sub-buffers entered since the last tick: deaths before them */
		for (q = (c->seen_off[cpu] & ~(b->sb_size - 1)) + b->sb_size;
		     (int64_t)(st.produced - q) > 0 && n < b->num_subbuf; q += b->sb_size, n++)
			c->open_deaths[(size_t)cpu * b->num_subbuf +
				       ((q >> b->sb_order) & (b->num_subbuf - 1))] = before;
		c->seen_off[cpu] = st.produced;
		r = rtr_ring_stalled(c->cfg, b, &pos, &cc);
		if (r == -EIO) {
			rtr__report_damage(c, cpu, rtr_ring_buf_error(b));
			continue;
		}
		if (r) {
			c->stall_pos[cpu] = UINT64_MAX;
			continue;
		}
		if (pos != c->stall_pos[cpu] || cc != c->stall_cc[cpu]) {
			c->stall_pos[cpu] = pos;
			c->stall_cc[cpu] = cc;
			c->stall_since[cpu] = now;
			continue;
		}
		if (now - c->stall_since[cpu] < STALL_NS ||
		    c->deaths <= c->open_deaths[(size_t)cpu * b->num_subbuf +
						((pos >> b->sb_order) & (b->num_subbuf - 1))])
			continue; /* a live writer is slow: wait for it */
		r = rtr_ring_unstall(c->cfg, b, pos, cc, &dropped);
		if (r == -EIO) {
			rtr__report_damage(c, cpu, rtr_ring_buf_error(b));
			continue;
		}
		if (r)
			continue;
		c->unstalled++;
		c->stall_pos[cpu] = UINT64_MAX;
		hwarn_c(h, RTR__LOG_PROC,
			"user %u: a program died while writing the per-user buffer of CPU %u "
			"(session %s, channel %s): its sub-buffer was closed after the last "
			"record committed before it (%llu bytes cut)",
			(unsigned)c->t->p->uid, cpu, c->t->s ? c->t->s->name : "?",
			c->t->s ? c->t->s->chans[c->ci].name : "?", (unsigned long long)dropped);
	}
}
