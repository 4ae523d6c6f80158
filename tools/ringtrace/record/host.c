/* ringtrace session host: traced processes, their buffers, draining and
 * trace completion. Design: docs/design/runtime.md §6; wire protocol:
 * docs/design/protocol.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ringtrace/ctf.h>
#include <ringtrace/event.h>

#include "ctf-writer.h"
#include "drainer.h"
#include "host.h"
#include "proto.h"

#define SESSION_ID	 1u
#define CHAN_HANDLE	 1u
#define STREAM_CLASS_ID	 0u
#define CHAN_NAME	 "channel0"
#define HELLO_TIMEOUT_NS (2000ull * 1000000u)
#define STOP_TIMEOUT_NS	 (1000ull * 1000000u)
#define MSGS_PER_EVENT	 64 /* messages handled per readiness event */
#define MAX_EVENT_ID	 (1u << 20)
#define MAX_PENDING	 256		      /* connections that did not say HELLO yet */
#define DESC_BUDGET	 (256ull << 20)	      /* event descriptions of all processes */
#define DRAIN_LAG_NS	 (1000ull * 1000000u) /* longest wait for the drain thread */
#define FLUSH_AGE_NS	 (1000ull * 1000000u) /* records left in an open sub-buffer */

enum proc_state {
	P_HELLO,	/* accepted, waiting for HELLO */
	P_ACTIVE,	/* registered */
	P_DISCONNECTED, /* sockets closed; process may still run and write */
	P_DONE,		/* buffers drained and released; trace pending metadata */
};

struct ev {
	const struct rtr_event_desc *desc; /* in the process's arena */
	uint32_t reg_index;
	int64_t id;   /* stream event id, -1 when not enabled */
	bool pending; /* enabled, not yet sent to the process */
};

struct proc {
	struct proc *next;
	struct rtr_host *h;
	enum proc_state state;
	pid_t pid;
	uint64_t hello_deadline;
	int cmd, notify, pidfd;
	struct rtr_watch w_cmd, w_notify, w_pid, w_wake;
	bool exited; /* process gone (pidfd or waitpid) */
	bool stop_sent, stop_acked;
	char procname[17];
	char dirname[64];
	int dirfd;
	uint8_t uuid[16];
	uint32_t caps;
	uint32_t seq;
	time_t created;
	/* the channel */
	uint32_t client;
	const struct rtr_ring_config *cfg;
	uint32_t nr_bufs;
	struct rtr_ring_buf **bufs;
	struct rtr_ctf_stream **streams;
	struct rtr_drain_slot **slots; /* per buffer, created with its first packet */
	uint64_t *pending_since;       /* when the packet now with the drain thread
					* was handed over (now_ns); 0: none */
	uint64_t *open_sb;	       /* open sub-buffer seen holding records (index + 1) */
	uint64_t *open_since;	       /* since when (now_ns) */
	unsigned npending;
	bool *damaged;
	int wake_fd;
	uint64_t mem;
	unsigned chan_pending; /* replies awaited for CHANNEL + CHANNEL_BUFFERS */
	bool chan_ok, chan_failed;
	uint32_t next_event_id;
	/* events */
	struct rtr_proto_arena arena;
	bool arena_full_reported;
	struct ev *evs;
	uint32_t nr_evs, cap_evs;
	/* results */
	struct rtr_host_totals t;
};

struct rtr_host {
	struct rtr_host_config cfg;
	FILE *log;
	int epfd;
	int listen_fd;
	struct rtr_watch w_listen;
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct proc *procs;
	uint64_t mem_used;
	uint64_t desc_bytes; /* arenas of every process */
	unsigned nr_live;
	unsigned nr_pending;
	struct rtr_host_totals t;
	uint16_t host_cpus;
	struct rtr_proto_out out;
	struct rtr_drainer *drainer; /* NULL: every packet written by this thread */
	bool want_drainer;	     /* start it when needed */
	int drain_fd;
	struct rtr_watch w_drain;
	uint8_t in[RTR_PROTO_MAX_MSG];
};

static void hlog(struct rtr_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void hlog(struct rtr_host *h, const char *fmt, ...)
{
	va_list ap;

	fputs("ringtrace record: ", h->log);
	va_start(ap, fmt);
	vfprintf(h->log, fmt, ap);
	va_end(ap);
	fputc('\n', h->log);
	fflush(h->log);
}

#define vlog(h, ...)                                                                               \
	do {                                                                                       \
		if ((h)->cfg.verbose)                                                              \
			hlog(h, __VA_ARGS__);                                                      \
	} while (0)

static uint64_t now_ns(void)
{
	return rtr_proto_now_ns();
}

static void watch_add(struct rtr_host *h, struct rtr_watch *w, enum rtr_watch_kind kind, void *obj,
		      int fd)
{
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = w};

	w->kind = kind;
	w->obj = obj;
	w->fd = fd;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		hlog(h, "epoll: %s", strerror(errno));
}

static void watch_del_close(struct rtr_host *h, int *fd)
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

struct rtr_host *rtr_host_create(const struct rtr_host_config *cfg, const char *sock_path, int epfd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct rtr_host *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->cfg = *cfg;
	h->log = cfg->log ? cfg->log : stderr;
	if (!h->cfg.mem_budget)
		h->cfg.mem_budget = 1ull << 30;
	if (!h->cfg.max_procs)
		h->cfg.max_procs = 1024;
	h->epfd = epfd;
	h->host_cpus = host_possible_cpus();
	if (strlen(sock_path) >= sizeof(sa.sun_path)) {
		hlog(h, "socket path too long: %s", sock_path);
		free(h);
		return NULL;
	}
	strcpy(sa.sun_path, sock_path);
	strcpy(h->sock_path, sock_path);
	h->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->listen_fd < 0 || bind(h->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sock_path, 0600) < 0 || listen(h->listen_fd, 128) < 0) {
		hlog(h, "cannot listen on %s: %s", sock_path, strerror(errno));
		if (h->listen_fd >= 0)
			close(h->listen_fd);
		unlink(sock_path);
		free(h);
		return NULL;
	}
	watch_add(h, &h->w_listen, RTR_WATCH_LISTEN, h, h->listen_fd);
	h->drain_fd = -1;
	/* The drain thread starts with the first packet (record forks the
	 * program after this: one thread then). */
	h->want_drainer = !h->cfg.eager_drain && !h->cfg.overwrite;
	return h;
}

/* ------------------------------------------------------------------------
 * Sending to a process (never blocks: a process that does not read its
 * socket is disconnected)
 * ------------------------------------------------------------------------ */

static void proc_disconnect(struct proc *p, const char *why);

static int proc_send(struct proc *p, const int *fds, unsigned nfds)
{
	int r;

	if (p->cmd < 0)
		return -ENOTCONN;
	r = rtr_proto_send(p->cmd, &p->h->out, fds, nfds, MSG_DONTWAIT);
	if (r) {
		proc_disconnect(p, r == -EAGAIN ? "does not read its control socket"
						: "control socket write failed");
	}
	return r;
}

static int send_reply(struct proc *p, int sock, uint32_t seq, unsigned type, int status,
		      const char *text)
{
	if (rtr_proto_enc_reply(&p->h->out, seq, type, status, text))
		return -EMSGSIZE;
	return rtr_proto_send(sock, &p->h->out, NULL, 0, MSG_DONTWAIT);
}

/* ------------------------------------------------------------------------
 * Draining and finishing a process's buffers
 * ------------------------------------------------------------------------ */

static void report_damage(struct proc *p, uint32_t cpu, const char *what)
{
	if (p->damaged[cpu])
		return;
	p->damaged[cpu] = true;
	p->h->t.damaged++;
	hlog(p->h,
	     "process %d (%s): buffer of CPU %u is damaged: %s; packets written before "
	     "are kept, the rest of this buffer is dropped (and its counters ignored)",
	     (int)p->pid, p->procname, cpu, what);
}

/*
 * Draining. A buffer's packets go to the idle-priority drain thread one at a
 * time, so that the copy into the page cache only takes CPU time nobody
 * else wants; this thread writes them itself when the buffer gets short of
 * room or a packet waited too long (the drain thread may be starved by a
 * busy machine: it then takes the packet back without waiting for it),
 * when the process is finished, and when there is no drain thread
 * (--eager-drain, overwrite mode).
 */

/* The buffer has less than max(1/4 of its size, 2 sub-buffers) free. Its
 * positions come from shared memory: a wrong answer only changes who
 * writes the next packets. */
static bool buffer_short(const struct rtr_ring_buf *b)
{
	struct rtr_ring_stats st;
	uint64_t room = b->buf_size / 4 > 2 * b->sb_size ? b->buf_size / 4 : 2 * b->sb_size;
	uint64_t backlog;

	rtr_ring_buf_stats(b, &st);
	backlog = st.produced > st.consumed ? st.produced - st.consumed : 0;
	return backlog + room >= b->buf_size;
}

static void stream_failed(struct proc *p, uint32_t cpu)
{
	report_damage(p, cpu, rtr_ctf_stream_error(p->streams[cpu]));
}

/* Ends the packet the drain thread has for buffer `cpu`: accounts for it
 * when it is written; when it is not and `take_back`, takes it back and
 * writes it here. Returns false while it stays with the drain thread. */
static bool settle(struct proc *p, uint32_t cpu, bool take_back)
{
	struct rtr_ctf_stream *s = p->streams[cpu];
	int err = 0, r;

	if (!p->pending_since || !p->pending_since[cpu])
		return true;
	switch (rtr_drain_poll(p->slots[cpu], &err)) {
	case RTR_DRAIN_PENDING:
		if (!take_back)
			return false;
		if (rtr_drain_take_back(p->slots[cpu], &err)) {
			r = rtr_ctf_stream_write_held(s);
			break;
		}
		r = rtr_ctf_stream_end(s, err);
		break;
	case RTR_DRAIN_DONE:
		r = rtr_ctf_stream_end(s, err);
		break;
	default: /* cannot happen: write it here */
		r = rtr_ctf_stream_write_held(s);
		break;
	}
	p->pending_since[cpu] = 0;
	p->npending--;
	if (r < 0)
		stream_failed(p, cpu);
	return true;
}

/* Hands buffer cpu's next packet to the drain thread. Returns 1 (handed
 * or written), 0 (none ready), < 0 (stream failed, reported). */
static int hand_over(struct proc *p, uint32_t cpu)
{
	struct rtr_host *h = p->h;
	struct rtr_ctf_packet_job job;
	int r = rtr_ctf_stream_begin(p->streams[cpu], &job);

	if (r <= 0)
		return r;
	if (!p->slots[cpu] && job.src_fd >= 0 && h->drainer)
		p->slots[cpu] = rtr_drain_slot_new(h->drainer, job.src_fd, job.dst_fd);
	if (!p->slots[cpu]) {
		r = rtr_ctf_stream_write_held(p->streams[cpu]);
		return r < 0 ? r : 1;
	}
	rtr_drain_submit(p->slots[cpu], job.src_off, job.dst_off, job.len);
	p->pending_since[cpu] = now_ns();
	p->npending++;
	return 1;
}

/* Writes (or hands over) what is ready; max_rounds bounds the packets this
 * thread writes per buffer (a hostile writer could keep producing). A
 * packet the drain thread has not written within DRAIN_LAG_NS is taken
 * back and the buffer's backlog written here: the trace on disk never lags
 * much more than a second (the metadata checkpoint's period), so a killed
 * `record` loses no more than that.
 * `now`: everything on this thread (the process is being finished). */
static void drain_proc(struct proc *p, unsigned max_rounds, bool now)
{
	struct rtr_host *h = p->h;

	for (uint32_t cpu = 0; cpu < p->nr_bufs; cpu++) {
		bool here;

		if (!p->streams || !p->streams[cpu] || p->damaged[cpu])
			continue;
		if (!now && h->want_drainer) {
			h->want_drainer = false;
			h->drainer = rtr_drainer_start(&h->drain_fd);
			if (h->drainer)
				watch_add(h, &h->w_drain, RTR_WATCH_DRAIN, h, h->drain_fd);
			else
				hlog(h, "no drain thread (%s): packets are written at once",
				     strerror(errno));
		}
		here = now || !h->drainer || !p->pending_since || buffer_short(p->bufs[cpu]) ||
		       (p->pending_since[cpu] && now_ns() - p->pending_since[cpu] > DRAIN_LAG_NS);
		if (!settle(p, cpu, here) || p->damaged[cpu])
			continue;
		if (!here) {
			if (hand_over(p, cpu) < 0)
				stream_failed(p, cpu);
			continue;
		}
		for (unsigned round = 0; round < max_rounds; round++) {
			int r = rtr_ctf_stream_drain(p->streams[cpu], h->cfg.num_subbuf);

			if (r == 0)
				break;
			if (r < 0) {
				stream_failed(p, cpu);
				break;
			}
		}
	}
}

/* Every packet the drain thread holds, written now. */
static void settle_all(struct proc *p)
{
	for (uint32_t cpu = 0; p->streams && cpu < p->nr_bufs; cpu++)
		if (p->streams[cpu])
			settle(p, cpu, true);
}

static void proc_release_fds(struct proc *p)
{
	struct rtr_host *h = p->h;

	watch_del_close(h, &p->cmd);
	watch_del_close(h, &p->notify);
	watch_del_close(h, &p->pidfd);
	watch_del_close(h, &p->wake_fd);
}

/*
 * Makes everything the process committed readable, drains it and releases
 * the buffers. `gone`: no writer can touch the buffers any more (the
 * process exited or exec'd): salvage; otherwise flush (writers may still
 * be in flight; the flush is safe against them).
 */
static void proc_finish(struct proc *p, bool gone)
{
	struct rtr_host *h = p->h;

	if (p->state == P_DONE || p->state == P_HELLO)
		return;
	settle_all(p);
	for (uint32_t cpu = 0; p->bufs && cpu < p->nr_bufs; cpu++) {
		struct rtr_ring_buf *b = p->bufs[cpu];
		int r = 0;

		if (!b || p->damaged[cpu])
			continue;
		if (gone) {
			r = rtr_ring_salvage(p->cfg, b);
		} else {
			for (int i = 0; i < 100; i++) {
				r = rtr_ring_flush(p->cfg, b, RTR_RING_FLUSH_ACTIVE, false);
				if (r != -EAGAIN)
					break;
				usleep(1000);
			}
			if (r == -EAGAIN)
				vlog(h, "process %d: buffer %u could not be flushed", (int)p->pid,
				     cpu);
		}
		if (r == -EIO) {
			report_damage(p, cpu, rtr_ring_buf_error(b));
			continue;
		}
		if (h->cfg.overwrite && rtr_ring_snapshot_start(p->cfg, b) == -EIO)
			report_damage(p, cpu, rtr_ring_buf_error(b));
	}
	drain_proc(p, 4, true);
	/* Records dropped after the last packet closed (buffer full to the
	 * end) are in no packet yet: an empty packet carries the final total,
	 * so that readers report exactly what was lost. */
	for (uint32_t cpu = 0; p->bufs && cpu < p->nr_bufs; cpu++) {
		struct rtr_ctf_stream_stats ss;
		struct rtr_ring_buf *b = p->bufs[cpu];

		if (!b || p->damaged[cpu] || !p->streams[cpu])
			continue;
		rtr_ctf_stream_stats(p->streams[cpu], &ss);
		if (rtr_ring_buf_lost(b) == ss.events_lost || !ss.packets)
			continue;
		if (rtr_ring_flush(p->cfg, b, RTR_RING_FLUSH_EMPTY, gone) == 0)
			drain_proc(p, 1, true);
	}
	for (uint32_t cpu = 0; p->bufs && cpu < p->nr_bufs; cpu++) {
		struct rtr_ring_stats st;
		struct rtr_ctf_stream_stats ss;

		if (!p->bufs[cpu])
			continue;
		/* The writers' counters of a damaged buffer mean nothing. */
		if (!p->damaged[cpu]) {
			rtr_ring_buf_stats(p->bufs[cpu], &st);
			p->t.events += st.records;
			p->t.lost += st.lost_full + st.lost_wrap + st.lost_big + st.refused_nest +
				     st.lost_nobuf;
			p->t.overwritten += st.overwritten;
			p->t.torn_bytes += st.salvage_dropped_bytes;
		}
		if (p->streams[cpu]) {
			rtr_ctf_stream_stats(p->streams[cpu], &ss);
			p->t.packets += ss.packets;
			p->t.bytes += ss.bytes;
			p->t.salvaged += ss.salvaged;
			rtr_ctf_stream_destroy(p->streams[cpu], false);
			p->streams[cpu] = NULL;
		}
		if (p->slots[cpu]) {
			rtr_drain_slot_release(p->slots[cpu]);
			p->slots[cpu] = NULL;
		}
		rtr_ring_buf_destroy(p->bufs[cpu]);
		p->bufs[cpu] = NULL;
	}
	proc_release_fds(p);
	h->mem_used -= p->mem;
	p->mem = 0;
	if (h->nr_live)
		h->nr_live--;
	p->state = P_DONE;
	vlog(h, "process %d (%s) finished: %llu events, %llu lost, %llu packets", (int)p->pid,
	     p->procname, (unsigned long long)p->t.events, (unsigned long long)p->t.lost,
	     (unsigned long long)p->t.packets);
}

static void proc_disconnect(struct proc *p, const char *why)
{
	struct rtr_host *h = p->h;

	if (why) {
		hlog(h, "process %d (%s) disconnected: %s", (int)p->pid, p->procname, why);
		h->t.disconnected++;
	}
	watch_del_close(h, &p->cmd);
	watch_del_close(h, &p->notify);
	if (p->state == P_ACTIVE) {
		p->state = P_DISCONNECTED;
	} else if (p->state == P_HELLO) {
		p->state = P_DONE; /* nothing was created for it */
		h->nr_pending--;
	}
	if (p->exited)
		proc_finish(p, true);
}

/* ------------------------------------------------------------------------
 * Registration
 * ------------------------------------------------------------------------ */

static bool wanted(const struct rtr_host *h, const struct rtr_event_desc *ev)
{
	char full[2 * RTR_PROTO_MAX_NAME + 2];

	if (h->cfg.npatterns == 0)
		return true;
	snprintf(full, sizeof(full), "%s:%s", ev->provider, ev->name);
	for (size_t i = 0; i < h->cfg.npatterns; i++)
		if (fnmatch(h->cfg.patterns[i], full, 0) == 0)
			return true;
	return false;
}

static void send_pending_enables(struct proc *p)
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
			e[n++] = (struct rtr_proto_enable_entry){p->evs[i].reg_index, CHAN_HANDLE,
								 (uint32_t)p->evs[i].id};
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

static void handle_register(struct proc *p, const struct rtr_proto_msg *m)
{
	struct rtr_host *h = p->h;
	const struct rtr_event_desc **evs;
	struct rtr_proto_enable_entry *en = NULL;
	char err[256];
	uint32_t n_en = 0;
	int r;

	{
		size_t before = p->arena.bytes;

		if (h->desc_bytes > DESC_BUDGET)
			r = -ENOSPC;
		else
			r = rtr_proto_events_decode(&m->u.events, &p->arena, &evs, err,
						    sizeof(err));
		h->desc_bytes += p->arena.bytes - before;
	}
	if (r == -ENOSPC) {
		if (!p->arena_full_reported)
			hlog(h,
			     "process %d (%s) registers too many events; later ones are not "
			     "traced",
			     (int)p->pid, p->procname);
		p->arena_full_reported = true;
		rtr_proto_enc_register_reply(&h->out, m->hdr.seq, -ENOSPC, NULL, 0);
		rtr_proto_send(p->notify, &h->out, NULL, 0, MSG_DONTWAIT);
		return;
	}
	if (r) {
		hlog(h, "process %d (%s): bad event description: %s", (int)p->pid, p->procname,
		     r == -EPROTO ? err : strerror(-r));
		rtr_proto_enc_register_reply(&h->out, m->hdr.seq, r, NULL, 0);
		rtr_proto_send(p->notify, &h->out, NULL, 0, MSG_DONTWAIT);
		if (r == -EPROTO)
			proc_disconnect(p, "malformed REGISTER_EVENTS");
		return;
	}
	if (p->nr_evs + m->u.events.count > p->cap_evs) {
		uint32_t cap = p->cap_evs ? p->cap_evs : 64;
		struct ev *n;

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
		struct ev *e;

		for (uint32_t k = 0; k < p->nr_evs; k++)
			if (p->evs[k].reg_index == ev->state->reg_index) {
				free(en);
				proc_disconnect(p, "event registered twice");
				return;
			}
		e = &p->evs[p->nr_evs++];
		e->desc = ev;
		e->reg_index = ev->state->reg_index;
		e->id = -1;
		e->pending = false;
		if (rtr_ctf_event_check(ev, err, sizeof(err))) {
			hlog(h, "process %d (%s): event %s:%s not traced: %s", (int)p->pid,
			     p->procname, ev->provider, ev->name, err);
			continue;
		}
		if (!wanted(h, ev) || p->next_event_id >= MAX_EVENT_ID || !p->bufs)
			continue;
		e->id = p->next_event_id++;
		if (p->chan_ok)
			en[n_en++] = (struct rtr_proto_enable_entry){e->reg_index, CHAN_HANDLE,
								     (uint32_t)e->id};
		else
			e->pending = true;
		vlog(h, "process %d: %s:%s enabled as id %lld", (int)p->pid, ev->provider, ev->name,
		     (long long)e->id);
	}
	r = rtr_proto_enc_register_reply(&h->out, m->hdr.seq, 0, en, n_en);
	free(en);
	if (r == 0 && rtr_proto_send(p->notify, &h->out, NULL, 0, MSG_DONTWAIT))
		proc_disconnect(p, "does not read its notify socket");
	return;
nomem:
	rtr_proto_enc_register_reply(&h->out, m->hdr.seq, -ENOMEM, NULL, 0);
	rtr_proto_send(p->notify, &h->out, NULL, 0, MSG_DONTWAIT);
}

/* Replies to our commands, on the command socket. */
static void handle_replies(struct proc *p)
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
			proc_disconnect(p,
					n == 0 || n == -ECONNRESET ? NULL : "control socket error");
			return;
		}
		if (rtr_proto_parse(h->in, (size_t)n, nfds, &m, err, sizeof(err)) ||
		    m.hdr.type != RTR_MSG_REPLY) {
			rtr_proto_close_fds(fds, nfds);
			hlog(h, "process %d (%s): bad message: %s", (int)p->pid, p->procname,
			     err[0] ? err : "not a reply");
			proc_disconnect(p, "protocol error");
			return;
		}
		switch (m.u.reply.req_type) {
		case RTR_MSG_CHANNEL:
		case RTR_MSG_CHANNEL_BUFFERS:
			if (p->chan_pending)
				p->chan_pending--;
			if (m.u.reply.status && !p->chan_failed) {
				p->chan_failed = true;
				hlog(h, "process %d (%s) could not map its buffers: %s (%s)",
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
				hlog(h, "process %d (%s): %s failed: %s (%s)", (int)p->pid,
				     p->procname, rtr_proto_type_name(m.u.reply.req_type),
				     strerror(-m.u.reply.status), m.u.reply.text);
			break;
		}
	}
}

static void handle_notify(struct proc *p)
{
	struct rtr_host *h = p->h;

	/* Replies first: a REGISTER_EVENTS that follows a channel's last
	 * acknowledgement must see the channel usable. */
	handle_replies(p);
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
			proc_disconnect(p,
					n == 0 || n == -ECONNRESET ? NULL : "notify socket error");
			return;
		}
		if (rtr_proto_parse(h->in, (size_t)n, nfds, &m, err, sizeof(err)) ||
		    m.hdr.type != RTR_MSG_REGISTER_EVENTS) {
			rtr_proto_close_fds(fds, nfds);
			hlog(h, "process %d (%s): bad message: %s", (int)p->pid, p->procname,
			     err[0] ? err : "not REGISTER_EVENTS");
			proc_disconnect(p, "protocol error");
			return;
		}
		handle_register(p, &m);
	}
}

static bool sanitize_name(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	for (; *src && n + 1 < cap; src++) {
		char c = *src;

		dst[n++] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')
			       ? c
			       : '_';
	}
	if (n == 0 || dst[0] == '.')
		dst[n == 0 ? n++ : 0] = '_';
	dst[n] = 0;
	return true;
}

/* Trace directory <procname>-<pid>[-N] in the output directory. */
static int make_proc_dir(struct proc *p)
{
	struct rtr_host *h = p->h;
	char base[32];

	sanitize_name(base, sizeof(base), p->procname);
	for (int i = 0; i < 1000; i++) {
		if (i == 0)
			snprintf(p->dirname, sizeof(p->dirname), "%s-%d", base, (int)p->pid);
		else
			snprintf(p->dirname, sizeof(p->dirname), "%s-%d-%d", base, (int)p->pid, i);
		if (mkdirat(h->cfg.trace_dirfd, p->dirname, 0755) == 0)
			break;
		if (errno != EEXIST)
			return -errno;
	}
	p->dirfd = openat(h->cfg.trace_dirfd, p->dirname, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	return p->dirfd < 0 ? -errno : 0;
}

static int create_channel(struct proc *p, const struct rtr_proto_hello *hello, const char **why)
{
	struct rtr_host *h = p->h;
	struct rtr_ring_geometry geo = {.subbuf_size = h->cfg.subbuf_size,
					.num_subbuf = h->cfg.num_subbuf};
	enum rtr_ring_sync sync = (RTR_HAVE_RSEQ && (hello->caps & RTR_PROTO_CAP_RSEQ))
				      ? RTR_RING_SYNC_RSEQ
				      : RTR_RING_SYNC_ATOMIC;
	int client = rtr_ctf_client_select(
	    RTR_RING_ALLOC_PER_CPU,
	    h->cfg.overwrite ? RTR_RING_MODE_OVERWRITE : RTR_RING_MODE_DISCARD, sync);
	uint64_t per_buf;
	int r;

	if (client < 0) {
		*why = "no ring client for this process";
		return client;
	}
	p->client = (uint32_t)client;
	p->cfg = rtr_ctf_host_config(p->client);
	/* One buffer per CPU the kernel may ever run the process on. The
	 * process's own count is informative only: it runs on this kernel,
	 * and a larger claim must not make us allocate more. */
	p->nr_bufs = h->host_cpus;
	per_buf = geo.subbuf_size * (geo.num_subbuf + (h->cfg.overwrite ? 1 : 0)) + 65536;
	p->mem = per_buf * p->nr_bufs;
	if (h->mem_used + p->mem > h->cfg.mem_budget) {
		*why = "buffer memory budget of the recording exhausted";
		p->mem = 0;
		return -ENOMEM;
	}
	p->bufs = calloc(p->nr_bufs, sizeof(*p->bufs));
	p->streams = calloc(p->nr_bufs, sizeof(*p->streams));
	p->damaged = calloc(p->nr_bufs, sizeof(*p->damaged));
	p->slots = calloc(p->nr_bufs, sizeof(*p->slots));
	p->pending_since = calloc(p->nr_bufs, sizeof(*p->pending_since));
	p->open_sb = calloc(p->nr_bufs, sizeof(*p->open_sb));
	p->open_since = calloc(p->nr_bufs, sizeof(*p->open_since));
	if (!p->bufs || !p->streams || !p->damaged || !p->slots || !p->pending_since ||
	    !p->open_sb || !p->open_since) {
		p->mem = 0;
		return -ENOMEM;
	}
	h->mem_used += p->mem;
	r = make_proc_dir(p);
	if (r) {
		*why = "cannot create the trace directory";
		return r;
	}
	if (getrandom(p->uuid, sizeof(p->uuid), 0) != sizeof(p->uuid)) {
		for (size_t i = 0; i < sizeof(p->uuid); i++)
			p->uuid[i] = (uint8_t)(rand() ^ (p->pid >> (i % 4)));
	}
	p->uuid[6] = (uint8_t)((p->uuid[6] & 0x0f) | 0x40); /* version 4 */
	p->uuid[8] = (uint8_t)((p->uuid[8] & 0x3f) | 0x80);
	for (uint32_t cpu = 0; cpu < p->nr_bufs; cpu++) {
		char name[64], sname[64];
		struct rtr_ctf_stream_priv priv = {
		    .stream_class_id = STREAM_CLASS_ID, .cpu_id = cpu, .stream_instance_id = cpu};

		snprintf(name, sizeof(name), "ringtrace:%d:%s:%u", (int)p->pid, CHAN_NAME, cpu);
		r = rtr_ring_buf_create(p->cfg, &geo, cpu, name, &p->bufs[cpu]);
		if (r) {
			*why = "cannot create a buffer";
			return r;
		}
		memcpy(priv.trace_uuid, p->uuid, 16);
		snprintf(sname, sizeof(sname), "%s_%u", CHAN_NAME, cpu);
		p->streams[cpu] =
		    rtr_ctf_stream_create(p->dirfd, sname, p->cfg, p->bufs[cpu], &priv);
		if (!p->streams[cpu]) {
			*why = "cannot create a stream";
			return -errno;
		}
	}
	p->wake_fd = -1;
	if (!h->cfg.overwrite && (hello->caps & RTR_PROTO_CAP_WAKEUP)) {
		p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (p->wake_fd < 0) {
			*why = "eventfd";
			return -errno;
		}
		watch_add(h, &p->w_wake, RTR_WATCH_WAKE, p, p->wake_fd);
	}
	return 0;
}

/* Sends SESSION, CHANNEL, its buffers, START, READY (pipelined: the
 * process answers each in order). */
static int configure(struct proc *p)
{
	struct rtr_host *h = p->h;
	struct rtr_proto_session s = {.session_id = SESSION_ID,
				      .clock_source = (uint32_t)h->cfg.clock_source,
				      .name = "record"};
	struct rtr_proto_channel c = {.session_id = SESSION_ID,
				      .chan_handle = CHAN_HANDLE,
				      .client_id = p->client,
				      .nr_bufs = p->nr_bufs,
				      .flags = p->wake_fd >= 0 ? RTR_PROTO_CHANNEL_WAKEUP : 0,
				      .num_subbuf = h->cfg.num_subbuf,
				      .subbuf_size = h->cfg.subbuf_size,
				      .name = CHAN_NAME};
	int r;

	if ((r = rtr_proto_enc_session(&h->out, ++p->seq, &s)) || (r = proc_send(p, NULL, 0)))
		return r;
	if ((r = rtr_proto_enc_channel(&h->out, ++p->seq, &c)) ||
	    (r = proc_send(p, &p->wake_fd, p->wake_fd >= 0 ? 1 : 0)))
		return r;
	p->chan_pending = 1;
	for (uint32_t first = 0; first < p->nr_bufs; first += RTR_PROTO_MAX_BUFS_PER_MSG) {
		struct rtr_proto_channel_buffers b = {.chan_handle = CHAN_HANDLE, .first = first};
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
	if ((r = rtr_proto_enc_ref(&h->out, RTR_MSG_START, ++p->seq, SESSION_ID)) ||
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

static void handle_hello(struct proc *p)
{
	struct rtr_host *h = p->h;
	int fds[RTR_PROTO_MAX_FDS];
	struct rtr_proto_msg m;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	const char *why = "";
	unsigned nfds;
	char err[256];
	ssize_t n;
	int r;

	n = rtr_proto_recv(p->cmd, h->in, sizeof(h->in), fds, &nfds, MSG_DONTWAIT);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		proc_disconnect(p, NULL);
		return;
	}
	r = rtr_proto_parse(h->in, (size_t)n, nfds, &m, err, sizeof(err));
	if (r || m.hdr.type != RTR_MSG_HELLO) {
		rtr_proto_close_fds(fds, nfds);
		if (h->t.bad_conns++ < 5)
			hlog(h, "refused a connection: %s%s", r ? err : "expected HELLO",
			     h->t.bad_conns == 5 ? " (further ones are only counted)" : "");
		send_reply(p, p->cmd, m.hdr.seq, RTR_MSG_HELLO, r ? r : -EPROTO, "expected HELLO");
		proc_disconnect(p, NULL);
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
		for (struct proc *o = h->procs; o; o = o->next)
			if (o != p && o->pid == p->pid && o->state != P_DONE &&
			    o->state != P_HELLO) {
				o->exited = true;
				proc_finish(o, true);
			}
		p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
		if (p->pidfd < 0) {
			why = "pidfd_open";
			r = -errno;
		}
	}
	if (r == 0) {
		h->nr_live++;
		p->state = P_ACTIVE;
		h->nr_pending--;
		r = create_channel(p, &m.u.hello, &why);
	}
	if (r) {
		hlog(h, "process %d (%s) not traced: %s", (int)p->pid, p->procname, why);
		h->t.refused++;
		send_reply(p, p->cmd, m.hdr.seq, RTR_MSG_HELLO, r, why);
		if (p->state == P_ACTIVE) {
			/* Undo what create_channel built: nothing was shared. */
			p->exited = true;
			proc_finish(p, true);
		} else {
			proc_disconnect(p, NULL);
		}
		return;
	}
	watch_add(h, &p->w_notify, RTR_WATCH_NOTIFY, p, p->notify);
	watch_add(h, &p->w_pid, RTR_WATCH_PIDFD, p, p->pidfd);
	vlog(h, "process %d (%s) registered%s, %u buffers, client %u", (int)p->pid, p->procname,
	     (m.u.hello.flags & RTR_PROTO_HELLO_FORKED) ? " (fork child)" : "", p->nr_bufs,
	     p->client);
	if (send_reply(p, p->cmd, m.hdr.seq, RTR_MSG_HELLO, 0, "") || configure(p)) {
		if (p->cmd >= 0)
			proc_disconnect(p, "could not configure it");
	}
}

static void accept_all(struct rtr_host *h)
{
	for (int k = 0; k < 64; k++) {
		int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct proc *p;

		if (fd < 0)
			return;
		if (h->nr_pending >= MAX_PENDING) {
			close(fd); /* a flood of silent connections */
			continue;
		}
		p = calloc(1, sizeof(*p));
		if (!p) {
			close(fd);
			return;
		}
		p->h = h;
		p->state = P_HELLO;
		p->cmd = fd;
		p->notify = p->pidfd = p->wake_fd = p->dirfd = -1;
		p->hello_deadline = now_ns() + HELLO_TIMEOUT_NS;
		p->created = time(NULL);
		h->nr_pending++;
		rtr_proto_arena_init(&p->arena, 0, 0);
		p->next = h->procs;
		h->procs = p;
		watch_add(h, &p->w_cmd, RTR_WATCH_CMD, p, fd);
	}
}

/* ------------------------------------------------------------------------
 * Event dispatch
 * ------------------------------------------------------------------------ */

void rtr_host_event(struct rtr_host *h, struct rtr_watch *w, uint32_t events)
{
	struct proc *p = w->obj;

	(void)events;
	switch (w->kind) {
	case RTR_WATCH_LISTEN:
		accept_all(h);
		break;
	case RTR_WATCH_CMD:
		if (p->state == P_HELLO)
			handle_hello(p);
		else
			handle_replies(p);
		break;
	case RTR_WATCH_NOTIFY:
		handle_notify(p);
		break;
	case RTR_WATCH_PIDFD:
		p->exited = true;
		/* Read what is left on the sockets first (late replies). */
		if (p->cmd >= 0)
			handle_notify(p);
		proc_finish(p, true);
		break;
	case RTR_WATCH_WAKE: {
		uint64_t v;

		if (read(p->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
			/* nothing */
		}
		drain_proc(p, 2, false);
		break;
	}
	case RTR_WATCH_DRAIN: {
		uint64_t v;

		if (read(h->drain_fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
			/* nothing */
		}
		for (struct proc *q = h->procs; q; q = q->next)
			if (q->npending && (q->state == P_ACTIVE || q->state == P_DISCONNECTED))
				drain_proc(q, 2, false);
		break;
	}
	default:
		break;
	}
}

static void proc_free(struct proc *p)
{
	if (p->dirfd >= 0)
		close(p->dirfd);
	free(p->bufs);
	free(p->streams);
	free(p->damaged);
	if (p->slots)
		for (uint32_t cpu = 0; cpu < p->nr_bufs; cpu++)
			rtr_drain_slot_release(p->slots[cpu]);
	free(p->slots);
	free(p->pending_since);
	free(p->open_sb);
	free(p->open_since);
	free(p->evs);
	p->h->desc_bytes -= p->arena.bytes;
	rtr_proto_arena_free(&p->arena);
	free(p);
}

/*
 * The switch timer: a buffer whose open sub-buffer has held records for
 * FLUSH_AGE_NS (a thread that traces slowly, or moved to another CPU) gets
 * it closed, so that those records reach the disk too instead of waiting
 * for the sub-buffer to fill or the process to end. Positions come from
 * shared memory: a wrong reading only flushes early or late.
 */
static void flush_stale(struct proc *p, uint64_t now)
{
	for (uint32_t cpu = 0; cpu < p->nr_bufs; cpu++) {
		struct rtr_ring_buf *b = p->bufs ? p->bufs[cpu] : NULL;
		struct rtr_ring_stats st;
		uint64_t in_sb;
		int r;

		if (!b || p->damaged[cpu] || !p->streams[cpu])
			continue;
		rtr_ring_buf_stats(b, &st);
		in_sb = st.produced & (b->sb_size - 1);
		if (in_sb <= p->cfg->subbuf_header_size) {
			p->open_sb[cpu] = 0; /* nothing in it (yet) */
			continue;
		}
		if (p->open_sb[cpu] != (st.produced >> b->sb_order) + 1) {
			p->open_sb[cpu] = (st.produced >> b->sb_order) + 1;
			p->open_since[cpu] = now;
			continue;
		}
		if (now - p->open_since[cpu] < FLUSH_AGE_NS)
			continue;
		r = rtr_ring_flush(p->cfg, b, RTR_RING_FLUSH_ACTIVE, false);
		if (r == -EIO)
			report_damage(p, cpu, rtr_ring_buf_error(b));
		else if (r == 0)
			p->open_sb[cpu] = 0;
		/* -EAGAIN: its CPU was not available; next tick */
	}
}

void rtr_host_tick(struct rtr_host *h)
{
	uint64_t now = now_ns();

	/* Connections that never became a trace (refused, silent, garbage)
	 * are forgotten, so that a flood of them costs no memory. */
	for (struct proc **pp = &h->procs; *pp;) {
		struct proc *p = *pp;

		if (p->state == P_DONE && p->dirfd < 0 && p->cmd < 0 && p->notify < 0 &&
		    p->pidfd < 0 && p->wake_fd < 0) {
			*pp = p->next;
			proc_free(p);
		} else {
			pp = &p->next;
		}
	}

	for (struct proc *p = h->procs; p; p = p->next) {
		if (p->state == P_HELLO && p->cmd >= 0 && now > p->hello_deadline) {
			hlog(h, "a connection sent no HELLO in time; closed");
			proc_disconnect(p, NULL);
		} else if ((p->state == P_ACTIVE || p->state == P_DISCONNECTED) &&
			   !h->cfg.overwrite) {
			flush_stale(p, now);
			drain_proc(p, 2, false);
		}
	}
}

unsigned rtr_host_active(const struct rtr_host *h)
{
	unsigned n = 0;

	for (const struct proc *p = h->procs; p; p = p->next)
		if (p->state == P_ACTIVE || (p->state == P_HELLO && p->cmd >= 0))
			n++;
	return n;
}

void rtr_host_process_exited(struct rtr_host *h, pid_t pid)
{
	for (struct proc *p = h->procs; p; p = p->next)
		if (p->pid == pid && (p->state == P_ACTIVE || p->state == P_DISCONNECTED)) {
			p->exited = true;
			if (p->cmd >= 0)
				handle_notify(p);
			proc_finish(p, true);
		}
}

/* ------------------------------------------------------------------------
 * The end
 * ------------------------------------------------------------------------ */

static bool pidfd_exited(int fd)
{
	struct pollfd pf = {.fd = fd, .events = POLLIN};

	return fd >= 0 && poll(&pf, 1, 0) > 0;
}

/* Stops every process still registered: STOP to each (in parallel), then
 * wait up to STOP_TIMEOUT_NS for the answers, serving their requests
 * meanwhile (a process may be waiting for a REGISTER_REPLY). */
static void stop_all(struct rtr_host *h)
{
	uint64_t deadline = now_ns() + STOP_TIMEOUT_NS;
	bool waiting = false;

	for (struct proc *p = h->procs; p; p = p->next) {
		if (p->state != P_ACTIVE || p->cmd < 0)
			continue;
		if (rtr_proto_enc_ref(&h->out, RTR_MSG_STOP, ++p->seq, SESSION_ID) == 0 &&
		    proc_send(p, NULL, 0) == 0) {
			p->stop_sent = true;
			waiting = true;
		}
	}
	while (waiting && now_ns() < deadline) {
		struct epoll_event ev[16];
		int n = epoll_wait(h->epfd, ev, 16, 50);

		for (int i = 0; i < n; i++) {
			struct rtr_watch *w = ev[i].data.ptr;

			if (w->kind != RTR_WATCH_OTHER)
				rtr_host_event(h, w, ev[i].events);
		}
		waiting = false;
		for (struct proc *p = h->procs; p; p = p->next)
			if (p->state == P_ACTIVE && p->stop_sent && !p->stop_acked && p->cmd >= 0)
				waiting = true;
	}
}

static int write_metadata(struct rtr_host *h, struct proc *p, const struct rtr_clock_meta *clock,
			  const struct rtr_clock_sync *pts, size_t npts)
{
	struct rtr_ctf_std_env env = {.procname = p->procname,
				      .vpid = p->pid,
				      .creation_time = p->created,
				      .trace_name = p->dirname};
	struct rtr_ctf_meta *m = rtr_ctf_meta_create(p->uuid, RTR_CTF_BYTE_ORDER_HOST);
	int r;

	if (!m)
		return -ENOMEM;
	r = rtr_ctf_meta_set_clock(m, &clock->desc);
	if (!r)
		r = rtr_ctf_meta_env_std(m, &env);
	if (!r)
		r = rtr_ctf_meta_env_clock(m, clock);
	if (!r && npts)
		r = rtr_ctf_meta_env_sync_list(m, pts, npts);
	if (!r)
		r = rtr_ctf_meta_add_stream(m, STREAM_CLASS_ID, CHAN_NAME);
	for (uint32_t i = 0; !r && i < p->nr_evs; i++) {
		if (p->evs[i].id < 0)
			continue;
		if (rtr_ctf_meta_add_event(m, (uint32_t)p->evs[i].id, STREAM_CLASS_ID,
					   p->evs[i].desc))
			hlog(h, "process %d (%s): event %s:%s left out of the metadata: %s",
			     (int)p->pid, p->procname, p->evs[i].desc->provider,
			     p->evs[i].desc->name, rtr_ctf_meta_error(m));
	}
	if (!r)
		r = rtr_ctf_meta_write(m, p->dirfd, "metadata");
	if (r)
		hlog(h, "cannot write the metadata of %s/%s: %s (%s)", h->cfg.trace_dir, p->dirname,
		     strerror(-r), rtr_ctf_meta_error(m));
	rtr_ctf_meta_destroy(m);
	return r;
}

/* Removes a process's directory when it holds no stream (no event was
 * ever recorded): an empty CTF trace only makes readers complain. */
static bool remove_if_empty(struct rtr_host *h, struct proc *p)
{
	if (p->t.packets)
		return false;
	unlinkat(p->dirfd, "index", AT_REMOVEDIR);
	close(p->dirfd);
	p->dirfd = -1;
	unlinkat(h->cfg.trace_dirfd, p->dirname, AT_REMOVEDIR);
	return true;
}

void rtr_host_checkpoint(struct rtr_host *h, const struct rtr_clock_meta *clock,
			 const struct rtr_clock_sync *pts, size_t npts)
{
	/* Only traces that already hold packets: an empty directory is
	 * removed at the end, which a metadata file would prevent. */
	for (struct proc *p = h->procs; p; p = p->next) {
		uint64_t packets = 0;

		if (p->dirfd < 0 || (p->state != P_ACTIVE && p->state != P_DISCONNECTED))
			continue;
		for (uint32_t cpu = 0; p->streams && cpu < p->nr_bufs; cpu++)
			if (p->streams[cpu]) {
				struct rtr_ctf_stream_stats ss;

				rtr_ctf_stream_stats(p->streams[cpu], &ss);
				packets += ss.packets;
			}
		if (packets)
			write_metadata(h, p, clock, pts, npts);
	}
}

static void stop_drainer(struct rtr_host *h);

int rtr_host_finish(struct rtr_host *h, const struct rtr_clock_meta *clock,
		    const struct rtr_clock_sync *pts, size_t npts)
{
	int ret = 0;

	watch_del_close(h, &h->listen_fd);
	unlink(h->sock_path);
	for (struct proc *p = h->procs; p; p = p->next)
		if ((p->state == P_ACTIVE || p->state == P_DISCONNECTED) &&
		    (p->exited || pidfd_exited(p->pidfd))) {
			p->exited = true;
			if (p->cmd >= 0)
				handle_notify(p);
			proc_finish(p, true);
		}
	stop_all(h);
	for (struct proc *p = h->procs; p; p = p->next) {
		if (p->state == P_HELLO) {
			proc_disconnect(p, NULL);
			continue;
		}
		if (p->state == P_ACTIVE || p->state == P_DISCONNECTED) {
			bool gone = p->exited || pidfd_exited(p->pidfd);

			if (!gone)
				vlog(h, "process %d (%s) still runs; its recording stops here",
				     (int)p->pid, p->procname);
			proc_finish(p, gone);
		}
	}
	for (struct proc *p = h->procs; p; p = p->next) {
		if (p->dirfd < 0)
			continue;
		h->t.events += p->t.events;
		h->t.lost += p->t.lost;
		h->t.overwritten += p->t.overwritten;
		h->t.packets += p->t.packets;
		h->t.bytes += p->t.bytes;
		h->t.salvaged += p->t.salvaged;
		h->t.torn_bytes += p->t.torn_bytes;
		if (remove_if_empty(h, p))
			continue;
		if (write_metadata(h, p, clock, pts, npts))
			ret = -EIO;
		else
			h->t.procs++;
	}
	stop_drainer(h);
	return ret;
}

void rtr_host_totals(const struct rtr_host *h, struct rtr_host_totals *t)
{
	*t = h->t;
}

static void stop_drainer(struct rtr_host *h)
{
	struct rtr_drainer_stats st;

	if (!h->drainer)
		return;
	rtr_drainer_stats(h->drainer, &st);
	h->t.bg_packets = st.done;
	h->t.taken_back = st.taken;
	if (st.priority_err)
		vlog(h, "drain thread: SCHED_IDLE refused (%s); it ran at nice 19",
		     strerror(st.priority_err));
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, h->drain_fd, NULL);
	rtr_drainer_stop(h->drainer);
	h->drainer = NULL;
	h->drain_fd = -1;
}

void rtr_host_destroy(struct rtr_host *h)
{
	struct proc *p, *n;

	if (!h)
		return;
	for (p = h->procs; p; p = n) {
		n = p->next;
		if (p->state != P_DONE && p->state != P_HELLO) {
			p->exited = true;
			proc_finish(p, true);
		}
		proc_release_fds(p);
		proc_free(p);
	}
	if (h->listen_fd >= 0) {
		watch_del_close(h, &h->listen_fd);
		unlink(h->sock_path);
	}
	stop_drainer(h);
	free(h);
}
