/* lib/host: connections and protocol — accepting traced processes, HELLO,
 * replies to our commands, event registration. Nothing a process sends is
 * trusted; no call blocks on a process. Design: docs/design/host.md §3,
 * docs/design/protocol.md. */
#define _GNU_SOURCE
#include <errno.h>
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
	if (!p->user) /* (the per-user registry has a bound of its own) */
		p->h->desc_pool -= desc_charged(p);
	for (uint32_t i = 0; p->user && i < p->nr_evs; i++)
		free(p->evs[i].sig);
	rtr_proto_arena_free(&p->arena);
	free(p->evs);
	p->evs = NULL;
	p->nr_evs = p->cap_evs = 0;
}

int rtr__proc_send(struct rtr__proc *p, const int *fds, unsigned nfds)
{
	int r;

	if (p->cmd < 0)
		return -ENOTCONN;
	r = rtr_proto_send(p->cmd, &p->h->out, fds, nfds, MSG_DONTWAIT);
	if (r == -EPIPE || r == -ECONNRESET)
		rtr__proc_disconnect(p, NULL); /* it closed its end: exiting */
	else if (r)
		rtr__proc_disconnect(p, r == -EAGAIN ? "does not read its control socket"
						     : "control socket write failed");
	return r;
}

static int send_reply(struct rtr__proc *p, int sock, uint32_t seq, unsigned type, int status,
		      const char *text, bool ext, uint32_t xflags)
{
	int r = ext ? rtr_proto_enc_reply_ext(&p->h->out, seq, type, status, text,
					      RTR_PROTO_VERSION_MINOR, xflags)
		    : rtr_proto_enc_reply(&p->h->out, seq, type, status, text);

	if (r)
		return -EMSGSIZE;
	return rtr_proto_send(sock, &p->h->out, NULL, 0, MSG_DONTWAIT);
}

/* ------------------------------------------------------------------------
 * Disconnection
 * ------------------------------------------------------------------------ */

void rtr__proc_disconnect(struct rtr__proc *p, const char *why)
{
	struct rtr_host *h = p->h;

	if (why) {
		hwarn_c(h, RTR__LOG_PROC, "process %d (%s) disconnected: %s", (int)p->pid,
			p->procname, why);
		h->t.disconnected++;
	} else if (p->state == P_ACTIVE && !p->draining) {
		/* it closed its sockets (exited): what it sent last may still
		 * wait there — the channels it armed (command socket), its
		 * registrations (notify socket): a process that armed its
		 * sessions sends them without waiting for us */
		p->draining = true;
		rtr__handle_replies(p);
		rtr__handle_notify_only(p);
		p->draining = false;
	}
	rtr__watch_del_close(h, &p->cmd);
	rtr__watch_del_close(h, &p->notify);
	if (p->state == P_ACTIVE) {
		p->state = P_DISCONNECTED;
	} else if (p->state == P_HELLO) {
		p->state = P_DONE; /* nothing was created for it */
		h->nr_pending--;
	}
	rtr__ops_forget_proc(p);
	if (p->exited)
		rtr__proc_finish(p, true);
}

/* ------------------------------------------------------------------------
 * Registration
 * ------------------------------------------------------------------------ */

static void handle_register(struct rtr__proc *p, const struct rtr_proto_msg *m)
{
	struct rtr_host *h = p->h;
	const struct rtr_event_desc **evs;
	struct rtr_proto_enable_entry *en = NULL;
	const uint8_t **filt = NULL;
	uint16_t *flen = NULL;
	char err[256];
	uint32_t n_en = 0, first;
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
	first = p->nr_evs;
	for (uint32_t i = 0; i < m->u.events.count; i++) {
		const struct rtr_event_desc *ev = evs[i];
		struct rtr__ev *e;

		for (uint32_t k = 0; k < p->nr_evs; k++)
			if (p->evs[k].reg_index == ev->state->reg_index) {
				rtr__proc_disconnect(p, "event registered twice");
				return;
			}
		e = &p->evs[p->nr_evs++];
		e->desc = ev;
		e->reg_index = ev->state->reg_index;
		e->checked_bad = false;
		e->conflict_said = false;
		e->sig = NULL;
		e->sig_len = 0;
		if (rtr_ctf_event_check(ev, err, sizeof(err))) {
			hwarn_c(h, RTR__LOG_PROC, "process %d (%s): event %s:%s not traced: %s",
				(int)p->pid, p->procname, ev->provider, ev->name, err);
			e->checked_bad = true;
		}
	}
	rtr__preassigned(p, first, &m->u.events.pre);
	{
		/* an event may be enabled in every channel of every session */
		uint32_t cap = RTR_PROTO_MAX_ENABLES_PER_MSG;

		en = calloc(cap, sizeof(*en));
		filt = calloc(cap, sizeof(*filt));
		flen = calloc(cap, sizeof(*flen));
		if (!en || !filt || !flen)
			goto nomem;
		n_en = rtr__match_new_events(p, first, en, filt, flen, cap);
	}
	r = rtr_proto_enc_enable_ext(&h->out, RTR_MSG_REGISTER_REPLY, m->hdr.seq, 0, en, filt,
				     flen, n_en);
	free(en);
	free(filt);
	free(flen);
	if (r == 0)
		r = rtr_proto_send(p->notify, &h->out, NULL, 0, MSG_DONTWAIT);
	if (r == -EPIPE || r == -ECONNRESET) {
		/* it exited after sending (a process that armed its sessions
		 * registers without waiting): the answer is of no use, and the
		 * end of its sockets drains what it sent after this — a
		 * disconnection here would drop its later registrations, and
		 * every trace holding its events would lack their metadata */
		return;
	}
	if (r) {
		rtr__proc_disconnect(p, "does not read its notify socket");
		return;
	}
	/* what did not fit the reply goes on the command socket */
	for (struct rtr__ptrace *t = p->traces; t; t = t->next_p)
		for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++)
			if (t->ch[ci] && t->ch[ci]->chan_ok)
				rtr__send_pending_enables(t->ch[ci]);
	return;
nomem:
	free(en);
	free(filt);
	free(flen);
	rtr_proto_enc_register_reply(&h->out, m->hdr.seq, -ENOMEM, NULL, 0);
	rtr_proto_send(p->notify, &h->out, NULL, 0, MSG_DONTWAIT);
}

/* The channel whose setup requests include `seq`. */
static struct rtr__pchan *chan_of_seq(struct rtr__proc *p, uint32_t seq)
{
	for (struct rtr__ptrace *t = p->traces; t; t = t->next_p)
		for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++) {
			struct rtr__pchan *c = t->ch[ci];

			if (c && c->chan_pending && seq >= c->seq_lo && seq <= c->seq_hi)
				return c;
		}
	return NULL;
}

/* Replies to our commands, on the command socket. */
void rtr__handle_replies(struct rtr__proc *p)
{
	struct rtr_host *h = p->h;

	bool reset = false;

	for (int k = 0; k < (p->draining ? 4096 : MSGS_PER_EVENT) && p->cmd >= 0; k++) {
		int fds[RTR_PROTO_MAX_FDS];
		struct rtr_proto_msg m;
		struct rtr__pchan *c;
		unsigned nfds;
		char err[256];
		ssize_t n = rtr_proto_recv(p->cmd, h->in, sizeof(h->in), fds, &nfds, MSG_DONTWAIT);

		if (n == -ECONNRESET && !reset) {
			reset = true; /* (as in rtr__handle_notify_only) */
			continue;
		}
		if (n == -EAGAIN || (n <= 0 && p->draining))
			return;
		if (n <= 0) {
			rtr__proc_disconnect(
			    p, n == 0 || n == -ECONNRESET ? NULL : "control socket error");
			return;
		}
		if (rtr_proto_parse(h->in, (size_t)n, nfds, &m, err, sizeof(err)) ||
		    (m.hdr.type != RTR_MSG_REPLY && m.hdr.type != RTR_MSG_CHANNEL &&
		     m.hdr.type != RTR_MSG_CHANNEL_BUFFERS)) {
			rtr_proto_close_fds(fds, nfds);
			hwarn_c(h, RTR__LOG_PROC, "process %d (%s): bad message: %s", (int)p->pid,
				p->procname, err[0] ? err : "not a reply");
			rtr__proc_disconnect(p, "protocol error");
			return;
		}
		if (m.hdr.type != RTR_MSG_REPLY) {
			/* a channel of a session the process armed itself */
			rtr__adopt_message(p, &m, fds, nfds);
			continue;
		}
		switch (m.u.reply.req_type) {
		case RTR_MSG_CHANNEL:
		case RTR_MSG_CHANNEL_BUFFERS:
			c = chan_of_seq(p, m.hdr.seq);
			if (!c)
				break; /* a reply to nothing we wait for */
			c->chan_pending--;
			if (m.u.reply.status && !c->chan_failed) {
				c->chan_failed = true;
				hwarn_c(h, RTR__LOG_PROC,
					"process %d (%s) could not map its buffers: %s (%s)",
					(int)p->pid, p->procname, strerror(-m.u.reply.status),
					m.u.reply.text);
			}
			if (!c->chan_pending && !c->chan_failed && !c->chan_ok) {
				c->chan_ok = true;
				rtr__send_pending_enables(c);
			}
			break;
		case RTR_MSG_START:
		case RTR_MSG_STOP:
		case RTR_MSG_CLOSE_SESSION:
			rtr__op_reply(p, m.hdr.seq, m.u.reply.status);
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
	/* Replies first: a REGISTER_EVENTS that follows a channel's last
	 * acknowledgement must see the channel usable. */
	rtr__handle_replies(p);
	rtr__handle_notify_only(p);
}

void rtr__handle_notify_only(struct rtr__proc *p)
{
	struct rtr_host *h = p->h;

	bool reset = false;

	for (int k = 0; k < (p->draining ? 4096 : MSGS_PER_EVENT) && p->notify >= 0; k++) {
		int fds[RTR_PROTO_MAX_FDS];
		struct rtr_proto_msg m;
		unsigned nfds;
		char err[256];
		ssize_t n =
		    rtr_proto_recv(p->notify, h->in, sizeof(h->in), fds, &nfds, MSG_DONTWAIT);

		/* A process that exited with our answers unread makes the
		 * kernel report ECONNRESET once, before the messages it sent
		 * last and still queued (a program that armed its sessions
		 * registers without reading the answers): read on once. */
		if (n == -ECONNRESET && !reset) {
			reset = true;
			continue;
		}
		if (n == -EAGAIN || (n <= 0 && p->draining))
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

static bool check_notify_socket(int fd)
{
	int type = 0, dom = 0;
	socklen_t l = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_SEQPACKET)
		return false;
	l = sizeof(dom);
	return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) == 0 && dom == AF_UNIX;
}

/* May a process of this uid connect at all? */
static bool uid_allowed(const struct rtr_host *h, uid_t uid)
{
	if (h->cfg.any_uid)
		return true;
	if (h->cfg.daemon) /* a user's daemon traces only that user's programs */
		return uid == geteuid();
	/* record: the program and its children; as root, whoever they became */
	return uid == geteuid() || geteuid() == 0;
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
	unsigned nfds, attached = 0;
	char err[256];
	ssize_t n;
	int r;

	n = rtr_proto_recv(p->cmd, h->in, sizeof(h->in), fds, &nfds, MSG_DONTWAIT);
	if (n == -ECONNRESET) /* reported once, before what is still queued */
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
		send_reply(p, p->cmd, m.hdr.seq, RTR_MSG_HELLO, r ? r : -EPROTO, "expected HELLO",
			   false, 0);
		rtr__proc_disconnect(p, NULL);
		return;
	}
	p->notify = fds[0];
	snprintf(p->procname, sizeof(p->procname), "%s", m.u.hello.procname);
	p->minor = m.u.hello.minor;
	if (getsockopt(p->cmd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (uint32_t)cred.pid != m.u.hello.pid) {
		why = "pid does not match the socket's peer";
		r = -EPERM;
	} else if (!uid_allowed(h, cred.uid)) {
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
	p->uid = cred.uid;
	p->caps = m.u.hello.caps;
	p->narmed = m.u.hello.narmed;
	memcpy(p->armed, m.u.hello.armed, sizeof(p->armed));
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
		if (p->pidfd < 0 && errno == ESRCH && h->cfg.daemon) {
			/* already gone (a short program, a slow daemon): what it
			 * queued on its sockets — its armed buffers, its events —
			 * is still read, then its traces are finished */
			p->exited = true;
		} else if (p->pidfd < 0) {
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
		attached = p->exited ? 1 : rtr__sessions_attach(p);
		if (!h->cfg.daemon && !attached) {
			/* record: the one session could not take it */
			why = "buffer memory budget of the recording exhausted";
			r = -ENOMEM;
		}
	}
	if (r) {
		hwarn_c(h, RTR__LOG_REFUSED, "process %d (%s) not traced: %s%s%s%s", (int)p->pid,
			p->procname, why, sys ? " (" : "", sys ? strerror(-r) : "", sys ? ")" : "");
		h->t.refused++;
		send_reply(p, p->cmd, m.hdr.seq, RTR_MSG_HELLO, r, why, false, 0);
		if (p->state == P_ACTIVE) {
			/* Undo what was built: nothing was shared. */
			p->exited = true;
			rtr__proc_finish(p, true);
		} else {
			rtr__proc_disconnect(p, NULL);
		}
		return;
	}
	rtr__watch_add(h, &p->w_notify, RTR_WATCH_NOTIFY, p, p->notify);
	if (p->pidfd >= 0)
		rtr__watch_add(h, &p->w_pid, RTR_WATCH_PIDFD, p, p->pidfd);
	if (p->exited) {
		/* gone before we got to it: read what it left on its sockets
		 * (the channels it armed, its events), then finish its traces
		 * (the end of its command socket does) */
		rtr__handle_notify(p);
		if (p->state == P_ACTIVE)
			rtr__proc_disconnect(p, NULL);
		return;
	}
	for (struct rtr__ptrace *t = p->traces; t; t = t->next_p)
		for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++)
			if (t->ch[ci])
				hinfo(h, "process %d (%s) registered%s, session %s, channel %s: %u "
					 "buffers, client %u",
				      (int)p->pid, p->procname,
				      (m.u.hello.flags & RTR_PROTO_HELLO_FORKED) ? " (fork child)"
										 : "",
				      t->s->name, t->s->chans[ci].name, t->ch[ci]->nr_bufs,
				      t->ch[ci]->client);
	/* A v1.1 process learns whether configuration follows (then it waits
	 * for READY before main()); an older one always waits for READY. */
	r = send_reply(p, p->cmd, m.hdr.seq, RTR_MSG_HELLO, 0, "", p->minor >= 1,
		       attached ? RTR_PROTO_HELLO_REPLY_CONFIG : 0);
	if (!r)
		r = rtr__proc_sync(p);
	if (!r && rtr_proto_enc_ready(&h->out, ++p->seq, 0) == 0)
		r = rtr__proc_send(p, NULL, 0);
	if (r) {
		/* gone meanwhile (its end closed): what it sent is still read */
		if (p->cmd >= 0)
			rtr__proc_disconnect(p, r == -EPIPE || r == -ECONNRESET
						    ? NULL
						    : "could not configure it");
		return;
	}
	p->ready_sent = true;
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
		p->notify = p->pidfd = -1;
		p->next_handle = 1;
		p->hello_deadline = rtr__now_ns() + HELLO_TIMEOUT_NS;
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
