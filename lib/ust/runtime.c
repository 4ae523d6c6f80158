/* ringtrace in-process runtime: connections to session hosts (the `record`
 * host named by RINGTRACE_HOST_SOCKET, the user's session daemon and the
 * system's, found at well-known paths), the control thread, buffer mapping,
 * event binding with filters and contexts, fork handling.
 * Design: docs/design/runtime.md, docs/design/daemon.md §1 (discovery);
 * wire protocol: docs/design/protocol.md. */
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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <ringtrace/clock.h>
#include <ringtrace/ctf.h>
#include <ringtrace/event.h>
#include <ringtrace/ring.h>

#include "armed.h"
#include "counters.h"
#include "ctf-writer.h"
#include "fexpr.h"
#include "filter.h"
#include "proto.h"
#include "registry.h"
#include "dwake.h"
#include "rundir.h"
#include "runtime.h"
#include "statedump.h"

#ifndef RTR_VERSION_STRING
#define RTR_VERSION_STRING "0.1.0"
#endif

/* A daemon that does not answer HELLO within this long is not waited for
 * (the constructor returns; the control thread goes on with it). */
#define DAEMON_ANSWER_NS (1000000ull)
/* A daemon that answered and configures sessions: how long the constructor
 * waits for READY, and a registration for its answer. */
#define DAEMON_CONFIG_MS 1000u
#define DAEMON_REG_MS	 500u

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

enum conn_kind { K_ENV = 0, K_USER, K_SYSTEM, NR_CONNS };
enum conn_state {
	C_IDLE,	  /* not connected */
	C_HELLO,  /* HELLO sent, its answer not read yet */
	C_CONFIG, /* accepted; serving the configuration until READY */
	C_UP,	  /* READY seen: registrations go to it */
};

/* A session host this process talks to. cmd is read only by whoever serves
 * commands (the constructor during the handshake, then the control
 * thread); notify only with the registry lock held. `up` changes only
 * with both locks held. */
struct rt_conn {
	enum conn_kind kind;
	bool wanted; /* this host may exist (env set, or discovery on) */
	char dir[108];
	char path[108];
	int cmd;
	int notify;
	struct fd_id cmd_id, notify_id;
	enum conn_state state;
	bool up;	    /* C_UP: REGISTER_EVENTS may be sent */
	bool wait_user;	    /* a session with per-user buffers records us: the
			     * constructor waits for the daemon (daemon.md §9.7) */
	bool sync_reg;	    /* registrations wait for their answer */
	bool notify_broken; /* a REGISTER_EVENTS failed: stop asking */
	uint32_t notify_seq;
	uint32_t hello_seq;
	bool refused;	 /* it refused us or misbehaved: nothing is kept for it */
	uint32_t narmed; /* sessions armed from the daemon's armed file */
	uint64_t armed[RTR_PROTO_MAX_ARMED];
	/* providers already announced to it (registry lock) */
	const struct rtr_provider **ann;
	uint32_t nann, cap_ann;
};

static struct rt_conn conns[NR_CONNS] = {
    {.kind = K_ENV, .cmd = -1, .notify = -1},
    {.kind = K_USER, .cmd = -1, .notify = -1},
    {.kind = K_SYSTEM, .cmd = -1, .notify = -1},
};

struct rt_session {
	struct rt_session *next;
	struct rt_conn *conn;
	uint64_t id;
	int clock_source;
	bool active;
};

/* A rule of a session the process armed itself (daemon.md §1.3). */
struct arm_rule {
	char *pattern;
	char *excludes[RTR_ARMED_EXCLUDES];
	uint32_t nexcludes;
	uint32_t lltype, ll;
	struct rtr_fexpr *filter; /* NULL: none */
};

struct rt_channel {
	struct rt_channel *next;
	struct rt_conn *conn;
	bool self;	   /* armed by this process from the daemon's armed file */
	char arm_name[64]; /* (self) the channel's name in the session */
	uint32_t next_id;  /* (self) ids it gives events until the daemon takes over */
	struct arm_rule *rules;
	uint32_t nrules;
	uint64_t session_id;
	uint32_t handle;
	uint32_t client;
	uint32_t ctx_mask;
	const struct rtr_ring_config *cfg;
	struct rtr_ring_chan *chan; /* never freed: probes may hold it (see retire) */
	uint32_t nr_bufs;
	uint32_t nr_mapped;
	uint32_t nr_populated; /* bufs[0 .. nr_populated) prefaulted (populate_pending) */
	int wake_fd;
	struct fd_id wake_id;
	bool ready;
	bool shared; /* per-user buffers (CHANNEL_SHARED): other programs write them */
	uint32_t counters; /* RTR_CTF_COUNTER_* mask: the event context (counters.c) */
	/* (daemons) the buffers' memfds, kept so that the buffers can be
	 * handed to the next daemon when this one dies (orphan_locked) */
	struct fd_id *buf_ids; /* nr_bufs entries, or NULL */
};

struct rt_enable {
	struct rt_conn *conn;
	uint32_t reg_index, chan_handle, event_id;
	struct rtr_binding_extra *extra; /* NULL: plain binding */
	bool self; /* bound by this process (armed channel), not told yet */
};

/* Extras (and their filters) that a probe may still hold: never freed. */
struct retired_extra {
	struct retired_extra *next;
	struct rtr_binding_extra *x;
};

static pthread_mutex_t rt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rt_session *sessions;
static struct rt_channel *channels;
static struct rt_channel *retired_channels; /* closed; see retire_channel() */
static struct rt_enable *enables;
static uint32_t nr_enables, cap_enables;
static struct retired_extra *retired_extras;

static bool verbose;
static bool discovery; /* look for session daemons */
static unsigned int timeout_ms = 3000;
/* How often the control thread looks for daemons started later. */
#define RTR_DISCOVERY_MS 1000
static bool ctl_thread_running;
static __thread sigset_t fork_saved_mask;
static __thread int fork_saved_errno;

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static uint16_t possible_cpus(void);
static void arm_bind_locked(struct rt_conn *cn, const struct rtr_provider *p);


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

static struct rt_session *find_session(const struct rt_conn *cn, uint64_t id)
{
	for (struct rt_session *s = sessions; s; s = s->next)
		if (s->conn == cn && s->id == id)
			return s;
	return NULL;
}

static struct rt_channel *find_channel(const struct rt_conn *cn, uint32_t handle)
{
	for (struct rt_channel *c = channels; c; c = c->next)
		if (c->conn == cn && c->handle == handle)
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
				/* (a kept memfd the program may have closed
				 * and reused: only ours is closed) */
				if (!c->buf_ids || fd_still_ours(&c->buf_ids[i]))
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


static void retire_extra(struct rtr_binding_extra *x)
{
	struct retired_extra *r;

	if (!x)
		return;
	r = malloc(sizeof(*r));
	if (!r)
		return; /* leak rather than free under a possible reader */
	r->x = x;
	r->next = retired_extras;
	retired_extras = r;
}

static void remove_enables_of(const struct rt_conn *cn, uint32_t handle)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < nr_enables; i++) {
		if (enables[i].conn == cn && enables[i].chan_handle == handle) {
			retire_extra(enables[i].extra);
			continue;
		}
		enables[k++] = enables[i];
	}
	nr_enables = k;
}

/* Unbinds and retires a channel and forgets it (registry lock + rt_lock). */
static void close_channel_locked(struct rt_channel *c, bool late_writers)
{
	struct rt_channel **pp;

	if (c->chan)
		rtr__registry_unbind_chan_locked(c->chan);
	remove_enables_of(c->conn, c->handle);
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
	struct rt_channel *c = find_channel(e->conn, e->chan_handle);
	struct rtr_event_binding b;
	int r;

	if (!c || !c->ready)
		return -EBADF;
	b.chan = c->chan;
	b.event_id = e->event_id;
	b.client = c->client;
	b.client_priv = e->extra;
	if (!e->extra && c->counters) {
		/* counters only, for a provider whose probes know no extras
		 * (event ABI minor 0): the client's out-of-line writer adds
		 * them (RTR_CTF_CLIENT_CTX); make_extra refused if there is
		 * no source, so the metadata never promises what is not
		 * written */
		b.client_priv = (void *)rtr__counters_src(c->counters);
		b.client |= RTR_CTF_CLIENT_CTX;
	}
	r = rtr__registry_bind_locked(e->reg_index, &b);
	return r == -EEXIST ? 0 : r;
}

/* The extras of a binding of event reg_index to channel c: its filter
 * (verified against the event's own description) and c's contexts. NULL
 * and 0 when it needs none; -errno when the filter is bad or the provider
 * was built for probes that know no extras. */
static int make_extra(const struct rt_channel *c, uint32_t reg_index, const uint8_t *code,
		      uint16_t len, struct rtr_binding_extra **out, const char **why)
{
	const struct rtr_event_desc *ev = rtr__registry_event_locked(reg_index);
	struct rtr_binding_extra *x;
	struct rtr_filter *f = NULL;
	char err[160];
	int r;

	const struct rtr_ctf_ctx_src *src = NULL;

	*out = NULL;
	if (c->counters) {
		src = rtr__counters_src(c->counters);
		if (!src) {
			*why = "too many different counter contexts in one process";
			return -ENOSPC;
		}
	}
	if (!len && !c->ctx_mask &&
	    (!c->counters || rtr__registry_event_minor_locked(reg_index) < 1))
		return 0; /* plain, or counters alone through the client (bind_one) */
	if (rtr__registry_event_minor_locked(reg_index) < 1) {
		*why = "provider built with a ringtrace without filters or contexts";
		return -ENOTSUP;
	}
	if (len) {
		r = rtr_filter_verify(code, len, ev, &f, err, sizeof(err));
		if (r) {
			debug("filter of %s:%s refused: %s", ev ? ev->provider : "?",
			      ev ? ev->name : "?", err);
			*why = "filter refused";
			return r;
		}
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		rtr_filter_free(f);
		return -ENOMEM;
	}
	x->filter = f;
	x->ctx_mask = c->ctx_mask;
	if (rtr_filter_inline(f, &x->f_kind, &x->f_field, &x->f_const.u, &x->f_accept))
		x->ctx_mask |= RTR_CTF_X_INLINE_FILTER;
	x->ctx_size = rtr__ctx_size(c->ctx_mask) + (src ? src->size : 0);
	x->ctx_src = src;
	*out = x;
	return 0;
}

/* Records an enable (replacing the filter of a known one) and binds it if
 * its session records (both locks). Returns 0, -EBADF (unknown or
 * incomplete channel), -ENOENT (unknown event), -ENOMEM, or the filter's
 * error. */
static int apply_enable(struct rt_conn *cn, const struct rtr_proto_enable_entry *in,
			const uint8_t *code, uint16_t len, const char **why)
{
	struct rt_enable e = {cn, in->reg_index, in->chan_handle, in->event_id, NULL, false};
	struct rt_channel *c = find_channel(cn, e.chan_handle);
	struct rt_enable *known = NULL;
	struct rt_session *s;
	int r;

	if (!c || !c->ready)
		return -EBADF;
	if (!rtr__registry_event_locked(e.reg_index))
		return -ENOENT;
	for (uint32_t i = 0; i < nr_enables; i++)
		if (enables[i].conn == cn && enables[i].reg_index == e.reg_index &&
		    enables[i].chan_handle == e.chan_handle) {
			if (enables[i].event_id != e.event_id)
				return -EEXIST; /* one id per event and channel */
			known = &enables[i];
		}
	r = make_extra(c, e.reg_index, code, len, &e.extra, why);
	if (r)
		return r;
	if (known) {
		/* the same event again: its filter may have changed */
		if (!known->extra && !e.extra)
			return 0;
		rtr__registry_unbind_event_locked(known->reg_index, c->chan);
		retire_extra(known->extra);
		known->extra = e.extra;
	} else {
		if (nr_enables == cap_enables) {
			uint32_t cap = cap_enables ? cap_enables * 2 : 64;
			struct rt_enable *n = realloc(enables, cap * sizeof(*n));

			if (!n) {
				if (e.extra)
					rtr_filter_free((struct rtr_filter *)e.extra->filter);
				free(e.extra);
				return -ENOMEM;
			}
			enables = n;
			cap_enables = cap;
		}
		enables[nr_enables++] = e;
		known = &enables[nr_enables - 1];
	}
	s = find_session(cn, c->session_id);
	if (s && s->active)
		return bind_one(known);
	return 0;
}

/* Undoes an enable (both locks). */
static int apply_disable(struct rt_conn *cn, const struct rtr_proto_enable_entry *in)
{
	struct rt_channel *c = find_channel(cn, in->chan_handle);
	uint32_t k = 0;
	bool found = false;

	for (uint32_t i = 0; i < nr_enables; i++) {
		if (enables[i].conn == cn && enables[i].reg_index == in->reg_index &&
		    enables[i].chan_handle == in->chan_handle) {
			found = true;
			retire_extra(enables[i].extra);
			continue;
		}
		enables[k++] = enables[i];
	}
	nr_enables = k;
	if (c && c->chan)
		rtr__registry_unbind_event_locked(in->reg_index, c->chan);
	return found ? 0 : -ENOENT;
}

/* Forgets every session and channel of one host, or of all (cn NULL)
 * (both locks). */
static void drop_locked(const struct rt_conn *cn, bool late_writers)
{
	struct rt_channel *c, *nc;
	struct rt_session **pp;

	for (c = channels; c; c = nc) {
		nc = c->next;
		if (!cn || c->conn == cn)
			close_channel_locked(c, late_writers);
	}
	for (pp = &sessions; *pp;) {
		struct rt_session *s = *pp;

		if (cn && s->conn != cn) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		free(s);
	}
	if (!cn) {
		for (uint32_t i = 0; i < nr_enables; i++)
			retire_extra(enables[i].extra);
		nr_enables = 0;
	}
}

/* ------------------------------------------------------------------------
 * Command handlers (called by serve with no lock held; each returns the
 * status to reply with and may set a text)
 * ------------------------------------------------------------------------ */

static int do_session(struct rt_conn *cn, const struct rtr_proto_session *m, const char **why)
{
	struct rt_session *s;
	int r;

	pthread_mutex_lock(&rt_lock);
	if (find_session(cn, m->session_id)) {
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
	s->conn = cn;
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
static int do_channel(struct rt_conn *cn, const struct rtr_proto_channel *m, int *wake_fdp,
		      const char **why)
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
	if (!find_session(cn, m->session_id)) {
		*why = "no such session";
		r = -ENOENT;
	} else if (find_channel(cn, m->chan_handle)) {
		*why = "channel handle already in use";
		r = -EEXIST;
	} else if (!(c = calloc(1, sizeof(*c))) || !(c->chan = rtr_ring_chan_alloc(m->nr_bufs))) {
		free(c);
		r = -ENOMEM;
	} else {
		c->conn = cn;
		c->session_id = m->session_id;
		c->handle = m->chan_handle;
		c->client = m->client_id;
		c->ctx_mask = m->ctx_mask;
		c->counters = (m->flags & RTR_PROTO_CHANNEL_COUNTERS_MASK) >>
			      RTR_PROTO_CHANNEL_COUNTERS_SHIFT;
		c->cfg = cfg;
		c->nr_bufs = m->nr_bufs;
		c->shared = (m->flags & RTR_PROTO_CHANNEL_SHARED) != 0;
		/* a daemon's buffers are kept for the next daemon (§8.2), not
		 * per-user ones: other programs write them too, and only the
		 * daemon that made them may read them */
		if (cn->kind != K_ENV && !(m->flags & RTR_PROTO_CHANNEL_SHARED)) {
			c->buf_ids = calloc(m->nr_bufs ? m->nr_bufs : 1, sizeof(*c->buf_ids));
			for (uint32_t i = 0; c->buf_ids && i < m->nr_bufs; i++)
				c->buf_ids[i].fd = -1;
			snprintf(c->arm_name, sizeof(c->arm_name), "%s", m->name ? m->name : "");
		}
		c->wake_fd = wake_fd;
		fd_remember(&c->wake_id, wake_fd, true);
		*wake_fdp = -1;
		c->next = channels;
		channels = c;
	}
	pthread_mutex_unlock(&rt_lock);
	return r;
}


static void prefault(void *addr, size_t len);

/* Maps every page of the buffers mapped or made since the last call
 * (control thread, between messages: after the answer that mapped them
 * has gone, and after the constructor has returned). Doing it while
 * answering made `start` wait for every program's page tables (50
 * programs: most of the command's time besides the allocation), and the
 * constructor of a program started during a session wait for its own.
 * Until then a probe's first touch of a page takes a fault. Retired
 * channels are out of the list; their mappings are never unmapped. */
static void populate_pending(void)
{
	pthread_mutex_lock(&rt_lock);
	for (struct rt_channel *c = channels; c; c = c->next)
		for (; c->chan && c->nr_populated < c->nr_mapped; c->nr_populated++) {
			struct rtr_ring_buf *b = c->chan->bufs[c->nr_populated];

			if (b && b->ctl)
				prefault(b->ctl, b->map_size);
		}
	pthread_mutex_unlock(&rt_lock);
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
	/* Every page is mapped by the control thread once the answer has
	 * gone (populate_pending): a first-touch fault costs microseconds,
	 * and probes would otherwise take one per page of the buffer (the
	 * host allocated the pages already; this only maps them). */
	/* The mapping keeps the memory. A daemon's buffers keep their
	 * descriptor (high, close-on-exec): if the daemon dies, the next one
	 * gets them again (orphan_locked). */
	if (c->buf_ids) {
		b->fd = fd_move_high(b->fd);
		fd_remember(&c->buf_ids[cpu], b->fd, false);
	} else {
		close(b->fd);
		b->fd = -1;
	}
	b->wake_fd = c->wake_fd;
	c->chan->bufs[cpu] = b;
	return 0;
}


static int do_buffers(struct rt_conn *cn, const struct rtr_proto_channel_buffers *m, int *fds,
		      const char **why)
{
	struct rt_channel *c;
	uint32_t i = 0;
	int r = 0;

	pthread_mutex_lock(&rt_lock);
	c = find_channel(cn, m->chan_handle);
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
		if (r && c->shared) {
			/* A per-user buffer another program of this user
			 * damaged (its header no longer validates): not
			 * mapped; records on that CPU are refused and counted
			 * (lost_nobuf), the other CPUs' buffers are used
			 * (daemon.md §9.6). */
			debug("per-user buffer %u not used: %s", m->first + i, *why);
			*why = "";
			r = 0;
		}
		if (r == 0)
			c->nr_mapped++;
	}
	if (r == 0 && c->nr_mapped == c->nr_bufs)
		c->ready = true;
	pthread_mutex_unlock(&rt_lock);
	return r;
}

/* ENABLE, DISABLE, or the enables of a REGISTER_REPLY. */
static int do_enable(struct rt_conn *cn, const struct rtr_proto_enables *m, bool disable,
		     const char **why)
{
	struct rtr_proto_filter_it it = {0, m->nfilters};
	uint32_t fentry = UINT32_MAX, bad = 0;
	const uint8_t *fcode = NULL;
	uint16_t flen = 0;
	int first_err = 0;

	if (!rtr_proto_filters_next(m, &it, &fentry, &fcode, &flen))
		fentry = UINT32_MAX;
	rtr__registry_lock();
	pthread_mutex_lock(&rt_lock);
	for (uint32_t i = 0; i < m->count; i++) {
		struct rtr_proto_enable_entry e;
		const uint8_t *code = NULL;
		uint16_t len = 0;
		int r;

		if (i == fentry) {
			code = fcode;
			len = flen;
			if (!rtr_proto_filters_next(m, &it, &fentry, &fcode, &flen))
				fentry = UINT32_MAX;
		}
		rtr_proto_enable_get(m, i, &e);
		r = disable ? apply_disable(cn, &e) : apply_enable(cn, &e, code, len, why);
		/* An event unregistered meanwhile (dlclose) is not an error. */
		if (r && r != -ENOENT) {
			bad++;
			if (!first_err)
				first_err = r;
		}
	}
	pthread_mutex_unlock(&rt_lock);
	rtr__registry_unlock();
	if (bad && !**why)
		*why = "some events could not be enabled";
	return first_err;
}

static int do_start_stop(struct rt_conn *cn, uint64_t session_id, bool start, const char **why)
{
	struct rt_session *s;
	bool started = false;
	int r = 0;

	rtr__registry_lock();
	pthread_mutex_lock(&rt_lock);
	s = find_session(cn, session_id);
	if (!s) {
		*why = "no such session";
		r = -ENOENT;
	} else if (start && !s->active) {
		s->active = true;
		started = true;
		for (uint32_t i = 0; i < nr_enables; i++) {
			struct rt_channel *c = find_channel(cn, enables[i].chan_handle);
			int e;

			if (enables[i].conn != cn || !c || c->session_id != session_id)
				continue;
			e = bind_one(&enables[i]);
			if (e && e != -ENOENT && !r)
				r = e;
		}
	} else if (!start && s->active) {
		s->active = false;
		for (struct rt_channel *c = channels; c; c = c->next)
			if (c->conn == cn && c->session_id == session_id && c->chan)
				rtr__registry_unbind_chan_locked(c->chan);
	}
	pthread_mutex_unlock(&rt_lock);
	rtr__registry_unlock();
	if (started) /* written after the reply (serve) */
		rtr__statedump_session_started();
	return r;
}

static int do_close_channel(struct rt_conn *cn, uint32_t handle, const char **why)
{
	struct rt_channel *c;
	int r = 0;

	rtr__registry_lock();
	pthread_mutex_lock(&rt_lock);
	c = find_channel(cn, handle);
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

static int do_close_session(struct rt_conn *cn, uint64_t id, const char **why)
{
	struct rt_session **pp, *s = NULL;
	int r = 0;

	rtr__registry_lock();
	pthread_mutex_lock(&rt_lock);
	for (pp = &sessions; *pp; pp = &(*pp)->next)
		if ((*pp)->conn == cn && (*pp)->id == id) {
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
			if (c->conn == cn && c->session_id == id)
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

enum serve_result { SERVED, SERVED_READY, SERVE_TIMEOUT, SERVE_CLOSED, SERVE_NOTHING };

/* Receives one host command (waiting until `deadline`, 0: only what is
 * there), executes it and replies. */
static enum serve_result serve(struct rt_conn *cn, uint64_t deadline, struct rtr_proto_out *o,
			       uint8_t *buf)
{
	int sock = cn->cmd;
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
	n = rtr_proto_recv(sock, buf, RTR_PROTO_MAX_MSG, fds, &nfds, MSG_DONTWAIT);
	if (n <= 0) {
		if (n == -EAGAIN)
			return SERVE_NOTHING;
		return SERVE_CLOSED;
	}
	r = rtr_proto_parse(buf, (size_t)n, nfds, &m, err, sizeof(err));
	if (r) {
		rtr_proto_close_fds(fds, nfds);
		logmsg("bad message from the session host (%s); disconnecting", err);
		cn->refused = true;
		return SERVE_CLOSED;
	}
	switch (m.hdr.type) {
	case RTR_MSG_SESSION:
		r = do_session(cn, &m.u.session, &why);
		break;
	case RTR_MSG_CHANNEL:
		if (!nfds)
			fds[0] = -1;
		r = do_channel(cn, &m.u.channel, &fds[0], &why);
		if (fds[0] >= 0)
			close(fds[0]);
		break;
	case RTR_MSG_CHANNEL_BUFFERS:
		r = do_buffers(cn, &m.u.buffers, fds, &why);
		rtr_proto_close_fds(fds, nfds); /* the ones not consumed */
		break;
	case RTR_MSG_ENABLE:
	case RTR_MSG_DISABLE:
		r = do_enable(cn, &m.u.enable, m.hdr.type == RTR_MSG_DISABLE, &why);
		break;
	case RTR_MSG_START:
	case RTR_MSG_STOP:
		r = do_start_stop(cn, m.u.ref.session_id, m.hdr.type == RTR_MSG_START, &why);
		break;
	case RTR_MSG_CLOSE_CHANNEL:
		r = do_close_channel(cn, m.u.close_channel.chan_handle, &why);
		break;
	case RTR_MSG_CLOSE_SESSION:
		r = do_close_session(cn, m.u.ref.session_id, &why);
		break;
	case RTR_MSG_READY:
		r = 0;
		break;
	case RTR_MSG_REPLY:
		/* The answer to HELLO, read here when the constructor did not
		 * wait for it. */
		if (cn->state == C_HELLO && m.u.reply.req_type == RTR_MSG_HELLO &&
		    m.hdr.seq == cn->hello_seq) {
			if (m.u.reply.status) {
				debug("the session daemon refused this process: %s",
				      m.u.reply.text);
				cn->refused = true;
				return SERVE_CLOSED;
			}
			cn->state = C_CONFIG;
			return SERVED;
		}
		if (m.u.reply.req_type == RTR_MSG_CHANNEL ||
		    m.u.reply.req_type == RTR_MSG_CHANNEL_BUFFERS) {
			/* the daemon's answer to a channel we armed; a refusal is
			 * followed by CLOSE_CHANNEL */
			if (m.u.reply.status)
				debug("the session daemon refused an armed channel: %s",
				      m.u.reply.text);
			return SERVED;
		}
		logmsg("unexpected reply on the command socket; disconnecting");
		return SERVE_CLOSED;
	case RTR_MSG_REGISTER_REPLY:
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
	if (rtr_proto_enc_reply(o, m.hdr.seq, m.hdr.type, r, why) == 0 &&
	    rtr_proto_send(sock, o, NULL, 0, 0) != 0)
		return SERVE_CLOSED;
	/* a START or an ENABLE may owe the base-address statedump: written
	 * after the reply, so the host does not wait for it */
	rtr__statedump_poll(false);
	return m.hdr.type == RTR_MSG_READY ? SERVED_READY : SERVED;
}

static enum serve_result serve_one(struct rt_conn *cn, uint64_t deadline)
{
	struct rtr_proto_out *o = malloc(sizeof(*o));
	uint8_t *buf = malloc(RTR_PROTO_MAX_MSG);
	enum serve_result r = SERVE_CLOSED;

	if (o && buf)
		r = serve(cn, deadline, o, buf);
	free(o);
	free(buf);
	return r;
}


/* ------------------------------------------------------------------------
 * Event registration (registry lock held)
 * ------------------------------------------------------------------------ */

/* Applies one REGISTER_REPLY (both locks taken here; registry lock held
 * by the caller). */
static void apply_register_reply(struct rt_conn *cn, const struct rtr_proto_msg *m)
{
	struct rtr_proto_filter_it it = {0, m->u.register_reply.enables.nfilters};
	const struct rtr_proto_enables *en = &m->u.register_reply.enables;
	uint32_t fentry = UINT32_MAX;
	const uint8_t *fcode = NULL;
	uint16_t flen = 0;

	if (m->u.register_reply.status)
		debug("the host refused events: %s", strerror(-m->u.register_reply.status));
	if (!rtr_proto_filters_next(en, &it, &fentry, &fcode, &flen))
		fentry = UINT32_MAX;
	pthread_mutex_lock(&rt_lock);
	for (uint32_t i = 0; i < en->count; i++) {
		struct rtr_proto_enable_entry e;
		const uint8_t *code = NULL;
		const char *why = "";
		uint16_t len = 0;
		int er;

		if (i == fentry) {
			code = fcode;
			len = flen;
			if (!rtr_proto_filters_next(en, &it, &fentry, &fcode, &flen))
				fentry = UINT32_MAX;
		}
		rtr_proto_enable_get(en, i, &e);
		er = apply_enable(cn, &e, code, len, &why);
		if (er)
			debug("enable of event %u failed: %s %s", e.reg_index, strerror(-er), why);
	}
	pthread_mutex_unlock(&rt_lock);
}

/* Reads what is on cn's notify socket without waiting (registry lock
 * held): REGISTER_REPLYs of registrations nobody waits for. Returns the
 * sequence number of the last one read, 0 if none; -errno when the
 * socket failed. `want`: stop after the reply to that request. */
static int64_t read_register_replies(struct rt_conn *cn, uint32_t want, uint8_t *buf)
{
	int64_t last = 0;

	for (;;) {
		struct rtr_proto_msg m;
		int fds[RTR_PROTO_MAX_FDS];
		unsigned nfds;
		char err[256];
		ssize_t n = rtr_proto_recv(cn->notify, buf, RTR_PROTO_MAX_MSG, fds, &nfds,
					   MSG_DONTWAIT);

		if (n == -EAGAIN)
			return last;
		if (n <= 0)
			return n == 0 ? -ECONNRESET : (int)n;
		if (nfds || rtr_proto_parse(buf, (size_t)n, nfds, &m, err, sizeof(err)) ||
		    m.hdr.type != RTR_MSG_REGISTER_REPLY) {
			rtr_proto_close_fds(fds, nfds);
			return -EPROTO;
		}
		apply_register_reply(cn, &m);
		last = m.hdr.seq;
		if (want && m.hdr.seq == want)
			return last;
	}
}

/* Appends to a REGISTER_EVENTS the ids this process gave events
 * [first, first + n) of p in channels it armed itself, and forgets that
 * they are to be told. Returns 0 or -EMSGSIZE. */
static int append_self_ids(struct rt_conn *cn, const struct rtr_provider *p, uint32_t first,
			   uint32_t n, struct rtr_proto_out *o)
{
	struct rtr_proto_enable_entry *e = NULL;
	uint32_t k = 0, cap = 0;
	int r;

	pthread_mutex_lock(&rt_lock);
	for (uint32_t i = 0; i < nr_enables; i++)
		if (enables[i].conn == cn && enables[i].self)
			cap++;
	if (cap)
		e = malloc(cap * sizeof(*e));
	for (uint32_t i = 0; e && i < nr_enables; i++) {
		const struct rt_enable *en = &enables[i];
		bool mine = false;

		if (en->conn != cn || !en->self)
			continue;
		for (uint32_t j = first; j < first + n; j++)
			if (p->events[j]->state->reg_index == en->reg_index)
				mine = true;
		if (mine)
			e[k++] = (struct rtr_proto_enable_entry){en->reg_index, en->chan_handle,
								 en->event_id};
	}
	r = rtr_proto_events_append_pre(o, e, k);
	if (r == 0)
		for (uint32_t i = 0; i < nr_enables; i++)
			for (uint32_t j = 0; j < k; j++)
				if (enables[i].conn == cn && enables[i].reg_index == e[j].reg_index &&
				    enables[i].chan_handle == e[j].chan_handle)
					enables[i].self = false;
	pthread_mutex_unlock(&rt_lock);
	free(e);
	return r;
}

/* Sends the events of provider p to host cn and, when cn->sync_reg, waits
 * for the answer (applying every answer that comes meanwhile) so that the
 * events are bound before the provider's constructor returns. Returns 0 or
 * a negative errno (the host gets no more registrations). */
static bool announced(const struct rt_conn *cn, const struct rtr_provider *p)
{
	for (uint32_t i = 0; i < cn->nann; i++)
		if (cn->ann[i] == p)
			return true;
	return false;
}

static void mark_announced(struct rt_conn *cn, const struct rtr_provider *p)
{
	if (cn->nann == cn->cap_ann) {
		uint32_t cap = cn->cap_ann ? cn->cap_ann * 2 : 16;
		const struct rtr_provider **n = realloc(cn->ann, cap * sizeof(*n));

		if (!n)
			return;
		cn->ann = n;
		cn->cap_ann = cap;
	}
	cn->ann[cn->nann++] = p;
}

static void forget_announced(struct rt_conn *cn, const struct rtr_provider *p)
{
	for (uint32_t i = 0; i < cn->nann; i++)
		if (cn->ann[i] == p)
			cn->ann[i] = cn->ann[--cn->nann];
}

/* `early`: cn is not up yet (a daemon whose sessions this process armed):
 * send without waiting and without blocking, so that the daemon has the
 * descriptions even if the process is gone before it answers. */
static int announce_locked(struct rt_conn *cn, const struct rtr_provider *p, bool early)
{
	static struct rtr_proto_out o;
	static uint8_t buf[RTR_PROTO_MAX_MSG];
	uint32_t sent = 0;

	if ((!cn->up && !early) || cn->notify < 0 || cn->notify_broken || p->nr_events == 0 ||
	    announced(cn, p))
		return 0;
	if (!fd_still_ours(&cn->notify_id)) {
		cn->notify_broken = true; /* the program closed it: never touch it again */
		logmsg(
		    "the program closed ringtrace's descriptors; later providers are not traced");
		return -EBADF;
	}
	while (sent < p->nr_events) {
		unsigned tmo = cn->kind == K_ENV ? timeout_ms : DAEMON_REG_MS;
		uint64_t deadline = rtr_proto_now_ns() + (uint64_t)tmo * 1000000u;
		uint32_t done = 0, seq = ++cn->notify_seq, want = p->nr_events - sent;
		int r;

		for (;;) {
			r = rtr_proto_enc_events(&o, seq,
						 (const struct rtr_event_desc *const *)p->events +
						     sent,
						 want, &done);
			if (r || !cn->narmed)
				break;
			/* ids this process gave these events in channels it
			 * armed itself: the daemon learns them here */
			r = append_self_ids(cn, p, sent, done, &o);
			if (r != -EMSGSIZE || done <= 1)
				break;
			want = done / 2;
		}
		if (r == -E2BIG) {
			logmsg("event %s:%s has a description too large to register; not traced",
			       p->events[sent]->provider, p->events[sent]->name);
			sent++;
			continue;
		}
		if (r == 0)
			r = rtr_proto_send(cn->notify, &o, NULL, 0, early ? MSG_DONTWAIT : 0);
		if (early && r) {
			/* no room now: become_up announces it */
			cn->notify_seq--;
			return 0;
		}
		/* Wait for the answer to this request, applying the others. */
		while (r == 0 && cn->sync_reg && !early) {
			int64_t got;

			r = rtr_proto_wait(cn->notify, POLLIN, deadline);
			if (r == 0) {
				/* slow: from now on its answers are read by the
				 * control thread */
				if (cn->kind == K_ENV) {
					r = -ETIMEDOUT;
					break;
				}
				debug("the session daemon is slow to answer registrations; not "
				      "waiting for it any more");
				cn->sync_reg = false;
				break;
			}
			if (r < 0)
				break;
			got = read_register_replies(cn, seq, buf);
			if (got < 0) {
				r = (int)got;
				break;
			}
			r = 0;
			if (got == seq)
				break;
		}
		if (r) {
			if (cn->kind == K_ENV)
				logmsg("registering events of provider %s failed (%s); later "
				       "providers are not traced",
				       p->name, strerror(-r));
			cn->notify_broken = true;
			return r;
		}
		sent += done;
	}
	mark_announced(cn, p);
	return 0;
}

/* cn said READY: registrations go to it from now on, starting with every
 * provider registered so far (both locks: nothing registers meanwhile, so
 * no provider is announced twice or missed). */
static void become_up(struct rt_conn *cn, bool sync)
{
	rtr__registry_lock();
	pthread_mutex_lock(&rt_lock);
	cn->state = C_UP;
	cn->up = true;
	cn->sync_reg = sync;
	/* notify_seq goes on from the registrations sent early (a process
	 * that armed its sessions): starting again at 1 made the next
	 * registration take the early one's answer for its own, return
	 * before its events were bound, and a short program lost them */
	cn->notify_broken = false;
	pthread_mutex_unlock(&rt_lock);
	for (struct rtr_provider *p = rtr__registry_first_locked(); p; p = p->next)
		if (announce_locked(cn, p, false))
			break;
	/* later dlopens wait for their answer (unless the host turns out
	 * slow): their events are then bound when dlopen returns */
	cn->sync_reg = cn->kind == K_ENV || cn->sync_reg || !cn->notify_broken;
	rtr__registry_unlock();
}

static void provider_added(void *arg, struct rtr_provider *p)
{
	int saved = errno;

	(void)arg;
	for (int k = 0; k < NR_CONNS; k++) {
		struct rt_conn *cn = &conns[k];

		if (cn->up) {
			announce_locked(cn, p, false);
		} else if (cn->narmed && cn->cmd >= 0) {
			/* bound here now; the daemon hears of it at once */
			arm_bind_locked(cn, p);
			announce_locked(cn, p, true);
		}
	}
	errno = saved;
}

static void provider_removed(void *arg, struct rtr_provider *p)
{
	/* The registry already unbound its events; their enables are
	 * harmless (registration indexes are never reused). A provider
	 * registered again later (at the same address) is announced again. */
	(void)arg;
	for (int k = 0; k < NR_CONNS; k++)
		forget_announced(&conns[k], p);
}

static const struct rtr_registry_listener listener = {
    .provider_added = provider_added,
    .provider_removed = provider_removed,
};



/* ------------------------------------------------------------------------
 * Arming sessions from the daemon's armed file (daemon.md §1.3): the
 * process makes its own buffers for every session recording now, gives
 * its events ids and binds them as providers register, then hands the
 * buffers to the daemon — never waiting for it.
 * ------------------------------------------------------------------------ */

/* The armed file of cn's daemon, if it is the daemon's (owned by it or by
 * root, writable by nobody else). NULL when none. */
static struct rtr_armed *read_armed(const struct rt_conn *cn, void **raw)
{
	char path[160];
	struct rtr_armed *a;
	struct stat st;
	char err[200];
	ssize_t n;
	int fd;

	*raw = NULL;
	snprintf(path, sizeof(path), "%s/%s", cn->dir, RTR_ARMED_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 022) ||
	    (st.st_uid != 0 && st.st_uid != geteuid()) || st.st_size <= 0 ||
	    st.st_size > (off_t)RTR_PROTO_MAX_MSG) {
		close(fd);
		return NULL;
	}
	*raw = malloc((size_t)st.st_size);
	a = malloc(sizeof(*a));
	n = *raw ? read(fd, *raw, (size_t)st.st_size) : -1;
	close(fd);
	if (!a || n != st.st_size || rtr_armed_parse(*raw, (size_t)n, a, err, sizeof(err))) {
		if (a && n == st.st_size)
			debug("%s: %s", path, err);
		free(a);
		free(*raw);
		*raw = NULL;
		return NULL;
	}
	return a;
}

static bool armed_accepts(const struct rtr_armed *a, const struct rtr_armed_session *s)
{
	if (s->all_uids)
		return true;
	if (!s->nuids)
		return a->daemon_uid == (uint32_t)geteuid();
	for (uint32_t i = 0; i < s->nuids; i++)
		if (s->uids[i] == (uint32_t)geteuid())
			return true;
	return false;
}

static void arm_rules(struct rt_channel *c, const struct rtr_armed_session *s, uint32_t k)
{
	c->rules = calloc(s->nrules ? s->nrules : 1, sizeof(*c->rules));
	if (!c->rules)
		return;
	for (uint32_t i = 0; i < s->nrules; i++) {
		const struct rtr_armed_rule *r = &s->rules[i];
		struct arm_rule *ar = &c->rules[c->nrules];
		char err[160];

		if (r->chan != k)
			continue;
		ar->pattern = strdup(r->pattern);
		if (!ar->pattern)
			continue;
		for (uint32_t x = 0; x < r->nexcludes; x++)
			if ((ar->excludes[ar->nexcludes] = strdup(r->excludes[x])))
				ar->nexcludes++;
		ar->lltype = r->lltype;
		ar->ll = r->ll;
		if (r->filter && rtr_fexpr_parse(r->filter, &ar->filter, err, sizeof(err))) {
			debug("armed rule %s: %s; the daemon will decide", r->pattern, err);
			free(ar->pattern);
			continue;
		}
		c->nrules++;
	}
}

/* One channel of an armed session: its buffers, made here. */
static struct rt_channel *arm_channel(struct rt_conn *cn, const struct rtr_armed_session *s,
				      uint32_t k, uint32_t handle)
{
	const struct rtr_armed_chan *ac = &s->chans[k];
	bool rseq = RTR_HAVE_RSEQ && rtr_rseq_registered();
	int client = rtr_ctf_client_select(
	    RTR_RING_ALLOC_PER_CPU, ac->overwrite ? RTR_RING_MODE_OVERWRITE : RTR_RING_MODE_DISCARD,
	    rseq ? RTR_RING_SYNC_RSEQ : RTR_RING_SYNC_ATOMIC);
	struct rtr_ring_geometry geo = {.subbuf_size = ac->subbuf_size,
					.num_subbuf = ac->num_subbuf};
	struct rt_channel *c;
	uint32_t nr = possible_cpus();

	if (client < 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->chan = rtr_ring_chan_alloc(nr))) {
		free(c);
		return NULL;
	}
	c->conn = cn;
	c->self = true;
	c->session_id = s->id;
	c->handle = handle;
	c->client = (uint32_t)client;
	c->ctx_mask = ac->ctx_mask;
	c->cfg = rtr_ctf_host_config(c->client);
	c->nr_bufs = nr;
	c->buf_ids = calloc(nr ? nr : 1, sizeof(*c->buf_ids));
	if (!c->buf_ids) {
		rtr_ring_chan_free(c->chan);
		free(c);
		return NULL;
	}
	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->wake_fd >= 0)
		c->wake_fd = fd_move_high(c->wake_fd);
	fd_remember(&c->wake_id, c->wake_fd, true);
	for (uint32_t cpu = 0; cpu < nr; cpu++) {
		char name[64];
		struct rtr_ring_buf *b;

		snprintf(name, sizeof(name), "ringtrace:%d:%s:%u", (int)getpid(), ac->name, cpu);
		if (rtr_ring_buf_create(c->cfg, &geo, cpu, name, &b)) {
			for (uint32_t i = 0; i < cpu; i++)
				rtr_ring_buf_destroy(c->chan->bufs[i]);
			if (c->wake_fd >= 0)
				close(c->wake_fd);
			rtr_ring_chan_free(c->chan);
			free(c->buf_ids);
			free(c);
			return NULL;
		}
		b->fd = fd_move_high(b->fd); /* (pages: populate_pending) */
		fd_remember(&c->buf_ids[cpu], b->fd, false);
		b->wake_fd = c->wake_fd;
		c->chan->bufs[cpu] = b;
	}
	c->nr_mapped = nr;
	c->ready = true;
	snprintf(c->arm_name, sizeof(c->arm_name), "%s", ac->name);
	arm_rules(c, s, k);
	return c;
}

/* Arms the sessions of cn's armed file that record this process. Returns
 * how many (their ids in cn->armed). */
static uint32_t arm_sessions(struct rt_conn *cn)
{
	void *raw;
	struct rtr_armed *a = read_armed(cn, &raw);
	uint32_t handle = RTR_PROTO_ARMED_HANDLE;

	/* (cn->armed may already hold the sessions whose buffers this
	 * process kept from a daemon that died: orphan_locked) */
	if (!a)
		return cn->narmed;
	for (uint32_t i = 0; i < a->nsessions && cn->narmed < RTR_PROTO_MAX_ARMED; i++) {
		const struct rtr_armed_session *as = &a->s[i];
		struct rt_session *s;
		uint32_t got = 0;

		bool per_uid = false;

		if (!armed_accepts(a, as) || !as->nchans)
			continue;
		for (uint32_t k = 0; k < as->nchans; k++)
			per_uid |= as->chans[k].per_uid;
		if (per_uid) {
			/* per-user buffers are the daemon's: wait for them
			 * (daemon_start), as LTTng's constructor does */
			cn->wait_user = true;
			continue;
		}
		pthread_mutex_lock(&rt_lock);
		for (s = sessions; s; s = s->next)
			if (s->clock_source != (int)as->clock)
				break;
		if (s || find_session(cn, as->id) || rtr_clock_set_source((int)as->clock) ||
		    !(s = calloc(1, sizeof(*s)))) {
			pthread_mutex_unlock(&rt_lock);
			continue;
		}
		s->conn = cn;
		s->id = as->id;
		s->clock_source = (int)as->clock;
		s->active = true;
		s->next = sessions;
		sessions = s;
		for (uint32_t k = 0; k < as->nchans; k++) {
			struct rt_channel *c = arm_channel(cn, as, k, handle++);

			if (!c)
				continue;
			c->next = channels;
			channels = c;
			got++;
		}
		pthread_mutex_unlock(&rt_lock);
		if (got)
			cn->armed[cn->narmed++] = as->id;
		debug("armed session %s (%u channels) from %s/%s", as->name, got, cn->dir,
		      RTR_ARMED_FILE);
	}
	free(a);
	free(raw);
	return cn->narmed;
}

/* Tells the daemon about the channels armed here: CHANNEL and
 * CHANNEL_BUFFERS on the command socket, right after HELLO, without
 * waiting; then our copies of the memfds go (the mappings keep the
 * memory). Returns 0 or a negative errno. */
static int send_armed(struct rt_conn *cn, struct rtr_proto_out *o)
{
	uint32_t seq = 1;
	int r = 0;

	pthread_mutex_lock(&rt_lock);
	for (struct rt_channel *c = channels; c && !r; c = c->next) {
		struct rtr_proto_channel pc;

		bool ours = c->buf_ids != NULL;

		if (c->conn != cn || !c->self)
			continue;
		for (uint32_t i = 0; ours && i < c->nr_bufs; i++)
			ours = fd_still_ours(&c->buf_ids[i]);
		if (!ours)
			continue; /* (the program closed them: the daemon refuses it) */
		pc = (struct rtr_proto_channel){
		    .session_id = c->session_id,
		    .chan_handle = c->handle,
		    .client_id = c->client,
		    .nr_bufs = c->nr_bufs,
		    .flags = c->wake_fd >= 0 ? RTR_PROTO_CHANNEL_WAKEUP : 0,
		    .num_subbuf = c->chan->bufs[0]->num_subbuf,
		    .subbuf_size = c->chan->bufs[0]->sb_size,
		    .ctx_mask = c->ctx_mask,
		};
		pc.name = c->arm_name; /* the name the daemon knows it by */
		r = rtr_proto_enc_channel(o, ++seq, &pc);
		if (!r)
			r = rtr_proto_send(cn->cmd, o, &c->wake_fd, c->wake_fd >= 0 ? 1 : 0,
					   MSG_DONTWAIT);
		for (uint32_t first = 0; !r && first < c->nr_bufs;
		     first += RTR_PROTO_MAX_BUFS_PER_MSG) {
			struct rtr_proto_channel_buffers b = {.chan_handle = c->handle,
							      .first = first};
			int fds[RTR_PROTO_MAX_BUFS_PER_MSG];

			b.count = c->nr_bufs - first;
			if (b.count > RTR_PROTO_MAX_BUFS_PER_MSG)
				b.count = RTR_PROTO_MAX_BUFS_PER_MSG;
			for (uint32_t i = 0; i < b.count; i++)
				fds[i] = c->chan->bufs[first + i]->fd;
			r = rtr_proto_enc_channel_buffers(o, ++seq, &b);
			if (!r)
				r = rtr_proto_send(cn->cmd, o, fds, b.count, MSG_DONTWAIT);
		}
		/* the descriptors stay: a next daemon may need them */
	}
	pthread_mutex_unlock(&rt_lock);
	return r;
}

static bool arm_selects(const struct arm_rule *r, const struct rtr_event_desc *ev,
			const char *full)
{
	return rtr_armed_rule_selects(r->pattern, r->excludes, r->nexcludes, r->lltype,
				      (int)r->ll, ev->loglevel, full);
}

/* A provider registered while cn's armed channels wait for the daemon:
 * its events get their ids here and are bound now (registry lock held). */
static void arm_bind_locked(struct rt_conn *cn, const struct rtr_provider *p)
{
	static uint8_t code[RTR_FILTER_MAX_CODE];

	pthread_mutex_lock(&rt_lock);
	for (struct rt_channel *c = channels; c; c = c->next) {
		if (c->conn != cn || !c->self || !c->ready)
			continue;
		for (uint32_t i = 0; i < p->nr_events; i++) {
			const struct rtr_event_desc *ev = p->events[i];
			const struct rtr_fexpr *exprs[RTR_ARMED_RULES];
			char full[2 * RTR_PROTO_MAX_NAME + 2], err[160];
			bool any = false, plain = false;
			size_t n = 0;
			int len = 0;
			struct rtr_proto_enable_entry e;
			const char *why = "";

			snprintf(full, sizeof(full), "%s:%s", ev->provider, ev->name);
			for (uint32_t k = 0; k < c->nrules; k++) {
				if (!arm_selects(&c->rules[k], ev, full))
					continue;
				any = true;
				if (!c->rules[k].filter)
					plain = true;
				else
					exprs[n++] = c->rules[k].filter;
			}
			if (!any)
				continue;
			if (!plain) {
				len = rtr_fexpr_compile(exprs, n, ev, code, sizeof(code), err,
							sizeof(err));
				if (len <= 0)
					continue; /* no filter applies: not enabled */
			}
			e = (struct rtr_proto_enable_entry){ev->state->reg_index, c->handle,
							    c->next_id};
			if (apply_enable(cn, &e, plain ? NULL : code, plain ? 0 : (uint16_t)len,
					 &why) == 0) {
				c->next_id++;
				for (uint32_t k = 0; k < nr_enables; k++)
					if (enables[k].conn == cn &&
					    enables[k].reg_index == e.reg_index &&
					    enables[k].chan_handle == e.chan_handle)
						enables[k].self = true;
			}
		}
	}
	pthread_mutex_unlock(&rt_lock);
}

/* ------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------ */

static void conn_close(struct rt_conn *cn)
{
	cn->nann = 0; /* (registry lock held by callers that matter) */
	cn->narmed = 0;
	fd_close(&cn->cmd_id);
	fd_close(&cn->notify_id);
	cn->cmd = cn->notify = -1;
	cn->up = false;
	cn->state = C_IDLE;
	cn->notify_broken = false;
	cn->sync_reg = false;
}

/* Daemon cn died (or could not be talked to): the channels of its active
 * sessions stay bound — events go on filling their buffers — and become
 * channels "armed" by this process, to be handed over (HELLO's armed
 * sessions, CHANNEL, CHANNEL_BUFFERS with the same memfds, the event ids
 * in REGISTER_EVENTS) to the next daemon of that directory, which reads
 * them from where the dead one stopped. A channel whose memfds the program
 * closed, or of a stopped session, is closed. Both locks. Design:
 * docs/design/daemon.md §8. */
static uint32_t orphan_handle = RTR_PROTO_ARMED_HANDLE + (1u << 24);

static void orphan_locked(struct rt_conn *cn)
{
	struct rt_channel *c, *nc;
	struct rt_session **pp;

	cn->narmed = 0;
	for (c = channels; c; c = nc) {
		struct rt_session *s = find_session(cn, c->session_id);
		bool keep = false;
		uint32_t h;

		nc = c->next;
		if (c->conn != cn)
			continue;
		keep = s && s->active && c->ready && c->buf_ids && c->chan && c->arm_name[0];
		for (uint32_t i = 0; keep && i < c->nr_bufs; i++)
			keep = c->chan->bufs[i] && fd_still_ours(&c->buf_ids[i]);
		if (!keep) {
			close_channel_locked(c, true);
			continue;
		}
		h = orphan_handle++;
		if (orphan_handle < RTR_PROTO_ARMED_HANDLE)
			orphan_handle = RTR_PROTO_ARMED_HANDLE + (1u << 24);
		for (uint32_t i = 0; i < nr_enables; i++)
			if (enables[i].conn == cn && enables[i].chan_handle == c->handle) {
				enables[i].chan_handle = h;
				enables[i].self = true; /* the next daemon is told its id */
				if (enables[i].event_id >= c->next_id)
					c->next_id = enables[i].event_id + 1;
			}
		c->handle = h;
		c->self = true;
		{
			bool listed = false;

			for (uint32_t i = 0; i < cn->narmed; i++)
				listed |= cn->armed[i] == c->session_id;
			if (!listed && cn->narmed < RTR_PROTO_MAX_ARMED)
				cn->armed[cn->narmed++] = c->session_id;
		}
	}
	for (pp = &sessions; *pp;) {
		struct rt_session *s = *pp;
		bool used = false;

		for (c = channels; c && !used; c = c->next)
			used = c->conn == cn && c->session_id == s->id;
		if (s->conn != cn || used) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		free(s);
	}
}

/* Host cn went away or misbehaved: its sessions end here. */
static void disconnect(struct rt_conn *cn, bool late_writers)
{
	rtr__registry_lock();
	pthread_mutex_lock(&rt_lock);
	drop_locked(cn, late_writers);
	conn_close(cn);
	pthread_mutex_unlock(&rt_lock);
	rtr__registry_unlock();
}

/* Daemon cn is gone: its connection closes, its recording sessions'
 * buffers are kept for the next daemon (orphan_locked). */
static void orphan_conn(struct rt_conn *cn)
{
	uint32_t n;
	uint64_t ids[RTR_PROTO_MAX_ARMED];

	rtr__registry_lock();
	pthread_mutex_lock(&rt_lock);
	orphan_locked(cn);
	n = cn->narmed;
	memcpy(ids, cn->armed, sizeof(ids));
	conn_close(cn);
	cn->narmed = n;
	memcpy(cn->armed, ids, sizeof(ids));
	pthread_mutex_unlock(&rt_lock);
	rtr__registry_unlock();
	if (n)
		debug("the session daemon at %s is gone; the buffers of %u recording session%s "
		      "are kept for the next one",
		      cn->path, n, n == 1 ? "" : "s");
}

static uint16_t possible_cpus(void)
{
	uint32_t n = rtr_ring_possible_cpus();

	return (uint16_t)(n > RTR_PROTO_MAX_CPUS ? RTR_PROTO_MAX_CPUS : n);
}

/* Connects to path. wait_backlog: retry a full backlog until deadline
 * (record's host is busy accepting); otherwise a daemon whose backlog is
 * full counts as not answering. Returns the socket (blocking, with a 1 s
 * send timeout) or a negative errno. */
static int connect_host(const char *path, uint64_t deadline, bool wait_backlog)
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
		if (errno == EAGAIN && wait_backlog && rtr_proto_now_ns() < deadline) {
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

/* A daemon must run as this user or as root: anything else listening at
 * the path is not ours to talk to. */
static bool peer_trusted(int s)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);

	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
		return false;
	return cr.uid == 0 || cr.uid == geteuid() || cr.uid == getuid();
}

/* Connects to cn and sends HELLO (with the notify socket). Returns 0 (the
 * answer is to be read on cn->cmd) or a negative errno (nothing left). */
static int send_hello(struct rt_conn *cn, bool forked, uint64_t deadline)
{
	struct rtr_proto_hello h = {0};
	struct rtr_proto_out *o = NULL;
	char procname[17] = "";
	int sv[2] = {-1, -1};
	int sock, r;

	sock = connect_host(cn->path, deadline, cn->kind == K_ENV);
	if (sock < 0)
		return sock;
	if (cn->kind != K_ENV && !peer_trusted(sock)) {
		close(sock);
		return -EPERM;
	}
	/* A daemon listens: arm what it records now, before saying HELLO (its
	 * channels follow the HELLO, its answer is not waited for). */
	if (cn->kind != K_ENV && arm_sessions(cn)) {
		h.narmed = cn->narmed;
		memcpy(h.armed, cn->armed, sizeof(h.armed));
	}
	o = malloc(sizeof(*o));
	if (!o) {
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
	/* the process's name (its main thread's): this may run in the control
	 * thread, whose own name is ringtrace-ctl */
	{
		int cfd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
		ssize_t cn_len = cfd >= 0 ? read(cfd, procname, 16) : -1;

		if (cfd >= 0)
			close(cfd);
		if (cn_len > 0) {
			procname[cn_len] = 0;
			procname[strcspn(procname, "\n")] = 0;
		} else {
			prctl(PR_GET_NAME, procname, 0, 0, 0);
		}
	}
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
	pthread_mutex_lock(&rt_lock);
	cn->cmd = fd_move_high(sock);
	cn->notify = fd_move_high(sv[0]);
	fd_remember(&cn->cmd_id, cn->cmd, false);
	fd_remember(&cn->notify_id, cn->notify, false);
	cn->notify_seq = 0;
	cn->notify_broken = false;
	cn->hello_seq = 1;
	cn->state = C_HELLO;
	pthread_mutex_unlock(&rt_lock);
	if (cn->narmed && send_armed(cn, o)) {
		free(o);
		orphan_conn(cn);
		return -EAGAIN;
	}
	free(o);
	return 0;
fail:
	if (cn->narmed) {
		/* armed for a daemon we could not talk to: kept for the next
		 * one (buffers of a session that records stay bound) */
		rtr__registry_lock();
		pthread_mutex_lock(&rt_lock);
		orphan_locked(cn);
		pthread_mutex_unlock(&rt_lock);
		rtr__registry_unlock();
	}
	close(sock);
	if (sv[0] >= 0)
		close(sv[0]);
	free(o);
	return r;
}

/* Reads the answer to HELLO until deadline. Returns 1 (accepted;
 * *config: configuration follows), 0 (no answer yet), or a negative
 * errno (refused or broken: the caller closes). */
static int read_hello_reply(struct rt_conn *cn, uint64_t deadline, bool *config)
{
	uint8_t *buf = malloc(RTR_PROTO_MAX_MSG);
	int r;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct rtr_proto_msg m;
		int fds[RTR_PROTO_MAX_FDS];
		unsigned nfds;
		char err[256];
		ssize_t n;

		r = rtr_proto_wait(cn->cmd, POLLIN, deadline);
		if (r <= 0)
			break; /* 0: not yet */
		n = rtr_proto_recv(cn->cmd, buf, RTR_PROTO_MAX_MSG, fds, &nfds, MSG_DONTWAIT);
		if (n == -EAGAIN)
			continue;
		if (n <= 0) {
			r = n ? (int)n : -ECONNRESET;
			break;
		}
		r = rtr_proto_parse(buf, (size_t)n, nfds, &m, err, sizeof(err));
		rtr_proto_close_fds(fds, nfds);
		if (r || m.hdr.type != RTR_MSG_REPLY || m.hdr.seq != cn->hello_seq) {
			r = -EPROTO;
			break;
		}
		r = m.u.reply.status;
		if (r) {
			if (cn->kind == K_ENV)
				logmsg("the session host refused this process: %s", m.u.reply.text);
			else
				debug("the session daemon refused this process: %s",
				      m.u.reply.text);
			break;
		}
		/* A host of minor 0 always configures (record); a 1.1 one says. */
		*config = !m.u.reply.ext || (m.u.reply.xflags & RTR_PROTO_HELLO_REPLY_CONFIG);
		cn->state = C_CONFIG;
		r = 1;
		break;
	}
	free(buf);
	return r;
}

/* Serves cn's configuration until READY or deadline. Returns 1 (READY),
 * 0 (deadline), or a negative errno (connection lost). */
static int serve_until_ready(struct rt_conn *cn, uint64_t deadline)
{
	for (;;) {
		enum serve_result s = serve_one(cn, deadline);

		if (s == SERVED_READY)
			return 1;
		if (s == SERVED || s == SERVE_NOTHING)
			continue;
		return s == SERVE_TIMEOUT ? 0 : -ECONNRESET;
	}
}

/* record's host: connect, HELLO, its configuration until READY, every
 * provider registered so far, all within timeout_ms. Returns 0 or a
 * negative errno (then nothing is left of it). */
static int handshake_env(bool forked)
{
	struct rt_conn *cn = &conns[K_ENV];
	uint64_t deadline = rtr_proto_now_ns() + (uint64_t)timeout_ms * 1000000u;
	bool config = true;
	int r = send_hello(cn, forked, deadline);

	if (r)
		return r;
	r = read_hello_reply(cn, deadline, &config);
	if (r <= 0) {
		r = r ? r : -ETIMEDOUT;
		goto fail;
	}
	r = serve_until_ready(cn, deadline);
	if (r <= 0) {
		r = r ? r : -ETIMEDOUT;
		goto fail;
	}
	become_up(cn, true);
	if (cn->notify_broken && cn->cmd < 0) {
		r = -ECONNRESET;
		goto fail;
	}
	return 0;
fail:
	disconnect(cn, true);
	return r;
}

/* A session daemon at start (constructor, fork child): connect; if one
 * listens, arm the sessions it records now (our own buffers, bound as our
 * providers register: events from the first line of main() are recorded)
 * and say HELLO, handing them over. Never waits for its answer: a daemon
 * that does not answer costs the program nothing; none running costs one
 * failed connect(). */
static void lost_conn(struct rt_conn *cn, const char *why);

static void daemon_start(struct rt_conn *cn, bool forked, uint64_t deadline)
{
	int r;

	if (!cn->wanted || cn->cmd >= 0)
		return;
	cn->wait_user = false;
	r = send_hello(cn, forked, deadline);
	if (r && r != -ENOENT && r != -ECONNREFUSED)
		debug("session daemon at %s: %s", cn->path, strerror(-r));
	if (!r && cn->wait_user) {
		/* A session records this user's programs into per-user
		 * buffers, which only the daemon can hand out: wait for its
		 * configuration (bounded by RINGTRACE_HOST_TIMEOUT_MS, 3 s by
		 * default, as LTTng-UST's registration timeout), so that
		 * events from the first line of main() are recorded. A daemon
		 * that does not answer in time is served later by the control
		 * thread, as when nothing is waited for. */
		uint64_t until = rtr_proto_now_ns() + (uint64_t)timeout_ms * 1000000u;
		bool config = true;

		r = read_hello_reply(cn, until, &config);
		if (r == 1 && config)
			r = serve_until_ready(cn, until);
		if (r == 1 && config)
			become_up(cn, true);
		else if (r < 0)
			lost_conn(cn, "while the constructor waited for it");
	}
	/* its answer and everything after: the control thread */
}

/* ------------------------------------------------------------------------
 * Discovery: a daemon started later wakes the control thread (dwake.h);
 * where it cannot, the control thread looks once a second
 * ------------------------------------------------------------------------ */

/* A wanted daemon is not connected: look for its socket now and then. */
static bool discovery_pending(void)
{
	for (int k = K_USER; k < NR_CONNS; k++)
		if (conns[k].wanted && conns[k].cmd < 0)
			return true;
	return false;
}

/* Looks for the sockets of the wanted daemons not connected; connects
 * without waiting for the answer (the control thread reads it). */
static void daemons_check(void)
{
	for (int k = K_USER; k < NR_CONNS; k++) {
		struct rt_conn *cn = &conns[k];

		if (!cn->wanted)
			continue;
		if (cn->cmd < 0 && access(cn->path, F_OK) == 0)
			send_hello(cn, false, rtr_proto_now_ns());
	}
}

/* ------------------------------------------------------------------------
 * The control thread
 * ------------------------------------------------------------------------ */
/* No daemon connected: sleep until one starts (dwake.h), with no timeout.
 * The word is read before the sockets are looked for, so a daemon that
 * starts in between makes the sleep return at once. Returns false when the
 * wait file cannot be used (the caller then looks once a second). Mapped
 * on first use, by this thread: nothing of it in the constructor. */
static bool dwake_wait(void)
{
	static const _Atomic uint32_t *word;
	static bool tried;
	uint32_t seen;

	if (!tried) {
		tried = true;
		word = rtr_dwake_map(geteuid());
		if (!word)
			debug("no daemon wait file (%s): looking for daemons once a second",
			      strerror(errno));
	}
	if (!word)
		return false;
	seen = atomic_load_explicit(word, memory_order_acquire);
	daemons_check();
	for (int k = K_USER; k < NR_CONNS; k++)
		if (conns[k].cmd >= 0)
			return true;
	rtr_dwake_sleep(word, seen);
	return true;
}


/* Every second while connected, and before reading: are our descriptors
 * still ours? A channel whose eventfd the program closed stops signalling
 * it at once (the writers' next completed sub-buffer would write to
 * whatever the number is now). Returns the hosts whose connection the
 * program closed (bit per kind). */
static unsigned revalidate(void)
{
	unsigned lost = 0;

	pthread_mutex_lock(&rt_lock);
	for (int k = 0; k < NR_CONNS; k++)
		if (conns[k].cmd >= 0 &&
		    (!fd_still_ours(&conns[k].cmd_id) || !fd_still_ours(&conns[k].notify_id)))
			lost |= 1u << k;
	for (struct rt_channel *c = channels; c; c = c->next) {
		if (c->wake_fd < 0 || fd_still_ours(&c->wake_id))
			continue;
		for (uint32_t i = 0; c->chan && i < c->chan->nr_bufs; i++)
			if (c->chan->bufs[i])
				c->chan->bufs[i]->wake_fd = -1;
		c->wake_fd = -1;
		c->wake_id.fd = -1;
		logmsg("the program closed a ringtrace eventfd; its buffers are drained on "
		       "the host's timer from now on");
	}
	pthread_mutex_unlock(&rt_lock);
	return lost;
}

static void lost_conn(struct rt_conn *cn, const char *why)
{
	/* Whichever path noticed first (a failed read, the revalidation), a
	 * program that closed our descriptors is told so. */
	if ((cn->cmd_id.fd >= 0 && !fd_still_ours(&cn->cmd_id)) ||
	    (cn->notify_id.fd >= 0 && !fd_still_ours(&cn->notify_id))) {
		logmsg("the program closed ringtrace's connection; tracing stopped");
		why = "its descriptors were closed";
	}
	if (cn->kind == K_ENV)
		debug("session host disconnected%s%s; tracing stopped", why ? ": " : "",
		      why ? why : "");
	else
		debug("session daemon at %s went away%s%s", cn->path, why ? ": " : "",
		      why ? why : "");
	if (cn->kind == K_ENV || cn->refused)
		disconnect(cn, true); /* (a refusal: its buffers are not kept) */
	else
		orphan_conn(cn);
	cn->refused = false;
}

static void *control_thread(void *arg)
{
	static uint8_t nbuf[RTR_PROTO_MAX_MSG]; /* registry lock */

	(void)arg;
	/* Named by itself: one prctl here, where pthread_setname_np from the
	 * creator opens /proc/self/task/TID/comm (45 us of every traced
	 * program's start measured, on the program's own thread). */
	prctl(PR_SET_NAME, "ringtrace-ctl");
	for (;;) {
		struct pollfd pf[1 + 2 * NR_CONNS];
		struct rt_conn *who[1 + 2 * NR_CONNS];
		bool notify[1 + 2 * NR_CONNS];
		int n = 0, connected = 0, r;
		unsigned lost;

		for (int k = 0; k < NR_CONNS; k++) {
			struct rt_conn *cn = &conns[k];

			if (cn->cmd < 0)
				continue;
			connected++;
			pf[n] = (struct pollfd){.fd = cn->cmd, .events = POLLIN};
			who[n] = cn;
			notify[n++] = false;
			if (cn->up) {
				pf[n] = (struct pollfd){.fd = cn->notify, .events = POLLIN};
				who[n] = cn;
				notify[n++] = true;
			}
		}
		populate_pending();
		if (!n && !discovery_pending())
			break; /* nothing to serve, nothing to look for */
		if (!n && dwake_wait())
			continue; /* a daemon started (or a spurious wake-up): look */
		/* Once a second: revalidation while connected, and the
		 * discovery of daemons started later (where the wait file
		 * cannot be used, or while another daemon is connected). */
		r = poll(n ? pf : NULL, (nfds_t)n, RTR_DISCOVERY_MS);
		if (r < 0 && errno != EINTR)
			break;
		if (r == 0 && discovery_pending())
			daemons_check();
		if (connected) {
			lost = revalidate();
			for (int k = 0; k < NR_CONNS; k++)
				if (lost & (1u << k))
					lost_conn(&conns[k], NULL);
		}
		for (int i = 0; r > 0 && i < n; i++) {
			struct rt_conn *cn = who[i];

			if (!pf[i].revents)
				continue;
			if (cn->cmd < 0 || pf[i].fd != (notify[i] ? cn->notify : cn->cmd))
				continue; /* lost meanwhile */
			/* The program may have closed and reused the number since
			 * poll: never read what is now its descriptor. */
			if (!fd_still_ours(notify[i] ? &cn->notify_id : &cn->cmd_id)) {
				lost_conn(cn, NULL);
				continue;
			}
			if (notify[i]) {
				int64_t g;

				rtr__registry_lock();
				g = cn->up ? read_register_replies(cn, 0, nbuf) : 0;
				rtr__registry_unlock();
				if (g < 0)
					lost_conn(cn, "notify socket failed");
				continue;
			}
			switch (serve_one(cn, 0)) {
			case SERVED_READY:
				if (cn->state != C_UP)
					become_up(cn, false);
				break;
			case SERVE_CLOSED:
			case SERVE_TIMEOUT:
				lost_conn(cn, NULL);
				break;
			default:
				break;
			}
		}
		rtr__statedump_poll(false); /* bindings from registration replies, arming */
	}
	ctl_thread_running = false;
	return NULL;
}

static int start_control_thread(void)
{
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t tid;
	int r;

	if (ctl_thread_running)
		return 0;
	/* The thread must never take a signal meant for the program. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	ctl_thread_running = true;
	r = pthread_create(&tid, &attr, control_thread, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		ctl_thread_running = false;
	return -r;
}

/* cn's directory d and socket d/app.sock, when both fit (built by
 * lengths: nothing for a format-truncation check to flag). */
static bool conn_paths(struct rt_conn *cn, const char *d)
{
	size_t n = strlen(d), s = strlen(RTR_APP_SOCK);

	if (n + 1 > sizeof(cn->dir) || n + 1 + s + 1 > sizeof(cn->path))
		return false;
	memcpy(cn->dir, d, n + 1);
	memcpy(cn->path, d, n);
	cn->path[n] = '/';
	memcpy(cn->path + n + 1, RTR_APP_SOCK, s + 1);
	return true;
}

/* Discovery set-up: the daemons' paths. */
static void discovery_init(void)
{
	char d[108];

	if (rtr_rundir_user(d, sizeof(d)) == 0 && conn_paths(&conns[K_USER], d))
		conns[K_USER].wanted = true;
	if (rtr_rundir_system(d, sizeof(d)) == 0 && strcmp(d, conns[K_USER].dir) != 0 &&
	    conn_paths(&conns[K_SYSTEM], d))
		conns[K_SYSTEM].wanted = true;
	/* No inotify: a process holding an inotify watch waits for the
	 * kernel's SRCU grace period when it exits (measured: a linked
	 * program took 20 ms instead of 8 ms from start to end with no
	 * daemon anywhere). A daemon that starts wakes the control thread
	 * through the wait file (dwake.h) instead. */
}



/* ------------------------------------------------------------------------
 * fork()
 * ------------------------------------------------------------------------ */

static bool env_before_fork;

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
	env_before_fork = conns[K_ENV].cmd >= 0;
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
	bool env = env_before_fork;

	/* The child is single-threaded: no probe is in flight, so the
	 * parent's buffers can go (their memory stays the parent's). */
	rtr__extra_fork_child();
	rtr__counters_atfork_child();
	rtr__statedump_atfork_child();
	drop_locked(NULL, false);
	for (int k = 0; k < NR_CONNS; k++)
		conn_close(&conns[k]);
	ctl_thread_running = false; /* the parent's; not ours */
	pthread_mutex_unlock(&rt_lock);
	rtr__registry_unlock();
	if (env) {
		int r = handshake_env(true);

		if (r)
			logmsg("fork child could not register with the session host (%s); "
			       "not tracing",
			       strerror(-r));
	}
	if (discovery) {
		uint64_t deadline = rtr_proto_now_ns() + DAEMON_ANSWER_NS;

		for (int k = K_USER; k < NR_CONNS; k++)
			daemon_start(&conns[k], true, deadline);
	}
	rtr__statedump_poll(true); /* the child's trace is its own: its own dump */
	if (conns[K_ENV].cmd >= 0 || discovery)
		start_control_thread();
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
	uint64_t deadline;

	rtr__extra_init();
	v = getenv("RINGTRACE_VERBOSE");
	verbose = v && *v && strcmp(v, "0") != 0;
	v = getenv(RTR_HOST_TIMEOUT_ENV);
	if (v && *v) {
		char *end;
		unsigned long t = strtoul(v, &end, 10);

		if (*end == 0 && t > 0 && t <= 60000)
			timeout_ms = (unsigned int)t;
	}
	v = getenv("RINGTRACE_DAEMON");
	discovery = !(v && (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "no")));
	if (path && *path) {
		if (strlen(path) >= sizeof(conns[K_ENV].path)) {
			logmsg("%s too long; not tracing", RTR_HOST_SOCKET_ENV);
			path = NULL;
		} else {
			conns[K_ENV].wanted = true;
			strcpy(conns[K_ENV].path, path);
		}
	}
	if (!conns[K_ENV].wanted && !discovery) {
		errno = saved;
		return; /* dormant: tracepoints cost one untaken branch */
	}
	/* From here on, never more than DAEMON_ANSWER_NS waiting for a
	 * daemon that does not answer; none at all when none runs (the
	 * connect fails at once). */
	deadline = rtr_proto_now_ns() + DAEMON_ANSWER_NS;
	rtr__registry_set_listener(&listener);
	if (pthread_atfork(atfork_prepare, atfork_parent, atfork_child) != 0)
		logmsg("pthread_atfork failed: fork children will not be traced");
	if (conns[K_ENV].wanted) {
		int r = handshake_env(false);

		if (r)
			logmsg("could not register with the session host at %s (%s); not tracing",
			       path, strerror(-r));
		else
			debug("registered with the session host at %s", path);
		deadline = rtr_proto_now_ns() + DAEMON_ANSWER_NS;
	}
	if (discovery) {
		discovery_init();
		for (int k = K_USER; k < NR_CONNS; k++)
			daemon_start(&conns[k], false, deadline);
	}
	rtr__statedump_poll(true); /* sessions armed or started during the handshake */
	if (conns[K_ENV].cmd >= 0 || discovery)
		start_control_thread();
	errno = saved;
}

/* ------------------------------------------------------------------------
 * Introspection for tests
 * ------------------------------------------------------------------------ */

bool rtr__runtime_connected(void)
{
	bool up = false;

	pthread_mutex_lock(&rt_lock);
	for (int k = 0; k < NR_CONNS; k++)
		up = up || conns[k].cmd >= 0;
	pthread_mutex_unlock(&rt_lock);
	return up;
}
