/* lib/host: the host object — creation, its epoll set and timer, the end
 * of a recording, a traced process's lifetime. Design:
 * docs/design/host.md; wire protocol: docs/design/protocol.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "host-internal.h"

#define TICK_MS		100
#define STOP_TIMEOUT_NS (1000ull * 1000000u)
#define SYNC_PERIOD_NS	(1000ull * 1000000u) /* a sync point per second */
#define CHECKPOINT_NS	(1000ull * 1000000u) /* metadata rewritten each second */

uint64_t rtr__now_ns(void)
{
	return rtr_proto_now_ns();
}

void rtr__watch_add(struct rtr_host *h, struct rtr_watch *w, enum rtr_watch_kind kind, void *obj,
		    int fd)
{
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = w};

	w->kind = kind;
	w->obj = obj;
	w->fd = fd;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		herr(h, "epoll: %s", strerror(errno));
}

void rtr__watch_del_close(struct rtr_host *h, int *fd)
{
	if (*fd < 0)
		return;
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, *fd, NULL);
	close(*fd);
	*fd = -1;
}

static uint16_t host_possible_cpus(void)
{
	uint32_t n = rtr_ring_possible_cpus();

	return (uint16_t)(n > RTR_PROTO_MAX_CPUS ? RTR_PROTO_MAX_CPUS : n);
}

/* ------------------------------------------------------------------------
 * Creation
 * ------------------------------------------------------------------------ */

static int listen_on(struct rtr_host *h, const char *sock_path, mode_t mode)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (strlen(sock_path) >= sizeof(sa.sun_path)) {
		herr(h, "socket path too long: %s", sock_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, sock_path);
	strcpy(h->sock_path, sock_path);
	h->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->listen_fd < 0 || bind(h->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sock_path, mode) < 0 || listen(h->listen_fd, 512) < 0) {
		int e = errno;

		herr(h, "cannot listen on %s: %s", sock_path, strerror(e));
		if (h->listen_fd >= 0)
			close(h->listen_fd);
		h->listen_fd = -1;
		h->sock_path[0] = 0;
		unlink(sock_path);
		return -e;
	}
	rtr__watch_add(h, &h->w_listen, RTR_WATCH_LISTEN, h, h->listen_fd);
	return 0;
}

struct rtr_host *rtr_host_create(const struct rtr_host_config *cfg, const char *sock_path)
{
	struct itimerspec its = {.it_interval = {0, TICK_MS * 1000000L},
				 .it_value = {0, TICK_MS * 1000000L}};
	struct rtr_host *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->cfg = *cfg;
	if (!h->cfg.mem_budget)
		h->cfg.mem_budget = 1ull << 30;
	if (!h->cfg.max_procs)
		h->cfg.max_procs = 1024;
	h->file_mode = h->cfg.file_mode ? (h->cfg.file_mode & 0777) : 0600;
	h->listen_fd = h->timer_fd = h->drain_fd = -1;
	h->host_cpus = host_possible_cpus();
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	h->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (h->epfd < 0 || h->timer_fd < 0 || timerfd_settime(h->timer_fd, 0, &its, NULL) < 0) {
		herr(h, "setup: %s", strerror(errno));
		goto fail;
	}
	rtr__watch_add(h, &h->w_timer, RTR_WATCH_TIMER, h, h->timer_fd);
	if (rtr__hclock_init(&h->clock, cfg->skew_cache)) {
		herr(h, "setup: %s", strerror(ENOMEM));
		goto fail;
	}
	h->next_checkpoint_ns = rtr__now_ns() + CHECKPOINT_NS;
	h->op_timeout_ns = 1000ull * 1000000u;
	if (!h->cfg.daemon && rtr__record_session(h))
		goto fail;
	if (listen_on(h, sock_path, h->cfg.sock_mode ? h->cfg.sock_mode : 0600))
		goto fail;
	/* The drain thread starts with the first packet (record forks the
	 * program after this: one thread then). */
	h->want_drainer = !h->cfg.eager_drain && (h->cfg.daemon || !h->cfg.overwrite);
	return h;
fail:
	rtr_host_destroy(h);
	return NULL;
}

int rtr_host_fd(const struct rtr_host *h)
{
	return h->epfd;
}

int rtr_host_move_socket(struct rtr_host *h, const char *new_path)
{
	if (strlen(new_path) >= sizeof(h->sock_path))
		return -ENAMETOOLONG;
	if (rename(h->sock_path, new_path) < 0)
		return -errno;
	strcpy(h->sock_path, new_path);
	return 0;
}

/* ------------------------------------------------------------------------
 * A process's lifetime
 * ------------------------------------------------------------------------ */

void rtr__proc_release_fds(struct rtr__proc *p)
{
	struct rtr_host *h = p->h;

	rtr__watch_del_close(h, &p->cmd);
	rtr__watch_del_close(h, &p->notify);
	rtr__watch_del_close(h, &p->pidfd);
}

/*
 * Makes everything the process committed readable, drains it and releases
 * the buffers, in every session it records into. `gone`: no writer can
 * touch the buffers any more (the process exited or exec'd): salvage;
 * otherwise flush (writers may still be in flight; the flush is safe
 * against them).
 */
void rtr__proc_finish(struct rtr__proc *p, bool gone)
{
	struct rtr_host *h = p->h;
	uint64_t events = 0, lost = 0, packets = 0;

	if (p->state == P_DONE || p->state == P_HELLO)
		return;
	p->state = P_DONE; /* (re-entry from a callback sees it done) */
	rtr__ops_forget_proc(p);
	for (struct rtr__ptrace *t = p->traces; t; t = t->next_p) {
		rtr__ptrace_finish(t, gone);
		for (unsigned i = 0; i < RTR_HOST_MAX_CHANS; i++) {
			if (!t->ch[i])
				continue;
			events += t->ch[i]->tot.events;
			lost += t->ch[i]->tot.lost;
			packets += t->ch[i]->tot.packets;
		}
	}
	rtr__proc_release_fds(p);
	if (h->nr_live)
		h->nr_live--;
	/* What the process cost (descriptions, directories) is given back at
	 * once, so that a process that goes frees its share for the others. */
	while (p->traces)
		rtr__ptrace_free(p->traces);
	rtr__proc_forget_events(p);
	/* every session's channels of the process (record: one) */
	hinfo(h, "process %d (%s) finished: %llu events, %llu lost, %llu packets", (int)p->pid,
	      p->procname, (unsigned long long)events, (unsigned long long)lost,
	      (unsigned long long)packets);
}

static void proc_free(struct rtr__proc *p)
{
	p->h->free_gen++;
	while (p->traces)
		rtr__ptrace_free(p->traces);
	rtr__proc_forget_events(p);
	free(p);
}

/* ------------------------------------------------------------------------
 * Event dispatch and periodic work
 * ------------------------------------------------------------------------ */

static void checkpoint(struct rtr_host *h);

static void tick(struct rtr_host *h)
{
	uint64_t now = rtr__now_ns();

	/* Connections that never became a trace (refused, silent, garbage)
	 * are forgotten, so that a flood of them costs no memory. */
	for (struct rtr__proc **pp = &h->procs; *pp;) {
		struct rtr__proc *p = *pp;

		if (p->state == P_DONE && !p->traces && p->cmd < 0 && p->notify < 0 &&
		    p->pidfd < 0) {
			*pp = p->next;
			proc_free(p);
		} else {
			pp = &p->next;
		}
	}

	for (struct rtr__proc *p = h->procs; p; p = p->next) {
		if (p->state == P_HELLO && p->cmd >= 0 && now > p->hello_deadline) {
			hwarn_c(h, RTR__LOG_CONN, "a connection sent no HELLO in time; closed");
			rtr__proc_disconnect(p, NULL);
		} else if (p->state == P_ACTIVE || p->state == P_DISCONNECTED) {
			for (struct rtr__ptrace *t = p->traces; t; t = t->next_p)
				for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++) {
					struct rtr__pchan *c = t->ch[ci];

					if (!c || c->overwrite || c->released)
						continue;
					rtr__flush_stale(c, now);
					rtr__drain_pchan(c, 2, false);
				}
			/* per-user buffers: dead writers' sub-buffers */
			for (struct rtr__ptrace *t = p->traces; p->user && t; t = t->next_p)
				for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++)
					if (t->ch[ci] && !t->finished)
						rtr__user_unstall(t->ch[ci], now);
		}
	}
	rtr__ops_check(h);
	rtr__log_tick(h, false);
	if (now - h->clock.last_ns >= SYNC_PERIOD_NS)
		rtr__hclock_sync(&h->clock);
	if (now >= h->next_checkpoint_ns) {
		h->next_checkpoint_ns = now + CHECKPOINT_NS;
		checkpoint(h);
	}
}

static void dispatch(struct rtr_host *h, struct rtr_watch *w, bool in_stop)
{
	struct rtr__proc *p = w->obj;
	uint64_t v;

	switch (w->kind) {
	case RTR_WATCH_LISTEN:
		rtr__accept_all(h);
		break;
	case RTR_WATCH_CMD:
		if (p->state == P_HELLO)
			rtr__handle_hello(p);
		else
			rtr__handle_replies(p);
		break;
	case RTR_WATCH_NOTIFY:
		rtr__handle_notify(p);
		break;
	case RTR_WATCH_PIDFD:
		p->exited = true;
		/* Read what is left on the sockets first (late replies). */
		if (p->cmd >= 0)
			rtr__handle_notify(p);
		rtr__proc_finish(p, true);
		break;
	case RTR_WATCH_WAKE: {
		struct rtr__pchan *c = w->obj;

		if (read(c->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
			/* nothing */
		}
		rtr__drain_pchan(c, 2, false);
		break;
	}
	case RTR_WATCH_DRAIN:
		if (read(h->drain_fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
			/* nothing */
		}
		for (struct rtr__proc *q = h->procs; q; q = q->next)
			if (q->state == P_ACTIVE || q->state == P_DISCONNECTED)
				for (struct rtr__ptrace *t = q->traces; t; t = t->next_p)
					for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++)
						if (t->ch[ci] && t->ch[ci]->npending)
							rtr__drain_pchan(t->ch[ci], 2, false);
		break;
	case RTR_WATCH_TIMER:
		if (read(h->timer_fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
			/* nothing */
		}
		if (!in_stop)
			tick(h);
		break;
	default:
		break;
	}
}

void rtr__run_events(struct rtr_host *h, int timeout_ms, bool in_stop)
{
	struct epoll_event ev[32];
	int n = epoll_wait(h->epfd, ev, 32, timeout_ms);

	for (int i = 0; i < n; i++) {
		uint64_t gen = h->free_gen;

		dispatch(h, ev[i].data.ptr, in_stop);
		/* Something was freed (a process finished): the rest of the
		 * batch may name its watches. Its fds that are still open and
		 * ready are reported again by the next epoll_wait (level
		 * triggered); those closed were removed from the set. (A
		 * program's exit and its last sub-buffer's wake-up in one batch
		 * made ringtraced read a freed channel.) */
		if (h->free_gen != gen)
			break;
	}
}

void rtr_host_run(struct rtr_host *h)
{
	rtr__run_events(h, 0, false);
}

unsigned rtr_host_active(const struct rtr_host *h)
{
	unsigned n = 0;

	for (const struct rtr__proc *p = h->procs; p; p = p->next)
		if (p->state == P_ACTIVE || (p->state == P_HELLO && p->cmd >= 0))
			n++;
	return n;
}

void rtr_host_process_exited(struct rtr_host *h, pid_t pid)
{
	for (struct rtr__proc *p = h->procs; p; p = p->next)
		if (p->pid == pid && (p->state == P_ACTIVE || p->state == P_DISCONNECTED)) {
			p->exited = true;
			if (p->cmd >= 0)
				rtr__handle_notify(p);
			rtr__proc_finish(p, true);
		}
}

/* ------------------------------------------------------------------------
 * Metadata checkpoints and the end
 * ------------------------------------------------------------------------ */

/* Writes (atomically replaces) the metadata of every trace that holds
 * packets, with the clock known so far, so that a trace stays readable if
 * the host itself is killed; rtr_host_finish() writes the final one. */
static void checkpoint(struct rtr_host *h)
{
	struct rtr_clock_meta cmeta;

	if (h->clock.log.n < 2 || rtr__hclock_describe(h, false, &cmeta))
		return;
	/* Only traces that already hold packets: an empty directory is
	 * removed at the end, which a metadata file would prevent. */
	for (struct rtr__proc *p = h->procs; p; p = p->next) {
		if (p->state != P_ACTIVE && p->state != P_DISCONNECTED)
			continue;
		for (struct rtr__ptrace *t = p->traces; t; t = t->next_p)
			/* a stopped session's traces keep the metadata
			 * written at `stop`: what is read after it must not
			 * change (the clock's offset is refined as samples
			 * come, by a few ns) */
			if (t->dirfd >= 0 && !t->finished && (!t->s || t->s->active) &&
			    rtr__output_packets(t))
				rtr__output_metadata(t, &cmeta, h->clock.log.pts, h->clock.log.n);
	}
}

static bool pidfd_exited(int fd)
{
	struct pollfd pf = {.fd = fd, .events = POLLIN};

	return fd >= 0 && poll(&pf, 1, 0) > 0;
}

int rtr_host_finish(struct rtr_host *h)
{
	rtr__watch_del_close(h, &h->listen_fd);
	if (h->sock_path[0])
		unlink(h->sock_path);
	h->sock_path[0] = 0;
	for (struct rtr__proc *p = h->procs; p; p = p->next)
		if ((p->state == P_ACTIVE || p->state == P_DISCONNECTED) &&
		    (p->exited || pidfd_exited(p->pidfd))) {
			p->exited = true;
			if (p->cmd >= 0)
				rtr__handle_notify(p);
			rtr__proc_finish(p, true);
		}
	/* record: STOP to every process still registered (in parallel),
	 * answered within a second while their requests are still served
	 * (one may be waiting for a REGISTER_REPLY). */
	rtr__record_stop(h);
	for (struct rtr__proc *p = h->procs; p; p = p->next) {
		if (p->state == P_HELLO) {
			rtr__proc_disconnect(p, NULL);
			continue;
		}
		if (p->state == P_ACTIVE || p->state == P_DISCONNECTED) {
			bool gone = p->exited || pidfd_exited(p->pidfd);

			if (!gone)
				hinfo(h, "process %d (%s) still runs; its recording stops here",
				      (int)p->pid, p->procname);
			rtr__proc_finish(p, gone);
		}
	}
	rtr__drainer_stop(h);
	rtr__log_tick(h, true);
	return h->t.write_errors ? -EIO : 0;
}

void rtr_host_totals(const struct rtr_host *h, struct rtr_host_totals *t)
{
	*t = h->t;
}

void rtr_host_destroy(struct rtr_host *h)
{
	struct rtr__proc *p, *n;

	if (!h)
		return;
	for (p = h->procs; p; p = n) {
		n = p->next;
		if (p->state != P_DONE && p->state != P_HELLO) {
			p->exited = true;
			rtr__proc_finish(p, true);
		}
		rtr__proc_release_fds(p);
		proc_free(p);
	}
	h->procs = NULL;
	rtr__sessions_free(h);
	free(h->filt_arena);
	if (h->listen_fd >= 0)
		rtr__watch_del_close(h, &h->listen_fd);
	if (h->sock_path[0])
		unlink(h->sock_path);
	rtr__drainer_stop(h);
	if (h->timer_fd >= 0)
		close(h->timer_fd);
	if (h->epfd >= 0)
		close(h->epfd);
	rtr__hclock_fini(&h->clock);
	free(h);
}
