/* lib/host: connections and protocol — accepting traced processes,
 * HELLO, channel setup, replies to our commands, event registration and
 * enabling. Nothing a process sends is trusted; no call blocks on a
 * process. Design: docs/design/host.md §3, docs/design/protocol.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "host-internal.h"

#define HELLO_TIMEOUT_NS (2000ull * 1000000u)
#define MSGS_PER_EVENT	 64 /* messages handled per readiness event */
#define MAX_EVENT_ID	 (1u << 20)
#define MAX_PENDING	 256 /* connections that did not say HELLO yet */
/* Event descriptions (docs/design/host.md §3): each process may keep
 * DESC_FREE bytes of its own, more from a pool shared by all, at most
 * DESC_MAX; what a process holds is given back when it is finished. */
#define DESC_FREE (1ull << 20)
#define DESC_POOL (256ull << 20)
#define DESC_MAX  (64ull << 20)

static uint64_t desc_charged(const struct rtr__proc *p)
{
	return p->arena.bytes > DESC_FREE ? p->arena.bytes - DESC_FREE : 0;
}

void rtr__proc_forget_events(struct rtr__proc *p)
{
	p->h->desc_pool -= desc_charged(p);
	rtr_proto_arena_free(&p->arena);
	free(p->evs);
	p->evs = NULL;
	p->nr_evs = p->cap_evs = 0;
}

static int proc_send(struct rtr__proc *p, const int *fds, unsigned nfds)
{
	int r;

	if (p->cmd < 0)
		return -ENOTCONN;
	r = rtr_proto_send(p->cmd, &p->h->out, fds, nfds, MSG_DONTWAIT);
	if (r) {
		rtr__proc_disconnect(p, r == -EAGAIN ? "does not read its control socket"
						     : "control socket write failed");
	}
	return r;
}

static int send_reply(struct rtr__proc *p, int sock, uint32_t seq, unsigned type, int status,
		      const char *text)
{
	if (rtr_proto_enc_reply(&p->h->out, seq, type, status, text))
		return -EMSGSIZE;
	return rtr_proto_send(sock, &p->h->out, NULL, 0, MSG_DONTWAIT);
}

/* ------------------------------------------------------------------------
 * Draining and finishing a process's buffers
 * ------------------------------------------------------------------------ */

void rtr__proc_disconnect(struct rtr__proc *p, const char *why)
{
	struct rtr_host *h = p->h;

	if (why) {
		hwarn_c(h, RTR__LOG_PROC, "process %d (%s) disconnected: %s", (int)p->pid,
			p->procname, why);
		h->t.disconnected++;
	}
	rtr__watch_del_close(h, &p->cmd);
	rtr__watch_del_close(h, &p->notify);
	if (p->state == P_ACTIVE) {
		p->state = P_DISCONNECTED;
	} else if (p->state == P_HELLO) {
		p->state = P_DONE; /* nothing was created for it */
		h->nr_pending--;
	}
	if (p->exited)
		rtr__proc_finish(p, true);
}

/* ------------------------------------------------------------------------
 * Registration
 * ------------------------------------------------------------------------ */

static bool wanted(const struct rtr_host *h, const struct rtr_event_desc *ev)
{
	char full[2 * RTR_PROTO_MAX_NAME + 2];

	if (h->cfg.loglevel_sel != RTR_HOST_LL_ALL) {
		int l = ev->loglevel == RTR_LOGLEVEL_NONE ? RTR_LOGLEVEL_DEBUG_LINE : ev->loglevel;

		if (h->cfg.loglevel_sel == RTR_HOST_LL_ONLY ? l != h->cfg.loglevel
							     : l > h->cfg.loglevel)
			return false;
	}
	if (h->cfg.npatterns == 0)
		return true;
	snprintf(full, sizeof(full), "%s:%s", ev->provider, ev->name);
	for (size_t i = 0; i < h->cfg.npatterns; i++)
		if (fnmatch(h->cfg.patterns[i], full, 0) == 0)
			return true;
	return false;
}

static void send_pending_enables(struct rtr__proc *p)
{
	struct rtr_proto_enable_entry *e;
	uint32_t n = 0;

	if (!p->chan_ok || p->cmd < 0)
		return;
	e = calloc(RTR_PROTO_MAX_ENABLES_PER_MSG, sizeof(*e));
	if (!e)
		return;
	for (uint32_t i = 0; i <= p->nr_evs; i++) {
		if (i < p->nr_evs && p->evs[i].pending) {
			e[n++] = (struct rtr_proto_enable_entry){
			    p->evs[i].reg_index, RTR_HOST_CHAN_HANDLE, (uint32_t)p->evs[i].id};
			p->evs[i].pending = false;
		}
		if (n && (n == RTR_PROTO_MAX_ENABLES_PER_MSG || i == p->nr_evs)) {
			if (rtr_proto_enc_enable(&p->h->out, ++p->seq, e, n) == 0 &&
			    proc_send(p, NULL, 0))
				break;
			n = 0;
		}
	}
	free(e);
}

static void handle_register(struct rtr__proc *p, const struct rtr_proto_msg *m)
{
	struct rtr_host *h = p->h;
	const struct rtr_event_desc **evs;
	struct rtr_proto_enable_entry *en = NULL;
	char err[256];
	uint32_t n_en = 0;
	int r;

	{
		uint64_t before = desc_charged(p);
		uint64_t pool_left = h->desc_pool < DESC_POOL ? DESC_POOL - h->desc_pool : 0;
		uint64_t allow = DESC_FREE + before + pool_left;

		p->arena.max_bytes = (size_t)(allow < DESC_MAX ? allow : DESC_MAX);
		r = rtr_proto_events_decode(&m->u.events, &p->arena, &evs, err, sizeof(err));
		h->desc_pool += desc_charged(p) - before;
	}
	if (r == -ENOSPC) {
		if (!p->arena_full_reported)
			hwarn_c(h, RTR__LOG_PROC,
				"process %d (%s) registers too many events; later ones are not "
				"traced",
				(int)p->pid, p->procname);
		p->arena_full_reported = true;
		rtr_proto_enc_register_reply(&h->out, m->hdr.seq, -ENOSPC, NULL, 0);
		rtr_proto_send(p->notify, &h->out, NULL, 0, MSG_DONTWAIT);
		return;
	}
	if (r) {
		hwarn_c(h, RTR__LOG_PROC, "process %d (%s): bad event description: %s", (int)p->pid,
			p->procname, r == -EPROTO ? err : strerror(-r));
		rtr_proto_enc_register_reply(&h->out, m->hdr.seq, r, NULL, 0);
		rtr_proto_send(p->notify, &h->out, NULL, 0, MSG_DONTWAIT);
		if (r == -EPROTO)
			rtr__proc_disconnect(p, "malformed REGISTER_EVENTS");
		return;
	}
	if (p->nr_evs + m->u.events.count > p->cap_evs) {
		uint32_t cap = p->cap_evs ? p->cap_evs : 64;
		struct rtr__ev *n;

		while (cap < p->nr_evs + m->u.events.count)
			cap *= 2;
		n = realloc(p->evs, cap * sizeof(*n));
		if (!n)
			goto nomem;
		p->evs = n;
		p->cap_evs = cap;
	}
	en = calloc(m->u.events.count, sizeof(*en));
	if (!en)
		goto nomem;
	for (uint32_t i = 0; i < m->u.events.count; i++) {
		const struct rtr_event_desc *ev = evs[i];
		struct rtr__ev *e;

		for (uint32_t k = 0; k < p->nr_evs; k++)
			if (p->evs[k].reg_index == ev->state->reg_index) {
				free(en);
				rtr__proc_disconnect(p, "event registered twice");
				return;
			}
		e = &p->evs[p->nr_evs++];
		e->desc = ev;
		e->reg_index = ev->state->reg_index;
		e->id = -1;
		e->pending = false;
		if (rtr_ctf_event_check(ev, err, sizeof(err))) {
			hwarn_c(h, RTR__LOG_PROC, "process %d (%s): event %s:%s not traced: %s",
				(int)p->pid, p->procname, ev->provider, ev->name, err);
			continue;
		}
		if (!wanted(h, ev) || p->next_event_id >= MAX_EVENT_ID || !p->bufs)
			continue;
		e->id = p->next_event_id++;
		p->meta_gen++;
		if (p->chan_ok)
			en[n_en++] = (struct rtr_proto_enable_entry){
			    e->reg_index, RTR_HOST_CHAN_HANDLE, (uint32_t)e->id};
		else
			e->pending = true;
		hinfo(h, "process %d: %s:%s enabled as id %lld", (int)p->pid, ev->provider,
		      ev->name, (long long)e->id);
	}
	r = rtr_proto_enc_register_reply(&h->out, m->hdr.seq, 0, en, n_en);
	free(en);
	if (r == 0 && rtr_proto_send(p->notify, &h->out, NULL, 0, MSG_DONTWAIT))
		rtr__proc_disconnect(p, "does not read its notify socket");
	return;
nomem:
	rtr_proto_enc_register_reply(&h->out, m->hdr.seq, -ENOMEM, NULL, 0);
	rtr_proto_send(p->notify, &h->out, NULL, 0, MSG_DONTWAIT);
}

/* Replies to our commands, on the command socket. */
void rtr__handle_replies(struct rtr__proc *p)
{
	struct rtr_host *h = p->h;

	for (int k = 0; k < MSGS_PER_EVENT && p->cmd >= 0; k++) {
		int fds[RTR_PROTO_MAX_FDS];
		struct rtr_proto_msg m;
		unsigned nfds;
		char err[256];
		ssize_t n = rtr_proto_recv(p->cmd, h->in, sizeof(h->in), fds, &nfds, MSG_DONTWAIT);

		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			rtr__proc_disconnect(
			    p, n == 0 || n == -ECONNRESET ? NULL : "control socket error");
			return;
		}
		if (rtr_proto_parse(h->in, (size_t)n, nfds, &m, err, sizeof(err)) ||
		    m.hdr.type != RTR_MSG_REPLY) {
			rtr_proto_close_fds(fds, nfds);
			hwarn_c(h, RTR__LOG_PROC, "process %d (%s): bad message: %s", (int)p->pid,
				p->procname, err[0] ? err : "not a reply");
			rtr__proc_disconnect(p, "protocol error");
			return;
		}
		switch (m.u.reply.req_type) {
		case RTR_MSG_CHANNEL:
		case RTR_MSG_CHANNEL_BUFFERS:
			if (p->chan_pending)
				p->chan_pending--;
			if (m.u.reply.status && !p->chan_failed) {
				p->chan_failed = true;
				hwarn_c(h, RTR__LOG_PROC,
					"process %d (%s) could not map its buffers: %s (%s)",
					(int)p->pid, p->procname, strerror(-m.u.reply.status),
					m.u.reply.text);
			}
			if (!p->chan_pending && !p->chan_failed && !p->chan_ok) {
				p->chan_ok = true;
				send_pending_enables(p);
			}
			break;
		case RTR_MSG_STOP:
			p->stop_acked = true;
			break;
		default:
			if (m.u.reply.status)
				hwarn_c(h, RTR__LOG_PROC, "process %d (%s): %s failed: %s (%s)",
					(int)p->pid, p->procname,
					rtr_proto_type_name(m.u.reply.req_type),
					strerror(-m.u.reply.status), m.u.reply.text);
			break;
		}
	}
}

void rtr__handle_notify(struct rtr__proc *p)
{
	struct rtr_host *h = p->h;

	/* Replies first: a REGISTER_EVENTS that follows a channel's last
	 * acknowledgement must see the channel usable. */
	rtr__handle_replies(p);
	for (int k = 0; k < MSGS_PER_EVENT && p->notify >= 0; k++) {
		int fds[RTR_PROTO_MAX_FDS];
		struct rtr_proto_msg m;
		unsigned nfds;
		char err[256];
		ssize_t n =
		    rtr_proto_recv(p->notify, h->in, sizeof(h->in), fds, &nfds, MSG_DONTWAIT);

		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			rtr__proc_disconnect(p, n == 0 || n == -ECONNRESET ? NULL
									   : "notify socket error");
			return;
		}
		if (rtr_proto_parse(h->in, (size_t)n, nfds, &m, err, sizeof(err)) ||
		    m.hdr.type != RTR_MSG_REGISTER_EVENTS) {
			rtr_proto_close_fds(fds, nfds);
			hwarn_c(h, RTR__LOG_PROC, "process %d (%s): bad message: %s", (int)p->pid,
				p->procname, err[0] ? err : "not REGISTER_EVENTS");
			rtr__proc_disconnect(p, "protocol error");
			return;
		}
		handle_register(p, &m);
	}
}

static int configure(struct rtr__proc *p)
{
	struct rtr_host *h = p->h;
	struct rtr_proto_session s = {.session_id = RTR_HOST_SESSION_ID,
				      .clock_source = (uint32_t)h->clock.source,
				      .name = "record"};
	struct rtr_proto_channel c = {.session_id = RTR_HOST_SESSION_ID,
				      .chan_handle = RTR_HOST_CHAN_HANDLE,
				      .client_id = p->client,
				      .nr_bufs = p->nr_bufs,
				      .flags = (p->wake_fd >= 0 ? RTR_PROTO_CHANNEL_WAKEUP : 0) |
					       ((h->cfg.counters << RTR_PROTO_CHANNEL_COUNTERS_SHIFT) &
						RTR_PROTO_CHANNEL_COUNTERS_MASK),
				      .num_subbuf = h->cfg.num_subbuf,
				      .subbuf_size = h->cfg.subbuf_size,
				      .name = RTR_HOST_CHAN_NAME};
	int r;

	if ((r = rtr_proto_enc_session(&h->out, ++p->seq, &s)) || (r = proc_send(p, NULL, 0)))
		return r;
	if ((r = rtr_proto_enc_channel(&h->out, ++p->seq, &c)) ||
	    (r = proc_send(p, &p->wake_fd, p->wake_fd >= 0 ? 1 : 0)))
		return r;
	p->chan_pending = 1;
	for (uint32_t first = 0; first < p->nr_bufs; first += RTR_PROTO_MAX_BUFS_PER_MSG) {
		struct rtr_proto_channel_buffers b = {.chan_handle = RTR_HOST_CHAN_HANDLE,
						      .first = first};
		int fds[RTR_PROTO_MAX_BUFS_PER_MSG];

		b.count = p->nr_bufs - first;
		if (b.count > RTR_PROTO_MAX_BUFS_PER_MSG)
			b.count = RTR_PROTO_MAX_BUFS_PER_MSG;
		for (uint32_t i = 0; i < b.count; i++)
			fds[i] = p->bufs[first + i]->fd;
		if ((r = rtr_proto_enc_channel_buffers(&h->out, ++p->seq, &b)) ||
		    (r = proc_send(p, fds, b.count)))
			return r;
		p->chan_pending++;
	}
	if ((r = rtr_proto_enc_ref(&h->out, RTR_MSG_START, ++p->seq, RTR_HOST_SESSION_ID)) ||
	    (r = proc_send(p, NULL, 0)))
		return r;
	if ((r = rtr_proto_enc_ready(&h->out, ++p->seq, 0)) || (r = proc_send(p, NULL, 0)))
		return r;
	return 0;
}

static bool check_notify_socket(int fd)
{
	int type = 0, dom = 0;
	socklen_t l = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_SEQPACKET)
		return false;
	l = sizeof(dom);
	return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) == 0 && dom == AF_UNIX;
}

void rtr__handle_hello(struct rtr__proc *p)
{
	struct rtr_host *h = p->h;
	int fds[RTR_PROTO_MAX_FDS];
	struct rtr_proto_msg m;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	const char *why = "";
	bool sys = false; /* why is a system call's failure: say its errno */
	unsigned nfds;
	char err[256];
	ssize_t n;
	int r;

	n = rtr_proto_recv(p->cmd, h->in, sizeof(h->in), fds, &nfds, MSG_DONTWAIT);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		rtr__proc_disconnect(p, NULL);
		return;
	}
	r = rtr_proto_parse(h->in, (size_t)n, nfds, &m, err, sizeof(err));
	if (r || m.hdr.type != RTR_MSG_HELLO) {
		rtr_proto_close_fds(fds, nfds);
		h->t.bad_conns++;
		hwarn_c(h, RTR__LOG_CONN, "refused a connection: %s", r ? err : "expected HELLO");
		send_reply(p, p->cmd, m.hdr.seq, RTR_MSG_HELLO, r ? r : -EPROTO, "expected HELLO");
		rtr__proc_disconnect(p, NULL);
		return;
	}
	p->notify = fds[0];
	snprintf(p->procname, sizeof(p->procname), "%s", m.u.hello.procname);
	if (getsockopt(p->cmd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (uint32_t)cred.pid != m.u.hello.pid) {
		why = "pid does not match the socket's peer";
		r = -EPERM;
	} else if (cred.uid != geteuid() && geteuid() != 0) {
		why = "another user";
		r = -EPERM;
	} else if (!check_notify_socket(p->notify)) {
		why = "notify descriptor is not a SEQPACKET UNIX socket";
		r = -EPROTO;
	} else if (m.u.hello.event_abi_major != RTR_EVENT_ABI_MAJOR ||
		   m.u.hello.ring_abi_major != RTR_RING_ABI_MAJOR) {
		why = "event or ring ABI version not supported";
		r = -EPROTONOSUPPORT;
	} else if (m.u.hello.byte_order != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
						? RTR_PROTO_BYTE_ORDER_BE
						: RTR_PROTO_BYTE_ORDER_LE) ||
		   m.u.hello.word_bits != sizeof(long) * 8) {
		why = "byte order or word size differs from the host's";
		r = -EPROTONOSUPPORT;
	} else if (h->nr_live >= h->cfg.max_procs) {
		why = "too many traced processes";
		r = -EMFILE;
	}
	p->pid = (pid_t)m.u.hello.pid;
	p->caps = m.u.hello.caps;
	if (r == 0) {
		/* The same pid registering again replaced its image (exec):
		 * the old image's buffers have no writer any more. */
		for (struct rtr__proc *o = h->procs; o; o = o->next)
			if (o != p && o->pid == p->pid && o->state != P_DONE &&
			    o->state != P_HELLO) {
				o->exited = true;
				rtr__proc_finish(o, true);
			}
		p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
		if (p->pidfd < 0) {
			why = "pidfd_open";
			r = -errno;
			sys = true;
		}
	}
	if (r == 0) {
		h->nr_live++;
		p->registered_ns = rtr__now_ns();
		p->state = P_ACTIVE;
		h->nr_pending--;
		r = rtr__channel_create(p, &m.u.hello, &why);
		sys = r != 0;
	}
	if (r) {
		hwarn_c(h, RTR__LOG_REFUSED, "process %d (%s) not traced: %s%s%s%s", (int)p->pid,
			p->procname, why, sys ? " (" : "", sys ? strerror(-r) : "", sys ? ")" : "");
		h->t.refused++;
		send_reply(p, p->cmd, m.hdr.seq, RTR_MSG_HELLO, r, why);
		if (p->state == P_ACTIVE) {
			/* Undo what create_channel built: nothing was shared. */
			p->exited = true;
			rtr__proc_finish(p, true);
		} else {
			rtr__proc_disconnect(p, NULL);
		}
		return;
	}
	rtr__watch_add(h, &p->w_notify, RTR_WATCH_NOTIFY, p, p->notify);
	rtr__watch_add(h, &p->w_pid, RTR_WATCH_PIDFD, p, p->pidfd);
	hinfo(h, "process %d (%s) registered%s, %u buffers, client %u", (int)p->pid, p->procname,
	      (m.u.hello.flags & RTR_PROTO_HELLO_FORKED) ? " (fork child)" : "", p->nr_bufs,
	      p->client);
	if (send_reply(p, p->cmd, m.hdr.seq, RTR_MSG_HELLO, 0, "") || configure(p)) {
		if (p->cmd >= 0)
			rtr__proc_disconnect(p, "could not configure it");
	}
}

/* All HELLO slots taken (a flood of silent connections): the connection
 * that has waited longest goes, so that a process that speaks at once
 * always gets in whatever silent ones do. */
static void evict_oldest_pending(struct rtr_host *h)
{
	struct rtr__proc *oldest = NULL;

	for (struct rtr__proc *p = h->procs; p; p = p->next)
		if (p->state == P_HELLO && p->cmd >= 0 &&
		    (!oldest || p->hello_deadline <= oldest->hello_deadline))
			oldest = p;
	if (!oldest)
		return;
	h->t.bad_conns++;
	hwarn_c(h, RTR__LOG_CONN, "%u connections waiting for their HELLO: closed the oldest",
		h->nr_pending);
	rtr__proc_disconnect(oldest, NULL);
}

void rtr__accept_all(struct rtr_host *h)
{
	for (int k = 0; k < 64; k++) {
		int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct rtr__proc *p;

		if (fd < 0)
			return;
		if (h->nr_pending >= MAX_PENDING)
			evict_oldest_pending(h);
		p = calloc(1, sizeof(*p));
		if (!p) {
			close(fd);
			return;
		}
		p->h = h;
		p->state = P_HELLO;
		p->cmd = fd;
		p->notify = p->pidfd = p->wake_fd = p->dirfd = p->meta_fd = -1;
		p->meta_gen = 1; /* no metadata on disk yet */
		p->hello_deadline = rtr__now_ns() + HELLO_TIMEOUT_NS;
		p->created = time(NULL);
		h->nr_pending++;
		rtr_proto_arena_init(&p->arena, 0, 0);
		p->next = h->procs;
		h->procs = p;
		rtr__watch_add(h, &p->w_cmd, RTR_WATCH_CMD, p, fd);
		/* A well-behaved process sent its HELLO right after connecting:
		 * it is usually there already (never waits). */
		rtr__handle_hello(p);
	}
}

/* ------------------------------------------------------------------------
 * Event dispatch
 * ------------------------------------------------------------------------ */

bool rtr__send_stop_all(struct rtr_host *h)
{
	bool sent = false;

	for (struct rtr__proc *p = h->procs; p; p = p->next) {
		if (p->state != P_ACTIVE || p->cmd < 0)
			continue;
		if (rtr_proto_enc_ref(&h->out, RTR_MSG_STOP, ++p->seq, RTR_HOST_SESSION_ID) == 0 &&
		    proc_send(p, NULL, 0) == 0) {
			p->stop_sent = true;
			sent = true;
		}
	}
	return sent;
}
