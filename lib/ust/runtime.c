/* ringtrace in-process runtime: registration with a session host, the
 * control thread, buffer mapping and event binding, fork handling.
 * Design: docs/design/runtime.md; wire protocol: docs/design/protocol.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <unistd.h>

#include <ringtrace/clock.h>
#include <ringtrace/ctf.h>
#include <ringtrace/event.h>
#include <ringtrace/ring.h>

#include "counters.h"
#include "ctf-writer.h"
#include "proto.h"
#include "registry.h"
#include "runtime.h"

#ifndef RTR_VERSION_STRING
#define RTR_VERSION_STRING "0.1.0"
#endif

/* ------------------------------------------------------------------------
 * State. Lock order: registry lock, then rt_lock. Everything below is
 * protected by rt_lock unless said otherwise.
 * ------------------------------------------------------------------------ */

/* A descriptor of ours and what it was when we got it (see fd_still_ours). */
struct fd_id {
	int fd;
	dev_t dev;
	ino_t ino;
	long long efd_id; /* eventfds: all share one inode; fdinfo has an id */
};

struct rt_session {
	struct rt_session *next;
	uint64_t id;
	int clock_source;
	bool active;
};

struct rt_channel {
	struct rt_channel *next;
	uint64_t session_id;
	uint32_t handle;
	uint32_t client;
	const struct rtr_ring_config *cfg;
	struct rtr_ring_chan *chan; /* never freed: probes may hold it (see retire) */
	uint32_t nr_bufs;
	uint32_t nr_mapped;
	int wake_fd;
	struct fd_id wake_id;
	bool ready;
	uint32_t counters; /* RTR_CTF_COUNTER_* mask: the event context (counters.c) */
};

struct rt_enable {
	uint32_t reg_index, chan_handle, event_id;
};

static pthread_mutex_t rt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rt_session *sessions;
static struct rt_channel *channels;
static struct rt_channel *retired_channels; /* closed; see retire_channel() */
static struct rt_enable *enables;
static uint32_t nr_enables, cap_enables;

/* The connection to the session host. cmd is read only by whoever serves
 * commands (the constructor during the handshake, then the control
 * thread); notify is used only with the registry lock held. */
static struct {
	int cmd;
	int notify;
	struct fd_id cmd_id, notify_id;
	bool up;	    /* handshake done, REGISTER_EVENTS may be sent */
	bool notify_broken; /* a REGISTER_EVENTS got no answer: stop asking */
	uint32_t notify_seq;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} conn = {.cmd = -1, .notify = -1};

static bool verbose;
static unsigned int timeout_ms = 3000;
static __thread sigset_t fork_saved_mask;
static __thread int fork_saved_errno;

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stderr, written in one call so lines of several processes
 * do not interleave. Never fails visibly. */
static void logmsg(const char *fmt, ...)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "ringtrace[%d]: ", (int)getpid());
	va_list ap;

	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nothing to do */
	}
}

#define debug(...)                                                                                 \
	do {                                                                                       \
		if (verbose)                                                                       \
			logmsg(__VA_ARGS__);                                                       \
	} while (0)

/* ------------------------------------------------------------------------
 * Descriptors the program might close under us
 *
 * A daemon may close every descriptor it did not open (a close-all loop,
 * close_range) and then reuse the numbers. The runtime must then neither
 * close nor write into what the numbers now mean. So its descriptors live
 * at high numbers (new descriptors take the lowest free one), each one's
 * identity is remembered, the control thread checks them every second, and
 * nothing is closed that is not still ours. See docs/design/runtime.md §7.
 * ------------------------------------------------------------------------ */

/* /proc/self/fdinfo/N "eventfd-id:", or -1 (not an eventfd, or a kernel
 * without the field). */
static long long eventfd_id(int fd)
{
	char path[64], line[128];
	long long id = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "eventfd-id: %lld", &id) == 1)
			break;
	fclose(f);
	return id;
}

static void fd_remember(struct fd_id *f, int fd, bool is_eventfd)
{
	struct stat st;

	f->fd = fd;
	f->dev = 0;
	f->ino = 0;
	f->efd_id = -1;
	if (fd >= 0 && fstat(fd, &st) == 0) {
		f->dev = st.st_dev;
		f->ino = st.st_ino;
	}
	if (fd >= 0 && is_eventfd)
		f->efd_id = eventfd_id(fd);
}

static bool fd_still_ours(const struct fd_id *f)
{
	struct stat st;

	if (f->fd < 0 || fstat(f->fd, &st) != 0 || st.st_dev != f->dev || st.st_ino != f->ino)
		return false;
	return f->efd_id < 0 || eventfd_id(f->fd) == f->efd_id;
}

/* Closes f's descriptor only if it is still the one we opened. */
static void fd_close(struct fd_id *f)
{
	if (f->fd >= 0 && fd_still_ours(f))
		close(f->fd);
	f->fd = -1;
}

/* Moves fd to a high number (close-on-exec); returns the new descriptor,
 * or fd itself when that is not possible. */
static int fd_move_high(int fd)
{
	struct rlimit rl;
	long base = 512;
	int n;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		long cur = rl.rlim_cur > 4096 ? 4096 : (long)rl.rlim_cur;

		base = cur > 256 ? cur - 128 : cur / 2;
	}
	if (base <= fd)
		return fd;
	n = fcntl(fd, F_DUPFD_CLOEXEC, (int)base);
	if (n < 0)
		return fd;
	close(fd);
	return n;
}

/* ------------------------------------------------------------------------
 * Sessions, channels, bindings (rt_lock held; registry lock too where a
 * function binds or unbinds)
 * ------------------------------------------------------------------------ */

static struct rt_session *find_session(uint64_t id)
{
	for (struct rt_session *s = sessions; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static struct rt_channel *find_channel(uint32_t handle)
{
	for (struct rt_channel *c = channels; c; c = c->next)
		if (c->handle == handle)
			return c;
	return NULL;
}

/*
 * A channel goes away while probes on other threads may still be writing
 * into it (they loaded a binding set before the unbind and are somewhere
 * between reserve and commit). Its buffer mappings are therefore never
 * unmapped: each is replaced, at the same address, by private anonymous
 * memory, so a late writer scribbles into pages nobody reads; the
 * rtr_ring_chan / rtr_ring_buf structures are never freed. The wakeup
 * eventfd stays open for the same reason (a late writer may still signal
 * it; closing it could make that write hit a reused descriptor). The cost
 * is address space (no memory until touched) and one descriptor per
 * channel ever closed. `late_writers` false (fork child: single thread, no
 * probe in flight) closes the eventfd too.
 */
static void retire_channel(struct rt_channel *c, bool late_writers)
{
	if (c->chan) {
		atomic_store_explicit(&c->chan->disabled, 1, memory_order_relaxed);
		for (uint32_t i = 0; i < c->chan->nr_bufs; i++) {
			struct rtr_ring_buf *b = c->chan->bufs[i];

			if (!b || !b->ctl)
				continue;
			if (mmap(b->ctl, b->map_size, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
				/* Cannot replace: keep the shared mapping alive
				 * (the memfd stays referenced by it). */
			}
			if (b->fd >= 0) {
				close(b->fd);
				b->fd = -1;
			}
		}
	}
	if (c->wake_fd >= 0 && !late_writers) {
		fd_close(&c->wake_id);
		c->wake_fd = -1;
		if (c->chan)
			for (uint32_t i = 0; i < c->chan->nr_bufs; i++)
				if (c->chan->bufs[i])
					c->chan->bufs[i]->wake_fd = -1;
	}
}

static void remove_enables_of(uint32_t handle)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < nr_enables; i++)
		if (enables[i].chan_handle != handle)
			enables[k++] = enables[i];
	nr_enables = k;
}

/* Unbinds and retires a channel and forgets it (registry lock + rt_lock). */
static void close_channel_locked(struct rt_channel *c, bool late_writers)
{
	struct rt_channel **pp;

	if (c->chan)
		rtr__registry_unbind_chan_locked(c->chan);
	remove_enables_of(c->handle);
	retire_channel(c, late_writers);
	for (pp = &channels; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	/* Never freed: its chan is still referenced by retired binding sets.
	 * Kept on a list so that leak checkers see it reachable. */
	c->next = retired_channels;
	retired_channels = c;
}

static int bind_one(const struct rt_enable *e)
{
	struct rt_channel *c = find_channel(e->chan_handle);
	struct rtr_event_binding b;
	int r;

	if (!c || !c->ready)
		return -EBADF;
	b.chan = c->chan;
	b.event_id = e->event_id;
	b.client = c->client;
	b.client_priv = NULL;
	if (c->counters) {
		/* counter context: out of line (the inlined fast path of the
		 * channels without it stays as it is) */
		b.client_priv = (void *)rtr__context_src(c->counters);
		if (b.client_priv)
			b.client |= RTR_CTF_CLIENT_CTX;
	}
	r = rtr__registry_bind_locked(e->reg_index, &b);
	return r == -EEXIST ? 0 : r;
}

/* Records an enable and binds it if its session records (both locks).
 * Returns 0, -EBADF (unknown or incomplete channel), -ENOENT (unknown
 * event), -ENOMEM. */
static int apply_enable(const struct rtr_proto_enable_entry *in)
{
	struct rt_enable e = {in->reg_index, in->chan_handle, in->event_id};
	struct rt_channel *c = find_channel(e.chan_handle);
	struct rt_session *s;
	bool known = false;

	if (!c || !c->ready)
		return -EBADF;
	if (!rtr__registry_event_locked(e.reg_index))
		return -ENOENT;
	for (uint32_t i = 0; i < nr_enables; i++)
		if (enables[i].reg_index == e.reg_index &&
		    enables[i].chan_handle == e.chan_handle) {
			if (enables[i].event_id != e.event_id)
				return -EEXIST; /* one id per event and channel */
			known = true;
		}
	if (!known) {
		if (nr_enables == cap_enables) {
			uint32_t cap = cap_enables ? cap_enables * 2 : 64;
			struct rt_enable *n = realloc(enables, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			enables = n;
			cap_enables = cap;
		}
		enables[nr_enables++] = e;
	}
	s = find_session(c->session_id);
	if (s && s->active)
		return bind_one(&e);
	return 0;
}

/* Forgets every session and channel (both locks). */
static void drop_all_locked(bool late_writers)
{
	rtr__registry_unbind_all_locked();
	while (channels)
		close_channel_locked(channels, late_writers);
	while (sessions) {
		struct rt_session *s = sessions;

		sessions = s->next;
		free(s);
	}
	nr_enables = 0;
}

/* ------------------------------------------------------------------------
 * Command handlers (called by serve_one with no lock held; each returns the
 * status to reply with and may set a text)
 * ------------------------------------------------------------------------ */

static int do_session(const struct rtr_proto_session *m, const char **why)
{
	struct rt_session *s;
	int r;

	pthread_mutex_lock(&rt_lock);
	if (find_session(m->session_id)) {
		*why = "session id already in use";
		r = -EEXIST;
		goto out;
	}
	for (s = sessions; s; s = s->next)
		if (s->clock_source != (int)m->clock_source) {
			*why = "another session uses another clock source";
			r = -EBUSY;
			goto out;
		}
	r = rtr_clock_set_source((int)m->clock_source);
	if (r) {
		*why = "clock source not available in this process";
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		r = -ENOMEM;
		goto out;
	}
	s->id = m->session_id;
	s->clock_source = (int)m->clock_source;
	s->next = sessions;
	sessions = s;
	r = 0;
out:
	pthread_mutex_unlock(&rt_lock);
	return r;
}

/* /proc/self/fd/N must name an eventfd: a write to anything else (a pipe
 * with no reader) could raise SIGPIPE in a traced thread. */
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

/* *wake_fdp: the eventfd that came with the message, or -1; it may be
 * moved to another number (updated); on success the channel owns it and
 * *wake_fdp is set to -1. */
static int do_channel(const struct rtr_proto_channel *m, int *wake_fdp, const char **why)
{
	int wake_fd = *wake_fdp;
	const struct rtr_ring_config *cfg = rtr_ctf_host_config(m->client_id);
	struct rt_channel *c;
	int r = 0;

	if (!cfg) {
		*why = "unknown ring client";
		return -EINVAL;
	}
	if (cfg->sync == RTR_RING_SYNC_RSEQ && !(RTR_HAVE_RSEQ && rtr_rseq_registered())) {
		*why = "rseq client for a process without rseq registration";
		return -ENOTSUP;
	}
	if (cfg->alloc == RTR_RING_ALLOC_GLOBAL && m->nr_bufs != 1) {
		*why = "a global channel has exactly one buffer";
		return -EINVAL;
	}
	if (wake_fd >= 0) {
		int fl = fcntl(wake_fd, F_GETFL);

		if (!is_eventfd(wake_fd) || fl < 0) {
			*why = "wakeup descriptor is not an eventfd";
			return -EINVAL;
		}
		/* Writers must never block on it. */
		if (!(fl & O_NONBLOCK) && fcntl(wake_fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
		wake_fd = *wake_fdp = fd_move_high(wake_fd);
	}
	pthread_mutex_lock(&rt_lock);
	if (!find_session(m->session_id)) {
		*why = "no such session";
		r = -ENOENT;
	} else if (find_channel(m->chan_handle)) {
		*why = "channel handle already in use";
		r = -EEXIST;
	} else if (!(c = calloc(1, sizeof(*c))) || !(c->chan = rtr_ring_chan_alloc(m->nr_bufs))) {
		free(c);
		r = -ENOMEM;
	} else {
		c->session_id = m->session_id;
		c->handle = m->chan_handle;
		c->client = m->client_id;
		c->counters = (m->flags & RTR_PROTO_CHANNEL_COUNTERS_MASK) >>
			      RTR_PROTO_CHANNEL_COUNTERS_SHIFT;
		c->cfg = cfg;
		c->nr_bufs = m->nr_bufs;
		c->wake_fd = wake_fd;
		fd_remember(&c->wake_id, wake_fd, true);
		*wake_fdp = -1;
		c->next = channels;
		channels = c;
	}
	pthread_mutex_unlock(&rt_lock);
	return r;
}

static void prefault(void *addr, size_t len)
{
#ifdef MADV_POPULATE_WRITE
	if (madvise(addr, len, MADV_POPULATE_WRITE) == 0)
		return;
#endif
	/* Older kernels: read one byte per page (a shared memfd mapping is
	 * mapped writable by a read fault: no dirty accounting on shmem). */
	for (size_t off = 0; off < len; off += 4096)
		(void)*(volatile const char *)((const char *)addr + off);
}

/* Maps fd as buffer `cpu` of c. *consumed tells whether fd was closed (it
 * was, on success and when a mapped buffer had to be destroyed again). */
static int map_one(struct rt_channel *c, uint32_t cpu, int fd, bool *consumed, const char **why)
{
	struct rtr_ring_buf *b;
	int seals = fcntl(fd, F_GET_SEALS);
	int r;

	*consumed = false;
	/* A buffer that could shrink under our mapping would turn a probe's
	 * store into SIGBUS: only sealed memfds are accepted. */
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		*why = "buffer is not a memfd sealed against shrinking";
		return -EPERM;
	}
	r = rtr_ring_buf_map(c->cfg, fd, &b);
	if (r) {
		*why = "buffer refused (wrong client, ABI or geometry)";
		return r;
	}
	*consumed = true; /* the mapping owns fd now */
	if (b->cpu != cpu) {
		rtr_ring_buf_destroy(b);
		*why = "buffer index does not match its position";
		return -EPROTO;
	}
	/* Map every page now, while registering: a first-touch fault costs
	 * microseconds, and probes would otherwise take one per page of the
	 * buffer (the host allocated the pages already; this only maps them). */
	prefault(b->ctl, b->map_size);
	/* The mapping keeps the memory; the descriptor is not needed. */
	close(b->fd);
	b->fd = -1;
	b->wake_fd = c->wake_fd;
	c->chan->bufs[cpu] = b;
	return 0;
}

static int do_buffers(const struct rtr_proto_channel_buffers *m, int *fds, const char **why)
{
	struct rt_channel *c;
	uint32_t i = 0;
	int r = 0;

	pthread_mutex_lock(&rt_lock);
	c = find_channel(m->chan_handle);
	if (!c) {
		*why = "no such channel";
		r = -ENOENT;
	} else if (c->ready || m->first != c->nr_mapped || m->count > c->nr_bufs - m->first) {
		*why = "buffers out of sequence";
		r = -EPROTO;
	}
	for (; r == 0 && i < m->count; i++) {
		bool consumed;

		r = map_one(c, m->first + i, fds[i], &consumed, why);
		if (consumed)
			fds[i] = -1;
		if (r == 0)
			c->nr_mapped++;
	}
	if (r == 0 && c->nr_mapped == c->nr_bufs)
		c->ready = true;
	pthread_mutex_unlock(&rt_lock);
	return r;
}

static int do_enable(const struct rtr_proto_enables *m, const char **why)
{
	int first_err = 0;
	uint32_t bad = 0;

	rtr__registry_lock();
	pthread_mutex_lock(&rt_lock);
	for (uint32_t i = 0; i < m->count; i++) {
		struct rtr_proto_enable_entry e;
		int r;

		rtr_proto_enable_get(m, i, &e);
		r = apply_enable(&e);
		/* An event unregistered meanwhile (dlclose) is not an error. */
		if (r && r != -ENOENT) {
			bad++;
			if (!first_err)
				first_err = r;
		}
	}
	pthread_mutex_unlock(&rt_lock);
	rtr__registry_unlock();
	if (bad)
		*why = "some events could not be enabled";
	return first_err;
}

static int do_start_stop(uint64_t session_id, bool start, const char **why)
{
	struct rt_session *s;
	int r = 0;

	rtr__registry_lock();
	pthread_mutex_lock(&rt_lock);
	s = find_session(session_id);
	if (!s) {
		*why = "no such session";
		r = -ENOENT;
	} else if (start && !s->active) {
		s->active = true;
		for (uint32_t i = 0; i < nr_enables; i++) {
			struct rt_channel *c = find_channel(enables[i].chan_handle);
			int e;

			if (!c || c->session_id != session_id)
				continue;
			e = bind_one(&enables[i]);
			if (e && e != -ENOENT && !r)
				r = e;
		}
	} else if (!start && s->active) {
		s->active = false;
		for (struct rt_channel *c = channels; c; c = c->next)
			if (c->session_id == session_id && c->chan)
				rtr__registry_unbind_chan_locked(c->chan);
	}
	pthread_mutex_unlock(&rt_lock);
	rtr__registry_unlock();
	return r;
}

static int do_close_channel(uint32_t handle, const char **why)
{
	struct rt_channel *c;
	int r = 0;

	rtr__registry_lock();
	pthread_mutex_lock(&rt_lock);
	c = find_channel(handle);
	if (c)
		close_channel_locked(c, true);
	else {
		*why = "no such channel";
		r = -ENOENT;
	}
	pthread_mutex_unlock(&rt_lock);
	rtr__registry_unlock();
	return r;
}

static int do_close_session(uint64_t id, const char **why)
{
	struct rt_session **pp, *s = NULL;
	int r = 0;

	rtr__registry_lock();
	pthread_mutex_lock(&rt_lock);
	for (pp = &sessions; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			s = *pp;
			*pp = s->next;
			break;
		}
	if (!s) {
		*why = "no such session";
		r = -ENOENT;
	} else {
		struct rt_channel *c = channels, *next;

		for (; c; c = next) {
			next = c->next;
			if (c->session_id == id)
				close_channel_locked(c, true);
		}
		free(s);
	}
	pthread_mutex_unlock(&rt_lock);
	rtr__registry_unlock();
	return r;
}

/* ------------------------------------------------------------------------
 * Serving the command socket
 * ------------------------------------------------------------------------ */

enum serve_result { SERVED, SERVED_READY, SERVE_TIMEOUT, SERVE_CLOSED };

static int send_msg(int sock, struct rtr_proto_out *o)
{
	return rtr_proto_send(sock, o, NULL, 0, 0);
}

/* Receives one host command (waiting until `deadline`, 0 = forever),
 * executes it and replies. */
static enum serve_result serve(int sock, uint64_t deadline, struct rtr_proto_out *o, uint8_t *buf)
{
	int fds[RTR_PROTO_MAX_FDS];
	unsigned nfds = 0;
	struct rtr_proto_msg m;
	const char *why = "";
	char err[256];
	ssize_t n;
	int r;

	if (deadline) {
		r = rtr_proto_wait(sock, POLLIN, deadline);
		if (r == 0)
			return SERVE_TIMEOUT;
		if (r < 0)
			return SERVE_CLOSED;
	}
	n = rtr_proto_recv(sock, buf, RTR_PROTO_MAX_MSG, fds, &nfds, deadline ? MSG_DONTWAIT : 0);
	if (n <= 0) {
		if (n == -EAGAIN)
			return SERVED;
		return SERVE_CLOSED;
	}
	r = rtr_proto_parse(buf, (size_t)n, nfds, &m, err, sizeof(err));
	if (r) {
		rtr_proto_close_fds(fds, nfds);
		logmsg("bad message from the session host (%s); disconnecting", err);
		return SERVE_CLOSED;
	}
	switch (m.hdr.type) {
	case RTR_MSG_SESSION:
		r = do_session(&m.u.session, &why);
		break;
	case RTR_MSG_CHANNEL:
		if (!nfds)
			fds[0] = -1;
		r = do_channel(&m.u.channel, &fds[0], &why);
		if (fds[0] >= 0)
			close(fds[0]);
		break;
	case RTR_MSG_CHANNEL_BUFFERS:
		r = do_buffers(&m.u.buffers, fds, &why);
		rtr_proto_close_fds(fds, nfds); /* the ones not consumed */
		break;
	case RTR_MSG_ENABLE:
		r = do_enable(&m.u.enable, &why);
		break;
	case RTR_MSG_START:
	case RTR_MSG_STOP:
		r = do_start_stop(m.u.ref.session_id, m.hdr.type == RTR_MSG_START, &why);
		break;
	case RTR_MSG_CLOSE_CHANNEL:
		r = do_close_channel(m.u.close_channel.chan_handle, &why);
		break;
	case RTR_MSG_CLOSE_SESSION:
		r = do_close_session(m.u.ref.session_id, &why);
		break;
	case RTR_MSG_READY:
		r = 0;
		break;
	case RTR_MSG_REPLY:
	case RTR_MSG_REGISTER_REPLY:
		/* Replies never come on the command socket. */
		logmsg("unexpected reply on the command socket; disconnecting");
		return SERVE_CLOSED;
	default:
		rtr_proto_close_fds(fds, nfds);
		why = "request not served by a traced process";
		r = -EOPNOTSUPP;
		break;
	}
	if (r)
		debug("%s failed: %s (%s)", rtr_proto_type_name(m.hdr.type), strerror(-r), why);
	if (rtr_proto_enc_reply(o, m.hdr.seq, m.hdr.type, r, why) == 0 && send_msg(sock, o) != 0)
		return SERVE_CLOSED;
	return m.hdr.type == RTR_MSG_READY ? SERVED_READY : SERVED;
}

static enum serve_result serve_one(int sock, uint64_t deadline)
{
	struct rtr_proto_out *o = malloc(sizeof(*o));
	uint8_t *buf = malloc(RTR_PROTO_MAX_MSG);
	enum serve_result r = SERVE_CLOSED;

	if (o && buf)
		r = serve(sock, deadline, o, buf);
	free(o);
	free(buf);
	return r;
}

/* ------------------------------------------------------------------------
 * Event registration (registry lock held)
 * ------------------------------------------------------------------------ */

/* Sends the events of provider p and applies the enables of the replies.
 * Returns 0 or a negative errno (the connection stops registering). */
static int announce_locked(const struct rtr_provider *p)
{
	static struct rtr_proto_out o;
	static uint8_t buf[RTR_PROTO_MAX_MSG];
	uint32_t sent = 0;

	if (!conn.up || conn.notify_broken || p->nr_events == 0)
		return 0;
	if (!fd_still_ours(&conn.notify_id)) {
		conn.notify_broken = true; /* the program closed it: never touch it again */
		logmsg(
		    "the program closed ringtrace's descriptors; later providers are not traced");
		return -EBADF;
	}
	while (sent < p->nr_events) {
		uint64_t deadline = rtr_proto_now_ns() + (uint64_t)timeout_ms * 1000000u;
		uint32_t done = 0, seq = ++conn.notify_seq;
		int r = rtr_proto_enc_events(&o, seq,
					     (const struct rtr_event_desc *const *)p->events + sent,
					     p->nr_events - sent, &done);

		if (r == -E2BIG) {
			logmsg("event %s:%s has a description too large to register; not traced",
			       p->events[sent]->provider, p->events[sent]->name);
			sent++;
			continue;
		}
		if (r == 0)
			r = rtr_proto_send(conn.notify, &o, NULL, 0, 0);
		/* Wait for the answer to this request (older ones that timed
		 * out earlier are skipped by their sequence number). */
		while (r == 0) {
			struct rtr_proto_msg m;
			int fds[RTR_PROTO_MAX_FDS];
			unsigned nfds;
			char err[256];
			ssize_t n;

			r = rtr_proto_wait(conn.notify, POLLIN, deadline);
			if (r == 0) {
				r = -ETIMEDOUT;
				break;
			}
			if (r < 0)
				break;
			n = rtr_proto_recv(conn.notify, buf, sizeof(buf), fds, &nfds, MSG_DONTWAIT);
			if (n == -EAGAIN) {
				r = 0;
				continue;
			}
			if (n <= 0) {
				r = n == 0 ? -ECONNRESET : (int)n;
				break;
			}
			if (nfds || rtr_proto_parse(buf, (size_t)n, nfds, &m, err, sizeof(err)) ||
			    m.hdr.type != RTR_MSG_REGISTER_REPLY) {
				rtr_proto_close_fds(fds, nfds);
				r = -EPROTO;
				break;
			}
			if (m.hdr.seq != seq) {
				r = 0;
				continue;
			}
			if (m.u.register_reply.status) {
				debug("host refused events of %s: %s", p->name,
				      strerror(-m.u.register_reply.status));
			}
			pthread_mutex_lock(&rt_lock);
			for (uint32_t i = 0; i < m.u.register_reply.enables.count; i++) {
				struct rtr_proto_enable_entry e;
				int er;

				rtr_proto_enable_get(&m.u.register_reply.enables, i, &e);
				er = apply_enable(&e);
				if (er)
					debug("enable of event %u failed: %s", e.reg_index,
					      strerror(-er));
			}
			pthread_mutex_unlock(&rt_lock);
			r = 0;
			break;
		}
		if (r) {
			logmsg("registering events of provider %s failed (%s); later providers "
			       "are not traced",
			       p->name, strerror(-r));
			conn.notify_broken = true;
			return r;
		}
		sent += done;
	}
	return 0;
}

static void provider_added(void *arg, struct rtr_provider *p)
{
	int saved = errno;

	(void)arg;
	announce_locked(p);
	errno = saved;
}

static void provider_removed(void *arg, struct rtr_provider *p)
{
	/* The registry already unbound its events; their enables are
	 * harmless (registration indexes are never reused). */
	(void)arg;
	(void)p;
}

static const struct rtr_registry_listener listener = {
    .provider_added = provider_added,
    .provider_removed = provider_removed,
};

/* ------------------------------------------------------------------------
 * Connection, handshake, control thread
 * ------------------------------------------------------------------------ */

static void conn_close(void)
{
	fd_close(&conn.cmd_id);
	fd_close(&conn.notify_id);
	conn.cmd = conn.notify = -1;
	conn.up = false;
	conn.notify_broken = false;
}

/* Host went away or misbehaved: stop tracing, keep nothing. */
static void disconnect(bool late_writers)
{
	rtr__registry_lock();
	pthread_mutex_lock(&rt_lock);
	drop_all_locked(late_writers);
	conn_close();
	pthread_mutex_unlock(&rt_lock);
	rtr__registry_unlock();
}

/* Every second, and before reading: are our descriptors still ours? A
 * channel whose eventfd the program closed stops signalling it at once
 * (the writers' next completed sub-buffer would write to whatever the
 * number is now). Returns false when the connection itself is gone. */
static bool revalidate(void)
{
	bool ok;

	pthread_mutex_lock(&rt_lock);
	ok = fd_still_ours(&conn.cmd_id) && fd_still_ours(&conn.notify_id);
	for (struct rt_channel *c = channels; c; c = c->next) {
		if (c->wake_fd < 0 || fd_still_ours(&c->wake_id))
			continue;
		for (uint32_t i = 0; c->chan && i < c->chan->nr_bufs; i++)
			if (c->chan->bufs[i])
				c->chan->bufs[i]->wake_fd = -1;
		c->wake_fd = -1;
		c->wake_id.fd = -1;
		if (ok)
			logmsg("the program closed a ringtrace eventfd; its buffers are drained on "
			       "the host's timer from now on");
	}
	pthread_mutex_unlock(&rt_lock);
	return ok;
}

static void *control_thread(void *arg)
{
	int sock = (int)(intptr_t)arg;

	for (;;) {
		int r = rtr_proto_wait(sock, POLLIN, rtr_proto_now_ns() + 1000000000u);

		if (r < 0)
			break;
		if (!revalidate()) {
			logmsg("the program closed ringtrace's connection; tracing stopped");
			break;
		}
		if (r > 0 && serve_one(sock, rtr_proto_now_ns() + 1000000u) == SERVE_CLOSED)
			break;
	}
	debug("session host disconnected; tracing stopped");
	disconnect(true);
	return NULL;
}

static int start_control_thread(void)
{
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t tid;
	int r;

	/* The thread must never take a signal meant for the program. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	r = pthread_create(&tid, &attr, control_thread, (void *)(intptr_t)conn.cmd);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0)
		pthread_setname_np(tid, "ringtrace-ctl");
	return -r;
}

static uint16_t possible_cpus(void)
{
	uint32_t n = rtr_ring_possible_cpus();

	return (uint16_t)(n > RTR_PROTO_MAX_CPUS ? RTR_PROTO_MAX_CPUS : n);
}

static int connect_host(const char *path, uint64_t deadline)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	for (;;) {
		r = connect(s, (struct sockaddr *)&sa, sizeof(sa));
		if (r == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && rtr_proto_now_ns() < deadline) {
			/* Listen backlog full: the host is busy accepting. */
			usleep(1000);
			continue;
		}
		r = -errno;
		close(s);
		return r;
	}
	/* Blocking from now on (the control thread waits in recv); the
	 * handshake polls with its deadline, and a host that stops reading
	 * cannot block a reply for more than a second. */
	{
		struct timeval tv = {.tv_sec = 1};

		fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	return s;
}

/* Connects, says hello, serves the host's commands until READY, announces
 * the providers registered so far and starts the control thread. All of it
 * within timeout_ms. Returns 0 or a negative errno (then nothing is left:
 * no binding, no socket). Called with no lock held. */
static int handshake(bool forked)
{
	uint64_t deadline = rtr_proto_now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct rtr_proto_hello h = {0};
	struct rtr_proto_out *o = NULL;
	uint8_t *buf = NULL;
	char procname[17] = "";
	int sv[2] = {-1, -1};
	int sock, r;

	sock = connect_host(conn.path, deadline);
	if (sock < 0)
		return sock;
	o = malloc(sizeof(*o));
	buf = malloc(RTR_PROTO_MAX_MSG);
	if (!o || !buf) {
		r = -ENOMEM;
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		goto fail;
	} else {
		struct timeval tv = {.tv_sec = 1};

		setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	prctl(PR_GET_NAME, procname, 0, 0, 0);
	procname[16] = 0;
	h.minor = RTR_PROTO_VERSION_MINOR;
	h.event_abi_major = RTR_EVENT_ABI_MAJOR;
	h.event_abi_minor = RTR_EVENT_ABI_MINOR;
	h.ring_abi_major = RTR_RING_ABI_MAJOR;
	h.ring_abi_minor = RTR_RING_ABI_MINOR;
	h.pid = (uint32_t)getpid();
	h.ppid = (uint32_t)getppid();
	h.uid = (uint32_t)getuid();
	h.gid = (uint32_t)getgid();
	h.caps = RTR_PROTO_CAP_WAKEUP;
	if (RTR_HAVE_RSEQ && rtr_rseq_registered())
		h.caps |= RTR_PROTO_CAP_RSEQ;
	if (RTR_CLOCK_HAVE_TSC)
		h.caps |= RTR_PROTO_CAP_TSC;
	h.flags = forked ? RTR_PROTO_HELLO_FORKED : 0;
	h.nr_cpus = possible_cpus();
	h.word_bits = (uint8_t)(sizeof(long) * 8);
	h.byte_order = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? RTR_PROTO_BYTE_ORDER_BE
							      : RTR_PROTO_BYTE_ORDER_LE;
	/* The kernel's comm may contain anything; the protocol wants
	 * printable text. */
	for (char *c = procname; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\' || *c == 0x7f)
			*c = '_';
	h.procname = procname;
	h.runtime_version = RTR_VERSION_STRING;
	r = rtr_proto_enc_hello(o, 1, &h);
	if (r == 0)
		r = rtr_proto_send(sock, o, &sv[1], 1, 0);
	close(sv[1]);
	sv[1] = -1;
	if (r)
		goto fail;
	/* HELLO's reply. */
	for (;;) {
		struct rtr_proto_msg m;
		int fds[RTR_PROTO_MAX_FDS];
		unsigned nfds;
		char err[256];
		ssize_t n;

		r = rtr_proto_wait(sock, POLLIN, deadline);
		if (r <= 0) {
			r = r ? r : -ETIMEDOUT;
			goto fail;
		}
		n = rtr_proto_recv(sock, buf, RTR_PROTO_MAX_MSG, fds, &nfds, MSG_DONTWAIT);
		if (n == -EAGAIN)
			continue;
		if (n <= 0) {
			r = n ? (int)n : -ECONNRESET;
			goto fail;
		}
		r = rtr_proto_parse(buf, (size_t)n, nfds, &m, err, sizeof(err));
		rtr_proto_close_fds(fds, nfds);
		if (r || m.hdr.type != RTR_MSG_REPLY || m.hdr.seq != 1) {
			r = -EPROTO;
			goto fail;
		}
		r = m.u.reply.status;
		if (r) {
			logmsg("the session host refused this process: %s", m.u.reply.text);
			goto fail;
		}
		break;
	}
	pthread_mutex_lock(&rt_lock);
	conn.cmd = sock = fd_move_high(sock);
	conn.notify = sv[0] = fd_move_high(sv[0]);
	fd_remember(&conn.cmd_id, conn.cmd, false);
	fd_remember(&conn.notify_id, conn.notify, false);
	conn.notify_seq = 0;
	conn.notify_broken = false;
	pthread_mutex_unlock(&rt_lock);
	sock = sv[0] = -1;
	/* The host configures us, then says READY. */
	for (;;) {
		enum serve_result s = serve_one(conn.cmd, deadline);

		if (s == SERVED_READY)
			break;
		if (s == SERVED)
			continue;
		r = s == SERVE_TIMEOUT ? -ETIMEDOUT : -ECONNRESET;
		goto fail_connected;
	}
	/* Providers registered before we connected. */
	rtr__registry_lock();
	conn.up = true;
	for (struct rtr_provider *p = rtr__registry_first_locked(); p; p = p->next)
		if (announce_locked(p))
			break;
	rtr__registry_unlock();
	r = start_control_thread();
	if (r)
		goto fail_connected;
	free(o);
	free(buf);
	return 0;
fail_connected:
	free(o);
	free(buf);
	disconnect(true);
	return r;
fail:
	if (sock >= 0)
		close(sock);
	if (sv[0] >= 0)
		close(sv[0]);
	free(o);
	free(buf);
	return r;
}

/* ------------------------------------------------------------------------
 * fork()
 * ------------------------------------------------------------------------ */

static bool was_connected_before_fork;

static void atfork_prepare(void)
{
	sigset_t all;

	fork_saved_errno = errno;
	/* No signal handler may run a tracepoint in the child before the
	 * child handler dropped the parent's bindings. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &fork_saved_mask);
	/* No other thread may hold our locks across fork(). */
	rtr__registry_lock();
	pthread_mutex_lock(&rt_lock);
	was_connected_before_fork = conn.cmd >= 0;
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&rt_lock);
	rtr__registry_unlock();
	pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
	errno = fork_saved_errno;
}

static void atfork_child(void)
{
	bool reconnect = was_connected_before_fork;

	/* The child is single-threaded: no probe is in flight, so the
	 * parent's buffers can go (their memory stays the parent's). */
	drop_all_locked(false);
	conn_close();
	rtr__counters_atfork_child();
	rtr__context_atfork_child();
	pthread_mutex_unlock(&rt_lock);
	rtr__registry_unlock();
	if (reconnect) {
		int r = handshake(true);

		if (r)
			logmsg("fork child could not register with the session host (%s); "
			       "not tracing",
			       strerror(-r));
	}
	pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
	errno = fork_saved_errno;
}

/* ------------------------------------------------------------------------
 * Initialisation
 * ------------------------------------------------------------------------ */

static void runtime_init(void) __attribute__((constructor(101)));

static void runtime_init(void)
{
	int saved = errno;
	const char *path = getenv(RTR_HOST_SOCKET_ENV);
	const char *v;
	int r;

	if (!path || !*path) {
		errno = saved;
		return; /* dormant: tracepoints cost one untaken branch */
	}
	v = getenv("RINGTRACE_VERBOSE");
	verbose = v && *v && strcmp(v, "0") != 0;
	v = getenv(RTR_HOST_TIMEOUT_ENV);
	if (v && *v) {
		char *end;
		unsigned long t = strtoul(v, &end, 10);

		if (*end == 0 && t > 0 && t <= 60000)
			timeout_ms = (unsigned int)t;
	}
	if (strlen(path) >= sizeof(conn.path)) {
		logmsg("%s too long; not tracing", RTR_HOST_SOCKET_ENV);
		errno = saved;
		return;
	}
	strcpy(conn.path, path);
	rtr__registry_set_listener(&listener);
	if (pthread_atfork(atfork_prepare, atfork_parent, atfork_child) != 0)
		logmsg("pthread_atfork failed: fork children will not be traced");
	r = handshake(false);
	if (r)
		logmsg("could not register with the session host at %s (%s); not tracing", path,
		       strerror(-r));
	else
		debug("registered with the session host at %s", path);
	errno = saved;
}

/* ------------------------------------------------------------------------
 * Introspection for tests
 * ------------------------------------------------------------------------ */

bool rtr__runtime_connected(void)
{
	bool up;

	pthread_mutex_lock(&rt_lock);
	up = conn.cmd >= 0;
	pthread_mutex_unlock(&rt_lock);
	return up;
}
